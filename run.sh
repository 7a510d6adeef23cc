#!/usr/bin/env bash
# The main job: full set-up on a fresh machine, then banshi on the embedded default
# (SQLite + qdrant-edge + local models) with the sample knowledge base.
#   1. release build (target-cpu=native), 2. fetch + verify model weights,
#   3. import the bundled guides (only changed guides are re-indexed), train the appeal classifier
#   on the hotline data's dev split when it is there and no model is, load the fictional sample
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
# The appeal classifier that runs is the one `banshi eval appeal` measures: TF-IDF trained on the
# hotline data's dev split (seconds). A city trains on its own labelled messages the same way.
hotline="${BANSHI_HOTLINE_DATA:-../shared/data/msgabench/hotline_messages.jsonl}"
if [ -f "$hotline" ] && [ ! -f "$BANSHI_DATA/appeal-model.json" ]; then
    "$banshi" train appeal --dataset "$hotline" --split dev --encoder-epochs 0
fi
"$banshi" citizens samples
exec "$banshi" serve "$@"
