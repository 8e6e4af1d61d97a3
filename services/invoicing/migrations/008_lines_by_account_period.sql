-- The month-end write path, fourth round (bench/README.md): an invoice's
-- lines are keyed by the invoice's account and period, which UNIQUE
-- (account_id, period) on invoices already makes the invoice's own key,
-- instead of by its number. A worker then writes a batch's lines before it
-- takes the number series, whose row every worker queues on from there to
-- its commit: the lines were a fifth of the time the series stayed locked,
-- and with them out of the queue the workers keep pace with rating's close
-- instead of finishing after it.
-- Workers of the previous version write lines by number: while any holds a
-- live partition lease this migration fails, nothing is changed, and the
-- process that tried to apply it exits with this message.
DO $$
DECLARE
    live bigint;
BEGIN
    SELECT count(*) INTO live FROM stream_leases WHERE expires_at > now();
    IF live > 0 THEN
        RAISE EXCEPTION 'invoicing migration 008 changes how invoice lines are keyed:'
            ' stop every invoicing process of the previous version first (% partition'
            ' lease(s) still live; a killed worker''s lease lapses after BILLOW_LEASE_TTL_S),'
            ' then start this version again', live;
    END IF;
END
$$;
LOCK TABLE invoice_lines IN ACCESS EXCLUSIVE MODE;

CREATE TABLE invoice_line_sets (
    account_id text NOT NULL,
    period     text NOT NULL,
    lines      bytea NOT NULL,
    PRIMARY KEY (account_id, period)
);
INSERT INTO invoice_line_sets (account_id, period, lines)
SELECT i.account_id, i.period, l.lines FROM invoice_lines l JOIN invoices i USING (number);
-- Lines whose number names no invoice (only a hand-edited database has
-- them) have no account and period to go under: they are kept here as they
-- were, and `billctl audit` lists them until someone deals with them.
CREATE TABLE invoice_lines_unmatched (
    number text PRIMARY KEY,
    lines  bytea NOT NULL
);
INSERT INTO invoice_lines_unmatched (number, lines)
SELECT l.number, l.lines FROM invoice_lines l
 WHERE NOT EXISTS (SELECT 1 FROM invoices i WHERE i.number = l.number);

DROP TABLE invoice_lines;
ALTER TABLE invoice_line_sets RENAME TO invoice_lines;
ALTER INDEX invoice_line_sets_pkey RENAME TO invoice_lines_pkey;
-- The function of migration 007 refuses any change.
CREATE TRIGGER invoice_lines_immutable BEFORE UPDATE OR DELETE ON invoice_lines
    FOR EACH ROW EXECUTE FUNCTION invoice_lines_immutable();
