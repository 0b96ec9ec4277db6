//! Documents spelled exactly as Open311 spells them, built as `Node` trees (one tree, both formats).
//! Public documents are built only from public types: there is no path from a contact field to here.

use super::render::{Document, Encoder, Node};
use crate::app::{Discovery, PublicRequest, Submitted, TokenLookup};
use crate::domain::{format_w3c, AttributeDef, Service, ServiceType};

pub const SPECIFICATION: &str = "http://wiki.open311.org/GeoReport_v2";

pub fn discovery(d: &Discovery) -> Node {
    let changeset = format_w3c(d.changeset, d.jurisdiction.zone);
    Node::Object(vec![
        ("changeset", Node::text(&changeset)),
        ("contact", Node::text(&d.jurisdiction.contact)),
        ("key_service", Node::text(&d.jurisdiction.key_service)),
        (
            "endpoints",
            Node::List(
                "endpoint",
                vec![Node::Object(vec![
                    ("specification", Node::text(SPECIFICATION)),
                    ("url", Node::text(&d.endpoint_url)),
                    ("changeset", Node::text(changeset)),
                    ("type", Node::text(&d.jurisdiction.endpoint_type)),
                    (
                        "formats",
                        Node::List(
                            "format",
                            vec![Node::text("text/xml"), Node::text("application/json")],
                        ),
                    ),
                ])],
            ),
        ),
        // Not in the spec: the open data's licence and the data dictionary of its formats.
        ("license", Node::text(&d.jurisdiction.data_license)),
        (
            "data_dictionary",
            Node::text(format!("{}/dictionary.json", d.endpoint_url)),
        ),
    ])
}

pub fn services(list: &[(Service, bool)]) -> Node {
    Node::List(
        "service",
        list.iter()
            .map(|(s, metadata)| {
                Node::Object(vec![
                    ("service_code", Node::text(&s.code)),
                    ("service_name", Node::text(&s.name)),
                    ("description", Node::opt_text(s.description.clone())),
                    ("metadata", Node::Bool(*metadata)),
                    ("type", Node::text(s.service_type.as_str())),
                    ("keywords", Node::opt_text(s.keywords.clone())),
                    ("group", Node::opt_text(s.group.clone())),
                ])
            })
            .collect(),
    )
}

pub fn service_definition(service: &Service, attributes: &[AttributeDef]) -> Node {
    Node::Object(vec![
        ("service_code", Node::text(&service.code)),
        (
            "attributes",
            Node::List(
                "attribute",
                attributes
                    .iter()
                    .map(|a| {
                        let mut members = vec![
                            ("variable", Node::Bool(a.variable)),
                            ("code", Node::text(&a.code)),
                            ("datatype", Node::text(a.datatype.as_str())),
                            ("required", Node::Bool(a.required)),
                            (
                                "datatype_description",
                                Node::opt_text(a.datatype_description.clone()),
                            ),
                            ("order", Node::Integer(i64::from(a.order))),
                            ("description", Node::text(&a.description)),
                        ];
                        if a.datatype.is_list() {
                            members.push((
                                "values",
                                Node::List(
                                    "value",
                                    a.values
                                        .iter()
                                        .map(|v| {
                                            Node::Object(vec![
                                                ("key", Node::text(&v.key)),
                                                ("name", Node::text(&v.name)),
                                            ])
                                        })
                                        .collect(),
                                ),
                            ));
                        }
                        Node::Object(members)
                    })
                    .collect(),
            ),
        ),
    ])
}

/// The POST answer (§3.4): the id for realtime services, a token for batch ones, neither for blackbox.
/// `account_id` is always null: civic311 creates no accounts.
pub fn post_ack(s: &Submitted) -> Node {
    let mut members = Vec::new();
    match s.service_type {
        ServiceType::Realtime => members.push(("service_request_id", Node::text(s.id.to_string()))),
        ServiceType::Batch => members.push(("token", Node::opt_text(s.token.clone()))),
        ServiceType::Blackbox => {}
    }
    members.push(("service_notice", Node::opt_text(s.service_notice.clone())));
    members.push(("account_id", Node::Null));
    // An extension: the short code the reporter can read out or text to ask about the report.
    members.push(("reference_code", Node::text(&s.reference_code)));
    Node::List("request", vec![Node::Object(members)])
}

pub fn token(t: &TokenLookup) -> Node {
    Node::List(
        "request",
        vec![Node::Object(vec![
            (
                "service_request_id",
                Node::opt_text(t.service_request_id.map(|id| id.to_string())),
            ),
            ("token", Node::text(&t.token)),
        ])],
    )
}

/// A list of reports (§3.9, §3.10), written straight from the projection: a page of a thousand reports is
/// several megabytes as a tree, and would be made for each client at once.
pub struct Requests {
    pub list: Vec<PublicRequest>,
    pub zone: crate::domain::Zone,
    pub extensions: bool,
    /// `Last-Modified` (`app::Page::changed`).
    pub changed: chrono::DateTime<chrono::Utc>,
    /// A large page's turn, given back when the answer has been written (`app::Page::turn`).
    pub _turn: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Document for Requests {
    fn encode<E: Encoder>(&self, key: &str, e: &mut E) {
        e.begin_list(key);
        for r in &self.list {
            request(e, r, self.zone, self.extensions);
        }
        e.end_list(key);
    }

    fn size_hint(&self) -> usize {
        // ~520 bytes a report in JSON, twice that with the extensions.
        64 + self.list.len() * if self.extensions { 1100 } else { 560 }
    }

    fn last_modified(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        Some(self.changed)
    }
}

/// A sync page: reports as in a list, and each report that left the public list as a `request` with its id,
/// its `updated_datetime` and `withdrawn: true` (a copy drops it).
pub struct Sync {
    pub page: crate::app::SyncPage,
    pub extensions: bool,
}

impl Document for Sync {
    fn encode<E: Encoder>(&self, key: &str, e: &mut E) {
        use crate::app::SyncItem;
        let off = self.page.zone;
        e.begin_list(key);
        for item in &self.page.items {
            match item {
                SyncItem::Report(r) => request(e, r, off, self.extensions),
                SyncItem::Withdrawn { id, updated } => {
                    e.begin_object("request");
                    e.text("service_request_id", itoa::Buffer::new().format(*id));
                    e.text("updated_datetime", &format_w3c(*updated, off));
                    e.bool("withdrawn", true);
                    e.end_object("request");
                }
            }
        }
        e.end_list(key);
    }

    fn size_hint(&self) -> usize {
        64 + self.page.items.len() * if self.extensions { 1100 } else { 560 }
    }

    /// A page of the feed grows as changes settle, with no change newer than what it shows: now.
    fn last_modified(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        Some(chrono::Utc::now())
    }
}

/// Every field of §3.10, always present (D13), in the documented order; with `extensions` the additions of §4.2.
fn request<E: Encoder>(e: &mut E, r: &PublicRequest, off: crate::domain::Zone, extensions: bool) {
    e.begin_object("request");
    e.text("service_request_id", itoa::Buffer::new().format(r.id));
    e.text("status", &r.status);
    e.opt_text("status_notes", r.status_notes.as_deref());
    e.text("service_name", &r.service_name);
    e.text("service_code", &r.service_code);
    e.opt_text("description", r.description.as_deref());
    e.opt_text("agency_responsible", r.agency_responsible.as_deref());
    e.opt_text("service_notice", r.service_notice.as_deref());
    let requested = format_w3c(r.requested, off);
    e.text("requested_datetime", &requested);
    e.text("updated_datetime", &format_w3c(r.updated, off));
    e.opt_text(
        "expected_datetime",
        r.expected.map(|t| format_w3c(t, off)).as_deref(),
    );
    e.opt_text("address", r.address.as_deref());
    e.opt_text("address_id", r.address_id.as_deref());
    e.opt_text("zipcode", r.zipcode.as_deref());
    e.opt_number("lat", r.lat);
    e.opt_number("long", r.long);
    e.opt_text("media_url", r.media_urls.first().map(String::as_str));
    if extensions {
        e.begin_list("attributes");
        for a in &r.attributes {
            e.begin_object("attribute");
            e.text("code", &a.code);
            e.text("name", &a.name);
            if a.multi {
                e.begin_list("value");
                for v in &a.values {
                    e.text("value", v);
                }
                e.end_list("value");
            } else {
                e.opt_text("value", a.values.first().map(String::as_str));
            }
            e.end_object("attribute");
        }
        e.end_list("attributes");

        e.begin_object("extended_attributes");
        e.opt_text("channel", r.channel.as_deref());
        e.text("reference_code", &crate::domain::refcode::encode(r.id));
        e.bool("duplicate", r.duplicate_of.is_some());
        match r.duplicate_of {
            Some(master) => e.text(
                "parent_service_request_id",
                itoa::Buffer::new().format(master),
            ),
            None => e.null("parent_service_request_id"),
        }
        e.null("title");
        e.text("detailed_status", &r.detailed_status);
        e.begin_list("media_urls");
        for url in &r.media_urls {
            e.text("media_url", url);
        }
        e.end_list("media_urls");
        e.end_object("extended_attributes");

        // In time order, "opened" among them: a back-office update may carry a time before the report's.
        e.begin_list("notes");
        let mut opened = false;
        for n in &r.notes {
            if !opened && n.datetime >= r.requested {
                note(e, &requested, "opened", &r.opened, None);
                opened = true;
            }
            let at = format_w3c(n.datetime, off);
            note(e, &at, &n.kind, &n.summary, n.description.as_deref());
        }
        if !opened {
            note(e, &requested, "opened", &r.opened, None);
        }
        e.end_list("notes");
    }
    e.end_object("request");
}

fn note<E: Encoder>(e: &mut E, at: &str, kind: &str, summary: &str, description: Option<&str>) {
    e.begin_object("note");
    e.text("datetime", at);
    e.text("type", kind);
    e.text("summary", summary);
    e.opt_text("description", description);
    e.end_object("note");
}

/// The answer to a posted update: the server's id for it (§4.6).
pub fn update_ack(id: &str) -> Node {
    Node::List(
        "request_update",
        vec![Node::Object(vec![
            ("update_id", Node::text(id)),
            ("account_id", Node::Null),
        ])],
    )
}

/// The updates feed: every field FixMyStreet reads; `status` in FixMyStreet's vocabulary (`domain::fms`), the
/// city's own code in `external_status_code`.
pub fn updates(rows: &[crate::app::updates::PublicUpdate], off: crate::domain::Zone) -> Node {
    Node::List(
        "request_update",
        rows.iter()
            .map(|e| {
                Node::Object(vec![
                    ("update_id", Node::text(&e.id)),
                    ("service_request_id", Node::text(e.request_id.to_string())),
                    ("status", Node::text(&e.fms_status)),
                    (
                        "updated_datetime",
                        Node::text(format_w3c(e.at.and_utc(), off)),
                    ),
                    (
                        "description",
                        Node::text(e.text.clone().unwrap_or_default()),
                    ),
                    ("media_url", Node::text("")),
                    ("external_status_code", Node::text(&e.status)),
                ])
            })
            .collect(),
    )
}

/// The names of a report's fields as `request` writes them without extensions, in order (the dictionary's
/// test compares them with `dictionary::FIELDS`).
#[cfg(test)]
pub fn field_names_of_a_report() -> Vec<String> {
    let now = chrono::Utc::now();
    let r = PublicRequest {
        id: 1,
        status: "open".into(),
        detailed_status: "open".into(),
        status_notes: Some("n".into()),
        service_name: "s".into(),
        service_code: "S".into(),
        description: Some("d".into()),
        agency_responsible: Some("a".into()),
        service_notice: Some("n".into()),
        requested: now,
        updated: now,
        expected: Some(now),
        address: Some("a".into()),
        address_id: Some("a".into()),
        zipcode: Some("z".into()),
        lat: Some(1.0),
        long: Some(2.0),
        media_urls: vec!["m".into()],
        channel: None,
        duplicate_of: None,
        notes: Vec::new(),
        opened: "Request opened".into(),
        attributes: Vec::new(),
    };
    let doc = Requests {
        list: vec![r],
        zone: crate::domain::Zone::Fixed(0),
        extensions: false,
        changed: now,
        _turn: None,
    };
    let json: serde_json::Value =
        serde_json::from_slice(&super::render::json(&doc)).unwrap_or_default();
    json[0]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}
