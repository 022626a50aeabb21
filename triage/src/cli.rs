//! `train`, `eval` and `predict` as a library: a clap `Subcommand` the
//! `switchboard` binary mounts under `triage`, and [`run_command`].

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{ArgGroup, Args, Subcommand};

use crate::dataset::{CsvSpec, parse_label_map, read_labeled_csv};
use crate::error::{Error, Result};
use crate::features::{FeatureConfig, NgramRange};
use crate::learners::LearnerFamily;
use crate::metrics::{Outcome, evaluate};
use crate::model::{Model, UnsureReason};
use crate::train::{ClassOffsets, SelectionMetric, TrainOptions, train_choosing_encoder};

#[derive(Debug, Clone, Subcommand)]
pub enum TriageCommand {
    /// Train a classifier from a CSV file and write the model file, or (with
    /// --from-store) from the tickets staff labelled, into the store.
    ///
    /// Candidates (linear SVM, linfa logistic regression, linfa naive Bayes,
    /// each over a small hyper-parameter grid) are compared by stratified
    /// cross-validation on the data; the best is calibrated on its
    /// out-of-fold predictions, given an unsure threshold, refitted on all the
    /// data and saved. Prints the cross-validation table and the validation
    /// metrics. Hold evaluation data out yourself and use `eval` on it.
    Train(TrainArgs),
    /// Evaluate a model on a labelled CSV file. The last line of output is one
    /// JSON object: n, accuracy, macro_f1, per_class, ece (and
    /// in_scope_accuracy, unsure_recall with --unsure-label).
    Eval(EvalArgs),
    /// Classify one text: label, confidence and the top three labels.
    Predict(PredictArgs),
    /// Score urgency decisions on everyday tickets labelled low, normal, high
    /// and critical (`triage/eval/urgency-everyday.csv`): of the high and
    /// critical ones the share rated high or critical, of the low and normal
    /// ones the share rated low or normal, and critical recall. For the
    /// urgency model alone (the defaults before the shipped policy), the
    /// policy alone, and both as the triage stage decides. The last line is
    /// one JSON object.
    ScoreUrgency(ScoreUrgencyArgs),
    /// Repeated stratified cross-validation of the whole training procedure
    /// (model selection, class offsets and calibration inside each training
    /// split): each of --repeats shuffles deals the data into --outer-folds
    /// folds, trains on all but one and scores the one left out. Prints each
    /// run and the mean, standard deviation, minimum and maximum of accuracy,
    /// macro-F1 and each --recall-group; the last line is one JSON object.
    /// An honest figure for one data set, where a single split is luck.
    Cv(CvArgs),
    /// Distil a static embedding table from a transformer encoder: every
    /// word piece through the encoder on its own, reduced by PCA, weighted
    /// and rounded to 8 bits. The table gives sentence embeddings in
    /// microseconds; train with `--encoder FILE.sbse` to use it. The one
    /// built into Switchboard (`--encoder static`) was made with
    /// `distill --encoder models/encoders/all-MiniLM-L6-v2 --out
    /// models/static-minilm-l6.sbse`.
    Distill(DistillArgs),
    /// Make a model in the store (any company's, or the installation's) the
    /// active one of its owner, or with --off stop using it. Running triage
    /// stages follow within their reload interval. `GET /v1/triage/models`
    /// lists the ids.
    Activate(ActivateArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DistillArgs {
    /// The transformer encoder's directory (config.json, vocab.txt,
    /// model.safetensors), as scripts/triage/fetch-encoder.sh installs it.
    #[arg(long, value_name = "DIR")]
    pub encoder: PathBuf,
    /// Numbers per word piece after PCA.
    #[arg(long, default_value_t = 256)]
    pub dimension: usize,
    /// The table file to write (`.sbse`).
    #[arg(long, value_name = "FILE.sbse")]
    pub out: PathBuf,
    /// Texts, one per line, to fit the table on: the rows of the pieces they
    /// use move so that a text's sum of rows points where the encoder's own
    /// embedding of it does (the encoder reads each once: about 10 ms each).
    #[arg(long, value_name = "FILE.txt")]
    pub corpus: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ActivateArgs {
    /// The model's id.
    #[arg(value_name = "MODEL_ID")]
    pub id: uuid::Uuid,
    /// Deactivate instead: a company falls back to the installation's model,
    /// the installation to the configured file or the built-in model.
    #[arg(long)]
    pub off: bool,
}

/// Where the labelled text comes from and which columns to use.
#[derive(Debug, Clone, Args)]
pub struct CsvArgs {
    /// Text column(s), comma-separated. Several columns are joined as title,
    /// then body, exactly as a ticket's title and description are.
    #[arg(long = "text", value_name = "COL[,COL…]", value_delimiter = ',', required = true)]
    pub text_columns: Vec<String>,
    /// The label column.
    #[arg(long = "label", value_name = "COL")]
    pub label_column: String,
    /// Rename labels on the way in, e.g. `Blocker=critical,Critical=high`.
    /// Labels not listed are kept.
    #[arg(long, value_name = "FROM=TO[,…]", value_parser = parse_label_map_arg)]
    pub label_map: Option<BTreeMap<String, String>>,
}

fn parse_label_map_arg(text: &str) -> Result<BTreeMap<String, String>, String> {
    parse_label_map(text)
}

impl CsvArgs {
    fn spec(&self) -> CsvSpec {
        CsvSpec {
            text_columns: self.text_columns.clone(),
            label_column: self.label_column.clone(),
            label_map: self.label_map.clone().unwrap_or_default(),
        }
    }
}

/// Arguments of `train`. The examples come either from a CSV file
/// (`--data`) or from the tickets in the store that staff labelled
/// (`--from-store`, served by the `switchboard` binary, which owns the store
/// connection and calls [`train_and_report`]).
#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["data", "from_store"])))]
pub struct TrainArgs {
    /// Labelled training data (CSV with a header row).
    #[arg(long, value_name = "FILE.csv", requires_all = ["text_columns", "label_column"])]
    pub data: Option<PathBuf>,
    /// Text column(s), comma-separated. Several columns are joined as title,
    /// then body, exactly as a ticket's title and description are.
    #[arg(long = "text", value_name = "COL[,COL…]", value_delimiter = ',', requires = "data")]
    pub text_columns: Vec<String>,
    /// The label column.
    #[arg(long = "label", value_name = "COL", requires = "data")]
    pub label_column: Option<String>,
    /// Rename labels on the way in, e.g. `Blocker=critical,Critical=high`.
    /// Labels not listed are kept.
    #[arg(long, value_name = "FROM=TO[,…]", value_parser = parse_label_map_arg)]
    pub label_map: Option<BTreeMap<String, String>>,
    /// Train on the tickets in the configured store whose label (see --task)
    /// staff set or corrected, and store the model there (see --activate).
    #[arg(long, requires = "task")]
    pub from_store: bool,
    /// With --from-store: which model to retrain.
    #[arg(long, value_enum, requires = "from_store")]
    pub task: Option<Task>,
    /// With --from-store: train on this company's tickets only, and store the
    /// model as the company's own (it triages only that company's tickets).
    /// Without it, the model is trained on every company's tickets and
    /// becomes the installation's, serving companies without one of their own.
    #[arg(long, requires = "from_store")]
    pub company: Option<String>,
    /// With --from-store: the most recent tickets to read at most.
    #[arg(long, default_value_t = 100_000, requires = "from_store")]
    pub limit: u32,
    /// With --from-store: make the new model the active one of its owner (the
    /// company, or the installation); running triage stages switch to it
    /// within their reload interval. Without it, a company's admin activates
    /// the company's model with `POST /v1/triage/models/{id}/activate`.
    #[arg(long, requires = "from_store")]
    pub activate: bool,
    /// Where to write the model file (required with --data; optional with
    /// --from-store, which keeps the model in the store).
    #[arg(long, value_name = "MODEL", required_unless_present = "from_store")]
    pub out: Option<PathBuf>,
    /// Labelled data (same columns as --data) to fit the confidence
    /// calibration and the unsure threshold on, instead of the training data's
    /// cross-validation. Use data drawn like what the model will meet; it is
    /// never trained on.
    #[arg(long, value_name = "FILE.csv", requires = "data")]
    pub calibration_data: Option<PathBuf>,
    /// A label meaning "out of scope" (e.g. CLINC150's `oos`): trained as a
    /// class, and predicting it makes the model unsure.
    #[arg(long, value_name = "LABEL")]
    pub unsure_label: Option<String>,
    /// The model's name, the first part of its version [default: the file
    /// name of --out without extension, or with --from-store
    /// `<task>-<company or "store">`].
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub tuning: TuningArgs,
}

/// What a model decides: a ticket's category or its urgency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Task {
    Category,
    Urgency,
}

impl Task {
    /// The name the store and the triage stage know the task by.
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Category => "category",
            Task::Urgency => "urgency",
        }
    }
}

/// Model selection and feature settings; the defaults suit short support
/// texts.
#[derive(Debug, Clone, Args)]
pub struct TuningArgs {
    /// Learner families to cross-validate.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "svm,logistic,nb")]
    pub learners: Vec<LearnerFamily>,
    /// The cross-validation figure that picks the winner.
    #[arg(long, value_enum, default_value_t = SelectionMetric::MacroF1)]
    pub select_by: SelectionMetric,
    /// Per-class score offsets tuned for macro-F1 on imbalanced labels (auto:
    /// when selecting by macro-F1 with at most 12 labels).
    #[arg(long, value_enum, default_value_t = ClassOffsets::Auto)]
    pub class_offsets: ClassOffsets,
    /// Cost-sensitive decisions: what missing a label costs relative to 1
    /// for the others, e.g. `critical=5,high=3` (after --label-map). The
    /// class offsets then minimise the out-of-fold cost (more recall of
    /// those labels, less precision).
    #[arg(long, value_name = "LABEL=COST[,…]", value_parser = parse_miss_costs)]
    pub miss_cost: Option<BTreeMap<String, f32>>,
    /// Number of cross-validation folds.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Word n-gram lengths, e.g. `1-2`.
    #[arg(long, default_value = "1-2")]
    pub word_ngrams: NgramRange,
    /// Character n-gram lengths inside words, e.g. `2-5`, or `none`.
    #[arg(long, default_value = "2-5", value_parser = parse_optional_range)]
    pub char_ngrams: OptionalRange,
    /// Minimum number of training texts an n-gram must occur in.
    #[arg(long, default_value_t = 2)]
    pub min_df: u32,
    /// Keep at most this many word n-grams (most frequent first).
    #[arg(long, default_value_t = 50_000)]
    pub max_word_features: usize,
    /// Keep at most this many character n-grams (most frequent first).
    #[arg(long, default_value_t = 100_000)]
    pub max_char_features: usize,
    /// Read at most this many characters of each text.
    #[arg(long, default_value_t = 4_000)]
    pub max_chars: usize,
    /// Use raw term counts instead of 1 + ln(count).
    #[arg(long)]
    pub linear_tf: bool,
    /// Without --unsure-label: cost of an unsure answer relative to a wrong
    /// one; the threshold minimises the validation cost.
    #[arg(long, default_value_t = 0.5)]
    pub unsure_cost: f32,
    /// With --unsure-label: how much validation in-scope accuracy the unsure
    /// threshold may cost; the threshold catches the most out-of-scope
    /// examples within that budget.
    #[arg(long, default_value_t = 0.03)]
    pub max_in_scope_loss: f32,
    /// Seed of the fold assignment.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Sentence-encoder features beside the n-grams: `auto` (the default):
    /// cross-validation decides between none, the built-in static table and,
    /// when it is installed (not with --from-store), the full encoder;
    /// `none`; `static`, the
    /// table distilled from all-MiniLM-L6-v2 that is built in (microseconds
    /// per text, nothing to install); a path to an encoder directory (e.g.
    /// models/encoders/all-MiniLM-L6-v2, which scripts/triage/fetch-encoder.sh
    /// installs: better on paraphrases, about 13 ms per short ticket on one
    /// core, and the model then needs it wherever it is loaded) or to a
    /// `.sbse` table.
    #[arg(long, value_name = "auto|none|static|PATH", default_value = "auto")]
    pub encoder: EncoderChoice,
    /// With --encoder: the embedding's weight beside the TF-IDF block.
    #[arg(long, default_value_t = crate::encoder::DEFAULT_WEIGHT)]
    pub encoder_weight: f32,
    /// With --encoder: word pieces read per text.
    #[arg(long, default_value_t = crate::encoder::DEFAULT_MAX_TOKENS)]
    pub encoder_max_tokens: usize,
}

/// What `--encoder` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncoderChoice {
    None,
    /// The built-in static table.
    Static,
    /// Cross-validation decides.
    Auto,
    Path(PathBuf),
}

impl std::str::FromStr for EncoderChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Ok(match text {
            "" => return Err("--encoder needs none, static, auto or a path".into()),
            "none" => EncoderChoice::None,
            "static" => EncoderChoice::Static,
            "auto" => EncoderChoice::Auto,
            path => EncoderChoice::Path(PathBuf::from(path)),
        })
    }
}

/// `Some(range)`, or `None` for "none".
#[derive(Debug, Clone, Copy)]
pub struct OptionalRange(pub Option<NgramRange>);

fn parse_optional_range(text: &str) -> Result<OptionalRange, String> {
    if text.eq_ignore_ascii_case("none") {
        return Ok(OptionalRange(None));
    }
    text.parse().map(|range| OptionalRange(Some(range)))
}

#[derive(Debug, Clone, Args)]
pub struct EvalArgs {
    /// The model file.
    #[arg(long, value_name = "MODEL")]
    pub model: PathBuf,
    /// Labelled evaluation data (CSV with a header row); never data the
    /// model was trained or tuned on.
    #[arg(long, value_name = "FILE.csv")]
    pub data: PathBuf,
    #[command(flatten)]
    pub csv: CsvArgs,
    /// The label meaning "out of scope". With it, an unsure prediction counts
    /// as this label, and in_scope_accuracy and unsure_recall are reported.
    /// Without it, every example counts its most probable label (the model's
    /// abstentions show in unsure_rate and accepted_accuracy).
    #[arg(long, value_name = "LABEL")]
    pub unsure_label: Option<String>,
    /// Report the recall of labels taken together, e.g.
    /// `urgent=critical+high` (repeatable): the share of examples of any of
    /// them predicted as any of them.
    #[arg(long, value_name = "NAME=LABEL+LABEL…", value_parser = parse_recall_group)]
    pub recall_group: Vec<(String, Vec<String>)>,
    /// With --unsure-label: ignore the model's confidence threshold and
    /// decide the most probable label (predicting the out-of-scope label
    /// still counts as unsure).
    #[arg(long, requires = "unsure_label")]
    pub ignore_threshold: bool,
}

fn parse_miss_costs(text: &str) -> Result<BTreeMap<String, f32>, String> {
    text.split(',')
        .map(|pair| {
            let (label, cost) = pair.split_once('=').ok_or_else(|| format!("{pair:?} is not LABEL=COST"))?;
            let cost: f32 = cost.trim().parse().map_err(|_| format!("{pair:?}: the cost must be a number"))?;
            if label.trim().is_empty() || !(cost.is_finite() && cost > 0.0) {
                return Err(format!("{pair:?} needs a label and a positive cost"));
            }
            Ok((label.trim().to_owned(), cost))
        })
        .collect()
}

fn parse_recall_group(text: &str) -> Result<(String, Vec<String>), String> {
    let (name, members) = text.split_once('=').ok_or_else(|| format!("{text:?} is not NAME=LABEL+LABEL"))?;
    let members: Vec<String> = members.split('+').map(str::trim).filter(|m| !m.is_empty()).map(str::to_owned).collect();
    if name.trim().is_empty() || members.is_empty() {
        return Err(format!("{text:?} needs a name and at least one label"));
    }
    Ok((name.trim().to_owned(), members))
}

#[derive(Debug, Clone, Args)]
pub struct PredictArgs {
    /// The model file.
    #[arg(long, value_name = "MODEL")]
    pub model: PathBuf,
    /// The text to classify (for a ticket: title, a newline, description).
    #[arg(long)]
    pub text: String,
    /// Print the prediction as one JSON object instead.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `score-urgency`.
#[derive(Debug, Clone, Args)]
pub struct ScoreUrgencyArgs {
    /// Labelled tickets: a CSV file with `title`, `description` and
    /// `urgency` columns. Never data the model or policy was made from.
    #[arg(long, value_name = "FILE.csv")]
    pub data: PathBuf,
    /// The urgency model (default: the built-in one).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<PathBuf>,
    /// An urgency policy (JSON, as `PUT /v1/triage/policy` takes) instead of
    /// the shipped default policy.
    #[arg(long, value_name = "FILE.json")]
    pub policy: Option<PathBuf>,
    /// Also list each ticket that model and policy together put on the
    /// wrong side of normal/high, with its label and decision (for working
    /// on rules with a development set; never for tuning on held-out data).
    #[arg(long)]
    pub misses: bool,
}

/// Arguments of `cv`.
#[derive(Debug, Clone, Args)]
pub struct CvArgs {
    /// Labelled data (CSV with a header row).
    #[arg(long, value_name = "FILE.csv")]
    pub data: PathBuf,
    #[command(flatten)]
    pub csv: CsvArgs,
    /// How many times the data is shuffled and split.
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// Folds per repeat (each trained on the others and scored).
    #[arg(long, default_value_t = 5)]
    pub outer_folds: usize,
    /// Report the recall of labels taken together, e.g.
    /// `urgent=critical+high` (repeatable).
    #[arg(long, value_name = "NAME=LABEL+LABEL…", value_parser = parse_recall_group)]
    pub recall_group: Vec<(String, Vec<String>)>,
    /// Also write the examples as cross-validated (text, label after
    /// `--label-map`) with their fold in each repeat (columns `repeat1`, …,
    /// folds numbered from 1), so another system can be scored on the same
    /// folds (scripts/triage/sklearn_baseline.py --cv FILE.csv).
    #[arg(long, value_name = "FILE.csv")]
    pub folds_out: Option<PathBuf>,
    /// Write `--folds-out` and stop, training nothing.
    #[arg(long, requires = "folds_out")]
    pub folds_only: bool,
    #[command(flatten)]
    pub tuning: TuningArgs,
}

/// Runs one command, writing its report to `out`.
pub fn run_command(command: TriageCommand, out: &mut impl Write) -> Result<()> {
    match command {
        TriageCommand::Train(args) => run_train(args, out),
        TriageCommand::Eval(args) => run_eval(args, out),
        TriageCommand::Predict(args) => run_predict(args, out),
        TriageCommand::ScoreUrgency(args) => run_score_urgency(args, out),
        TriageCommand::Cv(args) => run_cv(args, out),
        TriageCommand::Distill(args) => run_distill(&args, out),
        TriageCommand::Activate(_) => Err(Error::InvalidOptions(
            "`triage activate` needs a store: run it as `switchboard triage activate`".into(),
        )),
    }
}

impl TuningArgs {
    /// The training options these arguments ask for; loads the encoder.
    /// With `--encoder auto`, the options carry no encoder: train with
    /// [`TuningArgs::encoder_candidates`] to let cross-validation choose.
    pub fn options(&self, name: String, unsure_label: Option<String>) -> Result<TrainOptions> {
        if !(self.encoder_weight.is_finite() && self.encoder_weight > 0.0) {
            return Err(Error::InvalidOptions(format!(
                "--encoder-weight {} must be a positive number",
                self.encoder_weight
            )));
        }
        if self.encoder_max_tokens < 3 {
            return Err(Error::InvalidOptions("--encoder-max-tokens must be at least 3".into()));
        }
        let encoder = match &self.encoder {
            EncoderChoice::None | EncoderChoice::Auto => None,
            EncoderChoice::Static => Some(self.features_of(crate::encoder::SentenceEncoder::builtin_static())),
            EncoderChoice::Path(path) => Some(self.features_of(crate::encoder::SentenceEncoder::load(path)?)),
        };
        Ok(TrainOptions {
            name,
            features: FeatureConfig {
                word_ngrams: self.word_ngrams,
                char_ngrams: self.char_ngrams.0,
                min_document_frequency: self.min_df,
                max_word_features: self.max_word_features,
                max_char_features: self.max_char_features,
                sublinear_tf: !self.linear_tf,
                max_chars: self.max_chars,
            },
            learners: self.learners.clone(),
            folds: self.folds,
            select_by: self.select_by,
            class_offsets: self.class_offsets,
            miss_costs: self.miss_cost.clone().unwrap_or_default(),
            unsure_label,
            unsure_cost: self.unsure_cost,
            max_in_scope_loss: self.max_in_scope_loss,
            seed: self.seed,
            encoder,
            trained_at: None,
        })
    }

    fn features_of(&self, encoder: std::sync::Arc<crate::encoder::SentenceEncoder>) -> crate::encoder::EncoderFeatures {
        crate::encoder::EncoderFeatures { encoder, weight: self.encoder_weight, max_tokens: self.encoder_max_tokens }
    }

    /// The encoders cross-validation chooses between: with `--encoder auto`,
    /// none, the built-in static table and, with `consider_transformer` and
    /// when it is installed where models look for it, the full
    /// all-MiniLM-L6-v2 encoder; otherwise just the one asked for.
    ///
    /// Models trained from the store are loaded by running servers, which
    /// may not find an encoder installed beside this command: they choose
    /// between none and the built-in table only, unless asked by path.
    pub fn encoder_candidates(
        &self,
        options: &TrainOptions,
        consider_transformer: bool,
    ) -> Result<Vec<Option<crate::encoder::EncoderFeatures>>> {
        if self.encoder != EncoderChoice::Auto {
            return Ok(vec![options.encoder.clone()]);
        }
        let mut candidates = vec![None, Some(self.features_of(crate::encoder::SentenceEncoder::builtin_static()))];
        if !consider_transformer {
            return Ok(candidates);
        }
        let installed = crate::encoder::search_path(None)
            .into_iter()
            .map(|directory| directory.join(crate::encoder::DEFAULT_ENCODER_NAME))
            .find(|directory| directory.join("model.safetensors").is_file());
        if let Some(directory) = installed {
            candidates.push(Some(self.features_of(crate::encoder::SentenceEncoder::load(directory)?)));
        }
        Ok(candidates)
    }
}

/// `SOURCE_DATE_EPOCH` (seconds), the reproducible-builds convention, pins
/// the training date recorded in the model.
fn source_date() -> Result<Option<time::OffsetDateTime>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Err(_) => Ok(None),
        Ok(seconds) => {
            let seconds: i64 = seconds
                .trim()
                .parse()
                .map_err(|_| Error::InvalidOptions(format!("SOURCE_DATE_EPOCH={seconds:?} is not a number")))?;
            time::OffsetDateTime::from_unix_timestamp(seconds)
                .map(Some)
                .map_err(|error| Error::InvalidOptions(format!("SOURCE_DATE_EPOCH: {error}")))
        }
    }
}

fn default_name(out: &Path) -> String {
    out.file_stem().and_then(|stem| stem.to_str()).filter(|stem| !stem.is_empty()).unwrap_or("triage").replace('@', "-")
}

impl TrainArgs {
    /// The model's name: `--name`, else from `--out`, else from the task.
    pub fn model_name(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        match (&self.out, self.task) {
            (Some(out), _) => default_name(out),
            (None, Some(task)) => {
                let scope: String = self
                    .company
                    .as_deref()
                    .unwrap_or("store")
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
                    .collect();
                format!("{}-{scope}", task.as_str())
            }
            (None, None) => "triage".to_owned(),
        }
    }
}

fn run_train(args: TrainArgs, out: &mut impl Write) -> Result<()> {
    let (Some(data), Some(label_column)) = (&args.data, &args.label_column) else {
        return Err(Error::InvalidOptions(
            "--from-store needs a store: run it as `switchboard triage train --from-store`".into(),
        ));
    };
    let spec = CsvSpec {
        text_columns: args.text_columns.clone(),
        label_column: label_column.clone(),
        label_map: args.label_map.clone().unwrap_or_default(),
    };
    let rows = read_labeled_csv(data, &spec)?;
    writeln!(out, "read {} examples from {}", rows.examples.len(), data.display())?;
    if rows.skipped_blank_label > 0 {
        writeln!(out, "skipped {} rows with a blank label", rows.skipped_blank_label)?;
    }
    let calibration = match &args.calibration_data {
        None => None,
        Some(path) => {
            let calibration_rows = read_labeled_csv(path, &spec)?;
            writeln!(out, "read {} calibration examples from {}", calibration_rows.examples.len(), path.display())?;
            Some(calibration_rows.examples)
        }
    };
    train_and_report(rows.examples, calibration, &args, out).map(drop)
}

/// Trains on `examples` with the options in `args`, printing progress and
/// the validation metrics (the last line one JSON object), and writes the
/// model to `--out` when given. Returns the model.
pub fn train_and_report(
    examples: Vec<(String, String)>,
    calibration: Option<Vec<(String, String)>>,
    args: &TrainArgs,
    out: &mut impl Write,
) -> Result<Model> {
    let mut options = args.tuning.options(args.model_name(), args.unsure_label.clone())?;
    options.trained_at = source_date()?;
    let candidates = args.tuning.encoder_candidates(&options, args.data.is_some())?;
    let mut progress_error = None;
    let model = train_choosing_encoder(examples, calibration, &options, candidates, &mut |line| {
        if let Err(error) = writeln!(out, "{line}") {
            progress_error.get_or_insert(error);
        }
    })?;
    if let Some(error) = progress_error {
        return Err(error.into());
    }
    if let Some(path) = &args.out {
        model.save(path)?;
        writeln!(out, "wrote {} ({})", path.display(), model.version())?;
    }
    let validation = &model.metadata().validation;
    writeln!(
        out,
        "validation ({}): accuracy {:.4}  macro-F1 {:.4}  ECE {:.4} (uncalibrated {:.4}, temperature {:.4})",
        validation.source,
        validation.accuracy,
        validation.macro_f1,
        validation.ece,
        validation.ece_uncalibrated,
        model.temperature()
    )?;
    writeln!(
        out,
        "unsure below confidence {:.3}: {:.1}% of examples unsure, accuracy {:.4} on the rest",
        model.unsure_threshold(),
        100.0 * validation.unsure_rate,
        validation.accepted_accuracy
    )?;
    if let (Some(in_scope), Some(recall)) = (validation.in_scope_accuracy, validation.unsure_recall) {
        writeln!(out, "in-scope accuracy {in_scope:.4}, out-of-scope recall {recall:.4}")?;
    }
    writeln!(out, "{}", serde_json::to_string(validation)?)?;
    Ok(model)
}

fn run_distill(args: &DistillArgs, out: &mut impl Write) -> Result<()> {
    let encoder = crate::encoder::SentenceEncoder::load(&args.encoder)?;
    let corpus: Vec<String> = match &args.corpus {
        None => Vec::new(),
        Some(path) => std::fs::read_to_string(path)
            .map_err(|error| Error::io(path, error))?
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    let started = std::time::Instant::now();
    let bytes = encoder.distill_static(args.dimension, &corpus)?;
    crate::artefact::write_atomically(&args.out, &bytes)?;
    writeln!(
        out,
        "distilled {} into {} ({} dimensions, {:.1} MB) in {:.1}s",
        encoder.name(),
        args.out.display(),
        args.dimension,
        bytes.len() as f64 / 1e6,
        started.elapsed().as_secs_f64()
    )?;
    Ok(())
}

fn run_cv(args: CvArgs, out: &mut impl Write) -> Result<()> {
    if args.repeats == 0 || args.outer_folds < 2 {
        return Err(Error::InvalidOptions("--repeats must be at least 1 and --outer-folds at least 2".into()));
    }
    let rows = read_labeled_csv(&args.data, &args.csv.spec())?;
    let options = args.tuning.options("cv".into(), None)?;
    let candidates = args.tuning.encoder_candidates(&options, true)?;
    let mut label_names: Vec<&str> = rows.examples.iter().map(|(_, label)| label.as_str()).collect();
    label_names.sort_unstable();
    label_names.dedup();
    let label_ids: Vec<u32> = rows
        .examples
        .iter()
        .map(|(_, label)| label_names.binary_search(&label.as_str()).unwrap_or_default() as u32)
        .collect();
    let groups: BTreeMap<String, Vec<String>> = args.recall_group.iter().cloned().collect();
    writeln!(
        out,
        "{} examples, {} labels; {} x {}-fold cross-validation of the whole training",
        rows.examples.len(),
        label_names.len(),
        args.repeats,
        args.outer_folds
    )?;
    let folds: Vec<Vec<usize>> = (0..args.repeats)
        .map(|repeat| {
            let seed = options.seed.wrapping_add(1_000 + repeat as u64);
            crate::train::stratified_folds(&label_ids, label_names.len(), args.outer_folds, seed)
        })
        .collect();
    if let Some(path) = &args.folds_out {
        write_folds(path, &rows.examples, &folds)?;
        writeln!(out, "folds written to {}", path.display())?;
    }
    if args.folds_only {
        return Ok(());
    }
    let mut runs: Vec<crate::metrics::Evaluation> = Vec::new();
    for (repeat, fold_of) in folds.iter().enumerate() {
        for fold in 0..args.outer_folds {
            let (held_out, training): (Vec<_>, Vec<_>) =
                rows.examples.iter().zip(fold_of).partition(|(_, example_fold)| **example_fold == fold);
            let training: Vec<(String, String)> = training.into_iter().map(|(example, _)| example.clone()).collect();
            let model = train_choosing_encoder(training, None, &options, candidates.clone(), &mut |_| {})?;
            let predictions: Vec<_> = {
                use rayon::prelude::*;
                held_out.par_iter().map(|((text, _), _)| model.predict(text)).collect()
            };
            let outcomes: Vec<Outcome<'_>> = held_out
                .iter()
                .zip(&predictions)
                .map(|(((_, truth), _), prediction)| Outcome {
                    truth,
                    decided: Some(prediction.best_label.as_str()),
                    best: &prediction.best_label,
                    confidence: prediction.confidence,
                    unsure: prediction.unsure.is_some(),
                })
                .collect();
            let evaluation = evaluate(&outcomes, None, &groups);
            let recalls = evaluation
                .group_recall
                .iter()
                .flatten()
                .map(|(name, recall)| format!("  {name} recall {recall:.4}"))
                .collect::<String>();
            writeln!(
                out,
                "repeat {} fold {}: accuracy {:.4}  macro-F1 {:.4}{recalls}",
                repeat + 1,
                fold + 1,
                evaluation.accuracy,
                evaluation.macro_f1
            )?;
            runs.push(evaluation);
        }
    }
    let mut summary: BTreeMap<String, Spread> = BTreeMap::new();
    summary.insert("accuracy".into(), Spread::of(runs.iter().map(|run| run.accuracy)));
    summary.insert("macro_f1".into(), Spread::of(runs.iter().map(|run| run.macro_f1)));
    for name in groups.keys() {
        let recalls = runs.iter().filter_map(|run| run.group_recall.as_ref()?.get(name).copied());
        summary.insert(format!("{name}_recall"), Spread::of(recalls));
    }
    for (name, spread) in &summary {
        writeln!(
            out,
            "{name}: mean {:.4}  sd {:.4}  min {:.4}  max {:.4}  ({} runs)",
            spread.mean, spread.sd, spread.min, spread.max, spread.runs
        )?;
    }
    writeln!(out, "{}", serde_json::to_string(&summary).unwrap_or_default())?;
    Ok(())
}

/// Writes `text,label,repeat1,…` with each example's fold (from 1) per repeat.
fn write_folds(path: &Path, examples: &[(String, String)], folds: &[Vec<usize>]) -> Result<()> {
    let csv_error = |source| Error::Csv { path: path.to_owned(), source };
    let mut writer = csv::Writer::from_path(path).map_err(csv_error)?;
    let mut header = vec!["text".to_owned(), "label".to_owned()];
    header.extend((1..=folds.len()).map(|repeat| format!("repeat{repeat}")));
    writer.write_record(&header).map_err(csv_error)?;
    for (row, (text, label)) in examples.iter().enumerate() {
        let mut record = vec![text.clone(), label.clone()];
        record.extend(folds.iter().map(|fold_of| (fold_of[row] + 1).to_string()));
        writer.write_record(&record).map_err(csv_error)?;
    }
    writer.flush().map_err(|source| Error::io(path, source))
}

/// Mean, sample standard deviation and range of a figure over runs.
#[derive(Debug, serde::Serialize)]
struct Spread {
    runs: usize,
    mean: f64,
    sd: f64,
    min: f64,
    max: f64,
}

impl Spread {
    fn of(values: impl Iterator<Item = f64>) -> Spread {
        let values: Vec<f64> = values.collect();
        let runs = values.len();
        let mean = values.iter().sum::<f64>() / runs.max(1) as f64;
        let variance =
            values.iter().map(|value| (value - mean).powi(2)).sum::<f64>() / runs.saturating_sub(1).max(1) as f64;
        Spread {
            runs,
            mean,
            sd: variance.sqrt(),
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }
}

fn run_score_urgency(args: ScoreUrgencyArgs, out: &mut impl Write) -> Result<()> {
    use switchboard_core::Urgency;
    use switchboard_core::policy::{PolicyInput, UrgencyPolicy};

    use crate::urgency_score::{UrgencyScore, score};

    let urgency_model = match &args.model {
        Some(path) => Model::load(path)?,
        None => Model::from_bytes(crate::stage::DEFAULT_URGENCY_MODEL)?,
    };
    let category_model = Model::from_bytes(crate::stage::DEFAULT_CATEGORY_MODEL)?;
    let policy = match &args.policy {
        Some(path) => {
            let json = std::fs::read_to_string(path).map_err(|source| Error::io(path, source))?;
            UrgencyPolicy::from_json(&json)
                .map_err(|error| Error::InvalidOptions(format!("{}: {error}", path.display())))?
        }
        None => UrgencyPolicy::shipped(),
    };
    let spec = CsvSpec {
        text_columns: vec!["title".into(), "description".into()],
        label_column: "urgency".into(),
        label_map: BTreeMap::new(),
    };
    let rows = read_labeled_csv(&args.data, &spec)?;
    let mut truths = Vec::with_capacity(rows.examples.len());
    for (line, (_, label)) in rows.examples.iter().enumerate() {
        truths.push(Urgency::parse(label).ok_or_else(|| {
            Error::InvalidOptions(format!("example {}: `{label}` is not low, normal, high or critical", line + 1))
        })?);
    }
    let (with_policy, without_policy) = (policy.compile(), UrgencyPolicy::default().compile());
    let (mut model_alone, mut policy_alone, mut both) = (Vec::new(), Vec::new(), Vec::new());
    for ((text, _), truth) in rows.examples.iter().zip(&truths) {
        let model_urgency = crate::urgency_of(&urgency_model.predict(text));
        let category = category_model.predict(text).label;
        let input = |model_urgency| PolicyInput { model_urgency, category: category.as_deref(), text };
        model_alone.push((*truth, without_policy.apply(&input(model_urgency)).urgency));
        policy_alone.push((*truth, with_policy.apply(&input(None)).urgency));
        let decided = with_policy.apply(&input(model_urgency)).urgency;
        both.push((*truth, decided));
        if args.misses && (*truth >= Urgency::High) != (decided >= Urgency::High) {
            writeln!(
                out,
                "miss: labelled {}, decided {}: {}",
                truth.as_str(),
                decided.as_str(),
                text.replace('\n', " | ")
            )?;
        }
    }
    let scores: Vec<(&str, UrgencyScore)> = vec![
        ("model alone", score(model_alone)),
        ("policy alone", score(policy_alone)),
        ("model + policy", score(both)),
    ];
    writeln!(out, "urgency model {} on {} ({} tickets)", urgency_model.version(), args.data.display(), truths.len())?;
    writeln!(
        out,
        "{:<16} {:>22} {:>20} {:>16}",
        "decided by", "high+critical rated so", "low+normal rated so", "critical recall"
    )?;
    for (name, scored) in &scores {
        writeln!(
            out,
            "{name:<16} {:>22.3} {:>20.3} {:>16.3}",
            scored.urgent_rated_urgent, scored.calm_rated_calm, scored.critical_recall
        )?;
    }
    let json: BTreeMap<&str, &UrgencyScore> = scores.iter().map(|(name, scored)| (*name, scored)).collect();
    writeln!(out, "{}", serde_json::to_string(&json).unwrap_or_default())?;
    Ok(())
}

fn run_eval(args: EvalArgs, out: &mut impl Write) -> Result<()> {
    let model = Model::load(&args.model)?;
    let rows = read_labeled_csv(&args.data, &args.csv.spec())?;
    let predictions: Vec<_> = {
        use rayon::prelude::*;
        rows.examples.par_iter().map(|(text, _)| model.predict(text)).collect()
    };
    let outcomes: Vec<Outcome<'_>> = rows
        .examples
        .iter()
        .zip(&predictions)
        .map(|((_, truth), prediction)| {
            let unsure = match prediction.unsure {
                Some(UnsureReason::OutOfScope) => true,
                Some(UnsureReason::LowConfidence) => !args.ignore_threshold,
                None => false,
            };
            // Without an out-of-scope label an abstention has no label to
            // stand for: the most probable label is scored.
            let decided = match (&args.unsure_label, unsure) {
                (Some(unsure_label), true) => Some(unsure_label.as_str()),
                _ => Some(prediction.best_label.as_str()),
            };
            Outcome { truth, decided, best: &prediction.best_label, confidence: prediction.confidence, unsure }
        })
        .collect();
    let groups: BTreeMap<String, Vec<String>> = args.recall_group.iter().cloned().collect();
    let evaluation = evaluate(&outcomes, args.unsure_label.as_deref(), &groups);
    writeln!(out, "model {} on {} ({} examples)", model.version(), args.data.display(), evaluation.n)?;
    writeln!(
        out,
        "accuracy {:.4}  macro-F1 {:.4}  ECE {:.4}  unsure {:.1}% (accuracy {:.4} on the rest)",
        evaluation.accuracy,
        evaluation.macro_f1,
        evaluation.ece,
        100.0 * evaluation.unsure_rate,
        evaluation.accepted_accuracy
    )?;
    if let (Some(in_scope), Some(recall)) = (evaluation.in_scope_accuracy, evaluation.unsure_recall) {
        writeln!(out, "in-scope accuracy {in_scope:.4}  out-of-scope recall {recall:.4}")?;
    }
    writeln!(out, "{}", serde_json::to_string(&evaluation)?)?;
    Ok(())
}

fn run_predict(args: PredictArgs, out: &mut impl Write) -> Result<()> {
    let model = Model::load(&args.model)?;
    let prediction = model.predict(&args.text);
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&prediction)?)?;
        return Ok(());
    }
    match (&prediction.label, prediction.unsure) {
        (Some(label), _) => writeln!(out, "label: {label} (confidence {:.3})", prediction.confidence)?,
        (None, Some(UnsureReason::OutOfScope)) => writeln!(
            out,
            "label: unsure (out of scope: {} with confidence {:.3})",
            prediction.best_label, prediction.confidence
        )?,
        (None, _) => writeln!(
            out,
            "label: unsure (best guess {} with confidence {:.3}, below the threshold {:.3})",
            prediction.best_label,
            prediction.confidence,
            model.unsure_threshold()
        )?,
    }
    writeln!(out, "top:")?;
    for (label, probability) in &prediction.top {
        writeln!(out, "  {probability:.3}  {label}")?;
    }
    writeln!(out, "model: {}", prediction.model_version)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::encoder::EncoderKind;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        tuning: TuningArgs,
    }

    #[test]
    fn encoder_choices_parse_and_auto_leaves_the_transformer_out_when_asked() {
        let parse = |arguments: &[&str]| Wrapper::try_parse_from([&["test"], arguments].concat()).map(|w| w.tuning);
        assert_eq!(parse(&[]).expect("default").encoder, EncoderChoice::Auto);
        assert_eq!(parse(&["--encoder", "none"]).expect("none").encoder, EncoderChoice::None);
        assert_eq!(parse(&["--encoder", "static"]).expect("static").encoder, EncoderChoice::Static);
        assert_eq!(parse(&["--encoder", "x/y"]).expect("path").encoder, EncoderChoice::Path("x/y".into()));
        assert!(parse(&["--encoder", ""]).is_err());

        let auto = parse(&[]).expect("auto");
        let options = auto.options("t".into(), None).expect("options");
        assert!(options.encoder.is_none());
        let kinds = |candidates: Vec<Option<crate::encoder::EncoderFeatures>>| -> Vec<Option<EncoderKind>> {
            candidates.iter().map(|c| c.as_ref().map(|features| features.encoder.kind())).collect()
        };
        let for_store = kinds(auto.encoder_candidates(&options, false).expect("candidates"));
        assert_eq!(for_store, vec![None, Some(EncoderKind::Static)]);
        let for_files = kinds(auto.encoder_candidates(&options, true).expect("candidates"));
        assert_eq!(&for_files[..2], &for_store[..]);
        assert!(for_files[2..].iter().all(|kind| *kind == Some(EncoderKind::Transformer)));

        let fixed = parse(&["--encoder", "static"]).expect("static");
        let options = fixed.options("t".into(), None).expect("options");
        assert_eq!(kinds(fixed.encoder_candidates(&options, true).expect("one")), vec![Some(EncoderKind::Static)]);
        assert!(parse(&["--encoder-weight", "0"]).expect("parses").options("t".into(), None).is_err());
    }
}
