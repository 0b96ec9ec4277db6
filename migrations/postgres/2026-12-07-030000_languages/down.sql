ALTER TABLE jurisdiction_statuses DROP COLUMN description;
DROP TABLE translations;
ALTER TABLE jurisdictions DROP COLUMN language;
