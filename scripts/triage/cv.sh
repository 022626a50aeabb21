#!/usr/bin/env bash
# Repeated stratified cross-validation of urgency on Hadoop's bug reports:
# our trainer with each encoder choice and scikit-learn's TF-IDF + LinearSVC,
# all on the same folds (`triage cv --folds-out` writes them, the baseline
# reads them). Prints mean ± sd [min, max] per system.
#
# Usage: scripts/triage/cv.sh [SYSTEM…]   (none static auto encoder sklearn;
#                                          default: all of them)
#
# Environment: SWITCHBOARD_DATA (default ../shared/data), REPEATS (5),
# FOLDS (5), EXTRA (more `triage cv` options for our systems, e.g.
# "--miss-cost critical=20,high=10"). "encoder" and "auto" use the full
# encoder where scripts/triage/fetch-encoder.sh installed it. Work files go
# to ${TMPDIR:-/tmp}/switchboard-triage-cv.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DATA=${SWITCHBOARD_DATA:-$ROOT/../shared/data}
WORK=${TMPDIR:-/tmp}/switchboard-triage-cv
REPEATS=${REPEATS:-5}
FOLDS=${FOLDS:-5}
SYSTEMS=("$@")
[ ${#SYSTEMS[@]} -gt 0 ] || SYSTEMS=(none static auto encoder sklearn)
ENCODER_DIR=$ROOT/models/encoders/all-MiniLM-L6-v2

python3 -c "import sklearn" 2>/dev/null || { echo "scikit-learn is missing: pip install scikit-learn" >&2; exit 1; }
[ -f "$DATA/hadoop_bugs/train.csv" ] || { echo "no $DATA/hadoop_bugs/train.csv (set SWITCHBOARD_DATA)" >&2; exit 1; }
mkdir -p "$WORK"
cd "$ROOT"
cargo build --quiet --release --locked -p switchboard-triage --example triage
TRIAGE=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/triage
export SWITCHBOARD_ENCODER_PATH=$ROOT/models/encoders${SWITCHBOARD_ENCODER_PATH:+:$SWITCHBOARD_ENCODER_PATH}

MAP=Blocker=critical,Critical=high,Major=normal,Minor=low,Trivial=low
RECALL_GROUPS=(--recall-group urgent=critical+high --recall-group critical=critical)
FOLDS_FILE=$WORK/hadoop-folds.csv

run_ours() { # system, encoder option
    local system=$1 encoder=$2
    # shellcheck disable=SC2086
    "$TRIAGE" cv --data "$DATA/hadoop_bugs/train.csv" --text summary,description --label priority \
        --label-map "$MAP" "${RECALL_GROUPS[@]}" --repeats "$REPEATS" --outer-folds "$FOLDS" \
        --encoder "$encoder" --folds-out "$FOLDS_FILE" ${EXTRA:-} > "$WORK/$system.txt"
}

declare -a ROWS=()
for system in "${SYSTEMS[@]}"; do
    started=$SECONDS
    case $system in
        none | static | auto) run_ours "$system" "$system" ;;
        encoder)
            "$ROOT/scripts/triage/fetch-encoder.sh" "$ENCODER_DIR" >&2
            run_ours encoder "$ENCODER_DIR" ;;
        sklearn)
            if [ ! -f "$FOLDS_FILE" ]; then # the folds do not depend on the system
                "$TRIAGE" cv --data "$DATA/hadoop_bugs/train.csv" --text summary,description --label priority \
                    --label-map "$MAP" --repeats "$REPEATS" --outer-folds "$FOLDS" --encoder none \
                    --folds-out "$FOLDS_FILE" --folds-only > /dev/null
            fi
            python3 "$ROOT/scripts/triage/sklearn_baseline.py" --cv "$FOLDS_FILE" \
                --recall-group urgent=critical+high --recall-group critical=critical > "$WORK/sklearn.txt" ;;
        *) echo "unknown system $system (none static auto encoder sklearn)" >&2; exit 1 ;;
    esac
    ROWS+=("$(python3 - "$system" "$WORK/$system.txt" $((SECONDS - started)) <<'PY'
import json, sys
system, path, seconds = sys.argv[1:]
summary = json.loads(open(path).read().strip().splitlines()[-1])
cell = lambda key: "{mean:.3f} ± {sd:.3f} [{min:.3f}, {max:.3f}]".format(**summary[key])
print(f"| {system} | {cell('macro_f1')} | {cell('urgent_recall')} | {cell('critical_recall')} | {cell('accuracy')} | {seconds} |")
PY
)")
    echo "${ROWS[-1]}" >&2
done

echo
echo "Hadoop urgency, ${REPEATS} × ${FOLDS}-fold stratified CV on the same folds (mean ± sd [min, max]; $DATA/hadoop_bugs/train.csv)"
echo "| system | macro-F1 | critical+high recall | critical recall | accuracy | seconds |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
