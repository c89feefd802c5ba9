-- Deadlines per channel, warehouse or courier: a deadline rule's wait
-- (after) replaced for orders of that scope (the most specific wins:
-- warehouse, then courier, then channel). Edits bump the rules revision.
CREATE TABLE deadline_overrides (
    id          bigserial PRIMARY KEY,
    rule        text        NOT NULL,
    scope_kind  text        NOT NULL CHECK (scope_kind IN ('channel', 'warehouse', 'courier')),
    scope_value text        NOT NULL,
    after_ms    bigint      NOT NULL CHECK (after_ms > 0),
    updated_at  timestamptz NOT NULL,
    updated_by  text        NOT NULL,
    UNIQUE (rule, scope_kind, scope_value)
);
