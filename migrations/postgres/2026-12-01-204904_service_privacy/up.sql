-- How precisely a service's reports are located in public answers: NULL exact (a street light, a public
-- asset), otherwise the side in metres of the grid cell the public point is snapped to (illegal dumping
-- next to a house says where someone lives).
ALTER TABLE services ADD COLUMN public_precision_m DOUBLE PRECISION;
-- 'pre': every report is reviewed by staff before it is public, whatever the service type; 'none': only
-- what the intake checks hold back (batch services, text that looks like contact details).
ALTER TABLE services ADD COLUMN moderation TEXT NOT NULL DEFAULT 'none';
