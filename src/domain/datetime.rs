//! W3C-DTF datetimes (spec §2.3): strict on output, lenient on input the way real clients need (D12).

use super::Problem;
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

/// Parses an input datetime. Accepts `YYYY-MM-DD`, a `T` or a space before the time, optional fractional
/// seconds, a zone of `Z`, `±hh:mm`, `±hhmm` or `±hh`, a space where a `+` was not percent-encoded, and no
/// zone at all (taken as UTC).
pub fn parse_w3c(field: &str, raw: &str) -> Result<DateTime<Utc>, Problem> {
    let bad = || {
        Problem::new(
            field,
            format!("{field} must be a W3C datetime such as 2024-03-01T07:15:00Z or 2024-03-01T14:15:00+07:00"),
        )
    };
    let s = raw.trim();
    // Exactly YYYY-MM-DD: chrono alone would take a signed or five-digit year, which sorts differently as
    // SQLite text than as a PostgreSQL timestamp.
    let shape = s.as_bytes().get(..10).is_some_and(|d| {
        d.iter().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                *b == b'-'
            } else {
                b.is_ascii_digit()
            }
        })
    });
    if !s.is_ascii() || !shape {
        return Err(bad());
    }
    let date =
        NaiveDate::parse_from_str(s.get(..10).ok_or_else(bad)?, "%Y-%m-%d").map_err(|_| bad())?;
    // Year 0000 with a zone east of UTC is a year before 0000, which no W3C datetime can say back.
    if date.year() == 0 {
        return Err(Problem::new(
            field,
            format!("{field} must be between the years 0001 and 9999"),
        ));
    }
    if s.len() == 10 {
        return Ok(Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN)));
    }
    if !matches!(s.as_bytes()[10], b'T' | b't' | b' ') {
        return Err(bad());
    }
    let rest = &s[11..];
    let zone_at = rest.find(['Z', 'z', '+', '-', ' ']).unwrap_or(rest.len());
    let (time, zone) = rest.split_at(zone_at);
    let time = NaiveTime::parse_from_str(time, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(time, "%H:%M"))
        .map_err(|_| bad())?;
    let offset = parse_zone(zone).ok_or_else(bad)?;
    let local = NaiveDateTime::new(date, time);
    offset
        .from_local_datetime(&local)
        .single()
        .map(|dt| dt.with_timezone(&Utc))
        .ok_or_else(bad)
}

fn parse_zone(zone: &str) -> Option<FixedOffset> {
    if zone.is_empty() || zone.eq_ignore_ascii_case("z") {
        return FixedOffset::east_opt(0);
    }
    let (sign, digits) = match zone.as_bytes()[0] {
        b'+' | b' ' => (1, &zone[1..]),
        b'-' => (-1, &zone[1..]),
        _ => return None,
    };
    let digits: String = digits.chars().filter(|c| *c != ':').collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) || !matches!(digits.len(), 2 | 4) {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = if digits.len() == 4 {
        digits[2..].parse().ok()?
    } else {
        0
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

/// How a jurisdiction shows its datetimes: a fixed offset from UTC (`utc_offset = "+07:00"`), or an IANA
/// time zone (`timezone = "Europe/Paris"`), whose offset follows daylight saving time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// Minutes east of UTC.
    Fixed(i32),
    Named(chrono_tz::Tz),
}

impl Zone {
    /// An IANA name (`Europe/Paris`, `Asia/Jakarta`).
    pub fn named(name: &str) -> Option<Zone> {
        name.parse::<chrono_tz::Tz>().ok().map(Zone::Named)
    }

    /// Minutes east of UTC at the instant `t`.
    pub fn offset_minutes_at(self, t: DateTime<Utc>) -> i32 {
        use chrono::Offset;
        match self {
            Zone::Fixed(m) => m,
            Zone::Named(tz) => {
                tz.offset_from_utc_datetime(&t.naive_utc())
                    .fix()
                    .local_minus_utc()
                    / 60
            }
        }
    }

    /// The offset of a local wall-clock time (a browser's `datetime-local`): in a gap or an overlap of
    /// daylight saving time, the earlier reading.
    pub fn offset_minutes_of_local(self, local: NaiveDateTime) -> i32 {
        use chrono::Offset;
        match self {
            Zone::Fixed(m) => m,
            Zone::Named(tz) => tz
                .offset_from_local_datetime(&local)
                .earliest()
                .or_else(|| {
                    tz.offset_from_local_datetime(&(local + chrono::TimeDelta::hours(1)))
                        .earliest()
                })
                .map_or(0, |o| o.fix().local_minus_utc() / 60),
        }
    }

    /// How documents name it: the IANA name, or the offset (`+07:00`).
    pub fn describe(self) -> String {
        match self {
            Zone::Named(tz) => tz.name().to_string(),
            Zone::Fixed(m) => format!(
                "{}{:02}:{:02}",
                if m < 0 { '-' } else { '+' },
                m.unsigned_abs() / 60,
                m.unsigned_abs() % 60
            ),
        }
    }
}

impl From<i32> for Zone {
    fn from(minutes: i32) -> Self {
        Zone::Fixed(minutes)
    }
}

/// Formats a datetime the one way the output contract allows: seconds precision and an explicit zone
/// (`Z` for UTC, otherwise `±hh:mm`), the offset the zone had at that instant. Written digit by digit: every
/// answer formats several datetimes per report, and chrono's `format` parses its pattern again at each call.
pub fn format_w3c(dt: DateTime<Utc>, zone: impl Into<Zone>) -> String {
    use chrono::{Datelike, Timelike};
    let utc_offset_minutes = zone.into().offset_minutes_at(dt);
    let offset = if (-(24 * 60 - 1)..24 * 60).contains(&utc_offset_minutes) {
        utc_offset_minutes
    } else {
        0
    };
    let local = dt.naive_utc() + chrono::TimeDelta::minutes(i64::from(offset));
    let year = local.year();
    if !(0..=9999).contains(&year) {
        // Outside what four digits can write; never stored, but kept correct.
        return match FixedOffset::east_opt(offset * 60) {
            Some(o) if offset != 0 => dt
                .with_timezone(&o)
                .format("%Y-%m-%dT%H:%M:%S%:z")
                .to_string(),
            _ => dt.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        };
    }
    let mut b = [0u8; 25];
    let mut two = |at: usize, v: u32| {
        b[at] = b'0' + (v / 10 % 10) as u8;
        b[at + 1] = b'0' + (v % 10) as u8;
    };
    let y = year as u32;
    two(0, y / 100);
    two(2, y % 100);
    two(5, local.month());
    two(8, local.day());
    two(11, local.hour());
    two(14, local.minute());
    two(17, local.second());
    let len = if offset == 0 {
        b[19] = b'Z';
        20
    } else {
        let m = offset.unsigned_abs();
        two(20, m / 60);
        two(23, m % 60);
        b[19] = if offset < 0 { b'-' } else { b'+' };
        b[22] = b':';
        25
    };
    for (at, c) in [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')] {
        b[at] = c;
    }
    String::from_utf8_lossy(&b[..len]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_zone_follows_daylight_saving_time() {
        let paris = Zone::named("Europe/Paris").unwrap();
        let winter = parse_w3c("t", "2026-01-15T10:00:00Z").unwrap();
        let summer = parse_w3c("t", "2026-07-15T10:00:00Z").unwrap();
        assert_eq!(format_w3c(winter, paris), "2026-01-15T11:00:00+01:00");
        assert_eq!(format_w3c(summer, paris), "2026-07-15T12:00:00+02:00");
        assert_eq!(format_w3c(winter, 420), "2026-01-15T17:00:00+07:00");
        assert_eq!(paris.describe(), "Europe/Paris");
        assert_eq!(Zone::Fixed(-330).describe(), "-05:30");
        assert!(Zone::named("Europe/Pariss").is_none());
        // 02:30 on the last Sunday of March does not exist in Paris: the earlier reading after the gap.
        let gap = NaiveDateTime::parse_from_str("2026-03-29T02:30", "%Y-%m-%dT%H:%M").unwrap();
        assert_eq!(paris.offset_minutes_of_local(gap), 120);
        let july = NaiveDateTime::parse_from_str("2026-07-01T09:00", "%Y-%m-%dT%H:%M").unwrap();
        assert_eq!(paris.offset_minutes_of_local(july), 120);
    }
    use proptest::prelude::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn accepts_the_forms_clients_send() {
        let cases = [
            ("2024-03-01T07:15:00Z", "2024-03-01T07:15:00Z"),
            ("2024-03-01T14:15:00+07:00", "2024-03-01T07:15:00Z"),
            ("2024-03-01T14:15:00 07:00", "2024-03-01T07:15:00Z"),
            ("2024-03-01T14:15:00+0700", "2024-03-01T07:15:00Z"),
            ("2024-03-01T02:15:00-05", "2024-03-01T07:15:00Z"),
            ("2024-03-01T07:15:00.123Z", "2024-03-01T07:15:00.123Z"),
            ("2024-03-01T07:15:00", "2024-03-01T07:15:00Z"),
            ("2024-03-01 07:15", "2024-03-01T07:15:00Z"),
            ("2024-03-01", "2024-03-01T00:00:00Z"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                parse_w3c("start_date", input).unwrap(),
                utc(expected),
                "{input}"
            );
        }
    }

    #[test]
    fn rejects_garbage_and_names_the_field() {
        for bad in [
            "",
            "yesterday",
            "+10000-01-01",
            "2024-3-01",
            "2024-13-01",
            "2024-02-30T00:00:00Z",
            "2024-03-01T25:00:00Z",
            "2024-03-01T07:15:00+99:00",
            "2024-03-01X07:15",
            "2024-03-01T07:15:00Zjunk",
            "２０２４-03-01",
        ] {
            let p = parse_w3c("end_date", bad).unwrap_err();
            assert_eq!(p.field, "end_date", "{bad}");
        }
    }

    #[test]
    fn output_is_seconds_with_zone() {
        let dt = utc("2024-05-02T01:14:03.987Z");
        assert_eq!(format_w3c(dt, 0), "2024-05-02T01:14:03Z");
        assert_eq!(format_w3c(dt, 420), "2024-05-02T08:14:03+07:00");
        assert_eq!(format_w3c(dt, -330), "2024-05-01T19:44:03-05:30");
    }

    proptest! {
        #[test]
        fn output_parses_back_to_the_same_second(secs in 0i64..4_102_444_800, offset in -720i32..=840) {
            let dt = DateTime::from_timestamp(secs, 0).unwrap();
            let text = format_w3c(dt, offset);
            prop_assert_eq!(parse_w3c("d", &text).unwrap(), dt);
        }

        #[test]
        fn matches_chrono_formatting(secs in -62_000_000_000i64..253_402_000_000, offset in -1439i32..=1439) {
            let dt = DateTime::from_timestamp(secs, 0).unwrap();
            let expected = match FixedOffset::east_opt(offset * 60) {
                Some(o) if offset != 0 => dt.with_timezone(&o).format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
                _ => dt.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            };
            prop_assert_eq!(format_w3c(dt, offset), expected);
        }

        #[test]
        fn never_panics(s in ".*") {
            let _ = parse_w3c("d", &s);
        }
    }
}
