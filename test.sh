#!/usr/bin/env bash
# The test command: full set-up on a fresh machine, then the whole suite.
#   1. build, 2. fetch + verify the model weights (cached in ~/.cache/banshi/models),
#   3. cargo test --workspace (tests needing the real models run because step 2 made them).
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/banshi/target}"
export BANSHI_MODELS="${BANSHI_MODELS:-$HOME/.cache/banshi/models}"

cargo build --bin banshi
"$CARGO_TARGET_DIR/debug/banshi" models fetch
cargo test --workspace "$@"
