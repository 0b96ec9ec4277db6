-- A key whose plaintext was written in an import file (the demo city's keys are in this repository): it works
-- only on a server started with --demo. Keys imported before this column existed are marked at their next import.
ALTER TABLE api_keys ADD COLUMN published BOOLEAN NOT NULL DEFAULT FALSE;
