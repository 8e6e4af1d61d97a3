-- Price changes announced ahead ([notice]): the change as created, the
-- accounts it was announced to with the proof of notice that notification's
-- stream brings back, and the tickets feedback's stream says name it. The
-- date an account starts paying the new price (effective_on) is kept here,
-- so the close reads it with one statement per batch.

CREATE TABLE price_changes (
    id                 text PRIMARY KEY,
    doc                text NOT NULL,          -- the document as created
    catalog_doc        text NOT NULL,          -- the catalog with the new version added
    catalog_version    integer NOT NULL,       -- the catalog it was checked against
    plan               text NOT NULL,
    currency           text NOT NULL,
    effective_date     date NOT NULL,
    min_notice_days    integer NOT NULL CHECK (min_notice_days >= 0),
    transition_periods integer NOT NULL DEFAULT 0,
    transition_percent numeric(12, 9) NOT NULL DEFAULT 0,
    status             text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'announced')),
    created_by         text NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL,
    announced_by       text NOT NULL DEFAULT '',
    announced_at       timestamptz,
    caused_by          text NOT NULL
);

-- One row per account a change was announced to. effective_on is the later
-- of the effective date and the first delivery + the minimum notice; NULL
-- while no notice reached the account (it keeps the old price).
CREATE TABLE price_change_accounts (
    change_id          text NOT NULL REFERENCES price_changes (id),
    account_id         text NOT NULL,
    tier               text NOT NULL DEFAULT '',
    period             text NOT NULL DEFAULT '',
    currency           text NOT NULL,
    old_minor          bigint NOT NULL,
    new_minor          bigint NOT NULL,
    event_id           text NOT NULL,
    notified_at        timestamptz NOT NULL,
    first_delivered_at timestamptz,
    delivered_by       text NOT NULL DEFAULT '', -- the NoticeDelivered event id
    delivered_channel  text NOT NULL DEFAULT '',
    acknowledged_at    timestamptz,
    ack_channel        text NOT NULL DEFAULT '',
    failed_at          timestamptz,
    fail_reason        text NOT NULL DEFAULT '',
    effective_on       date,
    caused_by          text NOT NULL,
    PRIMARY KEY (change_id, account_id)
);
CREATE INDEX price_change_accounts_effective ON price_change_accounts (account_id)
    WHERE effective_on IS NOT NULL;

-- Tickets that name a change (FeedbackReceived) and their outcome
-- (TicketResolved).
CREATE TABLE price_change_tickets (
    ticket_id   text PRIMARY KEY,
    change_id   text NOT NULL,
    account_id  text NOT NULL,
    type        text NOT NULL DEFAULT '',
    category    text NOT NULL DEFAULT '',
    channel     text NOT NULL DEFAULT '',
    opened_at   text NOT NULL DEFAULT '',
    outcome     text NOT NULL DEFAULT '',
    resolved_at text NOT NULL DEFAULT '',
    caused_by   text NOT NULL
);
CREATE INDEX price_change_tickets_change ON price_change_tickets (change_id);
