//! A citizen's new report, checked and ready for the use case.

use super::{
    check_email, check_text, LatLong, Problem, SubmittedAttributes, MAX_DESCRIPTION_CHARS,
    MAX_FIELD_CHARS,
};

/// The reporter's personal data. Stored for staff and departments; never in a public response.
#[derive(Clone, Default, PartialEq)]
pub struct Contact {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub device_id: Option<String>,
    pub account_id: Option<String>,
}

impl std::fmt::Debug for Contact {
    /// Personal data never reaches a log through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Contact([redacted])")
    }
}

impl Contact {
    /// Whether it holds no contact detail a person can be reached or named by.
    pub fn is_empty(&self) -> bool {
        self.email.is_none()
            && self.phone.is_none()
            && self.first_name.is_none()
            && self.last_name.is_none()
    }

    /// Without the placeholders clients send for "unknown": FixMyStreet sends `last_name=-` for a person
    /// known by one name.
    pub fn tidied(mut self) -> Self {
        for v in [&mut self.first_name, &mut self.last_name] {
            if v.as_deref()
                .is_some_and(|n| n.trim().is_empty() || n.trim() == "-")
            {
                *v = None;
            }
        }
        self
    }

    /// The checks of a reporter's details: lengths, one line each, an e-mail address that looks like one.
    pub fn check(&self) -> Result<(), Vec<Problem>> {
        let mut problems = Vec::new();
        for (field, v, max) in [
            ("first_name", &self.first_name, MAX_FIELD_CHARS),
            ("last_name", &self.last_name, MAX_FIELD_CHARS),
            ("phone", &self.phone, 100),
            ("device_id", &self.device_id, MAX_FIELD_CHARS),
            ("account_id", &self.account_id, MAX_FIELD_CHARS),
        ] {
            if let Some(v) = v {
                if let Err(p) = check_text(field, v, max, false) {
                    problems.push(p);
                }
            }
        }
        if let Some(email) = &self.email {
            if let Err(p) = check_email(email) {
                problems.push(p);
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// The raw fields of a POST, before checks. Every value is `None` when absent or empty.
#[derive(Debug, Default)]
pub struct RawRequest {
    pub jurisdiction_id: Option<String>,
    pub service_code: Option<String>,
    pub lat: Option<String>,
    pub long: Option<String>,
    pub address_string: Option<String>,
    pub address_id: Option<String>,
    pub description: Option<String>,
    pub contact: Contact,
    pub media_urls: Vec<String>,
    pub attributes: SubmittedAttributes,
    pub idempotency_key: Option<String>,
    /// `non_public` (mySociety's extension): the client asks that the report stay out of public answers.
    pub non_public: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewRequest {
    pub jurisdiction_id: Option<String>,
    pub service_code: String,
    pub location: Option<LatLong>,
    pub address: Option<String>,
    pub address_id: Option<String>,
    pub description: Option<String>,
    pub contact: Contact,
    pub media_urls: Vec<String>,
    pub attributes: SubmittedAttributes,
    pub idempotency_key: Option<String>,
    /// The report stays out of every public answer and open data.
    pub non_public: bool,
}

/// Most `media_url` values accepted with one report.
pub const MAX_MEDIA_URLS: usize = 10;

impl TryFrom<RawRequest> for NewRequest {
    type Error = Vec<Problem>;

    /// Checks every field and reports every problem at once.
    fn try_from(raw: RawRequest) -> Result<Self, Vec<Problem>> {
        let mut problems = Vec::new();
        let service_code = raw.service_code.clone().unwrap_or_default();
        if service_code.is_empty() {
            problems.push(Problem::new(
                "service_code",
                "service_code was not provided",
            ));
        }
        let location = match (&raw.lat, &raw.long) {
            (Some(lat), Some(long)) => match LatLong::parse(lat, long) {
                Ok(p) => Some(p),
                Err(p) => {
                    problems.extend(p);
                    None
                }
            },
            (Some(_), None) => {
                problems.push(Problem::new("long", "long is required when lat is given"));
                None
            }
            (None, Some(_)) => {
                problems.push(Problem::new("lat", "lat is required when long is given"));
                None
            }
            (None, None) => None,
        };
        if raw.lat.is_none()
            && raw.long.is_none()
            && raw.address_string.is_none()
            && raw.address_id.is_none()
        {
            problems.push(Problem::new(
                "lat",
                "a location is required: lat and long, address_string or address_id",
            ));
        }
        let mut text = |field: &str, v: &Option<String>, max: usize, multiline: bool| {
            if let Some(v) = v {
                if let Err(p) = check_text(field, v, max, multiline) {
                    problems.push(p);
                }
            }
        };
        text("service_code", &raw.service_code, MAX_FIELD_CHARS, false);
        text(
            "jurisdiction_id",
            &raw.jurisdiction_id,
            MAX_FIELD_CHARS,
            false,
        );
        text("address_string", &raw.address_string, MAX_FIELD_CHARS, true);
        text("address_id", &raw.address_id, MAX_FIELD_CHARS, false);
        text("description", &raw.description, MAX_DESCRIPTION_CHARS, true);
        text("idempotency_key", &raw.idempotency_key, 200, false);
        if let Err(mut p) = raw.contact.check() {
            problems.append(&mut p);
        }
        let non_public = match raw
            .non_public
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("false" | "0" | "no") => false,
            Some("true" | "1" | "yes") => true,
            Some(_) => {
                problems.push(Problem::new(
                    "non_public",
                    "non_public must be true or false (1 or 0)",
                ));
                false
            }
        };
        if raw.media_urls.len() > MAX_MEDIA_URLS {
            problems.push(Problem::new(
                "media_url",
                format!("at most {MAX_MEDIA_URLS} media_url values are accepted"),
            ));
        }
        for url in &raw.media_urls {
            let lower = url.to_ascii_lowercase();
            let ok = (lower.starts_with("https://") || lower.starts_with("http://"))
                && url.chars().count() <= 2000
                && !url.chars().any(|c| c.is_whitespace() || c.is_control());
            if !ok {
                problems.push(Problem::new(
                    "media_url",
                    "media_url must be an http or https URL of at most 2000 characters",
                ));
                break;
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self {
            jurisdiction_id: raw.jurisdiction_id,
            service_code,
            location,
            address: raw.address_string,
            address_id: raw.address_id,
            description: raw.description.map(|d| super::normalize_newlines(&d)),
            contact: raw.contact.tidied(),
            media_urls: raw.media_urls,
            attributes: raw.attributes,
            idempotency_key: raw.idempotency_key,
            non_public,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawRequest {
        RawRequest {
            service_code: Some("FLOOD".into()),
            lat: Some("-6.2".into()),
            long: Some("106.8".into()),
            ..Default::default()
        }
    }

    #[test]
    fn location_is_required_in_one_of_three_forms() {
        let mut r = raw();
        r.lat = None;
        r.long = None;
        assert!(NewRequest::try_from(r).is_err());
        let mut r = raw();
        r.lat = None;
        r.long = None;
        r.address_id = Some("#NOTPINPOINTED#".into());
        assert!(NewRequest::try_from(r).is_ok());
        let mut r = raw();
        r.long = None;
        let problems = NewRequest::try_from(r).unwrap_err();
        assert_eq!(problems[0].field, "long");
    }

    #[test]
    fn every_problem_is_reported() {
        let mut r = raw();
        r.service_code = None;
        r.lat = Some("NaN".into());
        r.contact.email = Some("not-an-email".into());
        r.description = Some("x".repeat(4001));
        let fields: Vec<String> = NewRequest::try_from(r)
            .unwrap_err()
            .into_iter()
            .map(|p| p.field)
            .collect();
        assert_eq!(fields, ["service_code", "lat", "description", "email"]);
    }

    #[test]
    fn contact_debug_is_redacted() {
        let c = Contact {
            email: Some("siti@mail.example".into()),
            ..Default::default()
        };
        assert!(!format!("{c:?}").contains("siti"));
    }
}
