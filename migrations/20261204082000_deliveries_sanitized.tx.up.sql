-- A delivery whose sender text had to be changed to be storable (bytes that
-- are not UTF-8, or NUL, each replaced by U+FFFD) says so: its stored
-- events and headers differ from the raw body, which is kept as received.
ALTER TABLE webhook_deliveries ADD COLUMN sanitized boolean NOT NULL DEFAULT false;
