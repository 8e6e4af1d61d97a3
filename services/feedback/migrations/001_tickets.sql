-- Feedback: tickets and their history, the credit requests they raise, and
-- the views of other services' events that tickets are validated against.
-- Every row records what caused it (request id or event id).

-- Accounts as invoicing announced them (AccountChanged); newest version wins.
CREATE TABLE accounts (
    id         text PRIMARY KEY,
    name       text NOT NULL DEFAULT '',
    currency   text NOT NULL DEFAULT '',
    language   text NOT NULL DEFAULT 'en',
    status     text NOT NULL DEFAULT 'active',
    version    bigint NOT NULL DEFAULT 0,
    caused_by  text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Invoices as invoicing issued them (InvoiceIssued).
CREATE TABLE invoices (
    number      text PRIMARY KEY,
    account_id  text NOT NULL,
    currency    text NOT NULL,
    total_minor bigint NOT NULL,
    period      text NOT NULL DEFAULT '',
    issue_date  text NOT NULL DEFAULT '',
    caused_by   text NOT NULL
);
CREATE INDEX invoices_account ON invoices (account_id);
CREATE TABLE invoice_items (
    number   text NOT NULL REFERENCES invoices (number),
    fee_item text NOT NULL,
    PRIMARY KEY (number, fee_item)
);

-- Price changes as rating announced them: one row per account told.
CREATE TABLE price_changes (
    change_id      text NOT NULL,
    account_id     text NOT NULL,
    effective_date text NOT NULL DEFAULT '',
    caused_by      text NOT NULL,
    PRIMARY KEY (change_id, account_id)
);
CREATE TABLE price_change_items (
    change_id text NOT NULL,
    fee_item  text NOT NULL,
    PRIMARY KEY (change_id, fee_item)
);

CREATE SEQUENCE ticket_numbers;

-- Times are the service clock's (bw_now_us), so a pinned clock pins them.
CREATE TABLE tickets (
    id                 text PRIMARY KEY,
    seq                bigint NOT NULL UNIQUE,
    account_id         text NOT NULL REFERENCES accounts (id),
    type               text NOT NULL CHECK (type IN ('inquiry', 'complaint', 'dispute', 'suggestion')),
    channel            text NOT NULL CHECK (channel IN ('phone', 'email', 'web', 'sms', 'social', 'in_person')),
    priority           text NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    category           text NOT NULL DEFAULT '',
    invoice_number     text REFERENCES invoices (number),
    price_change_id    text,
    text               text NOT NULL CHECK (octet_length(text) BETWEEN 1 AND 8192),
    status             text NOT NULL DEFAULT 'open'
                       CHECK (status IN ('open', 'in_progress', 'resolved', 'closed')),
    assignee           text NOT NULL DEFAULT '',
    outcome            text NOT NULL DEFAULT '',
    credit_minor       bigint NOT NULL DEFAULT 0,
    currency           text NOT NULL DEFAULT '',
    opened_at          timestamptz NOT NULL,
    opened_by          text NOT NULL,
    first_response_at  timestamptz,
    resolved_at        timestamptz,
    closed_at          timestamptz,
    first_response_due timestamptz NOT NULL,
    resolution_due     timestamptz NOT NULL,
    csat_score         integer CHECK (csat_score BETWEEN 1 AND 5),
    csat_comment       text NOT NULL DEFAULT '',
    csat_at            timestamptz,
    caused_by          text NOT NULL,
    updated_at         timestamptz NOT NULL
);
CREATE INDEX tickets_status ON tickets (status, seq);
CREATE INDEX tickets_account ON tickets (account_id, seq);
CREATE INDEX tickets_opened ON tickets (opened_at);
CREATE INDEX tickets_price_change ON tickets (price_change_id) WHERE price_change_id IS NOT NULL;

-- Everything that happened to a ticket, in order: the audit trail.
CREATE TABLE ticket_history (
    id          bigserial PRIMARY KEY,
    ticket_id   text NOT NULL REFERENCES tickets (id),
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    kind        text NOT NULL,
    from_status text NOT NULL DEFAULT '',
    to_status   text NOT NULL DEFAULT '',
    text        text NOT NULL DEFAULT '',
    caused_by   text NOT NULL,
    source_event uuid UNIQUE  -- set for rows an event caused: replays are harmless
);
CREATE INDEX ticket_history_ticket ON ticket_history (ticket_id, id);

-- Credits this service asked invoicing for, and the credit notes it issued.
CREATE TABLE credit_requests (
    id                 bigserial PRIMARY KEY,
    ticket_id          text NOT NULL REFERENCES tickets (id),
    invoice_number     text NOT NULL,
    amount_minor       bigint NOT NULL CHECK (amount_minor > 0),
    currency           text NOT NULL,
    requested_at       timestamptz NOT NULL,
    requested_by       text NOT NULL,
    caused_by          text NOT NULL,
    credit_note_number text,
    credit_note_event  uuid UNIQUE
);
CREATE INDEX credit_requests_ticket ON credit_requests (ticket_id, id);

-- Every CreditNoteIssued seen (ticket_id may be empty or unknown).
CREATE TABLE credit_notes (
    number         text PRIMARY KEY,
    ticket_id      text NOT NULL DEFAULT '',
    invoice_number text NOT NULL DEFAULT '',
    amount_minor   bigint NOT NULL,
    currency       text NOT NULL,
    caused_by      text NOT NULL
);
