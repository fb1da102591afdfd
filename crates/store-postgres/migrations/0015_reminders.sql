-- Reminder delays per practice (issue 14): how many hours before an appointment the email and
-- the SMS reminder go out, set by the practitioner for all their agendas. 0 turns that reminder
-- off. A missing row means the defaults (72 h by email, 24 h by SMS).
CREATE TABLE reminder_delays (
    practitioner_id    TEXT PRIMARY KEY REFERENCES practitioners(id) ON DELETE CASCADE,
    email_hours_before BIGINT NOT NULL CHECK (email_hours_before BETWEEN 0 AND 336),
    sms_hours_before   BIGINT NOT NULL CHECK (sms_hours_before BETWEEN 0 AND 336),
    updated_at         BIGINT NOT NULL
);
