-- Usage ingest in bulk (issue: rating performance).
--
-- usage_aggregates becomes append-only: each ingest batch adds one row per
-- (period, account, fee item) it touched, with the batch's sum and count,
-- written with COPY. The running total is the sum of an account's rows
-- (rater.c reads them with GROUP BY). An upsert per key cost about as much
-- as storing the records themselves; rows written before this migration
-- (one per key) are simply the first partial sums.
ALTER TABLE usage_aggregates DROP CONSTRAINT usage_aggregates_pkey;
CREATE INDEX usage_aggregates_account ON usage_aggregates (period, account_id);

-- A counter bumped by every statement that writes accounts or
-- subscriptions, in the writer's transaction: usage ingest keeps the
-- accounts it validates against in memory and drops them when the counter
-- moved (another process, or an operator with psql, may be the writer).
CREATE TABLE view_stamp (
    n bigint NOT NULL
);
INSERT INTO view_stamp VALUES (0);

CREATE FUNCTION view_stamp_bump() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    UPDATE view_stamp SET n = n + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER accounts_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION view_stamp_bump();
CREATE TRIGGER subscriptions_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON subscriptions
    FOR EACH STATEMENT EXECUTE FUNCTION view_stamp_bump();
