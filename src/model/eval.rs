//! Metrics for a binary view of scores: one "positive" class against ham.
//!
//! Scores are `f32` suspicion values, higher is more suspicious; a message is *flagged* when
//! `score >= threshold`. NaN scores rank below every number (as `-inf`) in curves and AUC, and a
//! real comparison never flags them. `-0.0` and `0.0` are the same score.

use std::path::Path;

use serde::Serialize;

/// Point on a ROC curve: flagging at `threshold` gives these false and true positive rates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RocPoint {
    /// Fraction of ham (negatives) flagged.
    pub fpr: f64,
    /// Fraction of positives flagged.
    pub tpr: f64,
    /// The threshold that gives this point.
    pub threshold: f32,
}

/// What can go wrong while evaluating.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// Drawing or writing the plot failed.
    #[error("{path}: cannot draw the ROC plot: {message}")]
    Plot {
        /// The SVG file being written.
        path: String,
        /// What plotters reported.
        message: String,
    },
}

/// A score as ranked here: NaN becomes `-inf`, `-0.0` becomes `0.0`, so `total_cmp` agrees with `==`.
fn rank_key(score: f32) -> f32 {
    if score.is_nan() {
        f32::NEG_INFINITY
    } else if score == 0.0 {
        0.0
    } else {
        score
    }
}

/// Scores as rank keys, sorted from highest to lowest.
fn sorted_desc(scores: &[f32]) -> Vec<f32> {
    let mut keys: Vec<f32> = scores.iter().map(|&s| rank_key(s)).collect();
    keys.sort_by(|a, b| b.total_cmp(a));
    keys
}

/// ROC curve from (0, 0) to (1, 1), one point per distinct score (ties are one diagonal step).
/// The first point's threshold is just above the highest score. Empty if either side is empty.
pub fn roc_curve(pos: &[f32], neg: &[f32]) -> Vec<RocPoint> {
    if pos.is_empty() || neg.is_empty() {
        return Vec::new();
    }
    let mut all: Vec<(f32, bool)> = pos
        .iter()
        .map(|&s| (rank_key(s), true))
        .chain(neg.iter().map(|&s| (rank_key(s), false)))
        .collect();
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (n_pos, n_neg) = (pos.len() as f64, neg.len() as f64);
    let top = all.first().map_or(f32::INFINITY, |&(s, _)| s.next_up());
    let mut points = vec![RocPoint {
        fpr: 0.0,
        tpr: 0.0,
        threshold: top,
    }];
    let (mut tp, mut fp) = (0u64, 0u64);
    for group in all.chunk_by(|a, b| a.0 == b.0) {
        for &(_, is_pos) in group {
            if is_pos {
                tp += 1;
            } else {
                fp += 1;
            }
        }
        points.push(RocPoint {
            fpr: fp as f64 / n_neg,
            tpr: tp as f64 / n_pos,
            threshold: group[0].0,
        });
    }
    points
}

/// Area under the ROC curve by Mann–Whitney: the chance a positive outscores a negative, ties
/// counting 1/2. NaN when either side is empty.
pub fn roc_auc(pos: &[f32], neg: &[f32]) -> f64 {
    if pos.is_empty() || neg.is_empty() {
        return f64::NAN;
    }
    let mut neg_keys: Vec<f32> = neg.iter().map(|&s| rank_key(s)).collect();
    neg_keys.sort_by(f32::total_cmp);
    // Twice the U statistic, in integers so large corpora lose nothing to rounding.
    let mut twice_u: u128 = 0;
    for &p in pos {
        let p = rank_key(p);
        let below = neg_keys.partition_point(|&n| n < p);
        let at_or_below = neg_keys.partition_point(|&n| n <= p);
        twice_u += 2 * below as u128 + (at_or_below - below) as u128;
    }
    twice_u as f64 / (2.0 * pos.len() as f64 * neg.len() as f64)
}

/// The lowest threshold, among the ham scores and the value just above the highest of them, at
/// which the fraction of `neg` flagged (`score >= t`) is at most `max_fpr`.
///
/// With `max_fpr * n < 1` this is just above `max(neg)` (the next `f32` up). A NaN or negative
/// `max_fpr` counts as 0; an empty `neg` gives `+inf` (nothing to measure, flag nothing).
pub fn threshold_for_fpr(neg: &[f32], max_fpr: f64) -> f32 {
    let keys = sorted_desc(neg);
    let Some(&highest) = keys.first() else {
        return f32::INFINITY;
    };
    let allowed = if max_fpr.is_nan() || max_fpr <= 0.0 {
        0
    } else {
        // The epsilon keeps 0.29 * 100 = 28.999... from allowing only 28.
        (max_fpr * keys.len() as f64 + 1e-9).floor() as usize
    };
    let mut threshold = highest.next_up();
    let mut flagged = 0;
    for group in keys.chunk_by(|a, b| a == b) {
        flagged += group.len();
        if flagged > allowed {
            break;
        }
        threshold = group[0];
    }
    threshold
}

/// TPR and the threshold it was measured at, for a given max ham FPR (see [`threshold_for_fpr`]).
/// The TPR is NaN when `pos` is empty.
pub fn tpr_at_fpr(pos: &[f32], neg: &[f32], max_fpr: f64) -> (f64, f32) {
    let threshold = threshold_for_fpr(neg, max_fpr);
    if pos.is_empty() {
        return (f64::NAN, threshold);
    }
    let flagged = pos.iter().filter(|&&s| s >= threshold).count();
    (flagged as f64 / pos.len() as f64, threshold)
}

/// A confusion matrix over named classes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Confusion {
    /// Row (actual class) names, in index order.
    pub classes: Vec<String>,
    /// Column (predicted class or verdict) names, in index order.
    pub predicted: Vec<String>,
    /// Message counts, `counts[actual][predicted]`.
    pub counts: Vec<Vec<u64>>,
}

impl Confusion {
    /// An all-zero matrix over these classes.
    pub fn new(classes: Vec<String>) -> Self {
        Confusion::with_labels(classes.clone(), classes)
    }

    /// An all-zero matrix with different row and column labels (e.g. class × verdict).
    pub fn with_labels(classes: Vec<String>, predicted: Vec<String>) -> Self {
        let counts = vec![vec![0; predicted.len()]; classes.len()];
        Confusion {
            classes,
            predicted,
            counts,
        }
    }

    /// Count one message; indexes outside the class list are ignored.
    pub fn add(&mut self, actual: usize, predicted: usize) {
        if let Some(cell) = self
            .counts
            .get_mut(actual)
            .and_then(|row| row.get_mut(predicted))
        {
            *cell += 1;
        }
    }

    /// All messages counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    /// Of the messages that are `class`, the fraction predicted as it (NaN if none or out of range).
    pub fn recall(&self, class: usize) -> f64 {
        let Some(row) = self.counts.get(class) else {
            return f64::NAN;
        };
        let hit = row.get(class).copied().unwrap_or(0);
        hit as f64 / row.iter().sum::<u64>() as f64
    }

    /// Of the messages predicted as `class`, the fraction that are it (NaN if none or out of range).
    pub fn precision(&self, class: usize) -> f64 {
        if class >= self.predicted.len() {
            return f64::NAN;
        }
        let column: u64 = self.counts.iter().filter_map(|row| row.get(class)).sum();
        let hit = self
            .counts
            .get(class)
            .and_then(|row| row.get(class))
            .copied()
            .unwrap_or(0);
        hit as f64 / column as f64
    }

    /// The matrix as aligned text: one row per actual class, one column per predicted class.
    pub fn to_table(&self) -> String {
        const CORNER: &str = "actual \\ predicted";
        let label_width = self
            .classes
            .iter()
            .map(|c| c.chars().count())
            .chain([CORNER.len()])
            .max()
            .unwrap_or(0);
        let widths: Vec<usize> = self
            .predicted
            .iter()
            .enumerate()
            .map(|(j, name)| {
                self.counts
                    .iter()
                    .filter_map(|row| row.get(j))
                    .map(|n| n.to_string().len())
                    .chain([name.chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = format!("{CORNER:<label_width$}");
        for (name, w) in self.predicted.iter().zip(&widths) {
            out.push_str(&format!("  {name:>w$}"));
        }
        out.push('\n');
        for (name, row) in self.classes.iter().zip(&self.counts) {
            out.push_str(&format!("{name:<label_width$}"));
            for (n, w) in row.iter().zip(&widths) {
                out.push_str(&format!("  {n:>w$}"));
            }
            out.push('\n');
        }
        out
    }
}

/// Lowest FPR shown on the plot's log axis; smaller rates (including 0) are drawn at it.
const PLOT_MIN_FPR: f64 = 1e-4;

/// Draw ROC curves to an SVG file: FPR on a log axis from 1e-4 to 1, TPR linear, one line and
/// legend entry per curve, and the chance line for reference. Points closer than about a pixel
/// are merged so large corpora give small files.
///
/// # Errors
/// [`EvalError::Plot`] when drawing or writing the file fails.
pub fn plot_roc_svg(
    path: &Path,
    title: &str,
    curves: &[(String, Vec<RocPoint>)],
) -> Result<(), EvalError> {
    use plotters::prelude::*;

    let plot_err = |e: &dyn std::fmt::Display| EvalError::Plot {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let root = SVGBackend::new(path, (800, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d((PLOT_MIN_FPR..1.0f64).log_scale(), 0.0f64..1.0f64)
        .map_err(|e| plot_err(&e))?;
    chart
        .configure_mesh()
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .x_desc("false positive rate on ham (log)")
        .y_desc("true positive rate")
        .draw()
        .map_err(|e| plot_err(&e))?;

    let chance = (0..=40).map(|i| {
        let x = PLOT_MIN_FPR * 10f64.powf(f64::from(i) / 10.0);
        (x, x)
    });
    chart
        .draw_series(LineSeries::new(chance, RGBColor(190, 190, 190)))
        .map_err(|e| plot_err(&e))?;

    for (i, (name, points)) in curves.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(thin(points), color.stroke_width(2)))
            .map_err(|e| plot_err(&e))?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    if !curves.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| plot_err(&e))?;
    }
    root.present().map_err(|e| plot_err(&e))?;
    Ok(())
}

/// Plot coordinates of a curve, FPR clamped to the axis, dropping points that would land within
/// about a pixel of the previous one (the last point is always kept).
fn thin(points: &[RocPoint]) -> Vec<(f64, f64)> {
    let finite = points
        .iter()
        .filter(|p| p.fpr.is_finite() && p.tpr.is_finite())
        .map(|p| (p.fpr.max(PLOT_MIN_FPR), p.tpr));
    let mut out: Vec<(f64, f64)> = Vec::new();
    let mut last_dropped = None;
    for (x, y) in finite {
        let close = out.last().is_some_and(|&(lx, ly)| {
            (x.log10() - lx.log10()).abs() < 0.005 && (y - ly).abs() < 0.002
        });
        if close {
            last_dropped = Some((x, y));
        } else {
            out.push((x, y));
            last_dropped = None;
        }
    }
    out.extend(last_dropped);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_perfect_reversed_and_tied_scores() {
        assert_eq!(roc_auc(&[0.9, 0.8], &[0.1, 0.2, 0.3]), 1.0);
        assert_eq!(roc_auc(&[0.1, 0.2], &[0.8, 0.9, 0.7]), 0.0);
        assert_eq!(roc_auc(&[0.5, 0.5], &[0.5, 0.5, 0.5]), 0.5);
    }

    #[test]
    fn auc_hand_computed() {
        // 0.8 beats 3; 0.4 ties 0.4 and beats 0.1 (1.5); 0.6 beats 3: 7.5 of 9 pairs.
        let auc = roc_auc(&[0.8, 0.4, 0.6], &[0.5, 0.4, 0.1]);
        assert!((auc - 7.5 / 9.0).abs() < 1e-12, "{auc}");
    }

    #[test]
    fn auc_ranks_nan_lowest_and_treats_signed_zeros_alike() {
        // NaN positive ties the -inf negative and loses to 0.0.
        assert_eq!(roc_auc(&[f32::NAN], &[f32::NEG_INFINITY, 0.0]), 0.25);
        assert_eq!(roc_auc(&[-0.0], &[0.0]), 0.5);
    }

    #[test]
    fn auc_of_empty_input_is_nan() {
        assert!(roc_auc(&[], &[0.1]).is_nan());
        assert!(roc_auc(&[0.1], &[]).is_nan());
    }

    #[test]
    fn roc_curve_steps_with_ties_as_one_point() {
        let curve = roc_curve(&[0.9, 0.5], &[0.5, 0.1]);
        let expected = [
            (0.0, 0.0, 0.9f32.next_up()),
            (0.0, 0.5, 0.9),
            (0.5, 1.0, 0.5),
            (1.0, 1.0, 0.1),
        ];
        let got: Vec<(f64, f64, f32)> = curve.iter().map(|p| (p.fpr, p.tpr, p.threshold)).collect();
        assert_eq!(got, expected);
        assert!(roc_curve(&[], &[0.5]).is_empty());
    }

    #[test]
    fn threshold_for_fpr_allows_the_stated_share_of_ham() {
        let neg = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];
        assert_eq!(threshold_for_fpr(&neg, 0.1), 1.0);
        assert_eq!(threshold_for_fpr(&neg, 0.3), 0.8);
        assert_eq!(threshold_for_fpr(&neg, 0.0), 1.0f32.next_up());
        assert_eq!(threshold_for_fpr(&neg, 0.05), 1.0f32.next_up());
        assert_eq!(threshold_for_fpr(&neg, 1.0), 0.1);
        assert_eq!(threshold_for_fpr(&neg, f64::NAN), 1.0f32.next_up());
    }

    #[test]
    fn threshold_for_fpr_never_splits_a_tie() {
        // One of three allowed, but the top two are tied: both or neither.
        assert_eq!(threshold_for_fpr(&[0.5, 0.5, 0.1], 0.34), 0.5f32.next_up());
        assert_eq!(threshold_for_fpr(&[0.5, 0.5, 0.1], 0.67), 0.5);
    }

    #[test]
    fn threshold_for_fpr_rounding_and_empty() {
        // 0.29 * 100 is 28.999... in f64; 29 must still be allowed.
        let neg: Vec<f32> = (1..=100).map(|i| i as f32).collect();
        assert_eq!(threshold_for_fpr(&neg, 0.29), 72.0);
        assert_eq!(threshold_for_fpr(&[], 0.1), f32::INFINITY);
    }

    #[test]
    fn tpr_at_fpr_hand_case() {
        let neg = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];
        // Two of ten ham allowed: threshold 0.9; only 0.95 of the positives reaches it.
        assert_eq!(
            tpr_at_fpr(&[0.95, 0.85, 0.5, f32::NAN], &neg, 0.2),
            (0.25, 0.9)
        );
        assert_eq!(tpr_at_fpr(&[2.0, 0.3], &neg, 0.0), (0.5, 1.0f32.next_up()));
        let (tpr, t) = tpr_at_fpr(&[], &neg, 0.2);
        assert!(tpr.is_nan());
        assert_eq!(t, 0.9);
    }

    #[test]
    fn confusion_counts_and_table() {
        let mut c = Confusion::new(vec!["ham".into(), "fraud".into()]);
        for _ in 0..120 {
            c.add(0, 0);
        }
        c.add(0, 1);
        c.add(1, 0);
        c.add(1, 1);
        c.add(1, 1);
        c.add(2, 0); // out of range: ignored
        assert_eq!(c.counts, vec![vec![120, 1], vec![1, 2]]);
        assert_eq!(c.total(), 124);
        assert!((c.recall(1) - 2.0 / 3.0).abs() < 1e-12);
        assert!((c.precision(1) - 2.0 / 3.0).abs() < 1e-12);
        assert!(c.recall(5).is_nan());
        assert_eq!(
            c.to_table(),
            "actual \\ predicted  ham  fraud\n\
             ham                 120      1\n\
             fraud                 1      2\n"
        );
    }

    #[test]
    fn serializes_for_json_output() {
        let point = RocPoint {
            fpr: 0.25,
            tpr: 1.0,
            threshold: 0.5,
        };
        assert_eq!(
            serde_json::to_string(&point).unwrap(),
            r#"{"fpr":0.25,"tpr":1.0,"threshold":0.5}"#
        );
        let mut c = Confusion::new(vec!["ham".into(), "spam".into()]);
        c.add(1, 0);
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"classes":["ham","spam"],"predicted":["ham","spam"],"counts":[[0,0],[1,0]]}"#
        );
    }

    #[test]
    fn plot_writes_an_svg_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roc.svg");
        let curve = roc_curve(&[0.9, 0.8, 0.4], &[0.1, 0.5, 0.3, 0.2]);
        plot_roc_svg(&path, "fraud vs ham", &[("fraud".to_string(), curve)]).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        assert!(svg.contains("fraud vs ham"));
    }

    #[test]
    fn plot_into_missing_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir/roc.svg");
        let err = plot_roc_svg(&path, "t", &[]).unwrap_err();
        assert!(matches!(err, EvalError::Plot { .. }), "{err}");
    }

    #[test]
    fn thin_keeps_distinct_points_and_the_last() {
        let p = |fpr, tpr| RocPoint {
            fpr,
            tpr,
            threshold: 0.0,
        };
        // The two points within a pixel of (0.5, 0.5) merge; the last of them is kept.
        let pts = [
            p(0.0, 0.0),
            p(0.5, 0.5),
            p(0.5001, 0.5001),
            p(0.50015, 0.5002),
        ];
        assert_eq!(thin(&pts), vec![(1e-4, 0.0), (0.5, 0.5), (0.50015, 0.5002)]);
    }
}
