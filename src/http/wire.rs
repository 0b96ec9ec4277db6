//! Documents spelled exactly as Open311 spells them, built as `Node` trees (one tree, both formats).
//! Public documents are built only from public types: there is no path from a contact field to here.

use super::render::Node;
use crate::app::{Discovery, PublicRequest, Submitted, TokenLookup};
use crate::domain::{format_w3c, AttributeDef, Service, ServiceType};

pub const SPECIFICATION: &str = "http://wiki.open311.org/GeoReport_v2";

pub fn discovery(d: &Discovery) -> Node {
    let changeset = format_w3c(d.changeset, d.jurisdiction.utc_offset_minutes);
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

pub fn requests(list: &[PublicRequest], offset_minutes: i32, extensions: bool) -> Node {
    Node::List(
        "request",
        list.iter()
            .map(|r| request(r, offset_minutes, extensions))
            .collect(),
    )
}

/// Every field of §3.10, always present (D13), in the documented order; with `extensions` the additions of §4.2.
fn request(r: &PublicRequest, off: i32, extensions: bool) -> Node {
    let mut members = vec![
        ("service_request_id", Node::text(r.id.to_string())),
        ("status", Node::text(&r.status)),
        ("status_notes", Node::opt_text(r.status_notes.clone())),
        ("service_name", Node::text(&r.service_name)),
        ("service_code", Node::text(&r.service_code)),
        ("description", Node::opt_text(r.description.clone())),
        (
            "agency_responsible",
            Node::opt_text(r.agency_responsible.clone()),
        ),
        ("service_notice", Node::opt_text(r.service_notice.clone())),
        (
            "requested_datetime",
            Node::text(format_w3c(r.requested, off)),
        ),
        ("updated_datetime", Node::text(format_w3c(r.updated, off))),
        (
            "expected_datetime",
            Node::opt_text(r.expected.map(|t| format_w3c(t, off))),
        ),
        ("address", Node::opt_text(r.address.clone())),
        ("address_id", Node::opt_text(r.address_id.clone())),
        ("zipcode", Node::opt_text(r.zipcode.clone())),
        ("lat", Node::opt_number(r.lat)),
        ("long", Node::opt_number(r.long)),
        ("media_url", Node::opt_text(r.media_urls.first().cloned())),
    ];
    if extensions {
        members.push((
            "attributes",
            Node::List(
                "attribute",
                r.attributes
                    .iter()
                    .map(|a| {
                        let value = if a.multi {
                            Node::List("value", a.values.iter().map(Node::text).collect())
                        } else {
                            Node::opt_text(a.values.first().cloned())
                        };
                        Node::Object(vec![
                            ("code", Node::text(&a.code)),
                            ("name", Node::text(&a.name)),
                            ("value", value),
                        ])
                    })
                    .collect(),
            ),
        ));
        members.push((
            "extended_attributes",
            Node::Object(vec![
                ("channel", Node::opt_text(r.channel.clone())),
                ("duplicate", Node::Bool(r.duplicate_of.is_some())),
                (
                    "parent_service_request_id",
                    Node::opt_text(r.duplicate_of.map(|m| m.to_string())),
                ),
                ("title", Node::Null),
                ("detailed_status", Node::text(&r.detailed_status)),
                (
                    "media_urls",
                    Node::List("media_url", r.media_urls.iter().map(Node::text).collect()),
                ),
            ]),
        ));
        members.push((
            "notes",
            Node::List(
                "note",
                std::iter::once(Node::Object(vec![
                    ("datetime", Node::text(format_w3c(r.requested, off))),
                    ("type", Node::text("opened")),
                    ("summary", Node::text("Request opened")),
                    ("description", Node::Null),
                ]))
                .chain(r.notes.iter().map(|n| {
                    Node::Object(vec![
                        ("datetime", Node::text(format_w3c(n.datetime, off))),
                        ("type", Node::text(&n.kind)),
                        ("summary", Node::text(&n.summary)),
                        ("description", Node::opt_text(n.description.clone())),
                    ])
                }))
                .collect(),
            ),
        ));
    }
    Node::Object(members)
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

/// The updates feed: every field FixMyStreet reads, the status lowercase as its extended vocabulary.
pub fn updates(rows: &[crate::store::deliveries::EventRow], off: i32) -> Node {
    Node::List(
        "request_update",
        rows.iter()
            .map(|e| {
                Node::Object(vec![
                    ("update_id", Node::text(&e.id)),
                    ("service_request_id", Node::text(e.request_id.to_string())),
                    (
                        "status",
                        Node::text(e.status.clone().unwrap_or_else(|| "open".into())),
                    ),
                    (
                        "updated_datetime",
                        Node::text(format_w3c(e.at.and_utc(), off)),
                    ),
                    (
                        "description",
                        Node::text(e.detail.clone().unwrap_or_default()),
                    ),
                    ("media_url", Node::text("")),
                ])
            })
            .collect(),
    )
}
