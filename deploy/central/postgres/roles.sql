-- Central's store on PostgreSQL, step 1 of 2: the roles (docs/central.md, "PostgreSQL").
--
-- Run once per cluster as a superuser:   psql -v ON_ERROR_STOP=1 -f roles.sql
-- then give the roles a password (\password hallvakt_gateway) or map OS users
-- to them (pg_ident.conf), create the database owned by the owner role:
--
--   CREATE DATABASE hallvakt_central OWNER hallvakt_owner
--       TEMPLATE template0 ENCODING 'UTF8';
--
-- and run grants.sql in it (step 2).
--
-- hallvakt_owner   owns the schema: `hallvakt central init` runs as it and
--                  applies the migrations (a new release's too).
-- hallvakt_gateway every gateway and the admin commands (register-node, import,
--                  book, command, status): rows only, never the schema.
-- hallvakt_reader  reports and read-only pages (a hot standby serves them too).

CREATE ROLE hallvakt_owner LOGIN;
CREATE ROLE hallvakt_gateway LOGIN;
CREATE ROLE hallvakt_reader LOGIN;
