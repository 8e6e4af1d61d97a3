-- Contacts, notifications, delivery attempts and acknowledgements (issue:
-- notification service). Every table records what caused each row (the
-- event id or request id in caused_by).

-- One row per account, built from invoicing's AccountChanged and edited by
-- operators. Precedence rule: a field an operator set (listed in
-- operator_fields) is never overwritten by a later AccountChanged; the
-- operator gives it back with `billctl contact set ACCOUNT --release FIELD`.
CREATE TABLE contacts (
    account_id      text PRIMARY KEY,
    name            text NOT NULL DEFAULT '',
    email           text NOT NULL DEFAULT '',
    phone           text NOT NULL DEFAULT '',
    webhook_url     text NOT NULL DEFAULT '',
    language        text NOT NULL DEFAULT 'en',
    channels        text[] NOT NULL DEFAULT '{email,sms,webhook}',  -- fallback order
    opt_outs        text[] NOT NULL DEFAULT '{}',                   -- optional message types
    operator_fields text[] NOT NULL DEFAULT '{}',
    account_version bigint NOT NULL DEFAULT 0,
    caused_by       text NOT NULL,            -- last event or request that changed the row
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- One row per (source event, account, channel): the unique key is what makes
-- a replayed event or a restart harmless. A permanent failure adds the row
-- of the next channel for the same source event. The id is the idempotency
-- key every send carries. Scheduled rows (fee-change reminders) wait for
-- due_at on the service clock; not_before is the retry backoff on the real
-- clock, so a pinned service clock cannot freeze retries.
CREATE TABLE messages (
    id              text PRIMARY KEY,
    source_event_id text NOT NULL,
    account_id      text NOT NULL,
    channel         text NOT NULL,
    type            text NOT NULL,
    ref_id          text NOT NULL DEFAULT '',
    address         text NOT NULL DEFAULT '',
    language        text NOT NULL DEFAULT 'en',
    vars            text NOT NULL,            -- template variables (JSON)
    status          text NOT NULL CHECK (status IN ('scheduled', 'pending', 'sending', 'retry',
                        'delivered', 'failed', 'dead', 'cancelled', 'skipped')),
    attempts        integer NOT NULL DEFAULT 0,
    due_at          timestamptz NOT NULL,
    not_before      timestamptz NOT NULL DEFAULT now(),
    ack_token       text,
    last_error      text NOT NULL DEFAULT '',
    provider_id     text NOT NULL DEFAULT '',
    delivered_at    timestamptz,
    caused_by       text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source_event_id, account_id, channel)
);
-- Few indexes on purpose: every status change rewrites the row and adds an
-- entry to each of them (a third of the delivery rate per extra index).
CREATE INDEX messages_due ON messages (channel, due_at)
    WHERE status IN ('scheduled', 'pending', 'retry');
CREATE INDEX messages_account ON messages (account_id, created_at);
CREATE INDEX messages_dead ON messages (created_at) WHERE status = 'dead';
CREATE INDEX messages_token ON messages (ack_token) WHERE ack_token IS NOT NULL;

-- Every delivery attempt with the provider's answer.
CREATE TABLE attempts (
    id          bigserial PRIMARY KEY,
    message_id  text NOT NULL REFERENCES messages (id),
    attempt     integer NOT NULL,
    channel     text NOT NULL,
    notifier    text NOT NULL,
    address     text NOT NULL,
    status      text NOT NULL CHECK (status IN ('ok', 'temporary', 'permanent', 'interrupted')),
    code        integer NOT NULL DEFAULT 0,
    answer      text NOT NULL DEFAULT '',
    provider_id text NOT NULL DEFAULT '',
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now(),
    caused_by   text NOT NULL
);
CREATE INDEX attempts_message ON attempts (message_id, id);

-- Notices that need the customer's confirmation (fee changes): the token
-- is unguessable and recorded once.
CREATE TABLE acks (
    token           text PRIMARY KEY,
    notification_id text NOT NULL,
    source_event_id text NOT NULL,
    account_id      text NOT NULL,
    message_type    text NOT NULL,
    ref_id          text NOT NULL DEFAULT '',
    acknowledged_at timestamptz,
    channel         text NOT NULL DEFAULT '',
    acked_by        text NOT NULL DEFAULT '',   -- request id of the acknowledgement
    caused_by       text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
