//! Timestamps read without a format string. SQLite keeps them as text in the one form diesel writes
//! (`YYYY-MM-DD HH:MM:SS[.fffffffff]`), and diesel reads them back by trying chrono patterns in turn, which
//! was ≈ 10 % of an uncached page of reports. `Stamp` reads that form directly and leaves anything else
//! (another separator, a Julian day number) to diesel's own reader. On PostgreSQL it is diesel's reader.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::pg::Pg;
use diesel::sql_types::Timestamp;
use diesel::sqlite::Sqlite;

/// A `Timestamp` column as read for public answers: `#[diesel(deserialize_as = Stamp)]` on a
/// `NaiveDateTime` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromSqlRow)]
pub struct Stamp(pub NaiveDateTime);

impl From<Stamp> for NaiveDateTime {
    fn from(s: Stamp) -> Self {
        s.0
    }
}

impl FromSql<Timestamp, Sqlite> for Stamp {
    fn from_sql(mut value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        if let Some(t) = parse(value.read_text()) {
            return Ok(Stamp(t));
        }
        <NaiveDateTime as FromSql<Timestamp, Sqlite>>::from_sql(value).map(Stamp)
    }
}

impl FromSql<Timestamp, Pg> for Stamp {
    fn from_sql(value: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(Stamp)
    }
}

/// `YYYY-MM-DD HH:MM:SS` with an optional fraction of one to nine digits; `None` for anything else.
fn parse(s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let digits = |d: &[u8]| {
        d.iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let date = NaiveDate::from_ymd_opt(
        digits(&b[0..4])? as i32,
        digits(&b[5..7])?,
        digits(&b[8..10])?,
    )?;
    let nanos = match &b[19..] {
        [] => 0,
        [b'.', frac @ ..] if (1..=9).contains(&frac.len()) => {
            digits(frac)? * 10u32.pow(9 - frac.len() as u32)
        }
        _ => return None,
    };
    date.and_hms_nano_opt(
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
        nanos,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_what_diesel_writes_and_nothing_else() {
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap();
        assert_eq!(parse("2026-12-01 15:32:41"), Some(t("2026-12-01 15:32:41")));
        assert_eq!(
            parse("2026-12-01 15:32:41.5"),
            Some(t("2026-12-01 15:32:41.500"))
        );
        assert_eq!(
            parse("2026-12-01 15:32:41.123456789"),
            Some(t("2026-12-01 15:32:41.123456789"))
        );
        for other in [
            "2026-12-01T15:32:41",
            "2026-12-01 15:32:41.",
            "2026-12-01 15:32:41.1234567890",
            "2026-12-01 15:32:41Z",
            "2026-02-30 15:32:41",
            "2026-12-01 24:00:00",
            "2026-12-01 15:32:60",
            "+026-12-01 15:32:41",
            "2461010.5",
            "",
        ] {
            assert_eq!(parse(other), None, "{other}");
        }
    }

    proptest! {
        #[test]
        fn agrees_with_chrono_on_every_timestamp(secs in -62_135_596_800i64..253_402_300_799, nanos in 0u32..1_000_000_000) {
            let t = chrono::DateTime::from_timestamp(secs, nanos).unwrap().naive_utc();
            // The pattern diesel writes SQLite timestamps with.
            let text = t.format("%F %T%.f").to_string();
            prop_assert_eq!(parse(&text), Some(t));
        }
    }
}
