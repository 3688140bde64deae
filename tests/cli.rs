//! The `sendguard` binary end to end, with the shipped default model, on fixtures written for
//! these tests (tests/fixtures/cli/).

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn sendguard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sendguard"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("runs")
}

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect()
}

#[test]
fn scam_letter_is_held_and_business_mail_passes() {
    let out = sendguard(&[
        "score",
        "--json",
        "tests/fixtures/cli/scam.eml",
        "tests/fixtures/cli/business.eml",
    ]);
    let rows = json_lines(&out);
    assert_eq!(rows.len(), 2, "{}", String::from_utf8_lossy(&out.stderr));
    let scam = &rows[0];
    assert!(
        scam["verdict"] == "hold" || scam["verdict"] == "reject",
        "scam letter: {scam}"
    );
    assert_eq!(scam["class"], "fraud", "{scam}");
    assert_eq!(scam["input"], "tests/fixtures/cli/scam.eml");
    assert_eq!(scam["index"], 0);
    let business = &rows[1];
    assert_eq!(business["verdict"], "pass", "{business}");
    assert_eq!(business["class"], "ham", "{business}");
    // a held message makes the exit status 1
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_letter_in_an_attached_text_file_is_read() {
    // A bland cover note with the scam in an attached, base64-encoded letter.txt: the
    // attachment is scored, so the letter is held. Attached meeting minutes still pass.
    let out = sendguard(&[
        "score",
        "--json",
        "tests/fixtures/cli/scam-attached.eml",
        "tests/fixtures/cli/business-attached.eml",
    ]);
    let rows = json_lines(&out);
    assert_eq!(rows.len(), 2, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        rows[0]["verdict"] == "hold" || rows[0]["verdict"] == "reject",
        "attached scam letter: {}",
        rows[0]
    );
    assert_eq!(rows[0]["class"], "fraud", "{}", rows[0]);
    assert_eq!(rows[1]["verdict"], "pass", "attached minutes: {}", rows[1]);
}

#[test]
fn json_rows_have_the_documented_shape() {
    let out = sendguard(&["score", "--json", "tests/fixtures/cli/scam.eml"]);
    let rows = json_lines(&out);
    let row = &rows[0];
    let scores = row["scores"].as_object().expect("scores object");
    let names: Vec<&str> = scores.keys().map(String::as_str).collect();
    for c in ["ham", "spam", "phishing", "fraud"] {
        assert!(names.contains(&c), "{names:?}");
    }
    let sum: f64 = scores.values().map(|v| v.as_f64().expect("number")).sum();
    assert!((sum - 1.0).abs() < 1e-4, "probabilities sum to {sum}");
    let reasons = row["reasons"].as_array().expect("reasons");
    assert!(!reasons.is_empty());
    assert!(reasons[0]["feature"].is_string() && reasons[0]["contribution"].is_number());
    assert!(row["message_id"].is_string() || row["message_id"].is_null());
}

#[test]
fn business_mail_alone_exits_zero() {
    let out = sendguard(&["score", "tests/fixtures/cli/business.eml"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("tests/fixtures/cli/business.eml#0  pass"),
        "{text}"
    );
}

#[test]
fn explain_names_features() {
    let out = sendguard(&["score", "--explain", "tests/fixtures/cli/scam.eml"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 1, "{text}");
    assert!(
        lines[1].trim_start().starts_with('+'),
        "first reason pushes toward the flag: {text}"
    );
}

#[test]
fn mbox_entries_are_indexed() {
    let out = sendguard(&["score", "--json", "tests/fixtures/cli/mixed.mbox"]);
    let rows = json_lines(&out);
    let idx: Vec<i64> = rows
        .iter()
        .map(|r| r["index"].as_i64().expect("index"))
        .collect();
    assert_eq!(idx, vec![0, 1, 2]);
    let verdicts: Vec<&str> = rows
        .iter()
        .map(|r| r["verdict"].as_str().expect("verdict"))
        .collect();
    assert_eq!(verdicts[0], "pass");
    assert!(
        verdicts[1] == "hold" || verdicts[1] == "reject",
        "{verdicts:?}"
    );
    assert_eq!(verdicts[2], "pass");
}

#[test]
fn stdin_is_read_with_dash() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sendguard"))
        .args(["score", "--json", "-"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawns");
    let bytes =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cli/scam.eml"))
            .expect("fixture");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(&bytes).expect("writes");
    }
    let out = child.wait_with_output().expect("finishes");
    let rows = json_lines(&out);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["input"], "-");
    assert_eq!(rows[0]["class"], "fraud");
}

#[test]
fn bad_inputs_get_errors_not_crashes() {
    let out = sendguard(&[
        "score",
        "--json",
        "tests/fixtures/cli/empty.eml",
        "tests/fixtures/cli/garbage.bin",
        "tests/fixtures/cli/truncated.eml",
        "tests/fixtures/cli/does-not-exist.eml",
        "tests/fixtures/cli/business.eml",
    ]);
    let rows = json_lines(&out);
    assert_eq!(rows.len(), 5, "one object per input: {rows:?}");
    assert!(
        rows[0]["error"].is_string(),
        "empty input is an error: {}",
        rows[0]
    );
    // garbage and truncated MIME get a verdict or an error, each stated
    for r in &rows[1..3] {
        assert!(r["verdict"].is_string() || r["error"].is_string(), "{r}");
    }
    assert!(rows[3]["error"]
        .as_str()
        .expect("error")
        .contains("does-not-exist"));
    assert_eq!(rows[4]["verdict"], "pass", "later inputs are still scored");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn broken_model_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.sgm");
    std::fs::write(&bad, b"SGMODEL\0\x01\0\0\0").expect("writes");
    let out = sendguard(&[
        "score",
        "--model",
        bad.to_str().expect("utf-8"),
        "tests/fixtures/cli/business.eml",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn help_documents_exit_codes() {
    let out = sendguard(&["score", "--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Exit status:") && text.contains("held or rejected"),
        "{text}"
    );
}

#[test]
fn verdict_exit_says_the_verdict() {
    let code = |file: &str| sendguard(&["score", "--verdict-exit", file]).status.code();
    // The compensation letter is beyond the reject bound; the business mail passes.
    assert_eq!(code("tests/fixtures/cli/scam.eml"), Some(5));
    assert_eq!(code("tests/fixtures/cli/business.eml"), Some(0));
    // The highest verdict over all messages wins.
    let out = sendguard(&[
        "score",
        "--verdict-exit",
        "tests/fixtures/cli/business.eml",
        "tests/fixtures/cli/scam.eml",
    ]);
    assert_eq!(out.status.code(), Some(5));
    // A message that cannot be scored is an error, whatever else was seen.
    assert_eq!(code("tests/fixtures/cli/empty.eml"), Some(2));
    // A short note is tagged at most (see tests/everyday.rs): stdin works as input.
    let mut child = Command::new(env!("CARGO_BIN_EXE_sendguard"))
        .args(["score", "--verdict-exit", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"From: Ann <ann@northwind.example.org>\nSubject: lunch\n\nSee you at noon.\n")
        .expect("writes");
    let status = child.wait().expect("exits");
    assert!(matches!(status.code(), Some(0 | 3)), "{status:?}");
}
