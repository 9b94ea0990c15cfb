"""The official OpenAI Python SDK (pip `openai`) against a running `mka1-voice serve`,
pointed at it with `base_url=<server>/v1` and nothing else changed (shared/API.md
section 7).

Env: MKA1_TEST_URL, MKA1_TEST_KEY, MKA1_TEST_SAMPLES (optional). Prints PASS/FAIL per
check, exits non-zero when any failed. The OpenAI SDK does not validate responses (its
models are built without validation), so the checks read the raw JSON for the fields
its types declare required, as a typed client in another language would need them.
"""

import io
import json
import re
import wave

import openai

from checks import (
    ONE_WORD_OF_EIGHT,
    Runner,
    Settings,
    assert_close_text,
    parse_flac_streaminfo,
    parse_mp3_header,
    parse_ogg_opus_head,
    parse_wav_header,
    pcm_rms,
)

SAMPLE = "librivox/sense-0880.wav"
LONG_SAMPLE = "librivox/sense-0870.wav"
SPEECH_TEXT = "The quick brown fox jumps over the lazy dog."
STREAM_TEXT = (
    "Streaming speech starts before the text is done. "
    "Each sentence is sent as soon as it is ready. "
    "This is the third sentence of the test."
)

cfg = Settings()
client = openai.OpenAI(base_url=cfg.url + "/v1", api_key=cfg.key, max_retries=0, timeout=180)
run = Runner("official OpenAI SDK")
durations = {}
for line in (cfg.samples / "durations.tsv").read_text().splitlines():
    if line and not line.startswith("#"):
        path, seconds, *_ = line.split("\t")
        durations[path] = float(seconds)


def audio(name):
    return (name.rsplit("/", 1)[-1], cfg.sample(name))


def transcribe(name=SAMPLE, **kw):
    return client.audio.transcriptions.create(model="whisper-1", file=audio(name), **kw)


_CUE_TIME = r"(\d\d):(\d\d):(\d\d)[,.](\d\d\d)"


def parse_cues(text, separator):
    """(start, end, text) of each cue of an SRT or WebVTT document, in seconds."""
    cues = []
    pattern = re.compile(rf"^{_CUE_TIME} --> {_CUE_TIME}$", re.M)
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.strip().splitlines()
        timing = [i for i, line in enumerate(lines) if "-->" in line]
        if not timing:
            continue
        line = lines[timing[0]]
        m = pattern.match(line)
        assert m, f"bad cue timing line {line!r}"
        assert line[8] == separator and line[25] == separator, f"wrong millisecond separator in {line!r}"
        h1, m1, s1, ms1, h2, m2, s2, ms2 = map(int, m.groups())
        start = h1 * 3600 + m1 * 60 + s1 + ms1 / 1000
        end = h2 * 3600 + m2 * 60 + s2 + ms2 / 1000
        cues.append((start, end, " ".join(lines[timing[0] + 1 :])))
    assert cues, f"no cues in {text!r}"
    for (s, e, _), nxt in zip(cues, cues[1:] + [None]):
        assert s < e, f"cue ends before it starts: {cues}"
        assert nxt is None or e <= nxt[0] + 1e-6, f"cues overlap or go backwards: {cues}"
    return cues


@run.check("transcriptions json")
def _():
    res = transcribe()
    score = assert_close_text(cfg.references[SAMPLE], res.text, ONE_WORD_OF_EIGHT)
    return f"{res.text!r} WER {score:.3f}"


@run.check("transcriptions json from MP3 and WebM uploads")
def _():
    out = []
    for name in ("formats/sense-0880.mp3", "formats/sense-0920-48k-stereo.webm"):
        res = transcribe(name)
        out.append(f"{assert_close_text(cfg.references[name], res.text, ONE_WORD_OF_EIGHT):.3f}")
    return "WER " + ", ".join(out)


@run.check("transcriptions text")
def _():
    res = transcribe(response_format="text")
    assert isinstance(res, str), type(res)
    assert not res.lstrip().startswith("{"), f"JSON where text was asked: {res!r}"
    score = assert_close_text(cfg.references[SAMPLE], res, ONE_WORD_OF_EIGHT)
    return f"{res.strip()!r} WER {score:.3f}"


@run.check("transcriptions srt")
def _():
    res = transcribe(LONG_SAMPLE, response_format="srt")
    assert isinstance(res, str) and res.lstrip().startswith("1\n"), f"{res!r}"
    cues = parse_cues(res, ",")
    assert cues[-1][1] <= durations[LONG_SAMPLE] + 0.5, f"cue past the end: {cues}"
    score = assert_close_text(cfg.references[LONG_SAMPLE], " ".join(c[2] for c in cues), 0.10)
    return f"{len(cues)} cues, WER {score:.3f}"


@run.check("transcriptions vtt")
def _():
    res = transcribe(LONG_SAMPLE, response_format="vtt")
    assert isinstance(res, str) and res.startswith("WEBVTT"), f"{res!r}"
    cues = parse_cues(res, ".")
    score = assert_close_text(cfg.references[LONG_SAMPLE], " ".join(c[2] for c in cues), 0.10)
    return f"{len(cues)} cues, WER {score:.3f}"


@run.check("transcriptions verbose_json with word and segment timestamps")
def _():
    raw = client.audio.transcriptions.with_raw_response.create(
        model="whisper-1",
        file=audio(LONG_SAMPLE),
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    body = json.loads(raw.text)
    res = raw.parse()
    assert isinstance(res, openai.types.audio.TranscriptionVerbose), type(res)
    for field in ("text", "language", "duration", "words", "segments"):
        assert field in body, f"no {field!r} in {sorted(body)}"
    assert res.language in ("en", "english"), res.language
    assert abs(res.duration - durations[LONG_SAMPLE]) <= 0.1, f"duration {res.duration}"
    score = assert_close_text(cfg.references[LONG_SAMPLE], res.text, 0.10)
    words = body["words"]
    assert words, "no words"
    for w in words:
        assert isinstance(w["word"], str) and w["start"] <= w["end"], w
    starts = [w["start"] for w in words]
    assert starts == sorted(starts), f"word starts not increasing: {starts}"
    assert words[-1]["end"] <= res.duration + 0.5, words[-1]
    assert_close_text(cfg.references[LONG_SAMPLE], " ".join(w["word"] for w in words), 0.10)
    segments = body["segments"]
    assert segments, "no segments"
    required = {"id", "seek", "start", "end", "text", "tokens", "temperature",
                "avg_logprob", "compression_ratio", "no_speech_prob"}
    for i, s in enumerate(segments):
        assert required <= set(s), f"segment lacks {required - set(s)}: {s}"
        assert s["id"] == i and s["start"] < s["end"], s
        assert isinstance(s["tokens"], list) and all(isinstance(t, int) for t in s["tokens"]), s
    seg_starts = [s["start"] for s in segments]
    assert seg_starts == sorted(seg_starts), f"segment starts not increasing: {seg_starts}"
    return f"{len(words)} words, {len(segments)} segments, duration {res.duration}, WER {score:.3f}"


@run.check("transcriptions verbose_json with only segment granularity has no words")
def _():
    raw = client.audio.transcriptions.with_raw_response.create(
        model="whisper-1", file=audio(SAMPLE), response_format="verbose_json",
        timestamp_granularities=["segment"],
    )
    body = json.loads(raw.text)
    assert body.get("segments"), f"no segments: {body}"
    assert not body.get("words"), f"words were not asked for: {body.get('words')}"


@run.check("transcriptions stream=True: deltas then done")
def _():
    stream = transcribe(LONG_SAMPLE, stream=True)
    events = list(stream)
    types = [e.type for e in events]
    assert types and types[-1] == "transcript.text.done", f"events {types}"
    assert types.count("transcript.text.done") == 1, f"events {types}"
    deltas = [e.delta for e in events if e.type == "transcript.text.delta"]
    assert deltas, f"no delta events: {types}"
    assert set(types) <= {"transcript.text.delta", "transcript.text.done"}, f"events {types}"
    done = events[-1].text
    assert "".join(deltas).strip() == done.strip(), f"deltas {deltas!r} do not add up to {done!r}"
    score = assert_close_text(cfg.references[LONG_SAMPLE], done, 0.10)
    return f"{len(deltas)} deltas, {done!r} WER {score:.3f}"


@run.check("transcriptions: empty file -> 400 BadRequestError")
def _():
    try:
        client.audio.transcriptions.create(model="whisper-1", file=("empty.wav", b""))
    except openai.BadRequestError as e:
        return e.message
    raise AssertionError("an empty upload was accepted")


def speech(fmt, text=SPEECH_TEXT):
    res = client.audio.speech.create(model="tts-1", voice="alloy", input=text, response_format=fmt)
    return res.response.headers.get("content-type"), res.content


@run.check("speech mp3")
def _():
    ctype, data = speech("mp3")
    rate, channels, kbps = parse_mp3_header(data)
    assert (rate, channels) == (24000, 1), (rate, channels, kbps)
    assert len(data) > 10_000, len(data)
    return f"{ctype}, {len(data)} bytes, {kbps} kbps"


@run.check("speech wav (and what it says is heard back)")
def _():
    ctype, data = speech("wav")
    tag, channels, rate, bits, declared, offset = parse_wav_header(data)
    assert (tag, channels, rate, bits) == (1, 1, 24000, 16), (tag, channels, rate, bits)
    samples = len(data) - offset
    assert declared in (0, 0xFFFFFFFF, samples), f"declared {declared}, have {samples}"
    assert samples > 48000 and pcm_rms(data[offset:]) > 0.01, samples
    back = client.audio.transcriptions.create(model="whisper-1", file=("speech.wav", data), language="en")
    score = assert_close_text(SPEECH_TEXT, back.text, 0.25)
    return f"{ctype}, {samples / 48000:.2f} s, heard {back.text!r} (WER {score:.3f})"


@run.check("speech pcm: raw s16le 24 kHz, no header (heard back as such)")
def _():
    ctype, data = speech("pcm")
    assert data[:4] not in (b"RIFF", b"OggS", b"fLaC", b"ID3\x03", b"ID3\x04"), data[:4]
    assert len(data) % 2 == 0 and len(data) > 48000, len(data)
    assert pcm_rms(data) > 0.01, "silent"
    # Wrapped here in a WAV header that says 24 kHz s16 mono: if that is what the bytes
    # are, the recognizer hears the sentence.
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(24000)
        w.writeframes(data)
    back = client.audio.transcriptions.create(model="whisper-1", file=("pcm.wav", buf.getvalue()), language="en")
    score = assert_close_text(SPEECH_TEXT, back.text, 0.25)
    return f"{ctype}, {len(data) / 48000:.2f} s, heard {back.text!r} (WER {score:.3f})"


@run.check("speech flac")
def _():
    ctype, data = speech("flac")
    assert parse_flac_streaminfo(data) == (24000, 1, 16), parse_flac_streaminfo(data)
    return f"{ctype}, {len(data)} bytes"


@run.check("speech opus (Ogg Opus)")
def _():
    ctype, data = speech("opus")
    channels, rate = parse_ogg_opus_head(data)
    assert channels == 1, channels
    assert len(data) > 2_000, len(data)
    return f"{ctype}, {len(data)} bytes, input rate {rate}"


@run.check("speech with_streaming_response: chunked body, several chunks")
def _():
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=STREAM_TEXT, response_format="mp3"
    ) as res:
        assert res.status_code == 200
        assert res.headers.get("content-type") == "audio/mpeg", res.headers.get("content-type")
        assert res.headers.get("transfer-encoding") == "chunked", dict(res.headers)
        chunks = [c for c in res.iter_bytes() if c]
    data = b"".join(chunks)
    rate, channels, _ = parse_mp3_header(data)
    assert (rate, channels) == (24000, 1) and len(data) > 30_000, (rate, channels, len(data))
    assert len(chunks) >= 2, f"the body came in {len(chunks)} chunk(s)"
    return f"{len(data)} bytes in {len(chunks)} chunks"


@run.check("speech aac -> BadRequestError naming the supported formats")
def _():
    try:
        speech("aac")
    except openai.BadRequestError as e:
        message = e.body.get("message") if isinstance(e.body, dict) else str(e.body)
        for fmt in ("mp3", "opus", "flac", "wav", "pcm"):
            assert fmt in message, f"{fmt} not named in {message!r}"
        return message
    raise AssertionError("aac was accepted")


@run.check("models.list")
def _():
    raw = client.models.with_raw_response.list()
    body = json.loads(raw.text)
    assert body.get("object") == "list", body
    models = list(raw.parse())
    assert models, "no models"
    for m in body["data"]:
        assert isinstance(m.get("id"), str) and m.get("object") == "model", m
        assert isinstance(m.get("created"), int) and isinstance(m.get("owned_by"), str), m
    return ", ".join(m.id for m in models)


@run.check("wrong API key -> AuthenticationError")
def _():
    bad = openai.OpenAI(base_url=cfg.url + "/v1", api_key="not-a-valid-key-000000", max_retries=0)
    try:
        bad.models.list()
    except openai.AuthenticationError as e:
        assert e.status_code == 401
        return e.message
    raise AssertionError("a wrong key was accepted")


run.finish()
