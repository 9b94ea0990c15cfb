//! The agent's outgoing audio: encoded clauses waiting to be sent, paced at one 20 ms
//! packet per 20 ms, and a record of what was actually sent (for barge-in).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

/// Duration of one packet.
pub(crate) const FRAME: Duration = Duration::from_millis(20);

/// A clause of the reply and how much of it went out.
#[derive(Debug)]
struct Clause {
    text: String,
    total: usize,
    sent: usize,
}

/// Packets of the reply being played.
#[derive(Debug, Default)]
pub(crate) struct Playout {
    /// `(packet, index into clauses)`, next to send first.
    queue: VecDeque<(Bytes, usize)>,
    clauses: Vec<Clause>,
    /// When the next packet is due; `None` while nothing is queued.
    next_due: Option<Instant>,
}

/// A packet to send now.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) packet: Bytes,
    /// The clause's text when this packet starts it.
    pub(crate) starts_clause: Option<String>,
    /// Whether this is the first packet of the reply.
    pub(crate) first_of_reply: bool,
}

impl Playout {
    /// Queues the packets of the next clause.
    pub(crate) fn push_clause(&mut self, text: String, packets: Vec<Bytes>) {
        let index = self.clauses.len();
        self.clauses.push(Clause {
            text,
            total: packets.len(),
            sent: 0,
        });
        self.queue.extend(packets.into_iter().map(|p| (p, index)));
    }

    /// When the next packet should go: now for the first of a burst, then every 20 ms.
    pub(crate) fn due(&self, now: Instant) -> Option<Instant> {
        if self.queue.is_empty() {
            None
        } else {
            Some(self.next_due.unwrap_or(now))
        }
    }

    /// Whether packets are waiting.
    pub(crate) fn has_audio(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Whether any packet of this reply was sent.
    pub(crate) fn started(&self) -> bool {
        self.clauses.iter().any(|c| c.sent > 0)
    }

    /// Takes the next packet, sent at `now`, and sets when the one after is due.
    pub(crate) fn pop(&mut self, now: Instant) -> Option<Outgoing> {
        let (packet, index) = self.queue.pop_front()?;
        let first_of_reply = !self.started();
        let clause = self.clauses.get_mut(index)?;
        let starts_clause = (clause.sent == 0).then(|| clause.text.clone());
        clause.sent += 1;
        // Keep the 20 ms grid while on time; after a stall start a new grid rather than
        // bursting to catch up (a burst would flatter latency and break barge-in).
        let due = self.next_due.unwrap_or(now);
        let next = due + FRAME;
        self.next_due = Some(if next + FRAME < now {
            now + FRAME
        } else {
            next
        });
        if self.queue.is_empty() {
            self.next_due = None;
        }
        Some(Outgoing {
            packet,
            starts_clause,
            first_of_reply,
        })
    }

    /// What the listener has heard: every clause sent whole, and of a clause cut short the
    /// share of its words that matches the share of its audio sent.
    pub(crate) fn played_text(&self) -> String {
        let mut parts = Vec::new();
        for clause in &self.clauses {
            if clause.sent == 0 {
                break;
            }
            if clause.sent >= clause.total {
                parts.push(clause.text.trim().to_owned());
            } else {
                let words: Vec<&str> = clause.text.split_whitespace().collect();
                let heard = (words.len() * clause.sent).div_ceil(clause.total.max(1));
                parts.push(words[..heard.min(words.len())].join(" "));
            }
        }
        parts.retain(|p| !p.is_empty());
        parts.join(" ")
    }

    /// Forgets the reply (after a barge-in or when it ended) and returns what was heard.
    pub(crate) fn clear(&mut self) -> String {
        let played = self.played_text();
        *self = Self::default();
        played
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn packets(n: usize) -> Vec<Bytes> {
        (0..n).map(|i| Bytes::from(vec![i as u8])).collect()
    }

    #[test]
    fn packets_are_paced_on_a_twenty_millisecond_grid() {
        let t0 = Instant::now();
        let mut p = Playout::default();
        assert_eq!(p.due(t0), None);
        p.push_clause("Hello there.".into(), packets(3));
        assert_eq!(p.due(t0), Some(t0));
        let first = p.pop(t0).unwrap();
        assert!(first.first_of_reply);
        assert_eq!(first.starts_clause.as_deref(), Some("Hello there."));
        assert_eq!(p.due(t0), Some(t0 + FRAME));
        let second = p.pop(t0 + FRAME).unwrap();
        assert!(!second.first_of_reply && second.starts_clause.is_none());
        // A late wake-up does not burst: the grid restarts from now.
        let late = t0 + Duration::from_millis(200);
        p.pop(late).unwrap();
        assert_eq!(p.due(late), None);
        p.push_clause("More.".into(), packets(2));
        p.pop(late).unwrap();
        assert_eq!(p.due(late), Some(late + FRAME));
    }

    #[test]
    fn a_cut_keeps_the_share_of_words_played() {
        let t = Instant::now();
        let mut p = Playout::default();
        p.push_clause("The capital of France".into(), packets(4));
        p.push_clause("is Paris, a city of eight words.".into(), packets(8));
        for _ in 0..4 + 4 {
            p.pop(t).unwrap();
        }
        assert_eq!(p.clear(), "The capital of France is Paris, a city");
        assert!(!p.has_audio());
        assert_eq!(p.played_text(), "");
    }
}
