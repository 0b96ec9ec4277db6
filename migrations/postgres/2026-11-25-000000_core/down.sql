DROP TABLE idempotency_keys;
DROP TABLE request_media;
DROP TABLE request_attributes;
DROP TABLE requests;
DROP TABLE api_keys;
DROP TABLE service_attributes;
DROP TABLE services;
DROP TABLE jurisdictions;
