//! The crate's error type. Callers mostly need to tell three things apart:
//! bad input (a line of an import file, a CSV column that does not exist),
//! an index directory that cannot be used (rebuild it from the source of
//! truth), and everything else (I/O, tantivy).

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// One record of an input file could not be used. `line` is 1-based.
    #[error("{source_name}:{line}: {message}")]
    Input { source_name: String, line: u64, message: String },

    /// An input file as a whole is unusable (missing column, empty file, ...).
    #[error("{source_name}: {message}")]
    InputFile { source_name: String, message: String },

    /// A document that cannot be indexed (empty id, no searchable text).
    #[error("invalid document `{id}`: {message}")]
    InvalidDocument { id: String, message: String },

    /// The configured index path exists but does not look like an index we
    /// own, so we refuse to delete it and rebuild there.
    #[error("{path}: not a knowledge-base index directory (refusing to overwrite it)")]
    ForeignDirectory { path: PathBuf },

    /// The index's files are inconsistent (found while opening or reading
    /// it). [`crate::KnowledgeBase::open_or_create`] turns this into a
    /// rebuild; elsewhere it means: rebuild the index.
    #[error("index is damaged: {0}")]
    Corrupt(String),

    /// Anything tantivy reports while reading or writing the index.
    #[error("index error: {0}")]
    Index(#[from] tantivy::TantivyError),

    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },

    #[error("invalid configuration: {0}")]
    Config(String),

    #[error("the store failed")]
    Store(#[from] switchboard_store::Error),

    #[error("a background task failed: {0}")]
    Task(String),

    #[error("the bus failed")]
    Bus(#[from] switchboard_bus::Error),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }

    /// Whether retrying the same operation later may succeed. Bad input and
    /// bad documents are permanent; I/O and index errors may be transient
    /// (a full disk, a lock held by a dying process).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Io { .. } | Error::Index(_) | Error::Task(_) => true,
            Error::Store(error) => error.is_transient(),
            Error::Bus(error) => error.is_transient(),
            _ => false,
        }
    }
}

impl From<tantivy::directory::error::OpenDirectoryError> for Error {
    fn from(error: tantivy::directory::error::OpenDirectoryError) -> Self {
        Error::Index(error.into())
    }
}

impl From<tantivy::query::QueryParserError> for Error {
    fn from(error: tantivy::query::QueryParserError) -> Self {
        Error::Index(error.into())
    }
}

impl switchboard_bus::Transience for Error {
    fn is_transient(&self) -> bool {
        Error::is_transient(self)
    }
}
