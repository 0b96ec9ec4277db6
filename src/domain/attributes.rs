//! Service-definition attributes (spec §3.3) and the validation of submitted answers (§3.4).

use std::collections::HashMap;

use super::{check_text, parse_w3c, Problem, MAX_DESCRIPTION_CHARS, MAX_FIELD_CHARS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datatype {
    String,
    Number,
    Datetime,
    Text,
    SingleValueList,
    MultiValueList,
}

impl Datatype {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "string" => Self::String,
            "number" => Self::Number,
            "datetime" => Self::Datetime,
            "text" => Self::Text,
            "singlevaluelist" => Self::SingleValueList,
            "multivaluelist" => Self::MultiValueList,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Datetime => "datetime",
            Self::Text => "text",
            Self::SingleValueList => "singlevaluelist",
            Self::MultiValueList => "multivaluelist",
        }
    }

    pub fn is_list(self) -> bool {
        matches!(self, Self::SingleValueList | Self::MultiValueList)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ListValue {
    pub key: String,
    pub name: String,
}

/// One attribute of a service definition.
#[derive(Debug, Clone)]
pub struct AttributeDef {
    pub code: String,
    pub variable: bool,
    pub datatype: Datatype,
    pub required: bool,
    pub datatype_description: Option<String>,
    pub order: i32,
    pub description: String,
    pub values: Vec<ListValue>,
    /// Inclusive bounds for `number` attributes (e.g. water depth 0–300 cm).
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Unit of a `number`, for people reading the report (e.g. "cm").
    pub unit: Option<String>,
    /// A short label for people reading a report ("Water depth"); the description is the question asked.
    pub label: Option<String>,
}

/// Answers as they arrived, grouped by attribute code in arrival order. A code may carry several values
/// (`attribute[CODE][]` repeated).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubmittedAttributes {
    answers: Vec<(String, Vec<String>)>,
    by_code: HashMap<String, usize>,
    values: usize,
}

/// Most attribute codes one report may carry, known and unknown together: far more than any service asks,
/// few enough that a report is one quick write and a list of reports stays quick to read.
pub const MAX_ATTRIBUTE_CODES: usize = 100;
/// Most attribute values of one report, all codes together.
pub const MAX_ATTRIBUTE_VALUES: usize = 500;

impl SubmittedAttributes {
    /// Adds one value; past the caps the report is refused rather than trimmed, so that nothing is lost
    /// silently.
    pub fn push(&mut self, code: &str, value: String) -> Result<(), Problem> {
        if value.is_empty() {
            // An empty answer is no answer (D5), and it does not count toward the caps.
            return Ok(());
        }
        self.values += 1;
        if self.values > MAX_ATTRIBUTE_VALUES {
            return Err(Problem::new(
                "attribute",
                format!("a report may carry at most {MAX_ATTRIBUTE_VALUES} attribute values"),
            ));
        }
        match self.by_code.get(code) {
            Some(&i) => self.answers[i].1.push(value),
            None => {
                if self.by_code.len() == MAX_ATTRIBUTE_CODES {
                    return Err(Problem::new(
                        "attribute",
                        format!("a report may carry at most {MAX_ATTRIBUTE_CODES} attribute codes"),
                    ));
                }
                self.by_code.insert(code.to_string(), self.answers.len());
                self.answers.push((code.to_string(), vec![value]));
            }
        }
        Ok(())
    }

    pub fn get(&self, code: &str) -> Option<&[String]> {
        self.by_code
            .get(code)
            .map(|&i| self.answers[i].1.as_slice())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.answers.iter().map(|(c, v)| (c.as_str(), v.as_slice()))
    }
}

/// A checked answer, ready to store: one row per value.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedAttribute {
    pub code: String,
    pub values: Vec<String>,
}

/// Longest attribute code we store for unknown attributes (FixMyStreet sends several extras).
const MAX_CODE_CHARS: usize = 100;

/// Checks every answer against the definition and returns what to store, or one problem per bad attribute.
/// Unknown codes are kept and never an error (D4); empty answers are "no answer" (D5); informational
/// attributes (`variable=false`) are never required.
pub fn validate(
    defs: &[AttributeDef],
    submitted: &SubmittedAttributes,
) -> Result<Vec<ValidatedAttribute>, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut out = Vec::new();
    for def in defs {
        let values: Vec<&String> = submitted
            .get(&def.code)
            .unwrap_or_default()
            .iter()
            .filter(|v| !v.trim().is_empty())
            .collect();
        if !def.variable {
            continue;
        }
        if values.is_empty() {
            if def.required {
                problems.push(Problem::new(
                    format!("attribute[{}]", def.code),
                    format!(
                        "{} required: {} (attribute[{}])",
                        def.code, def.description, def.code
                    ),
                ));
            }
            continue;
        }
        match check_values(def, &values) {
            Ok(values) => out.push(ValidatedAttribute {
                code: def.code.clone(),
                values,
            }),
            Err(p) => problems.push(p),
        }
    }
    // Unknown attributes never fail a report (D4): what cannot be stored (an empty or unreadable code, a NUL,
    // an overlong value) is dropped, and the rest is kept for staff.
    for (code, values) in submitted.iter() {
        if defs.iter().any(|d| d.code == code) {
            continue;
        }
        let code_ok = !code.is_empty()
            && code.chars().count() <= MAX_CODE_CHARS
            && !code.chars().any(char::is_control);
        let field = format!("attribute[{code}]");
        let kept: Vec<String> = values
            .iter()
            .filter(|v| !v.is_empty() && check_text(&field, v, MAX_DESCRIPTION_CHARS, true).is_ok())
            .cloned()
            .collect();
        if code_ok && !kept.is_empty() {
            out.push(ValidatedAttribute {
                code: code.to_string(),
                values: kept,
            });
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn check_values(def: &AttributeDef, values: &[&String]) -> Result<Vec<String>, Problem> {
    let field = format!("attribute[{}]", def.code);
    let one = |values: &[&String]| -> Result<String, Problem> {
        match values {
            [v] => Ok(v.trim().to_string()),
            _ => Err(Problem::new(
                &field,
                format!("{field}: only one value is allowed"),
            )),
        }
    };
    match def.datatype {
        Datatype::Number => {
            let v = one(values)?;
            let n: f64 = v
                .parse()
                .ok()
                .filter(|n: &f64| n.is_finite())
                .ok_or_else(|| Problem::new(&field, format!("{field}: '{v}' is not a number")))?;
            if def.min.is_some_and(|min| n < min) || def.max.is_some_and(|max| n > max) {
                let range = match (def.min, def.max) {
                    (Some(a), Some(b)) => format!("between {a} and {b}"),
                    (Some(a), None) => format!("at least {a}"),
                    (None, Some(b)) => format!("at most {b}"),
                    (None, None) => String::new(),
                };
                return Err(Problem::new(
                    &field,
                    format!("{field}: {v} is out of range; it must be {range}"),
                ));
            }
            Ok(vec![v])
        }
        Datatype::Datetime => {
            let v = one(values)?;
            parse_w3c(&field, &v)?;
            Ok(vec![v])
        }
        Datatype::String => {
            let v = one(values)?;
            check_text(&field, &v, MAX_FIELD_CHARS, false)?;
            Ok(vec![v])
        }
        Datatype::Text => {
            let v = one(values)?;
            check_text(&field, &v, MAX_DESCRIPTION_CHARS, true)?;
            Ok(vec![v])
        }
        Datatype::SingleValueList => {
            let v = one(values)?;
            check_key(def, &field, &v)?;
            Ok(vec![v])
        }
        Datatype::MultiValueList => {
            let mut out: Vec<String> = Vec::new();
            for v in values {
                let v = v.trim().to_string();
                check_key(def, &field, &v)?;
                if !out.contains(&v) {
                    out.push(v);
                }
            }
            Ok(out)
        }
    }
}

fn check_key(def: &AttributeDef, field: &str, v: &str) -> Result<(), Problem> {
    if def.values.iter().any(|lv| lv.key == v) {
        return Ok(());
    }
    let keys: Vec<&str> = def.values.iter().map(|lv| lv.key.as_str()).collect();
    let shown: String = v.chars().take(50).collect();
    Err(Problem::new(
        field,
        format!("{field}: '{shown}' is not one of {}", keys.join(", ")),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn def(code: &str, datatype: Datatype, required: bool) -> AttributeDef {
        AttributeDef {
            code: code.into(),
            variable: true,
            datatype,
            required,
            datatype_description: None,
            order: 1,
            description: format!("{code}?"),
            values: ["all", "large", "none"]
                .iter()
                .map(|k| ListValue {
                    key: k.to_string(),
                    name: k.to_uppercase(),
                })
                .collect(),
            min: Some(0.0),
            max: Some(300.0),
            unit: None,
            label: None,
        }
    }

    fn flood() -> Vec<AttributeDef> {
        let mut info = def("SAFETY", Datatype::Text, true);
        info.variable = false;
        vec![
            info,
            def("DEPTH", Datatype::Number, true),
            def("PASSABLE", Datatype::SingleValueList, false),
            def("HAZARDS", Datatype::MultiValueList, false),
            def("STARTED", Datatype::Datetime, false),
            def("LANDMARK", Datatype::String, false),
        ]
    }

    fn answers(pairs: &[(&str, &str)]) -> SubmittedAttributes {
        let mut s = SubmittedAttributes::default();
        for (c, v) in pairs {
            s.push(c, v.to_string()).unwrap();
        }
        s
    }

    #[test]
    fn one_problem_per_bad_attribute_naming_its_code() {
        let bad = answers(&[
            ("PASSABLE", "maybe"),
            ("HAZARDS", "sewage"),
            ("HAZARDS", "lava"),
            ("STARTED", "soon"),
            ("LANDMARK", "a\nb"),
        ]);
        let problems = validate(&flood(), &bad).unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "attribute[DEPTH]",
                "attribute[PASSABLE]",
                "attribute[HAZARDS]",
                "attribute[STARTED]",
                "attribute[LANDMARK]"
            ]
        );
        assert!(problems[0].description.starts_with("DEPTH required"));
    }

    #[test]
    fn numbers_respect_bounds() {
        for (v, ok) in [
            ("0", true),
            ("300", true),
            ("45.5", true),
            ("301", false),
            ("-1", false),
            ("NaN", false),
            ("inf", false),
            ("deep", false),
        ] {
            assert_eq!(
                validate(&flood(), &answers(&[("DEPTH", v)])).is_ok(),
                ok,
                "{v}"
            );
        }
    }

    #[test]
    fn empty_optional_list_is_no_answer_and_unknown_codes_are_kept() {
        let ok = validate(
            &flood(),
            &answers(&[("DEPTH", "45"), ("PASSABLE", ""), ("fixmystreet_id", "77")]),
        )
        .unwrap();
        assert_eq!(
            ok,
            vec![
                ValidatedAttribute {
                    code: "DEPTH".into(),
                    values: vec!["45".into()]
                },
                ValidatedAttribute {
                    code: "fixmystreet_id".into(),
                    values: vec!["77".into()]
                },
            ]
        );
    }

    #[test]
    fn unknown_attributes_that_cannot_be_stored_are_dropped_not_refused() {
        let long = "x".repeat(5000);
        let given = answers(&[
            ("DEPTH", "1"),
            ("", "x"),
            ("description", &long),
            ("nul", "a\0b"),
            ("title", "fine"),
        ]);
        let ok = validate(&flood(), &given).unwrap();
        let codes: Vec<&str> = ok.iter().map(|a| a.code.as_str()).collect();
        assert_eq!(codes, ["DEPTH", "title"]);
    }

    #[test]
    fn multivalue_accepts_a_single_value_and_dedupes() {
        let ok = validate(
            &flood(),
            &answers(&[
                ("DEPTH", "1"),
                ("HAZARDS", "all"),
                ("HAZARDS", "none"),
                ("HAZARDS", "all"),
            ]),
        )
        .unwrap();
        assert_eq!(ok[1].values, ["all", "none"]);
    }

    #[test]
    fn informational_attributes_are_never_required_nor_stored() {
        let ok = validate(&flood(), &answers(&[("DEPTH", "1"), ("SAFETY", "ignored")])).unwrap();
        assert!(ok.iter().all(|a| a.code != "SAFETY"));
    }

    proptest! {
        #[test]
        fn validation_never_panics(code in ".{0,8}", value in ".{0,40}", n in proptest::num::f64::ANY) {
            let s = answers(&[(&code, &value), ("DEPTH", &n.to_string())]);
            let _ = validate(&flood(), &s);
        }

        #[test]
        fn every_accepted_list_value_is_a_key(values in proptest::collection::vec("(all|large|none|[a-z]{1,5})", 0..5)) {
            let pairs: Vec<(&str, &str)> = values.iter().map(|v| ("HAZARDS", v.as_str())).chain([("DEPTH", "3")]).collect();
            if let Ok(valid) = validate(&flood(), &answers(&pairs)) {
                for a in valid.iter().filter(|a| a.code == "HAZARDS") {
                    for v in &a.values {
                        prop_assert!(["all", "large", "none"].contains(&v.as_str()));
                    }
                }
            }
        }
    }
}
