-- Core schema, version 1: the extensions every app relies on.
-- schema_migrations itself is created by migrate.c before any migration runs.
CREATE EXTENSION IF NOT EXISTS postgis;
