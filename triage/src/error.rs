use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in training, evaluating, loading or using a
/// triage model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file does not start with the triage model magic bytes: it is not a
    /// model at all (or not one of ours).
    #[error("{path}: not a switchboard triage model (bad magic bytes)")]
    NotAModel { path: PathBuf },

    /// The file is a model, written by a format this build does not read.
    #[error(
        "{path}: model format version {found} is not supported (this build reads version {supported}); retrain or use a matching switchboard"
    )]
    UnsupportedVersion { path: PathBuf, found: u32, supported: u32 },

    /// The payload does not match its checksum: truncated, edited or damaged.
    #[error("{path}: model file is corrupt: checksum mismatch (expected {expected}, computed {computed})")]
    ChecksumMismatch { path: PathBuf, expected: String, computed: String },

    /// The payload passed its checksum but does not describe a usable model,
    /// or the header is malformed.
    #[error("model is corrupt: {0}")]
    Corrupt(String),

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: {source}")]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },

    /// The data set cannot be used as asked (missing column, empty, one class).
    #[error("data: {0}")]
    Data(String),

    /// Options that contradict each other or are out of range.
    #[error("invalid options: {0}")]
    InvalidOptions(String),

    /// A linfa estimator refused the data or failed to fit.
    #[error("{estimator} failed to fit: {message}")]
    Fit { estimator: &'static str, message: String },

    #[error("urgency policy: {0}")]
    Policy(String),

    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),

    #[error("serialising: {0}")]
    Json(#[from] serde_json::Error),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}
