use proptest::prelude::*;

use super::testing::{arbitrary_query, arbitrary_ticket};
use super::*;
use crate::ids::TicketId;
use crate::ticket::{NewRequester, NewTicket, Ticket};

fn query(text: &str) -> Query {
    Query::parse(text).unwrap_or_else(|error| panic!("`{text}`: {error}"))
}

fn error(text: &str) -> (usize, String) {
    match Query::parse(text) {
        Ok(query) => panic!("`{text}` parsed as {query:?}"),
        Err(error) => (error.position, error.expected),
    }
}

fn compare(field: Field, op: Op, value: Value) -> Query {
    Query::Condition(Condition::Compare { field, op, value })
}

fn ticket(title: &str, description: &str, email: &str) -> Ticket {
    NewTicket {
        title: Some(title.into()),
        description: Some(description.into()),
        requester: Some(NewRequester { email: Some(email.into()), name: None }),
        tags: Some(vec!["printer".into()]),
        ..NewTicket::default()
    }
    .validate(TicketId::new(), Channel::Email, time::macros::datetime!(2026-01-01 12:00 UTC))
    .expect("a valid ticket")
}

fn selects(text: &str, ticket: &Ticket) -> bool {
    query(text).matches(&Subject::new(ticket))
}

#[test]
fn the_issue_example_parses_to_the_expected_tree_and_prints_back() {
    let text = r#"status:new urgency>=high (tag:printer OR equipment.model:"HP M404") -company:test confidence.category<0.6 created>2026-01-01"#;
    let parsed = query(text);
    let expected = Query::All(vec![
        compare(Field::Status, Op::Eq, Value::Status(Status::New)),
        compare(Field::Urgency, Op::Ge, Value::Urgency(Urgency::High)),
        Query::Any(vec![
            compare(Field::Tag, Op::Eq, Value::Keyword("printer".into())),
            compare(Field::EquipmentModel, Op::Eq, Value::Keyword("HP M404".into())),
        ]),
        Query::Not(Box::new(compare(Field::Company, Op::Eq, Value::Keyword("test".into())))),
        compare(Field::CategoryConfidence, Op::Lt, Value::Number(0.6)),
        compare(Field::Created, Op::Gt, Value::Time(TimeValue::Day(time::macros::date!(2026 - 01 - 01)))),
    ]);
    assert_eq!(parsed, expected);
    assert_eq!(parsed.to_string(), text);
}

#[test]
fn or_binds_looser_than_and_and_and_may_be_written() {
    assert_eq!(query("a b OR c"), query("(a AND b) OR c"));
    assert_ne!(query("a b OR c"), query("a (b OR c)"));
    assert_eq!(query("NOT a"), query("-a"));
    assert_eq!(query("  "), Query::everything());
    assert_eq!(error("a = b").0, 2, "a lone `=` is neither a field's operator nor words");
}

#[test]
fn words_are_normalised_like_the_models_text() {
    assert_eq!(query("Printer's PAPER-jam"), query(r#"printers "paper jam""#));
    assert_eq!(query("text:\"Paper, JAM!\"").to_string(), "\"paper jam\"");
}

#[test]
fn errors_say_where_and_what_was_expected() {
    assert_eq!(error("urgency>=hgh").0, 9);
    assert!(error("urgency>=hgh").1.contains("low, normal, high, critical"));
    let (position, expected) = error("status:new colour:red");
    assert_eq!(position, 11);
    assert!(expected.contains("urgency"), "{expected}");
    assert_eq!(error("category>billing"), (8, "`:`".into()));
    assert_eq!(error("(a OR b"), (7, "`)`".into()));
    assert_eq!(error("a)").0, 1);
    assert_eq!(error("tag:\"open").0, 9);
    assert_eq!(error("a OR").0, 4);
    assert_eq!(error("OR a").0, 0);
    assert_eq!(error("a ()").0, 3);
    assert_eq!(error("- a").0, 1);
    assert_eq!(error("has:status").0, 4);
    assert_eq!(error("confidence.urgency>high").0, 19);
    assert_eq!(error("created<yesterday").0, 8);
    assert_eq!(error("tag:").0, 4);
    assert_eq!(error("\"!!!\"").0, 0);
    assert_eq!(error("tag:\"a\"b").0, 7);
    assert_eq!(error(&format!("{}a{}", "(".repeat(40), ")".repeat(40))).0, MAX_DEPTH);
    assert_eq!(error(&"a ".repeat(MAX_QUERY_BYTES)).0, 0);
}

#[test]
fn values_stay_within_what_prints_back() {
    assert_eq!(error("created>9999-12-31T23:59:59-01:00").0, 8, "past year 9999 in UTC");
    assert_eq!(error("created>0000-01-01T00:00:00+00:01").0, 8, "before year 0 in UTC");
    let huge = query("confidence.category<1e300");
    assert_eq!(huge.to_string(), "confidence.category<1e300");
    assert_eq!(error(&"a ".repeat(MAX_CONDITIONS + 1)).0, 2 * MAX_CONDITIONS);
}

#[test]
fn overlapping_occurrences_are_all_tried() {
    assert!(selects("\"na na\"", &ticket("bana na na", "", "a@b.co")));
}

#[test]
fn text_conditions_match_whole_words_and_phrases() {
    let printer = ticket("Printer on fire", "The printer's paper-tray is smoking.", "ana@Example.COM");
    assert!(selects("fire", &printer));
    assert!(selects("\"paper tray\"", &printer));
    assert!(selects("PRINTERS", &printer));
    assert!(!selects("fir", &printer), "whole words only");
    assert!(!selects("\"tray paper\"", &printer));
    assert!(!selects("\"fire the\"", &printer), "title and description do not run together");
}

#[test]
fn fields_a_ticket_lacks_satisfy_no_comparison() {
    let fresh = ticket("Hello", "", "ana@example.com");
    assert!(!selects("urgency<high", &fresh));
    assert!(!selects("urgency>=high", &fresh));
    assert!(selects("-urgency>=high", &fresh));
    assert!(selects("-has:urgency -has:assignee has:tag", &fresh));
    assert!(!selects("confidence.category<0.6", &fresh));
    assert!(selects("unsure:false answered:false", &fresh));
}

#[test]
fn each_field_compares_as_documented() {
    let mut printer = ticket("Printer on fire", "", "ana@Example.COM");
    printer.urgency = Some(Urgency::High);
    printer.category = Some("printer".into());
    assert!(selects("urgency>=high urgency<=high urgency:high -urgency:critical", &printer));
    assert!(selects("status:new status<opened channel:email company:default", &printer));
    assert!(selects("requester.domain:example.com requester.domain:EXAMPLE.COM", &printer));
    assert!(selects("requester.email:ana@Example.COM -requester.email:ana@example.com", &printer));
    assert!(selects("category:printer -category:Printer tag:printer", &printer));
    assert!(selects("created:2026-01-01 created>=2026-01-01 created<2026-01-02 -created>2026-01-01", &printer));
    assert!(selects("created:2026-01-01T12:00:00Z created>2026-01-01T11:59:59.999999Z", &printer));
    assert!(selects(&format!("id:{}", printer.id.0), &printer));
    assert!(!selects(&format!("-id:{}", printer.id.0), &printer));
}

#[test]
fn queries_travel_as_their_text() {
    let parsed = query("urgency>=high -tag:vip");
    let json = serde_json::to_string(&parsed).expect("serialise");
    assert_eq!(json, "\"urgency>=high -tag:vip\"");
    assert_eq!(serde_json::from_str::<Query>(&json).expect("deserialise"), parsed);
    assert!(serde_json::from_str::<Query>("\"urgency>=hgh\"").is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn printing_then_parsing_gives_the_same_query(query in arbitrary_query()) {
        let printed = query.to_string();
        let reparsed = Query::parse(&printed).map_err(|error| TestCaseError::fail(format!("`{printed}`: {error}")))?;
        prop_assert_eq!(&reparsed, &query, "printed as `{}`", printed);
        prop_assert_eq!(reparsed.to_string(), printed);
    }

    #[test]
    fn any_text_parses_or_fails_within_the_text(text in "[ a-z:<>=()\"\\\\.\\-0-9A-Z]{0,40}") {
        match Query::parse(&text) {
            Ok(parsed) => {
                let printed = parsed.to_string();
                prop_assert_eq!(Query::parse(&printed).ok(), Some(parsed), "printed as `{}`", printed);
            }
            Err(error) => prop_assert!(error.position <= text.chars().count(), "{error}"),
        }
    }

    #[test]
    fn negation_selects_exactly_the_others(query in arbitrary_query(), ticket in arbitrary_ticket()) {
        let subject = Subject::new(&ticket);
        let negated = Query::Not(Box::new(query.clone()));
        prop_assert_ne!(query.matches(&subject), negated.matches(&subject));
    }
}

#[test]
fn instants_keep_microseconds() {
    let parsed = query("created>2026-01-01T09:30:00.1234567+02:00");
    assert_eq!(parsed.to_string(), "created>2026-01-01T07:30:00.123456Z");
}
