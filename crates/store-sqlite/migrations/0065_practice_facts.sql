-- Facts patients filter search results by (issue 17 point 2). Teleconsultation is not here:
-- it follows from the motives bookable online. Fee sectors are France's (secteur 1, secteur 2,
-- non conventionné); NULL = not stated, e.g. outside France.
ALTER TABLE practitioners ADD COLUMN accepts_new_patients INTEGER NOT NULL DEFAULT 1;
ALTER TABLE practitioners ADD COLUMN fee_sector TEXT
    CHECK (fee_sector IN ('sector-1', 'sector-2', 'non-contracted'));
ALTER TABLE places ADD COLUMN wheelchair_access INTEGER NOT NULL DEFAULT 0;
-- Floor, lift, entrance, parking, public transport: free text shown on the public page.
ALTER TABLE places ADD COLUMN access_details TEXT
    CHECK (access_details IS NULL OR length(access_details) <= 2000);
