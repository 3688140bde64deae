//! Fuzz target `score`: raw bytes through the whole scoring path of the shipped model
//! (`models/default.sgm`, loaded once) — `Classifier::score` (the fast path with per-thread
//! buffers reused from the previous input) and `Classifier::explain` (fresh buffers).
//!
//! Checks, besides "no panic, no hang, no runaway memory" (libFuzzer's `-timeout` and
//! `-rss_limit_mb`):
//! - only blank input is refused, and only as `Error::Message`;
//! - logits, probabilities and suspicion are finite, probabilities lie in [0, 1] and sum to 1;
//! - the view stays within the model's `ViewLimits` (text, URLs, addresses, parts);
//! - the fast path and the fresh path agree exactly (scores, decision, Message-ID), so no state
//!   leaks from one message to the next through the reused buffers;
//! - `explain(_, 5)` gives at most 5 reasons, each named and finite.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sendguard::{Classifier, Error, MessageView, Scores, ViewLimits};

fn classifier() -> &'static Classifier {
    static CLASSIFIER: OnceLock<Classifier> = OnceLock::new();
    CLASSIFIER.get_or_init(|| {
        Classifier::from_bytes(include_bytes!("../../models/default.sgm"))
            .expect("the shipped model loads")
    })
}

fn check_scores(s: &Scores) {
    assert!(
        s.logits.iter().all(|l| l.is_finite()),
        "logits {:?}",
        s.logits
    );
    let p = s.probabilities();
    assert!(
        p.iter().all(|x| (0.0..=1.0).contains(x)),
        "probabilities {p:?}"
    );
    let sum: f32 = p.iter().sum();
    assert!((sum - 1.0).abs() <= 1e-4, "probabilities sum to {sum}");
    assert!(s.suspicion().is_finite(), "suspicion of {:?}", s.logits);
}

fn check_view(v: &MessageView, l: &ViewLimits) {
    assert!(
        v.text.len() <= l.max_text_bytes,
        "text {} bytes",
        v.text.len()
    );
    assert!(v.urls.len() <= l.max_urls, "{} urls", v.urls.len());
    assert!(v.emails.len() <= l.max_emails, "{} emails", v.emails.len());
    assert!(
        v.reply_to.len() <= l.max_emails,
        "{} reply-to",
        v.reply_to.len()
    );
    assert!(
        v.attachments.len() <= l.max_parts,
        "{} attachments",
        v.attachments.len()
    );
}

fuzz_target!(|data: &[u8]| {
    let c = classifier();
    let limits = &c.model_file().limits;
    let blank = data.iter().all(u8::is_ascii_whitespace);

    let fast = c.score_with(data, |view, scores, decision| {
        check_view(view, limits);
        (scores, decision, view.message_id.clone())
    });
    let explained = c.explain(data, 5);
    match (fast, explained) {
        (Ok((scores, decision, message_id)), Ok(e)) => {
            assert!(!blank, "blank input was scored");
            check_scores(&scores);
            assert_eq!(scores, e.scores, "fast path and explain disagree");
            assert_eq!(decision, e.decision, "fast path and explain disagree");
            assert_eq!(message_id, e.message_id);
            assert!(e.reasons.len() <= 5, "{} reasons", e.reasons.len());
            for r in &e.reasons {
                assert!(!r.feature.is_empty() && r.contribution.is_finite(), "{r:?}");
            }
        }
        (Err(Error::Message(_)), Err(Error::Message(_))) => {
            assert!(blank, "non-blank input refused");
        }
        (a, b) => panic!(
            "score and explain differ or fail oddly: {:?} / {:?}",
            a.map(|_| ()),
            b.map(|_| ())
        ),
    }
});
