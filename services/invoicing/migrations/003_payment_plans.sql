-- How an account's invoices are payable: at once (default), in N
-- instalments, or by milestones (services/invoicing/payplan.h for the syntax).
ALTER TABLE accounts ADD COLUMN payment_plan text NOT NULL DEFAULT 'once';
