//! Scores → verdict.
//!
//! The verdict is taken on one number, the *suspicion*: the log-odds of "not ham" against
//! "ham". Thresholds for tag, hold and reject are chosen on the dev split for stated ham
//! false-positive rates and stored in the model file; the class that carries the verdict is the
//! most likely non-ham class.

use serde::{Deserialize, Serialize};

use crate::model::{Class, Scores};

/// What to do with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Deliver as is.
    Pass,
    /// Deliver with a header saying what was seen.
    Tag,
    /// Keep in the MTA's hold queue until an administrator looks.
    Hold,
    /// Refuse (550 5.7.1).
    Reject,
}

impl Verdict {
    /// Lower-case name, as in JSON output and headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Tag => "tag",
            Verdict::Hold => "hold",
            Verdict::Reject => "reject",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Suspicion thresholds (log-odds of non-ham); a message is flagged at a level when its
/// suspicion is at least the threshold.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Add a header (chosen at ham FPR 1 % on dev).
    pub tag: f32,
    /// Hold (chosen at ham FPR 0.1 % on dev).
    pub hold: f32,
    /// Reject (chosen at ham FPR 0.01 % on dev).
    pub reject: f32,
}

impl Thresholds {
    /// The verdict for a suspicion value. NaN (which a valid model never produces) holds.
    pub fn verdict(&self, suspicion: f32) -> Verdict {
        if suspicion.is_nan() {
            Verdict::Hold
        } else if suspicion >= self.reject {
            Verdict::Reject
        } else if suspicion >= self.hold {
            Verdict::Hold
        } else if suspicion >= self.tag {
            Verdict::Tag
        } else {
            Verdict::Pass
        }
    }

    /// Whether the three levels are ordered (tag ≤ hold ≤ reject) and not NaN.
    pub fn is_valid(&self) -> bool {
        self.tag <= self.hold && self.hold <= self.reject
    }
}

/// The verdict on one message, with the class that carries it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decision {
    /// What to do.
    pub verdict: Verdict,
    /// The most likely class.
    pub class: Class,
    /// The most likely non-ham class (what a flag is about).
    pub flagged_class: Class,
    /// Log-odds of non-ham against ham.
    pub suspicion: f32,
}

/// Decides on scores with these thresholds.
pub fn decide(scores: &Scores, thresholds: &Thresholds) -> Decision {
    let suspicion = scores.suspicion();
    Decision {
        verdict: thresholds.verdict(suspicion),
        class: scores.class(),
        flagged_class: scores.top_non_ham(),
        suspicion,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds {
        tag: -1.0,
        hold: 2.0,
        reject: 6.0,
    };

    #[test]
    fn levels() {
        assert_eq!(T.verdict(-5.0), Verdict::Pass);
        assert_eq!(T.verdict(-1.0), Verdict::Tag);
        assert_eq!(T.verdict(1.99), Verdict::Tag);
        assert_eq!(T.verdict(2.0), Verdict::Hold);
        assert_eq!(T.verdict(6.0), Verdict::Reject);
        assert_eq!(T.verdict(f32::NAN), Verdict::Hold);
    }

    #[test]
    fn validity() {
        assert!(T.is_valid());
        let bad = Thresholds { tag: 3.0, hold: 2.0, reject: 6.0 };
        assert!(!bad.is_valid());
        let nan = Thresholds { tag: f32::NAN, hold: 2.0, reject: 6.0 };
        assert!(!nan.is_valid());
    }

    #[test]
    fn decide_names_the_flagged_class() {
        let s = Scores::from_logits([0.0, 1.0, -3.0, 4.0]);
        let d = decide(&s, &T);
        assert_eq!(d.class, Class::Fraud);
        assert_eq!(d.flagged_class, Class::Fraud);
        assert_eq!(d.verdict, Verdict::Hold);
    }
}
