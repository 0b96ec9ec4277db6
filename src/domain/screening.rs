//! What intake holds back for a person to look at before it is public: free text that looks as if it
//! carries someone's contact details. A hint, not a proof: a match holds the report for review (the citizen's
//! POST still succeeds), so a false alarm costs a moderator a glance, and a miss is still caught by staff.

/// Whether `text` holds what looks like an e-mail address or a telephone number.
pub fn looks_like_contact(text: &str) -> bool {
    has_email(text) || has_phone(text)
}

/// `local@domain.tld`: something before an `@`, and after it a dot followed by letters.
fn has_email(text: &str) -> bool {
    text.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '<' | '>' | '(' | ')'))
        .any(|word| match word.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.rsplit_once('.').is_some_and(|(host, tld)| {
                        !host.is_empty() && tld.len() >= 2 && tld.chars().all(|c| c.is_alphabetic())
                    })
            }
            None => false,
        })
}

/// Nine or more digits in one run, with at most three separators (space, `-`, `/`, parentheses: `0812 -
/// 3456`) between groups: Indonesian mobile numbers have 10 to 13 digits, landlines with their area code 9
/// to 11, and dates, times and street numbers stay below that. A decimal point ends a run and its fraction
/// starts none: depths and coordinates are decimals.
fn has_phone(text: &str) -> bool {
    let mut digits = 0;
    let mut gap = 0;
    let mut fraction = false;
    for c in text.chars() {
        if fraction {
            if c.is_ascii_digit() {
                continue;
            }
            fraction = false;
        }
        if c == '.' && digits > 0 && gap == 0 {
            fraction = true;
            digits = 0;
        } else if c.is_ascii_digit() {
            digits += 1;
            gap = 0;
            if digits >= 9 {
                return true;
            }
        } else if digits > 0 && gap < 3 && matches!(c, ' ' | '-' | '/' | '(' | ')') {
            gap += 1;
        } else {
            digits = 0;
            gap = 0;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::looks_like_contact;

    #[test]
    fn contact_details_are_recognised() {
        for text in [
            "call me 0812 3456 7890",
            "WA +62 812-3456-7890 kalau airnya naik",
            "hubungi (021) 5551234",
            "0812 - 3456 - 7890",
            "email siti.rahma@example.co.id please",
            "<budi@kampung.id>",
            "08123456789",
        ] {
            assert!(looks_like_contact(text), "{text}");
        }
    }

    #[test]
    fn ordinary_reports_are_not_held() {
        for text in [
            "Water up to the knees since 14:30 on 2026-12-01",
            "Banjir 40 cm di Jl. Thamrin No. 12, RT 005 RW 003",
            "at -6.175392, 106.827153",
            "at -6.175392 106.827153",
            "depth 120.5 cm, 2 houses",
            "3 bags of rubbish @ the corner",
            "lamp 12 of 20 on the bridge is out",
            "",
        ] {
            assert!(!looks_like_contact(text), "{text}");
        }
    }
}
