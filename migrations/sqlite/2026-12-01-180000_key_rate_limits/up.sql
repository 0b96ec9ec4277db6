-- A key's own POST rate (e.g. 1200/min or off); NULL: the server's CIVIC311_RATE_LIMIT_KEY.
ALTER TABLE api_keys ADD COLUMN rate_limit TEXT;
