//! Chat turns as the model sees them, independent of the HTTP shapes they arrive in.

/// Who speaks a turn. These are the ChatML role names SmolLM2 was tuned on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Instructions (`instructions`, or `system`/`developer` messages).
    System,
    /// The person.
    User,
    /// The model's earlier answers.
    Assistant,
    /// Results of tool calls made on the assistant's behalf (`function_call_output`).
    Tool,
}

impl Role {
    /// The ChatML role name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
            Self::Tool => "tool",
        }
    }
}

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// Speaker.
    pub role: Role,
    /// Plain text.
    pub content: String,
}

impl ChatMessage {
    /// A turn by `role` saying `content`.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

/// The system prompt used when a request has no `instructions`: the answer is spoken by a
/// TTS voice, so it must be short and free of markup that would be read aloud.
pub const DEFAULT_INSTRUCTIONS: &str = "You are a helpful voice assistant. Answer in one or two \
short spoken sentences, in plain words, without markdown, lists or emojis.";
