//! The shared inference pool with the real tiny.en model: a full queue is refused at once
//! with a retry estimate while the accepted jobs come back right, a job whose caller went
//! away is skipped, models load once and are shared. Needs the provisioned models
//! (`make models`).
#![allow(clippy::unwrap_used)]

mod engine_common;

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;

use engine_common::{concatenation, models_dir, pcm};
use mka1_models::ModelsDir;
use mka1_stt::wer::{normalize, word_errors};
use mka1_stt::{ModelId, PoolConfig, PoolError, SttError, TranscribeOptions, TranscriptionPool};

fn english() -> TranscribeOptions {
    TranscribeOptions {
        language: Some("en".into()),
        ..Default::default()
    }
}

fn pool(workers: usize, queue_capacity: usize) -> Arc<TranscriptionPool> {
    Arc::new(
        TranscriptionPool::new(PoolConfig {
            workers,
            queue_capacity,
            ..PoolConfig::new(models_dir().clone())
        })
        .unwrap(),
    )
}

/// Polls `fut` once (which submits its job) and drops it, as a disconnecting client does.
async fn submit_and_abandon(fut: impl Future) {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        assert!(fut.as_mut().poll(cx).is_pending());
        Poll::Ready(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submissions_beyond_capacity_are_refused_and_the_rest_are_right() {
    let pool = pool(1, 2);
    let p = Arc::clone(&pool);
    tokio::task::spawn_blocking(move || p.preload(&[ModelId::TinyEn]))
        .await
        .unwrap()
        .unwrap();
    let audio = pcm("librivox/sense-0920.wav");
    let reference = normalize(
        "had he married a more a amiable woman he might have been made still more respectable than he was",
    );
    let job = || pool.transcribe(ModelId::TinyEn, audio.clone(), english());
    // `join!` polls each in turn at once: eight submissions within microseconds, while
    // one job takes a good fraction of a second.
    let results = tokio::join!(job(), job(), job(), job(), job(), job(), job(), job());
    let results = [
        results.0, results.1, results.2, results.3, results.4, results.5, results.6, results.7,
    ];
    let (mut ok, mut refused) = (0, 0);
    for r in results {
        match r {
            Ok(t) => {
                let errors = word_errors(&reference, &normalize(&t.text));
                assert!(errors * 10 <= reference.len(), "{}", t.text);
                ok += 1;
            }
            Err(PoolError::Overloaded { retry_after_secs }) => {
                assert!(retry_after_secs >= 1);
                refused += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    // Two queued, plus the one the worker may already have taken.
    assert!((2..=3).contains(&ok), "{ok} accepted");
    assert_eq!(ok + refused, 8);
    let stats = pool.stats();
    assert_eq!(stats.rejected, refused as u64);
    assert_eq!(stats.completed, ok as u64);
    assert_eq!((stats.queue_depth, stats.in_flight), (0, 0));
    assert!(
        stats.audio_seconds > 11.0 && stats.compute_seconds > 0.0,
        "{stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_job_whose_caller_left_is_skipped() {
    let pool = pool(1, 4);
    let (long, _) = concatenation(20.0, 300);
    let p = Arc::clone(&pool);
    let first = tokio::spawn(async move { p.transcribe(ModelId::TinyEn, long, english()).await });
    // Wait until the worker is busy with it (loading the model, then decoding 20 s).
    while pool.in_flight() == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    submit_and_abandon(pool.transcribe(ModelId::TinyEn, pcm("librivox/sense-0880.wav"), english()))
        .await;
    assert_eq!(pool.queue_depth(), 1);
    let third = pool
        .transcribe(ModelId::TinyEn, pcm("librivox/sense-0930.wav"), english())
        .await
        .unwrap();
    assert_eq!(
        normalize(&third.text),
        normalize("he might even have been made amiable himself")
    );
    first.await.unwrap().unwrap();
    let stats = pool.stats();
    assert_eq!((stats.skipped, stats.completed), (1, 2), "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_load_once_and_are_shared_with_streaming() {
    let pool = pool(2, 8);
    assert!(pool.loaded_models().is_empty());
    let (t, stats) = pool
        .transcribe_with_stats(ModelId::TinyEn, pcm("goforward-16k.raw"), english())
        .await
        .unwrap();
    assert_eq!(normalize(&t.text), normalize("go forward ten meters"));
    assert!((stats.audio_seconds - 2.786).abs() < 0.01, "{stats:?}");
    assert!(stats.compute_seconds > 0.0 && stats.real_time_factor() > 0.0);
    assert_eq!(pool.loaded_models(), [ModelId::TinyEn]);
    let p = Arc::clone(&pool);
    let (a, b) = tokio::task::spawn_blocking(move || {
        (
            p.model(ModelId::TinyEn).unwrap(),
            p.model(ModelId::TinyEn).unwrap(),
        )
    })
    .await
    .unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(pool.loaded_models(), [ModelId::TinyEn]);
}

#[tokio::test]
async fn a_missing_model_is_a_typed_error() {
    let empty = tempfile::tempdir().unwrap();
    let pool = TranscriptionPool::new(PoolConfig::new(ModelsDir::new(empty.path()))).unwrap();
    let err = pool
        .transcribe(
            ModelId::Base,
            vec![0.0; 16_000],
            TranscribeOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PoolError::Stt(SttError::NotInstalled {
                model: ModelId::Base,
                ..
            })
        ),
        "{err}"
    );
    assert_eq!(pool.stats().failed, 1);
    assert!(pool.loaded_models().is_empty());
}
