//! The report list as open data: `requests.geojson` (an RFC 7946 FeatureCollection) and `requests.csv`
//! (RFC 4180). Same filters, paging and privacy as `requests.json`: both are written from the same public
//! projection, so a coarsened point or a held report is what it is in every format. Errors answer in JSON.

use super::format::Answer;
use super::handlers::{extensions, list_query, query};
use super::Format;
use crate::app::{self, AppState, PublicRequest};
use crate::domain::format_w3c;
use crate::error::ApiError;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{Map, Value};

type State = web::Data<AppState>;

/// The GeoReport fields of a report, in the order of §3.10, as both formats name them (the data
/// dictionary's fields, so that the dictionary is what is written).
const FIELDS: [&str; 17] = {
    let mut names = [""; 17];
    let mut i = 0;
    while i < 17 {
        names[i] = super::dictionary::FIELDS[i].name;
        i += 1;
    }
    names
};

/// A report's values for `FIELDS`, text as text and coordinates as numbers; absent values are `None`.
fn values(r: &PublicRequest, off: i32) -> [Option<Value>; 17] {
    let text = |v: Option<&str>| v.map(|s| Value::String(s.to_string()));
    let time =
        |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| Value::String(format_w3c(t, off)));
    let number = |v: Option<f64>| v.and_then(serde_json::Number::from_f64).map(Value::Number);
    [
        Some(Value::String(r.id.to_string())),
        text(Some(&r.status)),
        text(r.status_notes.as_deref()),
        text(Some(&r.service_name)),
        text(Some(&r.service_code)),
        text(r.description.as_deref()),
        text(r.agency_responsible.as_deref()),
        text(r.service_notice.as_deref()),
        time(Some(r.requested)),
        time(Some(r.updated)),
        time(r.expected),
        text(r.address.as_deref()),
        text(r.address_id.as_deref()),
        text(r.zipcode.as_deref()),
        number(r.lat),
        number(r.long),
        text(r.media_urls.first().map(String::as_str)),
    ]
}

fn feature(r: &PublicRequest, off: i32, with_extensions: bool) -> Value {
    let mut properties = Map::new();
    for (name, value) in FIELDS.iter().zip(values(r, off)) {
        // The point is the geometry's; properties keep every other field, null when absent.
        if *name != "lat" && *name != "long" {
            properties.insert((*name).to_string(), value.unwrap_or(Value::Null));
        }
    }
    if with_extensions {
        properties.insert(
            "detailed_status".into(),
            Value::String(r.detailed_status.clone()),
        );
        let attributes: Map<String, Value> = r
            .attributes
            .iter()
            .map(|a| {
                let v = if a.multi {
                    Value::Array(a.values.iter().cloned().map(Value::String).collect())
                } else {
                    a.values.first().cloned().map_or(Value::Null, Value::String)
                };
                (a.code.clone(), v)
            })
            .collect();
        properties.insert("attributes".into(), Value::Object(attributes));
    }
    // RFC 7946 §3.1.1: longitude first. A report located only by its address has no geometry (§3.2: null).
    let geometry = match (r.long, r.lat) {
        (Some(long), Some(lat)) => serde_json::json!({"type": "Point", "coordinates": [long, lat]}),
        _ => Value::Null,
    };
    serde_json::json!({
        "type": "Feature",
        "id": r.id.to_string(),
        "geometry": geometry,
        "properties": properties,
    })
}

/// The latest change among the reports of a page, for `Last-Modified`.
fn latest(list: &[PublicRequest]) -> Option<chrono::DateTime<chrono::Utc>> {
    list.iter().map(|r| r.updated).max()
}

/// `GET requests.geojson`: one page of the list as a FeatureCollection (`application/geo+json`).
pub async fn requests_geojson(req: HttpRequest, state: State) -> HttpResponse {
    let result = async {
        let q = query(&req)?;
        let with_extensions = extensions(&q);
        let page = app::list_requests(&state, list_query(&q)).await?;
        let features: Vec<Value> = page
            .list
            .iter()
            .map(|r| feature(r, page.offset_minutes, with_extensions))
            .collect();
        let doc = serde_json::json!({"type": "FeatureCollection", "features": features});
        let body = serde_json::to_vec(&doc).map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
        Ok((body, latest(&page.list)))
    }
    .await;
    match result {
        Ok((body, at)) => Answer::new("application/geo+json", body.into(), at).respond(),
        Err(e) => Format::Json.error(&e),
    }
}

/// A spreadsheet runs a cell that begins with one of these as a formula: free text from the public is
/// written with a leading apostrophe instead (OWASP's advice for CSV injection).
fn defused(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

/// `GET requests.csv`: one page of the list, one header row, one row per report (`text/csv`, UTF-8). With
/// exactly one `service_code`, each of its published attributes is a column `attribute[CODE]` (several
/// values of a multi-value answer joined by `;`).
pub async fn requests_csv(req: HttpRequest, state: State) -> HttpResponse {
    let result = async {
        let q = query(&req)?;
        let list = list_query(&q);
        let codes: Vec<String> = match list.service_codes.as_deref() {
            Some([only]) => {
                match app::service_definition(&state, list.jurisdiction_id.as_deref(), only).await {
                    Ok((_, defs)) => defs
                        .into_iter()
                        .filter(|d| d.variable)
                        .map(|d| d.code)
                        .collect(),
                    // An unknown service matches no report: a list without attribute columns.
                    Err(ApiError::NotFound(_)) => Vec::new(),
                    Err(e) => return Err(e),
                }
            }
            _ => Vec::new(),
        };
        let page = app::list_requests(&state, list).await?;
        let mut out = csv::Writer::from_writer(Vec::with_capacity(64 + page.list.len() * 400));
        let fail = |e: csv::Error| ApiError::Internal(anyhow::anyhow!(e));
        let header = FIELDS
            .iter()
            .map(|f| f.to_string())
            .chain(codes.iter().map(|c| format!("attribute[{c}]")));
        out.write_record(header).map_err(fail)?;
        for r in &page.list {
            let mut row: Vec<String> = values(r, page.offset_minutes)
                .into_iter()
                .zip(FIELDS)
                .map(|(v, name)| match v {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(s)) if name == "service_request_id" => s,
                    Some(Value::String(s)) => defused(&s).into_owned(),
                    Some(other) => other.to_string(),
                })
                .collect();
            for code in &codes {
                let answer = r.attributes.iter().find(|a| &a.code == code);
                row.push(
                    answer.map_or_else(String::new, |a| defused(&a.values.join(";")).into_owned()),
                );
            }
            out.write_record(&row).map_err(fail)?;
        }
        let body = out
            .into_inner()
            .map_err(|e| ApiError::Internal(anyhow::anyhow!(e.to_string())))?;
        Ok((body, latest(&page.list)))
    }
    .await;
    match result {
        Ok((body, at)) => {
            Answer::new("text/csv; charset=utf-8; header=present", body.into(), at).respond()
        }
        Err(e) => Format::Json.error(&e),
    }
}
