#!/usr/bin/env bash
# banshi's model-server client against a third-party server: llama.cpp's OpenAI-compatible
# server (the `llama-cpp-python[server]` package, compiled once by pip and cached) on the
# default GGUF, on a loopback port. banshi answers one question with `--llm-url` pointing at it
# (the embedder stays local), then once more after the server is killed (the answer must fall
# back to the guide's words at once). Prints both answers; exits non-zero if either is wrong.
#
# Usage: scripts/check-llama-cpp.sh        (uses the debug binary ./test.sh builds)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/banshi/target}"
export BANSHI_MODELS="${BANSHI_MODELS:-$HOME/.cache/banshi/models}"
BIN="$CARGO_TARGET_DIR/debug/banshi"
[ -x "$BIN" ] || cargo build --bin banshi
GGUF="$BANSHI_MODELS/$(grep -o '"[^"]*\.gguf"' models/src/files.rs | head -1 | tr -d '"')"
[ -f "$GGUF" ] || { echo "no $GGUF: run ./test.sh (or banshi models fetch) first" >&2; exit 1; }

python3 -c 'import llama_cpp.server' 2>/dev/null || python3 -m pip install --user --quiet 'llama-cpp-python[server]'
python3 -c 'import llama_cpp; print("llama-cpp-python", llama_cpp.__version__)'

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m llama_cpp.server --model "$GGUF" --host 127.0.0.1 --port "$port" --n_ctx 4096 --n_threads 2 >"$work/llama.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 120); do
    curl -sf "http://127.0.0.1:$port/v1/models" >/dev/null && break
    sleep 1
done
curl -sf "http://127.0.0.1:$port/v1/models" >/dev/null || { tail -20 "$work/llama.log"; echo "llama.cpp server did not start" >&2; exit 1; }
echo "llama.cpp server on port $port"

"$BIN" --data-dir "$work/data" --no-models ingest --path knowledge/guides/sample >/dev/null
ask() { BANSHI_LOG=warn "$BIN" --data-dir "$work/data" --llm-url "http://127.0.0.1:$port" --model-retries 0 ask "$1" 2>&1; }

echo "--- through llama.cpp"
first=$(ask "换身份证要带什么材料？")
echo "$first"
if grep -q "语言模型暂不可用\|语言模型繁忙\|语言模型生成出错" <<<"$first"; then
    echo "FAIL: the answer did not come from the llama.cpp server" >&2
    exit 1
fi

kill $server
wait $server 2>/dev/null || true
echo "--- llama.cpp server stopped"
second=$(ask "办身份证要多少钱？")
echo "$second"
grep -q "语言模型暂不可用" <<<"$second" || { echo "FAIL: no fallback to the guide's words" >&2; exit 1; }
echo "OK"
