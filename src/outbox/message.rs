//! The e-mail a department receives: everything a field crew needs, in plain text. Contact details appear only
//! when the service shares them with the department. Citizen text goes only into the body (lettre encodes
//! headers, so a line break in a subject cannot add a header).

use crate::domain::{format_w3c, AttributeDef, Datatype, Jurisdiction, Service};
use crate::store::deliveries::DeliveryRow;
use crate::store::requests::{AttributeValueRow, MediaRow, RequestRow};
use crate::store::routing::DepartmentRow;
use std::fmt::Write;

/// Everything the message is made of, loaded in one read.
pub struct Report {
    pub request: RequestRow,
    pub service: Service,
    pub attributes: Vec<AttributeDef>,
    pub answers: Vec<AttributeValueRow>,
    pub media: Vec<MediaRow>,
    pub jurisdiction: Jurisdiction,
    pub department: Option<DepartmentRow>,
    /// The server's words in the jurisdiction's language.
    pub words: crate::domain::i18n::Words,
}

pub struct Text {
    pub subject: String,
    pub body: String,
}

fn one_line(s: &str, max: usize) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let flat = flat.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > max {
        format!("{}…", flat.chars().take(max).collect::<String>())
    } else {
        flat
    }
}

/// How an answer reads: list keys become their names, numbers get their unit.
fn answer(def: Option<&AttributeDef>, values: &[&str]) -> String {
    match def {
        Some(d) if d.datatype.is_list() => values
            .iter()
            .map(|v| {
                d.values
                    .iter()
                    .find(|lv| lv.key == *v)
                    .map_or(v.to_string(), |lv| lv.name.clone())
            })
            .collect::<Vec<_>>()
            .join(", "),
        Some(d) if d.datatype == Datatype::Number => match &d.unit {
            Some(unit) => format!("{} {unit}", values.join(", ")),
            None => values.join(", "),
        },
        _ => values.join(", "),
    }
}

pub fn compose(
    r: &Report,
    delivery: &DeliveryRow,
    public_url: &str,
    media_url: impl Fn(&str) -> String,
) -> Text {
    let q = &r.request;
    let off = r.jurisdiction.zone;
    let w = &r.words;
    // The labels of the block of facts, padded to one column in whatever language they are in.
    let keys = [
        "mail.reference",
        "mail.service",
        "mail.reported",
        "mail.address",
        "mail.address_id",
        "mail.location",
        "mail.map",
    ];
    let width = keys
        .iter()
        .map(|k| w.get(k).chars().count() + 2)
        .max()
        .unwrap_or(12);
    let label = |key: &str| {
        let l = format!("{}:", w.get(key));
        format!("{l:<width$}")
    };
    let place = q
        .address
        .as_deref()
        .map(|a| one_line(a, 80))
        .or_else(|| {
            q.lat
                .zip(q.long)
                .map(|(lat, long)| format!("{lat:.5}, {long:.5}"))
        })
        .or_else(|| q.address_id.clone())
        .unwrap_or_else(|| w.get("mail.no_location").to_string());
    let subject = format!(
        "[{} #{}] {} — {}",
        r.jurisdiction.name, q.id, r.service.name, place
    );

    let mut b = String::new();
    let dept = r
        .department
        .as_ref()
        .map_or(delivery.department_code.clone(), |d| d.name.clone());
    let _ = writeln!(b, "{}", w.fill("mail.report_for", &[("department", &dept)]));
    if delivery.is_fallback {
        let _ = writeln!(b, "{}", w.get("mail.fallback"));
    }
    let _ = writeln!(b);
    let _ = writeln!(b, "{}{}", label("mail.reference"), q.id);
    let _ = writeln!(
        b,
        "{}{} ({})",
        label("mail.service"),
        r.service.name,
        r.service.code
    );
    let _ = writeln!(
        b,
        "{}{}",
        label("mail.reported"),
        format_w3c(q.requested_at.and_utc(), off)
    );
    if let Some(a) = &q.address {
        let _ = writeln!(b, "{}{}", label("mail.address"), one_line(a, 300));
    }
    if let Some(a) = &q.address_id {
        let _ = writeln!(b, "{}{}", label("mail.address_id"), one_line(a, 100));
    }
    if let (Some(lat), Some(long)) = (q.lat, q.long) {
        let _ = writeln!(b, "{}{lat:.6}, {long:.6}", label("mail.location"));
        let _ = writeln!(b, "{}https://www.openstreetmap.org/?mlat={lat:.6}&mlon={long:.6}#map=18/{lat:.6}/{long:.6}", label("mail.map"));
    }

    let mut codes: Vec<&str> = Vec::new();
    for a in &r.answers {
        if !codes.contains(&a.code.as_str()) {
            codes.push(&a.code);
        }
    }
    codes.sort_by_key(|c| {
        r.attributes
            .iter()
            .position(|d| d.code == *c)
            .unwrap_or(usize::MAX)
    });
    if !codes.is_empty() {
        let _ = writeln!(b, "\n{}", w.get("mail.details"));
        for code in codes {
            let def = r.attributes.iter().find(|d| d.code == code);
            let values: Vec<&str> = r
                .answers
                .iter()
                .filter(|a| a.code == code)
                .map(|a| a.value.as_str())
                .collect();
            let label = def.map_or(code.to_string(), |d| {
                d.label.clone().unwrap_or_else(|| d.description.clone())
            });
            let _ = writeln!(
                b,
                "  {}: {}",
                one_line(&label, 100),
                one_line(&answer(def, &values), 500)
            );
        }
    }
    if let Some(d) = &q.description {
        let _ = writeln!(b, "\n{}", w.get("mail.description"));
        for line in d.lines() {
            let _ = writeln!(
                b,
                "  {}",
                line.chars()
                    .filter(|c| !c.is_control() || *c == '\t')
                    .collect::<String>()
            );
        }
    }
    let photos: Vec<String> = r
        .media
        .iter()
        .filter_map(|m| {
            m.file_name
                .as_deref()
                .map(&media_url)
                .or_else(|| m.external_url.clone())
        })
        .collect();
    if !photos.is_empty() {
        let _ = writeln!(b, "\n{}", w.get("mail.photos"));
        for p in photos {
            let _ = writeln!(b, "  {p}");
        }
    }
    if r.service.share_contact {
        let name = [q.first_name.as_deref(), q.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let parts: Vec<String> = [
            Some(name).filter(|n| !n.is_empty()),
            q.email.clone(),
            q.phone.clone(),
        ]
        .into_iter()
        .flatten()
        .map(|p| one_line(&p, 200))
        .collect();
        if !parts.is_empty() {
            let _ = writeln!(b, "\n{}\n  {}", w.get("mail.reporter"), parts.join(", "));
        }
    }
    let _ = writeln!(
        b,
        "\n{}: {public_url}/open311/v2/requests/{}.json",
        w.get("mail.public_record"),
        q.id
    );
    if let Some(trace) = q
        .routing_trace
        .as_deref()
        .and_then(|t| serde_json::from_str::<crate::routing::RoutingTrace>(t).ok())
    {
        let _ = writeln!(b, "{}: {}", w.get("mail.routing"), trace.reason);
    }
    let _ = writeln!(
        b,
        "\n-- \n{}",
        w.fill("mail.footer", &[("message_id", &delivery.message_id)])
    );
    Text { subject, body: b }
}
