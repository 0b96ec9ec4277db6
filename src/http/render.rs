//! One document, two encoders. Every response is written once, against `Encoder`, and comes out as JSON or XML
//! by the Spark convention (spec §2.7): the XML root is dropped in JSON, list containers become arrays even
//! with zero or one member, optional values are `null` in JSON and empty elements in XML. Small documents are
//! built as a `Node` tree; the report lists are written straight from their data (`wire::Requests`).

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
}

/// Writes a document in one format. Documents are written against this trait, once, so that JSON and XML
/// cannot drift apart: a member of an object or an item of a list is one call, its `key` being the member's
/// name (JSON key, XML element) or, in a list, the item's element name (XML only: JSON arrays have no keys).
/// The outermost call names the root, which XML writes as the root element and JSON drops (§2.7).
pub trait Encoder {
    fn begin_object(&mut self, key: &str);
    fn end_object(&mut self, key: &str);
    fn begin_list(&mut self, key: &str);
    fn end_list(&mut self, key: &str);
    fn text(&mut self, key: &str, value: &str);
    fn null(&mut self, key: &str);
    fn number(&mut self, key: &str, value: f64);
    fn integer(&mut self, key: &str, value: i64);
    fn bool(&mut self, key: &str, value: bool);

    fn opt_text(&mut self, key: &str, value: Option<&str>) {
        match value {
            Some(v) => self.text(key, v),
            None => self.null(key),
        }
    }

    fn opt_number(&mut self, key: &str, value: Option<f64>) {
        match value {
            Some(v) => self.number(key, v),
            None => self.null(key),
        }
    }
}

/// Something written through an `Encoder`: a `Node` tree, or a document written straight from its data (the
/// report lists, too large to copy into a tree first).
pub trait Document {
    fn encode<E: Encoder>(&self, key: &str, e: &mut E);

    /// About how many bytes the JSON document takes, so that its buffer is allocated once.
    fn size_hint(&self) -> usize {
        256
    }

    /// When what the document shows last changed, for `Last-Modified`; `None` when it has no such time.
    fn last_modified(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        None
    }
}

/// A document with the time it last changed.
pub struct Dated<D>(pub D, pub Option<chrono::DateTime<chrono::Utc>>);

impl<D: Document> Document for Dated<D> {
    fn encode<E: Encoder>(&self, key: &str, e: &mut E) {
        self.0.encode(key, e)
    }

    fn size_hint(&self) -> usize {
        self.0.size_hint()
    }

    fn last_modified(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.1
    }
}

/// The JSON encoder. Strings and numbers are written by serde_json, escaped and formatted as it does.
pub struct Json {
    out: Vec<u8>,
    /// Whether the next value needs a comma before it (a sibling has been written).
    comma: bool,
    /// One bit per open container, the innermost lowest: set for a list, whose members have no keys.
    lists: u64,
    depth: u32,
}

impl Json {
    pub fn new(capacity: usize) -> Self {
        Self {
            out: Vec::with_capacity(capacity),
            comma: false,
            lists: 0,
            depth: 0,
        }
    }

    pub fn finish(self) -> Vec<u8> {
        self.out
    }

    fn key(&mut self, key: &str) {
        if self.comma {
            self.out.push(b',');
        }
        if self.depth > 0 && self.lists & 1 == 0 {
            self.string(key);
            self.out.push(b':');
        }
    }

    fn string(&mut self, s: &str) {
        // Writing into memory cannot fail.
        let _ = serde_json::to_writer(&mut self.out, s);
    }

    fn open(&mut self, key: &str, list: bool) {
        self.key(key);
        self.out.push(if list { b'[' } else { b'{' });
        // Documents are a handful of levels deep; the bit stack holds 64.
        debug_assert!(self.depth < 64);
        self.lists = (self.lists << 1) | u64::from(list);
        self.depth += 1;
        self.comma = false;
    }

    fn close(&mut self, list: bool) {
        self.out.push(if list { b']' } else { b'}' });
        self.lists >>= 1;
        self.depth -= 1;
        self.comma = true;
    }
}

impl Encoder for Json {
    fn begin_object(&mut self, key: &str) {
        self.open(key, false);
    }
    fn end_object(&mut self, _key: &str) {
        self.close(false);
    }
    fn begin_list(&mut self, key: &str) {
        self.open(key, true);
    }
    fn end_list(&mut self, _key: &str) {
        self.close(true);
    }
    fn text(&mut self, key: &str, value: &str) {
        self.key(key);
        self.string(value);
        self.comma = true;
    }
    fn null(&mut self, key: &str) {
        self.key(key);
        self.out.extend_from_slice(b"null");
        self.comma = true;
    }
    fn number(&mut self, key: &str, value: f64) {
        self.key(key);
        // Non-finite numbers have no JSON form; serde_json writes them as null.
        let _ = serde_json::to_writer(&mut self.out, &value);
        self.comma = true;
    }
    fn integer(&mut self, key: &str, value: i64) {
        self.key(key);
        let _ = serde_json::to_writer(&mut self.out, &value);
        self.comma = true;
    }
    fn bool(&mut self, key: &str, value: bool) {
        self.key(key);
        self.out
            .extend_from_slice(if value { b"true" } else { b"false" });
        self.comma = true;
    }
}

/// The XML encoder: the declaration, then the root element; optional values are empty elements.
pub struct Xml {
    out: String,
}

impl Xml {
    pub fn new(capacity: usize) -> Self {
        let mut out = String::with_capacity(capacity);
        out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
        Self { out }
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.out.push('\n');
        self.out.into_bytes()
    }

    fn open(&mut self, key: &str) {
        self.out.push('<');
        self.out.push_str(key);
        self.out.push('>');
    }

    fn close(&mut self, key: &str) {
        self.out.push_str("</");
        self.out.push_str(key);
        self.out.push('>');
    }
}

impl Encoder for Xml {
    fn begin_object(&mut self, key: &str) {
        self.open(key);
    }
    fn end_object(&mut self, key: &str) {
        self.close(key);
    }
    fn begin_list(&mut self, key: &str) {
        self.open(key);
    }
    fn end_list(&mut self, key: &str) {
        self.close(key);
    }
    fn text(&mut self, key: &str, value: &str) {
        self.open(key);
        escape_into(&mut self.out, value);
        self.close(key);
    }
    fn null(&mut self, key: &str) {
        self.out.push('<');
        self.out.push_str(key);
        self.out.push_str("/>");
    }
    fn number(&mut self, key: &str, value: f64) {
        use std::fmt::Write;
        self.open(key);
        // Written as JSON writes it, so both formats agree (no exponent for ordinary coordinates).
        if value.is_finite() {
            let _ = write!(self.out, "{value}");
        }
        self.close(key);
    }
    fn integer(&mut self, key: &str, value: i64) {
        use std::fmt::Write;
        self.open(key);
        let _ = write!(self.out, "{value}");
        self.close(key);
    }
    fn bool(&mut self, key: &str, value: bool) {
        self.open(key);
        self.out.push_str(if value { "true" } else { "false" });
        self.close(key);
    }
}

impl Document for Node {
    fn encode<E: Encoder>(&self, key: &str, e: &mut E) {
        match self {
            Node::Null => e.null(key),
            Node::Text(t) => e.text(key, t),
            Node::Number(n) => e.number(key, *n),
            Node::Integer(i) => e.integer(key, *i),
            Node::Bool(b) => e.bool(key, *b),
            Node::List(item, items) => {
                e.begin_list(key);
                for i in items {
                    i.encode(item, e);
                }
                e.end_list(key);
            }
            Node::Object(members) => {
                e.begin_object(key);
                for (k, v) in members {
                    v.encode(k, e);
                }
                e.end_object(key);
            }
        }
    }
}

/// The JSON document of `doc`.
pub fn json<D: Document + ?Sized>(doc: &D) -> Vec<u8> {
    let mut e = Json::new(doc.size_hint());
    doc.encode("", &mut e);
    e.finish()
}

/// The XML document of `doc`, with `root` as its root element, declaration included.
pub fn xml<D: Document + ?Sized>(doc: &D, root: &str) -> Vec<u8> {
    // Element names are longer than JSON keys and are written twice.
    let mut e = Xml::new(doc.size_hint() + doc.size_hint() * 3 / 10);
    doc.encode(root, &mut e);
    e.finish()
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
    use serde_json::{json as j, Value};

    fn to_json(n: &Node) -> Value {
        serde_json::from_slice(&json(n)).unwrap()
    }

    fn to_xml(n: &Node, root: &str) -> String {
        String::from_utf8(xml(n, root)).unwrap()
    }

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
        let json = to_json(&sample("x"));
        assert!(json.is_array());
        assert_eq!(json[0]["media_url"], Value::Null);
        assert_eq!(json[0]["lat"], j!(-6.2088));
    }

    #[test]
    fn nested_and_empty_containers_keep_their_commas() {
        let doc = Node::Object(vec![
            ("empty", Node::List("x", vec![])),
            (
                "items",
                Node::List(
                    "item",
                    vec![
                        Node::Object(vec![("a", Node::Integer(1)), ("b", Node::Null)]),
                        Node::Object(vec![]),
                        Node::List("v", vec![Node::text("p"), Node::Bool(false)]),
                    ],
                ),
            ),
            ("inf", Node::Number(f64::INFINITY)),
            ("q", Node::text("say \"hi\"\n")),
        ]);
        assert_eq!(
            String::from_utf8(json(&doc)).unwrap(),
            r#"{"empty":[],"items":[{"a":1,"b":null},{},["p",false]],"inf":null,"q":"say \"hi\"\n"}"#
        );
        assert_eq!(
            to_xml(&doc, "root"),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<root><empty></empty><items><item><a>1</a><b/></item>\
             <item></item><item><v>p</v><v>false</v></item></items><inf></inf><q>say &quot;hi&quot;\n</q></root>\n"
        );
    }

    #[test]
    fn xml_escapes_and_replaces_control_characters() {
        let xml = to_xml(&sample("a<b & \"c\"\u{1}\u{0}d\r\n"), "service_requests");
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
            let xml = to_xml(&sample(&s), "service_requests");
            let doc = roxmltree::Document::parse(&xml).map_err(|e| TestCaseError::fail(format!("{e}: {xml:?}")))?;
            let desc = doc.descendants().find(|n| n.has_tag_name("description")).unwrap();
            let expected: String = s.chars().map(|c| {
                if ((c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{FFFE}' || c == '\u{FFFF}' { '\u{FFFD}' } else { c }
            }).collect();
            prop_assert_eq!(desc.text().unwrap_or(""), expected.as_str());
        }
    }
}
