#!/usr/bin/env bash
# The whole peer benchmark (what `make bench-peers` runs): builds whisper-cli, sets up
# faster-whisper, makes the clips, starts our server on a free loopback port with a
# throwaway data directory and API key, waits for /healthz, runs run.py, stops the
# server. Arguments are passed to run.py (e.g. --runs 3, --whisper-cli-nfa).
# BENCH_REALTIME=PRIO (env): the server and the peers run under SCHED_FIFO (see README).
# BENCH_THREADS (env, default 2): threads of the peers and of the server's Whisper jobs.
# Needs target/release/mka1-voice and the provisioned models (`make build models`).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
BIN="${MKA1_BIN:-$REPO/target/release/mka1-voice}"
PYTHON_BIN="${PYTHON:-python3}"

WHISPER_CLI="$("$HERE/build-whisper-cli.sh" | tail -n1)"
FW_PATHS="$("$HERE/setup-faster-whisper.sh")"  # the venv's python, then the model dir
mapfile -t FW <<<"$FW_PATHS"
"$HERE/make-clips.sh"

[[ -x "$BIN" ]] || { echo "bench-peers: $BIN not built (make build)" >&2; exit 1; }

PORT="$("$PYTHON_BIN" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
DATA_DIR="$(mktemp -d)"
KEY="bench-key-$RANDOM$RANDOM"
LOG="$DATA_DIR/serve.log"
# Real-time: the server and run.py (so every peer) run under SCHED_FIFO.
RT=()
RT_ARGS=()
if [[ -n "${BENCH_REALTIME:-}" && "${BENCH_REALTIME}" != 0 ]]; then
  RT=(chrt -f "$BENCH_REALTIME")
  RT_ARGS=(--realtime "$BENCH_REALTIME")
fi
# The peers' thread count; the server's Whisper jobs get the same (MKA1_STT_THREADS).
THREADS="${BENCH_THREADS:-2}"
MKA1_LISTEN="127.0.0.1:$PORT" MKA1_DATA_DIR="$DATA_DIR" MKA1_API_KEYS="$KEY" \
  MKA1_STT_THREADS="$THREADS" "${RT[@]}" "$BIN" serve >"$LOG" 2>&1 &
SERVER=$!
stop() {
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
  rm -rf "$DATA_DIR"
}
trap stop EXIT

# The server loads its models before it opens the port.
deadline=$((SECONDS + ${BENCH_SERVER_WAIT:-300}))
until "$PYTHON_BIN" -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=1)" \
    "http://127.0.0.1:$PORT/healthz" 2>/dev/null; do
  if ! kill -0 "$SERVER" 2>/dev/null || ((SECONDS >= deadline)); then
    echo "bench-peers: the server did not come up on port $PORT; its log:" >&2
    cat "$LOG" >&2
    exit 1
  fi
  sleep 0.3
done

MKA1_BENCH_KEY="$KEY" "$PYTHON_BIN" "$HERE/run.py" \
  --threads "$THREADS" --whisper-cli "$WHISPER_CLI" --fw-python "${FW[0]}" --fw-model "${FW[1]}" \
  --ours-bin "$BIN" --url "http://127.0.0.1:$PORT" --server-pid "$SERVER" "${RT_ARGS[@]}" "$@"
