//! The TOML files of a city, as written: every table and key an import accepts.

use super::*;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct CityFile {
    #[serde(default)]
    pub(super) jurisdictions: Vec<JurisdictionDef>,
    #[serde(default)]
    pub(super) services: Vec<ServiceDef>,
    #[serde(default)]
    pub(super) api_keys: Vec<ApiKeyDef>,
    #[serde(default)]
    pub(super) departments: Vec<routing::DepartmentDef>,
    #[serde(default)]
    pub(super) area_layers: Vec<routing::AreaLayerDef>,
    #[serde(default)]
    pub(super) rules: Vec<routing::RuleDef>,
    #[serde(default)]
    pub(super) statuses: Vec<StatusDef>,
    /// The server's own words in a language (`[texts.fr]`): department e-mail and note summaries. A key
    /// `jurisdiction` names the jurisdiction when the files hold several.
    #[serde(default)]
    pub(super) texts:
        std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
}

/// One status of a jurisdiction's vocabulary for staff, mapped to Open311 open or closed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StatusDef {
    #[serde(default)]
    pub(super) jurisdiction: Option<String>,
    pub(super) code: String,
    pub(super) name: String,
    /// Whether the status means the report is closed (fixed, not responsible, …).
    pub(super) closed: bool,
    /// What the status means to the citizen who asks.
    #[serde(default)]
    pub(super) description: Option<String>,
    /// What FixMyStreet's feed shows for it (docs/FIXMYSTREET.md); derived when left out.
    #[serde(default)]
    pub(super) fms: Option<String>,
    /// The FixMyStreet statuses (UPPERCASE) that set it; derived from `fms` when left out.
    #[serde(default)]
    pub(super) from_fms: Option<Vec<String>>,
    /// New reports start in this status (one open status at most); the first open status when none is.
    #[serde(default)]
    pub(super) initial: bool,
    #[serde(default)]
    pub(super) translations: std::collections::BTreeMap<String, StatusTranslation>,
}

/// A status's name and meaning in another language.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StatusTranslation {
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) description: Option<String>,
}

/// A service's texts in another language.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ServiceTranslation {
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) description: Option<String>,
    #[serde(default)]
    pub(super) group: Option<String>,
    #[serde(default)]
    pub(super) service_notice: Option<String>,
}

/// An attribute's texts in another language; `values` by key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AttributeTranslation {
    #[serde(default)]
    pub(super) description: Option<String>,
    #[serde(default)]
    pub(super) datatype_description: Option<String>,
    #[serde(default)]
    pub(super) label: Option<String>,
    #[serde(default)]
    pub(super) values: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct JurisdictionDef {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) contact: String,
    pub(super) key_service: String,
    /// e.g. "+07:00"; datetimes are shown in this offset.
    #[serde(default)]
    pub(super) utc_offset: Option<String>,
    /// An IANA time zone ("Europe/Paris"), daylight saving time included; instead of `utc_offset`.
    #[serde(default)]
    pub(super) timezone: Option<String>,
    /// The city's extent, `[min_long, min_lat, max_long, max_lat]`: every area must lie within it, which
    /// also catches a boundary file written with its coordinates in the wrong order.
    #[serde(default)]
    pub(super) bbox: Option<[f64; 4]>,
    /// "production" or "test" (discovery `type`).
    #[serde(default)]
    pub(super) endpoint_type: Option<String>,
    /// Areas within this many metres of a report are listed as "near" in its routing trace (default 100).
    #[serde(default)]
    pub(super) near_meters: Option<f64>,
    /// Contact details of closed reports are removed this many days after their last change.
    #[serde(default)]
    pub(super) contact_retention_days: Option<i32>,
    /// Photos of hidden or rejected reports are removed this many days after their last change.
    #[serde(default)]
    pub(super) media_retention_days: Option<i32>,
    /// The open data's licence, as an SPDX id or a URL (default CC-BY-4.0).
    #[serde(default)]
    pub(super) data_license: Option<String>,
    /// The language of its own texts (ISO 639-1); `en` when left out.
    #[serde(default)]
    pub(super) language: Option<String>,
    /// Whether application keys may post citizens' comments (`off`, `notes`, `status`); `off` when left out.
    #[serde(default)]
    pub(super) citizen_updates: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ServiceDef {
    #[serde(default)]
    pub(super) jurisdiction: Option<String>,
    pub(super) code: String,
    pub(super) name: String,
    #[serde(default)]
    pub(super) description: Option<String>,
    #[serde(default, rename = "type")]
    pub(super) service_type: Option<String>,
    #[serde(default)]
    pub(super) keywords: Vec<String>,
    #[serde(default)]
    pub(super) group: Option<String>,
    #[serde(default)]
    pub(super) service_notice: Option<String>,
    #[serde(default)]
    pub(super) expected_hours: Option<i32>,
    #[serde(default)]
    pub(super) active: Option<bool>,
    /// Whether the department's e-mail carries the reporter's contact details (default false).
    #[serde(default)]
    pub(super) share_contact: Option<bool>,
    /// Public answers show the point snapped to a grid of cells this many metres wide (default: exact).
    #[serde(default)]
    pub(super) public_precision_m: Option<f64>,
    /// "pre": staff review every report before it is public; "none" (default).
    #[serde(default)]
    pub(super) moderation: Option<String>,
    #[serde(default)]
    pub(super) attributes: Vec<AttributeDefFile>,
    #[serde(default)]
    pub(super) translations: std::collections::BTreeMap<String, ServiceTranslation>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AttributeDefFile {
    pub(super) code: String,
    pub(super) datatype: String,
    pub(super) description: String,
    #[serde(default)]
    pub(super) variable: Option<bool>,
    #[serde(default)]
    pub(super) required: Option<bool>,
    #[serde(default)]
    pub(super) datatype_description: Option<String>,
    #[serde(default)]
    pub(super) order: Option<i32>,
    #[serde(default)]
    pub(super) values: Vec<ListValue>,
    #[serde(default)]
    pub(super) min: Option<f64>,
    #[serde(default)]
    pub(super) max: Option<f64>,
    #[serde(default)]
    pub(super) unit: Option<String>,
    #[serde(default)]
    pub(super) label: Option<String>,
    #[serde(default)]
    pub(super) translations: std::collections::BTreeMap<String, AttributeTranslation>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ApiKeyDef {
    pub(super) name: String,
    /// The key itself (only its hash is stored). Fine for test keys kept in a repository; for production
    /// keys prefer `key_sha256` or `civic311 apikey create`.
    #[serde(default)]
    pub(super) key: Option<String>,
    #[serde(default)]
    pub(super) key_sha256: Option<String>,
    #[serde(default)]
    pub(super) kind: Option<String>,
    /// For a backoffice key: the jurisdiction whose reports it may update (default: the only one).
    #[serde(default)]
    pub(super) jurisdiction: Option<String>,
    /// Its own POST rate, e.g. `1200/min` or `off` (default: the server's `CIVIC311_RATE_LIMIT_KEY`).
    #[serde(default)]
    pub(super) rate_limit: Option<String>,
}

/// An API key to create or update.
pub(super) struct KeyPlan {
    pub(super) name: String,
    pub(super) hash: String,
    pub(super) kind: api_keys::ApiKeyKind,
    /// The plaintext of a test key, to show on the console.
    pub(super) shown: Option<String>,
    pub(super) jurisdiction: Option<String>,
    /// Given in plaintext (`key =`): see `ApiKeyRow::published`.
    pub(super) published: bool,
    pub(super) rate_limit: Option<String>,
}
