//! Hostile and broken input through the public API, with the shipped default model: each gets a
//! verdict or a clear error, never a panic.

use sendguard::corpus::{Messages, ReadLimits};
use sendguard::{Classifier, Error, Verdict};

fn classifier() -> Classifier {
    Classifier::load_default().expect("the shipped model loads")
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

#[test]
fn empty_input_is_an_error() {
    let c = classifier();
    assert!(matches!(c.score(b""), Err(Error::Message(_))));
    assert!(matches!(c.score(b"  \r\n\r\n"), Err(Error::Message(_))));
}

#[test]
fn binary_garbage_gets_a_verdict_or_an_error() {
    let c = classifier();
    for seed in 1..50 {
        let bytes = noise(4096, seed);
        match c.score(&bytes) {
            Ok(v) => assert!(v.scores.probabilities().iter().all(|p| p.is_finite())),
            Err(Error::Message(_)) => {}
            Err(e) => panic!("unexpected error kind: {e}"),
        }
    }
}

#[test]
fn truncated_mime_is_scored() {
    let raw = b"From: a@b.example.org\r\nSubject: report\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\n\
Please find the quarterly report attached.\r\n--XX\r\nContent-Type: application/pdf\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfs";
    let v = classifier().score(raw).expect("scored");
    assert_eq!(v.decision.verdict, Verdict::Pass);
}

#[test]
fn fifty_megabyte_message_is_scored() {
    let mut raw = b"From: a@b.example.org\nSubject: logs\nContent-Type: text/plain\n\n".to_vec();
    let line = b"2026-11-01 12:00:00 INFO request served in 12 ms from cache node 7\n";
    while raw.len() < 50 * 1024 * 1024 {
        raw.extend_from_slice(line);
    }
    let v = classifier().explain(&raw, 3).expect("scored");
    assert!(v.scores.probabilities().iter().all(|p| p.is_finite()));
}

#[test]
fn unknown_charset_label_is_scored() {
    let raw = b"From: a@b.example.org\nSubject: hi\nContent-Type: text/plain; charset=x-no-such-charset\n\
Content-Transfer-Encoding: 8bit\n\nCaf\xe9 meeting moved to Tuesday at ten.\n";
    let v = classifier().score(raw).expect("scored");
    assert_eq!(v.decision.verdict, Verdict::Pass);
}

#[test]
fn deeply_nested_multipart_is_scored() {
    let mut raw = String::from("From: a@b.example.org\nSubject: nest\nMIME-Version: 1.0\n");
    for i in 0..2000 {
        raw.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\n\n--b{i}\n"
        ));
    }
    raw.push_str("Content-Type: text/plain\n\nhello\n");
    let v = classifier().score(raw.as_bytes()).expect("scored");
    assert!(v.scores.probabilities().iter().all(|p| p.is_finite()));
}

#[test]
fn one_broken_mbox_entry_does_not_stop_the_rest() {
    let mut mbox = b"From a@b Thu Jan  1 00:00:00 1970\nFrom: a@b.example.org\nSubject: one\n\nfirst message\n\n".to_vec();
    mbox.extend_from_slice(b"From x@y Thu Jan  1 00:00:00 1970\n");
    mbox.extend_from_slice(
        &noise(3000, 7)
            .into_iter()
            .map(|b| if b == b'\n' { b' ' } else { b })
            .collect::<Vec<u8>>(),
    );
    mbox.extend_from_slice(b"\n\nFrom a@b Thu Jan  1 00:00:00 1970\nFrom: a@b.example.org\nSubject: three\n\nthird message\n");
    let limits = ReadLimits::default();
    let c = classifier();
    let results: Vec<Result<Verdict, String>> =
        Messages::from_reader("test.mbox", std::io::Cursor::new(mbox), &limits)
            .map(|m| {
                let m = m.map_err(|e| e.to_string())?;
                c.score(&m.bytes)
                    .map(|v| v.decision.verdict)
                    .map_err(|e| e.to_string())
            })
            .collect();
    assert_eq!(results.len(), 3, "{results:?}");
    assert!(results[0].is_ok(), "{results:?}");
    assert!(
        results[2].is_ok(),
        "the entry after the broken one is scored: {results:?}"
    );
}

#[test]
fn oversized_mbox_entry_is_reported_and_skipped() {
    let mut mbox = b"From a@b Thu Jan  1 00:00:00 1970\nSubject: big\n\n".to_vec();
    mbox.extend_from_slice(&vec![b'a'; 10_000]);
    mbox.extend_from_slice(b"\n\nFrom a@b Thu Jan  1 00:00:00 1970\nSubject: small\n\nok\n");
    let limits = ReadLimits {
        max_message_bytes: 1000,
    };
    let items: Vec<_> =
        Messages::from_reader("test.mbox", std::io::Cursor::new(mbox), &limits).collect();
    assert_eq!(items.len(), 2);
    assert!(items[0].is_err());
    assert_eq!(items[1].as_ref().map(|m| m.index).ok(), Some(1));
}
