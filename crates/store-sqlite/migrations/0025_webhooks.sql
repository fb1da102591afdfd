-- Webhooks of practices (issue 19, point 5). A subscription says where a practitioner's
-- appointment events go and which (`events`: a bit mask, booked 1, cancelled 2, moved 4,
-- no-show 8); its signing secret is sealed under the practitioner account's data key.
-- A delivery is one event for one subscription, written in the transaction of the change
-- (fanned out from the outbox write by a join on the mask), then claimed with a lease by the
-- webhook worker, retried with backoff and parked dead after the last attempt. Delivered and
-- dead rows stay: they are the practice's delivery log. `payload` holds ids and times only.
-- Times in milliseconds since the epoch.
CREATE TABLE webhook_subscriptions (
    id              TEXT PRIMARY KEY,
    practitioner_id TEXT NOT NULL REFERENCES practitioners(id) ON DELETE CASCADE,
    account_id      TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    url             TEXT NOT NULL,
    events          INTEGER NOT NULL CHECK (events > 0 AND events < 16),
    secret_ct       BLOB NOT NULL,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX webhook_subscriptions_of ON webhook_subscriptions(practitioner_id);

CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,                -- event_id:subscription_id
    event_id        TEXT NOT NULL,                   -- UUIDv7, the Careslot-Webhook-Id header
    subscription_id TEXT NOT NULL REFERENCES webhook_subscriptions(id) ON DELETE CASCADE,
    event           TEXT NOT NULL CHECK (event IN ('appointment.booked', 'appointment.cancelled',
                                                   'appointment.moved', 'appointment.no_show')),
    payload         TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    available_at    INTEGER NOT NULL,
    locked_until    INTEGER,
    delivered_at    INTEGER,
    dead_at         INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(available_at)
    WHERE delivered_at IS NULL AND dead_at IS NULL;
CREATE INDEX webhook_deliveries_log ON webhook_deliveries(subscription_id, created_at);
