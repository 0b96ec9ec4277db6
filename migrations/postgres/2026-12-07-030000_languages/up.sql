-- A city's languages (issue #11): the language its own texts are written in, and translations of service
-- names and descriptions, attribute texts, attribute values, and status names and texts into the others.
ALTER TABLE jurisdictions ADD COLUMN language TEXT NOT NULL DEFAULT 'en';
-- scope: what an import replaces as a whole (`service:FLOOD` with its attributes, `statuses`).
CREATE TABLE translations (
    jurisdiction_id TEXT NOT NULL REFERENCES jurisdictions(id),
    scope TEXT NOT NULL,
    locale TEXT NOT NULL,
    item TEXT NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (jurisdiction_id, scope, locale, item)
);
ALTER TABLE jurisdiction_statuses ADD COLUMN description TEXT;
