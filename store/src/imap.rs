//! Where the IMAP poller is in each mailbox: the mailbox's UIDVALIDITY and
//! the highest UID it took (and marked on the server), so a restarted
//! poller neither skips mail nor reads the whole mailbox again.

use crate::Store;
use crate::db::{now_micros, on_pool};
use crate::error::{Error, Result};

/// A mailbox's position: UIDs up to `last_uid` of the mailbox as numbered
/// under `uid_validity` were taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImapPosition {
    pub uid_validity: u32,
    pub last_uid: u32,
}

impl Store {
    /// The stored position of the mailbox `key` (`company/host/username/mailbox`),
    /// if it was ever read.
    pub async fn imap_position(&self, key: &str) -> Result<Option<ImapPosition>> {
        let row: Option<(i64, i64)> = on_pool!(&self.db, |pool| sqlx::query_as(
            "SELECT uid_validity, last_uid FROM imap_mailboxes WHERE mailbox_key = $1"
        )
        .bind(key)
        .fetch_optional(pool)
        .await)?;
        let Some((uid_validity, last_uid)) = row else { return Ok(None) };
        let number = |value: i64| {
            u32::try_from(value).map_err(|_| Error::Corrupt(format!("imap mailbox {key}: {value} is not a UID")))
        };
        Ok(Some(ImapPosition { uid_validity: number(uid_validity)?, last_uid: number(last_uid)? }))
    }

    /// Records the position of the mailbox `key`, replacing the one before.
    pub async fn set_imap_position(&self, key: &str, position: ImapPosition) -> Result<()> {
        on_pool!(&self.writer, |pool| sqlx::query(
            "INSERT INTO imap_mailboxes (mailbox_key, uid_validity, last_uid, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (mailbox_key) DO UPDATE SET uid_validity = excluded.uid_validity, \
             last_uid = excluded.last_uid, updated_at = excluded.updated_at"
        )
        .bind(key)
        .bind(i64::from(position.uid_validity))
        .bind(i64::from(position.last_uid))
        .bind(now_micros())
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }
}
