//! `sendguard train`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use sendguard::corpus::ReadLimits;
use sendguard::model::train::{read_labelled, train, Labelled, TrainParams};

/// Arguments of `train`.
#[derive(clap::Args)]
pub struct Args {
    /// Labelled training data: CLASS.mbox[.gz] files or CLASS/ directories (repeatable).
    #[arg(long, required = true)]
    data: Vec<PathBuf>,
    /// Labelled dev data for choosing the blend and the thresholds (default: every fifth training message).
    #[arg(long)]
    dev: Option<PathBuf>,
    /// Where to write the model; the card goes beside it as NAME.card.json.
    #[arg(long)]
    out: PathBuf,
    /// Logistic regression iterations (0 skips the linfa logistic regression baseline).
    #[arg(long, default_value_t = TrainParams::default().lr_iterations)]
    lr_iterations: u64,
    /// Buckets given to logistic regression.
    #[arg(long, default_value_t = TrainParams::default().lr_features)]
    lr_features: usize,
    /// Buckets given to Naive Bayes.
    #[arg(long, default_value_t = TrainParams::default().nb_features)]
    nb_features: usize,
    /// L2 penalty of logistic regression.
    #[arg(long, default_value_t = TrainParams::default().lr_alpha)]
    lr_alpha: f32,
}

/// Runs `sendguard train`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let params = TrainParams {
        lr_iterations: args.lr_iterations,
        lr_features: args.lr_features,
        nb_features: args.nb_features,
        lr_alpha: args.lr_alpha,
        ..TrainParams::default()
    };
    let limits = ReadLimits::default();
    let read = |dir: &Path| -> anyhow::Result<(Labelled, usize)> {
        let (m, skipped) =
            read_labelled(dir, &limits).with_context(|| format!("reading {}", dir.display()))?;
        eprintln!(
            "{}: {} messages ({skipped} skipped)",
            dir.display(),
            m.len()
        );
        Ok((m, skipped))
    };
    let mut messages = Vec::new();
    let mut sources = Vec::new();
    for dir in &args.data {
        let (m, skipped) = read(dir)?;
        sources.push(serde_json::json!({"path": dir.display().to_string(), "messages": m.len(), "skipped": skipped}));
        messages.extend(m);
    }
    let dev = match &args.dev {
        Some(dir) => Some(read(dir)?.0),
        None => None,
    };
    let mut trained = train(messages, dev, &params, &mut |line| eprintln!("{line}"))?;
    trained.file.info.notes = format!(
        "trained on {}; dev: {}",
        args.data
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        args.dev
            .as_ref()
            .map_or("every fifth training message".to_string(), |d| d
                .display()
                .to_string())
    );
    trained
        .file
        .write(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let bytes = std::fs::metadata(&args.out)?.len();
    let card = serde_json::json!({
        "model": args.out.file_name().map(|n| n.to_string_lossy().to_string()),
        "format_version": sendguard::model::file::FORMAT_VERSION,
        "bytes": bytes,
        "created": trained.file.info.created,
        "command": std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" "),
        "trainer": trained.file.info.trainer,
        "training_data": sources,
        "training_messages_per_class": sendguard::Class::ALL.iter().map(|c| (c.name(), trained.train_counts[c.index()])).collect::<std::collections::BTreeMap<_, _>>(),
        "dev_data": args.dev.as_ref().map(|d| d.display().to_string()),
        "thresholds": trained.file.thresholds,
        "buckets_stored": trained.file.buckets.len(),
        "tokenizer": trained.file.tokenizer,
        "features": trained.file.features,
        "unparsable_messages": {"train": trained.unparsable.0, "dev": trained.unparsable.1},
        "dev_report": trained.dev_report,
        "candidates": trained.candidates,
    });
    let card_path = args.out.with_extension("card.json");
    std::fs::write(&card_path, serde_json::to_string_pretty(&card)? + "\n")?;
    eprintln!("{}", trained.dev_report.to_text());
    eprintln!(
        "wrote {} ({bytes} bytes) and {}",
        args.out.display(),
        card_path.display()
    );
    Ok(())
}
