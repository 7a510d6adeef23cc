#!/usr/bin/env bash
# The test command: full set-up on a fresh machine, then the whole suite.
#   1. build, 2. fetch + verify the model weights (cached in ~/.cache/banshi/models), build the
#   Qdrant server (cached in ~/.cache/banshi/qdrant) and install the OpenAPI validator (pip,
#   --user), 3. cargo test --workspace (tests needing the real models or the Qdrant server run
#   because step 2 made them), after rustfmt's check and clippy with warnings as errors.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/banshi/target}"
export BANSHI_MODELS="${BANSHI_MODELS:-$HOME/.cache/banshi/models}"

cargo build --bin banshi
"$CARGO_TARGET_DIR/debug/banshi" models fetch
# The Qdrant server the index tests run against (built once into ~/.cache/banshi/qdrant, then
# reused; see ../shared/vendor/qdrant/README.md). Without the vendored source, those tests skip.
if [ -f ../shared/vendor/qdrant/build.sh ]; then
  bash ../shared/vendor/qdrant/build.sh >/dev/null
fi
# The standard OpenAPI validator that tests/openapi.rs runs on the served document (installed
# once; without it that step prints SKIPPED).
python3 -c 'import openapi_spec_validator' 2>/dev/null \
  || python3 -m pip install --user --quiet 'openapi-spec-validator==0.9.0' \
  || echo "test.sh: openapi-spec-validator not installed; tests/openapi.rs skips its validator step" >&2
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace "$@"
