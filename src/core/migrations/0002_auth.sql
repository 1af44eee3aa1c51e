-- Core schema, version 2: authentication and authorization (SPEC §4).
-- Roles and permissions are data: the matrix below is the product contract, seeded once;
-- apps refer to permission names in their route declarations.

CREATE TABLE roles (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_-]{0,31}$'),
    description text NOT NULL DEFAULT ''
);

CREATE TABLE permissions (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_-]*:[a-z][a-z0-9_-]*$'),
    description text NOT NULL DEFAULT ''
);

CREATE TABLE role_permissions (
    role       text NOT NULL REFERENCES roles ON UPDATE CASCADE ON DELETE CASCADE,
    permission text NOT NULL REFERENCES permissions ON UPDATE CASCADE ON DELETE CASCADE,
    PRIMARY KEY (role, permission)
);

INSERT INTO permissions (name, description) VALUES
    ('quakes:read',        'read the earthquake catalogue'),
    ('quakes:write',       'change earthquake data'),
    ('books:read',         'read books and reviews'),
    ('books:write',        'add and change books'),
    ('reviews:write',      'write reviews'),
    ('files:upload',       'upload files for processing'),
    ('jobs:read',          'read processing jobs (own jobs; all for admin)'),
    ('machines:read',      'read machine metadata'),
    ('machines:write',     'change machine metadata'),
    ('telemetry:read',     'read telemetry'),
    ('telemetry:ingest',   'send telemetry'),
    ('alarms:ack',         'acknowledge alarms'),
    ('config:update',      'push configuration to machines'),
    ('datasets:read',      'list datasets'),
    ('access:request',     'request access to datasets'),
    ('access:review',      'list, approve, refuse and revoke access'),
    ('prices:read',        'read prices of granted datasets (own grants)'),
    ('notifications:read', 'read own notifications'),
    ('users:admin',        'manage users, roles and clients'),
    ('apikeys:admin',      'manage API keys'),
    ('audit:read',         'read the audit log');

INSERT INTO roles (name, description) VALUES
    ('viewer',     'reads public catalogues'),
    ('member',     'reads and writes books and reviews, uploads files'),
    ('operator',   'watches machines and telemetry'),
    ('supervisor', 'operator who also changes machines and acknowledges alarms'),
    ('management', 'supervisor who also pushes configuration'),
    ('gateway',    'machine gateway that sends telemetry'),
    ('quant',      'quant customer of price datasets'),
    ('ops',        'reviews dataset access'),
    ('admin',      'everything');

INSERT INTO role_permissions (role, permission) VALUES
    ('viewer', 'quakes:read'), ('viewer', 'books:read'),
    ('member', 'quakes:read'), ('member', 'books:read'), ('member', 'books:write'),
    ('member', 'reviews:write'), ('member', 'files:upload'), ('member', 'jobs:read'),
    ('operator', 'machines:read'), ('operator', 'telemetry:read'),
    ('supervisor', 'machines:read'), ('supervisor', 'telemetry:read'),
    ('supervisor', 'machines:write'), ('supervisor', 'alarms:ack'),
    ('management', 'machines:read'), ('management', 'telemetry:read'),
    ('management', 'machines:write'), ('management', 'alarms:ack'), ('management', 'config:update'),
    ('gateway', 'telemetry:ingest'),
    ('quant', 'datasets:read'), ('quant', 'access:request'), ('quant', 'prices:read'),
    ('quant', 'notifications:read'),
    ('ops', 'datasets:read'), ('ops', 'access:review');

INSERT INTO role_permissions (role, permission) SELECT 'admin', name FROM permissions;

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
    password_hash text NOT NULL,
    role          text NOT NULL REFERENCES roles ON UPDATE CASCADE,
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE oauth_clients (
    id          text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    name        text NOT NULL,
    secret_hash text,                       -- NULL for public clients
    role        text REFERENCES roles ON UPDATE CASCADE, -- client_credentials tokens carry it
    revoked     boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((secret_hash IS NULL) = (role IS NULL))
);

INSERT INTO oauth_clients (id, name) VALUES ('strata-web', 'Strata dashboard and Swagger UI (public client)');

CREATE TABLE refresh_tokens (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash bytea NOT NULL UNIQUE,       -- SHA-256 of the opaque token
    family     uuid NOT NULL,               -- every rotation of one login shares it
    user_id    bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    client_id  text NOT NULL REFERENCES oauth_clients ON DELETE CASCADE,
    scope      text NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,                 -- rotated: a second use is reuse
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE api_keys (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    prefix        text NOT NULL UNIQUE,     -- public part shown in listings, finds the row
    key_hmac      bytea NOT NULL,           -- HMAC-SHA-256(server key, whole key)
    name          text NOT NULL,
    role          text NOT NULL REFERENCES roles ON UPDATE CASCADE,
    created_by    text NOT NULL,
    expires_at    timestamptz,
    revoked_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,               -- user:<name>, client:<id>, apikey:<prefix>, cli, system
    action     text NOT NULL,               -- e.g. user.create, apikey.revoke, token.family_revoked
    target     text,
    request_id text,
    outcome    text NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    detail     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_actor ON audit_log (actor, at DESC);
