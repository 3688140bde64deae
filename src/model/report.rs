//! Evaluation reports: how well a model separates each class from ham, at the operating points
//! a mail administrator cares about.
//!
//! "C vs ham" figures rank messages by the log-odds of class C against ham; "any non-ham vs ham"
//! ranks them by the *suspicion* (log-odds of any non-ham class against ham). "TPR at ham FPR
//! 0.1 %" is the share of C caught by a threshold that flags at most 0.1 % of ham. The
//! "held" columns apply the stored verdict thresholds, which act on all classes at once.

use serde::Serialize;

use super::eval::{roc_auc, roc_curve, tpr_at_fpr, Confusion, RocPoint};
use super::{Class, Scores};
use crate::policy::{Thresholds, Verdict};

/// One positive set against ham.
#[derive(Clone, Debug, Serialize)]
pub struct BinaryReport {
    /// What is measured, e.g. "fraud vs ham".
    pub name: String,
    /// Positive messages.
    pub positives: usize,
    /// Ham messages.
    pub negatives: usize,
    /// Area under the ROC curve.
    pub auc: f64,
    /// True-positive rate at ham FPR 0.1 %.
    pub tpr_at_fpr_0_1pct: f64,
    /// True-positive rate at ham FPR 1 %.
    pub tpr_at_fpr_1pct: f64,
    /// Share of positives at or above the stored hold threshold.
    pub held_at_stored_threshold: f64,
    /// Share of ham at or above the stored hold threshold.
    pub ham_held_at_stored_threshold: f64,
}

/// A whole evaluation.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    /// Messages per class, in class order.
    pub messages: Vec<(String, usize)>,
    /// fraud vs ham, phishing vs ham, spam vs ham, any non-ham vs ham.
    pub binary: Vec<BinaryReport>,
    /// Actual class × verdict at the stored thresholds.
    pub verdicts: Confusion,
    /// Actual class × most likely class.
    pub classes: Confusion,
    /// The thresholds used.
    pub thresholds: Thresholds,
}

impl EvalReport {
    /// The binary report of this name.
    pub fn get(&self, name: &str) -> Option<&BinaryReport> {
        self.binary.iter().find(|b| b.name == name)
    }

    /// A readable multi-line summary.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let counts: Vec<String> = self
            .messages
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        let _ = writeln!(s, "messages: {}", counts.join(", "));
        let _ = writeln!(
            s,
            "{:<22} {:>7} {:>7} {:>8} {:>14} {:>12} {:>10} {:>10}",
            "", "pos", "ham", "AUC", "TPR@FPR0.1%", "TPR@FPR1%", "held", "ham held"
        );
        for b in &self.binary {
            let _ = writeln!(
                s,
                "{:<22} {:>7} {:>7} {:>8.5} {:>14.4} {:>12.4} {:>10.4} {:>10.4}",
                b.name,
                b.positives,
                b.negatives,
                b.auc,
                b.tpr_at_fpr_0_1pct,
                b.tpr_at_fpr_1pct,
                b.held_at_stored_threshold,
                b.ham_held_at_stored_threshold
            );
        }
        let _ = writeln!(s, "\nverdicts at stored thresholds (rows: actual class)");
        s.push_str(&self.verdicts.to_table());
        let _ = writeln!(s, "\nmost likely class (rows: actual class)");
        s.push_str(&self.classes.to_table());
        s
    }
}

/// Suspicion values of each class, split out of labelled scores.
pub fn suspicion_by_class(scored: &[(Class, Scores)]) -> [Vec<f32>; 4] {
    by_class(scored, |s| s.suspicion())
}

/// A score of each message, split by actual class.
fn by_class(scored: &[(Class, Scores)], f: impl Fn(&Scores) -> f32) -> [Vec<f32>; 4] {
    let mut by: [Vec<f32>; 4] = Default::default();
    for (class, scores) in scored {
        by[class.index()].push(f(scores));
    }
    by
}

/// Log-odds of `target` against ham for the messages of `target` and of ham.
fn class_vs_ham(scored: &[(Class, Scores)], target: Class) -> (Vec<f32>, Vec<f32>) {
    let by = by_class(scored, |s| s.odds_vs_ham(target));
    let [ham, spam, phishing, fraud] = by;
    let pos = match target {
        Class::Spam => spam,
        Class::Phishing => phishing,
        Class::Fraud => fraud,
        Class::Ham => Vec::new(),
    };
    (pos, ham)
}

/// ROC curves per class against ham, and any non-ham against ham, for plotting.
pub fn roc_curves(scored: &[(Class, Scores)]) -> Vec<(String, Vec<RocPoint>)> {
    let by = suspicion_by_class(scored);
    let mut out = Vec::new();
    for class in [Class::Fraud, Class::Phishing, Class::Spam] {
        let (pos, ham) = class_vs_ham(scored, class);
        if !pos.is_empty() {
            out.push((format!("{class} vs ham"), roc_curve(&pos, &ham)));
        }
    }
    let any: Vec<f32> = by[1..].iter().flatten().copied().collect();
    out.push(("any non-ham vs ham".to_string(), roc_curve(&any, &by[0])));
    out
}

/// Evaluates labelled scores at the given thresholds.
pub fn evaluate(scored: &[(Class, Scores)], thresholds: &Thresholds) -> EvalReport {
    let by = suspicion_by_class(scored);
    let ham = &by[0];
    // Share of a set of classes that the stored thresholds hold or reject.
    let share = |classes: &[Class]| {
        let of: Vec<&Scores> = scored
            .iter()
            .filter(|(c, _)| classes.contains(c))
            .map(|(_, s)| s)
            .collect();
        if of.is_empty() {
            0.0
        } else {
            of.iter()
                .filter(|s| thresholds.verdict(s) >= Verdict::Hold)
                .count() as f64
                / of.len() as f64
        }
    };
    // `ranked_*` order messages for the ROC figures; `held_*` are suspicions for the verdict.
    let binary_report =
        |name: String, ranked_pos: &[f32], ranked_ham: &[f32], held: &[Class]| BinaryReport {
            name,
            positives: ranked_pos.len(),
            negatives: ranked_ham.len(),
            auc: roc_auc(ranked_pos, ranked_ham),
            tpr_at_fpr_0_1pct: tpr_at_fpr(ranked_pos, ranked_ham, 0.001).0,
            tpr_at_fpr_1pct: tpr_at_fpr(ranked_pos, ranked_ham, 0.01).0,
            held_at_stored_threshold: share(held),
            ham_held_at_stored_threshold: share(&[Class::Ham]),
        };
    let mut binary = Vec::new();
    for class in [Class::Fraud, Class::Phishing, Class::Spam] {
        let (pos, class_ham) = class_vs_ham(scored, class);
        binary.push(binary_report(
            format!("{class} vs ham"),
            &pos,
            &class_ham,
            &[class],
        ));
    }
    let any: Vec<f32> = by[1..].iter().flatten().copied().collect();
    binary.push(binary_report(
        "any non-ham vs ham".into(),
        &any,
        ham,
        &[Class::Spam, Class::Phishing, Class::Fraud],
    ));

    let class_names: Vec<String> = Class::ALL.iter().map(|c| c.name().to_string()).collect();
    let verdict_names: Vec<String> = [Verdict::Pass, Verdict::Tag, Verdict::Hold, Verdict::Reject]
        .iter()
        .map(|v| v.as_str().to_string())
        .collect();
    let mut verdicts = Confusion::with_labels(class_names.clone(), verdict_names);
    let mut classes = Confusion::new(class_names);
    for (class, scores) in scored {
        let v = thresholds.verdict(scores);
        verdicts.add(class.index(), v as usize);
        classes.add(class.index(), scores.class().index());
    }
    EvalReport {
        messages: Class::ALL
            .iter()
            .map(|c| (c.name().to_string(), by[c.index()].len()))
            .collect(),
        binary,
        verdicts,
        classes,
        thresholds: *thresholds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(ham: f32, fraud: f32) -> Scores {
        Scores::from_logits([ham, -50.0, -50.0, fraud])
    }

    #[test]
    fn perfectly_separated() {
        let mut scored = Vec::new();
        for i in 0..100 {
            scored.push((Class::Ham, s(5.0, -(i as f32) / 10.0)));
            scored.push((Class::Fraud, s(-5.0, 3.0 + i as f32 / 10.0)));
        }
        let level = |suspicion, fraud| crate::policy::Level { suspicion, fraud };
        let t = Thresholds {
            tag: level(0.0, 30.0),
            hold: level(1.0, 30.0),
            reject: level(20.0, 30.0),
        };
        let r = evaluate(&scored, &t);
        let f = r.get("fraud vs ham").expect("present");
        assert_eq!(f.positives, 100);
        assert_eq!(f.auc, 1.0);
        assert_eq!(f.tpr_at_fpr_0_1pct, 1.0);
        assert_eq!(f.held_at_stored_threshold, 1.0);
        assert_eq!(f.ham_held_at_stored_threshold, 0.0);
        assert_eq!(r.verdicts.counts[0][0], 100, "all ham pass");
        assert_eq!(r.classes.counts[3][3], 100, "all fraud called fraud");
        assert!(r.to_text().contains("fraud vs ham"));
    }
}
