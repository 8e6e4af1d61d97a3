-- The month-end write path, third round (bench/README.md): an invoice's
-- lines are one row, the protobuf bytes of billow.StoredLines
-- (proto/invoicing_store.proto, services/invoicing/lines.c), instead of a
-- row and a primary-key entry per line. At about five lines per invoice
-- that was five of every six rows the month end wrote while the number
-- series was locked. COPYing 200,000 invoices with five lines each into
-- tables with these indexes (psql, this machine, three runs each): 3.8–6.0 s
-- as rows, 3.0–3.4 s as arrays of a composite type, 2.3–2.7 s as JSON, and
-- 1.5–2.0 s as bytes, against 1.3–1.5 s for the invoices alone. Issued lines
-- are never changed and every reader reads an invoice's lines together;
-- the audit and the revenue report decode them in the service.
-- Workers of the previous version write a row per line: while any holds a
-- live partition lease this migration fails, nothing is changed, and the
-- process that tried to apply it exits with this message. (An API process
-- of the previous version would no longer read lines either.)
DO $$
DECLARE
    live bigint;
BEGIN
    SELECT count(*) INTO live FROM stream_leases WHERE expires_at > now();
    IF live > 0 THEN
        RAISE EXCEPTION 'invoicing migration 007 changes how invoice lines are stored:'
            ' stop every invoicing process of the previous version first (% partition'
            ' lease(s) still live; a killed worker''s lease lapses after BILLOW_LEASE_TTL_S),'
            ' then start this version again', live;
    END IF;
END
$$;
-- Nothing writes lines while they are converted.
LOCK TABLE invoice_lines IN ACCESS EXCLUSIVE MODE;

CREATE TABLE invoice_line_sets (
    number text PRIMARY KEY,
    lines  bytea NOT NULL
);

-- The lines written so far, encoded here into what the service decodes: a
-- field is its tag (number << 3 | wire type) and a varint or a
-- length-prefixed string; integers are varints of their 64-bit two's
-- complement (ten bytes when negative: bits 0-62 seven at a time, then bit
-- 63). protobuf-c leaves out zero and empty fields, which this writes: the
-- bytes differ, the values decoded do not. The functions live only for this
-- migration: 1,000,000 lines take about 20 s here (18 µs per line, one
-- plpgsql call per line; SQL functions nested per field took 490 µs).
CREATE FUNCTION pb_varint(v bigint) RETURNS bytea LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    out bytea := '';
BEGIN
    IF v < 0 THEN
        FOR i IN 0..8 LOOP
            out := out || set_byte('\x00'::bytea, 0, ((v >> (7 * i)) & 127)::integer | 128);
        END LOOP;
        RETURN out || '\x01'::bytea;
    END IF;
    WHILE v >= 128 LOOP
        out := out || set_byte('\x00'::bytea, 0, (v & 127)::integer | 128);
        v := v >> 7;
    END LOOP;
    RETURN out || set_byte('\x00'::bytea, 0, v::integer);
END $$;
CREATE FUNCTION pb_line(fee_item text, description text, kind text, quantity text, unit text,
                        unit_price text, amount_minor bigint, net_minor bigint, tax_category text,
                        tax_rate_ppm bigint, tax_minor bigint) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    strs text[] := ARRAY[fee_item, description, kind, quantity, unit, unit_price, tax_category];
    sfield int[] := '{1,2,3,4,5,6,9}';
    ints bigint[] := ARRAY[amount_minor, net_minor, tax_rate_ppm, tax_minor];
    ifield int[] := '{7,8,10,11}';
    out bytea := '';
    b bytea;
    v bigint;
BEGIN
    FOR k IN 1..7 LOOP
        b := convert_to(strs[k], 'UTF8');
        out := out || set_byte('\x00'::bytea, 0, sfield[k] * 8 + 2)
               || CASE WHEN length(b) < 128 THEN set_byte('\x00'::bytea, 0, length(b))
                       ELSE pb_varint(length(b)) END || b;
    END LOOP;
    FOR k IN 1..4 LOOP
        v := ints[k];
        out := out || set_byte('\x00'::bytea, 0, ifield[k] * 8)
               || CASE WHEN v >= 0 AND v < 128 THEN set_byte('\x00'::bytea, 0, v::integer)
                       ELSE pb_varint(v) END;
    END LOOP;
    RETURN '\x0a'::bytea -- field 1 of StoredLines, length-delimited
           || CASE WHEN length(out) < 128 THEN set_byte('\x00'::bytea, 0, length(out))
                   ELSE pb_varint(length(out)) END || out;
END $$;

INSERT INTO invoice_line_sets (number, lines)
SELECT number, string_agg(pb_line(fee_item, description, kind, quantity, unit, unit_price,
                                  amount_minor, net_minor, tax_category, tax_rate_ppm,
                                  tax_minor), ''::bytea ORDER BY line_no)
  FROM invoice_lines GROUP BY number;
-- Invoices issued without lines (zero invoices, BILLOW_ISSUE_ZERO_INVOICES)
-- get an empty list, as the service now writes them.
INSERT INTO invoice_line_sets (number, lines)
SELECT number, ''::bytea FROM invoices i
 WHERE NOT EXISTS (SELECT 1 FROM invoice_line_sets s WHERE s.number = i.number);

DROP FUNCTION pb_line(text, text, text, text, text, text, bigint, bigint, text, bigint, bigint);
DROP FUNCTION pb_varint(bigint);

DROP TABLE invoice_lines;
DROP FUNCTION invoice_lines_immutable();
ALTER TABLE invoice_line_sets RENAME TO invoice_lines;
ALTER INDEX invoice_line_sets_pkey RENAME TO invoice_lines_pkey;

CREATE FUNCTION invoice_lines_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'invoice lines cannot be changed or deleted; issue a credit note';
END $$;
CREATE TRIGGER invoice_lines_immutable BEFORE UPDATE OR DELETE ON invoice_lines
    FOR EACH ROW EXECUTE FUNCTION invoice_lines_immutable();
