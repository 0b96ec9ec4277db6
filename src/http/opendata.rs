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
fn values(r: &PublicRequest, off: crate::domain::Zone) -> [Option<Value>; 17] {
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

fn feature(r: &PublicRequest, off: crate::domain::Zone, with_extensions: bool) -> Value {
    let mut properties = Map::new();
    for (name, value) in FIELDS.iter().zip(values(r, off)) {
        // The point is the geometry's; properties keep every other field, null when absent.
        if *name != "lat" && *name != "long" {
            properties.insert((*name).to_string(), value.unwrap_or(Value::Null));
        }
    }
    properties.insert(
        "channel".into(),
        r.channel.clone().map_or(Value::Null, Value::String),
    );
    properties.insert(
        "reference_code".into(),
        Value::String(crate::domain::refcode::encode(r.id)),
    );
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

/// A spreadsheet runs a cell that begins with one of these as a formula: free text from the public is
/// written with a leading apostrophe instead (OWASP's advice for CSV injection).
fn defused(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

/// One of the bulk formats, written in three parts: a head, reports a page at a time, a tail. A page of the
/// list and a streamed export are written by the same code.
pub enum Bulk {
    GeoJson {
        extensions: bool,
    },
    /// With the attribute columns of the one service asked for, if any.
    Csv {
        codes: Vec<String>,
    },
}

impl Bulk {
    pub fn content_type(&self) -> &'static str {
        match self {
            Bulk::GeoJson { .. } => "application/geo+json",
            Bulk::Csv { .. } => "text/csv; charset=utf-8; header=present",
        }
    }

    pub fn head(&self) -> Vec<u8> {
        match self {
            Bulk::GeoJson { .. } => br#"{"type":"FeatureCollection","features":["#.to_vec(),
            Bulk::Csv { codes } => {
                let header = FIELDS
                    .iter()
                    .map(|f| f.to_string())
                    .chain(
                        super::dictionary::OPEN_DATA_FIELDS
                            .iter()
                            .map(|f| f.name.to_string()),
                    )
                    .chain(codes.iter().map(|c| format!("attribute[{c}]")));
                csv_record(header)
            }
        }
    }

    /// Reports, `first` when none has been written before them.
    pub fn reports(
        &self,
        list: &[PublicRequest],
        off: crate::domain::Zone,
        first: bool,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(list.len() * 600);
        match self {
            Bulk::GeoJson { extensions } => {
                for (i, r) in list.iter().enumerate() {
                    if !(first && i == 0) {
                        out.push(b',');
                    }
                    // A `Value` of plain strings and numbers always serialises.
                    let _ = serde_json::to_writer(&mut out, &feature(r, off, *extensions));
                }
            }
            Bulk::Csv { codes } => {
                for r in list {
                    out.extend(csv_record(csv_row(r, off, codes)));
                }
            }
        }
        out
    }

    pub fn tail(&self) -> Vec<u8> {
        match self {
            Bulk::GeoJson { .. } => b"]}".to_vec(),
            Bulk::Csv { .. } => Vec::new(),
        }
    }

    /// The format of a bulk route's request: its extensions, or the attribute columns of the one service it
    /// names (an unknown service matches no report: no attribute columns).
    async fn of(
        path: &str,
        state: &AppState,
        q: &super::params::Params,
        list: &app::ListQuery,
    ) -> Result<Bulk, ApiError> {
        if path.ends_with(".geojson") {
            return Ok(Bulk::GeoJson {
                extensions: extensions(q),
            });
        }
        let codes = match list.service_codes.as_deref() {
            Some([only]) => {
                match app::service_definition(
                    state,
                    list.jurisdiction_id.as_deref(),
                    only,
                    list.locale.as_deref(),
                )
                .await
                {
                    Ok((_, defs)) => defs
                        .into_iter()
                        .filter(|d| d.variable)
                        .map(|d| d.code)
                        .collect(),
                    Err(ApiError::NotFound(_)) => Vec::new(),
                    Err(e) => return Err(e),
                }
            }
            _ => Vec::new(),
        };
        Ok(Bulk::Csv { codes })
    }
}

/// One CSV record, RFC 4180 (quoted where needed, CRLF-free `\n` line ends as the csv crate writes them).
fn csv_record<I, T>(fields: I) -> Vec<u8>
where
    I: IntoIterator<Item = T>,
    T: AsRef<[u8]>,
{
    let mut w = csv::Writer::from_writer(Vec::with_capacity(256));
    // Writing to memory cannot fail.
    let _ = w.write_record(fields);
    w.into_inner().unwrap_or_default()
}

/// A report's CSV cells: the fields, then its answers to `codes` (several values joined by `;`).
fn csv_row(r: &PublicRequest, off: crate::domain::Zone, codes: &[String]) -> Vec<String> {
    let mut row: Vec<String> = values(r, off)
        .into_iter()
        .zip(FIELDS)
        .map(|(v, name)| match v {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) if name == "service_request_id" => s,
            Some(Value::String(s)) => defused(&s).into_owned(),
            Some(other) => other.to_string(),
        })
        .collect();
    row.push(
        r.channel
            .as_deref()
            .map_or_else(String::new, |c| defused(c).into_owned()),
    );
    row.push(crate::domain::refcode::encode(r.id));
    for code in codes {
        let answer = r.attributes.iter().find(|a| &a.code == code);
        row.push(answer.map_or_else(String::new, |a| defused(&a.values.join(";")).into_owned()));
    }
    row
}

/// `GET requests.geojson` and `GET requests.csv`: one page of the list (`application/geo+json`, an RFC 7946
/// FeatureCollection; `text/csv`, one header row, one row per report, with exactly one `service_code` each of
/// its published attributes as a column `attribute[CODE]`). With `all=true`, every matching report, streamed.
pub async fn requests_bulk(req: HttpRequest, state: State) -> HttpResponse {
    let result = async {
        let q = query(&req)?;
        if q.get("cursor").is_some() {
            return Err(ApiError::invalid(
                "cursor",
                "the change feed (cursor) is served as requests.json and requests.xml",
            ));
        }
        let mut list = list_query(&q);
        let bulk = Bulk::of(req.path(), &state, &q, &list).await?;
        if q.get("all").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            list.all = true;
            let export = app::export(&state, list).await?;
            return Ok(Err((bulk, export)));
        }
        let page = app::list_requests(&state, list).await?;
        let mut body = bulk.head();
        body.extend(bulk.reports(&page.list, page.zone, true));
        body.extend(bulk.tail());
        Ok(Ok(Answer::new(
            bulk.content_type(),
            body.into(),
            Some(page.changed),
        )))
    }
    .await;
    match result {
        Ok(Ok(answer)) => answer.respond(),
        Ok(Err((bulk, export))) => HttpResponse::Ok()
            .content_type(bulk.content_type())
            // A stream has no validators (its bytes are not known before they are sent): copies are kept
            // with the change feed instead.
            .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
            .streaming(stream(bulk, export)),
        Err(e) => Format::Json.error(&e),
    }
}

/// The bytes of a whole export as a stream: a task reads and writes a page at a time and hands the bytes
/// over through a channel of two, so a slow reader holds the task back instead of the memory growing.
pub fn stream(
    bulk: Bulk,
    mut export: app::Export,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(2);
    tokio::spawn(async move {
        if tx.send(Ok(bulk.head().into())).await.is_err() {
            return;
        }
        let mut first = true;
        loop {
            match export.next_page().await {
                Ok(Some(page)) => {
                    let chunk = bulk.reports(&page, export.zone, first);
                    first = false;
                    if tx.send(Ok(chunk.into())).await.is_err() {
                        return; // the client went away
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    // The 200 is sent: the only way left to say so is to end the body short.
                    tracing::error!(error = %e, "an export failed part-way");
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            }
        }
        let _ = tx.send(Ok(bulk.tail().into())).await;
    });
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
