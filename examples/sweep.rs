//! Trains FTRL variants on `../shared/corpus/train` + `data/extra` and prints each one's dev
//! figures (TPR at ham FPR 0.1 % and 1 %, thresholds chosen on dev ham as `train` does), to
//! see how much of a figure is the trainer's seed and how much its settings.
//!
//! ```sh
//! # one spec per `;`: alpha,l1,l2,epochs,ham_weight,seed[,bag]  (`bag`: also print the
//! # average of the weights of every `bag` spec so far)
//! SWEEP="3,0.01,0.0001,4,2,1;3,0.01,0.0001,4,2,2" cargo run --release --example sweep
//! ```
use sendguard::corpus::ReadLimits;
use sendguard::features::{FeatureConfig, FeatureExtractor};
use sendguard::message::ViewLimits;
use sendguard::model::ftrl::{average, train_ftrl, FtrlParams};
use sendguard::model::report::evaluate;
use sendguard::model::train::{choose_thresholds, featurize, read_labelled, LinearWeights};
use sendguard::model::{Class, CompiledModel, Scores};
use sendguard::tokenize::{Tokenizer, TokenizerConfig};
use std::path::Path;

fn zero() -> sendguard::policy::Thresholds {
    let z = sendguard::policy::Level {
        suspicion: 0.0,
        fraud: 0.0,
    };
    sendguard::policy::Thresholds {
        tag: z,
        hold: z,
        reject: z,
    }
}

fn main() {
    let ex = FeatureExtractor::new(
        FeatureConfig::default(),
        Tokenizer::new(TokenizerConfig::default()),
    );
    let lim = ViewLimits::default();
    let rl = ReadLimits::default();
    let (mut train, _) = read_labelled(Path::new("../shared/corpus/train"), &rl).unwrap();
    let (extra, _) = read_labelled(Path::new("data/extra"), &rl).unwrap();
    train.extend(extra);
    let (dev, _) = read_labelled(Path::new("../shared/corpus/dev"), &rl).unwrap();
    let t0 = std::time::Instant::now();
    let (tr, _) = featurize(&ex, &lim, train);
    let (dv, _) = featurize(&ex, &lim, dev);
    eprintln!("featurised in {:?}", t0.elapsed());
    let buckets = ex.buckets();
    let judge = |name: &str, m: &CompiledModel| {
        let scored: Vec<(Class, Scores)> =
            dv.iter().map(|e| (e.class, m.score(&e.vector))).collect();
        let ham: Vec<Scores> = scored
            .iter()
            .filter(|(c, _)| *c == Class::Ham)
            .map(|(_, s)| *s)
            .collect();
        let th = choose_thresholds(&ham);
        let r = evaluate(&scored, &th);
        let g = |n: &str| r.get(n).map_or(0.0, |b| b.tpr_at_fpr_0_1pct);
        let g1 = |n: &str| r.get(n).map_or(0.0, |b| b.tpr_at_fpr_1pct);
        println!(
            "{name:50} any {:.4} fraud {:.4} phish {:.4} spam {:.4} | any@1% {:.4}",
            g("any non-ham vs ham"),
            g("fraud vs ham"),
            g("phishing vs ham"),
            g("spam vs ham"),
            g1("any non-ham vs ham")
        );
    };
    let spec = std::env::var("SWEEP").unwrap_or_default();
    let mut bag: Vec<LinearWeights> = Vec::new();
    for item in spec.split(';').filter(|s| !s.is_empty()) {
        // alpha,l1,l2,epochs,hamw,seed[,bag]
        let f: Vec<&str> = item.split(',').collect();
        let p = FtrlParams {
            alpha: f[0].parse().unwrap(),
            beta: 1.0,
            l1: f[1].parse().unwrap(),
            l2: f[2].parse().unwrap(),
            epochs: f[3].parse().unwrap(),
            ham_weight: f[4].parse().unwrap(),
            seed: f[5].parse().unwrap(),
            bag: 1,
        };
        let t = std::time::Instant::now();
        let w = train_ftrl(&tr, buckets, &p);
        let m = w.compile(buckets, zero()).unwrap();
        judge(
            &format!(
                "{item} ({:.0}s, {} rows)",
                t.elapsed().as_secs_f32(),
                w.buckets.len()
            ),
            &m,
        );
        if f.get(6) == Some(&"bag") {
            bag.push(w);
            if bag.len() > 1 {
                let a = average(&bag, buckets);
                let m = a.compile(buckets, zero()).unwrap();
                judge(
                    &format!("  bag of {} ({} rows)", bag.len(), a.buckets.len()),
                    &m,
                );
            }
        }
    }
}
