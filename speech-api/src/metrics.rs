//! Prometheus metrics (text exposition format 0.0.4), hand-rolled: a handful of counters
//! and histograms do not justify a metrics framework.
//!
//! [`Metrics::instrument`] wraps a whole composed server (token service, speech API,
//! history, WebSockets) in a layer that counts every request and times it to its response
//! head, labelled by the route *pattern* (axum's `MatchedPath`), never by the raw path,
//! so ids in paths cannot grow the series without bound. The speech API adds what only it
//! knows: the real-time factor of each transcription and the time to the first audio byte
//! of streamed speech. Gauges that are read at scrape time (queue depth, loaded models)
//! are written by the `/metrics` handler itself.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::Response;

/// The content type of the exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Request latency buckets, in seconds: from a health check to a long transcription.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Real-time factor buckets (compute seconds per audio second).
const RTF_BUCKETS: &[f64] = &[0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0];
/// Time-to-first-audio buckets, in seconds.
const FIRST_AUDIO_BUCKETS: &[f64] = &[0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0];

/// Voice-agent turn stage buckets, in seconds: from a fast first clause to a slow upstream.
const VOICE_STAGE_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0,
];

/// The stages of a voice-agent turn, as the `stage` label of
/// `mka1_voice_turn_stage_seconds`. A closed set: the label cannot grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum VoiceStage {
    /// Last voiced sample → the turn confirmed (the silence window and the STT final).
    EndOfUtterance,
    /// The end-of-speech decision → the final transcript.
    SttFinal,
    /// The upstream request → its first text.
    LlmFirstToken,
    /// The first text → the first agent audio frame encoded.
    TtsFirstAudio,
    /// Last voiced sample → the first agent audio frame sent.
    EndToEnd,
    /// End to end minus the configured silence window: the wait beyond it.
    ResponseOverhead,
}

impl VoiceStage {
    fn label(self) -> &'static str {
        match self {
            Self::EndOfUtterance => "end_of_utterance",
            Self::SttFinal => "stt_final",
            Self::LlmFirstToken => "llm_first_token",
            Self::TtsFirstAudio => "tts_first_audio",
            Self::EndToEnd => "end_to_end",
            Self::ResponseOverhead => "response_overhead",
        }
    }
}

/// The route label of requests that matched no route (404s): one series for all of them.
const UNMATCHED_ROUTE: &str = "unmatched";

/// A histogram with fixed upper bounds (cumulative only when rendered).
#[derive(Debug, Clone)]
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        if let Some(i) = self.bounds.iter().position(|b| value <= *b)
            && let Some(c) = self.counts.get_mut(i)
        {
            *c += 1;
        }
        self.sum += value;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            cumulative += count;
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

#[derive(Debug, Default)]
struct Series {
    /// (method, route, status) → requests.
    requests: BTreeMap<(String, String, u16), u64>,
    /// (method, route) → latency to the response head.
    latency: BTreeMap<(String, String), Histogram>,
    /// model → real-time factor of transcriptions.
    rtf: BTreeMap<String, Histogram>,
    /// model → seconds of audio transcribed.
    audio_seconds: BTreeMap<String, f64>,
    /// format → seconds from request to the first streamed audio byte.
    first_audio: BTreeMap<String, Histogram>,
    /// Speech streams cancelled by their client's disconnect.
    tts_streams_cancelled: u64,
    /// Voice-agent turn stages.
    voice_stages: BTreeMap<VoiceStage, Histogram>,
    /// preemptive → voice-agent turns answered.
    voice_turns: BTreeMap<bool, u64>,
    /// Agent replies cut off by the user talking over them.
    voice_barge_ins: u64,
    /// Voice-agent sessions running now.
    voice_sessions_active: u64,
    /// Voice-agent sessions started since the server started.
    voice_sessions_started: u64,
}

/// The server's metrics. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    series: Arc<Mutex<Series>>,
}

impl Metrics {
    /// Empty metrics.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Series> {
        // A panic while holding the lock leaves plain numbers behind: still usable.
        self.series.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wraps `router` (every route in it, and its fallback) so that each request is
    /// counted and timed. Apply it last, to the fully composed server.
    pub fn instrument(&self, router: Router) -> Router {
        router.layer(middleware::from_fn_with_state(self.clone(), track))
    }

    /// Records one answered request.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let mut s = self.lock();
        *s.requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        s.latency
            .entry((method.to_owned(), route.to_owned()))
            .or_insert_with(|| Histogram::new(LATENCY_BUCKETS))
            .observe(elapsed.as_secs_f64());
    }

    /// Records one transcription: `compute` spent on `audio_seconds` of audio.
    pub fn observe_transcription(&self, model: &str, audio_seconds: f64, compute: Duration) {
        if audio_seconds <= 0.0 {
            return;
        }
        let mut s = self.lock();
        s.rtf
            .entry(model.to_owned())
            .or_insert_with(|| Histogram::new(RTF_BUCKETS))
            .observe(compute.as_secs_f64() / audio_seconds);
        *s.audio_seconds.entry(model.to_owned()).or_default() += audio_seconds;
    }

    /// Records the delay from a speech request to its first streamed audio byte.
    pub fn observe_first_audio(&self, format: &str, elapsed: Duration) {
        self.lock()
            .first_audio
            .entry(format.to_owned())
            .or_insert_with(|| Histogram::new(FIRST_AUDIO_BUCKETS))
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a speech stream whose client went away before the end (synthesis cancelled).
    pub fn count_cancelled_stream(&self) {
        self.lock().tts_streams_cancelled += 1;
    }

    /// Records how long one stage of a voice-agent turn took. Negative values (a response
    /// overhead when the reply beat the silence window) are kept: they are the point of
    /// preemptive generation, and Prometheus histograms accept them.
    pub fn observe_voice_stage(&self, stage: VoiceStage, seconds: f64) {
        self.lock()
            .voice_stages
            .entry(stage)
            .or_insert_with(|| Histogram::new(VOICE_STAGE_BUCKETS))
            .observe(seconds);
    }

    /// Counts one voice-agent turn answered (its first audio frame sent).
    pub fn count_voice_turn(&self, preemptive: bool) {
        *self.lock().voice_turns.entry(preemptive).or_default() += 1;
    }

    /// Counts one agent reply cut off by the user talking over it.
    pub fn count_voice_barge_in(&self) {
        self.lock().voice_barge_ins += 1;
    }

    /// Counts a voice-agent session that started; the returned guard counts it as ended
    /// when dropped, however the session ends.
    pub fn voice_session(&self) -> VoiceSessionGuard {
        {
            let mut s = self.lock();
            s.voice_sessions_active += 1;
            s.voice_sessions_started += 1;
        }
        VoiceSessionGuard {
            metrics: self.clone(),
        }
    }

    /// The exposition text of everything recorded here.
    pub fn render(&self) -> String {
        let s = self.lock();
        let mut out = String::with_capacity(4096);
        header(
            &mut out,
            "mka1_http_requests_total",
            "counter",
            "HTTP requests answered, by method, route pattern and status.",
        );
        for ((method, route, status), n) in &s.requests {
            let _ = writeln!(
                out,
                "mka1_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(method),
                escape(route)
            );
        }
        header(
            &mut out,
            "mka1_http_request_duration_seconds",
            "histogram",
            "Time from a request to its response head, by method and route pattern.",
        );
        for ((method, route), h) in &s.latency {
            let labels = format!("method=\"{}\",route=\"{}\"", escape(method), escape(route));
            h.render(&mut out, "mka1_http_request_duration_seconds", &labels);
        }
        header(
            &mut out,
            "mka1_transcription_real_time_factor",
            "histogram",
            "Compute seconds per second of audio of each transcription, by model.",
        );
        for (model, h) in &s.rtf {
            let labels = format!("model=\"{}\"", escape(model));
            h.render(&mut out, "mka1_transcription_real_time_factor", &labels);
        }
        header(
            &mut out,
            "mka1_transcription_audio_seconds_total",
            "counter",
            "Seconds of audio transcribed, by model.",
        );
        for (model, secs) in &s.audio_seconds {
            let _ = writeln!(
                out,
                "mka1_transcription_audio_seconds_total{{model=\"{}\"}} {secs}",
                escape(model)
            );
        }
        header(
            &mut out,
            "mka1_tts_first_audio_seconds",
            "histogram",
            "Time from a streamed speech request to its first audio byte, by format.",
        );
        for (format, h) in &s.first_audio {
            let labels = format!("format=\"{}\"", escape(format));
            h.render(&mut out, "mka1_tts_first_audio_seconds", &labels);
        }
        header(
            &mut out,
            "mka1_tts_streams_cancelled_total",
            "counter",
            "Speech streams whose client disconnected before the end.",
        );
        let _ = writeln!(
            out,
            "mka1_tts_streams_cancelled_total {}",
            s.tts_streams_cancelled
        );
        render_voice(&s, &mut out);
        out
    }
}

/// The voice-agent families of [`Metrics::render`].
fn render_voice(s: &Series, out: &mut String) {
    header(
        out,
        "mka1_voice_turn_stage_seconds",
        "histogram",
        "Duration of each stage of a voice-agent turn (end_to_end: last voiced sample of \
         the user to the first agent audio frame sent).",
    );
    for (stage, h) in &s.voice_stages {
        let labels = format!("stage=\"{}\"", stage.label());
        h.render(out, "mka1_voice_turn_stage_seconds", &labels);
    }
    header(
        out,
        "mka1_voice_turns_total",
        "counter",
        "Voice-agent turns answered, by whether the reply was prepared during a pause.",
    );
    for (preemptive, n) in &s.voice_turns {
        let _ = writeln!(
            out,
            "mka1_voice_turns_total{{preemptive=\"{preemptive}\"}} {n}"
        );
    }
    header(
        out,
        "mka1_voice_barge_ins_total",
        "counter",
        "Agent replies cut off by the user talking over them.",
    );
    let _ = writeln!(out, "mka1_voice_barge_ins_total {}", s.voice_barge_ins);
    header(
        out,
        "mka1_voice_sessions_active",
        "gauge",
        "Voice-agent sessions running now.",
    );
    let _ = writeln!(
        out,
        "mka1_voice_sessions_active {}",
        s.voice_sessions_active
    );
    header(
        out,
        "mka1_voice_sessions_started_total",
        "counter",
        "Voice-agent sessions started.",
    );
    let _ = writeln!(
        out,
        "mka1_voice_sessions_started_total {}",
        s.voice_sessions_started
    );
}

/// A running voice-agent session, counted in `mka1_voice_sessions_active` until dropped.
#[derive(Debug)]
pub struct VoiceSessionGuard {
    metrics: Metrics,
}

impl Drop for VoiceSessionGuard {
    fn drop(&mut self) {
        let mut s = self.metrics.lock();
        s.voice_sessions_active = s.voice_sessions_active.saturating_sub(1);
    }
}

/// Writes the `# HELP` and `# TYPE` lines of a metric family.
pub(crate) fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value escaped as the exposition format requires.
pub(crate) fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The middleware: counts and times every request by its route pattern.
async fn track(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str)
        .to_owned();
    // Only standard methods become label values: a client must not mint new series.
    let method = match *request.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    };
    let start = Instant::now();
    let response = next.run(request).await;
    metrics.observe_request(method, &route, response.status().as_u16(), start.elapsed());
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_histograms() {
        let m = Metrics::new();
        m.observe_request("GET", "/healthz", 200, Duration::from_millis(2));
        m.observe_request("GET", "/healthz", 200, Duration::from_millis(30));
        m.observe_request("POST", "/a\"b", 400, Duration::from_secs(100));
        m.observe_transcription("whisper-tiny.en", 2.0, Duration::from_millis(200));
        m.observe_first_audio("mp3", Duration::from_millis(80));
        let text = m.render();
        assert!(text.contains(
            "mka1_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "mka1_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "mka1_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",le=\"0.05\"} 2"
        ));
        assert!(text.contains(
            "mka1_http_request_duration_seconds_bucket{method=\"POST\",route=\"/a\\\"b\",le=\"+Inf\"} 1"
        ));
        assert!(text.contains(
            "mka1_transcription_real_time_factor_bucket{model=\"whisper-tiny.en\",le=\"0.1\"} 1"
        ));
        assert!(
            text.contains("mka1_transcription_audio_seconds_total{model=\"whisper-tiny.en\"} 2")
        );
        assert!(text.contains("mka1_tts_first_audio_seconds_count{format=\"mp3\"} 1"));
        assert!(text.contains("# TYPE mka1_http_requests_total counter"));
    }

    #[test]
    fn voice_turns_and_sessions_are_rendered() {
        let m = Metrics::new();
        let session = m.voice_session();
        m.observe_voice_stage(VoiceStage::EndToEnd, 0.62);
        m.observe_voice_stage(VoiceStage::ResponseOverhead, -0.03);
        m.count_voice_turn(true);
        m.count_voice_barge_in();
        let text = m.render();
        assert!(
            text.contains(
                "mka1_voice_turn_stage_seconds_bucket{stage=\"end_to_end\",le=\"0.75\"} 1"
            )
        );
        assert!(
            text.contains(
                "mka1_voice_turn_stage_seconds_bucket{stage=\"end_to_end\",le=\"0.5\"} 0"
            )
        );
        assert!(text.contains(
            "mka1_voice_turn_stage_seconds_bucket{stage=\"response_overhead\",le=\"0.01\"} 1"
        ));
        assert!(text.contains("mka1_voice_turns_total{preemptive=\"true\"} 1"));
        assert!(text.contains("mka1_voice_barge_ins_total 1\n"));
        assert!(text.contains("mka1_voice_sessions_active 1\n"));
        drop(session);
        let text = m.render();
        assert!(text.contains("mka1_voice_sessions_active 0\n"));
        assert!(text.contains("mka1_voice_sessions_started_total 1\n"));
    }
}
