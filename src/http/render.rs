//! One document tree, two encoders. Every response is built once as a `Node` and written as JSON or XML by
//! the Spark convention (spec §2.7): the XML root is dropped in JSON, list containers become arrays even with
//! zero or one member, optional values are `null` in JSON and empty elements in XML.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Text(String),
    Number(f64),
    Integer(i64),
    Bool(bool),
    /// A list container: XML writes each member as `<item>`.
    List(&'static str, Vec<Node>),
    /// An object with its members in output order.
    Object(Vec<(&'static str, Node)>),
}

impl Node {
    pub fn text(s: impl Into<String>) -> Node {
        Node::Text(s.into())
    }

    pub fn opt_text<S: Into<String>>(s: Option<S>) -> Node {
        s.map_or(Node::Null, |s| Node::Text(s.into()))
    }

    pub fn opt_number(n: Option<f64>) -> Node {
        n.map_or(Node::Null, Node::Number)
    }

    /// The tree as a JSON value (tests; answers are written straight from the tree by `write_json`).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The JSON document, written straight from the tree without an intermediate value.
    pub fn write_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        // Writing into memory cannot fail and every member of the tree serialises.
        let _ = serde_json::to_writer(&mut out, self);
        out
    }

    /// The XML document with `root` as its root element, declaration included.
    pub fn to_xml(&self, root: &str) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
        write_element(&mut out, root, self);
        out.push('\n');
        out
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Null => s.serialize_unit(),
            Node::Text(t) => s.serialize_str(t),
            // Non-finite numbers have no JSON form; they are null, as serde_json's own values make them.
            Node::Number(n) if n.is_finite() => s.serialize_f64(*n),
            Node::Number(_) => s.serialize_unit(),
            Node::Integer(i) => s.serialize_i64(*i),
            Node::Bool(b) => s.serialize_bool(*b),
            Node::List(_, items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for i in items {
                    seq.serialize_element(i)?;
                }
                seq.end()
            }
            Node::Object(members) => {
                let mut map = s.serialize_map(Some(members.len()))?;
                for (k, v) in members {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

fn write_element(out: &mut String, name: &str, node: &Node) {
    match node {
        Node::Null => {
            out.push('<');
            out.push_str(name);
            out.push_str("/>");
        }
        _ => {
            out.push('<');
            out.push_str(name);
            out.push('>');
            write_content(out, node);
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
    }
}

fn write_content(out: &mut String, node: &Node) {
    match node {
        Node::Null => {}
        Node::Text(s) => escape_into(out, s),
        Node::Number(n) => write_number(out, *n),
        Node::Integer(i) => {
            use std::fmt::Write;
            let _ = write!(out, "{i}");
        }
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Node::List(item, items) => {
            for i in items {
                write_element(out, item, i);
            }
        }
        Node::Object(members) => {
            for (k, v) in members {
                write_element(out, k, v);
            }
        }
    }
}

/// Numbers as JSON writes them, so both formats agree (no exponent for ordinary coordinates).
fn write_number(out: &mut String, n: f64) {
    if n.is_finite() {
        use std::fmt::Write;
        let _ = write!(out, "{n}");
    }
}

/// Escapes text for XML 1.0. Characters XML forbids even as references (C0 controls other than tab and line
/// breaks, U+FFFE, U+FFFF) become U+FFFD so that a stray control character from a phone keyboard can never
/// make the document unreadable.
pub fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(text: &str) -> Node {
        Node::List(
            "request",
            vec![Node::Object(vec![
                ("service_request_id", Node::text("1")),
                ("description", Node::text(text)),
                ("lat", Node::Number(-6.2088)),
                ("media_url", Node::Null),
            ])],
        )
    }

    #[test]
    fn lists_stay_arrays_and_nulls_stay_keys() {
        let json = sample("x").to_json();
        assert!(json.is_array());
        assert_eq!(json[0]["media_url"], Value::Null);
        assert_eq!(json[0]["lat"], serde_json::json!(-6.2088));
    }

    #[test]
    fn xml_escapes_and_replaces_control_characters() {
        let xml = sample("a<b & \"c\"\u{1}\u{0}d\r\n").to_xml("service_requests");
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let desc = doc
            .descendants()
            .find(|n| n.has_tag_name("description"))
            .unwrap();
        assert_eq!(desc.text().unwrap(), "a<b & \"c\"\u{FFFD}\u{FFFD}d\r\n");
        assert!(doc
            .descendants()
            .any(|n| n.has_tag_name("media_url") && n.text().is_none()));
    }

    proptest! {
        #[test]
        fn any_text_makes_well_formed_xml_that_round_trips(s in any::<String>()) {
            let xml = sample(&s).to_xml("service_requests");
            let doc = roxmltree::Document::parse(&xml).map_err(|e| TestCaseError::fail(format!("{e}: {xml:?}")))?;
            let desc = doc.descendants().find(|n| n.has_tag_name("description")).unwrap();
            let expected: String = s.chars().map(|c| {
                if ((c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{FFFE}' || c == '\u{FFFF}' { '\u{FFFD}' } else { c }
            }).collect();
            prop_assert_eq!(desc.text().unwrap_or(""), expected.as_str());
        }
    }
}
