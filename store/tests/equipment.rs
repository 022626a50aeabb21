//! The equipment registry, vehicles' home bases, and the manufacturer's
//! statistics checked against an independent fold over generated history;
//! on SQLite and PostgreSQL.

use std::collections::BTreeMap;

use switchboard_core::{AccountId, CompanyId};
use switchboard_store::stats::seed::{self, History, Sizes};
use switchboard_store::stats::{REPEAT_WINDOW_MICROS, Tallies};
use switchboard_store::testing::TestStore;
use switchboard_store::{
    Coordinates, EquipmentFields, EquipmentFilter, EquipmentStats, Error, StatsQuery, VehicleFields,
};
use time::macros::date;

fn company(id: &str) -> CompanyId {
    CompanyId::parse(id).expect("company id")
}

fn unit(model: &str, serial: &str, customer: Option<AccountId>) -> EquipmentFields {
    EquipmentFields {
        customer,
        model: model.into(),
        serial: serial.into(),
        manufacturer: Some("Vaillant".into()),
        site_address: Some("1 Main St, Springfield".into()),
        site_coordinates: Some(Coordinates { latitude: 48.137, longitude: 11.575 }),
        installed_on: Some(date!(2024 - 03 - 01)),
    }
}

async fn the_registry_keeps_equipment_per_company(test: TestStore) {
    let store = test.store;
    let (acme, globex) = (company("acme"), company("globex"));
    for id in [&acme, &globex] {
        store.create_company(id, id.as_str()).await.expect("company");
    }
    let owner = AccountId::new();
    let boiler = store.create_equipment(&acme, &unit("ecoTEC", "VT-1", Some(owner))).await.expect("create");
    let pump = store.create_equipment(&acme, &unit("Pump 9", "P-9", None)).await.expect("create");
    let read = store.equipment(&acme, boiler.id).await.expect("read").expect("present");
    assert_eq!(read, boiler, "every field round-trips");
    assert_eq!(store.equipment(&globex, boiler.id).await.expect("read"), None, "another company's is absent");

    // A serial is unique within a company, not across companies.
    match store.create_equipment(&acme, &unit("ecoTEC", "VT-1", None)).await {
        Err(Error::Refused { code: "serial_taken", .. }) => {}
        other => panic!("expected serial_taken, got {other:?}"),
    }
    let theirs = store.create_equipment(&globex, &unit("ecoTEC", "VT-1", None)).await.expect("same serial elsewhere");
    match store.update_equipment(&acme, pump.id, &unit("Pump 9", "VT-1", None)).await {
        Err(Error::Refused { code: "serial_taken", .. }) => {}
        other => panic!("expected serial_taken on update, got {other:?}"),
    }

    let ids = |records: Vec<switchboard_store::EquipmentRecord>| records.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let all = store.list_equipment(&acme, &EquipmentFilter::default()).await.expect("list");
    assert_eq!(ids(all), vec![boiler.id, pump.id]);
    let by_model = EquipmentFilter { model: Some("Pump 9".into()), ..EquipmentFilter::default() };
    assert_eq!(ids(store.list_equipment(&acme, &by_model).await.expect("list")), vec![pump.id]);
    let by_customer = EquipmentFilter { customer: Some(owner), ..EquipmentFilter::default() };
    assert_eq!(ids(store.list_equipment(&acme, &by_customer).await.expect("list")), vec![boiler.id]);
    let by_serial = EquipmentFilter { serial: Some("VT-1".into()), ..EquipmentFilter::default() };
    assert_eq!(ids(store.list_equipment(&globex, &by_serial).await.expect("list")), vec![theirs.id]);
    assert_eq!(store.equipment_by_serial(&acme, "VT-1").await.expect("by serial").map(|r| r.id), Some(boiler.id));

    let moved = EquipmentFields {
        site_coordinates: None,
        site_address: None,
        installed_on: None,
        ..unit("ecoTEC", "VT-1b", None)
    };
    let updated = store.update_equipment(&acme, boiler.id, &moved).await.expect("update").expect("present");
    assert_eq!((updated.serial.as_str(), updated.site_coordinates, updated.customer), ("VT-1b", None, None));
    assert_eq!(store.update_equipment(&globex, pump.id, &moved).await.expect("update"), None);
    assert!(!store.delete_equipment(&globex, pump.id).await.expect("delete"), "not globex's");
    assert!(store.delete_equipment(&acme, pump.id).await.expect("delete"));
    assert_eq!(store.equipment(&acme, pump.id).await.expect("read"), None);
}

async fn a_vehicle_keeps_its_home_base(test: TestStore) {
    let store = test.store;
    let acme = company("acme");
    store.create_company(&acme, "Acme").await.expect("company");
    let fields = VehicleFields {
        name: "Van 1".into(),
        plate: None,
        kind: None,
        available: true,
        home_base_address: Some("Depot, 5 Dock Rd".into()),
        home_base: Some(Coordinates { latitude: -33.86, longitude: 151.2 }),
    };
    let vehicle = store.create_vehicle(&acme, &fields).await.expect("create");
    let read = store.vehicle(&acme, vehicle.id).await.expect("read").expect("present");
    assert_eq!((read.home_base_address.as_deref(), read.home_base), (Some("Depot, 5 Dock Rd"), fields.home_base));
    let without = VehicleFields { home_base_address: None, home_base: None, ..fields };
    let updated = store.update_vehicle(&acme, vehicle.id, &without).await.expect("update").expect("present");
    assert_eq!((updated.home_base_address, updated.home_base), (None, None));
}

fn month(micros: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(micros.div_euclid(1_000_000)).expect("in range");
    format!("{:04}-{:02}", at.year(), u8::from(at.month()))
}

/// The statistics of `query`, folded straight over the generated history
/// (no SQL): what the store's answer must equal.
fn fold(history: &History, query: &StatsQuery) -> EquipmentStats {
    let tickets: Vec<_> = history
        .tickets
        .iter()
        .filter(|t| t.model == query.model && query.from_micros <= t.created_at && t.created_at < query.until_micros)
        .collect();
    let resolved_at =
        |t: &seed::SeedTicket| t.events.iter().filter(|e| e.action == "resolve").map(|e| e.at).next_back();
    let count = |t: &seed::SeedTicket, action: &str| t.events.iter().filter(|e| e.action == action).count() as i64;
    let mut tallies = Tallies {
        model: query.model.clone(),
        tickets: tickets.len() as i64,
        resolved: 0,
        interventions: 0,
        repair_micros_total: 0,
        labour_reports: 0,
        labour_minutes_total: 0,
        first_time_fixes: 0,
        repeat_failures: 0,
        monthly: BTreeMap::new(),
        fixes: Vec::new(),
        parts: BTreeMap::new(),
        units: BTreeMap::new(),
    };
    let mut fixes: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut per_serial: BTreeMap<&str, Vec<&seed::SeedTicket>> = BTreeMap::new();
    for ticket in &tickets {
        tallies.monthly.entry(month(ticket.created_at)).or_default().0 += 1;
        for start in ticket.events.iter().filter(|e| e.action == "start") {
            tallies.interventions += 1;
            tallies.monthly.entry(month(start.at)).or_default().1 += 1;
        }
        if let Some(at) = resolved_at(ticket) {
            tallies.resolved += 1;
            tallies.repair_micros_total += at - ticket.created_at;
            if count(ticket, "start") == 1 && count(ticket, "reopen") == 0 {
                tallies.first_time_fixes += 1;
            }
        }
        if let Some(report) = ticket.report.as_ref().filter(|report| report.state == "resolved") {
            if let Some(minutes) = report.time_spent_minutes {
                tallies.labour_reports += 1;
                tallies.labour_minutes_total += minutes;
            }
            *fixes.entry((report.malfunction.clone(), report.solution.clone())).or_default() += 1;
            for part in &report.parts {
                *tallies.parts.entry(part.clone()).or_default() += 1;
            }
        }
        if let Some(serial) = &ticket.serial {
            per_serial.entry(serial).or_default().push(ticket);
        }
    }
    tallies.fixes = fixes.into_iter().map(|((malfunction, solution), n)| (malfunction, solution, n)).collect();
    for (serial, mut failures) in per_serial {
        failures.sort_by_key(|t| (t.created_at, t.id));
        for pair in failures.windows(2) {
            if let Some(previous) = resolved_at(pair[0]) {
                let gap = pair[1].created_at - previous;
                if (0..=REPEAT_WINDOW_MICROS).contains(&gap) {
                    tallies.repeat_failures += 1;
                }
            }
        }
        let (first, last) = (failures[0].created_at, failures[failures.len() - 1].created_at);
        tallies.units.insert(serial.to_owned(), (failures.len() as i64, first, last));
    }
    tallies.into_stats()
}

async fn statistics_equal_a_fold_over_the_generated_history(test: TestStore) {
    let store = test.store;
    let (acme, globex) = (company("acme"), company("globex"));
    let sizes = Sizes { models: 4, units: 40, tickets: 2_000 };
    let history = seed::generate(7, sizes);
    assert_eq!(history, seed::generate(7, sizes), "the generator is deterministic");
    for id in [&acme, &globex] {
        store.create_company(id, id.as_str()).await.expect("company");
    }
    store.insert_history(&acme, &history).await.expect("seed acme");
    // Another company's tickets of the same models must not count.
    store.insert_history(&globex, &seed::generate(8, Sizes { tickets: 300, ..sizes })).await.expect("seed globex");

    let mut queries: Vec<StatsQuery> =
        (0..sizes.models).map(|model| StatsQuery::for_dates(format!("Model {model:02}"), None, None)).collect();
    queries.push(StatsQuery::for_dates("Model 01", Some(date!(2025 - 03 - 10)), Some(date!(2025 - 11 - 20))));
    for query in &queries {
        let expected = fold(&history, query);
        assert!(expected.tickets > 100 && expected.repeat_failures > 0 && !expected.parts.is_empty(), "{expected:?}");
        let computed = store.equipment_stats(&acme, query).await.expect("stats");
        assert_eq!(computed, expected, "{}", query.model);
    }
    let nothing = store.equipment_stats(&acme, &StatsQuery::for_dates("No Such", None, None)).await.expect("stats");
    assert_eq!((nothing.tickets, nothing.mean_time_to_repair_hours, nothing.monthly.len()), (0, None, 0));
}

switchboard_store::test_both_backends!(
    the_registry_keeps_equipment_per_company,
    a_vehicle_keeps_its_home_base,
    statistics_equal_a_fold_over_the_generated_history,
);
