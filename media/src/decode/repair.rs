//! Rewrites the length fields of WAV and CAF headers that claim more than the bytes hold.
//!
//! symphonia trusts these sizes. When a WAV claims more than exists (a recording cut short,
//! or a streamed WAV written with a placeholder size) its reader asks for whole packets of up
//! to 1152 frames and loses the last, partial one to an end-of-file error; when the `data`
//! chunk claims more than its RIFF parent it rejects the whole file. The CAF reader skips
//! over the audio data to read the chunks after it, so a cut CAF fails outright. Setting the
//! sizes to what is really there (or, for CAF, to "runs to the end") makes these decode.

/// A copy of the input whose header now matches its length.
pub(super) struct Repaired {
    /// The input with its size fields rewritten.
    pub(super) bytes: Vec<u8>,
    /// The audio data ended before its declared size, or inside a sample frame.
    pub(super) truncated: bool,
}

/// Returns a repaired copy when `bytes` is a WAV or CAF whose sizes disagree with its
/// length, and `None` when it is neither, needs no repair, or is too damaged to repair.
pub(super) fn repair(bytes: &[u8]) -> Option<Repaired> {
    match bytes.get(0..4)? {
        b"RIFF" => repair_wav(bytes),
        b"caff" => repair_caf(bytes),
        _ => None,
    }
}

fn repair_wav(bytes: &[u8]) -> Option<Repaired> {
    if bytes.get(8..12)? != b"WAVE" {
        return None;
    }
    let riff_len = read_u32(bytes, 4)?;
    let mut block_align = None;
    let mut pos = 12usize;
    loop {
        let id = bytes.get(pos..pos.checked_add(4)?)?;
        let size = read_u32(bytes, pos.checked_add(4)?)?;
        let body = pos.checked_add(8)?;
        if id == b"fmt " {
            block_align = read_u16(bytes, body.checked_add(12)?);
        } else if id == b"data" {
            // Without the frame size we cannot cut at a frame boundary; leave it to symphonia.
            let align = usize::from(block_align.filter(|&align| align > 0)?);
            let available = bytes.len().checked_sub(body)?;
            let whole_frames = available / align * align;
            let declared = usize::try_from(size).ok()?;
            let (data_len, truncated) = if size == u32::MAX {
                // A streaming placeholder: the data runs to the end of the input.
                (whole_frames, whole_frames < available)
            } else if declared > available {
                (whole_frames, true)
            } else {
                (declared, false)
            };
            let data_end = body.checked_add(data_len)?;
            let riff_covers_data = riff_len == u32::MAX
                || u64::from(riff_len).saturating_add(8) >= u64::try_from(data_end).ok()?;
            if data_len == declared && riff_covers_data {
                return None;
            }
            let new_riff_len = u32::try_from(data_end.checked_sub(8)?).ok()?;
            let new_data_len = u32::try_from(data_len).ok()?;
            // u32::MAX would read as "unknown length" again.
            if new_riff_len == u32::MAX || new_data_len == u32::MAX {
                return None;
            }
            let mut repaired = bytes.to_vec();
            repaired
                .get_mut(4..8)?
                .copy_from_slice(&new_riff_len.to_le_bytes());
            repaired
                .get_mut(pos.checked_add(4)?..body)?
                .copy_from_slice(&new_data_len.to_le_bytes());
            return Some(Repaired {
                bytes: repaired,
                truncated,
            });
        }
        // Chunks are padded to an even length.
        let padded = usize::try_from(size)
            .ok()?
            .checked_add(usize::from(size % 2 == 1))?;
        pos = body.checked_add(padded)?;
        if pos > bytes.len() {
            // A chunk before the data overruns the input: too damaged to guess at.
            return None;
        }
    }
}

/// CAF chunk headers are a four-byte type and a big-endian `i64` size. The `data` size is
/// cut to the whole packets present; "-1" (runs to the end), which the CAF spec allows,
/// would not help, because symphonia 0.6 then parses the audio as further chunks.
fn repair_caf(bytes: &[u8]) -> Option<Repaired> {
    /// The `data` chunk starts with a four-byte edit count before the audio.
    const EDIT_COUNT_LEN: usize = 4;
    let mut bytes_per_packet = None;
    let mut pos = 8usize;
    loop {
        let id = bytes.get(pos..pos.checked_add(4)?)?;
        let size_at = pos.checked_add(4)?;
        let size_field = bytes.get(size_at..size_at.checked_add(8)?)?;
        let size = i64::from_be_bytes(size_field.try_into().ok()?);
        let body = size_at.checked_add(8)?;
        if id == b"desc" {
            bytes_per_packet = read_u32_be(bytes, body.checked_add(16)?);
        }
        let end = body.checked_add(usize::try_from(size).ok()?)?;
        if id == b"data" {
            if end <= bytes.len() {
                return None;
            }
            // Variable-size packets (compressed audio) are located by a packet table that
            // this repair does not touch, so only constant-size packets are cut.
            let packet = usize::try_from(bytes_per_packet.filter(|&bytes| bytes > 0)?).ok()?;
            let audio = bytes.len().checked_sub(body)?.checked_sub(EDIT_COUNT_LEN)?;
            let data_len = audio / packet * packet + EDIT_COUNT_LEN;
            let new_size = i64::try_from(data_len).ok()?;
            // The reader only starts on the audio once the chunk ends exactly at the end of
            // the input, so a trailing partial packet goes too.
            let mut repaired = bytes.get(..body.checked_add(data_len)?)?.to_vec();
            repaired
                .get_mut(size_at..body)?
                .copy_from_slice(&new_size.to_be_bytes());
            return Some(Repaired {
                bytes: repaired,
                truncated: true,
            });
        }
        if end > bytes.len() {
            return None;
        }
        pos = end;
    }
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let field = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(field.try_into().ok()?))
}

fn read_u32_be(bytes: &[u8], at: usize) -> Option<u32> {
    let field = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(field.try_into().ok()?))
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let field = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes(field.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 16-bit stereo WAV header (block align 4) with the given sizes, then `data`.
    fn wav(riff_len: u32, data_len: u32, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&riff_len.to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes()); // PCM
        out.extend_from_slice(&2u16.to_le_bytes()); // channels
        out.extend_from_slice(&8000u32.to_le_bytes());
        out.extend_from_slice(&32000u32.to_le_bytes());
        out.extend_from_slice(&4u16.to_le_bytes()); // block align
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&data_len.to_le_bytes());
        out.extend_from_slice(data);
        out
    }

    fn sizes(bytes: &[u8]) -> (u32, u32) {
        (
            read_u32(bytes, 4).unwrap_or(0),
            read_u32(bytes, 40).unwrap_or(0),
        )
    }

    #[test]
    fn consistent_header_is_left_alone() {
        assert!(repair(&wav(36 + 8, 8, &[0; 8])).is_none());
        assert!(repair(&wav(u32::MAX, 8, &[0; 8])).is_none());
        assert!(repair(b"RIFF").is_none());
        assert!(repair(b"not a wav file at all").is_none());
    }

    #[test]
    fn short_data_is_cut_to_whole_frames() {
        let repaired = repair(&wav(36 + 1000, 1000, &[0; 10])).expect("repaired");
        assert!(repaired.truncated);
        assert_eq!(sizes(&repaired.bytes), (36 + 8, 8));
    }

    #[test]
    fn streaming_placeholder_becomes_the_real_size() {
        let repaired = repair(&wav(u32::MAX, u32::MAX, &[0; 12])).expect("repaired");
        assert!(!repaired.truncated);
        assert_eq!(sizes(&repaired.bytes), (36 + 12, 12));
    }

    #[test]
    fn riff_shorter_than_data_is_widened() {
        let repaired = repair(&wav(4, 8, &[0; 8])).expect("repaired");
        assert!(!repaired.truncated);
        assert_eq!(sizes(&repaired.bytes), (36 + 8, 8));
    }

    #[test]
    fn caf_data_overrunning_the_input_is_cut_to_whole_packets() {
        let mut caf = b"caff\x00\x01\x00\x00".to_vec();
        caf.extend_from_slice(b"desc");
        caf.extend_from_slice(&32i64.to_be_bytes());
        let mut desc = [0u8; 32];
        desc[16..20].copy_from_slice(&4u32.to_be_bytes()); // bytes per packet
        caf.extend_from_slice(&desc);
        caf.extend_from_slice(b"data");
        caf.extend_from_slice(&1004i64.to_be_bytes());
        caf.extend_from_slice(&[0; 4 + 102]);
        let repaired = repair(&caf).expect("repaired");
        assert!(repaired.truncated);
        assert_eq!(
            repaired.bytes.get(56..64),
            Some(&(4i64 + 100).to_be_bytes()[..])
        );
        assert_eq!(
            repaired.bytes.len(),
            64 + 4 + 100,
            "the partial packet is cut off"
        );
        caf.splice(56..64, 106i64.to_be_bytes());
        assert!(repair(&caf).is_none(), "a whole data chunk needs no repair");
    }

    #[test]
    fn chunk_overrunning_the_input_before_data_is_not_guessed_at() {
        let mut bytes = wav(36 + 8, 8, &[0; 8]);
        bytes.splice(16..20, 1000u32.to_le_bytes());
        assert!(repair(&bytes).is_none());
    }
}
