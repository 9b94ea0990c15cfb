//! The streaming synthesizer: chunks come in order as clauses are synthesized, the first
//! before the rest of the text exists, and cancellation (or dropping the receiver) stops
//! synthesis.
#![allow(clippy::unwrap_used)]

mod common;

use std::ops::ControlFlow;

use mka1_tts::{AudioChunk, SynthesisOptions, Synthesizer, TtsError};

const LONG_TEXT: &str = "The first clause is short. Then comes a second sentence, with a comma. \
    A third one follows it. The fourth sentence is here, and so is the fifth. \
    Six is next. Seven, eight, nine and ten are counted. Eleven comes after that. \
    Twelve is the number of this sentence. Thirteen is unlucky, some say. \
    Fourteen is the last but one. Fifteen ends the text.";

fn collect(mut next: impl FnMut() -> Option<Result<AudioChunk, TtsError>>) -> Vec<AudioChunk> {
    std::iter::from_fn(|| next().map(Result::unwrap)).collect()
}

#[test]
fn the_first_chunk_comes_before_the_rest_of_the_text_exists() {
    let mut synth = Synthesizer::start(common::voice(), SynthesisOptions::default()).unwrap();
    synth.push_text("Hello there. And").unwrap();
    // Only the first sentence is complete: its audio must come without more text.
    let first = synth.blocking_recv().unwrap().unwrap();
    assert_eq!(first.text_of_clause, "Hello there.");
    assert_eq!(first.clause_index, 0);
    assert!(!first.is_last);
    assert!(first.duration_ms() > 300, "{} ms", first.duration_ms());

    for delta in [" then, ", "a third ", "clause", ". Done", "!"] {
        synth.push_text(delta).unwrap();
    }
    synth.finish();
    assert!(matches!(synth.push_text("late"), Err(TtsError::Stopped)));
    let rest = collect(|| synth.blocking_recv());
    let texts: Vec<&str> = rest.iter().map(|c| c.text_of_clause.as_str()).collect();
    assert_eq!(texts, ["And then,", "a third clause.", "Done!"]);
    let indices: Vec<usize> = rest.iter().map(|c| c.clause_index).collect();
    assert_eq!(indices, [1, 2, 3]);
    assert_eq!(rest.iter().filter(|c| c.is_last).count(), 1);
    assert!(rest.last().unwrap().is_last);
}

#[test]
fn a_whole_text_streams_in_order_and_ends_with_one_last_chunk() {
    let chunks: Vec<AudioChunk> =
        Synthesizer::speak(common::voice(), LONG_TEXT, SynthesisOptions::default())
            .unwrap()
            .map(Result::unwrap)
            .collect();
    let indices: Vec<usize> = chunks.iter().map(|c| c.clause_index).collect();
    assert_eq!(indices, (0..chunks.len()).collect::<Vec<_>>());
    assert!(chunks.len() >= 15, "{} chunks", chunks.len());
    assert!(chunks.iter().all(|c| !c.samples_24k.is_empty()));
    assert_eq!(chunks.iter().filter(|c| c.is_last).count(), 1);
    assert!(chunks.last().unwrap().is_last);
}

#[test]
fn synchronous_chunks_come_one_at_a_time() {
    // The callback of the first chunk runs before the second clause is synthesized.
    let voice = common::voice();
    let mut seen = Vec::new();
    voice
        .synthesize_each(LONG_TEXT, &SynthesisOptions::default(), |chunk| {
            seen.push(chunk.clause_index);
            if seen.len() == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(
        seen,
        [0, 1],
        "stopping after two chunks synthesizes no more"
    );
}

#[test]
fn cancelling_stops_synthesis() {
    let mut chunks =
        Synthesizer::speak(common::voice(), LONG_TEXT, SynthesisOptions::default()).unwrap();
    let first = chunks.blocking_recv().unwrap().unwrap();
    assert_eq!(first.clause_index, 0);
    chunks.cancel();
    // At most the chunks already queued arrive; none is the last, and the stream ends.
    let rest = collect(|| chunks.blocking_recv());
    assert!(
        rest.len() <= mka1_tts::stream::CHUNK_QUEUE + 1,
        "{} more chunks",
        rest.len()
    );
    assert!(
        rest.iter().all(|c| !c.is_last),
        "a cancelled stream has no last chunk"
    );
}

#[test]
fn cancelling_before_the_first_chunk_gives_none() {
    let mut synth = Synthesizer::start(common::voice(), SynthesisOptions::default()).unwrap();
    let token = synth.cancel_token();
    synth.push_text(LONG_TEXT).unwrap();
    token.cancel();
    assert!(token.is_cancelled());
    let got = collect(|| synth.blocking_recv());
    assert!(got.iter().all(|c| !c.is_last));
    assert!(
        got.len() <= 1,
        "cancelled within the first clause, got {}",
        got.len()
    );
    assert!(matches!(synth.push_text("more"), Err(TtsError::Stopped)));
}

#[test]
fn dropping_the_receiver_stops_the_synthesizer() {
    let synth = Synthesizer::start(common::voice(), SynthesisOptions::default()).unwrap();
    let (input, chunks) = synth.split();
    input.push_text(LONG_TEXT).unwrap();
    drop(chunks);
    assert!(input.cancel_token().is_cancelled());
    assert!(matches!(input.push_text("more"), Err(TtsError::Stopped)));
}

#[test]
fn chunks_can_be_awaited_on_an_async_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let chunks = runtime.block_on(async {
        let synth = Synthesizer::start(common::voice(), SynthesisOptions::default()).unwrap();
        let (input, mut chunks) = synth.split();
        let feeder = tokio::spawn(async move {
            for word in "One, two. Three four five.".split_inclusive(' ') {
                input.push_text(word).unwrap();
                tokio::task::yield_now().await;
            }
            // Dropping the input ends the text.
        });
        let mut got = Vec::new();
        while let Some(chunk) = chunks.recv().await {
            got.push(chunk.unwrap());
        }
        feeder.await.unwrap();
        got
    });
    let texts: Vec<&str> = chunks.iter().map(|c| c.text_of_clause.as_str()).collect();
    assert_eq!(texts, ["One,", "two.", "Three four five."]);
    assert!(chunks.last().unwrap().is_last);
}

#[test]
fn texts_with_nothing_to_say_end_with_one_silent_last_chunk() {
    for text in ["", "   ", "...", "*** ``` [[ ]] 🙂", "\0\u{1}\u{7f}"] {
        let chunks: Vec<AudioChunk> =
            Synthesizer::speak(common::voice(), text, SynthesisOptions::default())
                .unwrap()
                .map(Result::unwrap)
                .collect();
        assert_eq!(chunks.len(), 1, "{text:?}: {chunks:?}");
        assert!(
            chunks[0].is_last && chunks[0].samples_24k.is_empty(),
            "{text:?}"
        );
        assert!(
            common::voice().synthesize(text).unwrap().is_empty(),
            "{text:?}"
        );
    }
}
