-- The month-end write path, fourth round (bench/README.md): an invoice's
-- lines are keyed by an id of their own, drawn from a sequence before the
-- number series is taken and named by the invoice (invoices.lines_id),
-- instead of by the invoice's number. A worker then writes a batch's lines
-- before it takes the number series, whose row every worker queues on from
-- there to its commit: the lines were a fifth of the time the series stayed
-- locked. The ids only grow, so the lines' key is appended to, not inserted
-- all over (keying them by account and period instead cost each invoice
-- about as much CPU as the queue saved).
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
LOCK TABLE invoices, invoice_lines IN ACCESS EXCLUSIVE MODE;

CREATE SEQUENCE invoice_lines_id_seq;
-- Every invoice so far gets an id as the table is rewritten once (an
-- UPDATE of every invoice took 42 s per 1,000,000 and left as many dead
-- rows; this, about 6 s).
ALTER TABLE invoices ADD COLUMN lines_id bigint NOT NULL DEFAULT nextval('invoice_lines_id_seq');
ALTER TABLE invoices ALTER COLUMN lines_id DROP DEFAULT;

CREATE TABLE invoice_line_sets (
    id    bigint PRIMARY KEY,
    lines bytea NOT NULL
);
INSERT INTO invoice_line_sets (id, lines)
SELECT i.lines_id, l.lines FROM invoice_lines l JOIN invoices i USING (number);
-- Lines whose number names no invoice (only a hand-edited database has
-- them) have no invoice to take an id from: they are kept here as they
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
ALTER SEQUENCE invoice_lines_id_seq OWNED BY invoice_lines.id;
-- The function of migration 007 refuses any change.
CREATE TRIGGER invoice_lines_immutable BEFORE UPDATE OR DELETE ON invoice_lines
    FOR EACH ROW EXECUTE FUNCTION invoice_lines_immutable();

-- Which lines an issued invoice has is as fixed as its amounts.
CREATE OR REPLACE FUNCTION invoices_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.number, NEW.account_id, NEW.currency, NEW.subtotal_minor, NEW.tax_minor,
        NEW.total_minor, NEW.issue_date, NEW.due_date, NEW.period, NEW.lines_id)
       IS DISTINCT FROM
       (OLD.number, OLD.account_id, OLD.currency, OLD.subtotal_minor, OLD.tax_minor,
        OLD.total_minor, OLD.issue_date, OLD.due_date, OLD.period, OLD.lines_id) THEN
        RAISE EXCEPTION 'invoice % is issued and cannot be changed; issue a credit note', OLD.number;
    END IF;
    RETURN NEW;
END $$;
