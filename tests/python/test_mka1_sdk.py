"""The official MKA1 Python SDK (pip `meetkai-mka1`) against a running `mka1-voice serve`.

Env: MKA1_TEST_URL (server base URL), MKA1_TEST_KEY (an API key it accepts),
MKA1_TEST_SAMPLES (optional, the repo's samples/). Prints PASS/FAIL per check and exits
non-zero when any failed. Covers shared/API.md sections 1, 2, 3 and 5 exactly as the SDK
calls them: it always sends `?model=auto&include_speaker_data=false&store=false` on
transcribe, `Accept: audio/wav` on speak, `Accept: audio/mpeg;q=1, audio/wav;q=0` on
streaming speak (even for pcm), and it validates every JSON answer with its own models,
so a missing or mistyped field surfaces as `ResponseValidationError`.
"""

import json
import time
import uuid
import wave
import io

from meetkai_mka1 import SDK
from meetkai_mka1.errors import SDKDefaultError

from checks import (
    ONE_WORD_OF_EIGHT,
    Runner,
    Settings,
    assert_close_text,
    error_body,
    parse_mp3_header,
    parse_wav_header,
    pcm_rms,
)

DIARIZATION_MESSAGE = (
    "Speaker diarization currently requires WAV/PCM audio for non-streaming transcription."
)
TTS_TEXT = "The quick brown fox jumps over the lazy dog."
STREAM_TEXT = (
    "Streaming speech starts before the text is done. "
    "Each sentence is sent as soon as it is ready. "
    "This is the third sentence of the test."
)

cfg = Settings()
# No retries: a 5xx must show up as the failure it is, not as a 15 s back-off.
sdk = SDK(bearer_auth=cfg.key, server_url=cfg.url, timeout_ms=180_000, retry_config=None)
speech = sdk.llm.speech
run = Runner("official MKA1 SDK")


def expect_error(status, call):
    """Runs `call`, which must raise the SDK's error type with `status`; returns the
    error envelope."""
    try:
        result = call()
    except SDKDefaultError as e:
        assert e.status_code == status, f"status {e.status_code}, want {status}: {e.body}"
        return error_body(e.body)
    raise AssertionError(f"expected HTTP {status}, got a result: {result!r}")


def transcribe(name, **kw):
    return speech.transcribe(file={"file_name": name.rsplit("/", 1)[-1], "content": cfg.sample(name)}, **kw)


def media_type(content_type):
    return (content_type or "").split(";")[0].strip().lower()


def header(res, name):
    values = res.headers.get(name.lower())
    assert values, f"no {name} header among {sorted(res.headers)}"
    return values[0]


@run.check("transcribe WAV: text, language, confidence")
def _():
    res = transcribe("librivox/sense-0880.wav")
    score = assert_close_text(cfg.references["librivox/sense-0880.wav"], res.text, ONE_WORD_OF_EIGHT)
    assert res.language == "en", f"language {res.language!r}"
    assert res.confidence is not None and 0 < res.confidence <= 1, f"confidence {res.confidence!r}"
    assert res.speakers is None, f"speakers without include_speaker_data: {res.speakers!r}"
    return f"{res.text!r} WER {score:.3f} confidence {res.confidence:.3f}"


@run.check("transcribe MP3 (content sniffed, not named)")
def _():
    # A misleading name: the container must be found from the bytes. Same parameters as
    # the WAV check above, so the same model judges both.
    res = speech.transcribe(
        file={"file_name": "upload.bin", "content": cfg.sample("formats/sense-0880.mp3")}
    )
    score = assert_close_text(cfg.references["formats/sense-0880.mp3"], res.text, ONE_WORD_OF_EIGHT)
    return f"{res.text!r} WER {score:.3f}"


@run.check("transcribe raw PCM with part Content-Type audio/pcm")
def _():
    res = speech.transcribe(
        file={
            "file_name": "goforward.raw",
            "content": cfg.sample("goforward-16k.raw"),
            "content_type": "audio/pcm",
        },
        language="en",
    )
    score = assert_close_text(cfg.references["goforward-16k.raw"], res.text, 0.25)
    return f"{res.text!r} WER {score:.3f}"


@run.check("transcribe with include_speaker_data: two speakers in turns")
def _():
    truth = json.loads((cfg.samples / "two-speakers-16k.json").read_text())
    res = transcribe("two-speakers-16k.wav", include_speaker_data=True)
    assert res.speakers, f"no speakers: {res!r}"
    labels = {s.speaker for s in res.speakers}
    assert labels == {"Speaker-1", "Speaker-2"}, f"speaker labels {labels}"
    offsets = [s.offset_ms for s in res.speakers]
    assert all(isinstance(o, int) for o in offsets), f"offsets {offsets}"
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets), f"offsets not increasing: {offsets}"
    for s in res.speakers:
        assert isinstance(s.duration_ms, int) and s.duration_ms > 0, f"duration {s!r}"
        assert s.confidence is not None and 0 <= s.confidence <= 1, f"confidence {s!r}"
    # Consecutive segments of one speaker form a turn; the turns must follow the truth.
    turns = []
    for s in res.speakers:
        if turns and turns[-1]["speaker"] == s.speaker:
            turns[-1]["text"] += " " + s.text
        else:
            turns.append({"speaker": s.speaker, "start_ms": s.offset_ms, "text": s.text})
    want = [t["speaker"] for t in truth["turns"]]
    assert [t["speaker"] for t in turns] == want, f"turn order {[t['speaker'] for t in turns]}, want {want}"
    for got, ref in zip(turns, truth["turns"]):
        assert abs(got["start_ms"] - ref["start_ms"]) <= 750, f"turn starts at {got['start_ms']}, truth {ref['start_ms']}"
        assert_close_text(ref["text"], got["text"], 0.34)
    full = " ".join(t["text"] for t in truth["turns"])
    score = assert_close_text(full, res.text, 0.2)
    return f"{len(res.speakers)} segments, turns {[(t['speaker'], t['start_ms']) for t in turns]}, WER {score:.3f}"


@run.check("include_speaker_data with MP3 -> 400 with the exact message")
def _():
    err = expect_error(400, lambda: transcribe("formats/sense-0880.mp3", include_speaker_data=True))
    assert err["message"] == DIARIZATION_MESSAGE, f"message {err['message']!r}"
    return err["code"]


@run.check("wrong API key -> 401")
def _():
    bad = SDK(bearer_auth="not-a-valid-key-0000000000", server_url=cfg.url, retry_config=None)
    err = expect_error(401, lambda: bad.llm.speech.transcribe(
        file={"file_name": "a.wav", "content": cfg.sample("librivox/sense-0880.wav")}))
    expect_error(401, lambda: bad.llm.speech.speak(text="hello"))
    expect_error(401, lambda: bad.llm.speech.list_tts_history())
    return err["message"]


@run.check("empty file -> 400, not audio -> 415")
def _():
    expect_error(400, lambda: speech.transcribe(file={"file_name": "empty.wav", "content": b""}))
    expect_error(415, lambda: speech.transcribe(
        file={"file_name": "notes.wav", "content": b"these are not audio bytes at all\n" * 40}))


@run.check("upload of 25 MiB + 1 byte -> 413")
def _():
    wav = cfg.sample("librivox/sense-0880.wav")
    big = wav + b"\0" * (26_214_400 + 1 - len(wav))
    err = expect_error(413, lambda: speech.transcribe(file={"file_name": "big.wav", "content": big}))
    return err["message"]


@run.check("transcription history: store, list, get, content, delete")
def _():
    name = f"sdk-store-{uuid.uuid4().hex[:8]}.wav"
    audio = cfg.sample("librivox/sense-0930.wav")
    user = f"sdk-user-{uuid.uuid4().hex[:8]}"
    before = int(time.time())
    res = speech.transcribe(file={"file_name": name, "content": audio}, store=True, x_on_behalf_of=user)
    listed = speech.list_transcription_history(x_on_behalf_of=user)
    assert listed.object == "list"
    mine = [r for r in listed.data if r.filename == name]
    assert len(mine) == 1, f"stored record not listed: {[r.filename for r in listed.data]}"
    rec = mine[0]
    assert rec.id.startswith("stt_"), rec.id
    assert listed.first_id == listed.data[0].id and listed.last_id == listed.data[-1].id
    got = speech.get_transcription_history(stt_id=rec.id, x_on_behalf_of=user)
    assert got.id == rec.id and got.object == "speech.transcription"
    assert got.text == res.text, f"{got.text!r} != {res.text!r}"
    assert got.language == res.language, (got.language, res.language)
    assert abs(got.confidence - res.confidence) < 1e-6, (got.confidence, res.confidence)
    assert got.filename == name
    assert got.audio_bytes == len(audio), f"audio_bytes {got.audio_bytes} != {len(audio)}"
    assert got.audio_mime_type in ("audio/wav", "audio/x-wav", "audio/wave"), got.audio_mime_type
    assert got.speakers is None and got.streaming is False and isinstance(got.metadata, dict)
    assert isinstance(got.model, str) and got.model, got.model
    assert before - 5 <= got.created_at <= time.time() + 5, f"created_at {got.created_at}"
    content = speech.get_transcription_history_content(stt_id=rec.id, x_on_behalf_of=user)
    assert content.read() == audio, "stored audio differs from the upload"
    # Another end user (same key) sees nothing of it.
    other = "sdk-other-user"
    expect_error(404, lambda: speech.get_transcription_history(stt_id=rec.id, x_on_behalf_of=other))
    expect_error(404, lambda: speech.delete_transcription_history(stt_id=rec.id, x_on_behalf_of=other))
    assert rec.id not in [r.id for r in speech.list_transcription_history(x_on_behalf_of=other).data]
    deleted = speech.delete_transcription_history(stt_id=rec.id, x_on_behalf_of=user)
    assert deleted.id == rec.id and deleted.deleted is True and isinstance(deleted.object, str)
    expect_error(404, lambda: speech.get_transcription_history(stt_id=rec.id, x_on_behalf_of=user))
    expect_error(404, lambda: speech.get_transcription_history_content(stt_id=rec.id, x_on_behalf_of=user))
    assert rec.id not in [r.id for r in speech.list_transcription_history(x_on_behalf_of=user).data]
    return f"{rec.id} ({got.audio_mime_type}, model {got.model}, deleted object {deleted.object!r})"


@run.check("transcription history: paging with limit/after/order")
def _():
    user = f"sdk-pager-{uuid.uuid4().hex[:8]}"
    names = [f"page-{i}.wav" for i in range(3)]
    for n in names:
        speech.transcribe(file={"file_name": n, "content": cfg.sample("librivox/sense-0880.wav")},
                          store=True, x_on_behalf_of=user)
    first = speech.list_transcription_history(limit=2, x_on_behalf_of=user)
    assert [r.filename for r in first.data] == ["page-2.wav", "page-1.wav"], [r.filename for r in first.data]
    assert first.has_more is True and first.last_id == first.data[-1].id
    rest = speech.list_transcription_history(limit=2, after=first.last_id, x_on_behalf_of=user)
    assert [r.filename for r in rest.data] == ["page-0.wav"] and rest.has_more is False, rest
    asc = speech.list_transcription_history(order="asc", x_on_behalf_of=user)
    assert [r.filename for r in asc.data] == names, [r.filename for r in asc.data]
    expect_error(400, lambda: speech.list_transcription_history(limit=101, x_on_behalf_of=user))
    for r in asc.data:
        speech.delete_transcription_history(stt_id=r.id, x_on_behalf_of=user)


def read_wav(data):
    with wave.open(io.BytesIO(data)) as w:
        return w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()


@run.check("speak: 24 kHz mono 16-bit WAV, X-Language-Code, intelligible")
def _():
    res = speech.speak(text=TTS_TEXT, language="en")
    ctype = res.result.headers.get("content-type")
    data = res.result.read()
    channels, width, rate, frames = read_wav(data)
    assert (channels, width, rate) == (1, 2, 24000), (channels, width, rate)
    assert frames > 24000, f"only {frames} frames for a full sentence"
    assert header(res, "X-Language-Code") == "en"
    assert "x-tts-id" not in res.headers, "X-Tts-Id without store"
    # Our own recognizer must understand our own voice.
    back = speech.transcribe(file={"file_name": "tts.wav", "content": data}, language="en")
    score = assert_close_text(TTS_TEXT, back.text, 0.25)
    return f"{ctype}, {frames / rate:.2f} s, heard {back.text!r} (WER {score:.3f})"


@run.check("speak with language auto detects English")
def _():
    res = speech.speak(text=TTS_TEXT)
    res.result.read()
    assert header(res, "X-Language-Code") == "en", header(res, "X-Language-Code")


@run.check("speak: empty text -> 400, language without a voice -> 400 naming it")
def _():
    expect_error(400, lambda: speech.speak(text=""))
    err = expect_error(400, lambda: speech.speak(text="Bonjour tout le monde", language="uk"))
    assert "uk" in err["message"] or "Ukrainian" in err["message"], err["message"]
    return err["message"]


@run.check("speak_streaming mp3: chunked audio/mpeg, 24 kHz mono 96 kbps")
def _():
    res = speech.speak_streaming(text=STREAM_TEXT, language="en")
    ctype = res.result.headers.get("content-type")
    assert media_type(ctype) == "audio/mpeg", ctype
    assert res.result.headers.get("transfer-encoding") == "chunked", dict(res.result.headers)
    chunks = [c for c in res.result.iter_bytes() if c]
    data = b"".join(chunks)
    rate, channels, kbps = parse_mp3_header(data)
    assert (rate, channels, kbps) == (24000, 1, 96), (rate, channels, kbps)
    # ~3 sentences of speech at 96 kbps: well over 50 kB.
    assert len(data) > 50_000, f"{len(data)} bytes"
    assert header(res, "X-Language-Code") == "en"
    return f"{len(data)} bytes in {len(chunks)} chunks"


@run.check("speak_streaming pcm: WAV header of unknown length, then 24 kHz s16 mono")
def _():
    res = speech.speak_streaming(text=STREAM_TEXT, format_="pcm", language="en")
    # The SDK asked for audio/mpeg (q=1); format decides, not Accept.
    assert media_type(res.result.headers.get("content-type")) == "audio/wav", res.result.headers.get("content-type")
    data = res.result.read()
    tag, channels, rate, bits, declared, offset = parse_wav_header(data)
    assert (tag, channels, rate, bits) == (1, 1, 24000, 16), (tag, channels, rate, bits)
    samples = data[offset:]
    assert declared in (0, 0xFFFFFFFF) or declared == len(samples), f"declared {declared}, got {len(samples)}"
    assert len(samples) % 2 == 0 and len(samples) > 48000 * 3, f"{len(samples)} sample bytes"
    assert pcm_rms(samples) > 0.01, "silent audio"
    return f"{len(samples) / 48000:.2f} s, declared size {declared:#x}"


@run.check("tts history: store (whole WAV), list, get, content, delete")
def _():
    user = f"sdk-tts-{uuid.uuid4().hex[:8]}"
    res = speech.speak(text=TTS_TEXT, language="en", store=True, x_on_behalf_of=user)
    wav = res.result.read()
    tts_id = header(res, "X-Tts-Id")
    assert tts_id.startswith("tts_"), tts_id
    listed = speech.list_tts_history(x_on_behalf_of=user)
    assert [r.id for r in listed.data] == [tts_id], [r.id for r in listed.data]
    rec = speech.get_tts_history(tts_id=tts_id, x_on_behalf_of=user)
    assert rec.object == "speech.tts" and rec.text == TTS_TEXT and rec.language == "en"
    assert rec.format_ == "wav" and rec.streaming is False, (rec.format_, rec.streaming)
    assert rec.characters == len(TTS_TEXT), rec.characters
    assert rec.audio_bytes == len(wav), f"audio_bytes {rec.audio_bytes} != {len(wav)}"
    content = speech.get_tts_history_content(tts_id=tts_id, x_on_behalf_of=user)
    assert media_type(content.headers.get("content-type")) == "audio/wav", content.headers.get("content-type")
    assert content.read() == wav, "stored audio differs from what was returned"
    expect_error(404, lambda: speech.get_tts_history(tts_id=tts_id, x_on_behalf_of="someone-else"))
    deleted = speech.delete_tts_history(tts_id=tts_id, x_on_behalf_of=user)
    assert deleted.id == tts_id and deleted.deleted is True
    expect_error(404, lambda: speech.get_tts_history(tts_id=tts_id, x_on_behalf_of=user))
    expect_error(404, lambda: speech.get_tts_history_content(tts_id=tts_id, x_on_behalf_of=user))
    return f"{tts_id}, model {rec.model}, detected_language {rec.detected_language!r}"


@run.check("tts history: streamed mp3 with store is recorded once the stream ends")
def _():
    user = f"sdk-tts-stream-{uuid.uuid4().hex[:8]}"
    res = speech.speak_streaming(text=STREAM_TEXT, language="en", store=True, x_on_behalf_of=user)
    tts_id = header(res, "X-Tts-Id")
    mp3 = res.result.read()
    # The SDK documents persistence as completing shortly after the stream ends: wait for
    # it (bounded), then judge the record.
    rec, deadline = None, time.time() + 30
    while rec is None:
        try:
            rec = speech.get_tts_history(tts_id=tts_id, x_on_behalf_of=user)
        except SDKDefaultError as e:
            assert e.status_code == 404 and time.time() < deadline, f"{e.status_code}: {e.body}"
            time.sleep(0.2)
    assert rec.streaming is True and rec.format_ == "mp3", (rec.streaming, rec.format_)
    assert rec.audio_bytes == len(mp3), f"audio_bytes {rec.audio_bytes} != {len(mp3)}"
    content = speech.get_tts_history_content(tts_id=tts_id, x_on_behalf_of=user)
    assert media_type(content.headers.get("content-type")) == "audio/mpeg", content.headers.get("content-type")
    assert content.read() == mp3, "stored audio differs from the stream"
    speech.delete_tts_history(tts_id=tts_id, x_on_behalf_of=user)
    return tts_id


run.finish()
