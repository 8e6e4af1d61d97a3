-- How far the outbox has been pruned: events with seq <= pruned_upto are
-- gone. A consumer whose cursor is below it (one forgotten with `billctl
-- stream forget`, or restored from an old backup) would silently miss
-- events, so the stream server refuses its fetches instead. Existing
-- outboxes start from what pruning already removed.
CREATE TABLE stream_horizon (
    pruned_upto bigint NOT NULL
);
-- The id of the event at a consumer's cursor: the producer checks that its
-- outbox still has that event there, so a producer restored from an older
-- backup (which would reuse the numbers with other events) is noticed
-- instead of its new events being skipped.
ALTER TABLE stream_cursors ADD COLUMN last_event_id text NOT NULL DEFAULT '';

INSERT INTO stream_horizon
SELECT coalesce((SELECT min(seq) - 1 FROM outbox),
                (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM outbox_seq_seq));
