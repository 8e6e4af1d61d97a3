-- Delivery rate (issue: notification service, performance). A delivery
-- updates its messages row twice (claim, outcome). Both updates used to
-- write a new entry into every index of messages, because PostgreSQL can
-- only update a row in place (HOT) when no indexed column changes, and the
-- partial indexes named status in their predicates.
--
-- The due-queue therefore moves out of messages into message_queue: one
-- row per message waiting to be sent (pending, scheduled, retry), deleted
-- by the claim. messages.status stays the truth: a queue row whose message
-- is no longer due (a reminder cancelled by an acknowledgement) is simply
-- dropped by the claim that finds it. With no index on status, and room on
-- each page for the new row versions (fillfactor), claim and outcome are
-- both updates in place.
CREATE TABLE message_queue (
    message_id text COLLATE "C" NOT NULL,
    channel    text NOT NULL,
    due_at     timestamptz NOT NULL,        -- service clock (scheduled reminders)
    not_before timestamptz NOT NULL DEFAULT now()  -- real clock (retry backoff)
);
CREATE INDEX message_queue_due ON message_queue (channel, due_at);
INSERT INTO message_queue (message_id, channel, due_at, not_before)
    SELECT id, channel, due_at, not_before FROM messages
    WHERE status IN ('scheduled', 'pending', 'retry');
DROP INDEX messages_due;

-- A claim writes a new version of every row it takes, all in one
-- transaction: half of each page stays free for them (set first: adding
-- the computed column below rewrites the table with it).
ALTER TABLE messages SET (fillfactor = 50);

-- The dead-letter list keeps its partial index through a computed flag that
-- changes only when a row becomes dead or leaves the list.
ALTER TABLE messages ADD COLUMN dead boolean GENERATED ALWAYS AS (status = 'dead') STORED;
DROP INDEX messages_dead;
CREATE INDEX messages_dead ON messages (created_at) WHERE dead;

-- The foreign key ran a lookup and a row lock on messages for every attempt
-- row (a per-row trigger: about a third of writing an attempt). Attempts
-- are written only by the delivery engine for rows it has just claimed, and
-- messages are never deleted, so the reference cannot break.
ALTER TABLE attempts DROP CONSTRAINT attempts_message_id_fkey;

-- Message ids are UUIDs in text: every lookup by id compared them with the
-- database's collation (strcoll) at each step down the index. Byte order
-- ("C") is all an id needs.
ALTER TABLE messages ALTER COLUMN id TYPE text COLLATE "C";
ALTER TABLE attempts ALTER COLUMN message_id TYPE text COLLATE "C";
