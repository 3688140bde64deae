//! Scores → verdict.
//!
//! The verdict is taken on two numbers: the *suspicion*, the log-odds of "not ham" against
//! "ham", and the log-odds of fraud against ham. Thresholds for tag, hold and reject are chosen
//! on the dev split for stated ham false-positive rates and stored in the model file; the class
//! that carries the verdict is the most likely non-ham class.

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

/// One verdict level: a message reaches it when its suspicion (log-odds of any non-ham class
/// against ham) reaches `suspicion`, or its log-odds of fraud against ham reaches `fraud`.
/// The second bound exists because advance-fee fraud is what sendguard is for: it is chosen
/// first, on the fraud odds of dev ham, and the first bound then takes what is left of the
/// level's false-positive budget.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Level {
    /// Bound on the suspicion.
    pub suspicion: f32,
    /// Bound on the log-odds of fraud against ham.
    pub fraud: f32,
}

impl Level {
    /// Whether a message with these scores reaches this level.
    pub fn reached(&self, scores: &Scores) -> bool {
        scores.suspicion() >= self.suspicion || scores.odds_vs_ham(Class::Fraud) >= self.fraud
    }

    fn is_finite(&self) -> bool {
        self.suspicion.is_finite() && self.fraud.is_finite()
    }

    fn le(&self, other: &Level) -> bool {
        self.suspicion <= other.suspicion && self.fraud <= other.fraud
    }
}

/// The three verdict levels, chosen on the dev split at ham false-positive rates 1 % (tag),
/// 0.1 % (hold) and 0.01 % (reject), and stored in the model file.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Add a header.
    pub tag: Level,
    /// Hold in the MTA's hold queue.
    pub hold: Level,
    /// Reject.
    pub reject: Level,
}

impl Thresholds {
    /// The verdict for these scores. Scores that are not finite (which a valid model never
    /// produces) hold; a thin message (too little evidence) is at most tagged.
    pub fn verdict(&self, scores: &Scores) -> Verdict {
        let verdict = self.verdict_on_scores(scores);
        if scores.thin {
            verdict.min(Verdict::Tag)
        } else {
            verdict
        }
    }

    fn verdict_on_scores(&self, scores: &Scores) -> Verdict {
        if !scores.logits.iter().all(|l| l.is_finite()) {
            Verdict::Hold
        } else if self.reject.reached(scores) {
            Verdict::Reject
        } else if self.hold.reached(scores) {
            Verdict::Hold
        } else if self.tag.reached(scores) {
            Verdict::Tag
        } else {
            Verdict::Pass
        }
    }

    /// Whether every bound is finite and the levels are ordered (tag ≤ hold ≤ reject).
    pub fn is_valid(&self) -> bool {
        [self.tag, self.hold, self.reject]
            .iter()
            .all(Level::is_finite)
            && self.tag.le(&self.hold)
            && self.hold.le(&self.reject)
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
    Decision {
        verdict: thresholds.verdict(scores),
        class: scores.class(),
        flagged_class: scores.top_non_ham(),
        suspicion: scores.suspicion(),
    }
}

/// Ordered thresholds for unit tests elsewhere in the crate: tag 0, hold 1, reject 2 on both
/// bounds.
#[cfg(test)]
pub(crate) const TEST_THRESHOLDS: Thresholds = Thresholds {
    tag: Level {
        suspicion: 0.0,
        fraud: 0.0,
    },
    hold: Level {
        suspicion: 1.0,
        fraud: 1.0,
    },
    reject: Level {
        suspicion: 2.0,
        fraud: 2.0,
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    const fn level(suspicion: f32, fraud: f32) -> Level {
        Level { suspicion, fraud }
    }

    const T: Thresholds = Thresholds {
        tag: level(-1.0, 5.0),
        hold: level(2.0, 6.0),
        reject: level(6.0, 9.0),
    };

    /// Scores whose suspicion is about `s` and whose fraud odds are far below every bound.
    fn spam(s: f32) -> Scores {
        Scores::from_logits([0.0, s, -100.0, -100.0])
    }

    #[test]
    fn levels_on_suspicion() {
        assert_eq!(T.verdict(&spam(-5.0)), Verdict::Pass);
        assert_eq!(T.verdict(&spam(-0.9)), Verdict::Tag);
        assert_eq!(T.verdict(&spam(1.9)), Verdict::Tag);
        assert_eq!(T.verdict(&spam(2.1)), Verdict::Hold);
        assert_eq!(T.verdict(&spam(6.1)), Verdict::Reject);
        assert_eq!(
            T.verdict(&Scores::from_logits([0.0, f32::NAN, 0.0, 0.0])),
            Verdict::Hold
        );
    }

    #[test]
    fn fraud_bound_holds_below_the_suspicion_bound() {
        // Suspicion and fraud odds both about 1: tag by suspicion, below every fraud bound.
        let s = Scores::from_logits([0.0, -100.0, -100.0, 1.0]);
        assert_eq!(T.verdict(&s), Verdict::Tag);
        // Suspicion is never below the fraud odds, so the fraud bound only matters where it is
        // the lower one: here fraud odds 4 reach a fraud hold bound of 3, while spam with the same
        // suspicion stays at tag.
        let fraud_first = Thresholds {
            tag: level(-1.0, 2.0),
            hold: level(8.0, 3.0),
            reject: level(9.0, 9.0),
        };
        assert_eq!(
            fraud_first.verdict(&Scores::from_logits([0.0, -100.0, -100.0, 4.0])),
            Verdict::Hold
        );
        assert_eq!(
            fraud_first.verdict(&Scores::from_logits([0.0, 4.0, -100.0, -100.0])),
            Verdict::Tag
        );
        let lenient = Thresholds {
            hold: level(2.0, 0.5),
            reject: level(6.0, 9.0),
            tag: level(-1.0, 0.0),
        };
        let s = Scores::from_logits([0.0, -100.0, -100.0, 1.0]);
        assert_eq!(lenient.verdict(&s), Verdict::Hold);
    }

    #[test]
    fn thin_messages_are_at_most_tagged() {
        let mut s = spam(10.0);
        assert_eq!(T.verdict(&s), Verdict::Reject);
        s.thin = true;
        assert_eq!(T.verdict(&s), Verdict::Tag);
        let mut quiet = spam(-5.0);
        quiet.thin = true;
        assert_eq!(T.verdict(&quiet), Verdict::Pass);
    }

    #[test]
    fn validity() {
        assert!(T.is_valid());
        let bad = Thresholds {
            tag: level(3.0, 0.0),
            ..T
        };
        assert!(!bad.is_valid());
        let bad = Thresholds {
            hold: level(2.0, 10.0),
            ..T
        };
        assert!(!bad.is_valid());
        let nan = Thresholds {
            tag: level(f32::NAN, 0.0),
            ..T
        };
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
