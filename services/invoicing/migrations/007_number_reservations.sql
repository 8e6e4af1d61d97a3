-- Invoice numbers are reserved in a short transaction of their own and
-- claimed by the batch that issues them (services/invoicing/numres.c), so a
-- month end's workers no longer queue on the series row from taking their
-- numbers to their commit.
--
-- A row is a block of numbers first..last of a series: the series' counter
-- has moved past them, no document has them yet. The batch that issues
-- them deletes the row in its own transaction (and re-inserts what it did
-- not use), so until that batch commits the numbers stay reserved here:
-- every number up to number_series.last is either issued or inside exactly
-- one row of this table. holder is what the events that asked for the block
-- come back to after a crash ("rating:0-3/8", the stream and the partition
-- set of the consumer that reserved it); the audit reports blocks left
-- outstanding for long (README.md, "Numbering").
CREATE TABLE number_reservations (
    series      text NOT NULL,
    first       bigint NOT NULL,
    last        bigint NOT NULL,
    holder      text NOT NULL,
    reserved_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (series, first),
    CHECK (first >= 1 AND last >= first)
);

-- The day a run's invoices are issued: the service clock's date when the
-- run started. A run's batches are numbered in that day's series, so a batch
-- that died before midnight and is replayed after it claims the numbers it
-- reserved (in the old month's series) instead of stranding them. Runs
-- started before this migration have none: their invoices are issued on the
-- day they are written, as before.
ALTER TABLE bill_runs ADD COLUMN issue_date date;
