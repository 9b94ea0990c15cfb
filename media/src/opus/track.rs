//! An Opus decoder behind symphonia's [`AudioDecoder`] trait, so that Opus tracks found by
//! symphonia's demuxers (Ogg, Matroska/WebM, MP4, CAF) go through the same decoding loop as
//! every other codec.
//!
//! The pre-skip of the stream's OpusHead is dropped here: symphonia's readers only record it
//! as the track's delay. End trimming comes from the packets where the reader sets it (Ogg,
//! from the final granule position) and from the container otherwise (`decode::gapless`).

use std::sync::Mutex;

use symphonia::core::audio::{
    AsGenericAudioBufferRef, Audio, AudioBuffer, AudioMut, AudioSpec,
    Channels as SymphoniaChannels, GenericAudioBufferRef,
};
use symphonia::core::codecs::CodecInfo;
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, FinalizeResult};
use symphonia::core::errors::{Error as SymphoniaError, Result as SymphoniaResult};
use symphonia::core::packet::PacketRef;

use super::head::{ByteOrder, ChannelMapping, OpusHead};
use super::{MAX_PACKET_SAMPLES, OPUS_SAMPLE_RATE};

/// The most output channels decoded; mapping family 1 stops at eight (7.1).
const MAX_CHANNELS: u8 = 8;

const CODEC_INFO: CodecInfo = CodecInfo {
    short_name: "opus",
    long_name: "Opus (libopus)",
    profiles: &[],
};

/// libopus in its single-stream or multistream form.
enum Inner {
    Single(::opus::Decoder),
    Multi(::opus::MSDecoder),
}

impl Inner {
    fn decode(&mut self, packet: &[u8], out: &mut [f32]) -> Result<usize, ::opus::Error> {
        match self {
            Inner::Single(decoder) => decoder.decode_float(packet, out, false),
            Inner::Multi(decoder) => decoder.decode_float(packet, out, false),
        }
    }

    fn reset(&mut self) {
        // Only a corrupted state makes this fail, and decoding would then report it.
        let _ = match self {
            Inner::Single(decoder) => decoder.reset_state(),
            Inner::Multi(decoder) => decoder.reset_state(),
        };
    }
}

/// Decodes the packets of one Opus track.
pub(crate) struct OpusTrackDecoder {
    params: AudioCodecParameters,
    /// libopus states are `Send` but not `Sync`, which symphonia's trait asks for; the lock
    /// is never contended.
    inner: Mutex<Inner>,
    channels: usize,
    /// One packet's worth of interleaved output.
    interleaved: Vec<f32>,
    buf: AudioBuffer<f32>,
    /// Pre-skip samples still to drop from the start of the stream.
    skip_left: usize,
}

impl OpusTrackDecoder {
    /// A decoder for the track `params` describe. `byte_order` says how the container stored
    /// the OpusHead in the extra data; without one, a plain mono or stereo stream is assumed.
    /// `apply_pre_skip` is false where the container trims the start itself (an MP4 edit list).
    pub(crate) fn try_new(
        params: &AudioCodecParameters,
        byte_order: ByteOrder,
        apply_pre_skip: bool,
    ) -> SymphoniaResult<Self> {
        // A missing or damaged header (CAF stores none) still leaves the packets decodable
        // as mono or stereo, only without pre-skip and gain.
        let head = match params
            .extra_data
            .as_deref()
            .and_then(|extra| OpusHead::parse(extra, byte_order))
        {
            Some(head) => head,
            None => {
                let channels = params.channels.as_ref().map_or(1, |c| c.count());
                let channels = u8::try_from(channels)
                    .ok()
                    .filter(|c| (1..=2).contains(c))
                    .ok_or(SymphoniaError::Unsupported(
                        "opus: more than two channels without a channel mapping",
                    ))?;
                OpusHead {
                    channels,
                    ..OpusHead::mono(0, OPUS_SAMPLE_RATE)
                }
            }
        };
        if head.channels > MAX_CHANNELS {
            return Err(SymphoniaError::Unsupported("opus: more than 8 channels"));
        }
        let mut inner = match &head.mapping {
            ChannelMapping::Single => {
                let channels = if head.channels == 1 {
                    ::opus::Channels::Mono
                } else {
                    ::opus::Channels::Stereo
                };
                ::opus::Decoder::new(OPUS_SAMPLE_RATE, channels).map(Inner::Single)
            }
            ChannelMapping::Multi {
                streams,
                coupled,
                table,
                ..
            } => ::opus::MSDecoder::new(OPUS_SAMPLE_RATE, *streams, *coupled, table)
                .map(Inner::Multi),
        }
        .map_err(|_| SymphoniaError::DecodeError("opus: libopus refused the channel layout"))?;
        if head.output_gain != 0 {
            let gain = i32::from(head.output_gain);
            match &mut inner {
                Inner::Single(decoder) => decoder.set_gain(gain),
                Inner::Multi(decoder) => decoder.set_gain(gain),
            }
            .map_err(|_| SymphoniaError::DecodeError("opus: invalid output gain"))?;
        }
        let channels = usize::from(head.channels);
        let spec = AudioSpec::new(
            OPUS_SAMPLE_RATE,
            SymphoniaChannels::Discrete(u16::from(head.channels)),
        );
        let mut params = params.clone();
        params
            .with_sample_rate(OPUS_SAMPLE_RATE)
            .with_channels(spec.channels().clone());
        Ok(Self {
            params,
            inner: Mutex::new(inner),
            channels,
            interleaved: vec![0.0; MAX_PACKET_SAMPLES * channels],
            buf: AudioBuffer::new(spec, MAX_PACKET_SAMPLES),
            skip_left: if apply_pre_skip {
                usize::from(head.pre_skip)
            } else {
                0
            },
        })
    }

    fn decode_packet(&mut self, packet: &PacketRef<'_>) -> SymphoniaResult<()> {
        let data = packet.data;
        // Matroska and MP4 may hold empty blocks; they carry no audio and are not damage.
        if data.is_empty() {
            self.buf.clear();
            return Ok(());
        }
        super::packet_samples(data)
            .map_err(|_| SymphoniaError::DecodeError("opus: invalid packet"))?;
        let frames = {
            let mut inner = self
                .inner
                .lock()
                .map_err(|_| SymphoniaError::DecodeError("opus: decoder state lost"))?;
            inner
                .decode(data, &mut self.interleaved)
                .map_err(|_| SymphoniaError::DecodeError("opus: invalid packet"))?
        };
        let frames = frames.min(MAX_PACKET_SAMPLES);
        self.buf.clear();
        self.buf.render_uninit(Some(frames));
        for channel in 0..self.channels {
            let Some(plane) = self.buf.plane_mut(channel) else {
                continue;
            };
            let samples = self.interleaved.iter().skip(channel).step_by(self.channels);
            for (dst, &sample) in plane.iter_mut().zip(samples) {
                *dst = sample;
            }
        }
        let trim_end = usize::try_from(packet.trim_end.get()).unwrap_or(usize::MAX);
        let trim_start = usize::try_from(packet.trim_start.get()).unwrap_or(usize::MAX);
        self.buf.trim(trim_start, trim_end);
        let skip = self.skip_left.min(self.buf.frames());
        self.skip_left -= skip;
        self.buf.trim(skip, 0);
        Ok(())
    }
}

impl AudioDecoder for OpusTrackDecoder {
    fn reset(&mut self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.reset();
        }
    }

    fn codec_info(&self) -> &CodecInfo {
        &CODEC_INFO
    }

    fn codec_params(&self) -> &AudioCodecParameters {
        &self.params
    }

    fn decode_ref(&mut self, packet: &PacketRef<'_>) -> SymphoniaResult<GenericAudioBufferRef<'_>> {
        if let Err(err) = self.decode_packet(packet) {
            self.buf.clear();
            return Err(err);
        }
        Ok(self.buf.as_generic_audio_buffer_ref())
    }

    fn finalize(&mut self) -> FinalizeResult {
        FinalizeResult::default()
    }

    fn last_decoded(&self) -> GenericAudioBufferRef<'_> {
        self.buf.as_generic_audio_buffer_ref()
    }
}
