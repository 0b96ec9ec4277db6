//! The public projection of a request: what anyone may read without logging in. It is built from stored rows
//! field by field and has no place for personal data (email, phone, names, device or account ids), so none can
//! leak through it in any format.

use super::AppState;
use crate::domain::AttributeDef;
use crate::store::requests::{AttributeValueRow, MediaRow, PublicRow};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub struct PublicAttribute {
    pub code: String,
    pub name: String,
    pub values: Vec<String>,
    pub multi: bool,
}

#[derive(Debug, Clone)]
pub struct PublicNote {
    pub datetime: DateTime<Utc>,
    pub kind: String,
    pub summary: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone)]
pub struct PublicRequest {
    pub id: i64,
    pub status: String,
    pub detailed_status: String,
    pub status_notes: Option<String>,
    pub service_name: String,
    pub service_code: String,
    pub description: Option<String>,
    pub agency_responsible: Option<String>,
    pub service_notice: Option<String>,
    pub requested: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub expected: Option<DateTime<Utc>>,
    pub address: Option<String>,
    pub address_id: Option<String>,
    pub zipcode: Option<String>,
    pub lat: Option<f64>,
    pub long: Option<f64>,
    pub media_urls: Vec<String>,
    pub channel: Option<String>,
    /// The master report, when this one was closed as its duplicate.
    pub duplicate_of: Option<i64>,
    /// Public updates and status notes, oldest first (internal notes are never here).
    pub notes: Vec<PublicNote>,
    /// The summary of the note that opens the list, in the answer's language.
    pub opened: String,
    /// Answers to the attributes the service definition publishes. Unknown codes a client sent are kept for
    /// staff only: clients such as FixMyStreet put free text (and sometimes contact details) there.
    pub attributes: Vec<PublicAttribute>,
}

/// What the public may know of a report's service: its name, the attributes it publishes, and how precisely
/// its reports are located.
pub struct PublicService<'a> {
    pub name: String,
    pub defs: &'a [AttributeDef],
    /// Metres of the public grid; `None`: the exact point.
    pub precision_m: Option<f64>,
}

impl PublicRequest {
    pub fn build(
        state: &AppState,
        row: PublicRow,
        service: PublicService<'_>,
        answers: &[AttributeValueRow],
        media: &[MediaRow],
        events: &[crate::store::deliveries::EventRow],
        catalog: &super::JurisdictionCatalog,
    ) -> Self {
        let PublicService {
            name: service_name,
            defs,
            precision_m,
        } = service;
        // A coarsened point comes without the address and address id, which would give the exact place
        // back; the zipcode names an area and stays.
        // The stored public point is the one the spatial filters test, so it is the one shown; computed here
        // only for a row stored before it existed and not yet filled.
        // A stored point other than the exact one is coarse too, whatever this process's catalogue says: it
        // may not have seen yet the import (by another process) that gave the service its grid.
        let stored = row.public_lat.zip(row.public_long);
        let exact = row.lat.zip(row.long);
        let coarse = precision_m.is_some() || (stored.is_some() && stored != exact);
        let (lat, long, address, address_id) = match (coarse, exact) {
            (true, Some((lat, long))) => {
                let (lat, long) = stored.unwrap_or_else(|| {
                    crate::domain::coarsen(lat, long, precision_m.unwrap_or(0.0))
                });
                (Some(lat), Some(long), None, None)
            }
            (true, None) => (None, None, None, None),
            (false, _) => (row.lat, row.long, row.address, row.address_id),
        };
        let attributes = defs
            .iter()
            .filter(|d| d.variable)
            .filter_map(|d| {
                let values: Vec<String> = answers
                    .iter()
                    .filter(|a| a.code == d.code)
                    .map(|a| a.value.clone())
                    .collect();
                (!values.is_empty()).then(|| PublicAttribute {
                    code: d.code.clone(),
                    name: d.description.clone(),
                    values,
                    multi: d.datatype == crate::domain::Datatype::MultiValueList,
                })
            })
            .collect();
        let media_urls = media
            .iter()
            .filter_map(|m| match (&m.file_name, &m.external_url) {
                (Some(file), _) => Some(state.media_url(file)),
                (None, Some(url)) => Some(url.clone()),
                (None, None) => None,
            })
            .collect();
        Self {
            id: row.id,
            status: row.status,
            detailed_status: row.detailed_status,
            status_notes: row.status_notes,
            service_name,
            service_code: row.service_code,
            description: row.description,
            agency_responsible: row.agency_responsible,
            service_notice: row.service_notice,
            requested: row.requested_at.and_utc(),
            updated: row.updated_at.and_utc(),
            expected: row.expected_at.map(|t| t.and_utc()),
            address,
            address_id,
            zipcode: row.zipcode,
            lat,
            long,
            media_urls,
            channel: row.channel,
            duplicate_of: row.duplicate_of,
            notes: events
                .iter()
                .filter(|e| e.public)
                .map(|e| {
                    let changed = matches!(
                        e.action.as_str(),
                        "status" | "duplicate" | "back-office update"
                    );
                    PublicNote {
                        datetime: e.at.and_utc(),
                        kind: if changed {
                            "status".into()
                        } else {
                            "activity".into()
                        },
                        // In the answer's language, with the status as the city names it.
                        summary: match (&e.status, changed) {
                            (Some(s), true) => {
                                let name = catalog
                                    .status(s)
                                    .map_or_else(|| s.replace('_', " "), |c| c.name.clone());
                                catalog.words.fill("note.status", &[("status", &name)])
                            }
                            _ => catalog.words.get("note.update").to_string(),
                        },
                        description: e.detail.clone(),
                    }
                })
                .collect(),
            opened: catalog.words.get("note.opened").to_string(),
            attributes,
        }
        .notes_in_time_order()
    }
}

impl PublicRequest {
    /// Oldest first by their own time, whatever order they were written in: a back-office update may carry a
    /// time before the report's (a wrong clock).
    fn notes_in_time_order(mut self) -> Self {
        self.notes.sort_by_key(|n| n.datetime);
        self
    }
}
