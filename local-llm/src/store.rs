//! Bounded in-memory store of past responses and named conversations, so that a request
//! can continue one with `previous_response_id` or `conversation`.
//!
//! A voice session chains every turn to the previous one, so each stored response is a
//! node pointing at its parent: turns are shared, not copied, and a long session costs
//! memory linear in its length. The least recently used entries are evicted first.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::chat::ChatMessage;

/// Responses (and, separately, conversations) kept before the least recently used goes.
pub const DEFAULT_CAPACITY: usize = 1000;
/// Most turns a history walk returns: older ones could never fit in the context anyway
/// (a ChatML turn costs at least 5 tokens of the 2048), so walking further is waste.
pub const MAX_HISTORY_TURNS: usize = 400;

/// One step of a conversation: the turns it added, and the step before it.
#[derive(Debug)]
pub struct Node {
    parent: Option<Arc<Node>>,
    turns: Vec<ChatMessage>,
    /// Turns along the chain up to and including this node.
    depth: usize,
}

impl Node {
    /// A step adding `turns` after `parent`.
    pub fn new(parent: Option<Arc<Node>>, turns: Vec<ChatMessage>) -> Arc<Self> {
        match parent {
            // A chain that grew far past what a prompt can use is cut: the new node
            // starts a fresh chain holding only the turns a history walk would return,
            // so an endless session holds bounded memory.
            Some(p) if p.depth > 2 * MAX_HISTORY_TURNS => {
                let mut all = p.history();
                all.extend(turns);
                let depth = all.len();
                Arc::new(Self {
                    parent: None,
                    turns: all,
                    depth,
                })
            }
            parent => {
                let depth = parent.as_ref().map_or(0, |p| p.depth) + turns.len();
                Arc::new(Self {
                    parent,
                    turns,
                    depth,
                })
            }
        }
    }

    /// Every turn from the start (at most [`MAX_HISTORY_TURNS`], the newest), oldest first.
    pub fn history(self: &Arc<Self>) -> Vec<ChatMessage> {
        let mut steps = Vec::new();
        let mut count = 0;
        let mut node = Some(self);
        while let Some(n) = node {
            if count >= MAX_HISTORY_TURNS {
                break;
            }
            count += n.turns.len();
            steps.push(n);
            node = n.parent.as_ref();
        }
        let mut turns: Vec<ChatMessage> = steps
            .iter()
            .rev()
            .flat_map(|n| n.turns.iter().cloned())
            .collect();
        let excess = turns.len().saturating_sub(MAX_HISTORY_TURNS);
        turns.drain(..excess);
        turns
    }
}

impl Drop for Node {
    /// Unlinks the chain iteratively: the default recursive drop of a long chain of
    /// `Arc`s could overflow the stack.
    fn drop(&mut self) {
        let mut next = self.parent.take();
        while let Some(node) = next {
            next = match Arc::try_unwrap(node) {
                Ok(mut owned) => owned.parent.take(),
                Err(_) => None,
            };
        }
    }
}

/// A map that forgets its least recently used entry beyond a capacity.
#[derive(Debug)]
struct Lru {
    capacity: usize,
    tick: u64,
    entries: HashMap<String, (u64, Arc<Node>)>,
    by_age: BTreeMap<u64, String>,
}

impl Lru {
    fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            tick: 0,
            entries: HashMap::new(),
            by_age: BTreeMap::new(),
        }
    }

    fn get(&mut self, key: &str) -> Option<Arc<Node>> {
        self.tick += 1;
        let (age, node) = self.entries.get_mut(key)?;
        self.by_age.remove(age);
        *age = self.tick;
        self.by_age.insert(self.tick, key.to_owned());
        Some(node.clone())
    }

    fn insert(&mut self, key: String, node: Arc<Node>) {
        self.tick += 1;
        if let Some((old, _)) = self.entries.insert(key.clone(), (self.tick, node)) {
            self.by_age.remove(&old);
        }
        self.by_age.insert(self.tick, key);
        while self.entries.len() > self.capacity {
            let Some((_, oldest)) = self.by_age.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
    }
}

/// Stored responses and conversations.
#[derive(Debug)]
pub struct Store {
    responses: Lru,
    conversations: Lru,
}

impl Store {
    /// A store keeping up to `capacity` responses and `capacity` conversations.
    pub fn new(capacity: usize) -> Self {
        Self {
            responses: Lru::new(capacity),
            conversations: Lru::new(capacity),
        }
    }

    /// The conversation up to and including a stored response.
    pub fn response(&mut self, id: &str) -> Option<Arc<Node>> {
        self.responses.get(id)
    }

    /// The latest step of a named conversation (None: not started yet).
    pub fn conversation(&mut self, id: &str) -> Option<Arc<Node>> {
        self.conversations.get(id)
    }

    /// Records a finished response (and moves its conversation forward).
    pub fn save(&mut self, response_id: Option<&str>, conversation: Option<&str>, node: Arc<Node>) {
        if let Some(id) = conversation {
            self.conversations.insert(id.to_owned(), node.clone());
        }
        if let Some(id) = response_id {
            self.responses.insert(id.to_owned(), node);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::chat::Role;

    fn turn(text: &str) -> ChatMessage {
        ChatMessage::new(Role::User, text)
    }

    #[test]
    fn chains_share_history_and_evict_oldest() {
        let mut store = Store::new(2);
        let a = Node::new(None, vec![turn("1"), turn("2")]);
        store.save(Some("a"), None, a.clone());
        let b = Node::new(Some(a), vec![turn("3")]);
        store.save(Some("b"), Some("c"), b);
        let texts: Vec<String> = store
            .response("b")
            .unwrap()
            .history()
            .into_iter()
            .map(|m| m.content)
            .collect();
        assert_eq!(texts, ["1", "2", "3"]);
        // "a" was used more recently than "b" after this get, so "b" goes first.
        assert!(store.response("a").is_some());
        store.save(Some("d"), None, Node::new(None, vec![]));
        assert!(store.response("b").is_none());
        assert!(store.response("a").is_some());
        assert_eq!(store.conversation("c").unwrap().history().len(), 3);
    }

    #[test]
    fn history_and_chain_are_bounded() {
        let mut node = Node::new(None, vec![]);
        let n = 5 * MAX_HISTORY_TURNS + 10;
        for i in 0..n {
            node = Node::new(Some(node), vec![turn(&i.to_string())]);
        }
        let history = node.history();
        assert_eq!(history.len(), MAX_HISTORY_TURNS);
        assert_eq!(history.last().unwrap().content, (n - 1).to_string());
        assert_eq!(
            history.first().unwrap().content,
            (n - MAX_HISTORY_TURNS).to_string()
        );
        assert!(node.depth <= 2 * MAX_HISTORY_TURNS + 1, "{}", node.depth);
    }
}
