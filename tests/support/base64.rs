//! Base64 (RFC 4648, with padding) for the tests that build messages: included with
//! `#[path = "support/base64.rs"] mod base64;` by the test crates and by the message view's unit
//! tests, so each takes only this file.
#![allow(dead_code)] // each user takes one of the two

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `data` in base64, on one line.
pub fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `data` in base64 as a MIME body: lines of 76 characters, each ending in `"\n"`.
pub fn encode_lines(data: &[u8]) -> String {
    let one = encode(data);
    let mut out = String::with_capacity(one.len() + one.len() / 76 + 1);
    for line in one.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out
}

#[test]
fn encodes_the_rfc_4648_vectors() {
    for (plain, coded) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(encode(plain.as_bytes()), coded);
    }
    let long = encode_lines(&[0u8; 100]);
    assert!(long.lines().all(|l| l.len() <= 76) && long.ends_with('\n'));
    assert_eq!(long.lines().collect::<String>(), encode(&[0u8; 100]));
}
