//! The Opus identification header, "OpusHead" (RFC 7845 §5.1): channel layout, pre-skip and
//! output gain. Ogg carries it as the stream's first packet, Matroska as the track's
//! CodecPrivate, MP4 (big-endian, without the magic) in a `dOps` box.

/// What the decoder needs to know about an Opus stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OpusHead {
    /// Output channels.
    pub(crate) channels: u8,
    /// Decoded samples at 48 kHz to drop from the start: the encoder's delay.
    pub(crate) pre_skip: u16,
    /// The rate of the audio before encoding; informational only.
    pub(crate) input_sample_rate: u32,
    /// Gain to apply on output, in dB as Q7.8 fixed point.
    pub(crate) output_gain: i16,
    /// How the Opus streams map to output channels.
    pub(crate) mapping: ChannelMapping,
}

/// Channel mapping: family 0 is one (mono or stereo) stream, others are multistream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChannelMapping {
    /// Family 0: one stream of one or two channels.
    Single,
    /// Families 1 and 255: several streams, the first `coupled` of them stereo; `table` names
    /// the decoded channel each output channel takes (255 for silence).
    Multi {
        family: u8,
        streams: u8,
        coupled: u8,
        table: Vec<u8>,
    },
}

/// The byte order of the header's multi-byte fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ByteOrder {
    /// Ogg and Matroska, as RFC 7845 defines the header.
    Little,
    /// MP4's `dOps` box, which symphonia passes on with the magic put back in front.
    Big,
}

impl OpusHead {
    /// The signature the header starts with.
    pub(crate) const MAGIC: &'static [u8; 8] = b"OpusHead";

    /// The header of a mono family-0 stream.
    pub(crate) fn mono(pre_skip: u16, input_sample_rate: u32) -> Self {
        Self {
            channels: 1,
            pre_skip,
            input_sample_rate,
            output_gain: 0,
            mapping: ChannelMapping::Single,
        }
    }

    /// Reads a header, or `None` when `bytes` are not a valid one.
    pub(crate) fn parse(bytes: &[u8], order: ByteOrder) -> Option<Self> {
        if bytes.get(..8)? != Self::MAGIC {
            return None;
        }
        // The high nibble is the major version; a change there means an incompatible layout.
        let version = *bytes.get(8)?;
        if version >= 16 {
            return None;
        }
        let channels = *bytes.get(9)?;
        let u16_at = |at: usize| {
            let field = [*bytes.get(at)?, *bytes.get(at + 1)?];
            Some(match order {
                ByteOrder::Little => u16::from_le_bytes(field),
                ByteOrder::Big => u16::from_be_bytes(field),
            })
        };
        let pre_skip = u16_at(10)?;
        let rate_field: [u8; 4] = bytes.get(12..16)?.try_into().ok()?;
        let input_sample_rate = match order {
            ByteOrder::Little => u32::from_le_bytes(rate_field),
            ByteOrder::Big => u32::from_be_bytes(rate_field),
        };
        let output_gain = i16::from_ne_bytes(u16_at(16)?.to_ne_bytes());
        let family = *bytes.get(18)?;
        let mapping = if family == 0 {
            if !(1..=2).contains(&channels) {
                return None;
            }
            ChannelMapping::Single
        } else {
            let streams = *bytes.get(19)?;
            let coupled = *bytes.get(20)?;
            let decoded = u16::from(streams) + u16::from(coupled);
            if channels == 0 || streams == 0 || coupled > streams || decoded > 255 {
                return None;
            }
            let table = bytes.get(21..21 + usize::from(channels))?.to_vec();
            if table
                .iter()
                .any(|&index| index != 255 && u16::from(index) >= decoded)
            {
                return None;
            }
            ChannelMapping::Multi {
                family,
                streams,
                coupled,
                table,
            }
        };
        Some(Self {
            channels,
            pre_skip,
            input_sample_rate,
            output_gain,
            mapping,
        })
    }

    /// Appends the header as Ogg and Matroska carry it.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(Self::MAGIC);
        out.push(1);
        out.push(self.channels);
        out.extend_from_slice(&self.pre_skip.to_le_bytes());
        out.extend_from_slice(&self.input_sample_rate.to_le_bytes());
        out.extend_from_slice(&self.output_gain.to_le_bytes());
        match &self.mapping {
            ChannelMapping::Single => out.push(0),
            ChannelMapping::Multi {
                family,
                streams,
                coupled,
                table,
            } => {
                out.push(*family);
                out.push(*streams);
                out.push(*coupled);
                out.extend_from_slice(table);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn mono_header_round_trips() {
        let head = OpusHead::mono(312, 16_000);
        let mut bytes = Vec::new();
        head.write(&mut bytes);
        assert_eq!(bytes.len(), 19);
        assert_eq!(OpusHead::parse(&bytes, ByteOrder::Little), Some(head));
        for len in 0..bytes.len() {
            assert!(OpusHead::parse(&bytes[..len], ByteOrder::Little).is_none());
        }
    }

    #[test]
    fn multistream_header_is_checked() {
        let mut bytes = b"OpusHead\x01\x06".to_vec();
        bytes.extend_from_slice(&312u16.to_le_bytes());
        bytes.extend_from_slice(&48_000u32.to_le_bytes());
        bytes.extend_from_slice(&(-256i16).to_le_bytes());
        bytes.extend_from_slice(&[1, 4, 2, 0, 4, 1, 2, 3, 5]);
        let head = OpusHead::parse(&bytes, ByteOrder::Little).unwrap();
        assert_eq!(head.output_gain, -256);
        assert_eq!(
            head.mapping,
            ChannelMapping::Multi {
                family: 1,
                streams: 4,
                coupled: 2,
                table: vec![0, 4, 1, 2, 3, 5],
            }
        );
        // A table entry past the decoded channels.
        let mut bad = bytes.clone();
        bad[21] = 6;
        assert!(OpusHead::parse(&bad, ByteOrder::Little).is_none());
        // More coupled streams than streams.
        let mut bad = bytes.clone();
        bad[20] = 5;
        assert!(OpusHead::parse(&bad, ByteOrder::Little).is_none());
        // Family 0 with more than two channels.
        let mut bad = bytes;
        bad[18] = 0;
        assert!(OpusHead::parse(&bad, ByteOrder::Little).is_none());
    }

    #[test]
    fn big_endian_fields_are_read_as_such() {
        let mut bytes = b"OpusHead\x00\x02".to_vec();
        bytes.extend_from_slice(&3840u16.to_be_bytes());
        bytes.extend_from_slice(&44_100u32.to_be_bytes());
        bytes.extend_from_slice(&0i16.to_be_bytes());
        bytes.push(0);
        let head = OpusHead::parse(&bytes, ByteOrder::Big).unwrap();
        assert_eq!((head.pre_skip, head.input_sample_rate), (3840, 44_100));
    }
}
