#!/usr/bin/env python3
"""mka1-tts against the piper-tts Python API, side by side in one run.

Same voice files (the provisioned models directory), same texts, same ONNX Runtime
threads; each voice is loaded once per process and timed on synthesis only. The two sides
run in alternating rounds, so a busy moment of a shared machine hits both. Also compares
the phoneme ids both front ends give the voice.

Set-up and run (from the repository root):

    python3 -m venv .venv
    .venv/bin/pip install piper-tts==1.8.0 onnxruntime==1.31.1
    cargo build --release -p mka1-tts --examples
    .venv/bin/python tts/benches/piper_compare.py [--rounds 5] [--runs 3] [--threads 1 2]

The Rust figures come from `target/release/examples/tts_bench` (the texts it prints are
the ones piper gets), the phoneme ids from `target/release/examples/phoneme_ids`.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "target" / "release" / "examples"
MODELS = Path(os.environ.get("MKA1_MODELS_DIR", Path.home() / ".cache" / "mka1-voice" / "models"))
MODEL = MODELS / "tts" / "en_US-joe-medium.onnx"
CONFIG = MODELS / "tts" / "en_US-joe-medium.onnx.json"

# Sentences for the phoneme-id comparison (written text: numbers and abbreviations are
# normalised by mka1-tts first, and piper is given that normalised text).
SENTENCES = [
    "Hello, world. How are you? I'm fine; thanks: really!",
    "The quick brown fox jumps over the lazy dog.",
    "It costs $3.50, doesn't it?",
    "Dr. Smith lives on Main St. with his two dogs.",
    "We met on March 15, 2024 at 3:30 pm.",
    "The FBI and NASA work with the USA.",
    "Wait... what is it?",
    "She said \"yes\" (quietly) and left -- without a word.",
    "About 25% of the 1,234 people voted; e.g. my neighbours.",
    "Email john@example.com or visit https://example.com/docs today.",
    "In 1999, the company had 42 employees and three offices.",
    "Colorless green ideas sleep furiously, don't they?",
]


def load_piper(threads):
    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if threads > 1:
        # As mka1-tts does: pool threads that spin would steal the other core.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(
        str(MODEL), sess_options=options, providers=["CPUExecutionProvider"]
    )
    config = PiperConfig.from_dict(json.loads(CONFIG.read_text(encoding="utf-8")))
    return PiperVoice(session=session, config=config)


def median_after_warmup(fn, runs):
    times = []
    for i in range(runs + 2):
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        if i >= 2:
            times.append(elapsed)
    return statistics.median(times)


def piper_figures(voice, texts, runs):
    out = {}
    for name in ("short", "ten_words"):
        text = texts[name]
        out[f"first_chunk_ms_{name}"] = 1000 * median_after_warmup(
            lambda: next(iter(voice.synthesize(text))), runs
        )
    paragraph = texts["paragraph"]
    samples = sum(len(c.audio_float_array) for c in voice.synthesize(paragraph))
    audio_s = samples / voice.config.sample_rate
    seconds = median_after_warmup(lambda: list(voice.synthesize(paragraph)), runs)
    out["paragraph_s"] = seconds
    out["paragraph_audio_s"] = audio_s
    out["rtf"] = seconds / audio_s
    return out


def rust_figures(threads, runs):
    exe = EXAMPLES / "tts_bench"
    if not exe.exists():
        sys.exit(f"{exe} is missing: run `cargo build --release -p mka1-tts --examples`")
    out = subprocess.run(
        [str(exe), "--threads", str(threads), "--runs", str(runs)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare_phonemes():
    from piper import PiperVoice
    from piper.phoneme_ids import phonemes_to_ids

    exe = EXAMPLES / "phoneme_ids"
    out = subprocess.run(
        [str(exe)], input="\n".join(SENTENCES) + "\n",
        check=True, capture_output=True, text=True,
    )
    voice = PiperVoice.load(str(MODEL), config_path=str(CONFIG))
    same = 0
    total_ids = 0
    differing_ids = 0
    print("\n## Phoneme ids: mka1-tts vs piper-tts (same normalised text)\n")
    for line in out.stdout.splitlines():
        ours = json.loads(line)
        theirs = ["".join(s) for s in voice.phonemize(ours["normalized"]) if s]
        their_ids = [phonemes_to_ids(list(p), voice.config.phoneme_id_map) for p in theirs]
        our_flat = [i for ids in ours["ids"] for i in ids]
        their_flat = [i for ids in their_ids for i in ids]
        distance = edit_distance(our_flat, their_flat)
        total_ids += len(their_flat)
        differing_ids += distance
        if ours["phonemes"] == theirs:
            same += 1
            print(f"- same: {ours['text']!r}")
        else:
            print(f"- DIFFERENT ({distance} ids): {ours['text']!r}")
            print(f"    normalised: {ours['normalized']!r}")
            print(f"    mka1-tts:   {ours['phonemes']}")
            print(f"    piper-tts:  {theirs}")
    print(
        f"\n{same}/{len(SENTENCES)} sentences identical; id edit distance "
        f"{differing_ids}/{total_ids} ({100 * differing_ids / max(total_ids, 1):.1f} %)"
    )


def edit_distance(a, b):
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y))
        prev = cur
    return prev[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per thread count")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per side and round")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--skip-phonemes", action="store_true")
    args = parser.parse_args()

    if not args.skip_phonemes:
        compare_phonemes()

    print(
        f"\n## Speed ({args.rounds} alternating rounds; each round: median of {args.runs} "
        "runs per side after 2 warm-up runs; the table gives the median over rounds)\n"
    )
    print("| threads | figure | mka1-tts | piper-tts | ratio (median of per-round ratios) |")
    print("|---|---|---|---|---|")
    figures = [
        ("first chunk, short clause (ms)", "first_chunk_ms_short", "first_chunk_ms_short"),
        ("first chunk, ten-word clause (ms)", "first_chunk_ms_ten_words", "first_chunk_ms_ten_words"),
        ("paragraph, per clause (s)", "paragraph_s_clause", "paragraph_s"),
        ("paragraph, per sentence (s)", "paragraph_s_sentence", "paragraph_s"),
        ("real-time factor, per clause", "rtf_clause", "rtf"),
        ("real-time factor, per sentence", "rtf_sentence", "rtf"),
    ]
    for threads in args.threads:
        piper = None
        rounds = []
        for _ in range(args.rounds):
            # Alternate the two sides so that both see the machine in the same state.
            ours = rust_figures(threads, args.runs)
            if piper is None:
                piper = load_piper(threads)
            theirs = piper_figures(piper, ours["texts"], args.runs)
            rounds.append((ours, theirs))
        for name, our_key, their_key in figures:
            a = statistics.median(r[0][our_key] for r in rounds)
            b = statistics.median(r[1][their_key] for r in rounds)
            ratio = statistics.median(r[0][our_key] / r[1][their_key] for r in rounds)
            print(f"| {threads} | {name} | {a:.3f} | {b:.3f} | {ratio:.2f}× |")
        sys.stdout.flush()
    ours, theirs = rounds[-1]
    print(f"\nTexts: short {ours['texts']['short']!r}; ten words {ours['texts']['ten_words']!r}.")
    print(
        f"Paragraph audio: piper-tts {theirs['paragraph_audio_s']:.2f} s; mka1-tts "
        f"{ours['paragraph_audio_s_clause']:.2f} s (per clause), "
        f"{ours['paragraph_audio_s_sentence']:.2f} s (per sentence)."
    )


if __name__ == "__main__":
    main()
