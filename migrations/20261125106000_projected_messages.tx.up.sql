-- Messages a projection transaction already folded in by reading ahead:
-- their own delivery then costs one statement instead of a transaction.
CREATE TABLE projected_messages (
    uuid text PRIMARY KEY,
    at   timestamptz NOT NULL
);
