#!/usr/bin/env bash
# Held-out evaluation of the knowledge base on StackFAQ and Banking77-as-FAQ,
# beside plain BM25, in one run: no embeddings, the built-in static
# embeddings, the full encoder (scripts/triage/fetch-encoder.sh installs it),
# and scikit-learn's TF-IDF cosine as a peer. Deterministic: fixed split seed,
# and tuning (`kb tune`) sees only the tuning part of each data set.
#
#   scripts/kb/eval.sh            # from the repository root
#
# Environment: DATA (default ../shared/data), OUT (default target/kb-eval),
# CARGO_TARGET_DIR (default target), SEED (default 20240601).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DATA="${DATA:-$ROOT/../shared/data}"
OUT="${OUT:-$ROOT/target/kb-eval}"
SEED="${SEED:-20240601}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"

cargo build --quiet --release -p switchboard-kb --example kb --manifest-path "$ROOT/Cargo.toml"
KB="$TARGET/release/examples/kb"
mkdir -p "$OUT"

# ---- splits -------------------------------------------------------------
# StackFAQ: 5 reworded queries per FAQ -> 3 for tuning, 2 held out.
"$KB" split --input "$DATA/stackfaq/queries_dev.csv" --label faq_id \
    --parts tune=0.6,heldout=0.4 --seed "$SEED" --out-dir "$OUT/stackfaq"
# Banking77: per category, 70% make the category's document, 15% tune, 15% held out.
"$KB" split --input "$DATA/banking77/train.csv" --label category \
    --parts docs=0.7,tune=0.15,heldout=0.15 --seed "$SEED" --out-dir "$OUT/banking77"

# Questions no StackFAQ article answers, for the confidence model: CLINC150's
# 100 out-of-scope training queries and 300 of its in-scope ones (seed 7). And
# for the held-out confidence report: StackFAQ's held-out queries plus
# CLINC150's out-of-scope validation queries (gold "none").
python3 - "$DATA" "$OUT" <<'PY'
import csv, random, sys
data, out = sys.argv[1], sys.argv[2]
train = list(csv.DictReader(open(f"{data}/clinc150/train.csv", encoding="utf-8")))
inscope = [r["text"] for r in train if r["intent"] != "oos"]
random.Random(7).shuffle(inscope)
with open(f"{out}/unanswerable.csv", "w", newline="", encoding="utf-8") as handle:
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(["query"])
    writer.writerows([r["text"]] for r in train if r["intent"] == "oos")
    writer.writerows([text] for text in inscope[:300])
val = list(csv.DictReader(open(f"{data}/clinc150/val.csv", encoding="utf-8")))
held = list(csv.DictReader(open(f"{out}/stackfaq/heldout.csv", encoding="utf-8")))
with open(f"{out}/stackfaq/heldout-with-oos.csv", "w", newline="", encoding="utf-8") as handle:
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(["query", "faq_id"])
    writer.writerows([r["query"], r["faq_id"]] for r in held)
    writer.writerows([r["text"], "none"] for r in val if r["intent"] == "oos")
PY

last_line() { tail -n 1; }
declare -a ROWS=()
row() { # name, json
    ROWS+=("$(printf '%-58s %s' "$1" "$2")")
}

ENCODER_DIR="$ROOT/models/encoders/all-MiniLM-L6-v2"
"$ROOT/scripts/triage/fetch-encoder.sh" "$ENCODER_DIR" >&2
PEER="$ROOT/scripts/kb/sklearn_baseline.py"

# ---- StackFAQ -------------------------------------------------------------
SF=(--faqs "$DATA/stackfaq/faqs.jsonl" --queries "$OUT/stackfaq/heldout.csv")
SF_LEARN=("${SF[@]}" --learn "$OUT/stackfaq/tune.csv")
echo "== tuning on StackFAQ (tuning split only), with and without embeddings"
"$KB" tune --faqs "$DATA/stackfaq/faqs.jsonl" --queries "$OUT/stackfaq/tune.csv" \
    --unanswerable "$OUT/unanswerable.csv" --out "$OUT/stackfaq/tuned.json" | tee "$OUT/stackfaq/tune.log"
"$KB" tune --faqs "$DATA/stackfaq/faqs.jsonl" --queries "$OUT/stackfaq/tune.csv" --encoder none \
    --unanswerable "$OUT/unanswerable.csv" --out "$OUT/stackfaq/tuned-plain.json" > "$OUT/stackfaq/tune-plain.log"

row "stackfaq plain BM25, one field (question+answers)" "$("$KB" eval "${SF[@]}" --plain --single-field | last_line)"
row "stackfaq plain BM25, question and answer fields" "$("$KB" eval "${SF[@]}" --plain | last_line)"
row "stackfaq defaults (built-in, static embeddings)" "$("$KB" eval "${SF[@]}" | last_line)"
row "stackfaq plain BM25 + tuning queries learned" "$("$KB" eval "${SF_LEARN[@]}" --plain | last_line)"
row "stackfaq + learned: tuned without embeddings" "$("$KB" eval "${SF_LEARN[@]}" --options "$OUT/stackfaq/tuned-plain.json" --encoder none | last_line)"
"$KB" eval "${SF_LEARN[@]}" --options "$OUT/stackfaq/tuned.json" --confidence-report > "$OUT/stackfaq/final.txt"
row "stackfaq + learned: tuned, static embeddings" "$(last_line < "$OUT/stackfaq/final.txt")"
row "stackfaq + learned: same options, full encoder" "$("$KB" eval "${SF_LEARN[@]}" --options "$OUT/stackfaq/tuned.json" --encoder "$ENCODER_DIR" | last_line)"
row "stackfaq + learned: scikit-learn TF-IDF cosine" "$(python3 "$PEER" faqs "$DATA/stackfaq/faqs.jsonl" "$OUT/stackfaq/heldout.csv" "$OUT/stackfaq/tune.csv")"

# ---- Banking77 as FAQ ------------------------------------------------------
BK=(--docs "$OUT/banking77/docs.csv" --doc-text text --doc-id category --query text --gold category)
echo "== tuning on Banking77 (tuning split only), with and without embeddings"
"$KB" tune "${BK[@]}" --queries "$OUT/banking77/tune.csv" \
    --out "$OUT/banking77/tuned.json" | tee "$OUT/banking77/tune.log"
"$KB" tune "${BK[@]}" --queries "$OUT/banking77/tune.csv" --encoder none \
    --out "$OUT/banking77/tuned-plain.json" > "$OUT/banking77/tune-plain.log"

BH=("${BK[@]}" --queries "$OUT/banking77/heldout.csv")
row "banking77 plain BM25 (docs split)" "$("$KB" eval "${BH[@]}" --plain | last_line)"
row "banking77 defaults (built-in, static embeddings)" "$("$KB" eval "${BH[@]}" | last_line)"
row "banking77 tuned without embeddings" "$("$KB" eval "${BH[@]}" --options "$OUT/banking77/tuned-plain.json" --encoder none | last_line)"
"$KB" eval "${BH[@]}" --options "$OUT/banking77/tuned.json" --confidence-report > "$OUT/banking77/final.txt"
row "banking77 tuned, static embeddings" "$(last_line < "$OUT/banking77/final.txt")"
row "banking77 same options, full encoder" "$("$KB" eval "${BH[@]}" --options "$OUT/banking77/tuned.json" --encoder "$ENCODER_DIR" | last_line)"
row "banking77 scikit-learn TF-IDF cosine" "$(python3 "$PEER" docs "$OUT/banking77/docs.csv" "$OUT/banking77/heldout.csv")"
row "banking77 tuned, static embeddings (docs + tuning split)" "$("$KB" eval "${BH[@]}" --options "$OUT/banking77/tuned.json" --learn "$OUT/banking77/tune.csv" | last_line)"

echo
echo "== held-out results (MRR counts the top 10)"
printf '%s\n' "${ROWS[@]}"
echo
echo "== confidence of the top match on held-out queries"
echo "stackfaq:  $(grep '^confidence:' "$OUT/stackfaq/final.txt")"
echo "stackfaq + CLINC150 out-of-scope (built-in defaults): $("$KB" eval --faqs "$DATA/stackfaq/faqs.jsonl" \
    --queries "$OUT/stackfaq/heldout-with-oos.csv" --confidence-report | grep '^confidence:')"
echo "banking77: $(grep '^confidence:' "$OUT/banking77/final.txt")"
