-- Billing accounts, bill runs and invoices (issue: invoicing service).
-- Every table records what caused each row (request or event id).

CREATE TABLE accounts (
    id           text PRIMARY KEY,
    external_ref text NOT NULL DEFAULT '',
    name         text NOT NULL,
    currency     text NOT NULL,
    time_zone    text NOT NULL DEFAULT 'UTC',
    cycle        text NOT NULL DEFAULT 'monthly' CHECK (cycle IN ('monthly', 'quarterly', 'annual')),
    anchor_day   integer NOT NULL DEFAULT 1 CHECK (anchor_day BETWEEN 1 AND 28),
    terms_days   integer NOT NULL DEFAULT 30 CHECK (terms_days BETWEEN 0 AND 365),
    tier         text NOT NULL DEFAULT 'standard',
    tax_profile  text NOT NULL DEFAULT 'none',
    language     text NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'zh-CN')),
    email        text NOT NULL DEFAULT '',
    phone        text NOT NULL DEFAULT '',
    webhook_url  text NOT NULL DEFAULT '',
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'closed')),
    version      bigint NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    caused_by    text NOT NULL DEFAULT ''
);
CREATE INDEX accounts_cycle ON accounts (cycle, status);

-- Lines, instalments and results are written only together with their
-- invoice or run, in one COPY batch; foreign keys would add a trigger call
-- per row to the month-end path, so `billctl audit` checks them instead.

CREATE TABLE bill_runs (
    id           text PRIMARY KEY,
    period       text NOT NULL,
    cycle        text NOT NULL,
    period_start date NOT NULL,
    period_end   date NOT NULL,
    due          bigint NOT NULL,
    done         bigint NOT NULL DEFAULT 0, -- results recorded so far
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    caused_by    text NOT NULL DEFAULT '',
    UNIQUE (period, cycle)
);

-- One row per account and run: the outcome of rating and invoicing it. The
-- primary key is what makes a replayed AccountRated harmless.
CREATE TABLE bill_run_results (
    run_id         text NOT NULL,
    account_id     text NOT NULL,
    outcome        text NOT NULL CHECK (outcome IN ('invoiced', 'nothing_to_bill', 'failed')),
    invoice_number text,
    error          text,
    caused_by      text NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, account_id)
);

-- Gap-free numbering: one row per series (INV-202611); the counter moves in
-- the same transaction as the invoices that use its numbers.
CREATE TABLE number_series (
    series text PRIMARY KEY,
    last   bigint NOT NULL
);

CREATE TABLE invoices (
    number          text PRIMARY KEY,
    series          text NOT NULL,
    seq             bigint NOT NULL,
    account_id      text NOT NULL,
    run_id          text,
    period          text NOT NULL,
    period_start    date NOT NULL,
    period_end      date NOT NULL,
    currency        text NOT NULL,
    subtotal_minor  bigint NOT NULL,
    tax_minor       bigint NOT NULL,
    total_minor     bigint NOT NULL,
    issue_date      date NOT NULL,
    due_date        date NOT NULL,
    status          text NOT NULL DEFAULT 'issued',
    language        text NOT NULL,
    tax_profile     text NOT NULL,
    plan            text NOT NULL DEFAULT 'once',
    caused_by       text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (series, seq),
    UNIQUE (account_id, period)
);
CREATE INDEX invoices_run ON invoices (run_id);

CREATE TABLE invoice_lines (
    number        text NOT NULL,
    line_no       integer NOT NULL,
    fee_item      text NOT NULL,
    description   text NOT NULL,
    kind          text NOT NULL,
    quantity      text NOT NULL,
    unit          text NOT NULL DEFAULT '',
    unit_price    text NOT NULL,
    amount_minor  bigint NOT NULL,
    net_minor     bigint NOT NULL,
    tax_category  text NOT NULL,
    tax_rate_ppm  integer NOT NULL,
    tax_minor     bigint NOT NULL,
    PRIMARY KEY (number, line_no)
);

CREATE TABLE invoice_instalments (
    number       text NOT NULL,
    seq          integer NOT NULL,
    label        text NOT NULL,
    due_date     date,
    amount_minor bigint NOT NULL,
    PRIMARY KEY (number, seq)
);

-- Issued invoices are immutable: only their status may change.
CREATE FUNCTION invoices_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.number, NEW.account_id, NEW.currency, NEW.subtotal_minor, NEW.tax_minor,
        NEW.total_minor, NEW.issue_date, NEW.due_date, NEW.period)
       IS DISTINCT FROM
       (OLD.number, OLD.account_id, OLD.currency, OLD.subtotal_minor, OLD.tax_minor,
        OLD.total_minor, OLD.issue_date, OLD.due_date, OLD.period) THEN
        RAISE EXCEPTION 'invoice % is issued and cannot be changed; issue a credit note', OLD.number;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER invoices_immutable BEFORE UPDATE ON invoices
    FOR EACH ROW EXECUTE FUNCTION invoices_immutable();
CREATE FUNCTION invoice_lines_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'invoice lines cannot be changed or deleted; issue a credit note';
END $$;
CREATE TRIGGER invoice_lines_immutable BEFORE UPDATE OR DELETE ON invoice_lines
    FOR EACH ROW EXECUTE FUNCTION invoice_lines_immutable();
