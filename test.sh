#!/usr/bin/env bash
# The test command: full set-up on a fresh machine, then the whole suite.
#   1. the Qdrant server the index tests run against starts building in the background (built
#      once into ~/.cache/banshi/qdrant, then reused; see ../shared/vendor/qdrant/README.md):
#      on a fresh machine it overlaps banshi's own build instead of following it,
#   2. build, fetch + verify the model weights (cached in ~/.cache/banshi/models), install the
#      OpenAPI validator (pip, --user) and fetch axe-core (npm pack; ~/.cache/banshi/axe),
#   3. rustfmt's check, clippy with warnings as errors, the test build,
#   4. wait for Qdrant, then cargo test --workspace (tests needing the real models or the
#      Qdrant server run because steps 1–2 made them).
# Each step prints its elapsed time on stderr.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/banshi/target}"
export BANSHI_MODELS="${BANSHI_MODELS:-$HOME/.cache/banshi/models}"
step() { echo "test.sh: $1 (+$((SECONDS / 60)) min $((SECONDS % 60)) s)" >&2; }

qdrant_pid=
qdrant_log=$(mktemp)
# On an early exit the background build stops too (its own process group).
trap 'rm -f "$qdrant_log"; [ -z "$qdrant_pid" ] || kill -- "-$qdrant_pid" 2>/dev/null || true' EXIT
# Without the vendored source, the Qdrant tests skip.
if [ -f ../shared/vendor/qdrant/build.sh ]; then
  setsid bash ../shared/vendor/qdrant/build.sh >/dev/null 2>"$qdrant_log" &
  qdrant_pid=$!
fi

cargo build --bin banshi
step "banshi built"
"$CARGO_TARGET_DIR/debug/banshi" models fetch
step "models fetched"
# The standard OpenAPI validator that tests/openapi.rs runs on the served document (installed
# once; without it that step prints SKIPPED).
python3 -c 'import openapi_spec_validator' 2>/dev/null \
  || python3 -m pip install --user --quiet 'openapi-spec-validator==0.9.0' \
  || echo "test.sh: openapi-spec-validator not installed; tests/openapi.rs skips its validator step" >&2
# axe-core, the accessibility checker the browser tests run inside the page (npm pack by package
# name, checksummed, cached; without it the audit step says SKIPPED).
axe="$HOME/.cache/banshi/axe/axe.min.js"
if [ ! -f "$axe" ]; then
  (
    set -e
    d=$(mktemp -d)
    cd "$d"
    npm pack --silent axe-core@4.10.3 >/dev/null
    tar -xzf axe-core-4.10.3.tgz package/axe.min.js
    echo "880970c081707360e64f34cea25ff91892f5bc95675b0776925b9709dd8a68bb  package/axe.min.js" | sha256sum -c --quiet
    mkdir -p "$(dirname "$axe")"
    mv package/axe.min.js "$axe"
    rm -rf "$d"
  ) || echo "test.sh: axe-core not fetched; the browser accessibility audit skips" >&2
fi
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
step "fmt and clippy passed"
cargo test --workspace --no-run --quiet "$@"
step "tests built"
if [ -n "$qdrant_pid" ]; then
  if ! wait "$qdrant_pid"; then
    cat "$qdrant_log" >&2
    echo "test.sh: building the Qdrant server failed (log above)" >&2
    exit 1
  fi
  qdrant_pid=
  step "Qdrant server ready"
fi
cargo test --workspace "$@"
step "tests passed"
