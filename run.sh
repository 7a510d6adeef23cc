#!/usr/bin/env bash
# The main job: full set-up on a fresh machine, then banshi on the embedded default
# (SQLite + qdrant-edge + local models) with the sample knowledge base.
#   1. release build (target-cpu=native), 2. fetch + verify model weights,
#   3. import the bundled guides (only changed guides are re-indexed), load the fictional sample
#   citizens (password printed unless BANSHI_SAMPLE_PASSWORD is set), 4. serve the API and
#   the chat page (http://127.0.0.1:8080 unless BANSHI_ADDR says otherwise).
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/banshi/target}"
export BANSHI_MODELS="${BANSHI_MODELS:-$HOME/.cache/banshi/models}"
export BANSHI_DATA="${BANSHI_DATA:-$PWD/data}"

cargo build --release --bin banshi
banshi="$CARGO_TARGET_DIR/release/banshi"
"$banshi" models fetch
"$banshi" ingest
"$banshi" citizens samples
exec "$banshi" serve "$@"
