#!/usr/bin/env python3
"""Transcription speed and accuracy of mka1-voice against two peers on the same audio.

Peers (same tiny.en weights, same thread count, greedy decoding, timestamps decoded,
no conditioning on previous text, temperature fallback on, as our engine does):
  whisper-cli     whisper.cpp's CLI (bench/peers/build-whisper-cli.sh), ggml tiny.en
  faster-whisper  pip faster-whisper, CTranslate2 tiny.en, compute_type int8
Ours:
  ours-cli        `mka1-voice transcribe` (a whole process: start, load, decode, exit)
  ours-http       POST /api/v1/llm/speech/transcriptions on a running server (warm)

Two modes per peer, so start-up costs flatter nobody:
  process  wall time of a fresh process that loads the model and transcribes the file
  warm     the model already loaded: whisper-cli's own stage timings (mel + sample +
           encode + decode + batchd + prompt; `total - load` is kept in the JSON too),
           faster-whisper's transcribe() plus consuming its segments in a process that
           loaded the model once and transcribed once to warm up, our server's
           request round trip after one warm-up request.

The peers run round-robin within each repetition, so load from other work on the
machine hits them alike; before each measurement the script waits (bounded) until the
CPUs are idle, and records how busy they were. Standard library only.
"""

from __future__ import annotations

import argparse
import datetime
import glob
import json
import os
import platform
import re
import resource
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

HOME = Path.home()
REPO = Path(__file__).resolve().parents[2]
PEERS_DIR = Path(os.environ.get("MKA1_PEERS_DIR", HOME / ".cache/mka1-voice/peers"))
MODELS_DIR = Path(os.environ.get("MKA1_MODELS_DIR", HOME / ".cache/mka1-voice/models"))

# faster-whisper settings matching our engine (stt/src/engine.rs): greedy with one
# candidate, timestamps decoded, no previous-text conditioning, default temperature
# fallback (0.0, 0.2, ... like whisper.cpp's temperature_inc 0.2), no VAD.
FW_TRANSCRIBE = (
    "dict(language='en', beam_size=1, best_of=1, condition_on_previous_text=False, "
    "vad_filter=False, without_timestamps=False, word_timestamps=False)"
)

# One fresh process: import, load, transcribe, print the text as JSON.
FW_ONESHOT = f"""
import json, sys
from faster_whisper import WhisperModel
model = WhisperModel(sys.argv[1], device="cpu", compute_type="int8", cpu_threads=int(sys.argv[3]))
segments, _ = model.transcribe(sys.argv[2], **{FW_TRANSCRIBE})
print(json.dumps({{"text": " ".join(s.text.strip() for s in segments)}}))
"""

# A warm worker: loads once, warms up on the first clip, then for each clip path read
# from stdin prints the seconds transcribe() plus consuming the segments took.
FW_WORKER = f"""
import json, sys, time
from faster_whisper import WhisperModel
model = WhisperModel(sys.argv[1], device="cpu", compute_type="int8", cpu_threads=int(sys.argv[3]))
segments, _ = model.transcribe(sys.argv[2], **{FW_TRANSCRIBE})
list(segments)
print(json.dumps({{"ready": True}}), flush=True)
for line in sys.stdin:
    t0 = time.perf_counter()
    segments, _ = model.transcribe(line.rstrip("\\n"), **{FW_TRANSCRIBE})
    text = " ".join(s.text.strip() for s in segments)
    dt = time.perf_counter() - t0
    print(json.dumps({{"seconds": dt, "text": text}}), flush=True)
"""


# ---------------------------------------------------------------- word error rate
# The same normalization as stt/src/wer.rs, so figures agree with our tests.
_SMALL = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def _expand(word: str) -> list[str]:
    if word in ("mr", "mrs", "dr"):
        return [{"mr": "mister", "mrs": "missus", "dr": "doctor"}[word]]
    if not word:
        return []
    if word.isdigit():
        n = int(word)
        if n < 20:
            return [_SMALL[n]]
        if n < 100 and n % 10 == 0:
            return [_TENS[n // 10]]
        if n < 100:
            return [_TENS[n // 10], _SMALL[n % 10]]
    return [word]


def normalize(text: str) -> list[str]:
    cleaned = "".join(c if c.isalnum() or c == "'" else " " for c in text.lower())
    return [w for raw in cleaned.split() for w in _expand(raw.strip("'"))]


def wer(reference: str, hypothesis: str) -> float:
    r, h = normalize(reference), normalize(hypothesis)
    if not r:
        return 0.0 if not h else 1.0
    prev = list(range(len(h) + 1))
    for i, rw in enumerate(r):
        cur = [i + 1] * (len(h) + 1)
        for j, hw in enumerate(h):
            cur[j + 1] = min(prev[j] + (rw != hw), prev[j + 1] + 1, cur[j] + 1)
        prev = cur
    return prev[len(h)] / len(r)


# ---------------------------------------------------------------- machine load
def _cpu_times() -> tuple[int, int]:
    with open("/proc/stat", encoding="ascii") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields[:8]), idle


def cpu_busy(window: float = 0.5) -> float:
    """Fraction of all CPUs busy over `window` seconds (0 where /proc/stat is absent)."""
    try:
        t0, i0 = _cpu_times()
        time.sleep(window)
        t1, i1 = _cpu_times()
    except OSError:
        return 0.0
    return 0.0 if t1 == t0 else 1.0 - (i1 - i0) / (t1 - t0)


CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process `pid` (0 if unreadable)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def own_cpu(pids: list[int]) -> float:
    """CPU seconds used by this script, its waited-for children and `pids`."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime + sum(_proc_cpu(p) for p in pids)


class OthersMeter:
    """Share of all CPUs that processes other than the measured ones used over a span:
    the busy time in /proc/stat minus the measured processes' own CPU time."""

    def __init__(self, pids: list[int] | None):
        self.pids = pids
        self.t0, self.i0 = _cpu_times()
        self.o0 = own_cpu(pids or [])

    def share(self) -> float | None:
        if self.pids is None:
            return None  # the working process is unknown: cannot tell others apart
        t1, i1 = _cpu_times()
        if t1 == self.t0:
            return 0.0
        busy = ((t1 - self.t0) - (i1 - self.i0)) / CLK_TCK
        others = max(0.0, busy - (own_cpu(self.pids) - self.o0))
        return others / ((t1 - self.t0) / CLK_TCK)


def wait_idle(threshold: float, max_wait: float) -> float:
    """Waits until the CPUs are at most `threshold` busy, at most `max_wait` seconds;
    returns the last busy fraction seen (above the threshold: the run was contended)."""
    deadline = time.monotonic() + max_wait
    busy = cpu_busy()
    while busy > threshold and time.monotonic() < deadline:
        busy = cpu_busy(1.0)
    return busy


# ---------------------------------------------------------------- peers
class Skip(Exception):
    """A peer that cannot run here; the message says why."""


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {proc.returncode}: {proc.stderr[-800:]}")
    return dt, proc


_STAGES = ("mel", "sample", "encode", "decode", "batchd", "prompt")


class WhisperCli:
    name = "whisper-cli"
    pids: list[int] | None = []

    def __init__(self, binary: Path, model: Path, threads: int, extra: list[str]):
        if not binary.is_file():
            raise Skip(f"{binary} not built (bench/peers/build-whisper-cli.sh)")
        if not model.is_file():
            raise Skip(f"{model} missing (mka1-voice models install)")
        self.binary, self.model, self.threads, self.extra = binary, model, threads, extra
        if extra:
            self.name = "whisper-cli " + " ".join(extra)

    def run(self, clip: Path) -> list[dict]:
        # -bs 1 -bo 1: greedy, one candidate, as ours. Timestamps stay on (ours decodes
        # them; -nt would switch them off in decoding too, not only in printing).
        cmd = [str(self.binary), "-m", str(self.model), "-f", str(clip),
               "-t", str(self.threads), "-l", "en", "-bs", "1", "-bo", "1", *self.extra]
        wall, proc = timed(cmd)
        times = {}
        for key, ms in re.findall(r"whisper_print_timings:\s+(\w+) time =\s+([\d.]+) ms", proc.stderr):
            times[key] = float(ms) / 1000
        missing = [k for k in ("load", "total", *_STAGES) if k not in times]
        if missing:
            raise RuntimeError(f"whisper-cli printed no {missing} timings")
        text = " ".join(
            re.sub(r"^\[[^\]]*\]\s*", "", line).strip()
            for line in proc.stdout.splitlines() if line.strip()
        )
        warm = sum(times[k] for k in _STAGES)
        return [
            {"mode": "process", "seconds": wall, "text": text},
            {"mode": "warm", "seconds": warm, "text": text,
             "total_minus_load": times["total"] - times["load"], "stages": times},
        ]


class FasterWhisper:
    name = "faster-whisper"

    def __init__(self, python: Path, model: Path, threads: int, warmup_clip: Path):
        if not python.is_file():
            raise Skip(f"{python} missing (bench/peers/setup-faster-whisper.sh)")
        if not (model / "model.bin").is_file():
            raise Skip(f"{model}/model.bin missing (mka1-voice models install)")
        self.python, self.model, self.threads = python, model, threads
        self.worker = subprocess.Popen(
            [str(python), "-c", FW_WORKER, str(model), str(warmup_clip), str(threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        self.pids: list[int] | None = [self.worker.pid]
        ready = self._reply()
        if not ready.get("ready"):
            raise RuntimeError(f"faster-whisper worker did not start: {ready}")

    def _reply(self) -> dict:
        assert self.worker.stdout is not None
        line = self.worker.stdout.readline()
        if not line:
            raise RuntimeError(f"faster-whisper worker exited {self.worker.wait()}")
        return json.loads(line)

    def run(self, clip: Path) -> list[dict]:
        wall, proc = timed([str(self.python), "-c", FW_ONESHOT, str(self.model), str(clip), str(self.threads)])
        process_text = json.loads(proc.stdout.strip().splitlines()[-1])["text"]
        return [{"mode": "process", "seconds": wall, "text": process_text}]

    def run_warm(self, clip: Path) -> list[dict]:
        assert self.worker.stdin is not None
        self.worker.stdin.write(f"{clip}\n")
        self.worker.stdin.flush()
        reply = self._reply()
        return [{"mode": "warm", "seconds": reply["seconds"], "text": reply["text"]}]

    def close(self) -> None:
        if self.worker.stdin:
            self.worker.stdin.close()
        try:
            self.worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.worker.kill()


class OursCli:
    name = "ours-cli"
    pids: list[int] | None = []

    def __init__(self, binary: Path):
        if not binary.is_file():
            raise Skip(f"{binary} not built (cargo build --release)")
        self.binary = binary

    def run(self, clip: Path) -> list[dict]:
        wall, proc = timed([str(self.binary), "transcribe", str(clip),
                            "--model", "whisper-tiny.en", "--language", "en"])
        return [{"mode": "process", "seconds": wall, "text": proc.stdout.strip()}]


class OursHttp:
    name = "ours-http"

    def __init__(self, url: str, key: str, warmup_clip: Path, server_pid: int | None):
        self.url = url.rstrip("/")
        # The server does the work: without its pid, others' load cannot be told apart.
        self.pids: list[int] | None = [server_pid] if server_pid else None
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=3) as r:
                r.read()
        except (urllib.error.URLError, OSError) as e:
            raise Skip(f"no server at {self.url} ({e}); start `mka1-voice serve` or use `make bench-peers`")
        if not key:
            raise Skip("MKA1_BENCH_KEY is not set (the server's API key)")
        self.key = key
        self._post(warmup_clip)  # warm-up: the server loads the model on first use

    def _post(self, clip: Path) -> dict:
        boundary = uuid.uuid4().hex
        body = (
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{clip.name}\"\r\n"
            "Content-Type: audio/wav\r\n\r\n"
        ).encode() + clip.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        req = urllib.request.Request(
            f"{self.url}/api/v1/llm/speech/transcriptions?model=whisper-tiny.en&language=en",
            data=body, method="POST",
            headers={"Authorization": f"Bearer {self.key}",
                     "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        try:
            with urllib.request.urlopen(req, timeout=600) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            detail = e.read()[:300].decode(errors="replace")
            if e.code == 404:
                raise Skip(f"the server has no transcription route yet (404: {detail})") from e
            raise Skip(f"the server answered {e.code}: {detail}") from e

    def run_warm(self, clip: Path) -> list[dict]:
        t0 = time.perf_counter()
        reply = self._post(clip)
        return [{"mode": "warm", "seconds": time.perf_counter() - t0, "text": reply.get("text", "")}]


# ---------------------------------------------------------------- versions
def whisper_cpp_version(cmake_lists: Path) -> str | None:
    try:
        m = re.search(r'project\("whisper.cpp" VERSION ([\d.]+)\)', cmake_lists.read_text())
    except OSError:
        return None
    return m.group(1) if m else None


def versions(args) -> dict:
    out: dict = {}
    lock = (REPO / "Cargo.lock").read_text() if (REPO / "Cargo.lock").is_file() else ""
    m = re.search(r'name = "whisper-rs-sys"\nversion = "([^"]+)"', lock)
    if m:
        out["whisper-rs-sys"] = m.group(1)
        for cm in glob.glob(str(HOME / f".cargo/registry/src/*/whisper-rs-sys-{m.group(1)}/whisper.cpp/CMakeLists.txt")):
            out["ours whisper.cpp"] = whisper_cpp_version(Path(cm))
    cli_root = Path(args.whisper_cli).parents[2]  # <root>/build/bin/whisper-cli
    pkg = cli_root / "package/package.json"
    if pkg.is_file():
        out["nodejs-whisper"] = json.loads(pkg.read_text()).get("version")
        out["whisper-cli whisper.cpp"] = whisper_cpp_version(cli_root / "package/cpp/whisper.cpp/CMakeLists.txt")
    try:
        out["faster-whisper"], out["ctranslate2"] = subprocess.run(
            [args.fw_python, "-c",
             "import importlib.metadata as m; print(m.version('faster-whisper'), m.version('ctranslate2'))"],
            capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError, ValueError):
        pass
    try:
        out["mka1-voice commit"] = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        if dirty:
            out["mka1-voice commit"] += " (+ uncommitted changes)"
    except (OSError, subprocess.CalledProcessError):
        pass
    binary = Path(args.ours_bin)
    if binary.is_file():
        out["mka1-voice binary built"] = datetime.datetime.fromtimestamp(
            binary.stat().st_mtime).isoformat(timespec="seconds")
    return out


# ---------------------------------------------------------------- main
def default_whisper_cli() -> str:
    found = sorted(glob.glob(str(PEERS_DIR / "nodejs-whisper-*/build/bin/whisper-cli")))
    return found[-1] if found else str(PEERS_DIR / "nodejs-whisper-0.3.1/build/bin/whisper-cli")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="repetitions per clip (default 5)")
    ap.add_argument("--threads", type=int, default=2, help="threads for each peer (default 2)")
    ap.add_argument("--clips", default=str(PEERS_DIR / "clips/clips.json"), help="manifest from make-clips.sh")
    ap.add_argument("--whisper-cli", default=default_whisper_cli())
    ap.add_argument("--whisper-cli-nfa", action="store_true",
                    help="also run whisper-cli with flash attention off (-nfa)")
    ap.add_argument("--ggml-model", default=str(MODELS_DIR / "whisper/ggml-tiny.en-q8_0.bin"))
    ap.add_argument("--fw-python", default=str(PEERS_DIR / "fw-venv/bin/python"))
    ap.add_argument("--fw-model", default=str(MODELS_DIR / "whisper/tiny.en/ct2"))
    ap.add_argument("--ours-bin", default=str(REPO / "target/release/mka1-voice"))
    ap.add_argument("--url", default=os.environ.get("MKA1_BENCH_URL", "http://127.0.0.1:8080"))
    ap.add_argument("--key", default=os.environ.get("MKA1_BENCH_KEY", ""))
    ap.add_argument("--server-pid", type=int, default=None,
                    help="pid of the server, to tell its CPU use from other load (bench.sh sets it)")
    ap.add_argument("--skip", default="", help="comma list of whisper-cli,faster-whisper,ours-cli,ours-http")
    ap.add_argument("--idle-below", type=float, default=0.25,
                    help="wait before each measurement until the CPUs are at most this busy (0..1)")
    ap.add_argument("--idle-wait", type=float, default=60, help="longest wait for idle CPUs, seconds")
    ap.add_argument("--realtime", type=int, default=0, metavar="PRIO",
                    help="run this script, and so every peer it starts, under SCHED_FIFO at "
                         "this priority (root; Linux): on a machine that other work keeps "
                         "busy this gives the measured processes the CPUs. 0: off")
    ap.add_argument("--out", default=str(PEERS_DIR / "results.json"))
    args = ap.parse_args()

    try:
        manifest = json.loads(Path(args.clips).read_text())
    except OSError as e:
        print(f"no clips ({e}); run bench/peers/make-clips.sh", file=sys.stderr)
        return 1
    clips = [(name, Path(c["wav"]), c["reference"]) for name, c in manifest.items()]
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    cores = os.cpu_count() or 1
    if cores != args.threads:
        print(f"note: ours-cli uses all {cores} cores (no thread option), the peers use {args.threads}",
              file=sys.stderr)

    if args.realtime:
        # Children inherit the policy, so every peer process (and the faster-whisper
        # worker's threads) runs real-time too; the kernel's RT throttling
        # (sched_rt_runtime_us, 95% by default) still leaves other work a share.
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(args.realtime))
        except (AttributeError, OSError) as e:
            print(f"--realtime: cannot switch to SCHED_FIFO ({e})", file=sys.stderr)
            return 1

    peers: list = []
    skipped: dict[str, str] = {}

    def add(name: str, make):
        if name in skip:
            skipped[name] = "skipped on request"
            return
        try:
            peers.append(make())
        except Skip as e:
            skipped[name] = str(e)
            print(f"{name}: skipped: {e}", file=sys.stderr)

    add("whisper-cli", lambda: WhisperCli(Path(args.whisper_cli), Path(args.ggml_model), args.threads, []))
    if args.whisper_cli_nfa:
        add("whisper-cli -nfa", lambda: WhisperCli(Path(args.whisper_cli), Path(args.ggml_model), args.threads, ["-nfa"]))
    add("faster-whisper", lambda: FasterWhisper(Path(args.fw_python), Path(args.fw_model), args.threads, clips[0][1]))
    add("ours-cli", lambda: OursCli(Path(args.ours_bin)))
    add("ours-http", lambda: OursHttp(args.url, args.key, clips[0][1], args.server_pid))

    # SIGTERM (and SIGINT, which background jobs of a shell ignore) ends the loop early
    # and still reports what was measured.
    def _stop(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, _stop)

    started = datetime.datetime.now().astimezone()
    # Other work may rebuild our binary while this runs: say so in the results.
    binary_at_start = _mtime(Path(args.ours_bin))
    samples: dict[tuple[str, str, str], list[dict]] = {}
    interrupted = False
    try:
        for clip_name, clip, _ in clips:
            for rep in range(args.runs):
                for peer in list(peers):
                    for method in ("run", "run_warm"):
                        fn = getattr(peer, method, None)
                        if fn is None:
                            continue
                        # Real-time runs need no idle machine: the 0.5 s sample alone
                        # lets the previous peer's threads settle and gives others a turn.
                        busy = wait_idle(args.idle_below, 0 if args.realtime else args.idle_wait)
                        meter = OthersMeter(peer.pids)
                        try:
                            results = fn(clip)
                        except Skip as e:
                            skipped[peer.name] = str(e)
                            peers.remove(peer)
                            print(f"{peer.name}: skipped: {e}", file=sys.stderr)
                            break
                        others = meter.share()
                        for r in results:
                            r["cpu_busy_before"] = round(busy, 3)
                            r["others_cpu_share"] = None if others is None else round(others, 3)
                            # Real-time runs preempt whatever ran before, so only the
                            # load during the run counts for them.
                            r["clean"] = ((busy <= args.idle_below or args.realtime > 0)
                                          and (others is None or others <= args.idle_below))
                            samples.setdefault((clip_name, peer.name, r["mode"]), []).append(r)
                            during = "?" if others is None else f"{others:.0%}"
                            print(f"{clip_name} run {rep + 1}/{args.runs} {peer.name} {r['mode']}: "
                                  f"{r['seconds']:.3f} s (CPUs {busy:.0%} busy before, others {during} during)",
                                  file=sys.stderr)
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM: report what was measured so far.
        interrupted = True
        print("interrupted: reporting the runs done so far", file=sys.stderr)
    finally:
        for peer in peers:
            if hasattr(peer, "close"):
                peer.close()

    refs = {name: ref for name, _, ref in clips}
    rows = []
    for (clip_name, peer, mode), all_runs in samples.items():
        # Figures come from the clean runs (no other load before or during) when there
        # are any; otherwise from all, flagged.
        clean = [r for r in all_runs if r["clean"]]
        runs = clean or all_runs
        secs = [r["seconds"] for r in runs]
        wers = [wer(refs[clip_name], r["text"]) for r in all_runs]
        row = {
            "clip": clip_name, "peer": peer, "mode": mode, "runs": len(all_runs),
            "clean_runs": len(clean),
            "median_s": statistics.median(secs), "min_s": min(secs),
            "wer": statistics.median(wers), "text": all_runs[0]["text"],
            "all_runs": all_runs,
        }
        if "total_minus_load" in runs[0]:
            row["total_minus_load_median_s"] = statistics.median(r["total_minus_load"] for r in runs)
        rows.append(row)

    # Ratio ours/peer, medians: warm rows against our server (warm), process rows
    # against our CLI (a whole process as well).
    ours = {(r["clip"], r["mode"]): r for r in rows if r["peer"] == {"warm": "ours-http", "process": "ours-cli"}[r["mode"]]}
    for r in rows:
        mine = ours.get((r["clip"], r["mode"]))
        if not r["peer"].startswith("ours") and mine:
            r["ratio_ours_over_peer"] = mine["median_s"] / r["median_s"]

    order = {"whisper-cli": 0, "whisper-cli -nfa": 1, "faster-whisper": 2, "ours-cli": 3, "ours-http": 4}
    rows.sort(key=lambda r: (int(r["clip"].split("-")[1].rstrip("s")), r["mode"], order.get(r["peer"], 9)))

    notes = []
    if _mtime(Path(args.ours_bin)) != binary_at_start:
        notes.append(f"{args.ours_bin} was rebuilt during the run: ours-cli rows may mix two builds "
                     "(a server keeps the build it started with)")
    info = {
        "notes": notes,
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {"cores": cores, "cpu": _cpu_model(), "python": platform.python_version()},
        "threads": args.threads,
        "runs": args.runs,
        "interrupted": interrupted,
        "idle_below": args.idle_below,
        "realtime_priority": args.realtime,
        "versions": versions(args),
        "skipped": skipped,
        "clips": manifest,
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(info, indent=2))

    print(f"\n{started:%Y-%m-%d %H:%M %Z}, {cores} cores ({info['machine']['cpu']}), "
          f"{args.threads} threads, {args.runs} runs"
          f"{f', SCHED_FIFO {args.realtime}' if args.realtime else ''}; ratio = ours median / peer median "
          "(warm: ours-http; process: ours-cli)\n")
    print("| clip | peer | mode | median s | min s | ratio ours/peer | WER | clean runs |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        ratio = f"{r['ratio_ours_over_peer']:.2f}×" if "ratio_ours_over_peer" in r else ""
        clean = f"{r['clean_runs']}/{r['runs']}" + ("" if r["clean_runs"] else " (all contended)")
        print(f"| {r['clip']} | {r['peer']} | {r['mode']} | {r['median_s']:.3f} | "
              f"{r['min_s']:.3f} | {ratio} | {r['wer']:.1%} | {clean} |")
    for name, why in skipped.items():
        print(f"\n{name}: not measured: {why}")
    for note in notes:
        print(f"\nnote: {note}")
    if interrupted:
        print("\ninterrupted: fewer runs than asked for (see the runs column of the JSON)")
    print(f"\nJSON: {args.out}")
    return 0


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    sys.exit(main())
