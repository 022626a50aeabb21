use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum Error {
    #[error("cannot connect to the store at {url}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot apply migrations")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// The attachment store (a directory or an S3 bucket) failed.
    #[error("attachment store error")]
    Files(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("unknown topic `{0}`: create it before producing to it")]
    UnknownTopic(String),
    #[error("invalid pagination cursor")]
    InvalidCursor,
    #[error("no such ticket")]
    TicketNotFound,
    #[error("the row belongs to a company outside the caller's scope")]
    OutOfScope,
    #[error(transparent)]
    Transition(switchboard_core::TransitionError),
    /// Another account has this `username` or `email`.
    #[error("another account has this {0}")]
    Taken(&'static str),
    /// The change is not possible in the object's state (HTTP 409 with
    /// `code`).
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    /// The object is still used (a vehicle by an open ticket).
    #[error("the {0} is in use")]
    InUse(&'static str),
}

impl Error {
    /// True when retrying the same operation later may succeed (connection
    /// trouble, lock timeouts, a full pool), as opposed to a broken query or
    /// bad data.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Connect { .. } | Error::Files(_) => true,
            Error::Database(error) => {
                matches!(
                    error,
                    sqlx::Error::Io(_)
                        | sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::WorkerCrashed
                        | sqlx::Error::Protocol(_)
                ) || is_busy(error)
            }
            _ => false,
        }
    }
}

/// SQLite's "database is locked/busy" and PostgreSQL's serialization and
/// deadlock failures: worth another try.
fn is_busy(error: &sqlx::Error) -> bool {
    let Some(database_error) = error.as_database_error() else {
        return false;
    };
    matches!(
        database_error.code().as_deref(),
        // 57014: cancelled, as `statement_timeout` cancels a slow read.
        Some("5" | "6" | "517" | "40001" | "40P01" | "55P03" | "57014" | "57P03" | "53300")
    )
}
