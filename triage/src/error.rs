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

    /// The model was trained with a sentence encoder that is not installed
    /// where the model looks for it (see `encoder::locate`).
    #[error("{0}")]
    EncoderMissing(Box<MissingEncoder>),

    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),

    #[error("serialising: {0}")]
    Json(#[from] serde_json::Error),
}

/// Which encoder a model needs, and where it was looked for.
#[derive(Debug, thiserror::Error)]
#[error(
    "the model needs the sentence encoder {name:?} (weights sha256 {sha256}); looked in {}{}; install it with scripts/triage/fetch-encoder.sh (a static table: copy its .sbse file into one of those directories) or point {} at its parent directory",
    display_paths(searched),
    if mismatched.is_empty() { String::new() } else { format!(" (found other weights in {})", display_paths(mismatched)) },
    crate::encoder::ENCODER_PATH_VARIABLE
)]
pub struct MissingEncoder {
    pub name: String,
    pub sha256: String,
    pub searched: Vec<PathBuf>,
    /// Directories with the encoder's name but other weights.
    pub mismatched: Vec<PathBuf>,
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths.iter().map(|path| path.display().to_string()).collect::<Vec<_>>().join(", ")
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}
