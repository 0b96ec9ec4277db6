//! Entry points for the fuzz targets in tests/fuzz (built with the `fuzzing` feature). Each takes arbitrary
//! bytes, runs one parser or writer the way the server does, and panics only when a property that the
//! server relies on does not hold: a panic is what the fuzzer reports.

use crate::domain::{self, AttributeDef, Datatype, ListValue, SubmittedAttributes};
use crate::http::intake::{self, Limits};
use crate::http::params::{Params, MAX_PAIRS};
use crate::http::render::{self, Node};

/// The form decoder (query strings and urlencoded bodies).
pub fn form(data: &[u8]) {
    if let Ok(p) = Params::parse(data, "body") {
        assert!(p.0.len() <= MAX_PAIRS);
        assert!(p
            .0
            .iter()
            .all(|(n, v)| !n.contains('\0') && !v.contains('\0')));
        let _ = p.list("service_code");
    }
}

/// The multipart reader, with the body cut into chunks where the input says, and the test server's limits.
pub fn multipart(data: &[u8]) {
    let Some((&cut, body)) = data.split_first() else {
        return;
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    else {
        return;
    };
    let spool = std::env::temp_dir().join("civic311-fuzz-spool");
    let limits = Limits::new(64 * 1024, 3, spool);
    let mut headers = actix_web::http::header::HeaderMap::new();
    headers.insert(
        actix_web::http::header::CONTENT_TYPE,
        actix_web::http::header::HeaderValue::from_static("multipart/form-data; boundary=XyZ"),
    );
    let at = usize::from(cut).min(body.len());
    let chunks: Vec<Result<bytes::Bytes, actix_web::error::PayloadError>> = vec![
        Ok(bytes::Bytes::copy_from_slice(&body[..at])),
        Ok(bytes::Bytes::copy_from_slice(&body[at..])),
    ];
    let stream = futures_util::stream::iter(chunks);
    let read = runtime.block_on(intake::read_multipart(
        &headers,
        stream,
        &limits,
        intake::Files::Photos,
    ));
    if let Ok((params, uploads)) = read {
        assert!(uploads.len() <= limits.max_photos);
        let text: usize = params.0.iter().map(|(n, v)| n.len() + v.len()).sum();
        assert!(text <= intake::MAX_FORM_BYTES);
    }
}

fn def(code: &str, datatype: Datatype, required: bool) -> AttributeDef {
    AttributeDef {
        code: code.into(),
        variable: true,
        datatype,
        required,
        datatype_description: None,
        order: 1,
        description: format!("{code}?"),
        values: ["a", "b", "c"]
            .iter()
            .map(|k| ListValue {
                key: (*k).into(),
                name: k.to_uppercase(),
            })
            .collect(),
        min: Some(0.0),
        max: Some(300.0),
        unit: None,
        label: None,
    }
}

/// The attribute validator, against one attribute of each datatype; the input is urlencoded answers.
pub fn attributes(data: &[u8]) {
    let Ok(p) = Params::parse(data, "body") else {
        return;
    };
    let defs = [
        def("DEPTH", Datatype::Number, true),
        def("NOTE", Datatype::String, false),
        def("TEXT", Datatype::Text, false),
        def("WHEN", Datatype::Datetime, false),
        def("ONE", Datatype::SingleValueList, false),
        def("MANY", Datatype::MultiValueList, false),
    ];
    let mut submitted = SubmittedAttributes::default();
    for (name, value) in &p.0 {
        let code = name
            .strip_prefix("attribute[")
            .and_then(|n| n.strip_suffix("][]").or_else(|| n.strip_suffix(']')));
        if let Some(code) = code {
            if submitted.push(code, value.clone()).is_err() {
                return;
            }
        }
    }
    if let Ok(answers) = domain::attributes::validate(&defs, &submitted) {
        for a in &answers {
            assert!(!a.values.is_empty());
            if a.code == "DEPTH" {
                let n: f64 = a.values[0].parse().unwrap_or(f64::NAN);
                assert!((0.0..=300.0).contains(&n), "{n}");
            }
        }
    }
}

/// The XML writer: a document of the input's text, split at NUL bytes, in every position text can take.
/// Returns the document for the target to parse.
pub fn xml(data: &[u8]) -> (Vec<u8>, Vec<String>) {
    let texts: Vec<String> = String::from_utf8_lossy(data)
        .split('\0')
        .map(str::to_string)
        .collect();
    let items = texts
        .iter()
        .map(|t| {
            Node::Object(vec![
                ("description", Node::Text(t.clone())),
                ("status_notes", Node::Text(t.clone())),
                ("empty", Node::Null),
                ("n", Node::Integer(t.len() as i64)),
            ])
        })
        .collect();
    let doc = Node::List("request", items);
    (render::xml(&doc, "service_requests"), texts)
}

/// The photo cleaner: whatever it accepts, it accepts again unchanged (nothing is left to strip).
pub fn photo(data: &[u8]) {
    if let Ok(clean) = crate::media::clean(data.to_vec(), 1) {
        let again = crate::media::clean(clean.bytes.to_vec(), 1);
        match again {
            Ok(again) => assert_eq!(again.bytes, clean.bytes, "cleaning is not idempotent"),
            Err(e) => panic!("a cleaned photo is refused: {}", e.description),
        }
    }
}
