//! Generators for property tests of the filter language (feature
//! `testing`): random queries and random tickets drawn from small pools of
//! values, so that conditions match some tickets and miss others.

use proptest::prelude::*;
use time::{Date, Duration, OffsetDateTime};
use uuid::Uuid;

use super::{Condition, Field, Kind, Op, Query, TimeValue, Value};
use crate::events::{Classification, Triage, UrgencySource};
use crate::ids::{AccountId, ServerId, TeamId, TicketId, VehicleId};
use crate::lifecycle::Status;
use crate::tenant::CompanyId;
use crate::ticket::{Channel, Equipment, Requester, Ticket, Urgency};

pub const COMPANIES: &[&str] = &["acme", "globex"];
const CATEGORIES: &[&str] = &["billing", "printer", "Printer", "network"];
const TAGS: &[&str] = &["printer", "vip", "urgent", "étage 3"];
const EMAILS: &[&str] = &["ana@example.com", "bo@Example.COM", "cy@other.org", "dee@sub.example.com"];
const DOMAINS: &[&str] = &["example.com", "EXAMPLE.com", "other.org", "sub.example.com"];
const NAMES: &[&str] = &["Ana", "Bo Bright", "ana"];
const MODELS: &[&str] = &["HP M404", "Xerox 5", "hp m404"];
const SERIALS: &[&str] = &["SN-1", "SN-2"];
/// Words of titles, descriptions and text conditions; the same word in
/// several spellings the normalisation folds together.
const WORDS: &[&str] =
    &["printer", "Printer's", "paper", "PAPER-jam", "jam", "on", "fire", "100%", "café", "CAFÉ", "naïve", "down"];
const CONFIDENCES: &[f32] = &[0.3, 0.6, 0.600_000_1, 0.95];
/// Microseconds since the epoch of 2026-01-01T00:00:00Z.
const START_MICROS: i64 = 1_767_225_600_000_000;
const SPAN_MICROS: i64 = 3 * 86_400_000_000;

fn pick(pool: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(pool).prop_map(str::to_owned)
}

/// A few fixed ids, so that id conditions sometimes match.
fn id_pool() -> impl Strategy<Value = Uuid> {
    (1u128..=3).prop_map(|n| Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | n))
}

fn words() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(WORDS), 1..6).prop_map(|words| words.join(" "))
}

fn instant() -> impl Strategy<Value = OffsetDateTime> {
    // Whole hours as well as odd microseconds, so that bounds are hit exactly.
    prop_oneof![(0i64..72).prop_map(|hours| hours * 3_600_000_000), 0..SPAN_MICROS].prop_map(|offset| {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(START_MICROS + offset) * 1_000).expect("in range")
    })
}

fn confidence() -> impl Strategy<Value = f32> {
    prop_oneof![prop::sample::select(CONFIDENCES), 0.0f32..=1.0]
}

fn value_of(field: Field) -> BoxedStrategy<Value> {
    match field.kind() {
        Kind::Status => prop::sample::select(Status::ALL.to_vec()).prop_map(Value::Status).boxed(),
        Kind::Urgency => prop::sample::select(Urgency::ALL.to_vec()).prop_map(Value::Urgency).boxed(),
        Kind::Channel => prop::sample::select(Channel::ALL.to_vec()).prop_map(Value::Channel).boxed(),
        Kind::Id => id_pool().prop_map(Value::Id).boxed(),
        Kind::Number => confidence().prop_map(|number| Value::Number(f64::from(number))).boxed(),
        Kind::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Kind::Text => words().prop_map(|words| Value::Text(crate::text::normalize(&words, 1_000))).boxed(),
        Kind::Time => prop_oneof![
            (0i64..4).prop_map(|day| TimeValue::Day(
                Date::from_calendar_date(2026, time::Month::January, 1).expect("a date") + Duration::days(day)
            )),
            instant().prop_map(TimeValue::Instant),
        ]
        .prop_map(Value::Time)
        .boxed(),
        Kind::Keyword => {
            let pool: &'static [&'static str] = match field {
                Field::Category => CATEGORIES,
                Field::Company => COMPANIES,
                Field::Tag => TAGS,
                Field::RequesterEmail => EMAILS,
                Field::RequesterDomain => DOMAINS,
                Field::RequesterName => NAMES,
                Field::EquipmentModel => MODELS,
                _ => SERIALS,
            };
            // Domains are lower-cased by the parser; build what it builds.
            let lower = field == Field::RequesterDomain;
            pick(pool).prop_map(move |text| Value::Keyword(if lower { text.to_lowercase() } else { text })).boxed()
        }
    }
}

fn condition() -> impl Strategy<Value = Condition> {
    let optional: Vec<Field> = Field::ALL.iter().copied().filter(|field| field.is_optional()).collect();
    prop_oneof![
        1 => prop::sample::select(optional).prop_map(Condition::Has),
        8 => prop::sample::select(Field::ALL.to_vec()).prop_flat_map(|field| {
            let ops = if field.kind().is_ordered() { vec![Op::Eq, Op::Lt, Op::Le, Op::Gt, Op::Ge] } else { vec![Op::Eq] };
            (prop::sample::select(ops), value_of(field))
                .prop_map(move |(op, value)| Condition::Compare { field, op, value })
        }),
    ]
}

/// Queries as the parser builds them: compound parts have two or more
/// parts, nesting is bounded.
pub fn arbitrary_query() -> impl Strategy<Value = Query> {
    let leaf = condition().prop_map(Query::Condition);
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Query::All),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Query::Any),
            inner.prop_map(|query| Query::Not(Box::new(query))),
        ]
    })
}

fn triage() -> impl Strategy<Value = Triage> {
    (
        prop::option::of(pick(CATEGORIES)),
        confidence(),
        confidence(),
        prop::sample::select(Urgency::ALL.to_vec()),
        any::<bool>(),
    )
        .prop_map(|(label, category_confidence, urgency_confidence, urgency, needs_human)| Triage {
            category: Classification {
                label,
                confidence: category_confidence,
                out_of_scope: false,
                model_version: "test".into(),
            },
            urgency_model: Classification {
                label: Some(urgency.as_str().into()),
                confidence: urgency_confidence,
                out_of_scope: false,
                model_version: "test".into(),
            },
            urgency,
            urgency_source: UrgencySource::Model,
            needs_human,
            triaged_at: OffsetDateTime::UNIX_EPOCH,
        })
}

/// A ticket as the pipeline could carry it; its id is random, the rest is
/// drawn from the pools the queries use.
pub fn arbitrary_ticket() -> impl Strategy<Value = Ticket> {
    let people = (
        pick(EMAILS),
        prop::option::of(pick(NAMES)),
        prop::option::of(id_pool()),
        prop::option::of((pick(MODELS), prop::option::of(pick(SERIALS)))),
    );
    let assignment = (
        prop::option::of(id_pool()),
        prop::option::of(id_pool()),
        prop::option::of(id_pool()),
        prop::option::of(id_pool()),
    );
    let labels = (
        prop::sample::select(Channel::ALL.to_vec()),
        prop::collection::vec(pick(TAGS), 0..3),
        prop::option::of(triage()),
        prop::option::of(pick(CATEGORIES)),
        prop::option::of(prop::sample::select(Urgency::ALL.to_vec())),
    );
    (any::<u128>(), pick(COMPANIES), words(), words(), instant(), people, assignment, labels).prop_map(
        |(id, company, title, description, created_at, people, assignment, labels)| {
            let (email, name, account, equipment) = people;
            let (assignee, team, server, vehicle) = assignment;
            let (channel, mut tags, triage, category, urgency) = labels;
            tags.sort();
            tags.dedup();
            Ticket {
                id: TicketId(Uuid::from_u128(id)),
                title,
                description,
                requester: Requester { email, name, account: account.map(AccountId) },
                company: CompanyId::parse(&company).expect("a valid company"),
                channel,
                tags,
                equipment: equipment.map(|(model, serial)| Equipment { model, serial }),
                created_at,
                status: Status::New,
                urgency,
                category,
                server: server.map(ServerId),
                team: team.map(TeamId),
                assignee: assignee.map(AccountId),
                vehicle: vehicle.map(VehicleId),
                triage,
                suggestions: None,
                answered_by_faq: None,
                attachments: Vec::new(),
            }
        },
    )
}
