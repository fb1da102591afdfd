-- Motive labels per language (issue 17 point 5): a practice may name a motive in each of the
-- pages' languages (fr, en, de, it); the default label (`label_ct`) stays the fallback. The
-- translations are one JSON object {"de": "...", ...}, sealed under the agenda's key like the
-- default label; NULL when the practice gave none.
ALTER TABLE motives ADD COLUMN labels_ct BLOB;
