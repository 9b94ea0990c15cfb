//! Text before phonemes: Markdown stripping, normalisation to spoken words, and clause
//! splitting for streaming.

pub mod clauses;
pub mod markdown;
pub mod normalize;
pub mod numbers;
pub mod phrase;

pub use clauses::{Clause, ClauseSplitter, MAX_CLAUSE_CHARS, SpokenClause, spoken_clauses};
pub use markdown::strip_markdown;
pub use normalize::normalize_text;
pub use phrase::first_phrase_end;
