DROP TABLE update_contacts;
ALTER TABLE jurisdictions DROP COLUMN citizen_updates;
ALTER TABLE jurisdiction_statuses DROP COLUMN from_fms;
ALTER TABLE jurisdiction_statuses DROP COLUMN fms;
