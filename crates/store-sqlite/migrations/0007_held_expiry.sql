-- The hold sweeper finds expired holds without scanning the appointments.
CREATE INDEX reservations_held_expiry ON reservations(expires_at) WHERE status = 'held';
