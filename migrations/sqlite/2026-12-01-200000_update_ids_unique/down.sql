DROP INDEX request_events_external;
