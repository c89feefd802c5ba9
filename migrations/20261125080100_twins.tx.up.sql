-- The order twin read model, rebuilt from order_events by the projection.
CREATE TABLE orders (
    id            bigserial PRIMARY KEY,
    channel       text        NOT NULL,
    order_no      text        NOT NULL,
    stage         text        NOT NULL,
    twin          jsonb       NOT NULL,
    tags          text[]      NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    projected_at  timestamptz NOT NULL,
    version       integer     NOT NULL DEFAULT 1,
    CONSTRAINT orders_key UNIQUE (channel, order_no)
);
--bun:split
CREATE INDEX orders_updated ON orders (updated_at DESC, id DESC);
--bun:split
CREATE INDEX orders_stage_updated ON orders (stage, updated_at DESC, id DESC);
--bun:split
-- Orders per current stage, kept by the projection in the same transaction
-- as the twins, so backlog reads never scan orders.
CREATE TABLE stage_counts (
    stage text   PRIMARY KEY,
    count bigint NOT NULL DEFAULT 0
);
