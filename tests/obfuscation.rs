//! A scam letter that the shipped model holds stays held when it is disguised the ways spammers
//! disguise text, and an ordinary business letter wrapped the same ways still passes. The
//! letters are written for this test; every variant is built here from them, so a change to the
//! message view or the tokenizer that lets one disguise through fails by name. A short request
//! padded with hidden ordinary text must stay held too.
//! (`scripts/obfuscate.py` writes the same kinds of variant as files, to look at.)

use sendguard::{Classifier, Verdict};

#[path = "support/base64.rs"]
mod base64;

const SCAM: &str = "Dear Beneficiary,

This is to inform you that the compensation committee of the United Nations, working with the
FBI, has approved the sum of US$250,000.00 as compensation for victims of internet scams. Your
payment will be sent to you through Western Union money transfer in daily installments.

Contact our paying agent Mr. Daniel Brooks on his private email danielbrooks.payments@gmail.com
with your full name, address and telephone number. You are required to pay the transfer fee of
US$150 only before the first payment is released.

Yours faithfully,
Mrs. Grace Williams
";

const BUSINESS: &str = "Hello Marta,

Thank you for the meeting on Tuesday. As agreed, we will deliver the first batch of 400 units to
your warehouse in Rotterdam on 14 January, and the second batch two weeks later.

Our invoice for the first batch follows with the delivery note; payment terms are 30 days as in
our framework contract. Please let me know if the delivery window changes on your side.

Best regards,
Jonas Weber
Sales, Nordlicht Components GmbH
";

/// A short request of the kind a hijacked account sends: few words, so padding could drown them.
const GIFT_CARDS: &str = "Hi Emma,

Are you at your desk? I need you to get some gift cards for a client presentation today. Buy six
Apple gift cards of $200 each, scratch off the backs and email me clear photos of the codes as
soon as you can. I am in meetings all day so I can't take calls. Keep this between us for now,
I will reimburse you this evening.

Thanks,
Mark
";

fn message(content_type: &str, encoding: &str, body: &str) -> String {
    format!(
        "From: Office <office@company.example>\nTo: client@company.example\n\
Subject: Your payment\nDate: Mon, 07 Dec 2026 10:00:00 +0000\nMessage-ID: <x@obfuscation.test>\n\
MIME-Version: 1.0\nContent-Type: {content_type}\nContent-Transfer-Encoding: {encoding}\n\n{body}"
    )
}

fn plain(body: &str) -> String {
    message("text/plain; charset=utf-8", "8bit", body)
}

fn html_of(text: &str, each_paragraph: impl Fn(&str) -> String) -> String {
    let paragraphs: String = text
        .split("\n\n")
        .map(|p| format!("<p>{}</p>", each_paragraph(&p.replace('\n', " "))))
        .collect();
    format!("<html><body>{paragraphs}</body></html>")
}

fn html(body: &str) -> String {
    message("text/html; charset=utf-8", "8bit", body)
}

fn attached(text: &str) -> String {
    message(
        "multipart/mixed; boundary=\"b\"",
        "7bit",
        &format!(
            "--b\nContent-Type: text/plain\n\nPlease see the attached letter.\n\n--b\n\
Content-Type: text/plain; charset=utf-8; name=\"letter.txt\"\n\
Content-Disposition: attachment; filename=\"letter.txt\"\nContent-Transfer-Encoding: base64\n\n\
{}\n--b--\n",
            base64::encode_lines(text.as_bytes())
        ),
    )
}

/// Every disguise, by name, of `text`.
fn variants(text: &str) -> Vec<(&'static str, String)> {
    let map = |f: &dyn Fn(char) -> String| text.chars().map(f).collect::<String>();
    let by_word = |f: &dyn Fn(&str) -> String| {
        text.split(' ')
            .map(|w| if w.len() > 4 { f(w) } else { w.to_string() })
            .collect::<Vec<_>>()
            .join(" ")
    };
    vec![
        ("plain", plain(text)),
        ("capitals", plain(&text.to_uppercase())),
        (
            "leet digits",
            plain(&map(&|c| match c {
                'e' => "3".into(),
                'o' => "0".into(),
                'a' => "4".into(),
                c => c.to_string(),
            })),
        ),
        (
            "accents",
            plain(&map(&|c| match c {
                'a' => "á".into(),
                'e' => "ë".into(),
                'i' => "í".into(),
                'o' => "ö".into(),
                'u' => "ú".into(),
                'n' => "ñ".into(),
                c => c.to_string(),
            })),
        ),
        (
            "Cyrillic look-alikes",
            plain(&by_word(&|w| {
                w.chars()
                    .map(|c| match c {
                        'a' => 'а',
                        'e' => 'е',
                        'o' => 'о',
                        'p' => 'р',
                        'c' => 'с',
                        c => c,
                    })
                    .collect()
            })),
        ),
        (
            "fullwidth",
            plain(&map(&|c| match c {
                '!'..='~' => char::from_u32(c as u32 + 0xFEE0).unwrap().to_string(),
                c => c.to_string(),
            })),
        ),
        (
            "zero-width spaces",
            plain(&map(&|c| format!("{c}\u{200B}"))),
        ),
        (
            "soft hyphens",
            plain(&by_word(&|w| {
                let mut s = w.to_string();
                s.insert(
                    s.char_indices().nth(3).map_or(s.len(), |(i, _)| i),
                    '\u{AD}',
                );
                s
            })),
        ),
        (
            "spelt out",
            plain(
                &text
                    .lines()
                    .map(|l| {
                        l.split(' ')
                            .map(|w| w.chars().map(String::from).collect::<Vec<_>>().join(" "))
                            .collect::<Vec<_>>()
                            .join("   ")
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        ),
        (
            "character references",
            html(&html_of(text, |p| {
                p.chars()
                    .map(|c| {
                        if c.is_alphabetic() {
                            format!("&#{};", c as u32)
                        } else {
                            c.to_string()
                        }
                    })
                    .collect()
            })),
        ),
        (
            "a span per letter",
            html(&html_of(text, |p| {
                p.chars().map(|c| format!("<span>{c}</span>")).collect()
            })),
        ),
        (
            "letters joined by &nbsp;",
            html(&html_of(text, |p| {
                p.split(' ')
                    .map(|w| {
                        w.chars()
                            .map(String::from)
                            .collect::<Vec<_>>()
                            .join("&nbsp;")
                    })
                    .collect::<Vec<_>>()
                    .join("&nbsp; &nbsp;")
            })),
        ),
        (
            "comments inside words",
            html(&html_of(text, |p| {
                p.split(' ')
                    .map(|w| match w.char_indices().nth(3) {
                        Some((i, _)) if w.len() > 5 => format!("{}<!-- x -->{}", &w[..i], &w[i..]),
                        _ => w.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })),
        ),
        (
            "base64 HTML",
            message(
                "text/html; charset=utf-8",
                "base64",
                &base64::encode_lines(html_of(text, |p| p.to_string()).as_bytes()),
            ),
        ),
        ("attached letter.txt", attached(text)),
    ]
}

#[test]
fn a_disguised_scam_letter_is_still_held() {
    let c = Classifier::load_default().expect("the shipped model loads");
    let mut missed = Vec::new();
    for (name, raw) in variants(SCAM) {
        let v = c.score(raw.as_bytes()).expect("scored");
        if v.decision.verdict < Verdict::Hold {
            missed.push(format!("{name}: {:?}", v.decision));
        }
    }
    assert!(missed.is_empty(), "not held:\n{}", missed.join("\n"));
}

#[test]
fn a_business_letter_wrapped_the_same_ways_passes() {
    // Disguises a legitimate sender would never use (leet, spelt out) are left out: the point
    // is that the wrappings alone (HTML, references, spans, &nbsp;, base64, an attachment) do
    // not make ordinary mail look like a scam.
    let c = Classifier::load_default().expect("the shipped model loads");
    let skip = [
        "leet digits",
        "spelt out",
        "Cyrillic look-alikes",
        "zero-width spaces",
    ];
    let mut flagged = Vec::new();
    for (name, raw) in variants(BUSINESS) {
        if skip.contains(&name) {
            continue;
        }
        let v = c.score(raw.as_bytes()).expect("scored");
        if v.decision.verdict > Verdict::Tag {
            flagged.push(format!("{name}: {:?}", v.decision));
        }
    }
    assert!(flagged.is_empty(), "held:\n{}", flagged.join("\n"));
}

/// `text` as HTML followed by four copies of the business letter inside `open` ... `close`, an
/// element a browser does not show: "hash busting", ordinary words a reader never sees.
fn padded(text: &str, open: &str, close: &str) -> String {
    let visible = html_of(text, |p| p.to_string());
    let padding = html_of(&BUSINESS.repeat(4), |p| p.to_string());
    html(&visible.replace("</body>", &format!("{open}{padding}{close}</body>")))
}

#[test]
fn hidden_padding_does_not_drown_a_short_scam() {
    let c = Classifier::load_default().expect("the shipped model loads");
    let plain_verdict = c.score(plain(GIFT_CARDS).as_bytes()).expect("scored");
    assert!(
        plain_verdict.decision.verdict >= Verdict::Hold,
        "{:?}",
        plain_verdict.decision
    );
    let mut missed = Vec::new();
    for (open, close) in [
        ("<div style=\"display:none\">", "</div>"),
        ("<div style=\"font-size:0px; line-height:0\">", "</div>"),
        ("<span style=\"visibility: hidden\">", "</span>"),
        ("<div hidden>", "</div>"),
        ("<div style=\"display:none\"><div>", "</div></div>"),
    ] {
        let v = c
            .score(padded(GIFT_CARDS, open, close).as_bytes())
            .expect("scored");
        if v.decision.verdict < Verdict::Hold {
            missed.push(format!("{open}: {:?}", v.decision));
        }
    }
    assert!(missed.is_empty(), "not held:\n{}", missed.join("\n"));
}
