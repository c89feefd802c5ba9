-- People and internal tools: accounts with a role and optional scopes,
-- browser sessions, API tokens, and the audit log of who did what.
-- Secrets are stored only as hashes: passwords as argon2id (PHC strings),
-- session and API tokens as SHA-256 of their high-entropy value.
CREATE TABLE users (
    id                  bigserial PRIMARY KEY,
    name                text        NOT NULL UNIQUE,
    role                text        NOT NULL,
    scopes              text[]      NOT NULL DEFAULT '{}',
    password_hash       text        NOT NULL,
    -- Seeded by `make run` for trying Tower out; production refuses them.
    demo                boolean     NOT NULL DEFAULT false,
    disabled_at         timestamptz,
    -- Consecutive failed logins, and until when the account is slowed down.
    failed_logins       integer     NOT NULL DEFAULT 0,
    locked_until        timestamptz,
    last_login_at       timestamptz,
    created_at          timestamptz NOT NULL,
    created_by          text        NOT NULL,
    updated_at          timestamptz NOT NULL
);
--bun:split
CREATE TABLE sessions (
    id            bigserial PRIMARY KEY,
    token_hash    bytea       NOT NULL UNIQUE,
    user_id       bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Sent back in the X-CSRF-Token header of every cookie-authenticated
    -- GraphQL request: a page of another site cannot read it.
    csrf_token    text        NOT NULL,
    remote        text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz
);
--bun:split
CREATE INDEX sessions_user ON sessions (user_id) WHERE revoked_at IS NULL;
--bun:split
CREATE TABLE api_tokens (
    id            bigserial PRIMARY KEY,
    name          text        NOT NULL,
    token_hash    bytea       NOT NULL UNIQUE,
    -- The token's first characters (tower_pat_ and a few more), to tell
    -- tokens apart in lists without keeping the secret.
    prefix        text        NOT NULL,
    role          text        NOT NULL,
    scopes        text[]      NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL,
    created_by    text        NOT NULL,
    expires_at    timestamptz,
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    revoked_by    text
);
--bun:split
-- A name is reused only once its token is revoked (`tower token revoke NAME`).
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;
--bun:split
CREATE TABLE audit_log (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL,
    actor    text        NOT NULL,
    action   text        NOT NULL,
    subject  text        NOT NULL DEFAULT '',
    remote   text        NOT NULL DEFAULT ''
);
--bun:split
CREATE INDEX audit_log_at ON audit_log (at DESC, id DESC);
--bun:split
-- Scopes filter orders by warehouse: keep the twin's warehouse as a column
-- (computed by PostgreSQL, so the projection writes nothing new).
ALTER TABLE orders ADD COLUMN warehouse text GENERATED ALWAYS AS (twin->'details'->>'warehouse') STORED;
--bun:split
CREATE INDEX orders_warehouse_updated ON orders (warehouse, updated_at DESC, id DESC);
--bun:split
CREATE INDEX orders_channel_updated ON orders (channel, updated_at DESC, id DESC);
