//! Whole-pipeline tests: literal text in, literal tokens out.

use super::TokenKind::{CjkBigram as C, CryptoAddress as A, Money as M, Number as N, Word as W};
use super::*;

fn toks(text: &str) -> Vec<(TokenKind, String)> {
    Tokenizer::default().tokens(text)
}

fn words(list: &[&str]) -> Vec<(TokenKind, String)> {
    list.iter().map(|w| (W, w.to_string())).collect()
}

fn t(list: &[(TokenKind, &str)]) -> Vec<(TokenKind, String)> {
    list.iter().map(|(k, s)| (*k, s.to_string())).collect()
}

/// Only the money tokens.
fn money(text: &str) -> Vec<String> {
    toks(text)
        .into_iter()
        .filter(|(k, _)| *k == M)
        .map(|(_, s)| s)
        .collect()
}

#[test]
fn plain_ascii_sentence() {
    assert_eq!(
        toks("Dear Friend, I am Mr. John Smith from the Bank."),
        words(&["dear", "friend", "i", "am", "mr", "john", "smith", "from", "the", "bank"])
    );
}

#[test]
fn punctuation_and_apostrophes() {
    assert_eq!(
        toks("Don't worry -- it's \"safe\"; (really!) e.g. www.Example.com"),
        words(&[
            "don't",
            "worry",
            "it's",
            "safe",
            "really",
            "e.g",
            "www.example.com"
        ])
    );
    assert_eq!(toks("don\u{2019}t"), words(&["don't"]));
}

#[test]
fn lines_are_tokenised_separately() {
    assert_eq!(
        toks("Hello\r\nWorld\n\nbye"),
        words(&["hello", "world", "bye"])
    );
}

#[test]
fn nfkc_fullwidth() {
    assert_eq!(
        toks("ＷＥＳＴＥＲＮ ＵＮＩＯＮ"),
        words(&["western", "union"])
    );
}

#[test]
fn zero_width_space_inside_word() {
    assert_eq!(toks("Wes\u{200B}tern Union"), words(&["western", "union"]));
}

#[test]
fn soft_hyphen_inside_word() {
    assert_eq!(toks("bene\u{AD}ficiary"), words(&["beneficiary"]));
}

#[test]
fn bidi_controls_removed() {
    assert_eq!(
        toks("\u{202E}lanigiro\u{202C} pay\u{200F}ment \u{2066}now\u{2069}"),
        words(&["lanigiro", "payment", "now"])
    );
}

#[test]
fn cyrillic_confusables_folded() {
    // "Mоnеуgram" with Cyrillic о, е, у.
    assert_eq!(
        toks("Send via M\u{43E}n\u{435}\u{443}gram"),
        words(&["send", "via", "moneygram"])
    );
    assert_eq!(
        toks("W\u{435}st\u{435}rn Uni\u{43E}n"),
        words(&["western", "union"])
    );
}

#[test]
fn all_cyrillic_word_unchanged() {
    assert_eq!(toks("Привет, друг!"), words(&["привет", "друг"]));
}

#[test]
fn spaced_letters_rejoined() {
    assert_eq!(
        toks("W e s t e r n  U n i o n"),
        words(&["western", "union"])
    );
    assert_eq!(
        toks("via M o n e y G r a m now"),
        words(&["via", "moneygram", "now"])
    );
}

#[test]
fn dotted_and_hyphenated_letters_rejoined() {
    assert_eq!(
        toks("W.e.s.t.e.r.n U n i o n"),
        words(&["western", "union"])
    );
    assert_eq!(toks("w-e-s-t and w_i_r_e"), words(&["west", "and", "wire"]));
    assert_eq!(toks("U.S.A"), words(&["usa"]));
}

#[test]
fn short_letter_runs_stay_apart() {
    assert_eq!(toks("a b"), words(&["a", "b"]));
    assert_eq!(toks("U.S. plan"), words(&["u.s", "plan"]));
    assert_eq!(toks("I am a b"), words(&["i", "am", "a", "b"]));
}

#[test]
fn rejoin_can_be_disabled() {
    let tk = Tokenizer::new(TokenizerConfig {
        rejoin_spaced: false,
        ..TokenizerConfig::default()
    });
    assert_eq!(
        tk.tokens("W e s t W.e.s.t"),
        words(&["w", "e", "s", "t", "w.e.s.t"])
    );
}

#[test]
fn number_shapes() {
    assert_eq!(
        toks("Call 555 1234 or +44 20 7946 0958, ref 00712, 3.5% of 1,000,000"),
        t(&[
            (W, "call"),
            (N, "n3"),
            (N, "n4"),
            (W, "or"),
            (N, "n2"),
            (N, "n2"),
            (N, "n4"),
            (N, "n4"),
            (W, "ref"),
            (N, "n5"),
            (N, "n1"),
            (W, "of"),
            (N, "n7"),
        ])
    );
    // Letters and digits together stay a word.
    assert_eq!(toks("mp3 1st a1b2"), words(&["mp3", "1st", "a1b2"]));
}

#[test]
fn look_alike_digits_and_accents_fold() {
    assert_eq!(
        toks("W3st3rn Un10n M0neyGram"),
        words(&["western", "union", "moneygram"])
    );
    assert_eq!(
        toks("Wëstërn Ûñíöñ Mońeýgràm"),
        words(&["western", "union", "moneygram"])
    );
    // Combining accents (not composed by NFKC) come off too; kana keep their voicing marks.
    assert_eq!(toks("we\u{301}\u{323}stern"), words(&["western"]));
    assert_eq!(toks("ガイド"), t(&[(C, "ガイ"), (C, "イド")]));
    let off = Tokenizer::new(TokenizerConfig {
        fold_digits: false,
        fold_accents: false,
        ..TokenizerConfig::default()
    });
    assert_eq!(
        off.tokens("w3stern wëstern"),
        words(&["w3stern", "wëstern"])
    );
}

#[test]
fn look_alike_symbols_inside_words_fold() {
    assert_eq!(
        toks("W3st3rn Un!0n tr@nsfer to the b@nk, bu$iness ca$h"),
        words(&["western", "union", "transfer", "to", "the", "bank", "business", "cash"])
    );
    assert_eq!(toks("B3n3f!c!@ry"), words(&["beneficiary"]));
    assert_eq!(
        toks("W3ST3RN UN!0N TR@NSFER"),
        words(&["western", "union", "transfer"])
    );
    // A missing space before a capital, a number after `!`, a time after `@`.
    assert_eq!(toks("Hello!How are"), words(&["hello", "how", "are"]));
    assert_eq!(toks("meet@5pm"), words(&["meet", "5pm"]));
    assert_eq!(toks("Meet@Noon"), words(&["meet", "noon"]));
    // Punctuation, amounts, variables, mentions and addresses are not letters.
    assert_eq!(toks("now! Hello !there"), words(&["now", "hello", "there"]));
    assert_eq!(
        toks("cd $HOME; my $self @team"),
        words(&["cd", "home", "my", "self", "team"])
    );
    assert_eq!(
        toks("mail bob@gmail.com or ann@mail-box.example.org"),
        words(&[
            "mail",
            "bob",
            "gmail.com",
            "or",
            "ann",
            "mail",
            "box.example.org"
        ])
    );
    let off = Tokenizer::new(TokenizerConfig {
        fold_symbols: false,
        ..TokenizerConfig::default()
    });
    assert_eq!(off.tokens("tr@nsfer"), words(&["tr", "nsfer"]));
}

#[test]
fn symbols_next_to_amounts_leave_the_amount() {
    let has = |text: &str, money: &str| {
        Tokenizer::default()
            .tokens(text)
            .iter()
            .any(|(k, t)| *k == TokenKind::Money && t == money)
    };
    assert!(has("US$250,000.00 only", "usd:5"));
    assert!(has("a fee of $2,500!", "usd:3"));
}

#[test]
fn numbers_stay_digits_without_typed_tokens() {
    let tk = Tokenizer::new(TokenizerConfig {
        typed_tokens: false,
        ..TokenizerConfig::default()
    });
    assert_eq!(
        tk.tokens("pay $250,000 now"),
        words(&["pay", "250,000", "now"])
    );
}

#[test]
fn long_word_skipped() {
    let long = "a".repeat(41);
    let ok = "b".repeat(40);
    assert_eq!(
        toks(&format!("x {long} {ok} y")),
        words(&["x", ok.as_str(), "y"])
    );
}

#[test]
fn money_usd_magnitude_5() {
    for text in [
        "US$250,000.00",
        "$250,000",
        "USD 250,000",
        "250,000 USD",
        "250,000.00 US Dollars",
        "(US$250,000)",
        "$250K",
        "USD250,000",
        "Two Hundred And Fifty Thousand United States Dollars",
    ] {
        assert_eq!(money(text), ["usd:5"], "{text}");
    }
}

#[test]
fn money_usd_magnitude_7() {
    for text in [
        "$10.5 million",
        "US$10,500,000.00",
        "ten million five hundred thousand dollars",
    ] {
        assert_eq!(money(text), ["usd:7"], "{text}");
    }
}

#[test]
fn money_other_currencies() {
    let cases = [
        ("€1.2m", "eur:6"),
        ("1,200,000 euros", "eur:6"),
        ("1.200.000,00 €", "eur:6"),
        ("1 200 000 EUR", "eur:6"),
        ("£500", "gbp:2"),
        ("250万円", "jpy:6"),
        ("1億円", "jpy:8"),
        ("¥5,000", "jpy:3"),
        ("5千万ドル", "usd:7"),
        ("₦5,000,000", "ngn:6"),
        ("50,000 naira", "ngn:4"),
        ("R 1 000 rand", "zar:3"),
        ("CHF 12,000", "chf:4"),
        ("C$2,500", "cad:3"),
        ("A$ 2 million", "aud:6"),
        ("$100 AUD", "aud:2"),
        ("100 Canadian dollars", "cad:2"),
        ("10,000 Swiss francs", "chf:4"),
        ("2.5 million pounds sterling", "gbp:6"),
        ("100美元", "usd:2"),
        ("250만원", "krw:6"),
    ];
    for (text, want) in cases {
        assert_eq!(money(text), [want], "{text}");
    }
}

#[test]
fn money_tokens_come_with_the_words() {
    assert_eq!(
        toks("Claim US$250,000.00 now"),
        t(&[(W, "claim"), (W, "us"), (N, "n6"), (M, "usd:5"), (W, "now")])
    );
    assert_eq!(
        toks("the sum of $10.5 million (ten million five hundred thousand dollars)."),
        t(&[
            (W, "the"),
            (W, "sum"),
            (W, "of"),
            (N, "n2"),
            (W, "million"),
            (M, "usd:7"),
            (W, "ten"),
            (W, "million"),
            (W, "five"),
            (W, "hundred"),
            (W, "thousand"),
            (W, "dollars"),
            (M, "usd:7"),
        ])
    );
}

#[test]
fn no_money_without_currency_or_below_one() {
    for text in [
        "250,000 people",
        "in 2024 we met",
        "$0.50",
        "$0",
        "one of the best",
        "USD rates",
        "5m away",
        "$ abc 100",
    ] {
        assert_eq!(money(text), Vec::<String>::new(), "{text}");
    }
}

#[test]
fn two_amounts_on_a_line() {
    assert_eq!(money("$5,000 and €300"), ["usd:3", "eur:2"]);
    assert_eq!(
        money("US$ 250,000 (Two Hundred and Fifty Thousand US Dollars)"),
        ["usd:5", "usd:5"]
    );
}

#[test]
fn money_does_not_span_lines() {
    assert_eq!(money("250,000\nUSD"), Vec::<String>::new());
}

#[test]
fn japanese_sentence_bigrams() {
    assert_eq!(
        toks("お支払いについてのご連絡"),
        t(&[
            (C, "お支"),
            (C, "支払"),
            (C, "払い"),
            (C, "いに"),
            (C, "につ"),
            (C, "つい"),
            (C, "いて"),
            (C, "ての"),
            (C, "のご"),
            (C, "ご連"),
            (C, "連絡"),
        ])
    );
}

#[test]
fn katakana_run_and_single_char() {
    assert_eq!(
        toks("カード 確認 は"),
        t(&[(C, "カー"), (C, "ード"), (C, "確認"), (C, "は")])
    );
}

#[test]
fn japanese_mixed_with_ascii() {
    assert_eq!(
        toks("賞金は$250,000です"),
        t(&[
            (C, "賞金"),
            (C, "金は"),
            (N, "n6"),
            (M, "usd:5"),
            (C, "です")
        ])
    );
    assert_eq!(
        toks("250万円をVISAで"),
        t(&[
            (N, "n3"),
            (C, "万円"),
            (M, "jpy:6"),
            (C, "円を"),
            (W, "visa"),
            (C, "で")
        ])
    );
}

#[test]
fn korean_runs() {
    assert_eq!(
        toks("안녕하세요 고객님"),
        t(&[
            (C, "안녕"),
            (C, "녕하"),
            (C, "하세"),
            (C, "세요"),
            (C, "고객"),
            (C, "객님")
        ])
    );
    assert_eq!(toks("abc한국"), t(&[(W, "abc"), (C, "한국")]));
}

#[test]
fn thai_run_keeps_marks_with_letters() {
    // ส ว+ั ส ด+ี : four units.
    assert_eq!(toks("สวัสดี"), t(&[(C, "สวั"), (C, "วัส"), (C, "สดี")]));
}

#[test]
fn bigrams_can_be_disabled() {
    let tk = Tokenizer::new(TokenizerConfig {
        cjk_bigrams: false,
        ..TokenizerConfig::default()
    });
    assert_eq!(
        tk.tokens("支払い カード"),
        words(&["支", "払", "い", "カード"])
    );
}

#[test]
fn scratch_reuse_gives_same_tokens() {
    let tk = Tokenizer::default();
    let mut scratch = Scratch::default();
    let text =
        "Dear W e s t e r n  U n i o n customer,\nclaim US$250,000 now 賞金は¥5,000です Mоnеу";
    let mut run = || {
        let mut out = Vec::new();
        tk.tokenize(text, &mut scratch, &mut |k, s| out.push((k, s.to_owned())));
        out
    };
    let first = run();
    let second = run();
    assert_eq!(first, second);
    assert_eq!(
        first,
        t(&[
            (W, "dear"),
            (W, "western"),
            (W, "union"),
            (W, "customer"),
            (W, "claim"),
            (W, "us"),
            (N, "n6"),
            (M, "usd:5"),
            (W, "now"),
            (C, "賞金"),
            (C, "金は"),
            (N, "n4"),
            (M, "jpy:3"),
            (C, "です"),
            (W, "money"),
        ])
    );
}

#[test]
fn no_allocation_growth_after_warm_up() {
    let tk = Tokenizer::default();
    let mut scratch = Scratch::default();
    let text = "Ｄｅａｒ W e s t e r n friend, claim US$250,000.00 and €1.2m; お支払いについて\n"
        .repeat(50);
    let mut count = 0usize;
    tk.tokenize(&text, &mut scratch, &mut |_, _| count += 1);
    let caps = |s: &Scratch| {
        (
            s.line.capacity(),
            s.tmp.capacity(),
            s.join.capacity(),
            s.typed.capacity(),
        )
    };
    let before = caps(&scratch);
    tk.tokenize(&text, &mut scratch, &mut |_, _| count += 1);
    assert_eq!(caps(&scratch), before);
    assert_eq!(count % 2, 0);
}

#[test]
fn tokenizer_is_send_sync_clone() {
    fn check<T: Send + Sync + Clone>() {}
    check::<Tokenizer>();
}

#[test]
fn config_default_and_serde() {
    let c = TokenizerConfig::default();
    assert_eq!(
        (
            c.version,
            c.max_word_chars,
            c.rejoin_spaced,
            c.fold_confusables,
            c.cjk_bigrams,
            c.typed_tokens,
            c.fold_accents,
            c.fold_digits,
            c.fold_symbols
        ),
        (4, 40, true, true, true, true, true, true, true)
    );
    let json = serde_json::to_string(&c).unwrap();
    assert_eq!(
        json,
        r#"{"version":4,"max_word_chars":40,"rejoin_spaced":true,"fold_confusables":true,"fold_accents":true,"fold_digits":true,"fold_symbols":true,"cjk_bigrams":true,"typed_tokens":true}"#
    );
    assert_eq!(serde_json::from_str::<TokenizerConfig>(&json).unwrap(), c);
    // A version 1 configuration has neither fold: they read as off.
    let v1: TokenizerConfig = serde_json::from_str(
        r#"{"version":1,"max_word_chars":40,"rejoin_spaced":true,"fold_confusables":true,"cjk_bigrams":true,"typed_tokens":true}"#,
    )
    .unwrap();
    assert!(!v1.fold_accents && !v1.fold_digits && !v1.fold_symbols);
}

#[test]
fn odd_input_gives_sensible_tokens() {
    // Combining marks without a base, NUL bytes, huge numbers, a ligature NFKC makes 4 words.
    let text =
        "\u{301}\u{301} \0\0 9999999999999999999999999999999999999 $99999999999999999999 \u{FDFA}";
    assert_eq!(
        toks(text),
        t(&[
            (N, "n37"),
            (N, "n20"),
            (M, "usd:19"),
            (W, "صلى"),
            (W, "الله"),
            (W, "عليه"),
            (W, "وسلم"),
        ])
    );
}

#[test]
fn random_input_never_panics() {
    // The point of this test: arbitrary mixes of tricky characters, including cut-off amounts.
    let palette: Vec<char> =
        "aZ9 0.,'$€¥£(-_\n\r\t.万円億한국สวั\u{301}\u{200B}\u{AD}\u{202E}оеΗ™ＷｶﾞﬁusdUSmillionk"
            .chars()
            .collect();
    let tk = Tokenizer::default();
    let mut scratch = Scratch::default();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut text = String::new();
    for _ in 0..2000 {
        text.clear();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 40) as usize;
        for i in 0..len {
            let r = seed.rotate_left(i as u32 * 7) ^ (i as u64).wrapping_mul(0x9E37_79B9);
            text.push(palette[(r % palette.len() as u64) as usize]);
        }
        tk.tokenize(&text, &mut scratch, &mut |_, s| {
            assert!(!s.is_empty(), "{text:?}")
        });
    }
}

#[test]
fn suffix_symbol_or_next_prefix() {
    assert_eq!(money("call 1234 $500 now"), ["usd:2"]);
    assert_eq!(money("250 000 $ comptant"), ["usd:5"]);
}

#[test]
fn crypto_addresses_become_their_chain() {
    for (addr, chain) in [
        ("bc1qx7m3n9ptl2w8vz4q6ks0dj5ya7rc3fu2he9gw", "btc"),
        ("BC1QAR0SRRR7XFKVY5L643LYDNW9RE59GTZZWF5MDQ", "btc"),
        (
            "bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297",
            "btc",
        ),
        ("1F9xKp7Q2mWv8tZr3Yh6nL4cD5sJ1aBqEu", "btc"),
        ("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "btc"),
        ("ltc1qg82vyr8l6pasvd9pwxpsq5mdhwkrqm9rvp6x2p", "ltc"),
        ("0x52908400098527886E0F7030069857D2E4169EE7", "eth"),
        ("TQn9Y2khEsLJW1ChVWFMSMeRDow5KcbLSE", "trx"),
    ] {
        assert_eq!(
            toks(&format!("pay to {addr} now")),
            t(&[(W, "pay"), (W, "to"), (A, chain), (W, "now")]),
            "{addr}"
        );
    }
}

#[test]
fn long_ids_are_not_crypto_addresses() {
    for word in [
        // A git commit, an MD5 digest, a long number, a long word, a base58-like id with a zero.
        "3a7bd3e2360a3d29eea436fcfb7e44c735d117c4",
        "1b2d3f4a5c6e7b8d9f1a2c3e4b5d6f7a",
        "12345678901234567890123456789",
        "antidisestablishmentarianisms",
        "1z9x8c7v6b5n4m3q2w1e0r9t8y7u6i",
        // Each rule reached with the wrong letters: b, i, o after bc1; g in hex; a t-word
        // without digits; a base58 word with a 0; too short.
        "bc1qbiobiobiobiobiobiobiobiobiobiobio123",
        "0x52908400098527886e0f7030069857d2e4169eg7",
        "tqnykhesljwchvwfmsmerdowkcblseabcdefgh",
        "1f9xkp7q2mwv8tzr3yh6nl4cd5sj0abqeu",
        "bc1qthisisnotanaddress",
        "0x12345",
    ] {
        let got = toks(&format!("ref {word}"));
        assert!(got.iter().all(|(k, _)| *k != A), "{word}: {got:?}");
    }
}

#[test]
fn crypto_addresses_must_stand_alone() {
    for text in [
        // A file id in a link, base64 lines (a PGP signature, a pasted key).
        "https://drive.google.com/file/d/1F9xKp7Q2mWv8tZr3Yh6nL4cD5sJ1aBqEu/view?usp=sharing",
        "iQEzBAEBCAAdFiEE+1F9xKp7Q2mWv8tZr3Yh6nL4cD5sJ1aBqEu/3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy=",
        "x-1F9xKp7Q2mWv8tZr3Yh6nL4cD5sJ1aBqEu",
    ] {
        let got = toks(text);
        assert!(got.iter().all(|(k, _)| *k != A), "{text}: {got:?}");
    }
    for text in [
        "BTC wallet: 1F9xKp7Q2mWv8tZr3Yh6nL4cD5sJ1aBqEu.",
        "(bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq)",
        "\"0x52908400098527886E0F7030069857D2E4169EE7\"",
    ] {
        let got = toks(text);
        assert!(got.iter().any(|(k, _)| *k == A), "{text}: {got:?}");
    }
    assert_eq!(
        super::crypto_address("BC1QAR0SRRR7XFKVY5L643LYDNW9RE59GTZZWF5MDQ"),
        Some("btc")
    );
    assert_eq!(
        super::crypto_address("tqn9y2khesljw1chvwfmsmerdow5kcblse"),
        Some("trx")
    );
}
