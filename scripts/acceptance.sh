#!/usr/bin/env bash
# Every held-out figure of triage and matching in one run, for one report:
#
#   1. triage on its held-out splits (Banking77, CLINC150, Hadoop urgency and
#      priority): our models with TF-IDF only, with the built-in static
#      embeddings and with the full encoder, beside scikit-learn's TF-IDF +
#      LinearSVC (scripts/triage/compare.sh);
#   2. Hadoop urgency under repeated stratified cross-validation, every
#      system on the same folds (scripts/triage/cv.sh);
#   3. the knowledge base on StackFAQ and Banking77-as-FAQ: no embeddings,
#      static, full encoder, scikit-learn's TF-IDF cosine (scripts/kb/eval.sh);
#   4. the default urgency on the everyday evaluation set, beside the
#      previous default (triage score-urgency).
#
# Usage: scripts/acceptance.sh [PART…]   (triage cv kb urgency; default: all)
#
# Needs ../shared/data (or SWITCHBOARD_DATA) and python3 with scikit-learn.
# Takes hours on two cores (the full encoder and the repeated
# cross-validation dominate); CV_SYSTEMS (default "none static auto encoder
# sklearn") and REPEATS (default 5) shorten part 2. Each part's whole output
# is kept in ${REPORT:-target/acceptance}/PART.txt; the tables are printed
# again at the end.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REPORT=${REPORT:-$ROOT/target/acceptance}
PARTS=("$@")
[ ${#PARTS[@]} -gt 0 ] || PARTS=(triage cv kb urgency)
export SWITCHBOARD_DATA=${SWITCHBOARD_DATA:-$ROOT/../shared/data}
mkdir -p "$REPORT"
cd "$ROOT"

run_part() { # name, command…
    local name=$1
    shift
    echo "== $name: $*" >&2
    local started=$SECONDS
    "$@" 2>&1 | tee "$REPORT/$name.txt" >&2
    echo "== $name took $((SECONDS - started)) s" >&2
}

for part in "${PARTS[@]}"; do
    case $part in
        triage) run_part triage scripts/triage/compare.sh ;;
        cv)
            # shellcheck disable=SC2086
            run_part cv scripts/triage/cv.sh ${CV_SYSTEMS:-none static auto encoder sklearn} ;;
        kb) run_part kb env DATA="$SWITCHBOARD_DATA" scripts/kb/eval.sh ;;
        urgency)
            cargo build --quiet --release --locked -p switchboard-triage --example triage
            TRIAGE=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/triage
            run_part urgency sh -c "echo '-- default urgency model + shipped policy'; \
                '$TRIAGE' score-urgency --data triage/eval/urgency-everyday.csv; \
                echo '-- previous default (urgency-hadoop) + shipped policy'; \
                '$TRIAGE' score-urgency --data triage/eval/urgency-everyday.csv --model models/urgency-hadoop.sbtm" ;;
        *) echo "unknown part $part (triage cv kb urgency)" >&2; exit 1 ;;
    esac
done

echo
echo "# Acceptance figures ($(git rev-parse --short HEAD), $(date -u +%Y-%m-%dT%H:%MZ))"
for part in "${PARTS[@]}"; do
    echo
    case $part in
        triage) sed -n '/^Held-out figures/,/^full JSON/p' "$REPORT/triage.txt" ;;
        cv) sed -n '/^Hadoop urgency,/,$p' "$REPORT/cv.txt" ;;
        kb) sed -n '/^== held-out results/,$p' "$REPORT/kb.txt" ;;
        urgency) cat "$REPORT/urgency.txt" ;;
    esac
done
