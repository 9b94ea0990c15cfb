#!/usr/bin/env python3
"""Reference Silero VAD output for the Rust VAD tests (media/tests/vad_silero.rs).

Runs the official silero-vad 6.2.3 code (its `OnnxWrapper` and `get_speech_timestamps`)
under onnxruntime on the project's real speech samples and writes
media/tests/data/silero_reference.txt:

    probs <clip> <p0> <p1> ...          per-window speech probabilities of the clip
    segments <clip> <start>:<end> ...   get_speech_timestamps on the clip followed by 1 s
                                        of digital silence (samples at 16 kHz)
    alignment <clip> <start_ms> <end_ms> first word start / last word end of the
                                        pocketsphinx forced alignment shipped with the clip

silero-vad's module imports torch, which is only used for tensor plumbing around
onnxruntime. Without torch installed, a minimal numpy stand-in for the few torch calls
that `OnnxWrapper` and `get_speech_timestamps` make is registered, so the package's own
code runs unchanged. With torch installed, the real one is used.

Needs: silero-vad==6.2.3 (installed with --no-deps), onnxruntime==1.31.1, numpy, packaging.
See README.md beside this file.
"""

import argparse
import importlib.util
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import types
import wave
from pathlib import Path

import numpy as np

SR = 16000
# The Rust SegmentConfig defaults, minus prefix padding (compared separately).
THRESHOLD = 0.5
NEG_THRESHOLD = 0.35
MIN_SPEECH_MS = 250
MIN_SILENCE_MS = 500
TRAILING_SILENCE_S = 1.0

REPO = Path(__file__).resolve().parents[3]
CLIPS = [
    "librivox/sense-0870.wav",
    "librivox/sense-0880.wav",
    "librivox/sense-0890.wav",
    "librivox/sense-0920.wav",
    "librivox/sense-0930.wav",
    "goforward-16k.raw",
]


def install_torch_stand_in():
    """Registers a numpy-backed `torch` with just what silero's ONNX path touches."""

    class Tensor(np.ndarray):
        def dim(self):
            return self.ndim

        def unsqueeze(self, axis):
            return np.expand_dims(self, axis).view(Tensor)

        def squeeze(self, axis=None):
            if axis is not None and self.shape[axis] != 1:
                return self
            return np.squeeze(np.asarray(self), axis).view(Tensor)

        def float(self):
            return np.asarray(self, dtype=np.float32).view(Tensor)

        def numpy(self):
            return np.asarray(self)

        def item(self):
            return np.asarray(self).reshape(-1)[0].item()

        def cpu(self):
            return self

    def as_tensor(array):
        return np.asarray(array).view(Tensor)

    class no_grad:
        def __call__(self, fn):
            return fn

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def pad(x, padding, mode="constant", value=0.0):
        left, right = padding
        return as_tensor(np.pad(np.asarray(x), (left, right), constant_values=value))

    torch = types.ModuleType("torch")
    torch.Tensor = Tensor
    torch.no_grad = no_grad
    torch.device = lambda name: name
    torch.set_num_threads = lambda n: None
    torch.is_tensor = lambda x: isinstance(x, Tensor)
    torch.zeros = lambda *shape: as_tensor(
        np.zeros(shape[0] if len(shape) == 1 and isinstance(shape[0], tuple) else shape,
                 dtype=np.float32))
    torch.cat = lambda tensors, dim=0: as_tensor(
        np.concatenate([np.asarray(t) for t in tensors], axis=dim))
    torch.from_numpy = as_tensor
    torch.nn = types.SimpleNamespace(functional=types.SimpleNamespace(pad=pad))
    sys.modules["torch"] = torch
    return as_tensor


def load_silero():
    """silero_vad.utils_vad loaded from the installed package, and a tensor maker."""
    try:
        import torch  # noqa: F401

        def as_tensor(array):
            return torch.from_numpy(np.ascontiguousarray(array))
    except ImportError:
        as_tensor = install_torch_stand_in()
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("silero-vad is not installed: pip install --no-deps silero-vad==6.2.3")
    package_dir = Path(list(spec.submodule_search_locations)[0])
    # Loaded by path: the package's __init__ pulls in model.py, which needs real torch.
    module_spec = importlib.util.spec_from_file_location(
        "silero_utils_vad", package_dir / "utils_vad.py")
    utils = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(utils)
    return utils, as_tensor


def read_clip(path):
    """16 kHz mono s16 (WAV or raw s16le) as float32 in [-1, 1), like torchaudio."""
    if path.suffix == ".raw":
        pcm = np.frombuffer(path.read_bytes(), dtype="<i2")
    else:
        with wave.open(str(path), "rb") as w:
            assert w.getframerate() == SR and w.getnchannels() == 1 and w.getsampwidth() == 2
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return pcm.astype(np.float32) / 32768.0


def alignments(sdist):
    """{clip: (first word start ms, last word end ms)} from the pocketsphinx sdist."""
    out = {}
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            name = member.name
            if "/test/data/librivox/" not in name or not name.endswith(".json"):
                continue
            if name.endswith((".phone.json", ".state.json")):
                continue
            number = name.rsplit("-", 1)[1].removesuffix(".json")
            # JSON lines: one object per decoded utterance, each with its words.
            text = io.TextIOWrapper(tar.extractfile(member)).read()
            words = [w for line in text.splitlines() if line.strip()
                     for w in json.loads(line)["w"]]
            spoken = [w for w in words if not w["t"].startswith("<")]
            start = spoken[0]["b"]
            end = spoken[-1]["b"] + spoken[-1]["d"]
            out[f"librivox/sense-{number}.wav"] = (round(start * 1000), round(end * 1000))
    return out


def fetch_pocketsphinx(tmp):
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
         "pocketsphinx==5.1.1", "-d", tmp],
        check=True)
    return next(Path(tmp).glob("pocketsphinx-5.1.1.tar.gz"))


def main():
    models = Path(os.environ.get("MKA1_MODELS_DIR",
                                 Path.home() / ".cache" / "mka1-voice" / "models"))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=models / "vad" / "silero_vad.onnx")
    parser.add_argument("--samples", type=Path, default=REPO / "samples")
    parser.add_argument("--out", type=Path,
                        default=REPO / "media" / "tests" / "data" / "silero_reference.txt")
    parser.add_argument("--pocketsphinx-sdist", type=Path,
                        help="pocketsphinx-5.1.1.tar.gz (default: pip download it)")
    args = parser.parse_args()

    import onnxruntime

    utils, as_tensor = load_silero()
    model = utils.OnnxWrapper(str(args.model), force_onnx_cpu=True)

    with tempfile.TemporaryDirectory() as tmp:
        sdist = args.pocketsphinx_sdist or fetch_pocketsphinx(tmp)
        aligned = alignments(sdist)

    lines = [
        "# Silero VAD reference: silero-vad 6.2.3 OnnxWrapper + get_speech_timestamps,",
        f"# onnxruntime {onnxruntime.__version__}. Regenerate with",
        "# media/tests/reference/silero_reference.py (see README.md there).",
        f"# segments: threshold {THRESHOLD}, neg_threshold {NEG_THRESHOLD}, "
        f"min_speech {MIN_SPEECH_MS} ms, min_silence {MIN_SILENCE_MS} ms, pad 0, "
        f"clip + {TRAILING_SILENCE_S} s of zeros; samples at 16 kHz.",
    ]
    for clip in CLIPS:
        audio = read_clip(args.samples / clip)
        # Probabilities exactly as get_speech_timestamps computes them: fresh state,
        # 512-sample windows, the last one zero-padded.
        model.reset_states()
        probs = []
        for start in range(0, len(audio), 512):
            chunk = audio[start:start + 512]
            chunk = np.pad(chunk, (0, 512 - len(chunk)))
            probs.append(model(as_tensor(chunk), SR).item())
        lines.append(f"probs {clip} " + " ".join(f"{p:.6f}" for p in probs))

        padded = np.concatenate([audio, np.zeros(int(TRAILING_SILENCE_S * SR), np.float32)])
        speeches = utils.get_speech_timestamps(
            as_tensor(padded), model, threshold=THRESHOLD, neg_threshold=NEG_THRESHOLD,
            sampling_rate=SR, min_speech_duration_ms=MIN_SPEECH_MS,
            min_silence_duration_ms=MIN_SILENCE_MS, speech_pad_ms=0)
        lines.append(f"segments {clip} "
                     + " ".join(f"{s['start']}:{s['end']}" for s in speeches))
        if clip in aligned:
            start_ms, end_ms = aligned[clip]
            lines.append(f"alignment {clip} {start_ms} {end_ms}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out} ({len(CLIPS)} clips)")


if __name__ == "__main__":
    main()
