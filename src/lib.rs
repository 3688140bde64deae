#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod campaign;
mod civil;
pub mod corpus;
pub mod cues;
pub mod features;
pub mod message;
#[cfg(feature = "milter")]
pub mod milter;
pub mod model;
pub mod policy;
pub mod replay;
pub mod tokenize;

use std::cell::RefCell;
use std::path::{Path, PathBuf};

pub use crate::message::{MessageView, ViewLimits};
pub use crate::model::{Class, Scores};
pub use crate::policy::{Decision, Thresholds, Verdict};

use crate::features::{FeatureExtractor, FeatureScratch, FeatureVector};
use crate::model::file::{ModelFile, ModelFileError};
use crate::model::CompiledModel;
use crate::tokenize::Tokenizer;

/// Errors of the public API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model file could not be used.
    #[error(transparent)]
    Model(#[from] ModelFileError),
    /// The message could not be read as mail.
    #[error("unreadable message: {0}")]
    Message(#[from] message::MessageError),
    /// No model was given and the default model was not found.
    #[error("no model given and the default model was not found (looked in: {0})")]
    NoDefaultModel(String),
}

/// One reason for a verdict: a feature and how much it pushed toward the flagged class (log-odds).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Reason {
    /// Feature name, e.g. `cue:large-sum+free-mail-contact` or `b:western union`.
    pub feature: String,
    /// Contribution to the log-odds of the explained class against ham.
    pub contribution: f32,
}

/// A scored message: class scores, the decision and (when asked for) the reasons.
#[derive(Clone, Debug)]
pub struct Verdicted {
    /// Per-class scores.
    pub scores: Scores,
    /// What to do and why in one number.
    pub decision: Decision,
    /// The message's Message-ID, if it has one.
    pub message_id: Option<String>,
    /// Top features toward the decision's class (empty unless explained).
    pub reasons: Vec<Reason>,
}

/// Per-thread buffers of the fast path.
#[derive(Default)]
struct Scratch {
    view: MessageView,
    features: FeatureScratch,
    vector: FeatureVector,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// A loaded model, ready to score mail. `Send + Sync`: load once, share between threads.
#[derive(Clone, Debug)]
pub struct Classifier {
    model: CompiledModel,
    extractor: FeatureExtractor,
    limits: ViewLimits,
    file: std::sync::Arc<ModelFile>,
}

impl Classifier {
    /// A classifier from a checked model file.
    pub fn from_model_file(file: ModelFile) -> Result<Self, Error> {
        file.check()?;
        let model = file.compile()?;
        let extractor = FeatureExtractor::new(
            file.features.clone(),
            Tokenizer::new(file.tokenizer.clone()),
        );
        Ok(Classifier {
            model,
            extractor,
            limits: file.limits.clone(),
            file: std::sync::Arc::new(file),
        })
    }

    /// Loads a model file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        Classifier::from_model_file(ModelFile::read(path)?)
    }

    /// Loads a model from its bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        Classifier::from_model_file(ModelFile::from_bytes(bytes)?)
    }

    /// Loads the shipped default model (see [`default_model_path`]).
    pub fn load_default() -> Result<Self, Error> {
        Classifier::load(&default_model_path()?)
    }

    /// The model file this classifier was built from.
    pub fn model_file(&self) -> &ModelFile {
        &self.file
    }

    /// The compiled model.
    pub fn model(&self) -> &CompiledModel {
        &self.model
    }

    /// The feature extractor.
    pub fn extractor(&self) -> &FeatureExtractor {
        &self.extractor
    }

    /// Scores a raw RFC 5322 message: the fast path (per-thread buffers, no explanation).
    ///
    /// ```
    /// use sendguard::{Classifier, Verdict};
    ///
    /// let classifier = Classifier::load_default()?;
    /// let lunch = b"From: Ann <ann@northwind.example.org>\nSubject: lunch\n\nSee you at noon at the usual place.\n";
    /// assert_eq!(classifier.score(lunch)?.decision.verdict, Verdict::Pass);
    /// # Ok::<(), sendguard::Error>(())
    /// ```
    pub fn score(&self, raw: &[u8]) -> Result<Verdicted, Error> {
        self.score_with(raw, |view, scores, decision| Verdicted {
            scores,
            decision,
            message_id: view.message_id.clone(),
            reasons: Vec::new(),
        })
    }

    /// The fast path, handing the parsed view, the scores and the decision to `f` (so a caller
    /// can read the sender or the subject without parsing twice or copying the view).
    ///
    /// The view lives in a per-thread buffer: `f` must not call back into this classifier's
    /// scoring methods (that would panic on the buffer's borrow).
    ///
    /// ```
    /// use sendguard::{Classifier, Verdict};
    ///
    /// let classifier = Classifier::load_default()?;
    /// let lunch = b"From: Ann <ann@northwind.example.org>\nSubject: lunch\n\nSee you at noon at the usual place.\n";
    /// let (sender, verdict) = classifier.score_with(lunch, |view, _scores, decision| {
    ///     (view.from_address.clone(), decision.verdict)
    /// })?;
    /// assert_eq!((sender.as_str(), verdict), ("ann@northwind.example.org", Verdict::Pass));
    /// # Ok::<(), sendguard::Error>(())
    /// ```
    pub fn score_with<R>(
        &self,
        raw: &[u8],
        f: impl FnOnce(&MessageView, Scores, Decision) -> R,
    ) -> Result<R, Error> {
        SCRATCH.with(|cell| {
            let mut guard = cell.borrow_mut();
            let s = &mut *guard;
            s.view.parse_into(raw, &self.limits)?;
            self.extractor
                .extract(&s.view, &mut s.features, &mut s.vector);
            let scores = self.model.score(&s.vector);
            let decision = policy::decide(&scores, self.model.thresholds());
            Ok(f(&s.view, scores, decision))
        })
    }

    /// Scores a parsed message view (used by training and evaluation).
    pub fn score_view(&self, view: &MessageView) -> Scores {
        SCRATCH.with(|cell| {
            let mut guard = cell.borrow_mut();
            let s = &mut *guard;
            self.extractor.extract(view, &mut s.features, &mut s.vector);
            self.model.score(&s.vector)
        })
    }

    /// Scores and explains: the `top` features that pushed most toward the decision's class
    /// (toward ham when the message is ham).
    ///
    /// ```
    /// use sendguard::{Class, Classifier, Verdict};
    ///
    /// let classifier = Classifier::load_default()?;
    /// let letter = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/data/examples/scam-compensation.eml")).unwrap();
    /// let v = classifier.explain(&letter, 5)?;
    /// assert!(v.decision.verdict >= Verdict::Hold);
    /// assert_eq!(v.decision.flagged_class, Class::Fraud);
    /// assert!(v.reasons[0].contribution > 0.0);
    /// # Ok::<(), sendguard::Error>(())
    /// ```
    pub fn explain(&self, raw: &[u8], top: usize) -> Result<Verdicted, Error> {
        let view = MessageView::parse(raw, &self.limits)?;
        let mut scratch = FeatureScratch::default();
        let mut vector = FeatureVector::default();
        self.extractor.extract(&view, &mut scratch, &mut vector);
        let scores = self.model.score(&vector);
        let decision = policy::decide(&scores, self.model.thresholds());
        let target = decision.flagged_class.index();
        // Rank the buckets by contribution first, then name only the top ones.
        let mut ranked: Vec<(u32, f32)> = vector
            .entries
            .iter()
            .map(|&(b, v)| {
                let w = self.model.weights(b);
                (b, v * (w[target] - w[0]))
            })
            .collect();
        let toward_ham = decision.class == Class::Ham;
        ranked.sort_by(|a, b| {
            if toward_ham {
                a.1.total_cmp(&b.1)
            } else {
                b.1.total_cmp(&a.1)
            }
        });
        ranked.truncate(top);
        // Each bucket is named by the first feature that fell into it.
        let mut names: Vec<Option<String>> = vec![None; ranked.len()];
        self.extractor.for_each_named(&view, |b, n| {
            if let Some(k) = ranked.iter().position(|r| r.0 == b) {
                names[k].get_or_insert_with(|| n.to_string());
            }
        });
        let reasons: Vec<Reason> = ranked
            .iter()
            .zip(names)
            .filter_map(|(&(_, contribution), name)| {
                Some(Reason {
                    feature: name?,
                    contribution,
                })
            })
            .collect();
        Ok(Verdicted {
            scores,
            decision,
            message_id: view.message_id.clone(),
            reasons,
        })
    }
}

/// Where the default model is looked for, in order: `$SENDGUARD_MODEL`; `default.sgm` beside the
/// executable; `../share/sendguard/default.sgm` relative to the executable's directory;
/// `models/default.sgm` in the source tree this crate was built from (so `cargo run` works
/// in a checkout); `/usr/share/sendguard/default.sgm`.
pub fn default_model_candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("SENDGUARD_MODEL") {
        out.push(PathBuf::from(p));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        out.push(dir.join("default.sgm"));
        out.push(dir.join("../share/sendguard/default.sgm"));
    }
    out.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default.sgm"));
    out.push(PathBuf::from("/usr/share/sendguard/default.sgm"));
    out
}

/// The first existing default model path (see [`default_model_candidates`]). When
/// `$SENDGUARD_MODEL` is set, it is the only candidate: a typo there must not quietly load
/// another model.
pub fn default_model_path() -> Result<PathBuf, Error> {
    if let Some(p) = std::env::var_os("SENDGUARD_MODEL") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(Error::NoDefaultModel(format!(
                "$SENDGUARD_MODEL={}",
                p.display()
            )))
        };
    }
    let candidates = default_model_candidates();
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            Error::NoDefaultModel(
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })
}
