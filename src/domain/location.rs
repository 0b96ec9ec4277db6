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

/// Metres in a degree of latitude (and of longitude at the equator), near enough for a privacy grid.
/// Metres in a degree of latitude (and of longitude at the equator).
pub const METRES_PER_DEGREE: f64 = 111_320.0;

/// The public stand-in for a point: the centre of the cell, about `metres` on each side, of a fixed grid
/// that holds it. Snapped, never jittered: every read shows the same point, so averaging many reads learns
/// nothing, and every report in one cell shows the same point. Rows of cells are `metres` high; each row's
/// cells are `metres` wide at its centre latitude, so cells keep their size away from the equator.
pub fn coarsen(lat: f64, long: f64, metres: f64) -> (f64, f64) {
    let lat_step = metres / METRES_PER_DEGREE;
    let lat_c = (((lat / lat_step).floor() + 0.5) * lat_step).clamp(-90.0, 90.0);
    let shrink = lat_c.to_radians().cos().max(0.01);
    let long_step = (metres / (METRES_PER_DEGREE * shrink)).min(360.0);
    let long_c =
        ((((long + 180.0) / long_step).floor() + 0.5) * long_step - 180.0).clamp(-180.0, 180.0);
    (round6(lat_c), round6(long_c))
}

/// Six decimals (about 10 cm), as stored points are published.
fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
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

    /// Metres between two points (haversine), for checking the grid.
    fn metres(a: (f64, f64), b: (f64, f64)) -> f64 {
        let (la1, la2) = (a.0.to_radians(), b.0.to_radians());
        let (dla, dlo) = ((b.0 - a.0).to_radians(), (b.1 - a.1).to_radians());
        let h = (dla / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlo / 2.0).sin().powi(2);
        2.0 * 6_371_000.0 * h.sqrt().asin()
    }

    #[test]
    fn a_point_near_monas_snaps_to_its_cell_centre() {
        let exact = (-6.175392, 106.827153);
        let public = coarsen(exact.0, exact.1, 100.0);
        assert_ne!(public, exact);
        assert!(metres(exact, public) <= 71.0, "{public:?}");
        // Ten metres away, in the same cell: the same public point.
        assert_eq!(coarsen(-6.175392, 106.827053, 100.0), public);
        // Two cells north: another point, 200 m away.
        let north = coarsen(exact.0 + 0.0018, exact.1, 100.0);
        assert!((metres(public, north) - 200.0).abs() < 2.0, "{north:?}");
    }

    proptest! {
        #[test]
        fn the_public_point_is_stable_near_and_in_range(
            lat in -89.0f64..89.0, long in -180.0f64..180.0, m in 1.0f64..10_000.0,
        ) {
            let public = coarsen(lat, long, m);
            prop_assert!((-90.0..=90.0).contains(&public.0) && (-180.0..=180.0).contains(&public.1));
            // Snapping the public point again gives itself: every read of any report in the cell agrees.
            prop_assert_eq!(coarsen(public.0, public.1, m), public);
            // Within the cell's half-diagonal (with room for the longitude's curvature across a row).
            if lat.abs() < 80.0 && (-179.0..179.0).contains(&long) {
                prop_assert!(metres((lat, long), public) <= m * 0.75 + 1.0, "{:?} for {} m", public, m);
            }
        }
    }
}
