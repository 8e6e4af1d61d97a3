-- How far the outbox has been pruned: events with seq <= pruned_upto are
-- gone. A consumer whose cursor is below it (one forgotten with `billctl
-- stream forget`, or restored from an old backup) would silently miss
-- events, so the stream server refuses its fetches instead. Existing
-- outboxes start from what pruning already removed.
CREATE TABLE stream_horizon (
    pruned_upto bigint NOT NULL
);
INSERT INTO stream_horizon
SELECT coalesce((SELECT min(seq) - 1 FROM outbox),
                (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM outbox_seq_seq));
