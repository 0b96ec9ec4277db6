//! WGS84 coordinates as clients send them.

use super::Problem;

/// A WGS84 point; holding one proves the finiteness and range checks ran.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatLong {
    lat: f64,
    long: f64,
}

fn finite(field: &str, raw: &str) -> Result<f64, Problem> {
    let v: f64 = raw.trim().parse().map_err(|_| {
        Problem::new(
            field,
            format!("{field} must be a decimal number of degrees"),
        )
    })?;
    if !v.is_finite() {
        return Err(Problem::new(
            field,
            format!("{field} must be a finite number"),
        ));
    }
    Ok(v)
}

impl LatLong {
    /// Both values are required together: the spec's location is `lat` and `long`, never one of them.
    pub fn parse(lat: &str, long: &str) -> Result<Self, Vec<Problem>> {
        let mut problems = Vec::new();
        let lat = finite("lat", lat).and_then(|v| {
            if (-90.0..=90.0).contains(&v) {
                Ok(v)
            } else {
                Err(Problem::new("lat", "lat must be within -90 and 90"))
            }
        });
        let long = finite("long", long).and_then(|v| {
            if (-180.0..=180.0).contains(&v) {
                Ok(v)
            } else {
                Err(Problem::new("long", "long must be within -180 and 180"))
            }
        });
        match (lat, long) {
            (Ok(lat), Ok(long)) => Ok(Self { lat, long }),
            (lat, long) => {
                problems.extend(lat.err());
                problems.extend(long.err());
                Err(problems)
            }
        }
    }

    pub fn lat(&self) -> f64 {
        self.lat
    }

    pub fn long(&self) -> f64 {
        self.long
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_nan_inf_and_ranges() {
        for (lat, long) in [
            ("NaN", "1"),
            ("1", "inf"),
            ("-inf", "0"),
            ("90.0001", "0"),
            ("0", "-180.5"),
            ("", "1"),
            ("1e999", "0"),
        ] {
            assert!(LatLong::parse(lat, long).is_err(), "{lat},{long}");
        }
        let p = LatLong::parse(" -6.2088", "106.8456 ").unwrap();
        assert_eq!((p.lat(), p.long()), (-6.2088, 106.8456));
    }

    #[test]
    fn both_bad_values_are_reported() {
        let problems = LatLong::parse("x", "999").unwrap_err();
        let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["lat", "long"]);
    }

    proptest! {
        #[test]
        fn accepts_exactly_the_finite_in_range_numbers(lat in proptest::num::f64::ANY, long in proptest::num::f64::ANY) {
            let parsed = LatLong::parse(&lat.to_string(), &long.to_string());
            let valid = lat.is_finite() && long.is_finite() && (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&long);
            prop_assert_eq!(parsed.is_ok(), valid);
            if let Ok(p) = parsed {
                prop_assert_eq!(p.lat(), lat);
                prop_assert_eq!(p.long(), long);
            }
        }

        #[test]
        fn never_panics_on_any_text(lat in ".*", long in ".*") {
            let _ = LatLong::parse(&lat, &long);
        }
    }
}
