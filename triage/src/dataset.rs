//! Labelled examples from CSV files.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::text::join_fields;

/// Which columns of a CSV file hold the text and the label, and how labels
/// are renamed on the way in.
#[derive(Clone, Debug, Default)]
pub struct CsvSpec {
    /// Joined with [`join_fields`] (the first as a title, the rest as body),
    /// exactly as [`crate::ticket_text`] joins a ticket's title and
    /// description.
    pub text_columns: Vec<String>,
    pub label_column: String,
    /// `from → to`; labels not listed are kept as they are.
    pub label_map: BTreeMap<String, String>,
}

/// Examples read from a CSV file, and how many rows were skipped for a blank
/// label.
#[derive(Clone, Debug, Default)]
pub struct LabeledRows {
    pub examples: Vec<(String, String)>,
    pub skipped_blank_label: usize,
}

/// Reads `(text, label)` pairs. The file must have a header row naming the
/// columns; a missing column is an error, a row with a blank label is skipped
/// and counted.
pub fn read_labeled_csv(path: &Path, spec: &CsvSpec) -> Result<LabeledRows> {
    let csv_error = |source| Error::Csv { path: path.to_owned(), source };
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_path(path).map_err(csv_error)?;
    let headers = reader.headers().map_err(csv_error)?.clone();
    let position = |name: &str| {
        headers.iter().position(|header| header == name).ok_or_else(|| {
            Error::Data(format!(
                "{}: no column {name:?} (columns: {})",
                path.display(),
                headers.iter().collect::<Vec<_>>().join(", ")
            ))
        })
    };
    if spec.text_columns.is_empty() {
        return Err(Error::InvalidOptions("at least one text column is needed".into()));
    }
    let text_positions: Vec<usize> = spec.text_columns.iter().map(|name| position(name)).collect::<Result<_>>()?;
    let label_position = position(&spec.label_column)?;

    let mut rows = LabeledRows::default();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let label = record.get(label_position).unwrap_or("").trim();
        if label.is_empty() {
            rows.skipped_blank_label += 1;
            continue;
        }
        let label = spec.label_map.get(label).map(String::as_str).unwrap_or(label);
        let text = join_fields(text_positions.iter().map(|&position| record.get(position).unwrap_or("")));
        rows.examples.push((text, label.to_owned()));
    }
    if rows.examples.is_empty() {
        return Err(Error::Data(format!("{}: no labelled rows", path.display())));
    }
    Ok(rows)
}

/// Parses `FROM=TO,FROM=TO` (as `--label-map` takes it).
pub fn parse_label_map(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    for pair in text.split(',').filter(|pair| !pair.trim().is_empty()) {
        let (from, to) = pair.split_once('=').ok_or_else(|| format!("{pair:?} is not FROM=TO"))?;
        let (from, to) = (from.trim(), to.trim());
        if from.is_empty() || to.is_empty() {
            return Err(format!("{pair:?} has an empty side"));
        }
        if map.insert(from.to_owned(), to.to_owned()).is_some() {
            return Err(format!("{from:?} is mapped twice"));
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_joins_maps_and_skips() {
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join("data.csv");
        std::fs::write(
            &path,
            "id,summary,description,priority\n1,Disk full,\"node, down\",Blocker\n2,x,,\n3,y,z,Minor\n",
        )
        .expect("write");
        let spec = CsvSpec {
            text_columns: vec!["summary".into(), "description".into()],
            label_column: "priority".into(),
            label_map: parse_label_map("Blocker=critical").expect("map"),
        };
        let rows = read_labeled_csv(&path, &spec).expect("read");
        assert_eq!(
            rows.examples,
            [("Disk full\nnode, down".to_owned(), "critical".to_owned()), ("y\nz".to_owned(), "Minor".to_owned())]
        );
        assert_eq!(rows.skipped_blank_label, 1);
        let missing = CsvSpec { label_column: "nope".into(), ..spec };
        assert!(matches!(read_labeled_csv(&path, &missing), Err(Error::Data(_))));
    }

    #[test]
    fn label_maps_parse() {
        assert_eq!(parse_label_map("a=b, c = d").expect("ok").len(), 2);
        assert!(parse_label_map("a").is_err());
        assert!(parse_label_map("a=b,a=c").is_err());
        assert!(parse_label_map("=b").is_err());
        assert!(parse_label_map("").expect("empty").is_empty());
    }
}
