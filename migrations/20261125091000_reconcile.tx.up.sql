-- One row per reconciliation pull: the window asked for, what the channel
-- listed and what Tower had not seen (a direct measure of push loss).
CREATE TABLE reconcile_runs (
    id           bigserial PRIMARY KEY,
    source       text        NOT NULL,
    window_from  timestamptz NOT NULL,
    window_to    timestamptz NOT NULL,
    listed       integer     NOT NULL DEFAULT 0,
    recovered    integer     NOT NULL DEFAULT 0,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    error        text
);
--bun:split
CREATE INDEX reconcile_runs_source ON reconcile_runs (source, window_to DESC);
