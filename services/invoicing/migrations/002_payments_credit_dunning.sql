-- Payments, allocations, refunds, receipts, credit notes, approvals,
-- reconciliation, dunning and the audit trail (issue: invoicing payments).
--
-- Money model. A payment's money goes to invoices through allocations; what
-- is not allocated (and not refunded) is account credit. A credit note's
-- amount goes to its invoice through an allocation too; what exceeds the
-- invoice's open amount is account credit. So for every account:
--   balance = invoiced - paid - credited + refunded
--           = sum(invoice open amounts) - unallocated credit
-- which `billctl audit` checks from both sides. The *_minor running columns
-- below are caches of those sums, kept in the same transaction; the audit
-- recomputes them from allocations and refunds.

-- Invoices stay immutable (the trigger of 001 guards amounts and dates);
-- these two columns are what has been settled so far.
ALTER TABLE invoices ADD COLUMN paid_minor bigint NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN credited_minor bigint NOT NULL DEFAULT 0;
CREATE INDEX invoices_open ON invoices (account_id, due_date, number)
    WHERE status IN ('issued', 'partially_paid', 'overdue');

CREATE TABLE payments (
    id                text PRIMARY KEY,           -- PAY-<uuid>
    receipt_number    text NOT NULL UNIQUE,       -- RCP-YYYYMM-NNNNNN
    account_id        text NOT NULL,
    currency          text NOT NULL,
    amount_minor      bigint NOT NULL CHECK (amount_minor > 0),
    unallocated_minor bigint NOT NULL CHECK (unallocated_minor >= 0),
    method            text NOT NULL CHECK (method IN ('cash', 'cheque', 'card', 'bank_transfer',
                                                      'alipay', 'wechat_pay')),
    reference         text NOT NULL,
    received_at       timestamptz NOT NULL,
    source            text NOT NULL DEFAULT 'manual', -- manual | statement
    operator          text NOT NULL,
    caused_by         text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX payments_reference ON payments (reference) WHERE reference <> '';
CREATE INDEX payments_account ON payments (account_id, received_at);
CREATE INDEX payments_credit ON payments (account_id) WHERE unallocated_minor > 0;

CREATE TABLE credit_notes (
    number            text PRIMARY KEY,           -- CN-YYYYMM-NNNNNN
    series            text NOT NULL,
    seq               bigint NOT NULL,
    invoice_number    text NOT NULL,
    account_id        text NOT NULL,
    currency          text NOT NULL,
    amount_minor      bigint NOT NULL CHECK (amount_minor > 0),
    unallocated_minor bigint NOT NULL CHECK (unallocated_minor >= 0),
    kind              text NOT NULL DEFAULT 'credit' CHECK (kind IN ('credit', 'write_off')),
    reason            text NOT NULL,
    ticket_id         text NOT NULL DEFAULT '',
    operator          text NOT NULL,
    approved_by       text NOT NULL DEFAULT '',
    issued_at         timestamptz NOT NULL,
    caused_by         text NOT NULL,
    UNIQUE (series, seq)
);
CREATE INDEX credit_notes_invoice ON credit_notes (invoice_number);
CREATE INDEX credit_notes_credit ON credit_notes (account_id) WHERE unallocated_minor > 0;

-- Exactly one source per allocation: a payment or a credit note.
CREATE TABLE allocations (
    id             bigserial PRIMARY KEY,
    invoice_number text NOT NULL,
    account_id     text NOT NULL,
    payment_id     text,
    credit_note    text,
    amount_minor   bigint NOT NULL CHECK (amount_minor > 0),
    caused_by      text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((payment_id IS NULL) <> (credit_note IS NULL))
);
CREATE INDEX allocations_invoice ON allocations (invoice_number);
CREATE INDEX allocations_payment ON allocations (payment_id);

-- Refunds pay account credit back. A refund of a statement transfer that
-- never became a payment has no payment and no account.
CREATE TABLE refunds (
    id           bigserial PRIMARY KEY,
    payment_id   text,
    account_id   text,
    currency     text NOT NULL,
    amount_minor bigint NOT NULL CHECK (amount_minor > 0),
    reason       text NOT NULL,
    operator     text NOT NULL,
    approved_by  text NOT NULL DEFAULT '',
    refunded_at  timestamptz NOT NULL,
    caused_by    text NOT NULL
);
CREATE INDEX refunds_account ON refunds (account_id);

-- Internal control: an action above the threshold waits here, as the packed
-- InvoicingRequest that asked for it, until a second operator decides.
CREATE TABLE approvals (
    id           bigserial PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('credit_note', 'write_off', 'refund')),
    summary      text NOT NULL,
    account_id   text NOT NULL DEFAULT '',
    currency     text NOT NULL DEFAULT '',
    amount_minor bigint NOT NULL,
    request      bytea NOT NULL,
    requested_by text NOT NULL,
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    decided_by   text NOT NULL DEFAULT '',
    decision     text NOT NULL DEFAULT '',
    result       text NOT NULL DEFAULT '',
    requested_at timestamptz NOT NULL DEFAULT now(),
    decided_at   timestamptz,
    caused_by    text NOT NULL
);

-- Events from other services applied here, by event id (idempotency).
CREATE TABLE applied_events (
    event_id   text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- Reconciliation: one row per statement line ever imported; the
-- fingerprint (the row's fields plus its ordinal among identical rows of its
-- file) makes a re-import match nothing twice.
CREATE TABLE statement_rows (
    id             bigserial PRIMARY KEY,
    fingerprint    text NOT NULL UNIQUE,
    import_name    text NOT NULL,
    line           integer NOT NULL,
    value_date     date NOT NULL,
    amount_minor   bigint NOT NULL,
    currency       text NOT NULL,
    payer          text NOT NULL,
    reference      text NOT NULL,
    method         text NOT NULL,
    outcome        text NOT NULL CHECK (outcome IN ('matched', 'exception')),
    payment_id     text,
    invoice_number text,
    caused_by      text NOT NULL,
    imported_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE recon_exceptions (
    id               bigserial PRIMARY KEY,
    row_id           bigint NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('unmatched', 'amount_mismatch', 'duplicate')),
    detail           text NOT NULL,
    candidate        text NOT NULL DEFAULT '',  -- invoice it nearly matched
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'assigned', 'refunded',
                                                                    'dismissed', 'pending_approval')),
    resolution       text NOT NULL DEFAULT '',
    resolved_by      text NOT NULL DEFAULT '',
    resolved_at      timestamptz,
    caused_by        text NOT NULL
);

-- Dunning: each step of the schedule is taken at most once per invoice.
CREATE TABLE dunning_steps (
    invoice_number text NOT NULL,
    step_days      integer NOT NULL,
    level          integer NOT NULL,
    outcome        text NOT NULL CHECK (outcome IN ('sent', 'skipped')),
    as_of          date NOT NULL,
    caused_by      text NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (invoice_number, step_days)
);
CREATE TABLE account_dunning (
    account_id text PRIMARY KEY,
    level      integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The append-only trail: who or what caused every state change.
CREATE TABLE trail (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text NOT NULL,       -- operator, or service:<consumer>
    cause     text NOT NULL,       -- request:<id> or event:<id>
    entity    text NOT NULL,       -- invoice | payment | credit_note | approval | ...
    entity_id text NOT NULL,
    action    text NOT NULL,
    detail    text NOT NULL DEFAULT ''
);
CREATE FUNCTION trail_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only';
END $$;
CREATE TRIGGER trail_append_only BEFORE UPDATE OR DELETE ON trail
    FOR EACH ROW EXECUTE FUNCTION trail_append_only();
CREATE TRIGGER trail_no_truncate BEFORE TRUNCATE ON trail
    FOR EACH STATEMENT EXECUTE FUNCTION trail_append_only();
