DROP INDEX requests_list_updated;
DROP INDEX requests_list_status;
DROP INDEX requests_list_service;
DROP INDEX requests_list;
DROP TABLE catalog_version;
