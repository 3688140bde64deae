//! Training: corpus → the same features as scoring → linfa trainers → one compiled linear model.
//!
//! Two linfa trainers, both linear in the features, blended into one table:
//! - `linfa_bayes::MultinomialNb`, fitted with `fit_with` over dense batches of the buckets kept
//!   by feature selection; its weights (per-class log θ and log prior) are read back through serde,
//!   the only way linfa exposes them. `predict_log_proba` is never used (it overflows).
//! - `linfa_logistic::MultiLogisticRegression` (softmax, L2) on a smaller set of the most
//!   informative buckets, so its dense design matrix stays within a couple of GB.
//!
//! Feature selection: buckets seen in at least `min_df` training messages, ranked by the largest
//! one-class-against-the-rest χ² of their document frequencies. Cue buckets are always kept.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use linfa::prelude::*;
use linfa_bayes::MultinomialNbParams;
use linfa_logistic::MultiLogisticRegression;
use ndarray::{Array1, Array2};
use rayon::prelude::*;

use super::eval::threshold_for_fpr;
use super::file::{ModelFile, ModelInfo};
use super::ftrl::{train_ftrl_bagged, FtrlParams};
use super::report::{evaluate, EvalReport};
use super::{Class, CompiledModel, Scores, NUM_CLASSES};
use crate::corpus::{labelled_sources, open_input, CorpusError, ReadLimits};
use crate::cues::Cue;
use crate::features::{FeatureConfig, FeatureExtractor, FeatureScratch, FeatureVector};
use crate::message::{MessageView, ViewLimits};
use crate::policy::{Level, Thresholds};
use crate::tokenize::{Tokenizer, TokenizerConfig};

/// Training failures.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A class has no training messages.
    #[error("no training messages for class {0}")]
    EmptyClass(&'static str),
    /// linfa refused the data or parameters.
    #[error("linfa {trainer}: {message}")]
    Linfa {
        /// Which trainer.
        trainer: &'static str,
        /// What it said.
        message: String,
    },
    /// Reading the training data failed.
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    /// Thresholds are chosen on dev ham, and there is none.
    #[error("the dev data holds no ham: thresholds are chosen on dev ham")]
    NoDevHam,
    /// A labelled source names a class sendguard does not know.
    #[error("{}: unknown class {name:?} (expected ham, spam, phishing or fraud)", path.display())]
    UnknownClass {
        /// The class name found.
        name: String,
        /// Where it was found.
        path: PathBuf,
    },
    /// The fitted Naive Bayes model did not have the expected serialised form.
    #[error("cannot read Naive Bayes weights back: {0}")]
    NbWeights(String),
}

/// Hyper-parameters of training.
///
/// | name | default | purpose |
/// |---|---|---|
/// | `min_df` | 3 | a bucket must occur in this many training messages to be kept |
/// | `nb_features` | 120 000 | buckets given to Naive Bayes |
/// | `lr_features` | 16 000 | buckets given to logistic regression |
/// | `nb_alpha` | 0.1 | Lidstone smoothing of Naive Bayes |
/// | `lr_alpha` | 1.0 | L2 penalty of logistic regression (on the summed loss) |
/// | `lr_iterations` | 150 | L-BFGS iterations |
/// | `batch` | 2 000 | rows per dense Naive Bayes batch |
/// | `ftrl` | see [`FtrlParams`] | the sparse trainer |
#[derive(Clone, Debug)]
pub struct TrainParams {
    /// Minimum document frequency of a kept bucket.
    pub min_df: u32,
    /// Buckets given to Naive Bayes.
    pub nb_features: usize,
    /// Buckets given to logistic regression.
    pub lr_features: usize,
    /// Naive Bayes smoothing.
    pub nb_alpha: f32,
    /// Logistic regression L2 penalty.
    pub lr_alpha: f32,
    /// Logistic regression iterations.
    pub lr_iterations: u64,
    /// Naive Bayes batch size.
    pub batch: usize,
    /// The sparse FTRL trainer's parameters.
    pub ftrl: FtrlParams,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            min_df: 3,
            nb_features: 120_000,
            lr_features: 16_000,
            nb_alpha: 0.1,
            lr_alpha: 1.0,
            lr_iterations: 150,
            batch: 2_000,
            ftrl: FtrlParams::default(),
        }
    }
}

/// One labelled, featurised message.
#[derive(Clone, Debug)]
pub struct Example {
    /// Its class.
    pub class: Class,
    /// Its features.
    pub vector: FeatureVector,
}

/// Featurises raw messages in parallel; messages that do not parse are counted and skipped.
pub fn featurize(
    extractor: &FeatureExtractor,
    limits: &ViewLimits,
    messages: Vec<(Class, Vec<u8>)>,
) -> (Vec<Example>, usize) {
    let out: Vec<Option<Example>> = messages
        .into_par_iter()
        .map_init(
            || (MessageView::default(), FeatureScratch::default()),
            |(view, scratch), (class, raw)| {
                view.parse_into(&raw, limits).ok()?;
                let mut vector = FeatureVector::default();
                extractor.extract(view, scratch, &mut vector);
                Some(Example { class, vector })
            },
        )
        .collect();
    let skipped = out.iter().filter(|e| e.is_none()).count();
    (out.into_iter().flatten().collect(), skipped)
}

/// Buckets ranked for selection: (bucket, score), best first.
pub fn rank_buckets(examples: &[Example], min_df: u32) -> Vec<(u32, f64)> {
    let mut df: HashMap<u32, [u32; NUM_CLASSES]> = HashMap::new();
    let mut n = [0u64; NUM_CLASSES];
    for e in examples {
        n[e.class.index()] += 1;
        for &(b, _) in &e.vector.entries {
            df.entry(b).or_default()[e.class.index()] += 1;
        }
    }
    let total: u64 = n.iter().sum();
    let mut ranked: Vec<(u32, f64)> = df
        .into_iter()
        .filter(|(_, d)| d.iter().sum::<u32>() >= min_df)
        .map(|(b, d)| {
            let all: u64 = d.iter().map(|x| u64::from(*x)).sum();
            let best = (0..NUM_CLASSES)
                .map(|c| chi2(u64::from(d[c]), all - u64::from(d[c]), n[c], total - n[c]))
                .fold(0.0, f64::max);
            (b, best)
        })
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked
}

/// χ² of a 2×2 table: a = in class with feature, b = others with feature, out of n_in / n_out.
fn chi2(a: u64, b: u64, n_in: u64, n_out: u64) -> f64 {
    let (a, b, n_in, n_out) = (a as f64, b as f64, n_in as f64, n_out as f64);
    let c = n_in - a;
    let d = n_out - b;
    let n = n_in + n_out;
    let denom = n_in * n_out * (a + b) * (c + d);
    if denom <= 0.0 {
        return 0.0;
    }
    n * (a * d - b * c).powi(2) / denom
}

/// Chooses the top `k` buckets of a ranking, plus every cue bucket; sorted ascending.
pub fn select(ranked: &[(u32, f64)], k: usize, extractor: &FeatureExtractor) -> Vec<u32> {
    let mut chosen: Vec<u32> = ranked.iter().take(k).map(|(b, _)| *b).collect();
    chosen.extend(Cue::ALL.iter().map(|c| extractor.cue_bucket(*c)));
    chosen.sort_unstable();
    chosen.dedup();
    chosen
}

/// Dense rows of `examples` over the `selected` buckets.
fn dense(examples: &[Example], selected: &[u32]) -> Array2<f32> {
    let index: HashMap<u32, usize> = selected.iter().enumerate().map(|(i, b)| (*b, i)).collect();
    let mut x = Array2::<f32>::zeros((examples.len(), selected.len()));
    for (row, e) in examples.iter().enumerate() {
        for &(b, v) in &e.vector.entries {
            if let Some(&col) = index.get(&b) {
                x[[row, col]] += v;
            }
        }
    }
    x
}

fn targets(examples: &[Example]) -> Array1<usize> {
    examples.iter().map(|e| e.class.index()).collect()
}

/// Per-class weights over selected buckets and a per-class bias.
#[derive(Clone, Debug)]
pub struct LinearWeights {
    /// The buckets, ascending.
    pub buckets: Vec<u32>,
    /// One row of per-class weights per bucket.
    pub weights: Vec<[f32; NUM_CLASSES]>,
    /// Per-class bias.
    pub bias: [f32; NUM_CLASSES],
}

impl LinearWeights {
    /// The dense table the fast path uses; `None` if a bucket is out of range.
    pub fn compile(&self, buckets: usize, thresholds: Thresholds) -> Option<CompiledModel> {
        CompiledModel::from_sparse(
            buckets,
            self.buckets
                .iter()
                .copied()
                .zip(self.weights.iter().copied()),
            self.bias,
            thresholds,
        )
    }
}

/// Silences file descriptor 2 while alive: linfa-bayes `dbg!`s its whole state on every fit.
struct QuietStderr {
    saved: libc::c_int,
}

impl QuietStderr {
    fn new() -> Option<Self> {
        // SAFETY: plain POSIX fd calls on descriptors we own; on any failure nothing is changed.
        unsafe {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
            if null < 0 {
                return None;
            }
            let saved = libc::dup(2);
            if saved < 0 {
                libc::close(null);
                return None;
            }
            libc::dup2(null, 2);
            libc::close(null);
            Some(QuietStderr { saved })
        }
    }
}

impl Drop for QuietStderr {
    fn drop(&mut self) {
        // SAFETY: restores the descriptor saved in `new`.
        unsafe {
            libc::dup2(self.saved, 2);
            libc::close(self.saved);
        }
    }
}

/// Fits multinomial Naive Bayes over `selected` buckets with `fit_with` over batches.
pub fn train_nb(
    examples: &[Example],
    selected: &[u32],
    params: &TrainParams,
) -> Result<LinearWeights, TrainError> {
    let checked = MultinomialNbParams::<f32, usize>::new()
        .alpha(params.nb_alpha)
        .check()
        .map_err(|e| TrainError::Linfa {
            trainer: "MultinomialNb",
            message: e.to_string(),
        })?;
    let mut model = None;
    {
        let _quiet = QuietStderr::new();
        for chunk in examples.chunks(params.batch.max(1)) {
            let x = dense(chunk, selected);
            let y = targets(chunk);
            let ds = DatasetView::new(x.view(), y.view());
            model = Some(
                checked
                    .fit_with(model, &ds)
                    .map_err(|e| TrainError::Linfa {
                        trainer: "MultinomialNb",
                        message: e.to_string(),
                    })?,
            );
        }
    }
    let model = model.ok_or(TrainError::EmptyClass("ham"))?;
    // linfa exposes the fitted parameters only through serde.
    let value = serde_json::to_value(&model).map_err(|e| TrainError::NbWeights(e.to_string()))?;
    let info = value
        .get("class_info")
        .and_then(|v| v.as_object())
        .ok_or_else(|| TrainError::NbWeights("no class_info".into()))?;
    let mut log_prob: Vec<Vec<f32>> = vec![Vec::new(); NUM_CLASSES];
    let mut bias = [0.0f32; NUM_CLASSES];
    for class in Class::ALL {
        let entry = info
            .get(&class.index().to_string())
            .ok_or(TrainError::EmptyClass(class.name()))?;
        let prior = entry
            .get("prior")
            .and_then(|p| p.as_f64())
            .ok_or_else(|| TrainError::NbWeights("no prior".into()))?;
        bias[class.index()] = prior.ln() as f32;
        let flp = entry
            .get("feature_log_prob")
            .and_then(|a| a.get("data"))
            .and_then(|d| d.as_array())
            .ok_or_else(|| TrainError::NbWeights("no feature_log_prob".into()))?;
        log_prob[class.index()] = flp
            .iter()
            .map(|v| v.as_f64().unwrap_or(0.0) as f32)
            .collect();
        if log_prob[class.index()].len() != selected.len() {
            return Err(TrainError::NbWeights(
                "feature_log_prob has the wrong length".into(),
            ));
        }
    }
    // Centre each bucket's weights across classes: softmax does not change, the table is smaller.
    let weights = (0..selected.len())
        .map(|i| {
            let mut row = [0.0; NUM_CLASSES];
            for c in 0..NUM_CLASSES {
                row[c] = log_prob[c][i];
            }
            let mean = row.iter().sum::<f32>() / NUM_CLASSES as f32;
            row.map(|w| w - mean)
        })
        .collect();
    Ok(LinearWeights {
        buckets: selected.to_vec(),
        weights,
        bias,
    })
}

/// Fits softmax logistic regression over `selected` buckets.
pub fn train_lr(
    examples: &[Example],
    selected: &[u32],
    params: &TrainParams,
) -> Result<LinearWeights, TrainError> {
    for class in Class::ALL {
        if !examples.iter().any(|e| e.class == class) {
            return Err(TrainError::EmptyClass(class.name()));
        }
    }
    let x = dense(examples, selected);
    let y = targets(examples);
    let ds = Dataset::new(x, y);
    let fitted = MultiLogisticRegression::<f32>::default()
        .alpha(params.lr_alpha)
        .max_iterations(params.lr_iterations)
        .fit(&ds)
        .map_err(|e| TrainError::Linfa {
            trainer: "MultiLogisticRegression",
            message: e.to_string(),
        })?;
    // Columns of params() follow classes(), not necessarily our class order.
    let mut column = [usize::MAX; NUM_CLASSES];
    for (col, label) in fitted.classes().iter().enumerate() {
        if let Some(slot) = column.get_mut(*label) {
            *slot = col;
        }
    }
    let p = fitted.params();
    let intercept = fitted.intercept();
    let mut bias = [0.0; NUM_CLASSES];
    let mut weights = vec![[0.0; NUM_CLASSES]; selected.len()];
    for c in 0..NUM_CLASSES {
        let col = column[c];
        if col == usize::MAX {
            return Err(TrainError::EmptyClass(Class::ALL[c].name()));
        }
        bias[c] = intercept[col];
        for (i, row) in weights.iter_mut().enumerate() {
            row[c] = p[[i, col]];
        }
    }
    Ok(LinearWeights {
        buckets: selected.to_vec(),
        weights,
        bias,
    })
}

/// `lr + nb_weight · nb` as one table over `buckets` buckets.
pub fn blend(
    lr: &LinearWeights,
    nb: &LinearWeights,
    nb_weight: f32,
    buckets: usize,
    thresholds: Thresholds,
) -> Option<CompiledModel> {
    let mut rows: HashMap<u32, [f32; NUM_CLASSES]> = HashMap::new();
    for (b, w) in lr.buckets.iter().zip(&lr.weights) {
        *rows.entry(*b).or_default() = *w;
    }
    if nb_weight != 0.0 {
        for (b, w) in nb.buckets.iter().zip(&nb.weights) {
            let row = rows.entry(*b).or_default();
            for c in 0..NUM_CLASSES {
                row[c] += nb_weight * w[c];
            }
        }
    }
    let mut bias = lr.bias;
    for (b, n) in bias.iter_mut().zip(nb.bias) {
        *b += nb_weight * n;
    }
    CompiledModel::from_sparse(buckets, rows, bias, thresholds)
}

/// How far (in log-odds) the fraud reject bound stays above the fraud hold bound.
pub const REJECT_FRAUD_MARGIN: f32 = 3.0;

/// Thresholds at ham false-positive rates 1 % (tag), 0.1 % (hold) and 0.01 % (reject), from the
/// scores of dev ham. For each level, the fraud bound takes at most a quarter of the level's
/// budget of ham on the fraud odds; the suspicion bound then takes what is left, counting only
/// ham the fraud bound did not already flag, so each level flags at most its share of ham.
/// (With half, on 2,466 dev ham the fraud bound took one of the two ham the hold level may flag
/// and pushed the suspicion bound up to the reject bound.)
pub fn choose_thresholds(ham: &[Scores]) -> Thresholds {
    let n = ham.len();
    let fraud_odds: Vec<f32> = ham.iter().map(|s| s.odds_vs_ham(Class::Fraud)).collect();
    let level = |fpr: f64| {
        let fraud = threshold_for_fpr(&fraud_odds, fpr / 4.0);
        let rest: Vec<f32> = ham
            .iter()
            .zip(&fraud_odds)
            .filter(|(_, f)| **f < fraud)
            .map(|(s, _)| s.suspicion())
            .collect();
        let budget = ((fpr * n as f64) + 1e-9).floor() as usize;
        let left = budget.saturating_sub(n - rest.len());
        let suspicion = if rest.is_empty() {
            f32::MAX
        } else {
            threshold_for_fpr(&rest, left as f64 / rest.len() as f64)
        };
        Level {
            suspicion: suspicion.min(f32::MAX),
            fraud: fraud.min(f32::MAX),
        }
    };
    let tag = level(0.01);
    let mut hold = level(0.001);
    let mut reject = level(0.0001);
    // Keep the levels ordered, field by field.
    hold.suspicion = hold.suspicion.max(tag.suspicion);
    hold.fraud = hold.fraud.max(tag.fraud);
    reject.suspicion = reject.suspicion.max(hold.suspicion);
    // Dev ham holds no legitimate letter about estates or transfers, so its fraud odds put the
    // hold and reject bounds at the same place; reject only well beyond hold instead, so that a
    // borderline letter is held for a person to look at rather than bounced.
    reject.fraud = reject.fraud.max(hold.fraud + REJECT_FRAUD_MARGIN);
    Thresholds { tag, hold, reject }
}

/// Labelled raw messages.
pub type Labelled = Vec<(Class, Vec<u8>)>;

/// Reads a labelled directory (CLASS.mbox[.gz] files or CLASS/ directories) into messages.
/// Returns the messages and how many were skipped as unreadable or over-size.
pub fn read_labelled(dir: &Path, limits: &ReadLimits) -> Result<(Labelled, usize), TrainError> {
    let mut out = Vec::new();
    let mut skipped = 0;
    for (name, path) in labelled_sources(dir)? {
        let class = Class::from_name(&name).ok_or_else(|| TrainError::UnknownClass {
            name: name.clone(),
            path: path.clone(),
        })?;
        for msg in open_input(&path.to_string_lossy(), limits)? {
            match msg {
                Ok(m) => out.push((class, m.bytes)),
                Err(CorpusError::TooLarge { .. }) => skipped += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok((out, skipped))
}

/// One trained candidate and how it did on dev.
#[derive(Debug, serde::Serialize)]
pub struct Candidate {
    /// What trained it.
    pub trainer: String,
    /// Its dev figures (thresholds chosen on the same dev ham).
    pub dev_report: EvalReport,
    /// Objective: dev TPR at ham FPR 0.1 % of any non-ham plus that of fraud.
    pub objective: f64,
}

/// What training produced.
#[derive(Debug)]
pub struct Trained {
    /// The model, thresholds set: the candidate with the best dev objective.
    pub file: ModelFile,
    /// Evaluation of the shipped model on dev at the stored thresholds.
    pub dev_report: EvalReport,
    /// Every candidate, including the linfa baselines.
    pub candidates: Vec<Candidate>,
    /// Training messages per class, in class order.
    pub train_counts: [usize; NUM_CLASSES],
    /// Messages that could not be parsed and were left out (training, dev).
    pub unparsable: (usize, usize),
}

/// Trains a model. Three candidates are trained on the same features: linfa Naive Bayes, linfa
/// logistic regression blended with Naive Bayes (blend weight chosen on dev), and the sparse
/// FTRL logistic regression; the one with the best dev objective ships, with thresholds chosen
/// on the dev ham. Without `dev`, every fifth training message is held out as dev. `log`
/// receives one line per step.
pub fn train(
    train: Vec<(Class, Vec<u8>)>,
    dev: Option<Vec<(Class, Vec<u8>)>>,
    params: &TrainParams,
    log: &mut dyn FnMut(&str),
) -> Result<Trained, TrainError> {
    let tokenizer = TokenizerConfig::default();
    let features = FeatureConfig::default();
    let limits = ViewLimits::default();
    let extractor = FeatureExtractor::new(features.clone(), Tokenizer::new(tokenizer.clone()));
    let started = std::time::Instant::now();
    let elapsed = || started.elapsed().as_secs_f32();
    let (train, dev) = match dev {
        Some(dev) => (train, dev),
        None => {
            log("no dev data given: holding out every fifth training message as dev");
            let (mut kept, mut held) = (Vec::new(), Vec::new());
            for (i, m) in train.into_iter().enumerate() {
                if i % 5 == 4 {
                    held.push(m)
                } else {
                    kept.push(m)
                }
            }
            (kept, held)
        }
    };

    let (examples, bad_train) = featurize(&extractor, &limits, train);
    let (dev, bad_dev) = featurize(&extractor, &limits, dev);
    let mut train_counts = [0; NUM_CLASSES];
    for e in &examples {
        train_counts[e.class.index()] += 1;
    }
    log(&format!(
        "featurised {} training messages ({bad_train} unparsable) and {} dev messages at {:.1}s: {:?}",
        examples.len(),
        dev.len(),
        elapsed(),
        train_counts
    ));
    if !dev.iter().any(|e| e.class == Class::Ham) {
        return Err(TrainError::NoDevHam);
    }
    let buckets = extractor.buckets();
    let zero = Level {
        suspicion: 0.0,
        fraud: 0.0,
    };
    let placeholder = Thresholds {
        tag: zero,
        hold: zero,
        reject: zero,
    };
    let judge = |m: &CompiledModel| -> (EvalReport, f64) {
        let scored: Vec<(Class, Scores)> =
            dev.iter().map(|e| (e.class, m.score(&e.vector))).collect();
        let ham: Vec<Scores> = scored
            .iter()
            .filter(|(c, _)| *c == Class::Ham)
            .map(|(_, s)| *s)
            .collect();
        let thresholds = choose_thresholds(&ham);
        let r = evaluate(&scored, &thresholds);
        let objective = r
            .get("any non-ham vs ham")
            .map_or(0.0, |b| b.tpr_at_fpr_0_1pct)
            + r.get("fraud vs ham").map_or(0.0, |b| b.tpr_at_fpr_0_1pct);
        (r, objective)
    };
    let out_of_range = || TrainError::NbWeights("bucket out of range".into());
    let mut models: Vec<(String, CompiledModel)> = Vec::new();

    let ranked = rank_buckets(&examples, params.min_df);
    let nb_sel = select(&ranked, params.nb_features, &extractor);
    let nb = train_nb(&examples, &nb_sel, params)?;
    log(&format!(
        "linfa MultinomialNb on {} buckets done at {:.1}s",
        nb_sel.len(),
        elapsed()
    ));
    models.push((
        format!(
            "linfa MultinomialNb (alpha {}, {} buckets)",
            params.nb_alpha,
            nb_sel.len()
        ),
        nb.compile(buckets, placeholder).ok_or_else(out_of_range)?,
    ));

    if params.lr_iterations > 0 {
        let lr_sel = select(&ranked, params.lr_features, &extractor);
        let lr = train_lr(&examples, &lr_sel, params)?;
        log(&format!(
            "linfa MultiLogisticRegression on {} buckets done at {:.1}s",
            lr_sel.len(),
            elapsed()
        ));
        let mut best: Option<(f64, f32)> = None;
        for w in [0.0f32, 0.05, 0.1, 0.2, 0.5, 1.0] {
            let m = blend(&lr, &nb, w, buckets, placeholder).ok_or_else(out_of_range)?;
            let (_, objective) = judge(&m);
            if best.is_none_or(|b| objective > b.0) {
                best = Some((objective, w));
            }
        }
        let w = best.map_or(0.0, |b| b.1);
        models.push((
            format!(
                "linfa MultiLogisticRegression (alpha {}, {} iterations, {} buckets) + {w} x linfa MultinomialNb",
                params.lr_alpha,
                params.lr_iterations,
                lr_sel.len()
            ),
            blend(&lr, &nb, w, buckets, placeholder).ok_or_else(out_of_range)?,
        ));
    }

    let ftrl = train_ftrl_bagged(&examples, buckets, &params.ftrl);
    log(&format!(
        "FTRL on all buckets done at {:.1}s ({} buckets kept)",
        elapsed(),
        ftrl.buckets.len()
    ));
    let f = &params.ftrl;
    let bag = f.bag.max(1);
    models.push((
        format!(
            "sparse softmax logistic regression, FTRL-Proximal (alpha {}, l1 {}, l2 {}, {} epochs, ham weight {}, mean of {bag} models, seeds {}-{})",
            f.alpha, f.l1, f.l2, f.epochs, f.ham_weight, f.seed, f.seed + bag as u64 - 1
        ),
        ftrl.compile(buckets, placeholder).ok_or_else(out_of_range)?,
    ));
    drop(examples);

    let mut candidates = Vec::new();
    let mut best: Option<(usize, f64)> = None;
    for (i, (trainer, m)) in models.iter().enumerate() {
        let (dev_report, objective) = judge(m);
        log(&format!(
            "candidate {trainer}: dev objective {objective:.4}"
        ));
        if best.is_none_or(|b| objective > b.1) {
            best = Some((i, objective));
        }
        candidates.push(Candidate {
            trainer: trainer.clone(),
            dev_report,
            objective,
        });
    }
    let (best, _) = best.ok_or(TrainError::EmptyClass("ham"))?;
    let (trainer, mut model) = models.swap_remove(best);
    let dev_report = candidates[best].dev_report.clone();
    model.set_thresholds(dev_report.thresholds);
    log(&format!("shipping: {trainer}"));
    let info = ModelInfo {
        created: now_rfc3339(),
        trainer,
        notes: String::new(),
    };
    let file = ModelFile::from_compiled(&model, info, tokenizer, features, limits);
    log(&format!("done in {:.1}s", elapsed()));
    Ok(Trained {
        file,
        dev_report,
        candidates,
        train_counts,
        unparsable: (bad_train, bad_dev),
    })
}

/// The current time as RFC 3339 UTC (seconds), without a date crate.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = crate::civil::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chi2_of_independent_is_zero_and_of_perfect_is_n() {
        assert_eq!(chi2(5, 5, 10, 10), 0.0);
        assert!((chi2(10, 0, 10, 10) - 20.0).abs() < 1e-9);
        assert_eq!(chi2(0, 0, 0, 10), 0.0);
    }

    fn ex(class: Class, entries: &[(u32, f32)]) -> Example {
        Example {
            class,
            vector: FeatureVector {
                entries: entries.to_vec(),
                ..FeatureVector::default()
            },
        }
    }

    #[test]
    fn ranking_prefers_class_specific_buckets() {
        let mut data = Vec::new();
        for _ in 0..5 {
            data.push(ex(Class::Ham, &[(1, 1.0), (2, 1.0)]));
            data.push(ex(Class::Fraud, &[(1, 1.0), (3, 1.0)]));
            data.push(ex(Class::Spam, &[(1, 1.0)]));
            data.push(ex(Class::Phishing, &[(1, 1.0)]));
        }
        let ranked = rank_buckets(&data, 3);
        let order: Vec<u32> = ranked.iter().map(|r| r.0).collect();
        assert_eq!(order, vec![2, 3, 1]);
        assert_eq!(ranked[2].1, 0.0);
    }

    #[test]
    fn nb_and_lr_learn_a_separable_toy_problem() {
        let mut data = Vec::new();
        for i in 0..20 {
            let noise = (i % 3) as u32 + 10;
            data.push(ex(Class::Ham, &[(1, 0.9), (noise, 0.4)]));
            data.push(ex(Class::Spam, &[(2, 0.9), (noise, 0.4)]));
            data.push(ex(Class::Phishing, &[(3, 0.9), (noise, 0.4)]));
            data.push(ex(Class::Fraud, &[(4, 0.9), (noise, 0.4)]));
        }
        let selected = vec![1, 2, 3, 4, 10, 11, 12];
        let params = TrainParams {
            batch: 7,
            lr_iterations: 50,
            ..TrainParams::default()
        };
        let nb = train_nb(&data, &selected, &params).expect("nb fits");
        let lr = train_lr(&data, &selected, &params).expect("lr fits");
        let l = |x| Level {
            suspicion: x,
            fraud: x,
        };
        let t = Thresholds {
            tag: l(0.0),
            hold: l(1.0),
            reject: l(2.0),
        };
        let (nb_table, lr_table) = (
            nb.compile(16, t).expect("in range"),
            lr.compile(16, t).expect("in range"),
        );
        for (bucket, class) in [
            (1, Class::Ham),
            (2, Class::Spam),
            (3, Class::Phishing),
            (4, Class::Fraud),
        ] {
            let v = FeatureVector {
                entries: vec![(bucket, 1.0)],
                ..FeatureVector::default()
            };
            assert_eq!(nb_table.score(&v).class(), class, "nb on bucket {bucket}");
            assert_eq!(lr_table.score(&v).class(), class, "lr on bucket {bucket}");
        }
        let m = blend(&lr, &nb, 0.5, 16, t).expect("in range");
        let v = FeatureVector {
            entries: vec![(4, 1.0)],
            ..FeatureVector::default()
        };
        assert_eq!(m.score(&v).class(), Class::Fraud);
    }

    #[test]
    fn thresholds_keep_each_level_within_its_ham_budget() {
        // 10,000 ham: suspicion rises with i, fraud odds fall with it, so the two bounds flag
        // different ham.
        let ham: Vec<Scores> = (0..10_000)
            .map(|i| {
                let x = i as f32 / 1000.0;
                Scores::from_logits([0.0, x - 5.0, -100.0, 5.0 - x - 20.0])
            })
            .collect();
        let t = choose_thresholds(&ham);
        assert!(t.is_valid(), "{t:?}");
        let count = |l: &Level| ham.iter().filter(|s| l.reached(s)).count();
        assert_eq!(count(&t.tag), 100, "1 % of 10,000 may be tagged");
        assert_eq!(count(&t.hold), 10);
        assert_eq!(count(&t.reject), 1);
        assert!(t.reject.fraud >= t.hold.fraud + REJECT_FRAUD_MARGIN);
        // the fraud bound took its quarter of the hold budget
        assert_eq!(
            ham.iter()
                .filter(|s| s.odds_vs_ham(Class::Fraud) >= t.hold.fraud)
                .count(),
            2
        );
    }
}
