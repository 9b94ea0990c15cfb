//! An incremental Server-Sent Events parser (the WHATWG `text/event-stream` format).
//!
//! Pure: bytes go in, in chunks of any size split anywhere, events come out; the result
//! never depends on where the chunks were split. It knows nothing about HTTP or about
//! the Responses API, so it can be tested exhaustively on its own.
//!
//! What it implements: `data:` fields (several per event, joined with `\n`), the `event:`
//! field, comments (lines starting with `:`), `\r\n`, `\r` and `\n` line ends, a leading
//! byte order mark, and UTF-8 decoded with replacement (a character split across chunks
//! is decoded whole, because lines are collected as bytes first). `id:` and `retry:` only
//! matter to a reconnecting browser and are ignored. An event still open when the stream
//! ends is dropped, as the standard says, so a cut stream never yields a truncated event.

/// The byte order mark, which the standard strips from the start of the stream.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The default bound on one event (its data plus the line being read): 1 MiB. Responses
/// events are a few hundred bytes, except `response.completed`, which repeats the whole
/// response; 1 MiB holds far more speech than a voice turn produces.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 1 << 20;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field (`None` when the event had none: the standard's `message`).
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

/// Why the stream cannot be parsed further.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SseError {
    /// One event (or one line) grew past the bound: the stream is not a sane event
    /// stream, and buffering more would only spend memory.
    #[error("server-sent event larger than {limit} bytes")]
    EventTooLarge {
        /// The bound, in bytes.
        limit: usize,
    },
}

/// The parser's state between chunks.
#[derive(Debug)]
pub struct SseParser {
    /// Bytes of the line being read (no line end yet).
    line: Vec<u8>,
    /// The data buffer of the event being built (each data line plus `\n`).
    data: String,
    /// The event type buffer of the event being built.
    event: Option<String>,
    /// The previous chunk ended with `\r`: a `\n` starting this one belongs to it.
    after_cr: bool,
    /// Still at the very start of the stream, where a byte order mark may appear.
    at_start: bool,
    /// Set once the bound was exceeded; every later call fails the same way.
    failed: bool,
    /// Bound on the bytes held for one event.
    max_event_bytes: usize,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_EVENT_BYTES)
    }
}

impl SseParser {
    /// A parser that refuses events larger than `max_event_bytes`.
    pub fn new(max_event_bytes: usize) -> Self {
        Self {
            line: Vec::new(),
            data: String::new(),
            event: None,
            after_cr: false,
            at_start: true,
            failed: false,
            max_event_bytes,
        }
    }

    /// Feeds the next bytes of the stream and appends the events they complete to `out`.
    ///
    /// Events completed before an error are still appended. After an error the parser
    /// stays failed.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if self.failed {
            return Err(self.too_large());
        }
        // (An empty chunk must not forget the pending `\r`.)
        if self.after_cr && !bytes.is_empty() {
            self.after_cr = false;
            if let Some(rest) = bytes.strip_prefix(b"\n") {
                bytes = rest;
            }
        }
        while !bytes.is_empty() {
            match bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(end) => {
                    let (head, tail) = bytes.split_at(end);
                    self.push_line_bytes(head)?;
                    let line = std::mem::take(&mut self.line);
                    self.process_line(&line, out);
                    // Give the allocation back for the next line.
                    self.line = line;
                    self.line.clear();
                    bytes = match tail {
                        [b'\r', b'\n', rest @ ..] => rest,
                        [b'\r'] => {
                            self.after_cr = true;
                            &[]
                        }
                        [_, rest @ ..] => rest,
                        [] => &[],
                    };
                }
                None => {
                    self.push_line_bytes(bytes)?;
                    bytes = &[];
                }
            }
        }
        Ok(())
    }

    /// Appends to the current line, keeping the event within its bound.
    fn push_line_bytes(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        let held = self.line.len() + bytes.len() + self.data.len();
        let held = held + self.event.as_ref().map_or(0, String::len);
        if held > self.max_event_bytes {
            self.failed = true;
            self.line = Vec::new();
            self.data = String::new();
            self.event = None;
            return Err(self.too_large());
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn too_large(&self) -> SseError {
        SseError::EventTooLarge {
            limit: self.max_event_bytes,
        }
    }

    /// One complete line (without its line end).
    fn process_line(&mut self, mut line: &[u8], out: &mut Vec<SseEvent>) {
        if self.at_start {
            self.at_start = false;
            if let Some(rest) = line.strip_prefix(BOM) {
                line = rest;
            }
        }
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line.starts_with(b":") {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let (field, rest) = line.split_at(colon);
                let value = rest.strip_prefix(b":").unwrap_or(rest);
                (field, value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match field {
            b"data" => {
                self.data.push_str(&String::from_utf8_lossy(value));
                self.data.push('\n');
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            // `id` and `retry` serve reconnection, which a one-shot POST does not do;
            // unknown fields are ignored by the standard.
            _ => {}
        }
    }

    /// A blank line: the event built so far is complete.
    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take();
        if self.data.is_empty() {
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop(); // the `\n` after the last data line
        out.push(SseEvent {
            event: event.filter(|name| !name.is_empty()),
            data,
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    fn parse(bytes: &[u8]) -> Vec<SseEvent> {
        let mut parser = SseParser::default();
        let mut out = Vec::new();
        parser.feed(bytes, &mut out).unwrap();
        out
    }

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_owned),
            data: data.to_owned(),
        }
    }

    #[test]
    fn event_and_data_lines() {
        let events = parse(b"event: response.created\ndata: {\"a\":1}\n\nevent: x\ndata: 2\n\n");
        assert_eq!(
            events,
            vec![
                ev(Some("response.created"), "{\"a\":1}"),
                ev(Some("x"), "2")
            ]
        );
    }

    #[test]
    fn multi_line_data_is_joined_with_newlines() {
        let events = parse(b"data: one\ndata:two\ndata:  three\ndata\n\n");
        assert_eq!(events, vec![ev(None, "one\ntwo\n three\n")]);
    }

    #[test]
    fn comments_id_retry_and_unknown_fields_are_ignored() {
        let events = parse(b": keep-alive\nid: 7\nretry: 100\nfoo: bar\ndata: x\n:c\n\n");
        assert_eq!(events, vec![ev(None, "x")]);
    }

    #[test]
    fn all_line_ends_are_accepted() {
        let lf = parse(b"event: a\ndata: 1\n\n");
        let crlf = parse(b"event: a\r\ndata: 1\r\n\r\n");
        let cr = parse(b"event: a\rdata: 1\r\r");
        assert_eq!(lf, vec![ev(Some("a"), "1")]);
        assert_eq!(crlf, lf);
        assert_eq!(cr, lf);
    }

    #[test]
    fn crlf_split_between_chunks_is_one_line_end() {
        let mut parser = SseParser::default();
        let mut out = Vec::new();
        parser.feed(b"data: 1\r", &mut out).unwrap();
        parser.feed(b"", &mut out).unwrap();
        parser.feed(b"\n\r", &mut out).unwrap();
        parser.feed(b"\ndata: 2\r\n\r\n", &mut out).unwrap();
        assert_eq!(out, vec![ev(None, "1"), ev(None, "2")]);
    }

    #[test]
    fn byte_order_mark_is_stripped_only_at_the_start() {
        assert_eq!(parse(b"\xEF\xBB\xBFdata: x\n\n"), vec![ev(None, "x")]);
        // Later, a BOM is part of the line: here it makes an unknown field name.
        assert_eq!(
            parse(b"data: x\n\n\xEF\xBB\xBFdata: y\n\n"),
            vec![ev(None, "x")]
        );
        // Split across chunks.
        let mut parser = SseParser::default();
        let mut out = Vec::new();
        parser.feed(b"\xEF", &mut out).unwrap();
        parser.feed(b"\xBB", &mut out).unwrap();
        parser.feed(b"\xBFdata: x\n\n", &mut out).unwrap();
        assert_eq!(out, vec![ev(None, "x")]);
    }

    #[test]
    fn utf8_split_across_chunks_is_decoded_whole() {
        let text = "data: héllo — 你好 🎙\n\n".as_bytes();
        let mut out = Vec::new();
        let mut parser = SseParser::default();
        for byte in text {
            parser.feed(std::slice::from_ref(byte), &mut out).unwrap();
        }
        assert_eq!(out, vec![ev(None, "héllo — 你好 🎙")]);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        assert_eq!(parse(b"data: a\xFFb\n\n"), vec![ev(None, "a\u{FFFD}b")]);
    }

    #[test]
    fn blank_lines_without_data_dispatch_nothing_and_reset_the_type() {
        assert_eq!(
            parse(b"\n\nevent: lost\n\ndata: x\n\n"),
            vec![ev(None, "x")]
        );
        // An empty data field still makes an (empty) event.
        assert_eq!(parse(b"data:\n\n"), vec![ev(None, "")]);
    }

    #[test]
    fn an_event_not_closed_by_a_blank_line_is_not_dispatched() {
        // A stream cut before the blank line must not surface half an event.
        assert_eq!(parse(b"data: {\"type\":\"resp"), vec![]);
        assert_eq!(parse(b"data: complete-looking\n"), vec![]);
    }

    #[test]
    fn done_sentinel_is_an_ordinary_event() {
        assert_eq!(parse(b"data: [DONE]\n\n"), vec![ev(None, "[DONE]")]);
    }

    #[test]
    fn event_larger_than_the_bound_fails_and_stays_failed() {
        let mut parser = SseParser::new(64);
        let mut out = Vec::new();
        parser.feed(b"data: small\n\n", &mut out).unwrap();
        let long = vec![b'x'; 40];
        parser.feed(b"data: ", &mut out).unwrap();
        parser.feed(&long, &mut out).unwrap();
        parser.feed(b"\ndata: ", &mut out).unwrap();
        assert_eq!(
            parser.feed(&long, &mut out),
            Err(SseError::EventTooLarge { limit: 64 })
        );
        assert_eq!(
            parser.feed(b"\n\n", &mut out),
            Err(SseError::EventTooLarge { limit: 64 })
        );
        assert_eq!(out, vec![ev(None, "small")]);
    }

    #[test]
    fn a_line_without_end_is_bounded_too() {
        let mut parser = SseParser::new(1024);
        let mut out = Vec::new();
        let chunk = [b'a'; 100];
        let mut result = Ok(());
        for _ in 0..20 {
            result = parser.feed(&chunk, &mut out);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(SseError::EventTooLarge { limit: 1024 }));
        assert!(
            parser.line.capacity() <= 2048,
            "memory was released or bounded"
        );
    }

    #[test]
    fn many_events_of_the_bound_size_stream_through() {
        // The bound is per event, not per stream.
        let mut parser = SseParser::new(100);
        let mut out = Vec::new();
        for i in 0..1000 {
            let line = format!("data: {i:080}\n\n");
            parser.feed(line.as_bytes(), &mut out).unwrap();
        }
        assert_eq!(out.len(), 1000);
    }

    /// One generated event and how it is written on the wire.
    #[derive(Debug, Clone)]
    struct WireEvent {
        event: Option<String>,
        data_lines: Vec<String>,
        comment: bool,
        id: bool,
    }

    fn field_text() -> impl Strategy<Value = String> {
        // Any text without line ends, including non-ASCII and colons.
        proptest::string::string_regex("[a-zA-Z0-9 :{}\",.éü你🎙\\[\\]-]{0,24}").unwrap()
    }

    fn wire_event() -> impl Strategy<Value = WireEvent> {
        (
            proptest::option::of("[a-z.]{1,20}"),
            proptest::collection::vec(field_text(), 1..4),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(event, data_lines, comment, id)| WireEvent {
                event,
                data_lines,
                comment,
                id,
            })
    }

    fn encode(events: &[WireEvent], bom: bool, line_end: &str) -> Vec<u8> {
        let mut out = String::new();
        if bom {
            out.push('\u{FEFF}');
        }
        for e in events {
            if e.comment {
                out.push_str(": ping");
                out.push_str(line_end);
            }
            if let Some(name) = &e.event {
                out.push_str("event: ");
                out.push_str(name);
                out.push_str(line_end);
            }
            if e.id {
                out.push_str("id: 42");
                out.push_str(line_end);
            }
            for line in &e.data_lines {
                out.push_str("data: ");
                out.push_str(line);
                out.push_str(line_end);
            }
            out.push_str(line_end);
        }
        out.into_bytes()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Splitting the byte stream anywhere (even inside a UTF-8 character or a CRLF)
        /// yields exactly the events that were written.
        #[test]
        fn any_split_yields_the_written_events(
            events in proptest::collection::vec(wire_event(), 0..8),
            bom in any::<bool>(),
            line_end in prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let bytes = encode(&events, bom, line_end);
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
            points.sort_unstable();
            let mut parser = SseParser::default();
            let mut out = Vec::new();
            let mut start = 0;
            for point in points.into_iter().chain([bytes.len()]) {
                parser.feed(&bytes[start..point], &mut out).unwrap();
                start = point;
            }
            let expected: Vec<SseEvent> = events
                .iter()
                .map(|e| SseEvent { event: e.event.clone(), data: e.data_lines.join("\n") })
                .collect();
            prop_assert_eq!(&out, &expected);
            prop_assert_eq!(out, parse(&bytes));
        }

        /// Arbitrary bytes never panic, and splitting them never changes the result.
        #[test]
        fn arbitrary_bytes_split_anywhere_give_the_same_result(
            bytes in proptest::collection::vec(any::<u8>(), 0..512),
            cut in any::<prop::sample::Index>(),
        ) {
            let whole = {
                let mut parser = SseParser::new(256);
                let mut out = Vec::new();
                let result = parser.feed(&bytes, &mut out);
                (out, result)
            };
            let split = {
                let cut = cut.index(bytes.len() + 1);
                let mut parser = SseParser::new(256);
                let mut out = Vec::new();
                let result = parser
                    .feed(&bytes[..cut], &mut out)
                    .and_then(|()| parser.feed(&bytes[cut..], &mut out));
                (out, result)
            };
            prop_assert_eq!(whole, split);
        }
    }
}
