-- Usage records are found through their aggregates (issue #3: ingest
-- throughput).
--
-- Each usage_aggregates row lists the event ids of the records it sums,
-- ordered by (at, event_id), and the index of usage_records on (account_id,
-- period) goes: it cost about as much per record as the primary key, and
-- what read by it (the per-transaction records of percentage fee items at
-- close, the first records shown by explain) now reads the aggregates of
-- the account and period, then the records by event id. Every record is in
-- exactly one aggregate row (both are written in the same transaction).
ALTER TABLE usage_aggregates ADD COLUMN event_ids text[] NOT NULL DEFAULT '{}';

-- Rows written before carry no ids: the aggregates are rebuilt from the
-- records, one row per (period, account, fee item), which keeps every total
-- (the aggregates always summed to the records).
DELETE FROM usage_aggregates;
INSERT INTO usage_aggregates (period, account_id, fee_item, quantity, records, event_ids)
    SELECT period, account_id, fee_item, sum(quantity), count(*),
           array_agg(event_id ORDER BY at, event_id)
    FROM usage_records GROUP BY period, account_id, fee_item;

DROP INDEX usage_records_account;
