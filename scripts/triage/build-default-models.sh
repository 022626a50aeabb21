#!/usr/bin/env bash
# Builds the default triage models that `switchboard up` ships with:
#
#   models/category-banking77.sbtm  category, from Banking77 (77 intents)
#   models/urgency-hadoop.sbtm      urgency, from Apache Hadoop bug priorities
#
# Usage: scripts/triage/build-default-models.sh [DATA_DIR]
#
# DATA_DIR defaults to ../shared/data beside the repository. The build is
# reproducible: training is deterministic and SOURCE_DATE_EPOCH pins the date
# recorded in the files, so the same data and code give the same bytes (the
# printed SHA-256 sums let you check).
#
# Urgency mapping (Hadoop priority -> Switchboard urgency):
#   Blocker -> critical, Critical -> high, Major -> normal, Minor/Trivial -> low
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DATA=${1:-$ROOT/../shared/data}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1767225600} # 2026-01-01T00:00:00Z
LOGS=${TMPDIR:-/tmp}/switchboard-default-models
mkdir -p "$LOGS"

for file in banking77/train.csv hadoop_bugs/train.csv; do
  [[ -f $DATA/$file ]] || { echo "missing $DATA/$file (pass the data directory as the first argument)" >&2; exit 1; }
done

cd "$ROOT"
cargo build --quiet --release -p switchboard-triage --example triage
TRIAGE=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/triage

# linfa-bayes 0.8.1 prints its fitted histograms with dbg!; that noise goes to
# the log files, the reports to the terminal.
echo "== category: Banking77" >&2
"$TRIAGE" train --data "$DATA/banking77/train.csv" --text text --label category \
  --out models/category-banking77.sbtm --name category-banking77 2>"$LOGS/category.stderr.log"

echo "== urgency: Hadoop bug priorities" >&2
"$TRIAGE" train --data "$DATA/hadoop_bugs/train.csv" --text summary,description --label priority \
  --label-map Blocker=critical,Critical=high,Major=normal,Minor=low,Trivial=low \
  --out models/urgency-hadoop.sbtm --name urgency-hadoop 2>"$LOGS/urgency.stderr.log"

ls -l models/*.sbtm
sha256sum models/*.sbtm
