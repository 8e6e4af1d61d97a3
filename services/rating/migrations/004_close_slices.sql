-- Period close in slices (issues #3, #4): a close job is cut into ranges of
-- account ids, each with its own cursor and counters. Any rating process
-- (the API process, `--worker`s, `--closer`s) claims a slice for one batch
-- with FOR UPDATE SKIP LOCKED, so several processes close one period side by
-- side and a killed one leaves its slice, rolled back to its last committed
-- batch, to the others. The first process to take up a job cuts it (sliced);
-- when the last slice is done its counters are added to the job's and the
-- slices are deleted.
CREATE TABLE close_slices (
    job_id        text NOT NULL REFERENCES close_jobs (id),
    slice         integer NOT NULL,
    after_account text NOT NULL,             -- cursor: accounts after this one are left
    last_account  text NOT NULL DEFAULT '',  -- the slice's last account; '': to the end
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done')),
    rated         bigint NOT NULL DEFAULT 0,
    failed        bigint NOT NULL DEFAULT 0,
    total_minor   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, slice)
);

ALTER TABLE close_jobs ADD COLUMN sliced boolean NOT NULL DEFAULT false;

-- A close interrupted before this migration goes on as one slice from its
-- cursor; the job's cursor is then the slices'.
INSERT INTO close_slices (job_id, slice, after_account)
    SELECT id, 0, after_account FROM close_jobs WHERE status = 'pending';
UPDATE close_jobs SET sliced = true WHERE status = 'pending';
ALTER TABLE close_jobs DROP COLUMN after_account;
