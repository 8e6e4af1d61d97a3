-- Catalog versions, the accounts view, subscriptions, usage with running
-- aggregates, and period close (issue: rating service). Every table records
-- what caused each row (request:<id> or the event id).

-- Each load is a new version; old versions are kept so any closed period can
-- be explained with the catalog that rated it.
CREATE TABLE catalogs (
    version    integer PRIMARY KEY,
    doc        text NOT NULL,
    loaded_by  text NOT NULL DEFAULT '',
    loaded_at  timestamptz NOT NULL DEFAULT now(),
    caused_by  text NOT NULL
);

-- Invoicing's accounts as AccountChanged says they are (newest version wins).
CREATE TABLE accounts (
    id         text PRIMARY KEY,
    currency   text NOT NULL,
    cycle      text NOT NULL,
    anchor_day integer NOT NULL DEFAULT 1,
    tier       text NOT NULL DEFAULT '',
    language   text NOT NULL DEFAULT 'en',
    status     text NOT NULL,
    created_on date NOT NULL,
    version    bigint NOT NULL,
    caused_by  text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_due ON accounts (cycle, status, id);

-- One row per segment of a subscription: [start_date, end_date). A change
-- ends the open segment and starts the next; origin is the first start
-- (setup fees, new-customer and loyalty periods count from it).
CREATE TABLE subscriptions (
    id         bigserial PRIMARY KEY,
    account_id text NOT NULL,
    plan       text NOT NULL,
    quantity   numeric(28, 9) NOT NULL CHECK (quantity >= 0),
    coupon     text NOT NULL DEFAULT '',
    start_date date NOT NULL,
    end_date   date CHECK (end_date IS NULL OR end_date > start_date),
    origin     date NOT NULL,
    caused_by  text NOT NULL,
    ended_by   text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_account ON subscriptions (account_id, start_date);
CREATE UNIQUE INDEX subscriptions_one_open ON subscriptions (account_id) WHERE end_date IS NULL;

-- Coupon redemptions, counted against the catalog's max_redemptions.
CREATE TABLE coupon_redemptions (
    coupon      text NOT NULL,
    account_id  text NOT NULL,
    redeemed_at timestamptz NOT NULL DEFAULT now(),
    caused_by   text NOT NULL,
    PRIMARY KEY (coupon, account_id)
);

-- Raw usage: the event id makes a re-sent record a no-op.
CREATE TABLE usage_records (
    event_id   text PRIMARY KEY,
    account_id text NOT NULL,
    fee_item   text NOT NULL,
    quantity   numeric(28, 9) NOT NULL,
    at         timestamptz NOT NULL,
    period     text NOT NULL,
    caused_by  text NOT NULL
);
CREATE INDEX usage_records_account ON usage_records (account_id, period);

-- Running totals per period and account, kept in the same statement as the
-- raw rows, so a close reads one row per fee item instead of every record.
CREATE TABLE usage_aggregates (
    period     text NOT NULL,
    account_id text NOT NULL,
    fee_item   text NOT NULL,
    quantity   numeric(28, 9) NOT NULL,
    records    bigint NOT NULL,
    PRIMARY KEY (period, account_id, fee_item)
);

-- A close of one period and cycle, done in batches by a loop-driven worker;
-- after_account is how far it got, so a crashed close resumes there.
CREATE TABLE close_jobs (
    id              text PRIMARY KEY,
    run_id          text NOT NULL DEFAULT '',
    period          text NOT NULL,
    cycle           text NOT NULL,
    period_start    date NOT NULL,
    period_end      date NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done')),
    after_account   text NOT NULL DEFAULT '',
    catalog_version integer NOT NULL,
    rated           bigint NOT NULL DEFAULT 0,
    failed          bigint NOT NULL DEFAULT 0,
    total_minor     bigint NOT NULL DEFAULT 0,
    caused_by       text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE INDEX close_jobs_pending ON close_jobs (created_at) WHERE status = 'pending';

-- One row per account and closed period: what makes a close exactly-once,
-- and what rejects later usage for the period. rated is the AccountRated
-- event as emitted (the audit trail outlives the outbox).
CREATE TABLE closed_periods (
    account_id      text NOT NULL,
    period          text NOT NULL,
    job_id          text NOT NULL,
    run_id          text NOT NULL DEFAULT '',
    catalog_version integer NOT NULL,
    total_minor     bigint NOT NULL,
    currency        text NOT NULL,
    event_id        text NOT NULL,
    rated           bytea NOT NULL,
    closed_at       timestamptz NOT NULL DEFAULT now(),
    caused_by       text NOT NULL,
    PRIMARY KEY (account_id, period)
);

-- Accounts a close could not rate (e.g. no price in their currency): they
-- stay open, and closing again after a fix rates them.
CREATE TABLE close_failures (
    job_id     text NOT NULL,
    account_id text NOT NULL,
    error      text NOT NULL,
    at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, account_id)
);
