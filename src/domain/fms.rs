//! FixMyStreet's status vocabulary and how a city's own maps onto it (issue #12, GEOREPORT_V2 §4.6).
//!
//! FixMyStreet reads the updates feed's `status` lowercase, maps `fixed`, `not_councils_responsibility`,
//! `no_further_action`, `open` and `closed` to its own states and keeps the rest as they are; a state it does
//! not know adds a comment and changes nothing. So every status of a city's vocabulary is shown in the feed
//! as one of FixMyStreet's (`FEED`), and the city's own code goes beside it as `external_status_code`.
//!
//! FixMyStreet posts UPPERCASE statuses (`POSTED`): `OPEN` or `CLOSED` by default, the extended ones when the
//! council turned them on. [`incoming`] decides what such an update does to a report.

/// What a jurisdiction lets application keys post to servicerequestupdates: nothing (`off`, the default:
/// only back-office keys post updates), citizens' comments as public notes (`notes`), or comments whose
/// status counts like a back office's (`status`: FixMyStreet's "citizen marked it fixed").
pub const CITIZEN_UPDATES: &[&str] = &["off", "notes", "status"];

/// The statuses FixMyStreet's feed reader knows, and whether each is a closed state there.
pub const FEED: &[(&str, bool)] = &[
    ("open", false),
    ("investigating", false),
    ("in_progress", false),
    ("action_scheduled", false),
    ("planned", false),
    ("fixed", true),
    ("closed", true),
    ("duplicate", true),
    ("not_councils_responsibility", true),
    ("no_further_action", true),
    ("internal_referral", true),
];

/// The statuses FixMyStreet posts, and whether each means closed (`None`: `UNCHANGED`).
pub const POSTED: &[(&str, Option<bool>)] = &[
    ("OPEN", Some(false)),
    ("CLOSED", Some(true)),
    ("FIXED", Some(true)),
    ("IN_PROGRESS", Some(false)),
    ("ACTION_SCHEDULED", Some(false)),
    ("INVESTIGATING", Some(false)),
    ("DUPLICATE", Some(true)),
    ("NOT_COUNCILS_RESPONSIBILITY", Some(true)),
    ("NO_FURTHER_ACTION", Some(true)),
    ("INTERNAL_REFERRAL", Some(true)),
    ("REOPEN", Some(false)),
    ("FOR_TRIAGE", Some(false)),
    ("PLANNED", Some(false)),
    ("CANCELLED", Some(true)),
    ("UNCHANGED", None),
];

/// Whether `s` is a status of FixMyStreet's feed.
pub fn is_feed_status(s: &str) -> bool {
    FEED.iter().any(|(f, _)| *f == s)
}

/// Whether `s` is a status FixMyStreet posts (UPPERCASE).
pub fn is_posted_status(s: &str) -> bool {
    POSTED.iter().any(|(p, _)| *p == s)
}

/// The feed status of a city status that names none: its own code when FixMyStreet knows it, the
/// FixMyStreet name of a status of the default vocabulary, else open or closed.
pub fn default_feed(code: &str, closed: bool) -> &'static str {
    if let Some((f, _)) = FEED.iter().find(|(f, c)| *f == code && *c == closed) {
        return f;
    }
    match (code, closed) {
        ("not_responsible", true) => "not_councils_responsibility",
        (_, true) => "closed",
        (_, false) => "open",
    }
}

/// A status of a city's vocabulary as the mapping sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    pub code: String,
    pub closed: bool,
    /// What FixMyStreet's feed shows for it.
    pub feed: String,
    /// The FixMyStreet statuses that set it, when the city says (`from_fms` in its TOML).
    pub from_fms: Vec<String>,
}

/// What an update posted by FixMyStreet does to a report's status.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// It says nothing new: the status stays, the text is a public note.
    Keep,
    /// The report takes this status of the city's vocabulary.
    Set(String),
}

/// The update `posted` (FixMyStreet's UPPERCASE status) to a report now in `current` (`closed`: whether it
/// is closed), in a city of `vocabulary` (in its order; never empty). `None` when FixMyStreet has no such
/// status.
///
/// - `UNCHANGED`, `OPEN` or `CLOSED` that agree with the report's open or closed state, and the status the
///   feed shows for the report's own, keep the status: FixMyStreet sends its current state with every
///   comment (`OPEN` unless the council turned extended statuses on).
/// - Otherwise the city's own mapping decides (`from_fms`), then the status whose feed name is the posted
///   one (`FIXED` → the status shown as `fixed`).
/// - An extended status the city does not map counts as the `OPEN` or `CLOSED` it means to FixMyStreet.
/// - `OPEN` on a closed report reopens it (the city's `reopen` status, else its first open one); `CLOSED`
///   on an open report closes it as FixMyStreet itself reads `CLOSED`: fixed (else the status shown as
///   `closed`, else the first closed one). An unmapped closing status closes it as `closed`.
pub fn incoming(
    posted: &str,
    vocabulary: &[Mapped],
    current: &str,
    closed: bool,
) -> Option<Effect> {
    let (name, means_closed) = POSTED.iter().find(|(p, _)| *p == posted)?;
    let Some(means_closed) = *means_closed else {
        return Some(Effect::Keep);
    };
    let set = |code: &str| {
        Some(if code == current {
            Effect::Keep
        } else {
            Effect::Set(code.to_string())
        })
    };
    let plain = matches!(*name, "OPEN" | "CLOSED");
    if plain && means_closed == closed {
        return Some(Effect::Keep);
    }
    // With extended statuses on, FixMyStreet sends its current state with every comment: the state the
    // feed gave it for the report's status is no news, even where two statuses share a feed name.
    let feed = name.to_ascii_lowercase();
    if vocabulary
        .iter()
        .any(|m| m.code == current && m.feed == feed && m.closed == closed)
    {
        return Some(Effect::Keep);
    }
    if let Some(m) = vocabulary
        .iter()
        .find(|m| m.from_fms.iter().any(|f| f == name))
    {
        return set(&m.code);
    }
    if !plain {
        if let Some(m) = vocabulary.iter().find(|m| m.feed == feed) {
            return set(&m.code);
        }
        if *name == "REOPEN" && closed {
            if let Some(m) = vocabulary.iter().find(|m| m.code == "reopen" && !m.closed) {
                return set(&m.code);
            }
        }
        if means_closed == closed {
            return Some(Effect::Keep);
        }
    }
    // A change between open and closed that the city did not map itself.
    let explicit = |n: &str| {
        vocabulary
            .iter()
            .find(|m| m.from_fms.iter().any(|f| f == n))
    };
    let feed_is = |feed: &str| vocabulary.iter().find(|m| m.closed && m.feed == feed);
    let target = if means_closed {
        // FixMyStreet itself reads a plain CLOSED as fixed; a closing status the city does not map (no further
        // action, cancelled) is no claim that the problem was fixed.
        explicit("CLOSED")
            .or_else(|| if plain { feed_is("fixed") } else { None })
            .or_else(|| feed_is("closed"))
            .or_else(|| vocabulary.iter().find(|m| m.closed))
    } else {
        explicit("OPEN")
            .or_else(|| explicit("REOPEN"))
            .or_else(|| vocabulary.iter().find(|m| !m.closed && m.code == "reopen"))
            .or_else(|| vocabulary.iter().find(|m| !m.closed))
    };
    target.and_then(|m| set(&m.code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab(entries: &[(&str, bool, Option<&str>, &[&str])]) -> Vec<Mapped> {
        entries
            .iter()
            .map(|(code, closed, feed, from)| Mapped {
                code: code.to_string(),
                closed: *closed,
                feed: feed
                    .map(str::to_string)
                    .unwrap_or_else(|| default_feed(code, *closed).to_string()),
                from_fms: from.iter().map(|s| s.to_string()).collect(),
            })
            .collect()
    }

    fn demo() -> Vec<Mapped> {
        vocab(&[
            ("open", false, None, &[]),
            ("verified", false, Some("investigating"), &[]),
            ("in_progress", false, None, &[]),
            ("fixed", true, None, &[]),
            ("not_responsible", true, None, &[]),
            ("duplicate", true, None, &[]),
            ("rejected", true, None, &[]),
        ])
    }

    #[test]
    fn every_status_of_the_default_vocabulary_maps_to_one_fixmystreet_knows() {
        for (code, _, closed) in crate::domain::DEFAULT_STATUSES {
            let feed = default_feed(code, *closed);
            let (_, feed_closed) = FEED.iter().find(|(f, _)| *f == feed).unwrap();
            assert_eq!(feed_closed, closed, "{code} → {feed}");
        }
        assert_eq!(default_feed("rejected", true), "closed");
        assert_eq!(default_feed("verified", false), "open");
        assert_eq!(
            default_feed("not_responsible", true),
            "not_councils_responsibility"
        );
        // A code FixMyStreet knows, but with the other meaning here, is not taken at its word.
        assert_eq!(default_feed("fixed", false), "open");
    }

    #[test]
    fn open_or_closed_that_agrees_keeps_the_detailed_status() {
        let v = demo();
        assert_eq!(
            incoming("OPEN", &v, "in_progress", false),
            Some(Effect::Keep)
        );
        assert_eq!(incoming("CLOSED", &v, "rejected", true), Some(Effect::Keep));
        assert_eq!(incoming("UNCHANGED", &v, "fixed", true), Some(Effect::Keep));
    }

    #[test]
    fn open_and_closed_that_disagree_reopen_or_close() {
        let v = demo();
        assert_eq!(
            incoming("CLOSED", &v, "in_progress", false),
            Some(Effect::Set("fixed".into()))
        );
        assert_eq!(
            incoming("OPEN", &v, "fixed", true),
            Some(Effect::Set("open".into()))
        );
        let with_reopen = vocab(&[
            ("open", false, None, &[]),
            ("reopen", false, None, &[]),
            ("fixed", true, None, &[]),
        ]);
        assert_eq!(
            incoming("OPEN", &with_reopen, "fixed", true),
            Some(Effect::Set("reopen".into()))
        );
        assert_eq!(
            incoming("REOPEN", &with_reopen, "fixed", true),
            Some(Effect::Set("reopen".into()))
        );
    }

    #[test]
    fn extended_statuses_map_by_feed_name_then_by_meaning() {
        let v = demo();
        assert_eq!(
            incoming("INVESTIGATING", &v, "open", false),
            Some(Effect::Set("verified".into()))
        );
        assert_eq!(
            incoming("NOT_COUNCILS_RESPONSIBILITY", &v, "open", false),
            Some(Effect::Set("not_responsible".into()))
        );
        // No status of the demo city is shown as action_scheduled: it is an open state, and so is this one.
        assert_eq!(
            incoming("ACTION_SCHEDULED", &v, "in_progress", false),
            Some(Effect::Keep)
        );
        assert_eq!(
            incoming("NO_FURTHER_ACTION", &v, "open", false),
            Some(Effect::Set("rejected".into())),
            "closed, but not claimed fixed"
        );
        assert_eq!(incoming("BANANA", &v, "open", false), None);
        assert_eq!(
            incoming("open", &v, "open", false),
            None,
            "FixMyStreet posts UPPERCASE"
        );
    }

    #[test]
    fn an_echo_of_the_feeds_own_status_is_no_news() {
        // Two statuses shown as in_progress: FixMyStreet echoing IN_PROGRESS does not move the second to the
        // first.
        let v = vocab(&[
            ("open", false, None, &[]),
            ("assigned", false, Some("in_progress"), &[]),
            ("in_progress", false, None, &[]),
            ("fixed", true, None, &[]),
        ]);
        assert_eq!(
            incoming("IN_PROGRESS", &v, "in_progress", false),
            Some(Effect::Keep)
        );
        assert_eq!(
            incoming("IN_PROGRESS", &v, "open", false),
            Some(Effect::Set("assigned".into()))
        );
    }

    #[test]
    fn the_citys_own_mapping_wins() {
        let v = vocab(&[
            ("recu", false, Some("open"), &[]),
            (
                "en_cours",
                false,
                Some("in_progress"),
                &["ACTION_SCHEDULED", "PLANNED"],
            ),
            ("resolu", true, Some("fixed"), &[]),
            (
                "rejete",
                true,
                Some("closed"),
                &["NO_FURTHER_ACTION", "CLOSED"],
            ),
        ]);
        assert_eq!(
            incoming("PLANNED", &v, "recu", false),
            Some(Effect::Set("en_cours".into()))
        );
        assert_eq!(
            incoming("CLOSED", &v, "recu", false),
            Some(Effect::Set("rejete".into()))
        );
        assert_eq!(
            incoming("OPEN", &v, "resolu", true),
            Some(Effect::Set("recu".into()))
        );
    }
}
