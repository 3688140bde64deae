//! Fuzz target `view`: raw bytes through `MessageView::parse` and feature extraction, under the
//! shipped model's `ViewLimits` and under tiny limits (so the truncation paths — text cut at a
//! character boundary, parts and depth caps, URL and address caps, the parse-byte cut — run on
//! almost every input).
//!
//! Checks: no panic; the view within its limits; a view reused through `parse_into` after
//! another message equals a fresh one (no state leaks through its buffers); the feature vector's
//! buckets ascending, unique and in range, its values finite, and its size bounded by the
//! view's text (a normalised character starts at most a word and a typed token, each giving at
//! most itself and a bigram; NFKC lengthens text at most 18-fold).

#![no_main]

use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use sendguard::cues::Cue;
use sendguard::features::{FeatureScratch, FeatureVector};
use sendguard::{Classifier, MessageView, ViewLimits};

fn classifier() -> &'static Classifier {
    static CLASSIFIER: OnceLock<Classifier> = OnceLock::new();
    CLASSIFIER.get_or_init(|| {
        Classifier::from_bytes(include_bytes!("../../models/default.sgm"))
            .expect("the shipped model loads")
    })
}

/// A view reused from one input to the next, as the hot path reuses its per-thread view.
fn reused() -> &'static Mutex<MessageView> {
    static VIEW: OnceLock<Mutex<MessageView>> = OnceLock::new();
    VIEW.get_or_init(|| Mutex::new(MessageView::default()))
}

const TINY: ViewLimits = ViewLimits {
    max_text_bytes: 61,
    max_parts: 3,
    max_depth: 1,
    max_urls: 2,
    max_emails: 1,
    max_parse_bytes: 1000,
};

/// Everything public in a view, for comparing two of them.
fn fields(v: &MessageView) -> impl PartialEq + std::fmt::Debug + '_ {
    (
        (
            &v.message_id,
            &v.subject,
            &v.from_name,
            &v.from_address,
            &v.reply_to,
        ),
        (v.to_count, v.cc_count, v.bcc_count, v.truncated),
        (&v.text, &v.urls, &v.emails, &v.attachments),
    )
}

fn check(data: &[u8], limits: &ViewLimits) {
    let blank = data.iter().all(u8::is_ascii_whitespace);
    let view = match MessageView::parse(data, limits) {
        Ok(view) => view,
        Err(e) => {
            assert!(blank, "non-blank input refused: {e}");
            return;
        }
    };
    assert!(!blank, "blank input parsed");
    assert!(
        view.text.len() <= limits.max_text_bytes,
        "text {} bytes",
        view.text.len()
    );
    assert!(
        view.urls.len() <= limits.max_urls,
        "{} urls",
        view.urls.len()
    );
    assert!(
        view.emails.len() <= limits.max_emails,
        "{} emails",
        view.emails.len()
    );
    assert!(
        view.reply_to.len() <= limits.max_emails,
        "{} reply-to",
        view.reply_to.len()
    );
    assert!(
        view.attachments.len() <= limits.max_parts,
        "{} attachments",
        view.attachments.len()
    );
    if data.len() > limits.max_parse_bytes {
        assert!(
            view.truncated,
            "input cut at max_parse_bytes but not marked truncated"
        );
    }

    let mut again = reused().lock().unwrap_or_else(|e| e.into_inner());
    again.parse_into(data, limits).expect("parsed once already");
    assert_eq!(
        fields(&again),
        fields(&view),
        "reused view differs from a fresh one"
    );
    drop(again);

    let extractor = classifier().extractor();
    let mut vector = FeatureVector::default();
    extractor.extract(&view, &mut FeatureScratch::default(), &mut vector);
    let chars =
        view.subject.chars().count() + view.from_name.chars().count() + view.text.chars().count();
    let bound = 4 * 18 * chars
        + view.urls.len()
        + view.emails.len()
        + view.reply_to.len()
        + 2 * view.attachments.len()
        + Cue::ALL.len();
    assert!(
        vector.entries.len() <= bound.min(extractor.buckets()),
        "{} entries, bound {bound}",
        vector.entries.len()
    );
    assert!(
        vector.entries.windows(2).all(|w| w[0].0 < w[1].0),
        "buckets not ascending"
    );
    assert!(vector
        .entries
        .iter()
        .all(|&(b, v)| (b as usize) < extractor.buckets() && v.is_finite()));
}

fuzz_target!(|data: &[u8]| {
    check(data, &classifier().model_file().limits);
    check(data, &TINY);
});
