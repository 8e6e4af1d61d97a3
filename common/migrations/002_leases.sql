-- Partition leases of worker processes (common/consumer.c). A worker holds
-- the lease of each partition set it consumes and renews it with every batch
-- it commits; when a worker dies its leases expire and another worker of
-- the same service adopts them, continuing from the same cursor. The worker
-- the partitions were configured for asks for them back with wanted_by.
CREATE TABLE stream_leases (
    producer   text NOT NULL,
    partitions text NOT NULL,
    owner      text NOT NULL,
    expires_at timestamptz NOT NULL,
    wanted_by  text,
    PRIMARY KEY (producer, partitions)
);
