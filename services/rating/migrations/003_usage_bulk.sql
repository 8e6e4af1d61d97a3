-- Usage ingest in bulk (issue: rating performance).
--
-- usage_aggregates becomes append-only: each ingest batch adds one row per
-- (period, account, fee item) it touched, with the batch's sum and count,
-- written with COPY. The running total is the sum of an account's rows
-- (rater.c reads them with GROUP BY). An upsert per key cost about as much
-- as storing the records themselves; rows written before this migration
-- (one per key) are simply the first partial sums.
ALTER TABLE usage_aggregates DROP CONSTRAINT usage_aggregates_pkey;
CREATE INDEX usage_aggregates_account ON usage_aggregates (account_id, period);

-- Event ids are compared only with each other: byte order is enough, and
-- it spares the unique index a locale comparison per key.
ALTER TABLE usage_records ALTER COLUMN event_id TYPE text COLLATE "C";

-- Changes to the accounts view, for usage ingest, which keeps the accounts
-- it validates against in memory: every statement that writes accounts or
-- subscriptions bumps view_stamp.n in its transaction and logs the accounts
-- it touched under the new value. The row lock on view_stamp orders the
-- writers, so the values become visible in order: a reader that saw stamp S
-- and later sees T drops exactly the accounts logged in (S, T]. A TRUNCATE
-- logs NULL (drop everything). Rows older than an hour are pruned; pruned
-- is the highest value pruned, and a reader behind it drops everything.
CREATE TABLE view_stamp (
    n      bigint NOT NULL,
    pruned bigint NOT NULL
);
INSERT INTO view_stamp VALUES (0, 0);

CREATE TABLE view_changes (
    n          bigint NOT NULL,
    account_id text,
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX view_changes_n ON view_changes (n);

CREATE FUNCTION view_changed_accounts() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
DECLARE
    s bigint;
BEGIN
    UPDATE view_stamp SET n = n + 1 RETURNING n INTO s;
    INSERT INTO view_changes (n, account_id) SELECT DISTINCT s, id FROM changed;
    RETURN NULL;
END
$$;

CREATE FUNCTION view_changed_subscriptions() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
DECLARE
    s bigint;
BEGIN
    UPDATE view_stamp SET n = n + 1 RETURNING n INTO s;
    INSERT INTO view_changes (n, account_id) SELECT DISTINCT s, account_id FROM changed;
    RETURN NULL;
END
$$;

CREATE FUNCTION view_truncated() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
DECLARE
    s bigint;
BEGIN
    UPDATE view_stamp SET n = n + 1 RETURNING n INTO s;
    INSERT INTO view_changes (n, account_id) VALUES (s, NULL);
    RETURN NULL;
END
$$;

CREATE TRIGGER accounts_ins AFTER INSERT ON accounts REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION view_changed_accounts();
CREATE TRIGGER accounts_upd AFTER UPDATE ON accounts REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION view_changed_accounts();
CREATE TRIGGER accounts_del AFTER DELETE ON accounts REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION view_changed_accounts();
CREATE TRIGGER accounts_trunc AFTER TRUNCATE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION view_truncated();
CREATE TRIGGER subscriptions_ins AFTER INSERT ON subscriptions REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION view_changed_subscriptions();
CREATE TRIGGER subscriptions_upd AFTER UPDATE ON subscriptions REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION view_changed_subscriptions();
CREATE TRIGGER subscriptions_del AFTER DELETE ON subscriptions REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION view_changed_subscriptions();
CREATE TRIGGER subscriptions_trunc AFTER TRUNCATE ON subscriptions
    FOR EACH STATEMENT EXECUTE FUNCTION view_truncated();
