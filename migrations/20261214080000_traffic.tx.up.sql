-- Interface traffic per minute (res 1) and per hour (res 60), for the whole
-- cluster: each node adds what its metrics registry counted since its last
-- flush (internal/figures.Traffic), so the IT view can show any time range
-- and not only what one node saw since it started. kind is connector (name
-- a source: requests, ok, signature_failures, latency) or handler (name a
-- bus handler: messages, failures, poisoned, lag); le is a histogram
-- bucket's upper bound in seconds ('Infinity' for the last), 0 for counters,
-- and n the count in that bucket alone.
CREATE TABLE traffic_rollups (
    res     smallint         NOT NULL,
    at      timestamptz      NOT NULL,
    kind    text             NOT NULL,
    name    text             NOT NULL,
    metric  text             NOT NULL,
    le      double precision NOT NULL,
    n       bigint           NOT NULL,
    PRIMARY KEY (res, at, kind, name, metric, le)
);
