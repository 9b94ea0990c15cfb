//! Ogg Opus output (RFC 7845): the `.opus` files of the speech API and of streamed speech.
//!
//! [`OggOpusWriter`] takes mono audio at any supported rate in chunks, resamples it to
//! 48 kHz, encodes 20 ms frames with [`OpusEncoder`] and appends finished Ogg pages to the
//! caller's buffer, so bytes can go out while the audio is still being made.
//! [`encode_ogg_opus`] does the same for a whole buffer.
//!
//! The stream is what players and `opusinfo` expect: an OpusHead page whose pre-skip is the
//! encoder's look-ahead, an OpusTags page, audio pages whose granule positions count 48 kHz
//! samples, and a last page flagged end-of-stream whose granule position cuts the final
//! frame's padding, so the decoded length equals the input's.

use std::hash::{BuildHasher, Hasher};

use crate::error::MediaError;
use crate::opus::{
    FRAME_SAMPLES, MAX_PACKET_BYTES, OPUS_SAMPLE_RATE, OpusEncoder, OpusEncoderConfig, OpusHead,
};
use crate::resample::output_frames;
use crate::stream_resample::StreamResampler;

/// Audio packets per page unless [`OggOpusWriter::flush_page`] ends one sooner: one second,
/// which keeps the container's overhead under 1 % at speech bitrates.
const PAGE_PACKETS: usize = 50;

/// An Ogg page holds at most 255 lacing values.
const MAX_SEGMENTS: usize = 255;

/// Page header flags.
const FLAG_FIRST_PAGE: u8 = 0x02;
const FLAG_LAST_PAGE: u8 = 0x04;

/// Encodes a mono stream into Ogg Opus, chunk by chunk.
pub struct OggOpusWriter {
    encoder: OpusEncoder,
    resampler: StreamResampler,
    /// Resampler output still to drop so that the stream starts with the input's first sample.
    resampler_skip: usize,
    /// Resampled audio of the current call.
    resampled: Vec<f32>,
    /// 48 kHz audio waiting to fill a frame.
    frame: Vec<f32>,
    packet: [u8; MAX_PACKET_BYTES],
    page: PageBuilder,
    serial: u32,
    sequence: u32,
    headers_written: bool,
    /// Input samples taken, at the input rate.
    input_frames: u64,
    /// Frames encoded so far, each [`FRAME_SAMPLES`] long.
    packets: u64,
}

impl OggOpusWriter {
    /// A writer for mono audio at `input_rate` Hz, at the default bitrate and without FEC:
    /// files and HTTP streams lose no packets, so the redundancy would only cost bits.
    pub fn new(input_rate: u32) -> Result<Self, MediaError> {
        let config = OpusEncoderConfig {
            fec: false,
            expected_loss_percent: 0,
            ..OpusEncoderConfig::default()
        };
        Self::with_config(input_rate, config)
    }

    /// A writer for mono audio at `input_rate` Hz with the given encoder settings.
    pub fn with_config(input_rate: u32, config: OpusEncoderConfig) -> Result<Self, MediaError> {
        let encoder = OpusEncoder::with_config(config)?;
        let resampler = StreamResampler::new(input_rate, OPUS_SAMPLE_RATE)?;
        Ok(Self {
            encoder,
            resampler_skip: resampler.delay(),
            resampler,
            resampled: Vec::new(),
            frame: Vec::with_capacity(FRAME_SAMPLES),
            packet: [0; MAX_PACKET_BYTES],
            page: PageBuilder::new(),
            serial: random_serial(),
            sequence: 0,
            headers_written: false,
            input_frames: 0,
            packets: 0,
        })
    }

    /// The Ogg stream's serial number, random as RFC 3533 asks.
    pub fn serial(&self) -> u32 {
        self.serial
    }

    /// Samples at 48 kHz a decoder drops from the start: the encoder's look-ahead.
    pub fn pre_skip(&self) -> u16 {
        u16::try_from(self.encoder.lookahead()).unwrap_or(u16::MAX)
    }

    /// Takes the next `samples` and appends every page completed meanwhile to `out`. The
    /// first call also writes the two header pages, so an empty chunk yields just those.
    pub fn push(&mut self, samples: &[f32], out: &mut Vec<u8>) -> Result<(), MediaError> {
        self.write_headers(out);
        self.input_frames = self
            .input_frames
            .saturating_add(u64::try_from(samples.len()).unwrap_or(u64::MAX));
        let mut resampled = std::mem::take(&mut self.resampled);
        resampled.clear();
        let result = self
            .resampler
            .process(samples, &mut resampled)
            .and_then(|_| self.encode(&resampled, out));
        self.resampled = resampled;
        result
    }

    /// Ends the current page now, so that everything encoded so far can be sent; for live
    /// streams, where waiting for a full page would add up to a second of latency. Audio
    /// that does not fill a 20 ms frame yet stays behind.
    pub fn flush_page(&mut self, out: &mut Vec<u8>) {
        self.write_headers(out);
        if !self.page.is_empty() {
            self.write_page(out, self.packets * FRAME_SAMPLES as u64, 0);
        }
    }

    /// Encodes what is left, pads the last frame with silence and appends the final pages.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), MediaError> {
        self.write_headers(out);
        let mut resampled = std::mem::take(&mut self.resampled);
        resampled.clear();
        self.resampler.flush(&mut resampled)?;
        self.encode(&resampled, out)?;
        // Decoded audio lags by the pre-skip, so the frames must reach past it.
        let audio = output_frames(
            self.input_frames,
            self.resampler.from_rate(),
            OPUS_SAMPLE_RATE,
        );
        let end = audio.saturating_add(u64::from(self.pre_skip()));
        let silence = [0.0f32; FRAME_SAMPLES];
        // Encoded frames never reach past the audio before this, so at least one frame is
        // still to come and the last page, which holds it, is never empty.
        while self.packets * (FRAME_SAMPLES as u64) < end {
            let missing = FRAME_SAMPLES - self.frame.len();
            self.encode(silence.get(..missing).unwrap_or_default(), out)?;
        }
        self.write_page(out, end, FLAG_LAST_PAGE);
        Ok(())
    }

    /// Feeds 48 kHz audio to the encoder, frame by frame, writing pages as they fill.
    fn encode(&mut self, mut audio: &[f32], out: &mut Vec<u8>) -> Result<(), MediaError> {
        let skip = self.resampler_skip.min(audio.len());
        self.resampler_skip -= skip;
        audio = audio.get(skip..).unwrap_or_default();
        while !audio.is_empty() {
            let take = (FRAME_SAMPLES - self.frame.len()).min(audio.len());
            let (head, tail) = audio.split_at(take);
            self.frame.extend_from_slice(head);
            audio = tail;
            if self.frame.len() < FRAME_SAMPLES {
                break;
            }
            let len = self.encoder.encode_frame(&self.frame, &mut self.packet)?;
            self.frame.clear();
            // A full page goes out only when the next packet arrives, so that the last page
            // always holds a packet to carry the end trim.
            if self.page.packets >= PAGE_PACKETS || !self.page.fits(len) {
                self.write_page(out, self.packets * FRAME_SAMPLES as u64, 0);
            }
            self.page.add(self.packet.get(..len).unwrap_or_default());
            self.packets += 1;
        }
        Ok(())
    }

    fn write_headers(&mut self, out: &mut Vec<u8>) {
        if self.headers_written {
            return;
        }
        self.headers_written = true;
        let mut head = Vec::with_capacity(19);
        OpusHead::mono(self.pre_skip(), self.resampler.from_rate()).write(&mut head);
        self.page.add(&head);
        self.write_page(out, 0, FLAG_FIRST_PAGE);
        self.page.add(&opus_tags());
        self.write_page(out, 0, 0);
    }

    fn write_page(&mut self, out: &mut Vec<u8>, granule: u64, flags: u8) {
        self.page
            .write(out, flags, granule, self.serial, self.sequence);
        self.sequence = self.sequence.wrapping_add(1);
    }
}

impl std::fmt::Debug for OggOpusWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OggOpusWriter")
            .field("serial", &self.serial)
            .field("input_rate", &self.resampler.from_rate())
            .field("packets", &self.packets)
            .finish_non_exhaustive()
    }
}

/// Encodes a whole mono buffer at `sample_rate` Hz into an Ogg Opus file.
pub fn encode_ogg_opus(samples: &[f32], sample_rate: u32) -> Result<Vec<u8>, MediaError> {
    let mut writer = OggOpusWriter::new(sample_rate)?;
    // About 4.5 kB per second at 32 kbit/s, plus the headers.
    let mut out = Vec::with_capacity(samples.len() / 8 + 256);
    writer.push(samples, &mut out)?;
    writer.finish(&mut out)?;
    Ok(out)
}

/// The comment header: the encoder's vendor string and no comments.
fn opus_tags() -> Vec<u8> {
    let vendor = format!("mka1-voice ({})", ::opus::version());
    let mut tags = Vec::with_capacity(16 + vendor.len());
    tags.extend_from_slice(b"OpusTags");
    tags.extend_from_slice(&u32::try_from(vendor.len()).unwrap_or(0).to_le_bytes());
    tags.extend_from_slice(vendor.as_bytes());
    tags.extend_from_slice(&0u32.to_le_bytes());
    tags
}

fn random_serial() -> u32 {
    // std's hasher keys are random per process and per instance; that is all a serial needs.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x6f70_7573);
    hasher.finish() as u32
}

/// The packets of the page being filled, as lacing values and body.
struct PageBuilder {
    segments: Vec<u8>,
    body: Vec<u8>,
    packets: usize,
}

impl PageBuilder {
    fn new() -> Self {
        Self {
            segments: Vec::with_capacity(MAX_SEGMENTS),
            body: Vec::with_capacity(PAGE_PACKETS * 256),
            packets: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Whether `packet` still fits on this page: a packet is never split across pages.
    fn fits(&self, packet_len: usize) -> bool {
        self.segments.len() + packet_len / 255 < MAX_SEGMENTS
    }

    fn add(&mut self, packet: &[u8]) {
        // A packet is laced as 255-byte segments and one shorter (possibly empty) one.
        self.segments
            .extend(std::iter::repeat_n(255, packet.len() / 255));
        self.segments.push((packet.len() % 255) as u8);
        self.body.extend_from_slice(packet);
        self.packets += 1;
    }

    /// Appends the page to `out` and empties the builder.
    fn write(&mut self, out: &mut Vec<u8>, flags: u8, granule: u64, serial: u32, sequence: u32) {
        let start = out.len();
        out.extend_from_slice(b"OggS");
        out.push(0);
        out.push(flags);
        out.extend_from_slice(&granule.to_le_bytes());
        out.extend_from_slice(&serial.to_le_bytes());
        out.extend_from_slice(&sequence.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.push(self.segments.len() as u8);
        out.extend_from_slice(&self.segments);
        out.extend_from_slice(&self.body);
        let page = out.get(start..).unwrap_or_default();
        let crc = ogg_crc(page);
        if let Some(field) = out.get_mut(start + 22..start + 26) {
            field.copy_from_slice(&crc.to_le_bytes());
        }
        self.segments.clear();
        self.body.clear();
        self.packets = 0;
    }
}

/// The CRC-32 of Ogg pages: polynomial 0x04c11db7, no reflection, zero initial value.
fn ogg_crc(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0, |crc, &byte| {
        (crc << 8) ^ CRC_TABLE[usize::from((crc >> 24) as u8 ^ byte)]
    })
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::decode::{Container, PcmHint, decode_to_mono};
    use crate::test_signal::{XorShift, dominant_of, sine};

    const NEIGHBOURS_OF_440: [f64; 5] = [400.0, 420.0, 440.0, 460.0, 480.0];

    /// One parsed page: flags, granule, sequence and its packets' lengths.
    struct Page {
        flags: u8,
        granule: u64,
        sequence: u32,
        serial: u32,
        packets: Vec<usize>,
    }

    /// Splits `bytes` into pages, checking each page's CRC.
    fn pages(bytes: &[u8]) -> Vec<Page> {
        let mut pages = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            assert_eq!(&bytes[at..at + 4], b"OggS");
            let count = usize::from(bytes[at + 26]);
            let segments = &bytes[at + 27..at + 27 + count];
            let body: usize = segments.iter().map(|&s| usize::from(s)).sum();
            let end = at + 27 + count + body;
            let mut page = bytes[at..end].to_vec();
            let stored = u32::from_le_bytes(page[22..26].try_into().unwrap());
            page[22..26].fill(0);
            assert_eq!(ogg_crc(&page), stored, "CRC of page at {at}");
            let mut packets = Vec::new();
            let mut len = 0;
            for &segment in segments {
                len += usize::from(segment);
                if segment < 255 {
                    packets.push(len);
                    len = 0;
                }
            }
            pages.push(Page {
                flags: bytes[at + 5],
                granule: u64::from_le_bytes(bytes[at + 6..at + 14].try_into().unwrap()),
                serial: u32::from_le_bytes(bytes[at + 14..at + 18].try_into().unwrap()),
                sequence: u32::from_le_bytes(bytes[at + 18..at + 22].try_into().unwrap()),
                packets,
            });
            at = end;
        }
        pages
    }

    #[test]
    fn crc_matches_the_reference_value() {
        // The CRC-32/MPEG-2 family without the final inversion, as Ogg uses it.
        assert_eq!(ogg_crc(b"123456789"), 0x89a1_897f);
    }

    #[test]
    fn stream_structure_follows_rfc_7845() {
        let tone = sine(440.0, 16_000, 40_000, 0.5);
        let bytes = encode_ogg_opus(&tone, 16_000).unwrap();
        let pages = pages(&bytes);
        assert_eq!(pages[0].flags, FLAG_FIRST_PAGE);
        assert_eq!(pages[0].packets, vec![19]);
        assert_eq!(&bytes[28..36], b"OpusHead");
        // Pre-skip and the input rate in the header.
        assert_eq!(u16::from_le_bytes([bytes[38], bytes[39]]), 312);
        assert_eq!(
            u32::from_le_bytes(bytes[40..44].try_into().unwrap()),
            16_000
        );
        assert_eq!((pages[1].granule, pages[1].packets.len()), (0, 1));
        let last = pages.last().unwrap();
        assert_eq!(last.flags, FLAG_LAST_PAGE);
        // 2.5 s at 48 kHz plus the pre-skip, which the padded last frame goes beyond.
        assert_eq!(last.granule, 120_000 + 312);
        let frames: usize = pages[2..].iter().map(|page| page.packets.len()).sum();
        assert_eq!(frames, (120_000 + 312usize).div_ceil(FRAME_SAMPLES));
        let mut previous = 0;
        for (i, page) in pages.iter().enumerate() {
            assert_eq!(page.sequence, i as u32);
            assert_eq!(page.serial, pages[0].serial);
            assert!(page.granule >= previous);
            previous = page.granule;
            if i > 1 && i + 1 < pages.len() {
                assert_eq!(page.flags, 0);
                let packets: usize = pages[2..=i].iter().map(|p| p.packets.len()).sum();
                assert_eq!(page.granule, (packets * FRAME_SAMPLES) as u64);
            }
        }
    }

    /// The writer's output decodes back through `decode_to_mono` to the input's length and
    /// pitch, from every common rate.
    #[test]
    fn output_decodes_to_the_input_duration() {
        for rate in [8_000, 16_000, 22_050, 24_000, 44_100, 48_000] {
            let len = rate as usize * 3 / 2 + 123;
            let tone = sine(440.0, rate, len, 0.5);
            let bytes = encode_ogg_opus(&tone, rate).unwrap();
            let audio = decode_to_mono(&bytes, PcmHint::None, rate).expect("decode");
            assert_eq!(audio.container, Container::Ogg);
            assert_eq!((audio.source_rate, audio.source_channels), (48_000, 1));
            assert!(!audio.truncated, "{rate} Hz");
            let error_ms = (audio.samples.len() as f64 - len as f64) / f64::from(rate) * 1e3;
            assert!(error_ms.abs() < 1.0, "{rate} Hz: off by {error_ms} ms");
            assert_eq!(
                dominant_of(&audio.samples, rate, &NEIGHBOURS_OF_440),
                440.0,
                "{rate} Hz"
            );
        }
    }

    /// The output lines up with the input in time: pre-skip and resampler delay are both
    /// accounted for.
    #[test]
    fn output_is_time_aligned_with_the_input() {
        let rate = 16_000;
        // Silence, then a burst: the burst must decode where it was.
        let mut input = vec![0.0f32; rate as usize];
        input.extend(sine(440.0, rate, 8_000, 0.5));
        input.extend(vec![0.0f32; 8_000]);
        let bytes = encode_ogg_opus(&input, rate).unwrap();
        let audio = decode_to_mono(&bytes, PcmHint::None, rate).unwrap();
        let onset = audio.samples.iter().position(|s| s.abs() > 0.1).unwrap();
        assert!(
            (onset as i64 - 16_000).unsigned_abs() < 32,
            "burst starts at {onset}"
        );
    }

    /// Chunked pushes make the same audio as one push: only the page boundaries may differ.
    #[test]
    fn streaming_in_chunks_works_and_flush_page_ends_pages() {
        let rate = 24_000;
        let tone = sine(440.0, rate, 36_000, 0.5);
        let mut writer = OggOpusWriter::new(rate).unwrap();
        let mut out = Vec::new();
        writer.push(&[], &mut out).unwrap();
        let headers = out.len();
        assert_eq!(pages(&out).len(), 2);
        let mut rng = XorShift(99);
        let mut rest = &tone[..];
        while !rest.is_empty() {
            let take = (1 + rng.below(3000)).min(rest.len());
            let before = out.len();
            writer.push(&rest[..take], &mut out).unwrap();
            writer.flush_page(&mut out);
            // Every call leaves at most one partial frame behind.
            assert!(out.len() >= before);
            rest = &rest[take..];
        }
        writer.finish(&mut out).unwrap();
        assert!(out.len() > headers);
        let parsed = pages(&out);
        assert!(parsed.len() > 10, "{} pages", parsed.len());
        let audio = decode_to_mono(&out, PcmHint::None, rate).unwrap();
        assert_eq!(audio.samples.len(), tone.len());
        assert_eq!(dominant_of(&audio.samples, rate, &NEIGHBOURS_OF_440), 440.0);
    }

    #[test]
    fn empty_and_tiny_inputs_make_valid_streams() {
        for len in [0, 1, 100, 959, 960, 961] {
            let bytes = encode_ogg_opus(&vec![0.25; len], 48_000).unwrap();
            let pages = pages(&bytes);
            assert_eq!(pages.last().unwrap().granule, 312 + len as u64);
            let audio = decode_to_mono(&bytes, PcmHint::None, 48_000).expect("decode");
            assert_eq!(audio.samples.len(), len, "{len} samples");
        }
    }

    #[test]
    fn bad_rates_are_refused() {
        assert!(matches!(
            OggOpusWriter::new(0),
            Err(MediaError::InvalidSampleRate { .. })
        ));
        assert!(matches!(
            encode_ogg_opus(&[0.0; 10], 44_101),
            Err(MediaError::UnsupportedRatePair { .. })
        ));
    }
}
