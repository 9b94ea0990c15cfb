#!/usr/bin/env bash
# Builds the benchmark clips: 10 s and 60 s of real speech, 16 kHz mono 16-bit WAV, made
# by concatenating whole samples/librivox/*.wav recordings (never cut mid-word) with
# 0.3 s of silence between them and padding the end with silence to the exact length.
# Each clip gets the reference text (the recordings' lines of samples/transcripts.tsv,
# in the same order) so the benchmark scores the words too, not only the speed.
# Choice of recordings, deterministic: as many whole passes over the five recordings
# (in file order) as fit, then the subset of the five (in file order) that fills the
# remainder best. Python's `wave` module only: no ffmpeg needed.
# Output: $MKA1_PEERS_DIR/clips/clip-10s.{wav,txt}, clip-60s.{wav,txt}, clips.json.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PEERS_DIR="${MKA1_PEERS_DIR:-$HOME/.cache/mka1-voice/peers}"
OUT="$PEERS_DIR/clips"
mkdir -p "$OUT"

python3 - "$REPO/samples" "$OUT" "${CLIP_SECONDS:-10 60}" <<'PY'
import itertools
import json
import os
import sys
import wave

samples_dir, out_dir, lengths = sys.argv[1], sys.argv[2], [int(s) for s in sys.argv[3].split()]
RATE = 16_000
GAP = int(0.3 * RATE)  # samples of silence between recordings

refs = {}
with open(os.path.join(samples_dir, "transcripts.tsv"), encoding="utf-8") as f:
    for line in f:
        path, _, text = line.rstrip("\n").partition("\t")
        refs[path] = text

sources = []
for name in sorted(os.listdir(os.path.join(samples_dir, "librivox"))):
    if not name.endswith(".wav"):
        continue
    rel = f"librivox/{name}"
    with wave.open(os.path.join(samples_dir, rel), "rb") as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (RATE, 1, 2):
            sys.exit(f"make-clips: {rel} is not 16 kHz mono 16-bit")
        frames = w.readframes(w.getnframes())
    if rel not in refs:
        sys.exit(f"make-clips: {rel} has no line in transcripts.tsv")
    sources.append((rel, frames, len(frames) // 2))
if not sources:
    sys.exit("make-clips: no samples/librivox/*.wav")


def cost(seq):
    """Samples taken by recordings in `seq` with a gap between consecutive ones."""
    return sum(n for _, _, n in seq) + GAP * max(0, len(seq) - 1)


manifest = {}
for seconds in lengths:
    total = seconds * RATE
    chosen = []
    # Whole passes while one more pass still fits (a gap joins it to what precedes).
    while cost(chosen + sources) <= total:
        chosen += sources
    best = []
    for k in range(1, len(sources) + 1):
        for subset in itertools.combinations(sources, k):
            seq = chosen + list(subset)
            if cost(seq) <= total and cost(seq) > cost(chosen + best):
                best = list(subset)
    chosen += best
    if not chosen:
        sys.exit(f"make-clips: no recording fits in {seconds} s")
    pcm = bytearray()
    for i, (_, frames, _) in enumerate(chosen):
        if i:
            pcm += b"\x00\x00" * GAP
        pcm += frames
    speech_s = sum(n for _, _, n in chosen) / RATE
    pcm += b"\x00\x00" * (total - len(pcm) // 2)
    stem = os.path.join(out_dir, f"clip-{seconds}s")
    with wave.open(stem + ".wav", "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(bytes(pcm))
    text = " ".join(refs[rel] for rel, _, _ in chosen)
    with open(stem + ".txt", "w", encoding="utf-8") as f:
        f.write(text + "\n")
    manifest[f"clip-{seconds}s"] = {
        "wav": stem + ".wav",
        "seconds": seconds,
        "speech_seconds": round(speech_s, 3),
        "recordings": [rel for rel, _, _ in chosen],
        "reference": text,
    }
    print(f"{stem}.wav: {seconds} s, {speech_s:.2f} s of speech from {len(chosen)} recordings, {len(text.split())} reference words")

with open(os.path.join(out_dir, "clips.json"), "w", encoding="utf-8") as f:
    json.dump(manifest, f, indent=2)
PY
