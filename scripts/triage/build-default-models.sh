#!/usr/bin/env bash
# Builds the default triage models that `switchboard up` ships with:
#
#   models/category-customer-service.sbtm
#                                   category (the default): 11 customer-service
#                                   categories and `other`, from Bitext,
#                                   CLINC150 and triage/data/ tickets
#   models/category-banking77.sbtm  category for banks, from Banking77
#   models/urgency-everyday.sbtm    urgency (the default), from the everyday
#                                   support tickets in triage/data/, with the
#                                   built-in static embedding table
#   models/urgency-hadoop.sbtm      urgency for bug trackers, from Apache
#                                   Hadoop bug priorities
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

for file in banking77/train.csv hadoop_bugs/train.csv bitext/utterances.csv clinc150/train.csv; do
  [[ -f $DATA/$file ]] || { echo "missing $DATA/$file (pass the data directory as the first argument)" >&2; exit 1; }
done

cd "$ROOT"
cargo build --quiet --release -p switchboard-triage --example triage
TRIAGE=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/triage

# linfa-bayes 0.8.1 prints its fitted histograms with dbg!; that noise goes to
# the log files, the reports to the terminal.
echo "== category: customer service" >&2
python3 scripts/triage/make_category_data.py --data-dir "$DATA" \
  --out "$LOGS/category-train.csv" --calibration-out "$LOGS/category-calibration.csv"
"$TRIAGE" train --data "$LOGS/category-train.csv" --text title,description --label category \
  --unsure-label other --calibration-data "$LOGS/category-calibration.csv" --encoder static \
  --out models/category-customer-service.sbtm --name category-customer-service 2>"$LOGS/category-cs.stderr.log"

echo "== category: Banking77" >&2
"$TRIAGE" train --data "$DATA/banking77/train.csv" --text text --label category --encoder none \
  --out models/category-banking77.sbtm --name category-banking77 2>"$LOGS/category.stderr.log"

echo "== urgency: everyday support tickets" >&2
"$TRIAGE" train --data triage/data/urgency-everyday-train.csv --text title,description --label urgency \
  --encoder static --out models/urgency-everyday.sbtm --name urgency-everyday 2>"$LOGS/urgency-everyday.stderr.log"

echo "== urgency: Hadoop bug priorities" >&2
"$TRIAGE" train --data "$DATA/hadoop_bugs/train.csv" --text summary,description --label priority \
  --label-map Blocker=critical,Critical=high,Major=normal,Minor=low,Trivial=low --encoder none \
  --out models/urgency-hadoop.sbtm --name urgency-hadoop 2>"$LOGS/urgency.stderr.log"

ls -l models/*.sbtm
sha256sum models/*.sbtm
