-- v01t's database roles: least privilege (runbook: RBAC; issue 20). Run once by a database
-- administrator, connected to the v01t database as a superuser (or the cloud "master" user):
--
--   psql "$ADMIN_URL" -v app_password="$APP_PW" -v reader_password="$READER_PW" -f deploy/postgres/roles.sql
--
-- * v01t_app: what DATABASE_URL connects as. Owns the schemas and tables it creates through its
--   migrations; no superuser, no CREATEDB, no CREATEROLE, no replication, no BYPASSRLS.
-- * v01t_readonly: a group role with SELECT on everything v01t_app creates, now and later
--   (default privileges), for reporting tools and analysts.
-- * v01t_reader: a login in v01t_readonly (a BI tool, `psql` for an analyst).
-- Note: the read-only role sees personal data (orchestrator.users holds e-mail addresses; the
-- secrets there and in integration_hub are hashed or encrypted). Give it to people the GDPR
-- records of processing allow; revoke a table with REVOKE SELECT ON <table> FROM v01t_readonly.
\set ON_ERROR_STOP on

SELECT format('CREATE ROLE v01t_app LOGIN PASSWORD %L NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS', :'app_password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'v01t_app') \gexec
SELECT 'CREATE ROLE v01t_readonly NOLOGIN'
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'v01t_readonly') \gexec
SELECT format('CREATE ROLE v01t_reader LOGIN PASSWORD %L IN ROLE v01t_readonly', :'reader_password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'v01t_reader') \gexec

-- The application creates its schemas (one per service) in this database, and nothing else.
SELECT format('GRANT CONNECT, CREATE, TEMPORARY ON DATABASE %I TO v01t_app', current_database()) \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO v01t_readonly', current_database()) \gexec
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- Everything v01t_app creates from now on is readable by v01t_readonly.
ALTER DEFAULT PRIVILEGES FOR ROLE v01t_app GRANT USAGE ON SCHEMAS TO v01t_readonly;
ALTER DEFAULT PRIVILEGES FOR ROLE v01t_app GRANT SELECT ON TABLES TO v01t_readonly;
ALTER DEFAULT PRIVILEGES FOR ROLE v01t_app GRANT SELECT ON SEQUENCES TO v01t_readonly;

-- And what it created before this script ran (re-running the script is safe).
DO $$
DECLARE s name;
BEGIN
  FOR s IN SELECT nspname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner WHERE r.rolname = 'v01t_app' LOOP
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO v01t_readonly', s);
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO v01t_readonly', s);
    EXECUTE format('GRANT SELECT ON ALL SEQUENCES IN SCHEMA %I TO v01t_readonly', s);
  END LOOP;
END $$;
