-- A town in its own time zone (issue #13): an IANA name (`Europe/Paris`), whose offset follows daylight
-- saving time. NULL: the fixed utc_offset_minutes, as before.
ALTER TABLE jurisdictions ADD COLUMN timezone TEXT;
-- The status new reports start in (at most one per vocabulary); none marked: the first open status.
ALTER TABLE jurisdiction_statuses ADD COLUMN initial BOOLEAN NOT NULL DEFAULT 0;
