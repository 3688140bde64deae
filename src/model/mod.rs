//! The compiled linear model: for each class a weight per bucket and a bias.
//!
//! Whatever trained it (Naive Bayes, logistic regression, a blend), scoring is one pass over the
//! message's non-zero buckets with four multiply-adds each, then a softmax.

pub mod eval;
pub mod file;
pub mod ftrl;
pub mod report;
pub mod train;

use serde::{Deserialize, Serialize};

use crate::features::FeatureVector;
use crate::policy::Thresholds;

/// Number of classes.
pub const NUM_CLASSES: usize = 4;

/// The classes, in the order of every per-class array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// Legitimate mail.
    Ham,
    /// Unsolicited bulk mail.
    Spam,
    /// Credential or payment-data theft.
    Phishing,
    /// Advance-fee fraud ("419").
    Fraud,
}

impl Class {
    /// All classes in array order.
    pub const ALL: [Class; NUM_CLASSES] = [Class::Ham, Class::Spam, Class::Phishing, Class::Fraud];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Class::Ham => "ham",
            Class::Spam => "spam",
            Class::Phishing => "phishing",
            Class::Fraud => "fraud",
        }
    }

    /// Index into per-class arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The class of this name.
    pub fn from_name(name: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl std::fmt::Display for Class {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Per-class scores of one message.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scores {
    /// Raw linear scores (log-odds up to a constant), per class.
    pub logits: [f32; NUM_CLASSES],
    /// The message had too little evidence to hold or reject on (see
    /// [`FeatureVector::is_thin`]); the policy caps its verdict at tag.
    pub thin: bool,
}

impl Scores {
    /// Scores from raw per-class logits.
    pub fn from_logits(logits: [f32; NUM_CLASSES]) -> Self {
        Scores {
            logits,
            thin: false,
        }
    }

    /// Class probabilities (softmax), summing to 1.
    pub fn probabilities(&self) -> [f32; NUM_CLASSES] {
        let max = self
            .logits
            .iter()
            .cloned()
            .fold(f32::NEG_INFINITY, f32::max);
        let mut p = self.logits.map(|l| (l - max).exp());
        let sum: f32 = p.iter().sum();
        for x in &mut p {
            *x /= sum;
        }
        p
    }

    /// Probability of one class.
    pub fn probability(&self, class: Class) -> f32 {
        self.probabilities()[class.index()]
    }

    /// The most likely class.
    pub fn class(&self) -> Class {
        argmax(&self.logits, 0)
    }

    /// The most likely class other than ham.
    pub fn top_non_ham(&self) -> Class {
        argmax(&self.logits, 1)
    }

    /// Log-odds of "not ham" against ham: log(Σ_{c≠ham} e^{l_c}) − l_ham. Unlike 1 − p(ham) it
    /// does not saturate, so thresholds stay apart at very low false-positive rates.
    pub fn suspicion(&self) -> f32 {
        let others = &self.logits[1..];
        let max = others.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let lse = max + others.iter().map(|l| (l - max).exp()).sum::<f32>().ln();
        lse - self.logits[0]
    }

    /// Log-odds of one class against ham (for per-class evaluation).
    pub fn odds_vs_ham(&self, class: Class) -> f32 {
        self.logits[class.index()] - self.logits[0]
    }
}

fn argmax(logits: &[f32; NUM_CLASSES], from: usize) -> Class {
    let mut best = from;
    for i in from + 1..NUM_CLASSES {
        if logits[i] > logits[best] {
            best = i;
        }
    }
    Class::ALL[best]
}

/// The linear model in the form the fast path uses: per-class weights of the buckets that
/// carry weight, found through a presence bitmap with a rank index.
///
/// A dense table of 2^20 buckets × 4 classes × f32 would be 16 MB and miss the cache on nearly
/// every feature; this one is a 128 KB bitmap, a 64 KB rank array and 16 bytes per stored
/// bucket (about 2.6 MB for the default model), with the same values.
#[derive(Clone, Debug)]
pub struct CompiledModel {
    buckets: usize,
    /// Bit `b % 64` of word `b / 64` is set when bucket `b` has a row.
    present: Vec<u64>,
    /// Rows stored before word `i` of `present`.
    rank: Vec<u32>,
    /// The rows, in bucket order.
    rows: Vec<[f32; NUM_CLASSES]>,
    bias: [f32; NUM_CLASSES],
    thresholds: Thresholds,
}

impl CompiledModel {
    /// Builds the table from sparse (bucket, weights) rows (a bucket given twice keeps its last
    /// row; all-zero rows are dropped). Buckets beyond `buckets` are an error, reported as
    /// `None`.
    pub fn from_sparse(
        buckets: usize,
        rows: impl IntoIterator<Item = (u32, [f32; NUM_CLASSES])>,
        bias: [f32; NUM_CLASSES],
        thresholds: Thresholds,
    ) -> Option<Self> {
        let mut sparse: Vec<(u32, [f32; NUM_CLASSES])> = Vec::new();
        for (b, w) in rows {
            if b as usize >= buckets {
                return None;
            }
            sparse.push((b, w));
        }
        // Stable sort, then keep the last of equal buckets.
        sparse.sort_by_key(|r| r.0);
        let mut kept: Vec<(u32, [f32; NUM_CLASSES])> = Vec::with_capacity(sparse.len());
        for r in sparse {
            match kept.last_mut() {
                Some(last) if last.0 == r.0 => *last = r,
                _ => kept.push(r),
            }
        }
        kept.retain(|(_, w)| w.iter().any(|x| *x != 0.0));
        let words = buckets.div_ceil(64);
        let mut present = vec![0u64; words];
        for &(b, _) in &kept {
            present[b as usize / 64] |= 1u64 << (b % 64);
        }
        let mut rank = Vec::with_capacity(words);
        let mut seen = 0u32;
        for w in &present {
            rank.push(seen);
            seen += w.count_ones();
        }
        Some(CompiledModel {
            buckets,
            present,
            rank,
            rows: kept.into_iter().map(|(_, w)| w).collect(),
            bias,
            thresholds,
        })
    }

    /// Number of buckets.
    pub fn buckets(&self) -> usize {
        self.buckets
    }

    /// The stored row of a bucket, if it has one.
    #[inline]
    fn row(&self, bucket: u32) -> Option<&[f32; NUM_CLASSES]> {
        let word = bucket as usize / 64;
        let bits = *self.present.get(word)?;
        let bit = 1u64 << (bucket % 64);
        if bits & bit == 0 {
            return None;
        }
        let index = self.rank[word] + (bits & (bit - 1)).count_ones();
        self.rows.get(index as usize)
    }

    /// The weights of one bucket.
    pub fn weights(&self, bucket: u32) -> [f32; NUM_CLASSES] {
        self.row(bucket).copied().unwrap_or([0.0; NUM_CLASSES])
    }

    /// Per-class bias.
    pub fn bias(&self) -> [f32; NUM_CLASSES] {
        self.bias
    }

    /// Verdict thresholds.
    pub fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }

    /// Replaces the verdict thresholds (after choosing them on dev).
    pub fn set_thresholds(&mut self, thresholds: Thresholds) {
        self.thresholds = thresholds;
    }

    /// The non-zero rows, for writing the model file.
    pub fn sparse_rows(&self) -> impl Iterator<Item = (u32, [f32; NUM_CLASSES])> + '_ {
        let buckets = self.present.iter().enumerate().flat_map(|(i, &w)| {
            let mut bits = w;
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let b = bits.trailing_zeros();
                bits &= bits - 1;
                Some(i as u32 * 64 + b)
            })
        });
        buckets.zip(self.rows.iter().copied())
    }

    /// The hot path: bias + Σ value · weight, per class.
    pub fn score(&self, features: &FeatureVector) -> Scores {
        let mut acc = self.bias;
        for &(bucket, value) in &features.entries {
            if let Some(w) = self.row(bucket) {
                for c in 0..NUM_CLASSES {
                    acc[c] += value * w[c];
                }
            }
        }
        Scores {
            logits: acc,
            thin: features.is_thin(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = crate::policy::TEST_THRESHOLDS;

    #[test]
    fn probabilities_sum_to_one_and_survive_large_logits() {
        let s = Scores::from_logits([1000.0, -1000.0, 0.0, 999.0]);
        let p = s.probabilities();
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6, "{p:?}");
        assert!(p.iter().all(|x| x.is_finite()));
        assert_eq!(s.class(), Class::Ham);
        assert_eq!(s.top_non_ham(), Class::Fraud);
    }

    #[test]
    fn suspicion_is_log_odds_of_non_ham() {
        let s = Scores::from_logits([0.0, 0.0, 0.0, 0.0]);
        // three equally likely non-ham classes against one ham: odds 3:1
        assert!((s.suspicion() - 3f32.ln()).abs() < 1e-6);
        let far = Scores::from_logits([-60.0, -200.0, -200.0, 60.0]);
        assert!(
            (far.suspicion() - 120.0).abs() < 1e-3,
            "{}",
            far.suspicion()
        );
    }

    #[test]
    fn dot_product() {
        let m = CompiledModel::from_sparse(
            8,
            [(3, [1.0, 2.0, 3.0, 4.0]), (5, [0.5, 0.0, 0.0, -1.0])],
            [0.1, 0.0, 0.0, 0.0],
            T,
        )
        .expect("buckets in range");
        let fv = FeatureVector {
            entries: vec![(3, 2.0), (5, 1.0), (7, 9.0)],
            ..FeatureVector::default()
        };
        assert_eq!(m.score(&fv).logits, [2.6, 4.0, 6.0, 7.0]);
        assert_eq!(m.sparse_rows().count(), 2);
    }

    #[test]
    fn rank_table_matches_a_dense_table() {
        let buckets = 1000;
        let mut dense = vec![[0.0f32; NUM_CLASSES]; buckets];
        let mut rows = Vec::new();
        let mut x: u32 = 7;
        for _ in 0..400 {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let b = (x >> 8) % buckets as u32;
            let w = [b as f32, -(b as f32), 0.5, (x % 7) as f32];
            dense[b as usize] = w;
            rows.push((b, w));
        }
        for b in [0u32, 63, 64, 127, 128, 999] {
            let w = [1.0, 2.0, 3.0, b as f32];
            dense[b as usize] = w;
            rows.push((b, w));
        }
        // A later all-zero row for a bucket removes it, as in a dense table.
        dense[64] = [0.0; NUM_CLASSES];
        rows.push((64, [0.0; NUM_CLASSES]));
        let m = CompiledModel::from_sparse(buckets, rows, [0.0; 4], T).expect("in range");
        for (b, w) in dense.iter().enumerate() {
            assert_eq!(m.weights(b as u32), *w, "bucket {b}");
        }
        assert_eq!(m.weights(buckets as u32 + 5), [0.0; NUM_CLASSES]);
        let stored: Vec<(u32, [f32; NUM_CLASSES])> = m.sparse_rows().collect();
        let expected: Vec<(u32, [f32; NUM_CLASSES])> = dense
            .iter()
            .enumerate()
            .filter(|(_, w)| w.iter().any(|v| *v != 0.0))
            .map(|(b, w)| (b as u32, *w))
            .collect();
        assert_eq!(stored, expected);
    }

    #[test]
    fn out_of_range_bucket_is_refused() {
        assert!(CompiledModel::from_sparse(4, [(4, [0.0; 4])], [0.0; 4], T).is_none());
    }

    #[test]
    fn class_names_round_trip() {
        for c in Class::ALL {
            assert_eq!(Class::from_name(c.name()), Some(c));
        }
        assert_eq!(Class::from_name("virus"), None);
    }
}
