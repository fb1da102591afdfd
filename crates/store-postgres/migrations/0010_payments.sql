-- Payment of teleconsultations (issue 7).
--
-- A fee per teleconsultation motive. The composite foreign key carries the motive's
-- teleconsultation flag into the fee row, whose CHECK then keeps fees on teleconsultation
-- motives only: turning a motive with a fee into an in-person one fails unless the fee is
-- removed first.
CREATE UNIQUE INDEX motives_id_teleconsultation ON motives(id, teleconsultation);

CREATE TABLE motive_fees (
    motive_id        TEXT PRIMARY KEY,
    agenda_id        TEXT NOT NULL REFERENCES agendas(id) ON DELETE CASCADE,
    teleconsultation BOOLEAN NOT NULL DEFAULT TRUE CHECK (teleconsultation),
    amount_cents     BIGINT NOT NULL CHECK (amount_cents BETWEEN 50 AND 100000),
    currency         TEXT NOT NULL CHECK (length(currency) = 3 AND upper(currency) = currency),
    FOREIGN KEY (motive_id, teleconsultation) REFERENCES motives(id, teleconsultation)
        ON UPDATE CASCADE ON DELETE CASCADE
);
CREATE INDEX motive_fees_agenda ON motive_fees(agenda_id);

-- One payment per appointment. Status moves only forward, by conditional updates
-- (`pending` → `authorised` → `captured` | `released`; `failed` on a refusal);
-- `pay_at_practice` records that the fee is paid at the practice (no online payment).
CREATE TABLE payments (
    reservation_id TEXT PRIMARY KEY REFERENCES reservations(id),
    agenda_id      TEXT NOT NULL REFERENCES agendas(id),
    provider       TEXT NOT NULL CHECK (provider IN ('stripe', 'practice')),
    intent_id      TEXT UNIQUE,
    amount_cents   BIGINT NOT NULL CHECK (amount_cents > 0),
    currency       TEXT NOT NULL CHECK (length(currency) = 3 AND upper(currency) = currency),
    status         TEXT NOT NULL CHECK (status IN ('pending', 'authorised', 'captured', 'released', 'failed', 'pay_at_practice')),
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    CHECK ((provider = 'practice') = (status = 'pay_at_practice')),
    CHECK (status NOT IN ('authorised', 'captured') OR intent_id IS NOT NULL)
);
CREATE INDEX payments_open ON payments(status) WHERE status IN ('pending', 'authorised');

-- Webhook events already processed: a replayed event id is refused.
CREATE TABLE payment_events (
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (provider, event_id)
);
