//! The `X-Sendguard` header value: compact, stable, header-safe ASCII.
//!
//! ```text
//! X-Sendguard: hold fraud=0.998 suspicion=12.3 reasons=cue:free-mail-contact,b:western union
//! X-Sendguard: pass ham=0.987 suspicion=-4.4
//! X-Sendguard: reject fraud=1.000 suspicion=19.8 action=hold reasons=...
//! X-Sendguard: tag spam=0.854 suspicion=0.4 dry-run reasons=...
//! X-Sendguard: unscanned size>10485760
//! X-Sendguard: exempt user
//! X-Sendguard: error timeout
//! ```
//!
//! The first word is the verdict (or `unscanned`, `exempt`, `error`); then the class the verdict
//! is about with its probability and the suspicion (log-odds of any non-ham class against ham);
//! `action=` when the action taken differs from the verdict's usual one (`reject = false` in the
//! config, or a policy); `dry-run` when nothing was enforced; `reasons=` last, the top features,
//! comma-separated, non-ASCII bytes, `%` and `,` percent-encoded.

use std::fmt::Write as _;

use super::Action;
use crate::{Verdict, Verdicted};

/// Longest feature name written, in bytes of the encoded form.
const MAX_REASON: usize = 60;
/// Lines are folded to stay within this many characters, name included.
const FOLD_AT: usize = 78;

/// The class a header names: the most likely class for a pass, the flagged class otherwise.
pub(crate) fn header_class(v: &Verdicted) -> crate::Class {
    if v.decision.verdict == Verdict::Pass {
        v.decision.class
    } else {
        v.decision.flagged_class
    }
}

/// The header value for a scored message (unfolded).
pub(crate) fn verdict_value(
    v: &Verdicted,
    action: Action,
    dry_run: bool,
    campaign: Option<&str>,
) -> String {
    let class = header_class(v);
    let mut out = format!(
        "{} {}={:.3} suspicion={:.1}",
        v.decision.verdict,
        class.name(),
        v.scores.probability(class),
        v.decision.suspicion
    );
    if action != Action::for_verdict(v.decision.verdict) {
        let _ = write!(out, " action={}", action.as_str());
    }
    if let Some(label) = campaign {
        let _ = write!(out, " campaign={label}");
    }
    if dry_run {
        out.push_str(" dry-run");
    }
    if !v.reasons.is_empty() {
        out.push_str(" reasons=");
        for (i, r) in v.reasons.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&encode_reason(&r.feature));
        }
    }
    out
}

/// A feature name as header-safe ASCII: printable ASCII and spaces kept, everything else
/// (and `%`, `,`) percent-encoded, cut at [`MAX_REASON`] bytes.
fn encode_reason(feature: &str) -> String {
    let mut out = String::new();
    for ch in feature.chars() {
        let mut piece = String::new();
        if (ch == ' ' || ch.is_ascii_graphic()) && ch != '%' && ch != ',' {
            piece.push(ch);
        } else {
            let mut b = [0u8; 4];
            for byte in ch.encode_utf8(&mut b).bytes() {
                let _ = write!(piece, "%{byte:02X}");
            }
        }
        if out.len() + piece.len() > MAX_REASON {
            break;
        }
        out.push_str(&piece);
    }
    out.trim_end().to_string()
}

/// Folds a header value so that no line (the first one with `name: `) exceeds [`FOLD_AT`]
/// characters, breaking only before spaces (`"\n "`, the form milters hand to the MTA).
/// Unfolding (removing the `\n`) gives the value back.
pub(crate) fn fold(name: &str, value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    let mut line = name.len() + 2;
    for (i, word) in value.split(' ').enumerate() {
        if i > 0 {
            if line + 1 + word.len() > FOLD_AT && line > 1 {
                out.push('\n');
                line = 0;
            }
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += word.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_header_safe() {
        assert_eq!(encode_reason("b:western union"), "b:western union");
        assert_eq!(encode_reason("cue:a,b%"), "cue:a%2Cb%25");
        assert_eq!(encode_reason("body:見積"), "body:%E8%A6%8B%E7%A9%8D");
        assert_eq!(encode_reason("x\r\ny"), "x%0D%0Ay");
        let long = encode_reason(&"日".repeat(40));
        assert!(long.len() <= MAX_REASON && long.ends_with("%A5"), "{long}");
    }

    #[test]
    fn folding_keeps_lines_short_and_unfolds_to_the_value() {
        let value = "hold fraud=0.998 suspicion=12.3 reasons=cue:free-mail-contact,b:western union,body:compensation payment,cue:reply-to-free-mail";
        let folded = fold("X-Sendguard", value);
        assert_eq!(folded.replace('\n', ""), value);
        let mut first = true;
        for line in folded.split('\n') {
            let len = line.len() + if first { "X-Sendguard: ".len() } else { 0 };
            assert!(len <= FOLD_AT, "{line:?}");
            first = false;
        }
        assert!(folded.contains("\n "));
        assert_eq!(fold("X-Sendguard", "pass ham=0.990"), "pass ham=0.990");
    }
}
