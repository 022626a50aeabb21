//! The store-independent `kb` tools as a library: a clap `Subcommand` the
//! `switchboard` binary mounts beside its store-backed `kb import`, `kb
//! search` and `kb rebuild`, and [`run_tool`] that carries one out, writing
//! its output to any `Write`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};
use switchboard_triage::encoder::SentenceEncoder;

use crate::analysis::AnalysisOptions;
use crate::confidence::separation;
use crate::document::{Faq, KbDocument};
use crate::eval::{EVAL_DEPTH, build_in_ram, evaluate, stratified_split, top_confidences};
use crate::import::{add_phrasings, documents_from_examples, read_csv_column, read_faqs_jsonl, read_labelled_csv};
use crate::index::KbOptions;
use crate::search::SearchConfig;
use crate::tune::{TuningData, tune};
use crate::{Error, Result};

/// The commands that need no store and no index directory: measuring and
/// tuning matching on labelled data. The `switchboard` binary mounts these
/// beside its own store-backed `import`, `search` and `rebuild`.
#[derive(Debug, Subcommand)]
pub enum KbToolCommand {
    /// Measure retrieval quality on labelled queries with a throw-away
    /// in-memory index. The last line printed is one JSON object with
    /// `n`, `mrr`, `recall@1`, `recall@5`, `recall@10`, `p50_ms`, `p99_ms`
    /// (MRR counts the top 10 matches).
    Eval(EvalArgs),
    /// Tune the matching options on labelled queries (never on the queries
    /// you report on) and write the tuned options as JSON.
    Tune {
        #[command(flatten)]
        corpus: CorpusArgs,
        /// Cross-validation folds over the tuning queries (FAQ corpora:
        /// the other folds' queries are learned as phrasings).
        #[arg(long, default_value_t = 3)]
        folds: usize,
        /// Where to write the tuned options (JSON, for `kb eval --options`).
        #[arg(long, value_name = "FILE.json")]
        out: Option<PathBuf>,
        /// Questions no document answers (CSV with the `--query` column,
        /// e.g. CLINC150's out-of-scope queries): the confidence model learns
        /// from their matches that a match far ahead of the others may still
        /// not answer. (A quarter of the documents is also left out in turn,
        /// so their own queries have no right answer.)
        #[arg(long, value_name = "FILE.csv")]
        unanswerable: Option<PathBuf>,
    },
    /// Split a labelled CSV file into parts, stratified by label, with a
    /// fixed seed: the same input always gives the same parts.
    Split {
        #[arg(long, value_name = "FILE.csv")]
        input: PathBuf,
        /// The label column to stratify by.
        #[arg(long)]
        label: String,
        /// Parts as NAME=FRACTION, e.g. `tune=0.6,heldout=0.4`; each part is
        /// written to OUT_DIR/NAME.csv with the input's header.
        #[arg(long, value_delimiter = ',', required = true)]
        parts: Vec<String>,
        #[arg(long, default_value_t = 20240601)]
        seed: u64,
        #[arg(long)]
        out_dir: PathBuf,
    },
}

/// The labelled corpus and queries shared by `eval` and `tune`.
#[derive(Debug, Args)]
pub struct CorpusArgs {
    /// FAQ articles as JSON Lines.
    #[arg(long, value_name = "FILE.jsonl", conflicts_with = "docs", required_unless_present = "docs")]
    pub faqs: Option<PathBuf>,
    /// A labelled CSV corpus: rows with the same `--doc-id` become one
    /// document made of their `--doc-text` values.
    #[arg(long, value_name = "FILE.csv", requires_all = ["doc_text", "doc_id"])]
    pub docs: Option<PathBuf>,
    /// The text column of `--docs`.
    #[arg(long, value_name = "COL")]
    pub doc_text: Option<String>,
    /// The document id column of `--docs`.
    #[arg(long, value_name = "COL")]
    pub doc_id: Option<String>,
    /// The labelled queries (CSV).
    #[arg(long, value_name = "FILE.csv")]
    pub queries: PathBuf,
    /// The query text column.
    #[arg(long = "query", value_name = "COL", default_value = "query")]
    pub query_column: String,
    /// The column holding the id of the document that answers the query.
    #[arg(long = "gold", value_name = "COL", default_value = "faq_id")]
    pub gold_column: String,
    /// The sentence encoder for dense re-ranking: `static` (the built-in
    /// table, as the knowledge base uses by default), `none` or an
    /// encoder's directory. `eval` uses it where the options give the
    /// dense similarities a weight; `tune` tries weights unless `none`.
    #[arg(long, value_name = "static|none|DIR", default_value = "static")]
    pub encoder: String,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub corpus: CorpusArgs,
    /// Past queries with known answers (CSV with the `--query` and `--gold`
    /// columns) to index as extra phrasings of their documents before
    /// evaluating: the knowledge base learning from how customers asked.
    /// Must not overlap the evaluated queries.
    #[arg(long, value_name = "FILE.csv")]
    pub learn: Option<PathBuf>,
    /// Plain BM25 (no stemming, stop words, boosts, re-ranking) as a baseline.
    #[arg(long, conflicts_with = "options")]
    pub plain: bool,
    /// Index each document's question, answers and phrasings as one text in
    /// one field (classic single-field BM25 when combined with `--plain`).
    #[arg(long)]
    pub single_field: bool,
    /// Matching options as written by `kb tune --out`; the built-in tuned
    /// defaults otherwise. (Not `--config`: that is the installation's TOML
    /// configuration, a flag of every `switchboard` command.)
    #[arg(long, value_name = "FILE.json")]
    pub options: Option<PathBuf>,
    /// Also print how well the top match's confidence separates right from
    /// wrong answers (AUC, precision and coverage at thresholds).
    #[arg(long)]
    pub confidence_report: bool,
}

/// The encoder `--encoder` names.
fn load_encoder(choice: &str) -> Result<Option<Arc<SentenceEncoder>>> {
    match choice {
        "none" => Ok(None),
        "static" => Ok(Some(SentenceEncoder::builtin_static())),
        path => {
            SentenceEncoder::load(path).map(Some).map_err(|error| Error::Config(format!("--encoder {path}: {error}")))
        }
    }
}

fn write_error(error: std::io::Error) -> Error {
    Error::io("writing output", error)
}

/// Carries out one store-independent `kb` command.
pub fn run_tool(command: KbToolCommand, out: &mut impl Write) -> Result<()> {
    match command {
        KbToolCommand::Eval(arguments) => run_eval(arguments, out),
        KbToolCommand::Tune { corpus, folds, out: out_path, unanswerable } => {
            let (documents, queries, is_faq) = load_corpus(&corpus)?;
            let unanswerable = match unanswerable {
                None => Vec::new(),
                // No document has an empty id, so every match of these is wrong.
                Some(path) => read_csv_column(&path, &corpus.query_column)?
                    .into_iter()
                    .map(|text| crate::import::LabelledQuery { text, gold_id: String::new() })
                    .collect(),
            };
            let data = TuningData {
                encoder: load_encoder(&corpus.encoder)?,
                documents,
                queries,
                folds: if is_faq { folds.max(2) } else { 1 },
                learn_phrasings: is_faq,
                unanswerable,
            };
            writeln!(out, "tuning on {} queries over {} documents", data.queries.len(), data.documents.len())
                .map_err(write_error)?;
            let (options, _) = tune(&data, out)?;
            let json = serde_json::to_string_pretty(&options).map_err(|error| Error::Config(error.to_string()))?;
            match out_path {
                Some(path) => {
                    std::fs::write(&path, format!("{json}\n"))
                        .map_err(|error| Error::io(format!("writing {}", path.display()), error))?;
                    writeln!(out, "tuned options written to {}", path.display()).map_err(write_error)
                }
                None => writeln!(out, "{json}").map_err(write_error),
            }
        }
        KbToolCommand::Split { input, label, parts, seed, out_dir } => {
            run_split(&input, &label, &parts, seed, &out_dir, out)
        }
    }
}

fn read_options(path: &Path) -> Result<KbOptions> {
    let text =
        std::fs::read_to_string(path).map_err(|error| Error::io(format!("reading {}", path.display()), error))?;
    serde_json::from_str(&text).map_err(|error| Error::Config(format!("{}: {error}", path.display())))
}

/// Documents, queries, and whether the corpus is FAQ articles.
fn load_corpus(corpus: &CorpusArgs) -> Result<(Vec<Faq>, Vec<crate::LabelledQuery>, bool)> {
    let queries = read_labelled_csv(&corpus.queries, &corpus.query_column, &corpus.gold_column)?;
    match (&corpus.faqs, &corpus.docs) {
        (Some(faqs), _) => Ok((read_faqs_jsonl(faqs)?, queries, true)),
        (None, Some(docs)) => {
            let (Some(text_column), Some(id_column)) = (&corpus.doc_text, &corpus.doc_id) else {
                return Err(Error::Config("--docs needs --doc-text and --doc-id".into()));
            };
            let examples = read_labelled_csv(docs, text_column, id_column)?;
            Ok((documents_from_examples(&examples), queries, false))
        }
        (None, None) => Err(Error::Config("give --faqs or --docs".into())),
    }
}

fn run_eval(arguments: EvalArgs, out: &mut impl Write) -> Result<()> {
    let (mut documents, queries, _) = load_corpus(&arguments.corpus)?;
    if let Some(learn_path) = &arguments.learn {
        let learned = read_labelled_csv(learn_path, &arguments.corpus.query_column, &arguments.corpus.gold_column)?;
        let evaluated: std::collections::HashSet<&str> = queries.iter().map(|query| query.text.as_str()).collect();
        let overlapping = learned.iter().filter(|row| evaluated.contains(row.text.as_str())).count();
        if overlapping > 0 {
            writeln!(out, "warning: {overlapping} learned queries are also evaluated").map_err(write_error)?;
        }
        let unknown = add_phrasings(&mut documents, &learned);
        writeln!(out, "learned {} phrasings ({unknown} for unknown documents, ignored)", learned.len() - unknown)
            .map_err(write_error)?;
    }
    if arguments.single_field {
        for article in &mut documents {
            let mut texts = vec![std::mem::take(&mut article.question)];
            texts.append(&mut article.answers);
            texts.append(&mut article.phrasings);
            texts.retain(|text| !text.trim().is_empty());
            article.phrasings = vec![texts.join("\n")];
        }
    }
    let options = if arguments.plain {
        KbOptions { analysis: AnalysisOptions::plain(), search: SearchConfig::plain() }
    } else {
        match &arguments.options {
            Some(path) => read_options(path)?,
            None => KbOptions::default(),
        }
    };
    let started = std::time::Instant::now();
    let document_count = documents.len();
    let encoder = load_encoder(&arguments.corpus.encoder)?;
    let knowledge_base = build_in_ram(documents.into_iter().map(KbDocument::Faq), options.clone(), encoder)?;
    let build_seconds = started.elapsed().as_secs_f64();
    let unknown_gold = queries
        .iter()
        .filter(|query| knowledge_base.get(&crate::DocKey::faq(query.gold_id.clone())).ok().flatten().is_none())
        .count();
    writeln!(
        out,
        "indexed {document_count} documents in {build_seconds:.2}s; evaluating {} queries at depth {EVAL_DEPTH}{}",
        queries.len(),
        if unknown_gold > 0 { format!(" ({unknown_gold} name no indexed document)") } else { String::new() }
    )
    .map_err(write_error)?;
    let (report, outcomes) = evaluate(&knowledge_base, &queries, &options.search)?;
    if arguments.confidence_report {
        let separation_report = separation(&top_confidences(&outcomes, &queries));
        let line = serde_json::to_string(&separation_report).map_err(|error| Error::Config(error.to_string()))?;
        writeln!(out, "confidence: {line}").map_err(write_error)?;
    }
    let line = serde_json::to_string(&report).map_err(|error| Error::Config(error.to_string()))?;
    writeln!(out, "{line}").map_err(write_error)
}

fn run_split(
    input: &Path,
    label: &str,
    parts: &[String],
    seed: u64,
    out_dir: &Path,
    out: &mut impl Write,
) -> Result<()> {
    let mut named_fractions: Vec<(String, f64)> = Vec::new();
    for part in parts {
        let parsed = part
            .split_once('=')
            .and_then(|(name, fraction)| Some((name.trim().to_owned(), fraction.trim().parse::<f64>().ok()?)));
        match parsed {
            Some((name, fraction)) if !name.is_empty() && fraction > 0.0 => named_fractions.push((name, fraction)),
            _ => return Err(Error::Config(format!("--parts: `{part}` is not NAME=FRACTION"))),
        }
    }
    let file = std::fs::File::open(input).map_err(|error| Error::io(format!("opening {}", input.display()), error))?;
    let mut reader = csv::Reader::from_reader(std::io::BufReader::new(file));
    let source_name = input.display().to_string();
    let headers = reader
        .headers()
        .map_err(|error| Error::InputFile { source_name: source_name.clone(), message: error.to_string() })?
        .clone();
    let label_index = headers.iter().position(|header| header == label).ok_or_else(|| Error::InputFile {
        source_name: source_name.clone(),
        message: format!("no column `{label}`"),
    })?;
    let mut records = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|error| Error::Input {
            source_name: source_name.clone(),
            line: error.position().map(|position| position.line()).unwrap_or(0),
            message: error.to_string(),
        })?;
        records.push(record);
    }
    let fractions: Vec<f64> = named_fractions.iter().map(|(_, fraction)| *fraction).collect();
    let split = stratified_split(records, |record| record.get(label_index).unwrap_or("").to_owned(), &fractions, seed);
    std::fs::create_dir_all(out_dir).map_err(|error| Error::io(format!("creating {}", out_dir.display()), error))?;
    for ((name, _), rows) in named_fractions.iter().zip(split) {
        let path = out_dir.join(format!("{name}.csv"));
        let mut writer = csv::Writer::from_path(&path)
            .map_err(|error| Error::Config(format!("writing {}: {error}", path.display())))?;
        let csv_error = |error: csv::Error| Error::Config(format!("writing {}: {error}", path.display()));
        writer.write_record(&headers).map_err(csv_error)?;
        for row in &rows {
            writer.write_record(row).map_err(csv_error)?;
        }
        writer.flush().map_err(|error| Error::io(format!("writing {}", path.display()), error))?;
        writeln!(out, "{}: {} rows", path.display(), rows.len()).map_err(write_error)?;
    }
    Ok(())
}
