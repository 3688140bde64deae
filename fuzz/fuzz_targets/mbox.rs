//! Fuzz target `mbox`: raw bytes read as a mail store by `corpus::Messages::from_reader`
//! (gzip and mbox detected by content, From_ lines split, mboxrd `>From ` un-escaped).
//!
//! Checks: no panic or hang; a plain input (neither gzip nor starting with `From `) is exactly
//! one message equal to the input; a plain mbox yields messages whose bytes together are no
//! more than the input (the reader only removes separators and escapes), no more of them than
//! the input has lines, and no message over the read limit; gzip input (decompressed up to the
//! read limit per message) at most a bounded number of items.

#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use sendguard::corpus::{CorpusError, Messages, ReadLimits};

const LIMITS: ReadLimits = ReadLimits {
    max_message_bytes: 1 << 20,
};

/// Items read from gzip input before giving up (a small input can inflate ~1000-fold).
const GZIP_ITEMS: usize = 100_000;

fuzz_target!(|data: &[u8]| {
    let gzip = data.starts_with(&[0x1f, 0x8b]);
    let mbox = data.starts_with(b"From ");
    let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
    let mut count = 0usize;
    let mut total = 0usize;
    let mut first: Option<Vec<u8>> = None;
    for item in Messages::from_reader("fuzz", Cursor::new(data.to_vec()), &LIMITS) {
        count += 1;
        match item {
            Ok(m) => {
                assert!(
                    m.bytes.len() <= LIMITS.max_message_bytes,
                    "{} bytes kept",
                    m.bytes.len()
                );
                total += m.bytes.len();
                if first.is_none() {
                    first = Some(m.bytes);
                }
            }
            Err(CorpusError::TooLarge { size, limit, .. }) => {
                assert!(size > limit as u64, "too large at {size} <= {limit}");
            }
            Err(CorpusError::Read { .. }) => assert!(gzip, "read error on an in-memory buffer"),
            Err(e) => panic!("unexpected error for a reader: {e}"),
        }
        if gzip && count >= GZIP_ITEMS {
            return;
        }
        assert!(
            gzip || count <= lines,
            "{count} messages from {lines} lines"
        );
    }
    if gzip {
        return;
    }
    assert!(
        total <= data.len(),
        "{total} message bytes from {} input bytes",
        data.len()
    );
    if !mbox {
        assert_eq!(count, 1, "a plain input is one message");
        assert_eq!(
            first.as_deref(),
            Some(data),
            "a plain input is read as it is"
        );
    }
});
