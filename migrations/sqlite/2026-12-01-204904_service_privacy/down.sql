ALTER TABLE services DROP COLUMN moderation;
ALTER TABLE services DROP COLUMN public_precision_m;
