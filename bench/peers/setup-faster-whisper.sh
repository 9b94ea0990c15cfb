#!/usr/bin/env bash
# A separate virtual environment with a pinned faster-whisper (CTranslate2 wheels from
# PyPI), and a check that it loads the CTranslate2 tiny.en directory our provisioning
# unpacks, with compute_type="int8".
# Idempotent: a stamp keyed by the pinned versions makes a second run only print the
# paths. Prints two lines: the venv's python, then the model directory to load.
set -euo pipefail

FASTER_WHISPER_VERSION="${FASTER_WHISPER_VERSION:-1.2.1}"
CTRANSLATE2_VERSION="${CTRANSLATE2_VERSION:-4.8.5}"
PEERS_DIR="${MKA1_PEERS_DIR:-$HOME/.cache/mka1-voice/peers}"
MODELS_DIR="${MKA1_MODELS_DIR:-$HOME/.cache/mka1-voice/models}"
CT2_SRC="$MODELS_DIR/whisper/tiny.en/ct2"
VENV="$PEERS_DIR/fw-venv"
PYTHON_BIN="${PYTHON:-python3}"
STAMP="$VENV/.installed-faster-whisper-$FASTER_WHISPER_VERSION-ctranslate2-$CTRANSLATE2_VERSION"

for f in model.bin config.json tokenizer.json vocabulary.txt; do
  [[ -f "$CT2_SRC/$f" ]] || {
    echo "setup-faster-whisper: $CT2_SRC/$f missing; run 'mka1-voice models install'" >&2
    exit 1
  }
done

if [[ ! -f "$STAMP" ]]; then
  rm -rf "$VENV"
  "$PYTHON_BIN" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip >&2
  "$VENV/bin/python" -m pip install -q \
    "faster-whisper==$FASTER_WHISPER_VERSION" "ctranslate2==$CTRANSLATE2_VERSION" >&2
  touch "$STAMP"
fi

# faster-whisper loads our directory as it is: it needs model.bin, config.json,
# tokenizer.json and vocabulary.txt, and reads preprocessor_config.json only when present
# (absent: Whisper's defaults, 80 mel bins and 30 s windows, which are tiny.en's). So
# nothing is generated; the check below proves the load.
MODEL="$CT2_SRC"

# Load check: int8 on CPU, as the benchmark runs it.
"$VENV/bin/python" - "$MODEL" >&2 <<'PY'
import sys
from faster_whisper import WhisperModel
m = WhisperModel(sys.argv[1], device="cpu", compute_type="int8", cpu_threads=2)
print(f"faster-whisper loads {sys.argv[1]}: multilingual={m.model.is_multilingual}, mel_bins={m.feature_extractor.mel_filters.shape[0]}, chunk_s={m.feature_extractor.chunk_length}")
PY

echo "$VENV/bin/python"
echo "$MODEL"
