"""Reads the corpus's gzipped mboxrd files (From_ line `From corpus@localhost ...`)."""
import gzip
import re

FROM_LINE = re.compile(rb"^From corpus@localhost ")
ESCAPED = re.compile(rb"^>(>*From )")


def messages(path):
    """Yields the messages of a corpus mboxrd file, un-escaped, without their From_ line and
    without the blank line that belongs to the separator."""
    cur = None
    with gzip.open(path, "rb") as f:
        for line in f:
            if FROM_LINE.match(line):
                if cur is not None:
                    yield _finish(cur)
                cur = []
                continue
            if cur is not None:
                cur.append(ESCAPED.sub(rb"\1", line))
    if cur is not None:
        yield _finish(cur)


def _finish(lines):
    data = b"".join(lines)
    if data.endswith(b"\r\n\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n\n"):
        data = data[:-1]
    return data
