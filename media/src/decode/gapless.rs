//! Gapless trimming that symphonia 0.6 reads past: what encoders record about the priming
//! and padding around the real audio.
//!
//! Lossy codecs work on whole frames: the encoder's delay (AAC's 1024 priming samples, Opus's
//! pre-skip) precedes the audio and silence pads the last frame. Matroska/WebM writers record
//! the padding in the last block's `DiscardPadding` (nanoseconds); MP4 writers record both in
//! the track's edit list (`elst`: where in the media the presentation starts, and how long it
//! lasts). symphonia parses both and applies neither, so these readers find them in the bytes.
//!
//! Also here: whether a Matroska file whose segment has no size (a live WebM recording, as
//! browsers make) ends after a whole element. symphonia reports the end of such a stream as
//! an unexpected end of input, the same as a cut file.

/// Matroska element IDs, with their length-marker bits as they appear in the file.
const ID_SEGMENT: u32 = 0x1853_8067;
const ID_CLUSTER: u32 = 0x1F43_B675;
const ID_BLOCK_GROUP: u32 = 0xA0;
const ID_BLOCK: u32 = 0xA1;
const ID_SIMPLE_BLOCK: u32 = 0xA3;
const ID_DISCARD_PADDING: u32 = 0x75A2;

/// The most padding believed: Opus packets last at most 120 ms, and a longer claim is damage.
const MAX_DISCARD_PADDING_NS: u64 = 120_000_000;

/// The padding, in nanoseconds, that the last block of Matroska track `track` asks to drop
/// from its end; `None` when that block sets none or the bytes cannot be walked.
pub(super) fn matroska_end_padding_ns(bytes: &[u8], track: u64) -> Option<u64> {
    let mut reader = Ebml { bytes, pos: 0 };
    // The padding of the last block of the track seen so far.
    let mut last_block_padding: Option<u64> = None;
    // The block group being read: where it ends, its block's track and its padding.
    let mut group: Option<Group> = None;
    while let Some(element) = reader.next_element() {
        if let Some(open) = &group
            && element.start >= open.end
        {
            let open = group.take()?;
            if open.track == Some(track) {
                last_block_padding = open.padding;
            }
        }
        match element.id {
            // Masters whose children matter: step inside rather than over them.
            ID_SEGMENT | ID_CLUSTER => continue,
            ID_BLOCK_GROUP => {
                let end = element.data_end?;
                group = Some(Group {
                    end,
                    track: None,
                    padding: None,
                });
                continue;
            }
            ID_SIMPLE_BLOCK => {
                let data = reader.data(&element)?;
                if Ebml::block_track(data) == Some(track) {
                    last_block_padding = None;
                }
            }
            ID_BLOCK => {
                let data = reader.data(&element)?;
                if let Some(open) = &mut group {
                    open.track = Ebml::block_track(data);
                }
            }
            ID_DISCARD_PADDING => {
                let data = reader.data(&element)?;
                if let Some(open) = &mut group {
                    open.padding = signed_int(data)
                        .and_then(|ns| u64::try_from(ns).ok())
                        .map(|ns| ns.min(MAX_DISCARD_PADDING_NS));
                }
            }
            _ => {}
        }
        // Anything else, and the leaves above, are stepped over whole; an element of unknown
        // size that is not a known master cannot be, and ends the walk.
        reader.pos = element.data_end?;
    }
    if let Some(open) = group
        && open.track == Some(track)
    {
        last_block_padding = open.padding;
    }
    last_block_padding.filter(|&ns| ns > 0)
}

/// Whether a Matroska file ends right after a whole element: its masters may have no size,
/// but no element is cut short. Then an end of input where the reader wanted more is the
/// natural end of a live recording, not damage.
pub(super) fn matroska_ends_cleanly(bytes: &[u8]) -> bool {
    let mut reader = Ebml { bytes, pos: 0 };
    while reader.pos < bytes.len() {
        let Some(element) = reader.next_element() else {
            // A header cut in two.
            return false;
        };
        if element.cut {
            return false;
        }
        match (element.id, element.data_end) {
            (ID_SEGMENT | ID_CLUSTER | ID_BLOCK_GROUP, _) => {}
            (_, Some(end)) => reader.pos = end,
            (_, None) => return false,
        }
    }
    true
}

struct Group {
    end: usize,
    track: Option<u64>,
    padding: Option<u64>,
}

/// An element header: its ID, where it starts, where its data starts and ends (`None` for
/// the "unknown size" of live streams), and whether the input ends before its data does.
struct Element {
    id: u32,
    start: usize,
    data_start: usize,
    data_end: Option<usize>,
    cut: bool,
}

struct Ebml<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Ebml<'a> {
    /// Reads the header at the current position and moves to its data.
    fn next_element(&mut self) -> Option<Element> {
        let start = self.pos;
        let (id_len, _) = vint(self.bytes.get(start..)?, 4)?;
        let id = self
            .bytes
            .get(start..start + id_len)?
            .iter()
            .fold(0u32, |id, &byte| (id << 8) | u32::from(byte));
        let size_at = start + id_len;
        let (size_len, size) = vint(self.bytes.get(size_at..)?, 8)?;
        let data_start = size_at + size_len;
        // All value bits set means the size is unknown.
        let unknown = size == (1u64 << (7 * size_len)) - 1;
        let declared_end = (!unknown)
            .then(|| data_start.saturating_add(usize::try_from(size).unwrap_or(usize::MAX)));
        // A size past the end of the input is a cut file: the element ends with the input.
        let data_end = declared_end.map(|end| end.min(self.bytes.len()));
        self.pos = data_start;
        Some(Element {
            id,
            start,
            data_start,
            data_end,
            cut: declared_end.is_some_and(|end| end > self.bytes.len()),
        })
    }

    fn data(&self, element: &Element) -> Option<&'a [u8]> {
        self.bytes.get(element.data_start..element.data_end?)
    }

    /// The track number a (Simple)Block's data starts with.
    fn block_track(data: &[u8]) -> Option<u64> {
        vint(data, 8).map(|(_, track)| track)
    }
}

/// A variable-length integer of at most `max_len` bytes: its length and its value without
/// the length marker.
fn vint(bytes: &[u8], max_len: usize) -> Option<(usize, u64)> {
    let first = *bytes.first()?;
    let len = usize::try_from(first.leading_zeros()).ok()? + 1;
    if len > max_len {
        return None;
    }
    let marker_cleared = u64::from(first) & (0xFF >> len);
    let value = bytes
        .get(1..len)?
        .iter()
        .fold(marker_cleared, |value, &byte| {
            (value << 8) | u64::from(byte)
        });
    Some((len, value))
}

/// A big-endian two's-complement integer of 1 to 8 bytes.
fn signed_int(data: &[u8]) -> Option<i64> {
    if data.is_empty() || data.len() > 8 {
        return None;
    }
    let unsigned = data
        .iter()
        .fold(0u64, |value, &byte| (value << 8) | u64::from(byte));
    let shift = 64 - 8 * data.len() as u32;
    Some(((unsigned << shift) as i64) >> shift)
}

/// The one edit of an MP4 track's edit list: present the media from `media_start` (in
/// units of `media_timescale`) for `duration` (in units of `movie_timescale`; zero when the
/// file leaves it open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Mp4Edit {
    pub(super) media_start: u64,
    pub(super) media_timescale: u32,
    pub(super) duration: u64,
    pub(super) movie_timescale: u32,
}

impl Mp4Edit {
    /// The edit in frames at `rate`: how many to drop from the start, and how many to keep
    /// after them (`None` for all).
    pub(super) fn frames_at(&self, rate: u32) -> (usize, Option<usize>) {
        let rescale = |value: u64, timescale: u32| {
            let scaled = (u128::from(value) * u128::from(rate) + u128::from(timescale) / 2)
                / u128::from(timescale.max(1));
            usize::try_from(scaled).unwrap_or(usize::MAX)
        };
        let skip = rescale(self.media_start, self.media_timescale);
        let keep = (self.duration > 0).then(|| rescale(self.duration, self.movie_timescale));
        (skip, keep)
    }
}

/// The edit list of MP4 track `track_id`, when it is the common gapless form: optional empty
/// edits, then one edit at normal speed. `None` for anything else, which is left untrimmed.
pub(super) fn mp4_edit(bytes: &[u8], track_id: u32) -> Option<Mp4Edit> {
    let moov = Mp4Box::children(bytes).find(|b| &b.kind == b"moov")?;
    let movie_timescale = full_box_timescale(moov.child(b"mvhd")?.body)?;
    for trak in Mp4Box::children(moov.body).filter(|b| &b.kind == b"trak") {
        let tkhd = trak.child(b"tkhd")?.body;
        // The track ID follows the creation and modification times, 4 or 8 bytes each.
        let id_at = if *tkhd.first()? == 1 { 20 } else { 12 };
        if read_u32(tkhd, id_at)? != track_id {
            continue;
        }
        let elst = trak.child(b"edts")?.child(b"elst")?.body;
        let media_timescale = full_box_timescale(trak.child(b"mdia")?.child(b"mdhd")?.body)?;
        return single_edit(elst).map(|(media_start, duration)| Mp4Edit {
            media_start,
            media_timescale,
            duration,
            movie_timescale,
        });
    }
    None
}

/// The media start and duration of an edit list's only real edit.
fn single_edit(elst: &[u8]) -> Option<(u64, u64)> {
    let version = *elst.first()?;
    let count = usize::try_from(read_u32(elst, 4)?).ok()?;
    let entry_len = if version == 1 { 20 } else { 12 };
    let mut found = None;
    for index in 0..count {
        let at = index.checked_mul(entry_len)?.checked_add(8)?;
        let (duration, media_time, rate_at) = if version == 1 {
            (read_u64(elst, at)?, read_u64(elst, at + 8)? as i64, at + 16)
        } else {
            (
                u64::from(read_u32(elst, at)?),
                i64::from(read_u32(elst, at + 4)? as i32),
                at + 8,
            )
        };
        // An empty edit (a pause before the media) does not change what is decoded.
        if media_time == -1 {
            continue;
        }
        // Speed 1.0 as 16.16 fixed point; a second real edit would splice the media.
        if read_u32(elst, rate_at)? != 0x0001_0000 || found.is_some() {
            return None;
        }
        found = Some((u64::try_from(media_time).ok()?, duration));
    }
    found
}

/// The timescale of an `mvhd` or `mdhd` box: after the creation and modification times.
fn full_box_timescale(body: &[u8]) -> Option<u32> {
    let at = if *body.first()? == 1 { 20 } else { 12 };
    read_u32(body, at).filter(|&timescale| timescale > 0)
}

/// An MP4 box: its four-character type and its contents.
struct Mp4Box<'a> {
    kind: [u8; 4],
    body: &'a [u8],
}

impl<'a> Mp4Box<'a> {
    /// The boxes laid end to end in `bytes`, up to the first that does not fit.
    fn children(bytes: &'a [u8]) -> impl Iterator<Item = Mp4Box<'a>> {
        let mut rest = bytes;
        std::iter::from_fn(move || {
            let size = read_u32(rest, 0)?;
            let kind: [u8; 4] = rest.get(4..8)?.try_into().ok()?;
            let (header, size) = match size {
                // The box runs to the end of its parent.
                0 => (8, rest.len()),
                1 => (16, usize::try_from(read_u64(rest, 8)?).ok()?),
                size => (8, usize::try_from(size).ok()?),
            };
            // A cut file: the last box ends with the input.
            let end = size.min(rest.len());
            let body = rest.get(header..end.max(header))?;
            rest = rest.get(end.max(header)..)?;
            Some(Mp4Box { kind, body })
        })
    }

    fn child(&self, kind: &[u8; 4]) -> Option<Mp4Box<'a>> {
        Mp4Box::children(self.body).find(|b| &b.kind == kind)
    }
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let field = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(field.try_into().ok()?))
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let field = bytes.get(at..at.checked_add(8)?)?;
    Some(u64::from_be_bytes(field.try_into().ok()?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// An element with a one-byte size.
    fn element(id: &[u8], data: &[u8]) -> Vec<u8> {
        let mut out = id.to_vec();
        out.push(0x80 | u8::try_from(data.len()).unwrap());
        out.extend_from_slice(data);
        out
    }

    fn block_group(track: u8, padding: Option<&[u8]>) -> Vec<u8> {
        let mut children = element(&[0xA1], &[0x80 | track, 0, 0, 0, 0xAA]);
        if let Some(padding) = padding {
            children.extend(element(&[0x75, 0xA2], padding));
        }
        element(&[0xA0], &children)
    }

    /// A segment and cluster of unknown size, as live recorders write them.
    fn live_file(blocks: &[Vec<u8>]) -> Vec<u8> {
        let mut out = element(&[0x1A, 0x45, 0xDF, 0xA3], &[0x42, 0x86, 0x81, 0x01]);
        out.extend_from_slice(&[
            0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ]);
        out.extend_from_slice(&[0x1F, 0x43, 0xB6, 0x75, 0xFF]);
        out.extend(element(&[0xE7], &[0]));
        for block in blocks {
            out.extend_from_slice(block);
        }
        out
    }

    #[test]
    fn padding_of_the_last_block_is_found() {
        let padding = 13_500_000u32.to_be_bytes();
        let file = live_file(&[
            element(&[0xA3], &[0x81, 0, 0, 0, 1]),
            block_group(1, Some(&padding)),
        ]);
        assert_eq!(matroska_end_padding_ns(&file, 1), Some(13_500_000));
        assert_eq!(matroska_end_padding_ns(&file, 2), None);
    }

    #[test]
    fn padding_followed_by_more_blocks_does_not_count() {
        let padding = 13_500_000u32.to_be_bytes();
        let file = live_file(&[
            block_group(1, Some(&padding)),
            element(&[0xA3], &[0x81, 0, 0, 0, 1]),
        ]);
        assert_eq!(matroska_end_padding_ns(&file, 1), None);
        // Another track's block after it does not matter.
        let file = live_file(&[
            block_group(1, Some(&padding)),
            element(&[0xA3], &[0x82, 0, 0, 0, 1]),
        ]);
        assert_eq!(matroska_end_padding_ns(&file, 1), Some(13_500_000));
    }

    #[test]
    fn negative_huge_and_cut_values_are_ignored_or_capped() {
        let file = live_file(&[block_group(1, Some(&(-5i16).to_be_bytes()))]);
        assert_eq!(matroska_end_padding_ns(&file, 1), None);
        let file = live_file(&[block_group(1, Some(&[0x00, 0xFF, 0xFF, 0xFF]))]);
        assert_eq!(matroska_end_padding_ns(&file, 1), Some(16_777_215));
        let file = live_file(&[block_group(1, Some(&[0x7F; 8]))]);
        assert_eq!(
            matroska_end_padding_ns(&file, 1),
            Some(MAX_DISCARD_PADDING_NS)
        );
        let file = live_file(&[block_group(1, Some(&13_500_000u32.to_be_bytes()))]);
        for len in 0..file.len() {
            let _ = matroska_end_padding_ns(&file[..len], 1);
        }
    }

    #[test]
    fn live_files_end_cleanly_only_after_whole_elements() {
        let file = live_file(&[
            element(&[0xA3], &[0x81, 0, 0, 0, 1]),
            block_group(1, Some(&[0x10])),
        ]);
        assert!(matroska_ends_cleanly(&file));
        // Element ends: the EBML header, the headers of the segment and cluster (masters
        // without a size), the timestamp and the simple block. Inside the block group the
        // group's own size says it is cut.
        let boundaries = [9, 21, 26, 29, 36];
        for len in 1..file.len() {
            assert_eq!(
                matroska_ends_cleanly(&file[..len]),
                boundaries.contains(&len),
                "cut at {len}"
            );
        }
    }

    #[test]
    fn signed_ints_sign_extend() {
        assert_eq!(signed_int(&[0xFF]), Some(-1));
        assert_eq!(signed_int(&[0x00, 0xCD, 0xFE, 0x60]), Some(13_500_000));
        assert_eq!(signed_int(&[]), None);
        assert_eq!(signed_int(&[0; 9]), None);
    }

    fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = u32::try_from(body.len() + 8)
            .unwrap()
            .to_be_bytes()
            .to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }

    /// A version-0 full box whose timescale sits after two 4-byte times.
    fn timescale_box(kind: &[u8; 4], timescale: u32) -> Vec<u8> {
        let mut body = vec![0; 12];
        body.extend_from_slice(&timescale.to_be_bytes());
        body.extend_from_slice(&[0; 8]);
        mp4_box(kind, &body)
    }

    fn movie(track_id: u32, edits: &[(u32, i32)]) -> Vec<u8> {
        let mut tkhd = vec![0; 12];
        tkhd.extend_from_slice(&track_id.to_be_bytes());
        tkhd.extend_from_slice(&[0; 8]);
        let mut elst = vec![0, 0, 0, 0];
        elst.extend_from_slice(&u32::try_from(edits.len()).unwrap().to_be_bytes());
        for &(duration, media_time) in edits {
            elst.extend_from_slice(&duration.to_be_bytes());
            elst.extend_from_slice(&media_time.to_be_bytes());
            elst.extend_from_slice(&0x0001_0000u32.to_be_bytes());
        }
        let mut trak = mp4_box(b"tkhd", &tkhd);
        trak.extend(mp4_box(b"edts", &mp4_box(b"elst", &elst)));
        trak.extend(mp4_box(b"mdia", &timescale_box(b"mdhd", 44_100)));
        let mut moov = timescale_box(b"mvhd", 1000);
        moov.extend(mp4_box(b"trak", &trak));
        let mut file = mp4_box(b"ftyp", b"M4A \0\0\0\0");
        file.extend(mp4_box(b"mdat", &[0; 100]));
        file.extend(mp4_box(b"moov", &moov));
        file
    }

    #[test]
    fn aac_priming_edit_is_read() {
        let file = movie(1, &[(1500, 1024)]);
        let edit = mp4_edit(&file, 1).unwrap();
        assert_eq!(
            edit,
            Mp4Edit {
                media_start: 1024,
                media_timescale: 44_100,
                duration: 1500,
                movie_timescale: 1000,
            }
        );
        assert_eq!(edit.frames_at(44_100), (1024, Some(66_150)));
        assert_eq!(edit.frames_at(22_050), (512, Some(33_075)));
        assert!(mp4_edit(&file, 2).is_none());
        // An empty edit first is a pause, which does not change the trim.
        assert_eq!(
            mp4_edit(&movie(1, &[(10, -1), (1500, 1024)]), 1),
            Some(edit)
        );
    }

    #[test]
    fn complex_or_damaged_edit_lists_are_left_alone() {
        assert!(mp4_edit(&movie(1, &[(700, 1024), (800, 5000)]), 1).is_none());
        assert!(mp4_edit(&movie(1, &[]), 1).is_none());
        let file = movie(1, &[(1500, 1024)]);
        for len in 0..file.len() {
            let _ = mp4_edit(&file[..len], 1);
        }
        let mut huge = file.clone();
        // An entry count far past the box.
        let count_at = huge.windows(4).position(|w| w == b"elst").unwrap() + 8;
        huge[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        let _ = mp4_edit(&huge, 1);
    }
}
