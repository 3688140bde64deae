//! `sendguard eval`.

use std::path::PathBuf;

use anyhow::Context;
use rayon::prelude::*;
use sendguard::corpus::ReadLimits;
use sendguard::model::eval::plot_roc_svg;
use sendguard::model::report::{evaluate, roc_curves};
use sendguard::model::train::read_labelled;
use sendguard::{Class, MessageView, Scores};

/// Arguments of `eval`.
#[derive(clap::Args)]
pub struct Args {
    /// Model file (default: the shipped models/default.sgm).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Labelled data: CLASS.mbox[.gz] files or CLASS/ directories.
    #[arg(long)]
    data: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Draw ROC curves to this SVG file.
    #[arg(long)]
    plot: Option<PathBuf>,
}

/// Runs `sendguard eval`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let classifier = crate::load_model(args.model.as_deref())?;
    let (messages, skipped) = read_labelled(&args.data, &ReadLimits::default())
        .with_context(|| format!("reading {}", args.data.display()))?;
    let limits = classifier.model_file().limits.clone();
    let scored: Vec<Option<(Class, Scores)>> = messages
        .par_iter()
        .map(|(class, raw)| {
            let view = MessageView::parse(raw, &limits).ok()?;
            Some((*class, classifier.score_view(&view)))
        })
        .collect();
    let unparsable = scored.iter().filter(|s| s.is_none()).count();
    let scored: Vec<(Class, Scores)> = scored.into_iter().flatten().collect();
    let report = evaluate(&scored, classifier.model().thresholds());
    if args.json {
        let mut v = serde_json::to_value(&report)?;
        v["skipped"] = serde_json::json!(skipped);
        v["unparsable"] = serde_json::json!(unparsable);
        println!("{v}");
    } else {
        if skipped + unparsable > 0 {
            println!("skipped {skipped} over-size and {unparsable} unparsable messages");
        }
        print!("{}", report.to_text());
    }
    if let Some(path) = &args.plot {
        plot_roc_svg(
            path,
            &format!("sendguard on {}", args.data.display()),
            &roc_curves(&scored),
        )?;
    }
    Ok(())
}
