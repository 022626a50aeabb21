#!/usr/bin/env bash
# One command for the triage evaluation: writes the held-out splits, trains and
# evaluates our models on them, runs scikit-learn's TF-IDF + LinearSVC on the
# same splits, and prints both sets of figures side by side.
#
# Usage: scripts/triage/compare.sh [TASK…]   (banking77 clinc150 hadoop-urgency hadoop-priority)
#
# By default our models are trained three times per task: with TF-IDF
# features ("ours"), with the built-in static embedding table added
# ("ours+st") and with the sentence encoder added ("ours+enc"), which
# scripts/triage/fetch-encoder.sh installs first if it is missing.
# SWITCHBOARD_TRIAGE_SYSTEMS=plain,static (for example) runs some of them.
#
# Needs ../shared/data beside the repository (or SWITCHBOARD_DATA), python3
# with scikit-learn (`pip install scikit-learn`). Work files go to
# ${TMPDIR:-/tmp}/switchboard-triage-compare.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DATA=${SWITCHBOARD_DATA:-$ROOT/../shared/data}
SPLITS=${TMPDIR:-/tmp}/switchboard-triage-splits
WORK=${TMPDIR:-/tmp}/switchboard-triage-compare

python3 -c "import sklearn" 2>/dev/null || { echo "scikit-learn is missing: pip install scikit-learn" >&2; exit 1; }
python3 "$ROOT/scripts/triage/make_splits.py" --data-dir "$DATA" --out-dir "$SPLITS"
export SWITCHBOARD_TRIAGE_SYSTEMS=${SWITCHBOARD_TRIAGE_SYSTEMS:-plain,static,encoder}
if [[ ,$SWITCHBOARD_TRIAGE_SYSTEMS, == *,encoder,* ]]; then
  export SWITCHBOARD_TRIAGE_ENCODER=${SWITCHBOARD_TRIAGE_ENCODER:-$ROOT/models/encoders/all-MiniLM-L6-v2}
  "$ROOT/scripts/triage/fetch-encoder.sh" "$SWITCHBOARD_TRIAGE_ENCODER"
  # Evaluation finds the encoder beside the model files' directory or here.
  export SWITCHBOARD_ENCODER_PATH=$(dirname "$SWITCHBOARD_TRIAGE_ENCODER")${SWITCHBOARD_ENCODER_PATH:+:$SWITCHBOARD_ENCODER_PATH}
fi
cd "$ROOT"
cargo build --quiet --release -p switchboard-triage --example triage
TRIAGE=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/triage
python3 "$ROOT/scripts/triage/compare.py" "$TRIAGE" "$SPLITS" "$WORK" "$@"
