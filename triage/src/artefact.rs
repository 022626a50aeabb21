//! The model file: one self-checking, versioned file per model.
//!
//! ```text
//! offset  size  field
//!      0     8  magic "SBTRIAGE"
//!      8     4  format version, u32 little-endian (FORMAT_VERSION)
//!     12     4  reserved, zero
//!     16     8  payload length in bytes, u64 little-endian
//!     24    32  SHA-256 of the payload
//!     56     …  payload: postcard encoding of `Payload`
//! ```
//!
//! The header is checked before anything is decoded: a different format
//! version is [`Error::UnsupportedVersion`], a damaged payload is
//! [`Error::ChecksumMismatch`], a short file or an incoherent model is
//! [`Error::Corrupt`]. The metadata travels as JSON inside the payload, so a
//! person can read it with `strings` and it can grow fields without a new
//! format version.
//!
//! Weights are stored as 8-bit integers with one scale per feature (the
//! largest magnitude among that feature's class weights maps to 127). That
//! makes a 77-class model a quarter of its `f32` size; the rounding error is
//! below 0.4 % of each feature's largest weight. Training returns the model
//! already rounded this way, so what is evaluated is what is shipped.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::features::{Vectorizer, VectorizerState};
use crate::linear::LinearScorer;
use crate::model::{Model, ModelMetadata};
use crate::text::NORMALIZATION_VERSION;

pub const MAGIC: &[u8; 8] = b"SBTRIAGE";
/// Bump on any change to `Payload` or to what its fields mean.
///
/// Version 2 is version 1 plus sentence-encoder features: the metadata names
/// an encoder (`ModelMetadata::encoder`) and the scorer has its dimensions
/// after the vocabulary's. Models without an encoder are still written as
/// version 1, so builds that predate encoders read them; those builds refuse
/// a version 2 file with a clear error instead of misreading it.
pub const FORMAT_VERSION: u32 = 2;
/// The version written for models without an encoder.
pub const PLAIN_FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 56;

#[derive(Serialize, Deserialize)]
enum StoredWeights {
    /// Feature-major, `scales[j] * values[j * k + c]`.
    Quantized { scales: Vec<f32>, values: Vec<i8> },
}

#[derive(Serialize, Deserialize)]
struct Payload {
    normalization_version: u32,
    metadata_json: String,
    vectorizer: VectorizerState,
    labels: Vec<String>,
    n_features: u64,
    weights: StoredWeights,
    bias: Vec<f32>,
    binary_input: bool,
    temperature: f32,
    unsure_threshold: f32,
    unsure_label: Option<u32>,
}

/// Rounds the weights to their stored precision. Both [`quantize`] and
/// loading go through this, so a model in memory equals its file.
pub(crate) fn quantize(scorer: &LinearScorer) -> (Vec<f32>, Vec<i8>) {
    let n_classes = scorer.n_classes();
    let mut scales = Vec::with_capacity(scorer.n_features());
    let mut values = Vec::with_capacity(scorer.weights().len());
    for row in scorer.weights().chunks_exact(n_classes) {
        let largest = row.iter().fold(0.0f32, |max, weight| max.max(weight.abs()));
        let scale = if largest > 0.0 { largest / 127.0 } else { 0.0 };
        scales.push(scale);
        values.extend(row.iter().map(|&weight| if scale > 0.0 { (weight / scale).round() as i8 } else { 0 }));
    }
    (scales, values)
}

fn dequantize(
    n_features: usize,
    n_classes: usize,
    scales: &[f32],
    values: &[i8],
    bias: Vec<f32>,
) -> Result<LinearScorer> {
    if scales.len() != n_features || Some(values.len()) != n_features.checked_mul(n_classes) {
        return Err(Error::Corrupt(format!(
            "{} scales and {} weights for {n_features} features × {n_classes} classes",
            scales.len(),
            values.len()
        )));
    }
    let weights = values
        .chunks_exact(n_classes.max(1))
        .zip(scales)
        .flat_map(|(row, &scale)| row.iter().map(move |&value| f32::from(value) * scale))
        .collect();
    LinearScorer::new(n_features, n_classes, weights, bias)
}

/// Rounds a freshly trained scorer to its stored precision.
pub(crate) fn round_trip_weights(scorer: &LinearScorer) -> Result<LinearScorer> {
    let (scales, values) = quantize(scorer);
    Ok(dequantize(scorer.n_features(), scorer.n_classes(), &scales, &values, scorer.bias().to_vec())?
        .with_binary_input(scorer.binary_input()))
}

fn payload_of(model: &Model) -> Result<Payload> {
    let (scales, values) = quantize(&model.scorer);
    Ok(Payload {
        normalization_version: NORMALIZATION_VERSION,
        metadata_json: serde_json::to_string(&model.metadata)?,
        vectorizer: model.vectorizer.state(),
        labels: model.labels.clone(),
        n_features: model.scorer.n_features() as u64,
        weights: StoredWeights::Quantized { scales, values },
        bias: model.scorer.bias().to_vec(),
        binary_input: model.scorer.binary_input(),
        temperature: model.temperature,
        unsure_threshold: model.unsure_threshold,
        unsure_label: model.unsure_label.map(|index| index as u32),
    })
}

pub(crate) fn encode_payload(model: &Model) -> Result<Vec<u8>> {
    postcard::to_stdvec(&payload_of(model)?).map_err(|error| Error::Corrupt(format!("encoding the model: {error}")))
}

/// `<name>@<first 12 hex digits of the payload's SHA-256>`.
pub(crate) fn version_of(name: &str, payload: &[u8]) -> String {
    let digest = Sha256::digest(payload);
    format!("{name}@{}", &hex(&digest)[..12])
}

/// Lower-case hex digits of `bytes` (checksums in versions and errors).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The whole file for `model`.
pub fn to_bytes(model: &Model) -> Result<Vec<u8>> {
    let payload = encode_payload(model)?;
    let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len());
    bytes.extend_from_slice(MAGIC);
    let version = if model.metadata.encoder.is_some() { FORMAT_VERSION } else { PLAIN_FORMAT_VERSION };
    bytes.extend_from_slice(&version.to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&Sha256::digest(&payload));
    bytes.extend_from_slice(&payload);
    Ok(bytes)
}

pub(crate) fn save(model: &Model, path: &Path) -> Result<()> {
    write_atomically(path, &to_bytes(model)?)
}

/// Writes `bytes` to `path` through a temporary file renamed over it, so a
/// reader never sees half a file.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = std::path::PathBuf::from(temporary);
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    };
    write().map_err(|source| Error::io(path, source))
}

pub(crate) fn load(path: &Path) -> Result<Model> {
    let bytes = std::fs::read(path).map_err(|source| Error::io(path, source))?;
    from_bytes(&bytes, path)
}

/// Parses a model file's bytes; `path` only names the source in errors.
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Model> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(Error::NotAModel { path: path.to_owned() });
    }
    if bytes.len() < HEADER_LEN {
        return Err(Error::Corrupt(format!("{}: header truncated at {} bytes", path.display(), bytes.len())));
    }
    let read_u32 = |offset: usize| u32::from_le_bytes(bytes[offset..offset + 4].try_into().expect("4 bytes"));
    let found = read_u32(8);
    if found != FORMAT_VERSION && found != PLAIN_FORMAT_VERSION {
        return Err(Error::UnsupportedVersion { path: path.to_owned(), found, supported: FORMAT_VERSION });
    }
    let declared = u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes"));
    let payload = &bytes[HEADER_LEN..];
    if declared != payload.len() as u64 {
        return Err(Error::Corrupt(format!(
            "{}: payload is {} bytes, header says {declared} (truncated or appended to)",
            path.display(),
            payload.len()
        )));
    }
    let expected = &bytes[24..56];
    let computed = Sha256::digest(payload);
    if computed.as_slice() != expected {
        return Err(Error::ChecksumMismatch {
            path: path.to_owned(),
            expected: hex(expected),
            computed: hex(&computed),
        });
    }
    let decoded: Payload =
        postcard::from_bytes(payload).map_err(|error| Error::Corrupt(format!("{}: {error}", path.display())))?;
    if decoded.normalization_version != NORMALIZATION_VERSION {
        return Err(Error::Corrupt(format!(
            "{}: trained with text normalisation v{}, this build has v{NORMALIZATION_VERSION}",
            path.display(),
            decoded.normalization_version
        )));
    }
    let metadata: ModelMetadata = serde_json::from_str(&decoded.metadata_json)
        .map_err(|error| Error::Corrupt(format!("{}: metadata: {error}", path.display())))?;
    if (found == FORMAT_VERSION) != metadata.encoder.is_some() {
        return Err(Error::Corrupt(format!(
            "{}: format version {found} {} a sentence encoder",
            path.display(),
            if metadata.encoder.is_some() { "names" } else { "does not name" }
        )));
    }
    // The encoder is found (and checked) before the rest is decoded, so a
    // missing encoder is reported as such and not as a corrupt model.
    let encoder = match &metadata.encoder {
        None => None,
        Some(spec) => Some(crate::encoder::locate(spec, path.parent().filter(|_| path.is_file()))?),
    };
    let n_classes = decoded.labels.len();
    let n_features = usize::try_from(decoded.n_features).map_err(|_| Error::Corrupt("feature count".into()))?;
    let scorer = match decoded.weights {
        StoredWeights::Quantized { scales, values } => {
            dequantize(n_features, n_classes, &scales, &values, decoded.bias)?
        }
    }
    .with_binary_input(decoded.binary_input);
    let model = Model {
        vectorizer: Vectorizer::from_state(decoded.vectorizer)?,
        scorer,
        labels: decoded.labels,
        temperature: decoded.temperature,
        unsure_threshold: decoded.unsure_threshold,
        unsure_label: decoded.unsure_label.map(|index| index as usize),
        version: version_of(&metadata.name, payload),
        metadata,
        encoder,
    };
    model.validate()?;
    Ok(model)
}
