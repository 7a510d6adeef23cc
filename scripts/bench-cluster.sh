#!/usr/bin/env bash
# The scale-out figures of docs/deployment.md, on this machine: PostgreSQL (Debian's binaries,
# initdb on a temp dir, as the `postgres` user under root) and a Qdrant server on loopback
# ports, the whole catalogue imported (words only: these runs answer extractively), then
# `banshi bench load` against one replica and against two, and `banshi bench replay` of real
# hotline messages (dev rows) through the two. With MODEL_TURNS=1 it also starts a model node
# and measures model turns (a few, they take seconds each) on one and on two replicas.
#
# Usage: scripts/bench-cluster.sh            (release binary; builds it if missing)
#        SESSIONS=200 MESSAGES=3 RATE=5 LIMIT=500 MODEL_TURNS=1 scripts/bench-cluster.sh
#        SERVE_ARGS="--max-turns-waiting 256" scripts/bench-cluster.sh   (flags for every replica)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/banshi/target}"
BIN="$CARGO_TARGET_DIR/release/banshi"
[ -x "$BIN" ] || cargo build --release --bin banshi
QDRANT="${BANSHI_QDRANT_BIN:-$HOME/.cache/banshi/qdrant/bin/qdrant-ci}"
[ -x "$QDRANT" ] || QDRANT=$(bash ../shared/vendor/qdrant/build.sh | tail -1)
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
SESSIONS=${SESSIONS:-200} MESSAGES=${MESSAGES:-3} RATE=${RATE:-5} LIMIT=${LIMIT:-500}
HOTLINE=${HOTLINE:-../shared/data/msgabench/hotline_messages.jsonl}

work=$(mktemp -d)
chmod 755 "$work"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    as_pg "$PGBIN/pg_ctl" -D "$work/pg/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/pg"
[ "$(id -u)" = 0 ] && chown postgres: "$work/pg"
pg_port=$(free_port)
as_pg "$PGBIN/initdb" -D "$work/pg/data" -U banshi -A trust --no-sync -E UTF8 --locale=C >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$work/pg/data" -o "-p $pg_port -k $work/pg -c listen_addresses=127.0.0.1" -l "$work/pg/log" -w start >/dev/null
db="postgres://banshi@127.0.0.1:$pg_port/postgres"

q_http=$(free_port) q_grpc=$(free_port)
mkdir -p "$work/qdrant"
(cd "$work/qdrant" && QDRANT__SERVICE__HOST=127.0.0.1 QDRANT__SERVICE__HTTP_PORT=$q_http QDRANT__SERVICE__GRPC_PORT=$q_grpc \
    QDRANT__STORAGE__STORAGE_PATH="$work/qdrant/storage" QDRANT__TELEMETRY_DISABLED=true QDRANT__LOG_LEVEL=WARN \
    exec "$QDRANT" >/dev/null 2>&1) &
pids+=($!)
for _ in $(seq 120); do curl -sf "http://127.0.0.1:$q_http/readyz" >/dev/null && break; sleep 0.5; done

global=(--database-url "$db" --qdrant-url "http://127.0.0.1:$q_grpc" --no-models)
echo "--- import: the whole catalogue (knowledge/guides), words only"
t0=$(date +%s.%N)
"$BIN" --data-dir "$work/a" "${global[@]}" ingest | tail -2
echo "import: $(python3 -c "import time; print(round(time.time() - $t0, 1))") s"

no_limits=(--limit-sessions off --limit-messages-per-address off)
start_replica() { # name port [extra…]
    local name=$1 port=$2
    shift 2
    # shellcheck disable=SC2086
    BANSHI_LOG=warn "$BIN" --data-dir "$work/$name" "${global[@]}" "$@" serve --addr "127.0.0.1:$port" "${no_limits[@]}" ${SERVE_ARGS:-} \
        >"$work/$name.out" 2>"$work/$name.log" &
    pids+=($!)
    for _ in $(seq 240); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return; sleep 0.5; done
    echo "replica $name did not become ready" >&2
    tail "$work/$name.log" >&2
    exit 1
}
rss() { ps -o rss= -p "$1" | awk '{printf "%.0f MiB", $1/1024}'; }

# The embedded default first (SQLite + qdrant-edge), for comparison: same catalogue, same run.
embedded=("${global[@]}")
global=(--no-models)
"$BIN" --data-dir "$work/e" "${global[@]}" ingest >/dev/null
pe=$(free_port)
start_replica e "$pe"
echo "--- bench load, extractive, one embedded server (SQLite + qdrant-edge)"
"$BIN" bench load --url "http://127.0.0.1:$pe" --sessions "$SESSIONS" --messages "$MESSAGES" --timeout 900
kill "${pids[-1]}"
global=("${embedded[@]}")

pa=$(free_port) pb=$(free_port)
start_replica a "$pa"
a_pid=${pids[-1]}
echo "--- bench load, extractive, one replica"
"$BIN" bench load --url "http://127.0.0.1:$pa" --sessions "$SESSIONS" --messages "$MESSAGES" --timeout 900
echo "replica a: $(rss "$a_pid")"
start_replica b "$pb"
b_pid=${pids[-1]}
echo "--- bench load, extractive, two replicas"
"$BIN" bench load --url "http://127.0.0.1:$pa,http://127.0.0.1:$pb" --sessions "$SESSIONS" --messages "$MESSAGES" --timeout 900
echo "replicas: a $(rss "$a_pid"), b $(rss "$b_pid")"
echo "--- bench replay, $LIMIT hotline messages at $RATE/s over two replicas"
"$BIN" bench replay --file "$HOTLINE" --url "http://127.0.0.1:$pa,http://127.0.0.1:$pb" --rate "$RATE" --limit "$LIMIT"
echo "replicas: a $(rss "$a_pid"), b $(rss "$b_pid")"

if [ "${MODEL_TURNS:-0}" = 1 ]; then
    kill "$a_pid" "$b_pid"
    node_port=$(free_port)
    BANSHI_LOG=warn "$BIN" serve-models --addr "127.0.0.1:$node_port" >"$work/node.out" 2>"$work/node.log" &
    pids+=($!)
    for _ in $(seq 240); do curl -sf "http://127.0.0.1:$node_port/healthz" >/dev/null && break; sleep 0.5; done
    node=(--llm-url "http://127.0.0.1:$node_port" --embedder-url "http://127.0.0.1:$node_port")
    global=(--database-url "$db" --qdrant-url "http://127.0.0.1:$q_grpc" --models-dir "$work/no-weights")
    pa=$(free_port) pb=$(free_port)
    start_replica ma "$pa" "${node[@]}"
    echo "--- bench load, model turns, one replica"
    "$BIN" bench load --url "http://127.0.0.1:$pa" --sessions 4 --messages 2 --timeout 900
    start_replica mb "$pb" "${node[@]}"
    echo "--- bench load, model turns, two replicas"
    "$BIN" bench load --url "http://127.0.0.1:$pa,http://127.0.0.1:$pb" --sessions 4 --messages 2 --timeout 900
fi
