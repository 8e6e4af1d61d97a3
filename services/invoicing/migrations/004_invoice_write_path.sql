-- The month-end write path: fewer index entries per invoice (issue: the
-- invoicing stage's throughput). Every index on invoices is written once per
-- invoice, inside the numbering lock that serialises concurrent workers.

-- UNIQUE (series, seq) was a second copy of the primary key: a number is its
-- series and its counter formatted (INV-202611-000001, numbering.c), so two
-- rows with one (series, seq) would have one number. The check keeps that
-- true for every row at the cost of an expression instead of an index.
ALTER TABLE invoices DROP CONSTRAINT invoices_series_seq_key;
ALTER TABLE invoices ADD CONSTRAINT invoices_number_is_series_seq CHECK (
    seq > 0 AND number = series || '-' ||
        CASE WHEN seq < 1000000 THEN lpad(seq::text, 6, '0') ELSE seq::text END);

-- A run holds most of the invoices of its period: an index on run_id picks
-- no fewer rows than a scan, and listings by run walk the primary key.
DROP INDEX invoices_run;

-- Not a schema change, recorded here for whoever reads the tables: from this
-- version on, an invoice payable at once has no invoice_instalments row (its
-- one instalment is its total on its due date, which readers supply). Older
-- invoices keep their row.
