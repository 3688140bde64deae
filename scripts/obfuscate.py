#!/usr/bin/env python3
"""Writes obfuscated variants of one message's text, to see whether a verdict survives them.

usage: obfuscate.py MESSAGE.eml OUT_DIR
then:  sendguard score OUT_DIR

The text of MESSAGE.eml (its first text/plain part, decoded) is re-sent under neutral headers
(same From, Subject and Date in every variant) in each of these forms:

  plain        the text as it is (the baseline)
  upper        all capitals
  leet         look-alike digits: e->3, o->0, a->4
  accents      diacritics on vowels, n, c, s ("Wëstërn Ûñíöñ")
  homoglyph    Greek/Cyrillic look-alike letters inside Latin words
  fullwidth    fullwidth forms (NFKC folds them)
  zwsp         a zero-width space between every two characters
  softhyphen   soft hyphens inside words
  spaced       every word spelt out with single spaces, three spaces between words
  entities     HTML-only, every letter a numeric character reference
  spans        HTML-only, every letter in its own <span>
  nbsp         HTML-only, letters joined by &nbsp;, words by "&nbsp; &nbsp;"
  comments     HTML-only, an HTML comment inside every long word
  hiddenjunk   HTML-only, a hidden span of business words in every paragraph
  base64html   the "spans" HTML, base64-encoded
  attached     a one-line cover note, the text as an attached letter.txt (base64)
  attachedhtml a one-line cover note, the text as an attached letter.html
  decoy        multipart/alternative: a harmless text/plain, the text in the HTML part
"""
import base64
import email
import email.policy
import os
import re
import sys

HOMO = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х"}  # Cyrillic look-alikes
ACC = {"a": "á", "e": "ë", "i": "í", "o": "ö", "u": "ú", "n": "ñ", "c": "ç", "s": "ś"}


def text_of(path):
    msg = email.message_from_binary_file(open(path, "rb"), policy=email.policy.default)
    part = msg.get_body(preferencelist=("plain",))
    if part is None:
        sys.exit(f"{path}: no text/plain part")
    return msg, part.get_content()


def paragraphs(text):
    return [p for p in re.split(r"\n\s*\n", text) if p.strip()]


def html(paras, f=lambda s: s):
    return "<html><body>" + "".join(f"<p>{f(p)}</p>" for p in paras) + "</body></html>"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    msg, text = text_of(sys.argv[1])
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    paras = paragraphs(text)
    hdr = (
        f"From: {msg['From']}\nTo: recipient@company.example\nSubject: {msg['Subject']}\n"
        "Date: Mon, 07 Dec 2026 10:00:00 +0000\nMIME-Version: 1.0\n"
    )

    def write(name, body, ctype="text/plain; charset=utf-8", cte="8bit"):
        head = hdr + f"Message-ID: <{name}@obfuscate.example>\nContent-Type: {ctype}\n"
        head += f"Content-Transfer-Encoding: {cte}\n" if cte else ""
        with open(os.path.join(out, name + ".eml"), "w", encoding="utf-8", newline="") as f:
            f.write(head + "\n" + body)

    def spans(p):
        return " ".join("".join(f"<span>{c}</span>" for c in w) for w in p.split(" "))

    write("plain", text)
    write("upper", text.upper())
    write("leet", text.translate(str.maketrans({"e": "3", "o": "0", "a": "4"})))
    write("accents", "".join(ACC.get(c, c) for c in text))
    write(
        "homoglyph",
        re.sub(r"[A-Za-z]{4,}", lambda m: "".join(HOMO.get(c, c) for c in m.group(0)), text),
    )
    write("fullwidth", "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text))
    write("zwsp", "\u200b".join(text))
    write("softhyphen", re.sub(r"(\w{3})(\w{3,})", "\\1\u00ad\\2", text))
    write(
        "spaced",
        "\n".join("   ".join(" ".join(w) for w in line.split()) for line in text.split("\n")),
    )
    html_ct = "text/html; charset=utf-8"
    write(
        "entities",
        html(paras, lambda p: "".join(f"&#{ord(c)};" if c.isalpha() else c for c in p)),
        html_ct,
    )
    write("spans", html(paras, spans), html_ct)
    write(
        "nbsp",
        html(paras, lambda p: "&nbsp; &nbsp;".join("&nbsp;".join(w) for w in p.split())),
        html_ct,
    )
    write("comments", html(paras, lambda p: re.sub(r"(\w{3})(\w{3,})", r"\1<!-- x -->\2", p)), html_ct)
    junk = '<span style="display:none">meeting agenda quarterly report invoice attached</span>'
    write("hiddenjunk", html(paras, lambda p: p + junk), html_ct)
    write("base64html", base64.encodebytes(html(paras, spans).encode()).decode(), html_ct, "base64")
    b = "sendguard-obfuscate"
    letter64 = base64.encodebytes(text.encode()).decode()
    write(
        "attached",
        f"--{b}\nContent-Type: text/plain; charset=utf-8\n\nPlease see the attached letter.\n\n"
        f"--{b}\nContent-Type: text/plain; charset=utf-8; name=\"letter.txt\"\n"
        f"Content-Disposition: attachment; filename=\"letter.txt\"\n"
        f"Content-Transfer-Encoding: base64\n\n{letter64}\n--{b}--\n",
        f'multipart/mixed; boundary="{b}"',
        None,
    )
    write(
        "attachedhtml",
        f"--{b}\nContent-Type: text/plain; charset=utf-8\n\nPlease see the attached letter.\n\n"
        f"--{b}\nContent-Type: text/html; charset=utf-8; name=\"letter.html\"\n"
        f"Content-Disposition: attachment; filename=\"letter.html\"\n\n{html(paras)}\n--{b}--\n",
        f'multipart/mixed; boundary="{b}"',
        None,
    )
    write(
        "decoy",
        f"--{b}\nContent-Type: text/plain; charset=utf-8\n\nHi team, the agenda for Thursday is "
        f"attached. Regards.\n\n--{b}\nContent-Type: text/html; charset=utf-8\n\n{html(paras)}\n"
        f"--{b}--\n",
        f'multipart/alternative; boundary="{b}"',
        None,
    )


if __name__ == "__main__":
    main()
