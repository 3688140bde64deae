//! A sparse softmax logistic regression trained with FTRL-Proximal (McMahan et al., 2013).
//!
//! linfa's trainers only take dense arrays, so they see a selection of the buckets; this one sees
//! every bucket of every message, with per-coordinate learning rates and L1 + L2 regularisation.
//! L1 makes most weights exactly zero, which keeps the model file small. It is written here
//! because it measured clearly better on dev than the linfa trainers (see the model card), which
//! stay in `train` as the baseline.

use super::train::{Example, LinearWeights};
use super::NUM_CLASSES;

/// Hyper-parameters of FTRL-Proximal.
///
/// | name | default | purpose |
/// |---|---|---|
/// | `alpha` | 3.0 | learning-rate scale |
/// | `beta` | 1.0 | learning-rate smoothing |
/// | `l1` | 1e-2 | L1 penalty (sparsity) |
/// | `l2` | 1e-4 | L2 penalty |
/// | `epochs` | 4 | passes over the data |
/// | `seed` | 1 | shuffle seed (training is deterministic) |
/// | `ham_weight` | 6.0 | weight of a ham example's loss (false positives cost more) |
/// | `bag` | 5 | models trained with seeds `seed`, `seed + 1`, …; their weights are averaged |
///
/// The defaults were chosen on the dev split (see the model card); alpha above 3 and full-weight
/// word bigrams both measured worse at ham FPR 0.1 %. `bag` is there because one model's figure
/// at ham FPR 0.1 % depends on its shuffle seed (any non-ham on dev: 0.82 to 0.86 over seeds
/// 1-7), and the average of five lands at the mean of the single ones: the shipped figure is
/// then what to expect, not a lucky or unlucky draw. `ham_weight` was 2 until 2026-12-08; with
/// the modern scam letters in the training data (before hidden HTML text was dropped), dev could
/// not tell 2, 3, 4 and 6 apart (any non-ham at ham FPR 0.1 %, mean of five: 0.8599, 0.8586,
/// 0.8588, 0.8603), and 6 was taken
/// because a legitimate letter held costs more than a scam tagged (README, "Figures on the dev
/// split").
#[derive(Clone, Debug)]
pub struct FtrlParams {
    /// Learning-rate scale.
    pub alpha: f32,
    /// Learning-rate smoothing.
    pub beta: f32,
    /// L1 penalty.
    pub l1: f32,
    /// L2 penalty.
    pub l2: f32,
    /// Passes over the data.
    pub epochs: usize,
    /// Shuffle seed.
    pub seed: u64,
    /// Loss weight of ham examples.
    pub ham_weight: f32,
    /// Number of models (seeds `seed..seed + bag`) whose weights are averaged; 0 or 1: one.
    pub bag: usize,
}

impl Default for FtrlParams {
    fn default() -> Self {
        FtrlParams {
            alpha: 3.0,
            beta: 1.0,
            l1: 1e-2,
            l2: 1e-4,
            epochs: 4,
            seed: 1,
            ham_weight: 6.0,
            bag: 5,
        }
    }
}

/// Per-coordinate FTRL state for all classes.
struct State {
    z: Vec<[f32; NUM_CLASSES]>,
    n: Vec<[f32; NUM_CLASSES]>,
}

impl State {
    fn weight(&self, i: usize, c: usize, p: &FtrlParams) -> f32 {
        let z = self.z[i][c];
        if z.abs() <= p.l1 {
            return 0.0;
        }
        -(z - z.signum() * p.l1) / ((p.beta + self.n[i][c].sqrt()) / p.alpha + p.l2)
    }
}

/// Trains `params.bag` models with consecutive seeds (in parallel) and averages their weights;
/// the result is deterministic for the parameters.
pub fn train_ftrl_bagged(
    examples: &[Example],
    buckets: usize,
    params: &FtrlParams,
) -> LinearWeights {
    use rayon::prelude::*;
    let n = params.bag.max(1);
    if n == 1 {
        return train_ftrl(examples, buckets, params);
    }
    let models: Vec<LinearWeights> = (0..n as u64)
        .into_par_iter()
        .map(|k| {
            let p = FtrlParams {
                seed: params.seed.wrapping_add(k),
                ..params.clone()
            };
            train_ftrl(examples, buckets, &p)
        })
        .collect();
    average(&models, buckets)
}

/// The element-wise mean of `models` over `buckets` buckets (a bucket missing from a model
/// counts as zero), summed in model order.
pub fn average(models: &[LinearWeights], buckets: usize) -> LinearWeights {
    let k = models.len() as f32;
    let mut sum = vec![[0.0f32; NUM_CLASSES]; buckets];
    let mut bias = [0.0f32; NUM_CLASSES];
    for m in models {
        for (&b, w) in m.buckets.iter().zip(&m.weights) {
            if let Some(row) = sum.get_mut(b as usize) {
                for (r, x) in row.iter_mut().zip(w) {
                    *r += x / k;
                }
            }
        }
        for (r, x) in bias.iter_mut().zip(&m.bias) {
            *r += x / k;
        }
    }
    let (mut out_buckets, mut weights) = (Vec::new(), Vec::new());
    for (i, row) in sum.into_iter().enumerate() {
        if row.iter().any(|w| *w != 0.0) {
            out_buckets.push(i as u32);
            weights.push(row);
        }
    }
    LinearWeights {
        buckets: out_buckets,
        weights,
        bias,
    }
}

/// Trains on `examples` over `buckets` buckets (the last index is the bias).
pub fn train_ftrl(examples: &[Example], buckets: usize, params: &FtrlParams) -> LinearWeights {
    let bias_index = buckets;
    let mut st = State {
        z: vec![[0.0; NUM_CLASSES]; buckets + 1],
        n: vec![[0.0; NUM_CLASSES]; buckets + 1],
    };
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let mut rng = params.seed.max(1);
    let mut w_cache: Vec<[f32; NUM_CLASSES]> = Vec::new();
    for _ in 0..params.epochs {
        // Fisher–Yates with xorshift: deterministic for a seed.
        for i in (1..order.len()).rev() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            order.swap(i, (rng % (i as u64 + 1)) as usize);
        }
        for &k in &order {
            let e = &examples[k];
            let coords = e
                .vector
                .entries
                .iter()
                .filter(|(b, _)| (*b as usize) < buckets)
                .map(|&(b, x)| (b as usize, x))
                .chain(std::iter::once((bias_index, 1.0)));
            w_cache.clear();
            let mut logits = [0.0f32; NUM_CLASSES];
            for (i, x) in coords.clone() {
                let mut w = [0.0; NUM_CLASSES];
                for (c, wc) in w.iter_mut().enumerate() {
                    *wc = st.weight(i, c, params);
                    logits[c] += wc.to_owned() * x;
                }
                w_cache.push(w);
            }
            let p = super::Scores::from_logits(logits).probabilities();
            let weight = if e.class.index() == 0 {
                params.ham_weight
            } else {
                1.0
            };
            for ((i, x), w) in coords.zip(&w_cache) {
                for c in 0..NUM_CLASSES {
                    let y = if c == e.class.index() { 1.0 } else { 0.0 };
                    let g = weight * (p[c] - y) * x;
                    let n = st.n[i][c];
                    let sigma = ((n + g * g).sqrt() - n.sqrt()) / params.alpha;
                    st.z[i][c] += g - sigma * w[c];
                    st.n[i][c] = n + g * g;
                }
            }
        }
    }
    let mut out_buckets = Vec::new();
    let mut weights = Vec::new();
    for i in 0..buckets {
        let mut row = [0.0; NUM_CLASSES];
        for (c, r) in row.iter_mut().enumerate() {
            *r = st.weight(i, c, params);
        }
        if row.iter().any(|w| *w != 0.0) {
            out_buckets.push(i as u32);
            weights.push(row);
        }
    }
    let mut bias = [0.0; NUM_CLASSES];
    for (c, b) in bias.iter_mut().enumerate() {
        *b = st.weight(bias_index, c, params);
    }
    LinearWeights {
        buckets: out_buckets,
        weights,
        bias,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::FeatureVector;
    use crate::model::Class;

    #[test]
    fn learns_a_separable_toy_problem_and_is_deterministic() {
        let mut data = Vec::new();
        for i in 0..30u32 {
            let noise = 10 + i % 4;
            for (class, b) in [
                (Class::Ham, 1),
                (Class::Spam, 2),
                (Class::Phishing, 3),
                (Class::Fraud, 4),
            ] {
                data.push(Example {
                    class,
                    vector: FeatureVector {
                        entries: vec![(b, 0.9), (noise, 0.4)],
                        ..FeatureVector::default()
                    },
                });
            }
        }
        let params = FtrlParams::default();
        let t = crate::policy::TEST_THRESHOLDS;
        let m = train_ftrl(&data, 16, &params);
        let compiled = m.compile(16, t).expect("in range");
        for (b, class) in [
            (1, Class::Ham),
            (2, Class::Spam),
            (3, Class::Phishing),
            (4, Class::Fraud),
        ] {
            let v = FeatureVector {
                entries: vec![(b, 1.0)],
                ..FeatureVector::default()
            };
            assert_eq!(compiled.score(&v).class(), class, "bucket {b}");
        }
        let again = train_ftrl(&data, 16, &params);
        assert_eq!(m.weights, again.weights);
        assert_eq!(m.bias, again.bias);
    }

    #[test]
    fn a_bag_is_the_mean_of_its_models() {
        let one = |bucket: u32, w: f32| LinearWeights {
            buckets: vec![bucket],
            weights: vec![[w, 0.0, 0.0, -w]],
            bias: [w, 0.0, 0.0, 0.0],
        };
        let avg = average(&[one(3, 1.0), one(5, 2.0)], 8);
        assert_eq!(avg.buckets, [3, 5]);
        assert_eq!(avg.weights, [[0.5, 0.0, 0.0, -0.5], [1.0, 0.0, 0.0, -1.0]]);
        assert_eq!(avg.bias, [1.5, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn strong_l1_zeroes_weights() {
        let data = vec![Example {
            class: Class::Fraud,
            vector: FeatureVector {
                entries: vec![(3, 1.0)],
                ..FeatureVector::default()
            },
        }];
        let params = FtrlParams {
            l1: 1e6,
            ..FtrlParams::default()
        };
        let m = train_ftrl(&data, 8, &params);
        assert!(m.buckets.is_empty());
        assert_eq!(m.bias, [0.0; NUM_CLASSES]);
    }
}
