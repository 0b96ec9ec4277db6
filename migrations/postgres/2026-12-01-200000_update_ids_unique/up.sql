-- A back-office system's update_id is recorded once per report, however many resends race: earlier servers
-- checked before inserting, so two parallel resends could both land. Keep the first of any such pair.
DELETE FROM request_events
WHERE external_id IS NOT NULL
  AND id NOT IN (
    SELECT MIN(id) FROM request_events WHERE external_id IS NOT NULL GROUP BY request_id, external_id
  );
-- Partial: only back-office updates carry an update_id, and every other event is written with each report,
-- where a second index entry per insert would cost every POST (measured: about a tenth of SQLite's rate).
CREATE UNIQUE INDEX request_events_external ON request_events (request_id, external_id)
WHERE external_id IS NOT NULL;
