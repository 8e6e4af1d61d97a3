-- One role and one schema per service; a service's role can use only its own
-- schema (DESIGN.md §4). Safe to run again. For an external PostgreSQL, run
-- this as a superuser in the billow database and give each role a password.
REVOKE ALL ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON DATABASE billow FROM PUBLIC;
DO $$
DECLARE
    s text;
BEGIN
    FOREACH s IN ARRAY ARRAY['rating', 'invoicing', 'notification', 'feedback'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'billow_' || s) THEN
            EXECUTE format('CREATE ROLE %I LOGIN', 'billow_' || s);
        END IF;
        EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE billow TO %I', 'billow_' || s);
        EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', s, 'billow_' || s);
        EXECUTE format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', s);
    END LOOP;
END
$$;
