// The benchmark texts, shared by `benches/tts.rs` and `examples/tts_bench.rs` (which
// `benches/piper_compare.py` runs, so the Python side times the same words).

const SHORT: &str = "Hello there.";
const TEN_WORDS: &str = "The quick brown fox jumps over the lazy dog near home.";
const PARAGRAPH: &str = "The history of speech synthesis goes back more than two centuries. \
Early machines used bellows and reeds to imitate the human vocal tract, and they could \
produce a handful of vowels and a few simple words. In the twentieth century, electronic \
systems replaced the mechanical ones, and researchers learned to model the resonances of \
the voice with filters. Today, neural networks trained on many hours of recorded speech \
generate voices that are hard to tell apart from a person reading aloud. They run on \
ordinary computers, faster than real time, and they can start speaking before the whole \
sentence has been written.";
