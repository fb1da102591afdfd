-- The patient index of many-patient access-log entries (`audit_subjects`) is derived from
-- the sealed entries behind the request: an indexer adds the rows of every entry since its
-- watermark in one sorted batch and moves the watermark in the same transaction. A
-- patient's access log reads the indexed entries and every many-patient entry above the
-- watermark (opening them to see whether they name the patient), so it stays exact.
CREATE TABLE audit_index_state (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_to BIGINT NOT NULL
);
-- Entries written before this migration were indexed as they were appended.
INSERT INTO audit_index_state (id, indexed_to)
SELECT 1, COALESCE(MAX(seq), 0) FROM audit_log;
