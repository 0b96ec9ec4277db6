//! Strict `application/x-www-form-urlencoded` decoding, for query strings and bodies alike. Names are decoded
//! as well as values (`attribute%5BDEPTH%5D`), repeated names are all kept, and bytes that are not UTF-8 are an
//! error rather than silently replaced.

use crate::error::ApiError;
use percent_encoding::percent_decode;

/// Most name/value pairs of one query string or body: far more than any client sends, and the bound on the
/// work a body can cause field by field.
pub const MAX_PAIRS: usize = 1_000;

/// Decoded name/value pairs in arrival order.
#[derive(Debug, Clone, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn parse(raw: &[u8], what: &str) -> Result<Self, ApiError> {
        let mut pairs = Vec::new();
        for piece in raw.split(|b| *b == b'&') {
            if piece.is_empty() {
                continue;
            }
            if pairs.len() == MAX_PAIRS {
                return Err(ApiError::invalid(
                    what,
                    format!("the {what} has more than {MAX_PAIRS} parameters"),
                ));
            }
            let (name, value) = match piece.iter().position(|b| *b == b'=') {
                Some(i) => (&piece[..i], &piece[i + 1..]),
                None => (piece, &b""[..]),
            };
            pairs.push((decode(name, what)?, decode(value, what)?));
        }
        Ok(Self(pairs))
    }

    /// The first non-empty value of `name`: an empty value is the same as an absent one (spec §2.4).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every non-empty value of `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// A comma-separated list (`service_code=A,B`), trimmed, empty items dropped; absent when nothing is left.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        let items: Vec<String> = self
            .all(name)
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        (!items.is_empty()).then_some(items)
    }
}

fn decode(raw: &[u8], what: &str) -> Result<String, ApiError> {
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    let bytes: Vec<u8> = percent_decode(&plus_as_space).collect();
    let s = String::from_utf8(bytes)
        .map_err(|_| ApiError::invalid(what, format!("the {what} is not valid UTF-8")))?;
    if s.contains('\0') {
        return Err(ApiError::invalid(
            what,
            format!("the {what} contains a NUL character"),
        ));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_names_values_and_repeats() {
        let p = Params::parse(b"attribute%5BHAZARDS%5D%5B%5D=debris&attribute[HAZARDS][]=sewage&a=1+2%2C3&empty=&flag", "body").unwrap();
        assert_eq!(
            p.all("attribute[HAZARDS][]").collect::<Vec<_>>(),
            ["debris", "sewage"]
        );
        assert_eq!(p.get("a"), Some("1 2,3"));
        assert_eq!(p.get("empty"), None);
        assert_eq!(p.get("flag"), None);
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        assert!(Params::parse(b"description=%FF%FE", "body").is_err());
        assert!(Params::parse(b"description=caf%C3%A9", "body").is_ok());
    }

    #[test]
    fn lists_split_on_commas_and_trim() {
        let p = Params::parse(b"service_code=FLOOD%2C+LIGHT,,&service_code=", "query").unwrap();
        assert_eq!(
            p.list("service_code"),
            Some(vec!["FLOOD".to_string(), "LIGHT".to_string()])
        );
        assert_eq!(p.list("status"), None);
    }

    proptest! {
        #[test]
        fn round_trips_any_pairs(pairs in proptest::collection::vec(("[^\0]{0,10}", "[^\0]{0,10}"), 0..6)) {
            let encoded = pairs.iter().map(|(n, v)| {
                let enc = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
                format!("{}={}", enc(n), enc(v))
            }).collect::<Vec<_>>().join("&");
            let parsed = Params::parse(encoded.as_bytes(), "query").unwrap();
            let expected = pairs;
            prop_assert_eq!(parsed.0, expected);
        }
    }
}
