//! `sendguard batch` end to end, with the shipped default model, on the repository's fixtures
//! (data/examples/, tests/fixtures/cli/, tests/fixtures/heldout/). The Postfix queue is played
//! by three small shell scripts standing in for postqueue, postcat and postsuper (named through
//! $SENDGUARD_POSTQUEUE, $SENDGUARD_POSTCAT, $SENDGUARD_POSTSUPER); tests/postfix/batch.sh does
//! the same against a real Postfix.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn sendguard(args: &[&str]) -> Output {
    sendguard_env(args, &[])
}

fn sendguard_env(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sendguard"));
    c.args(args).current_dir(repo());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json_rows(out: &Output) -> Vec<serde_json::Value> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect()
}

fn flagged(row: &serde_json::Value) -> bool {
    row["verdict"] == "hold" || row["verdict"] == "reject"
}

#[test]
fn directory_rows_come_in_path_order_with_sender_and_queue_id() {
    let out = sendguard(&["batch", "--output", "jsonl", "data/examples"]);
    let rows = json_rows(&out);
    let inputs: Vec<&str> = rows
        .iter()
        .map(|r| r["input"].as_str().expect("input"))
        .collect();
    assert_eq!(
        inputs,
        vec![
            "data/examples/business-invoice.eml",
            "data/examples/japanese-business.eml",
            "data/examples/newsletter.eml",
            "data/examples/phishing-account.eml",
            "data/examples/scam-compensation.eml",
        ],
        "{}",
        stderr(&out)
    );
    let invoice = &rows[0];
    assert_eq!(invoice["verdict"], "pass", "{invoice}");
    assert_eq!(invoice["sender"], "k.vogel@acme-logistics.de");
    assert!(invoice["queue_id"].is_null() && invoice["queue"].is_null());
    assert_eq!(
        invoice["reasons"],
        serde_json::json!([]),
        "pass: no reasons"
    );
    let scam = &rows[4];
    assert!(flagged(scam), "{scam}");
    assert_eq!(scam["class"], "fraud");
    assert_eq!(scam["sender"], "wu.compensation.unit@outlook.com");
    assert_eq!(scam["reasons"].as_array().expect("reasons").len(), 5);
    assert_eq!(out.status.code(), Some(1), "a held or rejected message");
}

#[test]
fn jsonl_rows_are_score_json_rows_plus_queue_and_sender() {
    let file = "tests/fixtures/cli/scam.eml";
    let scored = json_rows(&sendguard(&["score", "--json", file]));
    let batched = json_rows(&sendguard(&["batch", file]));
    let mut row = batched[0].clone();
    let map = row.as_object_mut().expect("object");
    for extra in ["queue_id", "queue", "sender"] {
        assert!(map.remove(extra).is_some(), "{extra} is in the row");
    }
    assert_eq!(row, scored[0]);
}

#[test]
fn explain_all_gives_reasons_for_messages_that_pass() {
    let file = "tests/fixtures/cli/business.eml";
    let out = sendguard(&["batch", "--explain-all", "--reasons", "2", file]);
    let rows = json_rows(&out);
    assert_eq!(rows[0]["verdict"], "pass");
    assert_eq!(rows[0]["reasons"].as_array().expect("reasons").len(), 2);
    assert_eq!(rows[0], {
        let mut r = json_rows(&sendguard(&["score", "--json", "--reasons", "2", file]))[0].clone();
        let m = r.as_object_mut().expect("object");
        m.insert("queue_id".into(), serde_json::Value::Null);
        m.insert("queue".into(), serde_json::Value::Null);
        m.insert("sender".into(), "priya.raman@harborline-foods.com".into());
        r
    });
    assert_eq!(out.status.code(), Some(0), "nothing held: exit 0");
}

#[test]
fn mbox_plain_and_gzip_give_the_same_rows() {
    let plain = sendguard(&["batch", "tests/fixtures/cli/mixed.mbox"]);
    let rows = json_rows(&plain);
    let idx: Vec<i64> = rows
        .iter()
        .map(|r| r["index"].as_i64().expect("index"))
        .collect();
    assert_eq!(idx, vec![0, 1, 2]);
    assert_eq!(rows[0]["verdict"], "pass");
    assert!(flagged(&rows[1]), "{}", rows[1]);
    assert_eq!(rows[2]["verdict"], "pass");

    let dir = tempfile::tempdir().expect("tempdir");
    let gz = dir.path().join("mixed.mbox.gz");
    let mut enc = flate2::write::GzEncoder::new(
        fs::File::create(&gz).expect("creates"),
        flate2::Compression::default(),
    );
    enc.write_all(&fs::read(repo().join("tests/fixtures/cli/mixed.mbox")).expect("fixture"))
        .expect("writes");
    enc.finish().expect("finishes");
    let zipped = json_rows(&sendguard(&["batch", gz.to_str().expect("utf-8")]));
    assert_eq!(zipped.len(), 3);
    for (a, b) in rows.iter().zip(&zipped) {
        assert_eq!(a["scores"], b["scores"]);
        assert_eq!(a["index"], b["index"]);
    }
}

#[test]
fn maildir_cur_and_new_are_read_and_tmp_is_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let md = dir.path().join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(md.join(sub)).expect("mkdir");
    }
    let fixture =
        |name: &str| fs::read(repo().join("tests/fixtures/cli").join(name)).expect("fixture");
    fs::write(
        md.join("cur/1700000000.1.host:2,S"),
        fixture("business.eml"),
    )
    .expect("writes");
    fs::write(md.join("new/1700000001.2.host"), fixture("scam.eml")).expect("writes");
    fs::write(md.join("tmp/1700000002.3.host"), fixture("scam.eml")).expect("writes");
    let out = sendguard(&["batch", md.to_str().expect("utf-8")]);
    let rows = json_rows(&out);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows[0]["input"].as_str().expect("input").contains("/cur/"));
    assert_eq!(rows[0]["verdict"], "pass");
    assert!(rows[1]["input"].as_str().expect("input").contains("/new/"));
    assert!(flagged(&rows[1]));
}

#[test]
fn csv_has_a_header_and_one_record_per_message() {
    let out = sendguard(&[
        "batch",
        "--output",
        "csv",
        "data/examples",
        "tests/fixtures/cli/empty.eml",
    ]);
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    assert_eq!(
        header,
        [
            "input",
            "index",
            "queue_id",
            "queue",
            "sender",
            "message_id",
            "verdict",
            "class",
            "suspicion",
            "ham",
            "spam",
            "phishing",
            "fraud",
            "reasons",
            "error"
        ]
    );
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("parses")).collect();
    assert_eq!(records.len(), 6);
    let scam = &records[4];
    assert_eq!(&scam[0], "data/examples/scam-compensation.eml");
    assert!(&scam[6] == "hold" || &scam[6] == "reject");
    assert_eq!(&scam[7], "fraud");
    assert!(scam[13].starts_with("cue:"), "reasons: {}", &scam[13]);
    let p: f64 = (9..13)
        .map(|i| scam[i].parse::<f64>().expect("probability"))
        .sum();
    assert!((p - 1.0).abs() < 1e-4);
    let empty = &records[5];
    assert_eq!(&empty[6], "");
    assert!(!empty[14].is_empty(), "error column: {empty:?}");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn table_is_aligned_with_one_line_per_message() {
    let out = sendguard(&["batch", "--output", "table", "data/examples"]);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert!(lines[0].starts_with("verdict  class"), "{text}");
    // The sender column starts at the same character in every line.
    let col = lines[0].find("sender").expect("sender column");
    let invoice = lines[1];
    assert!(invoice.starts_with("pass "), "{invoice}");
    assert_eq!(
        invoice.chars().skip(col).take(25).collect::<String>(),
        "k.vogel@acme-logistics.de"
    );
    assert!(
        invoice.ends_with("data/examples/business-invoice.eml#0"),
        "{invoice}"
    );
    let scam = lines[5];
    assert!(
        scam.starts_with("reject ") || scam.starts_with("hold "),
        "{scam}"
    );
    assert!(scam.contains("fraud"));
}

/// An mbox of every fixture message, seven times over (about 560 messages, so three chunks),
/// with one empty entry in the middle.
fn big_mbox(dir: &Path) -> (PathBuf, usize) {
    let mut files: Vec<PathBuf> = Vec::new();
    for sub in [
        "data/examples",
        "tests/fixtures/heldout/ham",
        "tests/fixtures/heldout/fraud",
        "tests/fixtures/heldout/phishing",
    ] {
        let mut these: Vec<PathBuf> = fs::read_dir(repo().join(sub))
            .expect("fixture dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        these.sort();
        files.extend(these);
    }
    let mut mbox = Vec::new();
    let mut n = 0;
    for round in 0..7 {
        for f in &files {
            mbox.extend_from_slice(b"From sender@example.org Thu Jan  1 00:00:00 1970\n");
            for line in fs::read(f)
                .expect("fixture")
                .split_inclusive(|&b| b == b'\n')
            {
                // mboxrd: a body line that starts with From or >From gets one more '>'.
                let unquoted = line.iter().position(|&b| b != b'>').unwrap_or(line.len());
                if line[unquoted..].starts_with(b"From ") {
                    mbox.push(b'>');
                }
                mbox.extend_from_slice(line);
            }
            if !mbox.ends_with(b"\n") {
                mbox.push(b'\n');
            }
            mbox.push(b'\n');
            n += 1;
        }
        if round == 3 {
            mbox.extend_from_slice(b"From empty@example.org Thu Jan  1 00:00:00 1970\n\n");
            n += 1;
        }
    }
    let path = dir.join("big.mbox");
    fs::write(&path, mbox).expect("writes");
    (path, n)
}

#[test]
fn output_is_the_same_whatever_the_number_of_threads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mbox, n) = big_mbox(dir.path());
    let mbox = mbox.to_str().expect("utf-8");
    assert!(n > 2 * 256, "several chunks: {n}");
    let run = |jobs: &str, format: &str| {
        let out = sendguard(&["batch", "--jobs", jobs, "--output", format, mbox]);
        assert_eq!(out.status.code(), Some(2), "the empty entry is an error");
        out.stdout
    };
    let jsonl = run("1", "jsonl");
    assert!(jsonl == run("2", "jsonl"), "jsonl: --jobs 1 and 2 differ");
    assert!(jsonl == run("3", "jsonl"), "jsonl: --jobs 1 and 3 differ");
    assert!(
        run("1", "csv") == run("2", "csv"),
        "csv: --jobs 1 and 2 differ"
    );
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&jsonl)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(rows.len(), n);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["index"], i, "row {i} in input order");
    }
    assert_eq!(rows.iter().filter(|r| r["error"].is_string()).count(), 1);
}

#[test]
fn summary_counts_what_was_written() {
    let out = sendguard(&["batch", "data/examples", "tests/fixtures/cli/mixed.mbox"]);
    let rows = json_rows(&out);
    let err = stderr(&out);
    let count = |key: &str, value: &str| rows.iter().filter(|r| r[key] == value).count();
    let verdicts = format!(
        "verdicts: pass {}  tag {}  hold {}  reject {}",
        count("verdict", "pass"),
        count("verdict", "tag"),
        count("verdict", "hold"),
        count("verdict", "reject")
    );
    assert!(err.contains(&verdicts), "{verdicts} in:\n{err}");
    let classes = format!(
        "classes:  ham {}  spam {}  phishing {}  fraud {}",
        count("class", "ham"),
        count("class", "spam"),
        count("class", "phishing"),
        count("class", "fraud")
    );
    assert!(err.contains(&classes), "{classes} in:\n{err}");
    assert!(err.contains("sendguard batch: 8 messages in "), "{err}");
    assert!(err.contains("8 scored, 0 errors"), "{err}");
    assert!(err.contains("messages/s"), "{err}");
    assert!(err.contains("senders with most flagged messages"), "{err}");
    assert!(err.contains("wu.compensation.unit@outlook.com"), "{err}");
    // The business mail passes, so its sender is not among the flagged.
    assert!(!err.contains("k.vogel@acme-logistics.de"), "{err}");
}

#[test]
fn broken_entries_do_not_stop_the_run() {
    let out = sendguard(&[
        "batch",
        "tests/fixtures/cli/empty.eml",
        "tests/fixtures/cli/garbage.bin",
        "tests/fixtures/cli/truncated.eml",
        "tests/fixtures/cli/does-not-exist.eml",
        "tests/fixtures/cli/business.eml",
    ]);
    let rows = json_rows(&out);
    assert_eq!(rows.len(), 5, "one row per input: {rows:?}");
    assert!(rows[0]["error"].is_string(), "{}", rows[0]);
    assert!(rows[3]["error"]
        .as_str()
        .expect("error")
        .contains("does-not-exist"));
    assert!(rows[3]["queue_id"].is_null());
    assert_eq!(rows[4]["verdict"], "pass", "later inputs are still scored");
    let err = stderr(&out);
    let error_lines: Vec<&str> = err.lines().filter(|l| l.contains(": error: ")).collect();
    assert_eq!(
        error_lines.len(),
        rows.iter().filter(|r| r["error"].is_string()).count(),
        "one stderr line per error: {err}"
    );
    assert!(
        error_lines
            .iter()
            .any(|l| l.starts_with("tests/fixtures/cli/does-not-exist.eml#0: error: ")),
        "{err}"
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn business_mail_alone_exits_zero() {
    let out = sendguard(&["batch", "--jobs", "1", "tests/fixtures/cli/business.eml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn hold_flagged_needs_a_postfix_queue() {
    let out = sendguard(&["batch", "--hold-flagged", "data/examples"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("--postfix-queue"), "{}", stderr(&out));
    let out = sendguard(&["batch", "--apply", "--postfix-queue", "all"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--hold-flagged"), "{}", stderr(&out));
}

#[test]
fn help_documents_batch() {
    let text = stdout(&sendguard(&["batch", "--help"]));
    for needle in [
        "Exit status:",
        "--jobs",
        "--hold-flagged",
        "would hold",
        "tag, hold or reject",
        "[]",
    ] {
        assert!(text.contains(needle), "{needle} in:\n{text}");
    }
}

/// A fake Postfix in `dir`: the queue listing is `queue.jsonl`, queued messages are files under
/// `msgs/`, postsuper appends the IDs it holds to `held` and every call appends its arguments
/// to `calls`.
fn fake_postfix(
    dir: &Path,
    queue: &[(&str, &str, &str, Option<&str>)],
) -> Vec<(&'static str, PathBuf)> {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir_all(dir.join("msgs")).expect("mkdir");
    let mut listing = String::new();
    for (queue_name, id, sender, fixture) in queue {
        listing.push_str(
            &serde_json::json!({
                "queue_name": queue_name, "queue_id": id, "arrival_time": 1795848924,
                "message_size": 1000, "forced_expire": false, "sender": sender,
                "recipients": [{"address": "bob@example.com", "delay_reason": "deferred transport"}]
            })
            .to_string(),
        );
        listing.push('\n');
        if let Some(f) = fixture {
            fs::copy(repo().join(f), dir.join("msgs").join(id)).expect("copies");
        }
    }
    fs::write(dir.join("queue.jsonl"), listing).expect("writes");
    let d = dir.display();
    let scripts = [
        (
            "SENDGUARD_POSTQUEUE",
            "postqueue",
            format!("#!/bin/sh\necho \"postqueue $*\" >> {d}/calls\ncat {d}/queue.jsonl\n"),
        ),
        (
            "SENDGUARD_POSTCAT",
            "postcat",
            format!(
                "#!/bin/sh\necho \"postcat $*\" >> {d}/calls\nfor id; do :; done\n\
if [ -f {d}/msgs/$id ]; then cat {d}/msgs/$id; else \
echo \"postcat: fatal: open queue file $id: No such file or directory\" >&2; exit 1; fi\n"
            ),
        ),
        (
            "SENDGUARD_POSTSUPER",
            "postsuper",
            format!(
                "#!/bin/sh\necho \"postsuper $*\" >> {d}/calls\n\
while read id; do echo $id >> {d}/held; echo \"postsuper: $id: placed on hold\" >&2; done\n\
echo \"postsuper: Placed on hold: some messages\" >&2\n"
            ),
        ),
    ];
    let mut env = Vec::new();
    for (var, name, text) in scripts {
        let path = dir.join(name);
        fs::write(&path, text).expect("writes");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
        env.push((var, path));
    }
    env
}

fn as_env<'a>(env: &'a [(&'static str, PathBuf)]) -> Vec<(&'static str, &'a Path)> {
    env.iter().map(|(k, v)| (*k, v.as_path())).collect()
}

/// Deferred business mail, a deferred scam letter, a scam letter already on hold, and a
/// deferred message that is delivered before it can be read.
const QUEUE: [(&str, &str, &str, Option<&str>); 4] = [
    (
        "deferred",
        "B0B1B2B3B4",
        "priya@harborline-foods.com",
        Some("tests/fixtures/cli/business.eml"),
    ),
    (
        "deferred",
        "5CA5CA5CA5",
        "alice@localhost",
        Some("data/examples/scam-compensation.eml"),
    ),
    (
        "hold",
        "4X0LDxyz12",
        "mallory@localhost",
        Some("tests/fixtures/cli/scam.eml"),
    ),
    ("deferred", "60NE606060", "carol@localhost", None),
];

#[test]
fn postfix_queue_rows_carry_queue_ids() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = fake_postfix(dir.path(), &QUEUE);
    let out = sendguard_env(
        &["batch", "--postfix-queue", "all", "--jobs", "2"],
        &as_env(&env),
    );
    let rows = json_rows(&out);
    let err = stderr(&out);
    let ids: Vec<&str> = rows
        .iter()
        .map(|r| r["queue_id"].as_str().expect("queue_id"))
        .collect();
    assert_eq!(ids, vec!["B0B1B2B3B4", "5CA5CA5CA5", "4X0LDxyz12"], "{err}");
    assert_eq!(rows[0]["verdict"], "pass");
    assert_eq!(rows[0]["queue"], "deferred");
    assert_eq!(
        rows[0]["sender"], "priya@harborline-foods.com",
        "envelope sender"
    );
    assert_eq!(rows[0]["input"], "postfix:deferred/B0B1B2B3B4");
    assert!(
        flagged(&rows[1]) && rows[1]["class"] == "fraud",
        "{}",
        rows[1]
    );
    assert!(flagged(&rows[2]), "{}", rows[2]);
    assert!(
        err.contains("postfix:deferred/60NE606060: left the queue before it was read; skipped"),
        "{err}"
    );
    assert!(err.contains("1 left the queue"), "{err}");
    assert_eq!(
        out.status.code(),
        Some(1),
        "a vanished message is not an error: {err}"
    );

    let out = sendguard_env(&["batch", "--postfix-queue", "hold"], &as_env(&env));
    let rows = json_rows(&out);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["queue_id"], "4X0LDxyz12");
    let calls = fs::read_to_string(dir.path().join("calls")).expect("calls");
    assert!(calls.contains("postcat -hb -q 4X0LDxyz12"), "{calls}");
    assert!(
        !dir.path().join("held").exists(),
        "nothing held without --hold-flagged"
    );
}

#[test]
fn hold_flagged_is_a_dry_run_until_apply() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = fake_postfix(dir.path(), &QUEUE);
    let conf = dir.path().join("postfix-conf");
    let conf_s = conf.to_str().expect("utf-8");
    let args = [
        "batch",
        "--postfix-queue",
        "deferred,hold",
        "--postfix-config",
        conf_s,
        "--hold-flagged",
    ];
    let out = sendguard_env(&args, &as_env(&env));
    let err = stderr(&out);
    let would: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("would hold "))
        .collect();
    assert_eq!(
        would.len(),
        1,
        "only the deferred scam, not the one on hold: {err}"
    );
    assert!(would[0].starts_with("would hold 5CA5CA5CA5 ("), "{err}");
    assert!(
        would[0].contains("fraud") && would[0].contains("alice@localhost"),
        "{err}"
    );
    assert!(!dir.path().join("held").exists(), "a dry run holds nothing");
    assert_eq!(out.status.code(), Some(1));

    let mut apply = args.to_vec();
    apply.push("--apply");
    let out = sendguard_env(&apply, &as_env(&env));
    let err = stderr(&out);
    assert_eq!(
        fs::read_to_string(dir.path().join("held")).expect("held"),
        "5CA5CA5CA5\n"
    );
    assert!(
        err.lines().any(|l| l.starts_with("held 5CA5CA5CA5 (")),
        "{err}"
    );
    assert!(err.contains("put on hold: 1"), "{err}");
    let calls = fs::read_to_string(dir.path().join("calls")).expect("calls");
    assert!(
        calls.contains(&format!("postqueue -c {conf_s} -j")),
        "{calls}"
    );
    assert!(
        calls.contains(&format!("postsuper -c {conf_s} -h -")),
        "{calls}"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn an_unlistable_queue_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fail = dir.path().join("postqueue");
    fs::write(&fail, "#!/bin/sh\necho 'postqueue: fatal: Queue report unavailable - mail system is down' >&2\nexit 75\n").expect("writes");
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&fail, fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let out = sendguard_env(
        &["batch", "--postfix-queue", "all"],
        &[("SENDGUARD_POSTQUEUE", &fail)],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("mail system is down"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn no_permission_to_read_the_queue_stops_the_run_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut env = fake_postfix(dir.path(), &QUEUE);
    let denied = dir.path().join("postcat-denied");
    fs::write(
        &denied,
        "#!/bin/sh\nfor id; do :; done\necho \"postcat: fatal: open queue file $id: Permission denied\" >&2\nexit 1\n",
    )
    .expect("writes");
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&denied, fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    env.retain(|(k, _)| *k != "SENDGUARD_POSTCAT");
    env.push(("SENDGUARD_POSTCAT", denied));
    let out = sendguard_env(&["batch", "--postfix-queue", "all"], &as_env(&env));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(err.matches("Permission denied").count(), 1, "{err}");
    assert!(err.contains("needs root"), "{err}");
    assert!(out.stdout.is_empty());
}
