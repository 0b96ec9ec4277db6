//! Routing: which department must act on a report. Pure once the area index is loaded: point-in-polygon over
//! the jurisdiction's areas (an R-tree of bounding boxes, then an exact test), then the rule precedence below.
//! The decision is returned as a `RoutingTrace` that says which rule won, which areas matched and which were
//! near, so that a wrong department can be explained and fixed.
//!
//! Precedence among the rules that match a report (most specific wins; explicit priority breaks ties):
//! 1. service: a rule naming the service code beats one naming its group, which beats one naming neither;
//! 2. area: a rule for an area the point lies in beats a rule for anywhere;
//! 3. between two area rules, the smaller area wins (a kelurahan beats its kota);
//! 4. then the higher `priority`;
//! 5. then the rule id, alphabetically, so that the outcome never depends on load order.

use geo::coordinate_position::{CoordPos, CoordinatePosition};
use geo::{Area as _, BoundingRect};
use geo::{Coord, MultiPolygon, Point};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A named polygon or multipolygon (WGS84 lon/lat).
#[derive(Debug, Clone)]
pub struct Area {
    pub code: String,
    pub name: String,
    pub layer: String,
    pub parent_code: Option<String>,
    pub geometry: MultiPolygon<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: String,
    pub service_code: Option<String>,
    pub service_group: Option<String>,
    pub area_code: Option<String>,
    pub department_code: String,
    pub priority: i32,
}

/// A jurisdiction's rules, indexed by area so that routing looks only at the rules of the areas that contain
/// the point (a national deployment may have one rule per commune).
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    anywhere: Vec<Rule>,
    by_area: HashMap<String, Vec<Rule>>,
}

impl RuleSet {
    pub fn new(rules: Vec<Rule>) -> Self {
        let mut set = RuleSet::default();
        for rule in rules {
            match &rule.area_code {
                Some(area) => set.by_area.entry(area.clone()).or_default().push(rule),
                None => set.anywhere.push(rule),
            }
        }
        set
    }
}

struct Indexed {
    area: Area,
    /// Planar size in square degrees: only compared between areas that contain the same point.
    size: f64,
}

/// The areas of one jurisdiction with an R-tree over their bounding boxes.
pub struct AreaIndex {
    areas: Vec<Indexed>,
    tree: RTree<GeomWithData<Rectangle<[f64; 2]>, usize>>,
    /// The finest layer's areas as places to pick from, made on first use.
    places: std::sync::OnceLock<Vec<Place>>,
}

/// An area someone can say a problem is in when they cannot give a point: a kelurahan, a commune.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub code: String,
    /// Its name, with its parent's when it has one ("Gambir, Gambir").
    pub label: String,
    /// A point inside it (not its centroid, which may lie outside a crescent-shaped area).
    pub lat: f64,
    pub long: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AreaRef {
    pub code: String,
    pub name: String,
    pub layer: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NearArea {
    pub code: String,
    pub name: String,
    pub layer: String,
    /// Distance from the point to the area's boundary, in metres.
    pub distance_m: f64,
}

/// Why a report went where it went. Stored with the report as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingTrace {
    pub department_code: Option<String>,
    pub rule_id: Option<String>,
    /// One sentence for people: which rule, and why it won.
    pub reason: String,
    /// Whether the report had coordinates; without them only rules for "anywhere" apply.
    pub located: bool,
    pub matched_areas: Vec<AreaRef>,
    /// Areas the point is not in but lies within the jurisdiction's `near_meters` of.
    pub near_areas: Vec<NearArea>,
    /// Things an operator should look at (a point in no area, an area outside its parent, …).
    pub warnings: Vec<String>,
    /// Who routed it: `intake`, or the operator for a re-route.
    pub by: String,
}

impl AreaIndex {
    pub fn new(areas: Vec<Area>) -> Self {
        let mut items = Vec::with_capacity(areas.len());
        let mut indexed = Vec::with_capacity(areas.len());
        for area in areas {
            if let Some(rect) = area.geometry.bounding_rect() {
                items.push(GeomWithData::new(
                    Rectangle::from_corners(
                        [rect.min().x, rect.min().y],
                        [rect.max().x, rect.max().y],
                    ),
                    indexed.len(),
                ));
            }
            let size = area.geometry.unsigned_area();
            indexed.push(Indexed { area, size });
        }
        Self {
            areas: indexed,
            tree: RTree::bulk_load(items),
            places: std::sync::OnceLock::new(),
        }
    }

    /// The areas of the finest level of the hierarchy (a layer whose areas have parents and are parents of
    /// none), sorted by label; without a hierarchy, the largest layer.
    pub fn places(&self) -> &[Place] {
        self.places.get_or_init(|| {
            use geo::InteriorPoint;
            use std::collections::{HashMap, HashSet};
            let by_code: HashMap<&str, &Area> = self
                .areas
                .iter()
                .map(|i| (i.area.code.as_str(), &i.area))
                .collect();
            let parents: HashSet<&str> = self
                .areas
                .iter()
                .filter_map(|i| i.area.parent_code.as_deref())
                .filter_map(|c| by_code.get(c).map(|a| a.layer.as_str()))
                .collect();
            let mut sizes: HashMap<&str, (bool, usize)> = HashMap::new();
            for i in &self.areas {
                let e = sizes.entry(i.area.layer.as_str()).or_default();
                e.0 |= i.area.parent_code.is_some();
                e.1 += 1;
            }
            let layer = sizes
                .iter()
                .max_by_key(|(layer, (child, n))| {
                    (
                        *child && !parents.contains(*layer),
                        *n,
                        std::cmp::Reverse(**layer),
                    )
                })
                .map(|(l, _)| l.to_string());
            let Some(layer) = layer else {
                return Vec::new();
            };
            let mut places: Vec<Place> = self
                .areas
                .iter()
                .filter(|i| i.area.layer == layer)
                .filter_map(|i| {
                    let p = i.area.geometry.interior_point()?;
                    let parent = i
                        .area
                        .parent_code
                        .as_deref()
                        .and_then(|c| by_code.get(c))
                        .map(|a| a.name.as_str());
                    Some(Place {
                        code: i.area.code.clone(),
                        label: match parent {
                            Some(p) => format!("{}, {p}", i.area.name),
                            None => i.area.name.clone(),
                        },
                        lat: p.y(),
                        long: p.x(),
                    })
                })
                .collect();
            places.sort_by(|a, b| (&a.label, &a.code).cmp(&(&b.label, &b.code)));
            places
        })
    }

    pub fn len(&self) -> usize {
        self.areas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.areas.is_empty()
    }

    /// Areas that contain the point, boundary included (a point on a shared edge is in both), smallest first.
    fn containing(&self, p: Point<f64>) -> Vec<&Indexed> {
        let mut out: Vec<&Indexed> = self
            .tree
            .locate_all_at_point(&[p.x(), p.y()])
            .map(|item| &self.areas[item.data])
            .filter(|a| covers(&a.area.geometry, p))
            .collect();
        out.sort_by(|a, b| {
            a.size
                .total_cmp(&b.size)
                .then_with(|| a.area.code.cmp(&b.area.code))
        });
        out
    }

    /// Areas not containing the point whose boundary is within `meters` of it, nearest first.
    fn near(&self, p: Point<f64>, meters: f64) -> Vec<(&Indexed, f64)> {
        if meters <= 0.0 {
            return Vec::new();
        }
        let dlat = meters / METERS_PER_DEG_LAT;
        let dlon = meters / (METERS_PER_DEG_LAT * p.y().to_radians().cos().max(0.01));
        let envelope =
            AABB::from_corners([p.x() - dlon, p.y() - dlat], [p.x() + dlon, p.y() + dlat]);
        let mut out: Vec<(&Indexed, f64)> = self
            .tree
            .locate_in_envelope_intersecting(&envelope)
            .map(|item| &self.areas[item.data])
            .filter(|a| !covers(&a.area.geometry, p))
            .map(|a| (a, boundary_distance_m(&a.area.geometry, p)))
            .filter(|(_, d)| *d <= meters)
            .collect();
        out.sort_by(|a, b| {
            a.1.total_cmp(&b.1)
                .then_with(|| a.0.area.code.cmp(&b.0.area.code))
        });
        out
    }
}

const METERS_PER_DEG_LAT: f64 = 111_320.0;

/// Whether the point lies in the area, its boundary included. The R-tree has already compared bounding boxes;
/// geo's `intersects` would compute the multipolygon's box again, a scan of every vertex, on every report.
fn covers(geometry: &MultiPolygon<f64>, p: Point<f64>) -> bool {
    geometry
        .0
        .iter()
        .any(|polygon| polygon.coordinate_position(&p.0) != CoordPos::Outside)
}

/// Distance in metres from a point to the nearest edge of a (multi)polygon, on a local equirectangular
/// projection around the point: exact enough for the few hundred metres a boundary warning is about.
fn boundary_distance_m(geometry: &MultiPolygon<f64>, p: Point<f64>) -> f64 {
    let kx = METERS_PER_DEG_LAT * p.y().to_radians().cos();
    let project = |c: &Coord<f64>| ((c.x - p.x()) * kx, (c.y - p.y()) * METERS_PER_DEG_LAT);
    let mut best = f64::INFINITY;
    for polygon in &geometry.0 {
        for ring in std::iter::once(polygon.exterior()).chain(polygon.interiors()) {
            for segment in ring.0.windows(2) {
                let (a, b) = (project(&segment[0]), project(&segment[1]));
                // A segment wholly on one side of the square of half-width `best` cannot be nearer: most
                // segments of a large area are skipped without the division and the square root.
                if (a.0 > best && b.0 > best)
                    || (a.0 < -best && b.0 < -best)
                    || (a.1 > best && b.1 > best)
                    || (a.1 < -best && b.1 < -best)
                {
                    continue;
                }
                best = best.min(origin_to_segment(a, b));
            }
        }
    }
    best
}

fn origin_to_segment(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 {
        0.0
    } else {
        (-(a.0 * dx + a.1 * dy) / len2).clamp(0.0, 1.0)
    };
    let (x, y) = (a.0 + t * dx, a.1 + t * dy);
    (x * x + y * y).sqrt()
}

/// A matching rule with its service rank and, for an area rule, the area's size and the area.
type Candidate<'a> = (&'a Rule, u8, Option<(f64, &'a Indexed)>);

/// What is being routed.
pub struct Subject<'a> {
    pub service_code: &'a str,
    pub service_group: Option<&'a str>,
    /// (lon, lat)
    pub location: Option<(f64, f64)>,
}

/// Picks the department for a report. `near_meters` is the jurisdiction's boundary buffer.
pub fn route(
    index: &AreaIndex,
    rules: &RuleSet,
    subject: &Subject,
    near_meters: f64,
    by: &str,
) -> RoutingTrace {
    let point = subject.location.map(|(lon, lat)| Point::new(lon, lat));
    let containing = point.map(|p| index.containing(p)).unwrap_or_default();
    let near = point
        .map(|p| index.near(p, near_meters))
        .unwrap_or_default();
    let mut warnings = Vec::new();
    if point.is_some() && containing.is_empty() && !index.is_empty() {
        warnings.push("the location is outside every area of the jurisdiction".to_string());
    }
    // An area whose parent (from its layer's parent property) is not among the areas holding the point.
    for a in &containing {
        if let Some(parent) = &a.area.parent_code {
            let parent_known = index.areas.iter().any(|x| &x.area.code == parent);
            if parent_known && !containing.iter().any(|c| &c.area.code == parent) {
                let holders: Vec<String> = containing
                    .iter()
                    .filter(|c| c.area.code != a.area.code)
                    .map(|c| format!("{} {}", c.area.layer, c.area.name))
                    .collect();
                warnings.push(format!(
                    "{} {} ({}) belongs to {} by its data, but the point lies in {}",
                    a.area.layer,
                    a.area.name,
                    a.area.code,
                    parent,
                    if holders.is_empty() {
                        "no other area".to_string()
                    } else {
                        holders.join(", ")
                    }
                ));
            }
        }
    }

    let service_rank = |r: &Rule| -> Option<u8> {
        match (&r.service_code, &r.service_group) {
            (Some(code), _) if code == subject.service_code => Some(2),
            (Some(_), _) => None,
            (None, Some(group)) if Some(group.as_str()) == subject.service_group => Some(1),
            (None, Some(_)) => None,
            (None, None) => Some(0),
        }
    };
    // (rule, service rank, area size: None for "anywhere")
    let mut candidates: Vec<Candidate> = Vec::new();
    for rule in &rules.anywhere {
        if let Some(rank) = service_rank(rule) {
            candidates.push((rule, rank, None));
        }
    }
    for a in &containing {
        for rule in rules.by_area.get(&a.area.code).into_iter().flatten() {
            if let Some(rank) = service_rank(rule) {
                candidates.push((rule, rank, Some((a.size, a))));
            }
        }
    }
    candidates.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then_with(|| b.2.is_some().cmp(&a.2.is_some()))
            .then_with(|| match (a.2, b.2) {
                (Some((sa, _)), Some((sb, _))) => sa.total_cmp(&sb),
                _ => std::cmp::Ordering::Equal,
            })
            .then_with(|| b.0.priority.cmp(&a.0.priority))
            .then_with(|| a.0.id.cmp(&b.0.id))
    });

    let (department_code, rule_id, reason) = match candidates.first() {
        Some((rule, rank, area)) => {
            let what = match rank {
                2 => format!("service {}", subject.service_code),
                1 => format!("group {}", subject.service_group.unwrap_or_default()),
                _ => "any service".to_string(),
            };
            let place = match area {
                Some((_, a)) => format!("in {} {} ({})", a.area.layer, a.area.name, a.area.code),
                None => "anywhere".to_string(),
            };
            let others = candidates.len() - 1;
            let tail = if others > 0 {
                format!("; {others} less specific rule(s) also matched")
            } else {
                String::new()
            };
            (
                Some(rule.department_code.clone()),
                Some(rule.id.clone()),
                format!("rule {}: {what} {place}{tail}", rule.id),
            )
        }
        None => {
            warnings.push(
                "no routing rule matched: the report is not sent to any department".to_string(),
            );
            (None, None, "no rule matched".to_string())
        }
    };
    RoutingTrace {
        department_code,
        rule_id,
        reason,
        located: point.is_some(),
        matched_areas: containing
            .iter()
            .map(|a| AreaRef {
                code: a.area.code.clone(),
                name: a.area.name.clone(),
                layer: a.area.layer.clone(),
            })
            .collect(),
        near_areas: near
            .iter()
            .map(|(a, d)| NearArea {
                code: a.area.code.clone(),
                name: a.area.name.clone(),
                layer: a.area.layer.clone(),
                distance_m: (d * 10.0).round() / 10.0,
            })
            .collect(),
        warnings,
        by: by.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::polygon;

    fn square(code: &str, layer: &str, x0: f64, y0: f64, size: f64, parent: Option<&str>) -> Area {
        Area {
            code: code.into(),
            name: code.to_lowercase(),
            layer: layer.into(),
            parent_code: parent.map(Into::into),
            geometry: MultiPolygon(vec![
                polygon![(x: x0, y: y0), (x: x0 + size, y: y0), (x: x0 + size, y: y0 + size), (x: x0, y: y0 + size), (x: x0, y: y0)],
            ]),
        }
    }

    fn rule(
        id: &str,
        service: Option<&str>,
        group: Option<&str>,
        area: Option<&str>,
        dept: &str,
        priority: i32,
    ) -> Rule {
        Rule {
            id: id.into(),
            service_code: service.map(Into::into),
            service_group: group.map(Into::into),
            area_code: area.map(Into::into),
            department_code: dept.into(),
            priority,
        }
    }

    /// A city (0..10), a district inside it (0..5), a village inside the district (0..1), an overlapping flood
    /// zone (4..6) and a neighbour city (10..20) sharing the edge x = 10.
    fn index() -> AreaIndex {
        AreaIndex::new(vec![
            square("CITY", "kota", 0.0, 0.0, 10.0, None),
            square("DIST", "kecamatan", 0.0, 0.0, 5.0, Some("CITY")),
            square("VILL", "kelurahan", 0.0, 0.0, 1.0, Some("DIST")),
            square("ZONE", "flood-zone", 4.0, 4.0, 2.0, None),
            square("NEXT", "kota", 10.0, 0.0, 10.0, None),
        ])
    }

    fn rules() -> Vec<Rule> {
        vec![
            rule("catch-all", None, None, None, "GENERAL", 0),
            rule("water-group", None, Some("Water"), None, "WATER", 0),
            rule(
                "flood-city",
                Some("FLOOD"),
                None,
                Some("CITY"),
                "CITY-WATER",
                0,
            ),
            rule(
                "flood-dist",
                Some("FLOOD"),
                None,
                Some("DIST"),
                "DIST-WATER",
                0,
            ),
            rule(
                "flood-zone",
                Some("FLOOD"),
                None,
                Some("ZONE"),
                "ZONE-PUMPS",
                5,
            ),
            rule(
                "flood-next",
                Some("FLOOD"),
                None,
                Some("NEXT"),
                "NEXT-WATER",
                0,
            ),
            rule("flood-default", Some("FLOOD"), None, None, "WATER-HQ", 0),
            rule("light", Some("LIGHT"), None, None, "LIGHTING", 0),
        ]
    }

    fn go(service: &str, group: Option<&str>, at: Option<(f64, f64)>) -> RoutingTrace {
        route(
            &index(),
            &RuleSet::new(rules()),
            &Subject {
                service_code: service,
                service_group: group,
                location: at,
            },
            1000.0,
            "intake",
        )
    }

    #[test]
    fn routing_matrix() {
        type Case<'a> = (
            &'a str,
            Option<&'a str>,
            Option<(f64, f64)>,
            Option<&'a str>,
        );
        let cases: [Case; 10] = [
            ("FLOOD", Some("Water"), Some((0.5, 0.5)), Some("DIST-WATER")), // nested: the smallest area with a rule
            ("FLOOD", Some("Water"), Some((7.0, 7.0)), Some("CITY-WATER")),
            ("FLOOD", Some("Water"), Some((4.5, 4.5)), Some("ZONE-PUMPS")), // in district and zone: the zone is smaller
            ("FLOOD", Some("Water"), Some((5.5, 5.5)), Some("ZONE-PUMPS")), // overlapping zone, smaller than the city
            (
                "FLOOD",
                Some("Water"),
                Some((15.0, 5.0)),
                Some("NEXT-WATER"),
            ),
            ("FLOOD", Some("Water"), Some((50.0, 50.0)), Some("WATER-HQ")), // outside every area
            ("FLOOD", Some("Water"), None, Some("WATER-HQ")), // address only: the service default
            ("DRAIN", Some("Water"), Some((0.5, 0.5)), Some("WATER")), // group beats catch-all
            ("LIGHT", None, Some((0.5, 0.5)), Some("LIGHTING")),
            ("PARK", None, Some((0.5, 0.5)), Some("GENERAL")),
        ];
        for (service, group, at, want) in cases {
            let t = go(service, group, at);
            assert_eq!(
                t.department_code.as_deref(),
                want,
                "{service} at {at:?}: {}",
                t.reason
            );
        }
    }

    #[test]
    fn a_point_on_a_shared_boundary_is_in_both_and_routing_is_deterministic() {
        let t = go("FLOOD", None, Some((10.0, 5.0)));
        let codes: Vec<&str> = t.matched_areas.iter().map(|a| a.code.as_str()).collect();
        assert!(
            codes.contains(&"CITY") && codes.contains(&"NEXT"),
            "{codes:?}"
        );
        // Both kota are the same size and equally specific: the rule id decides, every time.
        assert_eq!(t.department_code.as_deref(), Some("CITY-WATER"));
        for _ in 0..5 {
            assert_eq!(go("FLOOD", None, Some((10.0, 5.0))), t);
        }
    }

    #[test]
    fn priority_breaks_ties_between_equally_specific_rules() {
        let mut r = rules();
        r.push(rule(
            "flood-city-2",
            Some("FLOOD"),
            None,
            Some("CITY"),
            "OTHER",
            9,
        ));
        let t = route(
            &index(),
            &RuleSet::new(r),
            &Subject {
                service_code: "FLOOD",
                service_group: None,
                location: Some((7.0, 7.0)),
            },
            0.0,
            "intake",
        );
        assert_eq!(t.department_code.as_deref(), Some("OTHER"));
    }

    #[test]
    fn near_areas_are_listed_with_their_distance() {
        // 0.005° east of the x = 10 edge at latitude 5: about 554 m.
        let t = go("FLOOD", None, Some((9.995, 5.0)));
        let near: Vec<(&str, f64)> = t
            .near_areas
            .iter()
            .map(|n| (n.code.as_str(), n.distance_m))
            .collect();
        assert_eq!(near.len(), 1, "{near:?}");
        assert_eq!(near[0].0, "NEXT");
        assert!((near[0].1 - 554.5).abs() < 5.0, "{near:?}");
        assert!(
            go("FLOOD", None, Some((9.9, 5.0))).near_areas.is_empty(),
            "11 km away is not near"
        );
    }

    #[test]
    fn warnings_make_odd_cases_visible() {
        let t = go("FLOOD", None, Some((50.0, 50.0)));
        assert!(t.warnings.iter().any(|w| w.contains("outside every area")));
        let odd = AreaIndex::new(vec![
            square("A", "kecamatan", 0.0, 0.0, 5.0, None),
            square("B", "kecamatan", 5.0, 0.0, 5.0, None),
            square("V", "kelurahan", 6.0, 1.0, 1.0, Some("A")),
        ]);
        let t = route(
            &odd,
            &RuleSet::new(rules()),
            &Subject {
                service_code: "PARK",
                service_group: None,
                location: Some((6.5, 1.5)),
            },
            0.0,
            "intake",
        );
        assert!(
            t.warnings
                .iter()
                .any(|w| w.contains("kelurahan v (V) belongs to A") && w.contains("kecamatan b")),
            "{:?}",
            t.warnings
        );
        let none = route(
            &index(),
            &RuleSet::default(),
            &Subject {
                service_code: "X",
                service_group: None,
                location: None,
            },
            0.0,
            "intake",
        );
        assert_eq!(none.department_code, None);
        assert!(none.warnings.iter().any(|w| w.contains("no routing rule")));
    }
}
