-- The point a report shows in public answers, stored so that spatial filters (bbox, lat/long/radius) test
-- what the public sees: filtering on the exact point would let a tiny box find where a coarsened report
-- really is. Reports of services published exactly take their point now; the others are filled in by the
-- server after migrating (the grid is computed in Rust: domain::coarsen).
ALTER TABLE requests ADD COLUMN public_lat REAL;
ALTER TABLE requests ADD COLUMN public_long REAL;
UPDATE requests SET public_lat = lat, public_long = long
WHERE lat IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM services s
    WHERE s.jurisdiction_id = requests.jurisdiction_id AND s.code = requests.service_code
      AND s.public_precision_m IS NOT NULL);
