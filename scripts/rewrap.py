#!/usr/bin/env python3
"""Re-wrap the text of corpus messages in other MIME forms, to check that a verdict follows the
text and not its encoding.

usage: rewrap.py IN.mbox.gz OUTDIR [LIMIT]
Writes OUTDIR/{plain8bit,base64,qp,html,alternative}.mbox: for every message of IN, a new message
with the same Subject and the same decoded body text, wrapped as
  plain8bit    text/plain; charset=utf-8, 8bit
  base64       text/plain; charset=utf-8, base64
  qp           text/plain; charset=utf-8, quoted-printable
  html         text/html only, one <p> per paragraph, base64
  alternative  multipart/alternative with both
All get the same neutral headers (From, To, Date, Message-ID), so only the wrapping differs.
"""
import email
import email.policy
import html
import os
import re

import sys
from email.message import EmailMessage

from mboxrd import messages

def body_text(msg):
    plain, htm = [], []
    for part in msg.walk():
        if part.is_multipart() or part.get_content_maintype() != "text":
            continue
        if part.get_filename():
            continue
        try:
            text = part.get_content()
        except Exception:
            payload = part.get_payload(decode=True) or b""
            text = payload.decode("utf-8", "replace")
        if part.get_content_subtype() == "html":
            text = re.sub(r"(?is)<(script|style).*?</\1>", " ", text)
            text = re.sub(r"(?i)<(br|/p|/div|/tr|/li|/h\d)[^>]*>", "\n", text)
            text = html.unescape(re.sub(r"<[^>]+>", " ", text))
            htm.append(text)
        else:
            plain.append(text)
    return "\n".join(plain) if plain else "\n".join(htm)


def build(kind, subject, text, i):
    m = EmailMessage(policy=email.policy.SMTP)
    m["From"] = "Sender <sender@mail.sendguard-test.org>"
    m["To"] = "recipient@mail.sendguard-test.org"
    m["Subject"] = subject
    m["Date"] = "Mon, 02 Nov 2026 10:00:00 +0000"
    m["Message-ID"] = f"<rewrap-{kind}-{i}@sendguard-test.org>"
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    markup = "<html><body>" + "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs) + "</body></html>"
    if kind == "plain8bit":
        m.set_content(text, cte="8bit")
    elif kind == "base64":
        m.set_content(text, cte="base64")
    elif kind == "qp":
        m.set_content(text, cte="quoted-printable")
    elif kind == "html":
        m.set_content(markup, subtype="html", cte="base64")
    else:
        m.set_content(text, cte="quoted-printable")
        m.add_alternative(markup, subtype="html", cte="base64")
    return m.as_bytes()


def main():
    src, outdir = sys.argv[1], sys.argv[2]
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else None
    kinds = ["plain8bit", "base64", "qp", "html", "alternative"]
    os.makedirs(outdir, exist_ok=True)
    outs = {k: open(os.path.join(outdir, k + ".mbox"), "wb") for k in kinds}
    for i, raw in enumerate(messages(src)):
        if limit is not None and i >= limit:
            break
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        try:
            subject = str(msg["subject"] or "")
        except Exception:
            subject = ""
        subject = re.sub(r"[\r\n]+", " ", subject)
        text = body_text(msg)
        for k in kinds:
            data = build(k, subject, text, i)
            data = re.sub(rb"(?m)^(>*From )", rb">\1", data)
            outs[k].write(b"From rewrap@localhost Thu Jan  1 00:00:00 1970\n" + data + b"\n")
    for f in outs.values():
        f.close()


if __name__ == "__main__":
    main()
