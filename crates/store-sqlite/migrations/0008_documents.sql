-- Documents shared on an appointment by its patient and its practice. Name and content are
-- sealed (XChaCha20-Poly1305) under the document's own data key, stored only wrapped by the
-- key service's named key `document-<id>`; destroying that key shreds the document. The
-- sniffed type and the size are not health data and stay in the clear.
CREATE TABLE documents (
    id             TEXT PRIMARY KEY,
    reservation_id TEXT NOT NULL REFERENCES reservations(id) ON DELETE CASCADE,
    uploaded_by    TEXT NOT NULL CHECK (uploaded_by IN ('patient', 'practice')),
    content_type   TEXT NOT NULL CHECK (content_type IN ('application/pdf', 'image/jpeg', 'image/png')),
    size           INTEGER NOT NULL CHECK (size > 0),
    created_at     INTEGER NOT NULL,
    wrapped_key    TEXT NOT NULL,
    name_ct        BLOB NOT NULL,
    content_ct     BLOB NOT NULL
) STRICT;
CREATE INDEX documents_reservation ON documents(reservation_id, created_at);

-- How many documents an appointment holds: raised only below the limit by a conditional
-- upsert, so the limit holds under concurrent uploads.
CREATE TABLE document_counts (
    reservation_id TEXT PRIMARY KEY REFERENCES reservations(id) ON DELETE CASCADE,
    documents      INTEGER NOT NULL CHECK (documents >= 0)
) STRICT;
