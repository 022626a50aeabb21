//! The filter language compiled to SQL for both databases: the same
//! [`Query`] that `core::filter` evaluates in memory, as a condition on the
//! `tickets` table. Every value is a bound parameter; no text of the query
//! reaches the SQL.
//!
//! Each condition compiles to an expression that is never NULL (a missing
//! field makes it false, not unknown), so that `NOT` selects exactly the
//! tickets the condition does not: SQL's three-valued logic would otherwise
//! drop tickets that lack the field from both sides.

use sqlx::{Database, Encode, QueryBuilder, Type};
use switchboard_core::filter::{Condition, Field, Op, Query, Value, rank};
use switchboard_core::{Status, Urgency};
use uuid::Uuid;

use crate::Store;
use crate::db::{BeginWrite, on_pool};
use crate::error::Result;
use crate::tickets::FilterColumns;

/// Appends `query` as one parenthesised SQL condition on `tickets`.
pub(crate) fn push_query<'args, DB>(builder: &mut QueryBuilder<'args, DB>, query: &Query)
where
    DB: Database,
    String: Encode<'args, DB> + Type<DB>,
    i64: Encode<'args, DB> + Type<DB>,
    f64: Encode<'args, DB> + Type<DB>,
    bool: Encode<'args, DB> + Type<DB>,
    Uuid: Encode<'args, DB> + Type<DB>,
{
    match query {
        Query::All(parts) if parts.is_empty() => {
            builder.push("1 = 1");
        }
        Query::All(parts) | Query::Any(parts) => {
            let separator = if matches!(query, Query::All(_)) { " AND " } else { " OR " };
            builder.push("(");
            for (index, part) in parts.iter().enumerate() {
                if index > 0 {
                    builder.push(separator);
                }
                push_query(builder, part);
            }
            builder.push(")");
        }
        Query::Not(inner) => {
            builder.push("NOT (");
            push_query(builder, inner);
            builder.push(")");
        }
        Query::Condition(Condition::Has(field)) => {
            match field {
                Field::Tag => {
                    builder.push("EXISTS (SELECT 1 FROM ticket_tags WHERE ticket_tags.ticket_id = tickets.id)")
                }
                field => builder.push(format!("{} IS NOT NULL", column(*field))),
            };
        }
        Query::Condition(Condition::Compare { field, op, value }) => push_comparison(builder, *field, *op, value),
    }
}

/// The column holding a field (for every field but `tag`, whose values are
/// rows of `ticket_tags`).
fn column(field: Field) -> &'static str {
    match field {
        Field::Id => "id",
        Field::Status => "status",
        Field::Urgency => "urgency",
        Field::Category => "category",
        Field::Channel => "channel",
        Field::Company => "company",
        Field::Tag => "tag",
        Field::Text => "search_text",
        Field::RequesterEmail => "requester_email",
        Field::RequesterDomain => "requester_domain",
        Field::RequesterName => "requester_name",
        Field::RequesterAccount => "requester_account",
        Field::EquipmentModel => "equipment_model",
        Field::EquipmentSerial => "equipment_serial",
        Field::Assignee => "assignee_id",
        Field::Team => "team_id",
        Field::Server => "server_id",
        Field::Vehicle => "vehicle_id",
        Field::Created => "created_at",
        Field::CategoryConfidence => "category_confidence",
        Field::UrgencyConfidence => "urgency_confidence",
        Field::Unsure => "needs_human_triage",
        Field::Answered => "answered_by_faq",
    }
}

fn sql_operator(op: Op) -> &'static str {
    match op {
        Op::Eq => "=",
        Op::Lt => "<",
        Op::Le => "<=",
        Op::Gt => ">",
        Op::Ge => ">=",
    }
}

fn push_comparison<'args, DB>(builder: &mut QueryBuilder<'args, DB>, field: Field, op: Op, value: &Value)
where
    DB: Database,
    String: Encode<'args, DB> + Type<DB>,
    i64: Encode<'args, DB> + Type<DB>,
    f64: Encode<'args, DB> + Type<DB>,
    bool: Encode<'args, DB> + Type<DB>,
    Uuid: Encode<'args, DB> + Type<DB>,
{
    let column = column(field);
    // `column IS NOT NULL AND …` is false, never NULL, when the field is
    // missing (see the module's comment).
    let guarded = |builder: &mut QueryBuilder<'args, DB>| {
        builder.push(format!("({column} IS NOT NULL AND {column} {} ", sql_operator(op)));
    };
    match value {
        Value::Status(status) => {
            let statuses = Status::ALL
                .iter()
                .filter(|candidate| op.holds(rank(&Status::ALL, **candidate), rank(&Status::ALL, *status)));
            push_in(builder, column, statuses.map(|status| status.as_str().to_owned()).collect());
        }
        Value::Urgency(urgency) => {
            let urgencies = Urgency::ALL
                .iter()
                .filter(|candidate| op.holds(rank(&Urgency::ALL, **candidate), rank(&Urgency::ALL, *urgency)));
            push_in(builder, column, urgencies.map(|urgency| urgency.as_str().to_owned()).collect());
        }
        Value::Channel(channel) => {
            builder.push(format!("{column} = ")).push_bind(channel.as_str().to_owned());
        }
        Value::Keyword(keyword) if field == Field::Tag => {
            builder
                .push(
                    "EXISTS (SELECT 1 FROM ticket_tags WHERE ticket_tags.ticket_id = tickets.id AND ticket_tags.tag = ",
                )
                .push_bind(keyword.clone())
                .push(")");
        }
        Value::Keyword(keyword) => {
            guarded(builder);
            builder.push_bind(keyword.clone()).push(")");
        }
        Value::Text(words) => {
            builder
                .push(format!("({column} IS NOT NULL AND {column} LIKE "))
                .push_bind(format!("% {} %", escape_like(words)))
                .push(" ESCAPE '\\')");
        }
        Value::Id(id) => {
            guarded(builder);
            builder.push_bind(*id).push(")");
        }
        Value::Number(number) => {
            guarded(builder);
            builder.push_bind(*number).push(")");
        }
        Value::Time(time) => {
            let (from, to) = time.bounds(op);
            builder.push("(");
            if let Some(from) = from {
                builder.push(format!("{column} >= ")).push_bind(from);
            }
            if from.is_some() && to.is_some() {
                builder.push(" AND ");
            }
            if let Some(to) = to {
                builder.push(format!("{column} < ")).push_bind(to);
            }
            builder.push(")");
        }
        Value::Bool(flag) if field == Field::Answered => {
            builder.push(format!("{column} IS {}NULL", if *flag { "NOT " } else { "" }));
        }
        Value::Bool(flag) => {
            builder.push(format!("{column} = ")).push_bind(*flag);
        }
    }
}

/// `column IN (…)`, false for an empty list or a NULL column.
fn push_in<'args, DB>(builder: &mut QueryBuilder<'args, DB>, column: &str, values: Vec<String>)
where
    DB: Database,
    String: Encode<'args, DB> + Type<DB>,
{
    if values.is_empty() {
        builder.push("1 = 0");
        return;
    }
    builder.push(format!("({column} IS NOT NULL AND {column} IN ("));
    let mut separated = builder.separated(", ");
    for value in values {
        separated.push_bind(value);
    }
    builder.push("))");
}

/// Words as a `LIKE` pattern matches them literally (with `ESCAPE '\'`).
fn escape_like(words: &str) -> String {
    let mut escaped = String::with_capacity(words.len());
    for character in words.chars() {
        if matches!(character, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

/// Rows written before the filter's columns existed, filled in per batch.
const BACKFILL_BATCH: i64 = 500;

#[derive(sqlx::FromRow)]
struct UnsearchableRow {
    id: Uuid,
    title: String,
    description: String,
    requester_email: String,
    triage: Option<String>,
}

impl Store {
    /// Fills in the filter's columns of tickets stored before they existed
    /// (the 0007 migration); a no-op once done. Returns how many were filled.
    pub(crate) async fn backfill_filter_columns(&self) -> Result<u64> {
        let mut filled = 0;
        loop {
            let done = on_pool!(&self.writer, |pool| {
                let rows: Vec<UnsearchableRow> = sqlx::query_as(
                    "SELECT id, title, description, requester_email, triage FROM tickets \
                     WHERE search_text IS NULL ORDER BY id LIMIT $1",
                )
                .bind(BACKFILL_BATCH)
                .fetch_all(pool)
                .await?;
                let mut transaction = pool.begin_write().await?;
                for row in &rows {
                    let triage = match row.triage.as_deref() {
                        Some(text) => serde_json::from_str(text).ok(),
                        None => None,
                    };
                    let columns =
                        FilterColumns::new(&row.title, &row.description, &row.requester_email, triage.as_ref());
                    sqlx::query(
                        "UPDATE tickets SET search_text = $1, requester_domain = $2, category_confidence = $3, \
                         urgency_confidence = $4 WHERE id = $5",
                    )
                    .bind(&columns.search_text)
                    .bind(&columns.requester_domain)
                    .bind(columns.category_confidence)
                    .bind(columns.urgency_confidence)
                    .bind(row.id)
                    .execute(&mut *transaction)
                    .await?;
                }
                transaction.commit().await?;
                Ok::<_, crate::Error>(rows.len())
            })?;
            filled += done as u64;
            if (done as i64) < BACKFILL_BATCH {
                return Ok(filled);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use switchboard_core::filter::Query;
    use switchboard_core::ticket::NewRequester;
    use switchboard_core::{Channel, NewTicket, Scope, TicketId};

    use crate::TicketFilter;
    use crate::db::on_pool;

    #[tokio::test]
    async fn tickets_stored_before_the_filter_columns_are_filled_in_on_migrate() {
        let test = crate::testing::sqlite().await;
        let store = test.store;
        let ticket = NewTicket {
            title: Some("Printer on fire".into()),
            description: Some("Smoke from tray 2".into()),
            requester: Some(NewRequester { email: Some("ana@Example.com".into()), name: None }),
            ..NewTicket::default()
        }
        .validate(TicketId::new(), Channel::Api, time::OffsetDateTime::now_utc())
        .expect("valid");
        store.insert_ticket(&Scope::Installation, &ticket).await.expect("insert");
        // As a row written before the 0007 migration looks.
        on_pool!(&store.writer, |pool| sqlx::query(
            "UPDATE tickets SET search_text = NULL, requester_domain = NULL, category_confidence = NULL, \
             urgency_confidence = NULL"
        )
        .execute(pool)
        .await
        .map(|_| ()))
        .expect("clear");
        let query = Query::parse("\"tray 2\" requester.domain:example.com").expect("parses");
        let filter = TicketFilter { query, ..TicketFilter::default() };
        let listed = |store: crate::Store, filter: TicketFilter| async move {
            let page = store.list_tickets(&Scope::Installation, &filter, 10, None).await.expect("list");
            page.items.into_iter().map(|ticket| ticket.id).collect::<Vec<_>>()
        };
        assert_eq!(listed(store.clone(), filter.clone()).await, vec![], "not searchable before");
        store.migrate().await.expect("migrate again");
        assert_eq!(listed(store.clone(), filter).await, vec![ticket.id]);
        assert_eq!(store.backfill_filter_columns().await.expect("again"), 0, "nothing left to fill");
    }
}
