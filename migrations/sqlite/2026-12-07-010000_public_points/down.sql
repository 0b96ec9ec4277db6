ALTER TABLE requests DROP COLUMN public_long;
ALTER TABLE requests DROP COLUMN public_lat;
