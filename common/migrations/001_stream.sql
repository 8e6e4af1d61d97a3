-- The durable event stream tables every service has (DESIGN.md §3).

-- Events this service emits, written in the same transaction as the change
-- they describe. seq order is commit order: writers take an advisory lock
-- before drawing sequence numbers (see common/outbox.c).
CREATE TABLE outbox (
    seq        bigserial PRIMARY KEY,
    part       integer NOT NULL,          -- stable hash of the partition key
    event_type text NOT NULL,
    event_id   uuid NOT NULL,
    payload    bytea NOT NULL,            -- billow.Event
    caused_by  text NOT NULL DEFAULT '',  -- request id or event id
    created_at timestamptz NOT NULL DEFAULT now()
);
-- No index on created_at: it would cost a third of the write rate, and rows
-- are created in seq order, so retention walks the primary key instead.

-- Consumers of this service's stream, for retention and status.
CREATE TABLE stream_consumers (
    consumer   text PRIMARY KEY,
    partitions text NOT NULL,
    acked_seq  bigint NOT NULL,
    last_seen  timestamptz NOT NULL DEFAULT now()
);

-- This service's position in the streams it consumes, committed with the
-- effects of the events it applied.
CREATE TABLE stream_cursors (
    producer   text NOT NULL,
    partitions text NOT NULL,
    last_seq   bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (producer, partitions)
);

-- First replies to mutating requests that carried an idempotency key.
CREATE TABLE idempotency (
    key          text PRIMARY KEY,
    request_type text NOT NULL,
    reply        bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
