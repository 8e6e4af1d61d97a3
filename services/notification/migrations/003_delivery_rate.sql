-- Delivery rate, second round (issue #5). Measured with bench/notify_bench
-- (50,000 messages to the file notifier, two runs each way, PostgreSQL CPU
-- per message from /proc).
--
-- A delivery updates its messages row twice: the claim and the outcome.
-- With fillfactor 50 a page had room for one new version of each of its
-- rows; the outcome's version then fitted only where the claim's old one
-- had been pruned, which a concurrent claim's snapshot often prevented, so
-- about 8% of updates left the page and added an entry to every index.
-- Room for both new versions (a third of the page for the rows themselves)
-- made every update HOT and cut the recorder's CPU per message by about a
-- sixth (30.3 -> 24.9 us, mean of five runs each). The price is space: rows
-- of 800 bytes (the benchmark's) take 2,730 bytes each instead of 1,638
-- (3 per page instead of 5); rows whose variables carry the invoice HTML
-- keep it in TOAST, which fillfactor does not touch. Fillfactor 100 was far
-- slower (47 us per message in the claims' backend instead of 16, 60 in the
-- recorder's). Only pages written from now on are filled this way.
ALTER TABLE messages SET (fillfactor = 35);

-- The bigserial key of attempts was an index nothing reads by (attempts are
-- read per message, in order, through attempts_message); each attempt row
-- paid for its entry. The column stays for that order.
ALTER TABLE attempts DROP CONSTRAINT attempts_pkey;
