-- SMART Scheduling Links (issue 19): what the vaccination-site list says publicly of a site,
-- published on its Location: the list's own id (`gid`), the booking platform's id
-- (`internal_id`) and the front-desk phone. Public directory facts, not health data.
ALTER TABLE imported_sites ADD COLUMN site_gid TEXT;
ALTER TABLE imported_sites ADD COLUMN site_internal_id TEXT;
ALTER TABLE imported_sites ADD COLUMN site_phone TEXT;
