//! The data dictionary (`GET /open311/v2/dictionary.json`): every field of every open-data format, with its
//! type, unit, meaning and privacy rule, and each service's attribute columns. The CSV header and the GeoJSON
//! properties are written from `FIELDS` itself, and a test checks that the JSON and XML writers put out
//! exactly these fields in this order, so the dictionary cannot drift from what is served.

use super::handlers::query;
use super::Format;
use crate::app::{self, AppState};
use crate::domain::{Datatype, Moderation};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

/// One field of a report as the open-data formats publish it.
pub struct Field {
    pub name: &'static str,
    /// `string`, `number` or `datetime` (W3C, in the city's offset).
    pub kind: &'static str,
    pub unit: Option<&'static str>,
    pub meaning: &'static str,
    /// What the city's privacy rules do to it (empty: published as sent or set).
    pub privacy: &'static str,
}

const fn field(name: &'static str, kind: &'static str, meaning: &'static str) -> Field {
    Field {
        name,
        kind,
        unit: None,
        meaning,
        privacy: "",
    }
}

/// The GeoReport fields of a report (§3.10), in the spec's order: the JSON and XML element order, the CSV
/// columns, and (without `lat` and `long`, which are the geometry) the GeoJSON properties.
pub const FIELDS: [Field; 17] = [
    field("service_request_id", "string", "The report's id, unique in the jurisdiction."),
    field("status", "string", "open or closed."),
    field("status_notes", "string", "The city's explanation of the current status."),
    field("service_name", "string", "The name of the report's service."),
    field("service_code", "string", "The code of the report's service (GET services)."),
    Field {
        privacy: "The reporter's own words. Held for staff review when it looks as if it holds a phone \
                  number or an e-mail address; replaced by \"[removed: personal data]\" when the person it \
                  names asks for erasure.",
        ..field("description", "string", "What the reporter wrote.")
    },
    field("agency_responsible", "string", "The department the report was routed to."),
    field("service_notice", "string", "What the city tells reporters of this service."),
    field("requested_datetime", "datetime", "When the report was made."),
    field("updated_datetime", "datetime", "When the report last changed (status, note, routing, text)."),
    field("expected_datetime", "datetime", "When the city expects to have acted."),
    Field {
        privacy: "Left out (empty) for services published on a grid: it would give the exact place back.",
        ..field("address", "string", "The address the reporter gave.")
    },
    Field {
        privacy: "Left out (empty) for services published on a grid.",
        ..field("address_id", "string", "The city's id of that address.")
    },
    field("zipcode", "string", "The postal code."),
    Field {
        unit: Some("degree (WGS 84)"),
        privacy: "For services published on a grid (public_precision_m), the centre of the grid cell \
                  holding the point, the same on every read; otherwise the point as sent.",
        ..field("lat", "number", "Latitude.")
    },
    Field {
        unit: Some("degree (WGS 84)"),
        privacy: "As lat.",
        ..field("long", "number", "Longitude.")
    },
    Field {
        privacy: "Photos are served with their metadata (GPS position, camera) removed; photos of reports \
                  staff hid or rejected are deleted after the jurisdiction's media_retention_days.",
        ..field("media_url", "string", "The report's first photo.")
    },
];

/// What the open-data formats carry beyond GeoReport's fields, after them: in every CSV row and GeoJSON
/// feature, and in JSON and XML as `extended_attributes` with `extensions=true`.
pub const OPEN_DATA_FIELDS: [Field; 2] = [
    field(
        "channel",
        "string",
        "How the report arrived: the name of the app's key, web (the city's own page), or for a report \
         staff typed in, paper, phone, walk_in, volunteer, sms, chat or email. A report typed in by staff \
         has the citizen's own time as requested_datetime.",
    ),
    field(
        "reference_code",
        "string",
        "The report's short reference code (seven characters with a check character), as the reporter \
         quotes it: GET /status/{code}.",
    ),
];

/// What `extensions=true` adds (§4.2), in JSON and XML and, as noted, in GeoJSON.
const EXTENSIONS: [(&str, &str, &str); 4] = [
    (
        "attributes",
        "list",
        "The answers to the service's questions: code, name, value (a list for multi-value answers). In \
         GeoJSON, an object of code → answer. Answers to codes the service does not publish are kept for \
         staff only.",
    ),
    (
        "extended_attributes",
        "object",
        "channel and reference_code (as in CSV and GeoJSON), duplicate and parent_service_request_id, \
         detailed_status (the city's own status), media_urls (every photo). In GeoJSON: detailed_status.",
    ),
    (
        "notes",
        "list",
        "Public status changes and notes in time order, \"opened\" among them (datetime, type, summary, \
         description). Internal staff notes are never here.",
    ),
    (
        "withdrawn",
        "boolean",
        "In the change feed (cursor) only: the report left the public list; a copy drops it. Such an item \
         has only service_request_id, updated_datetime and withdrawn.",
    ),
];

/// Personal data the city holds and publishes in no format.
const WITHHELD: [(&str, &str); 6] = [
    (
        "email",
        "For staff and, where the service shares contact details, the department's e-mail.",
    ),
    ("phone", "As email."),
    ("first_name", "As email."),
    ("last_name", "As email."),
    (
        "device_id",
        "Stored only as a keyed hash, for staff to see reports from one device.",
    ),
    (
        "account_id",
        "For staff; the POST answer's account_id is always null.",
    ),
];

fn datatype(d: Datatype) -> &'static str {
    match d {
        Datatype::String => "string",
        Datatype::Number => "number",
        Datatype::Datetime => "datetime",
        Datatype::Text => "text",
        Datatype::SingleValueList => "singlevaluelist",
        Datatype::MultiValueList => "multivaluelist",
    }
}

/// `+07:00` for 420 minutes.
/// `GET dictionary.json`.
pub async fn dictionary(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let fmt = Format::Json;
    let result = async {
        let q = query(&req)?;
        let j = app::jurisdiction_catalog(&state, q.get("jurisdiction_id")).await?;
        let base = format!("{}/open311/v2", state.public_url);
        let fields: Vec<Value> = FIELDS
            .iter()
            .map(|f| {
                json!({
                    "name": f.name,
                    "type": f.kind,
                    "unit": f.unit,
                    "description": f.meaning,
                    "privacy": (!f.privacy.is_empty()).then_some(f.privacy),
                    "in": match f.name {
                        "lat" | "long" => json!(["json", "xml", "csv", "geojson geometry"]),
                        _ => json!(["json", "xml", "csv", "geojson properties"]),
                    },
                })
            })
            .chain(OPEN_DATA_FIELDS.iter().map(|f| {
                json!({
                    "name": f.name,
                    "type": f.kind,
                    "unit": f.unit,
                    "description": f.meaning,
                    "privacy": Value::Null,
                    "in": ["csv", "geojson properties", "json and xml extended_attributes (extensions=true)"],
                })
            }))
            .collect();
        let services: Vec<Value> = j
            .listed
            .iter()
            .map(|(s, _)| {
                let defs = j
                    .active_service(&s.code)
                    .map_or(&[][..], |c| &c.attributes[..]);
                json!({
                    "service_code": s.code,
                    "service_name": s.name,
                    "public_precision_m": s.public_precision_m,
                    "reviewed_before_publication": s.moderation == Moderation::Pre
                        || s.service_type == crate::domain::ServiceType::Batch,
                    "attributes": defs.iter().filter(|d| d.variable).map(|d| json!({
                        "code": d.code,
                        "csv_column": format!("attribute[{}]", d.code),
                        "label": d.label,
                        "description": d.description,
                        "datatype": datatype(d.datatype),
                        "unit": d.unit,
                        "min": d.min,
                        "max": d.max,
                        "values": d.values.iter().map(|v| json!({"key": v.key, "name": v.name})).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let doc = json!({
            "jurisdiction_id": j.jurisdiction.id,
            "license": j.jurisdiction.data_license,
            "formats": {
                "json": format!("{base}/requests.json"),
                "xml": format!("{base}/requests.xml"),
                "geojson": format!("{base}/requests.geojson"),
                "csv": format!("{base}/requests.csv"),
            },
            "datetimes": format!(
                "W3C datetimes (ISO 8601) to the second, in the jurisdiction's time ({})",
                j.jurisdiction.zone.describe()
            ),
            "fields": fields,
            "extensions": EXTENSIONS.iter().map(|(name, kind, meaning)| json!({
                "name": name, "type": kind, "description": meaning,
            })).collect::<Vec<_>>(),
            "csv": "RFC 4180, UTF-8, one header row with the fields above in this order; with exactly one \
                    service_code, one more column per attribute of that service (csv_column), several \
                    answers joined by ';'. A cell of free text that begins with = + - @ is written with a \
                    leading apostrophe, so that a spreadsheet does not run it.",
            "geojson": "RFC 7946 FeatureCollection; one Feature per report, id = service_request_id, \
                        geometry a Point [long, lat] or null for a report located only by address.",
            "services": services,
            "withheld": WITHHELD.iter().map(|(name, why)| json!({"name": name, "why": why})).collect::<Vec<_>>(),
        });
        Ok::<_, crate::error::ApiError>((doc, j.changeset.map(|t| t.and_utc())))
    }
    .await;
    match result {
        Ok((doc, at)) => super::format::Answer::new(
            "application/json; charset=utf-8",
            serde_json::to_vec(&doc).unwrap_or_default().into(),
            at,
        )
        .respond(),
        Err(e) => fmt.error(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::FIELDS;

    /// The JSON writer puts out exactly the dictionary's fields, in its order (the CSV and GeoJSON writers
    /// are made from `FIELDS` itself).
    #[test]
    fn the_json_and_xml_writers_follow_the_dictionary() {
        let written = crate::http::wire::field_names_of_a_report();
        let names: Vec<&str> = FIELDS.iter().map(|f| f.name).collect();
        assert_eq!(written, names);
    }
}
