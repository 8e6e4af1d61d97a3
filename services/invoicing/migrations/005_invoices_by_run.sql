-- Listing a run's invoices (billctl invoice list --run) walked the whole
-- table once 004 dropped invoices_run: the planner either read every invoice
-- in number order or read them all and sorted. This index answers one page
-- of a run from where the last one ended (run_id = $1 AND number > $2 ORDER
-- BY number) whatever the table's size. It costs one more index entry per
-- invoice, appended at the run's right edge (numbers only grow): a COPY of
-- a month end's invoice rows into copies of the table took about a tenth
-- longer with it (bench/README.md). Invoices outside a run are not in it.
-- Building it locks invoices against writes for as long as that takes.
CREATE INDEX invoices_run_number ON invoices (run_id, number) WHERE run_id IS NOT NULL;
