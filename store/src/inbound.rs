//! Mail in: which company an address belongs to, which ticket a mail
//! answers, and whether its sender takes part in that ticket.

use switchboard_core::{AccountId, CompanyId, TicketId};
use uuid::Uuid;

use crate::Store;
use crate::db::{now_micros, on_pool};
use crate::error::{Error, Result};

impl Store {
    /// The addresses `company` receives support mail at, sorted.
    pub async fn inbound_addresses(&self, company: &CompanyId) -> Result<Vec<String>> {
        let addresses: Vec<String> = on_pool!(&self.db, |pool| sqlx::query_scalar(
            "SELECT address FROM inbound_addresses WHERE company = $1 ORDER BY address"
        )
        .bind(company.as_str())
        .fetch_all(pool)
        .await)?;
        Ok(addresses)
    }

    /// Replaces the company's addresses (lowercase). [`Error::Refused`]
    /// `address_taken` when another company receives at one of them; then
    /// nothing changes.
    pub async fn set_inbound_addresses(&self, company: &CompanyId, addresses: &[String]) -> Result<()> {
        let now = now_micros();
        on_pool!(&self.writer, |pool| {
            let mut transaction = pool.begin().await?;
            sqlx::query("DELETE FROM inbound_addresses WHERE company = $1")
                .bind(company.as_str())
                .execute(&mut *transaction)
                .await?;
            for address in addresses {
                let inserted = sqlx::query(
                    "INSERT INTO inbound_addresses (address, company, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (address) DO NOTHING",
                )
                .bind(address)
                .bind(company.as_str())
                .bind(now)
                .execute(&mut *transaction)
                .await?
                .rows_affected();
                if inserted == 0 {
                    return Err(Error::Refused {
                        code: "address_taken",
                        message: format!("`{address}` is another company's inbound address"),
                    });
                }
            }
            transaction.commit().await?;
            Ok::<_, Error>(())
        })?;
        Ok(())
    }

    /// The company that receives at the first of `addresses` that one
    /// does, with that address.
    pub async fn company_of_addresses(&self, addresses: &[String]) -> Result<Option<(CompanyId, String)>> {
        for address in addresses {
            let company: Option<String> = on_pool!(&self.db, |pool| sqlx::query_scalar(
                "SELECT company FROM inbound_addresses WHERE address = $1"
            )
            .bind(address)
            .fetch_optional(pool)
            .await)?;
            if let Some(company) = company {
                let company = CompanyId::parse(&company)
                    .map_err(|_| Error::Corrupt(format!("inbound address {address}: bad company")))?;
                return Ok(Some((company, address.clone())));
            }
        }
        Ok(None)
    }

    /// The ticket of the company that received one of `message_ids` (the
    /// most recent such mail).
    pub async fn ticket_of_received_mail(
        &self,
        company: &CompanyId,
        message_ids: &[String],
    ) -> Result<Option<TicketId>> {
        let mut found: Option<(i64, Uuid)> = None;
        for message_id in message_ids {
            let row: Option<(i64, Uuid)> = on_pool!(&self.db, |pool| sqlx::query_as(
                "SELECT received_at, ticket_id FROM inbound_mails WHERE company = $1 AND message_id = $2"
            )
            .bind(company.as_str())
            .bind(message_id)
            .fetch_optional(pool)
            .await)?;
            if let Some(row) = row
                && found.is_none_or(|best| row.0 > best.0)
            {
                found = Some(row);
            }
        }
        Ok(found.map(|(_, ticket)| TicketId(ticket)))
    }

    /// Records that the company received `message_id` from `sender` for
    /// `ticket` (a mail that became a new ticket); false if it was recorded
    /// before.
    pub async fn record_inbound_mail(
        &self,
        company: &CompanyId,
        message_id: &str,
        ticket: TicketId,
        sender: &str,
    ) -> Result<bool> {
        let inserted = on_pool!(&self.writer, |pool| sqlx::query(
            "INSERT INTO inbound_mails (company, message_id, ticket_id, sender, received_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (company, message_id) DO NOTHING"
        )
        .bind(company.as_str())
        .bind(message_id)
        .bind(ticket.0)
        .bind(sender)
        .bind(now_micros())
        .execute(pool)
        .await
        .map(|result| result.rows_affected() == 1))?;
        Ok(inserted)
    }

    /// Whether the company already has this mail (by `Message-ID`).
    pub async fn inbound_mail_seen(&self, company: &CompanyId, message_id: &str) -> Result<bool> {
        let seen: Option<i32> = on_pool!(&self.db, |pool| sqlx::query_scalar(
            "SELECT 1 FROM inbound_mails WHERE company = $1 AND message_id = $2"
        )
        .bind(company.as_str())
        .bind(message_id)
        .fetch_optional(pool)
        .await)?;
        Ok(seen.is_some())
    }

    /// The company's customer account with this e-mail address (lowercase),
    /// if there is one: a ticket that comes by mail or through the form
    /// from it is theirs to follow in the API.
    pub async fn customer_with_email(&self, company: &CompanyId, email: &str) -> Result<Option<AccountId>> {
        let id: Option<Uuid> = on_pool!(&self.db, |pool| sqlx::query_scalar(
            "SELECT id FROM accounts WHERE company = $1 AND email = $2 AND role = 'customer' AND deleted_at IS NULL"
        )
        .bind(company.as_str())
        .bind(email)
        .fetch_optional(pool)
        .await)?;
        Ok(id.map(AccountId))
    }

    /// Whether `sender` (lowercase) takes part in the ticket: its requester,
    /// its assignee, or someone whose mail was taken for it before.
    pub async fn takes_part_by_mail(&self, company: &CompanyId, ticket: TicketId, sender: &str) -> Result<bool> {
        let found: Option<i32> = on_pool!(&self.db, |pool| sqlx::query_scalar(
            "SELECT 1 FROM tickets t WHERE t.id = $1 AND t.company = $2 AND ( \
                 LOWER(t.requester_email) = $3 \
                 OR EXISTS (SELECT 1 FROM accounts a WHERE a.id = t.assignee_id AND LOWER(a.email) = $3) \
                 OR EXISTS (SELECT 1 FROM inbound_mails m WHERE m.ticket_id = t.id AND m.company = t.company \
                            AND m.sender = $3))"
        )
        .bind(ticket.0)
        .bind(company.as_str())
        .bind(sender)
        .fetch_optional(pool)
        .await)?;
        Ok(found.is_some())
    }
}
