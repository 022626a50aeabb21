//! Benchmarks: deciding one ticket's route under a ruleset of 100 rules (one
//! thread), with and without building the trace.
//!
//! ```sh
//! cargo bench -p switchboard-core --bench routing
//! ```
//!
//! The rules are what admins write: tags, urgency, category, confidences,
//! the requester's domain, phrases of the text, combined with `AND`, `OR`
//! and `-`. The ticket is a realistic one (a 600-character description)
//! that only the last rule routes, so every condition is evaluated.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use switchboard_core::filter::{Query, Subject};
use switchboard_core::ids::TeamId;
use switchboard_core::routing::{Rule, RuleAction, Ruleset, TeamCategories, decide};
use switchboard_core::ticket::{NewRequester, NewTicket};
use switchboard_core::{Channel, TicketId, Urgency};

const CONDITIONS: &[&str] = &[
    "tag:vip urgency>=high",
    "category:billing OR category:refund",
    "\"paper jam\" -tag:resolved",
    "requester.domain:bigcustomer.example confidence.category>=0.8",
    "(outage OR down) urgency:critical",
    "equipment.model:\"HP M404\" -has:assignee",
    "channel:email unsure:true",
    "status:new created>=2026-06-01 tag:printer tag:floor3",
    "-company:default confidence.urgency<0.5",
    "\"smoke coming\" OR \"burning smell\" OR fire",
];

fn ruleset() -> Ruleset {
    let mut rules: Vec<Rule> = (0..99)
        .map(|index| Rule {
            name: format!("rule {index}"),
            enabled: true,
            when: Query::parse(&format!("{} tag:t{index}", CONDITIONS[index % CONDITIONS.len()])).expect("parses"),
            then: vec![RuleAction::RouteToTeam { team: TeamId::new() }],
            stop: false,
        })
        .collect();
    rules.push(Rule {
        name: "everything else".into(),
        enabled: true,
        when: Query::parse("").expect("parses"),
        then: vec![
            RuleAction::RouteToTeam { team: TeamId::new() },
            RuleAction::SetUrgency { urgency: Urgency::Normal },
        ],
        stop: true,
    });
    Ruleset { rules }
}

fn routing(criterion: &mut Criterion) {
    let description = "The printer on the third floor keeps jamming whenever we print double-sided. \
        We cleared the tray twice, replaced the toner and restarted it, but after ten pages the paper \
        crumples again and the display shows error 13.2. Several people need to print contracts before \
        the end of the day, so this is getting urgent. The model is an HP M404 bought last year; the \
        serial is on the back. Could someone come and look at it, or tell us what else to try? We also \
        noticed a faint smell near the fuser, not smoke, just warm plastic. Thanks, Ana from accounting.";
    let mut ticket = NewTicket {
        title: Some("Printer keeps jamming on the third floor".into()),
        description: Some(description.into()),
        requester: Some(NewRequester { email: Some("ana@smallcustomer.example".into()), name: Some("Ana".into()) }),
        tags: Some(vec!["printer".into(), "floor3".into()]),
        ..NewTicket::default()
    }
    .validate(TicketId::new(), Channel::Email, time::OffsetDateTime::now_utc())
    .expect("valid");
    ticket.category = Some("hardware".into());
    ticket.urgency = Some(Urgency::Normal);
    let ruleset = ruleset();
    let teams = vec![TeamCategories { team: TeamId::new(), name: "desk".into(), categories: vec!["hardware".into()] }];
    let mut group = criterion.benchmark_group("routing");
    group.throughput(Throughput::Elements(1));
    group.bench_function("decide with trace, 100 rules", |bench| {
        bench.iter(|| black_box(decide(black_box(&ruleset), &teams, black_box(&ticket))))
    });
    group.bench_function("conditions only, 100 rules", |bench| {
        bench.iter(|| {
            let subject = Subject::new(black_box(&ticket));
            black_box(ruleset.rules.iter().filter(|rule| rule.when.matches(&subject)).count())
        })
    });
    group.bench_function("normalise the ticket's text", |bench| {
        bench.iter(|| {
            black_box(switchboard_core::filter::searchable_text(
                black_box(&ticket.title),
                black_box(&ticket.description),
            ))
        })
    });
    group.finish();
}

criterion_group!(benches, routing);
criterion_main!(benches);
