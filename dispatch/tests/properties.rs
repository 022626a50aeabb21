//! Properties of the pure parts: distances, validation, the parsers on
//! hostile input, and the ranking rule.

use proptest::prelude::*;
use switchboard_dispatch::geo::EARTH_RADIUS_M;
use switchboard_dispatch::{
    Coordinates, Job, Offline, Origin, Person, Role, Source, TravelEstimate, google, osrm, rank_people,
};

fn coordinates() -> impl Strategy<Value = Coordinates> {
    (-90.0..=90.0_f64, -180.0..=180.0_f64).prop_map(|(lat, lon)| Coordinates { lat, lon })
}

fn person() -> impl Strategy<Value = (Person, Option<(Origin, TravelEstimate)>)> {
    let skills = prop::collection::vec(prop::sample::select(vec!["X300", "hvac", "plumbing"]), 0..3);
    let travel = prop::option::of((0..100_000_u32, 0..20_000_u32));
    ("[a-z]{1,6}", skills, 0..10_u32, any::<bool>(), travel).prop_map(
        |(id, skills, open_assignments, available, travel)| {
            let person = Person {
                id,
                name: String::new(),
                role: Role::Engineer,
                skills: skills.into_iter().map(str::to_owned).collect(),
                open_assignments,
                current_site: None,
                home_base: None,
                available,
            };
            let travel = travel.map(|(distance_m, duration_s)| {
                (Origin::HomeBase, TravelEstimate { distance_m, duration_s, source: Source::Offline, fallback: None })
            });
            (person, travel)
        },
    )
}

proptest! {
    #[test]
    fn great_circle_is_a_bounded_symmetric_distance(a in coordinates(), b in coordinates(), c in coordinates()) {
        let ab = a.great_circle_m(&b);
        prop_assert!((0.0..=std::f64::consts::PI * EARTH_RADIUS_M + 1e-6).contains(&ab));
        prop_assert!((ab - b.great_circle_m(&a)).abs() < 1e-6);
        prop_assert!(a.great_circle_m(&a) < 1e-6);
        prop_assert!(ab <= a.great_circle_m(&c) + c.great_circle_m(&b) + 1e-3, "triangle inequality");
    }

    #[test]
    fn offline_estimates_keep_the_order_of_great_circle_distances(
        site in coordinates(), a in coordinates(), b in coordinates(),
    ) {
        let offline = Offline::default();
        let (to_a, to_b) = (offline.estimate_one(&a, &site), offline.estimate_one(&b, &site));
        if a.great_circle_m(&site) <= b.great_circle_m(&site) {
            prop_assert!(to_a.distance_m <= to_b.distance_m && to_a.duration_s <= to_b.duration_s);
        } else {
            prop_assert!(to_a.distance_m >= to_b.distance_m && to_a.duration_s >= to_b.duration_s);
        }
    }

    #[test]
    fn validation_accepts_exactly_the_ranges(lat in any::<f64>(), lon in any::<f64>()) {
        let valid = (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon);
        prop_assert_eq!(Coordinates::new(lat, lon).is_ok(), valid);
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..512), count in 0..30_usize) {
        let _ = google::parse_matrix(&body, count);
        let _ = osrm::parse_table(200, &body, count);
        let _ = osrm::parse_table(500, &body, count);
    }

    #[test]
    fn parsers_never_panic_on_truncated_recordings(cut in 0..2_000_usize, count in 0..5_usize) {
        for (name, google_answer) in [("google/ok.json", true), ("google/not_found_mixed.json", true), ("osrm/ok.json", false)] {
            let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
            let body = std::fs::read(&path).expect("fixture");
            let body = &body[..cut.min(body.len())];
            if google_answer {
                let _ = google::parse_matrix(body, count);
            } else {
                let _ = osrm::parse_table(200, body, count);
            }
        }
    }

    #[test]
    fn ranking_is_a_permutation_in_the_documented_order(people in prop::collection::vec(person(), 0..12)) {
        let job = Job {
            site: Coordinates { lat: 0.0, lon: 0.0 },
            equipment_model: Some("X300".into()),
            equipment_category: Some("HVAC".into()),
        };
        let mut ids_in: Vec<String> = people.iter().map(|(person, _)| person.id.clone()).collect();
        let ranked = rank_people(&job, people);
        let mut ids_out: Vec<String> = ranked.iter().map(|option| option.id.clone()).collect();
        ids_in.sort();
        ids_out.sort();
        prop_assert_eq!(ids_in, ids_out);
        // (unavailable, unlocated, score) never decreases down the list.
        let keys: Vec<(bool, bool, f64)> = ranked
            .iter()
            .map(|option| (!option.available, option.score.is_none(), option.score.unwrap_or(0.0)))
            .collect();
        for pair in keys.windows(2) {
            let (before, after) = (pair[0], pair[1]);
            prop_assert!(
                (before.0, before.1) < (after.0, after.1)
                    || ((before.0, before.1) == (after.0, after.1) && before.2 <= after.2),
                "{:?} before {:?}", before, after
            );
        }
    }
}
