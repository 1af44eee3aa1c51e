-- quakes, version 1: the USGS earthquake catalogue, its change log and backfill progress.
-- Every USGS property is kept in `properties` (jsonb, as received); the ones the API filters
-- or sorts on are also typed columns. Geometry: geography(Point,4326) for exact distances on
-- the spheroid, plus a planar geometry point indexed together with time (btree_gist) so a
-- radius query can prefilter by bounding box and time window in one index scan. Both are
-- generated from lon/lat, so they can never disagree with them (writers set lon/lat only).
-- Numbers are double precision, as in the feed: a real column compared with a float8
-- parameter would miss equal values (real 1.32 is 1.3200000524 as float8).

CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE quakes (
    id          text PRIMARY KEY,             -- USGS event id, e.g. nc73919986
    time        timestamptz NOT NULL,         -- origin time
    updated     timestamptz NOT NULL,         -- USGS last update; newer replaces older
    mag         double precision,
    magtype     text,
    place       text,
    lon         double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    lat         double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    depth_km    double precision NOT NULL,    -- km below sea level (negative: above)
    geom        geography(Point, 4326) NOT NULL
                GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography) STORED,
    pt          geometry(Point, 4326) NOT NULL
                GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED,
    status      text NOT NULL DEFAULT 'automatic', -- automatic | reviewed | deleted (lower case)
    eventtype   text NOT NULL DEFAULT 'earthquake',
    alert       text,                          -- green | yellow | orange | red
    tsunami     boolean NOT NULL DEFAULT false,
    sig         integer,
    felt        integer,
    cdi         double precision,
    mmi         double precision,
    gap         double precision,
    net         text,
    code        text,
    sources     text,
    title       text,
    properties  jsonb NOT NULL,                -- every USGS property, as received
    ingested_at timestamptz NOT NULL DEFAULT now() -- when this version was stored
);

-- list orderings (keyset): newest first / oldest first, and by magnitude
CREATE INDEX quakes_time_id ON quakes (time DESC, id DESC);
CREATE INDEX quakes_mag_id ON quakes (mag DESC NULLS LAST, id DESC);
CREATE INDEX quakes_updated ON quakes (updated);
-- radius and rectangle: planar bounding box + time in one GiST scan, exact check on geom
CREATE INDEX quakes_pt_time ON quakes USING gist (pt, time);
CREATE INDEX quakes_geom ON quakes USING gist (geom);

-- Change log: what live subscribers and Last-Event-ID replays read; seq is the SSE event id.
-- Written by the ingest in the same statement as the rows it describes, then
-- NOTIFY quakes_events '<max seq>' in the same transaction. Pruned by age
-- (quakes_event_retention) by the ingest.
CREATE TABLE quake_events (
    seq      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    quake_id text NOT NULL,
    kind     text NOT NULL CHECK (kind IN ('created', 'updated', 'deleted')),
    at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quake_events_at ON quake_events (at);

-- FDSN backfill: one row per requested range; done_until is the end of the last window
-- stored, so `strata ingest --backfill` run again with the same range continues from there.
CREATE TABLE quake_backfill_progress (
    starttime  timestamptz NOT NULL,
    endtime    timestamptz NOT NULL,
    done_until timestamptz NOT NULL,
    windows    integer NOT NULL DEFAULT 0,  -- windows fetched and stored
    features   bigint NOT NULL DEFAULT 0,   -- features received (valid ones)
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (starttime, endtime),
    CHECK (starttime < endtime AND done_until BETWEEN starttime AND endtime)
);
