-- Central's store on PostgreSQL, step 2 of 2: the grants, in the database
-- (default privileges belong to one database):
--
--   psql -v ON_ERROR_STOP=1 -d hallvakt_central -f grants.sql
--
-- Run as a superuser or as hallvakt_owner, before or after `hallvakt central
-- init`; run it again after restoring a dump taken with --no-privileges.

-- Tables and sequences the owner creates later (every migration) get the grants
-- at once, so a new release needs no grant step ...
ALTER DEFAULT PRIVILEGES FOR ROLE hallvakt_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO hallvakt_gateway;
ALTER DEFAULT PRIVILEGES FOR ROLE hallvakt_owner IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO hallvakt_gateway;
ALTER DEFAULT PRIVILEGES FOR ROLE hallvakt_owner IN SCHEMA public
    GRANT SELECT ON TABLES TO hallvakt_reader;

-- ... and those that exist already have them too.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO hallvakt_gateway;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO hallvakt_gateway;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO hallvakt_reader;
