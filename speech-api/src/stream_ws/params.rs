//! The query of the streaming route, checked before the upgrade.

use mka1_http_api::ApiError;
use mka1_stt::engine::normalize_language;
use mka1_stt::streaming::AudioEncoding;
use serde::Deserialize;

/// PCM rates accepted: telephone to studio.
const SAMPLE_RATES: std::ops::RangeInclusive<u32> = 8_000..=48_000;
const DEFAULT_SAMPLE_RATE: u32 = 16_000;

/// The query as sent: every value a string, so that a bad value gets a message naming it
/// instead of a generic deserialization error. `api_key` is read by the auth extractor.
#[derive(Debug, Deserialize)]
pub(crate) struct RawParams {
    language: Option<String>,
    sample_rate: Option<String>,
    encoding: Option<String>,
}

/// A session's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamParams {
    /// ISO-639-1 code, `None` to detect.
    pub(crate) language: Option<String>,
    /// What the binary messages hold.
    pub(crate) encoding: AudioEncoding,
}

impl StreamParams {
    /// Checks every parameter; the error names the first bad one.
    pub(crate) fn parse(raw: &RawParams) -> Result<Self, ApiError> {
        let invalid = |param: &str, message: String| {
            ApiError::bad_request(message)
                .with_code("invalid_value")
                .with_param(param)
        };
        let sample_rate = match raw.sample_rate.as_deref().map(str::trim) {
            None | Some("") => DEFAULT_SAMPLE_RATE,
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|rate| SAMPLE_RATES.contains(rate))
                .ok_or_else(|| {
                    invalid(
                        "sample_rate",
                        format!(
                            "`sample_rate` must be an integer from {} to {} (Hz), not '{}'.",
                            SAMPLE_RATES.start(),
                            SAMPLE_RATES.end(),
                            clip(text)
                        ),
                    )
                })?,
        };
        let encoding = match raw.encoding.as_deref().map(str::trim) {
            None | Some("" | "pcm_s16le") => AudioEncoding::PcmS16le { sample_rate },
            Some("opus") => AudioEncoding::Opus,
            Some(other) => {
                return Err(invalid(
                    "encoding",
                    format!(
                        "Unsupported `encoding` '{}': use `pcm_s16le` or `opus`.",
                        clip(other)
                    ),
                ));
            }
        };
        let language = match raw.language.as_deref().map(str::trim) {
            None | Some("" | "auto") => None,
            Some(code) => Some(normalize_language(code).ok_or_else(|| {
                invalid(
                    "language",
                    format!(
                        "Unknown `language` '{}': use an ISO-639-1 code such as `en`.",
                        clip(code)
                    ),
                )
            })?),
        };
        Ok(Self { language, encoding })
    }
}

/// At most 64 characters of a client's value, for an error message.
fn clip(value: &str) -> String {
    value.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn raw(language: Option<&str>, sample_rate: Option<&str>, encoding: Option<&str>) -> RawParams {
        RawParams {
            language: language.map(str::to_owned),
            sample_rate: sample_rate.map(str::to_owned),
            encoding: encoding.map(str::to_owned),
        }
    }

    #[test]
    fn defaults_and_valid_values() {
        let p = StreamParams::parse(&raw(None, None, None)).unwrap();
        assert_eq!(p.language, None);
        assert_eq!(
            p.encoding,
            AudioEncoding::PcmS16le {
                sample_rate: 16_000
            }
        );
        let p = StreamParams::parse(&raw(Some("en-US"), Some("48000"), Some("pcm_s16le"))).unwrap();
        assert_eq!(p.language.as_deref(), Some("en"));
        assert_eq!(
            p.encoding,
            AudioEncoding::PcmS16le {
                sample_rate: 48_000
            }
        );
        let p = StreamParams::parse(&raw(Some("auto"), None, Some("opus"))).unwrap();
        assert_eq!((p.language, p.encoding), (None, AudioEncoding::Opus));
    }

    #[test]
    fn bad_values_name_their_parameter() {
        for (r, param) in [
            (raw(None, Some("7999"), None), "sample_rate"),
            (raw(None, Some("48001"), None), "sample_rate"),
            (raw(None, Some("16k"), None), "sample_rate"),
            (raw(None, None, Some("mp3")), "encoding"),
            (raw(Some("xx"), None, None), "language"),
            (raw(Some("e\0n"), None, None), "language"),
        ] {
            let e = StreamParams::parse(&r).unwrap_err();
            assert_eq!(e.status().as_u16(), 400);
            assert_eq!(e.param(), Some(param), "{}", e.message());
        }
    }
}
