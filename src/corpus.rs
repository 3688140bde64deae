//! Readers for the mail stores administrators already have: single `.eml` files, directories
//! (including Maildir), mbox / mboxrd files (plain or gzip), and standard input.
//!
//! Every reader streams: a mailbox is never read into memory whole, and one message never takes
//! more than [`ReadLimits::max_message_bytes`] (plus small buffers). Broken messages are yielded as
//! bytes; only I/O problems and over-size messages are errors.
//!
//! # mbox rules
//! - A *From_ line* is a line that starts with `From ` and either is the first line of the file,
//!   follows a blank line, or looks like a real envelope line (`From <sender> ...` with a time
//!   `hh:mm` and a four-digit year). The last case accepts mboxo writers that leave no blank line
//!   between messages, without splitting on body lines such as `From the desk of ...`.
//! - The From_ line is not part of the message; the blank line before it (if any) belongs to the
//!   separator, and so does a final blank line at the end of the file.
//! - mboxrd un-escaping: a line matching `^>+From ` loses one `>` (this also un-escapes mboxo's
//!   `>From `, which is what its writer meant). Only the first 8 KiB of a line are examined.
//! - Line ends are kept as they are (LF or CRLF). `Content-Length:` headers (mboxcl) are ignored.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};

/// One message read from an input, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// The input as given (`"-"` for stdin); for a directory, the path of the file itself.
    pub input: String,
    /// Position of the message in an mbox (0-based); 0 for a single message or a file in a directory.
    pub index: usize,
    /// The message exactly as stored (mbox escaping undone, line ends untouched).
    pub bytes: Vec<u8>,
}

/// What can go wrong while reading a corpus.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// An input could not be opened, listed or read.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Reading failed in the middle of a stream (I/O or gzip error); the stream ends here.
    #[error("{input}: reading message {index}: {source}")]
    Read {
        /// The input being read.
        input: String,
        /// The message being read when it failed.
        index: usize,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A message is bigger than [`ReadLimits::max_message_bytes`]; it was skipped.
    #[error("{input}: message {index} is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// The input holding the message.
        input: String,
        /// The message's index in that input.
        index: usize,
        /// Its size in bytes (for a directory file that grew while read: the bytes seen).
        size: u64,
        /// The limit it exceeded.
        limit: usize,
    },
    /// A labelled source whose class name is not UTF-8.
    #[error("{}: class name is not valid UTF-8", path.display())]
    BadClassName {
        /// The offending file or directory.
        path: PathBuf,
    },
}

impl CorpusError {
    /// The index of the message the error is about (0 when it is about a whole input).
    pub fn index(&self) -> usize {
        match self {
            CorpusError::Read { index, .. } | CorpusError::TooLarge { index, .. } => *index,
            CorpusError::Io { .. } | CorpusError::BadClassName { .. } => 0,
        }
    }
}

/// Read limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// Largest message accepted, in bytes (default 64 MiB); bigger ones yield [`CorpusError::TooLarge`].
    pub max_message_bytes: usize,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            max_message_bytes: 64 * 1024 * 1024,
        }
    }
}

/// How much of a line is looked at at once (From_ detection and un-escaping need only its start).
const LINE_PIECE: usize = 8 * 1024;

/// Open an input: `"-"` (stdin), a single message file, a directory or an mbox file.
///
/// - `"-"` and files: gzip is detected by its magic bytes (`1f 8b`), then an mbox by a first line
///   starting with `From `; anything else is one message.
/// - A directory: every regular file below it, recursively, sorted by path, one message per file.
///   Names starting with `.` are skipped (files and directories, so Maildir++ subfolders too).
///   Symlinks to files are followed, symlinks to directories are not (no loops). In a Maildir
///   (a directory with both `cur/` and `new/`) only the subdirectories are read, not `tmp/`, and
///   not the index files at its top.
///
/// # Errors
/// [`CorpusError::Io`] when the path cannot be examined or opened; later problems are items of
/// the iterator.
pub fn open_input(path: &str, limits: &ReadLimits) -> Result<Messages, CorpusError> {
    if path == "-" {
        return Ok(Messages::from_reader("-", io::stdin(), limits));
    }
    let io_err = |source| CorpusError::Io {
        path: path.to_string(),
        source,
    };
    let meta = fs::metadata(path).map_err(io_err)?;
    if meta.is_dir() {
        let files = walk_dir(Path::new(path));
        return Ok(Messages {
            state: State::Dir {
                files: files.into_iter(),
                limits: *limits,
            },
        });
    }
    let file = File::open(path).map_err(io_err)?;
    Ok(Messages::from_reader(path, file, limits))
}

/// Labelled training data: `dir` holds `CLASS.mbox`, `CLASS.mbox.gz` files or `CLASS/`
/// directories. Returns (class name, path) pairs sorted by class then path; a class may have
/// several sources. Dot-files and other files are ignored; an empty directory gives an empty list.
///
/// # Errors
/// [`CorpusError::Io`] if `dir` cannot be listed; [`CorpusError::BadClassName`] for a non-UTF-8 name.
pub fn labelled_sources(dir: &Path) -> Result<Vec<(String, PathBuf)>, CorpusError> {
    let io_err = |path: &Path, source| CorpusError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
        let entry = entry.map_err(|e| io_err(dir, e))?;
        let path = entry.path();
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(CorpusError::BadClassName { path });
        };
        if name.starts_with('.') {
            continue;
        }
        // Follow symlinks so a linked corpus directory or file still counts.
        let meta = fs::metadata(&path).map_err(|e| io_err(&path, e))?;
        let class = if meta.is_dir() {
            Some(name)
        } else if meta.is_file() {
            name.strip_suffix(".mbox.gz")
                .or_else(|| name.strip_suffix(".mbox"))
        } else {
            None
        };
        if let Some(class) = class.filter(|c| !c.is_empty()) {
            out.push((class.to_string(), path));
        }
    }
    out.sort();
    Ok(out)
}

/// Messages from one input, yielded lazily. After an I/O error mid-stream it yields that error
/// and then ends; an over-size message yields [`CorpusError::TooLarge`] and reading goes on.
pub struct Messages {
    state: State,
}

enum State {
    /// A stream whose kind (gzip? mbox?) is found on the first call to `next`.
    Undetected {
        input: String,
        reader: Box<dyn Read + Send>,
        limits: ReadLimits,
    },
    Single {
        input: String,
        reader: Box<dyn BufRead + Send>,
        limits: ReadLimits,
    },
    Mbox(MboxReader),
    Dir {
        files: std::vec::IntoIter<Result<PathBuf, CorpusError>>,
        limits: ReadLimits,
    },
    Done,
}

impl Messages {
    /// Messages from any reader (stdin, a socket, a test buffer): gzip and mbox are detected as
    /// for a file; `input` names it in messages and errors. Detection happens on the first `next`.
    pub fn from_reader(
        input: &str,
        reader: impl Read + Send + 'static,
        limits: &ReadLimits,
    ) -> Self {
        Messages {
            state: State::Undetected {
                input: input.to_string(),
                reader: Box::new(reader),
                limits: *limits,
            },
        }
    }
}

impl Iterator for Messages {
    type Item = Result<RawMessage, CorpusError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match std::mem::replace(&mut self.state, State::Done) {
                State::Done => return None,
                State::Undetected {
                    input,
                    reader,
                    limits,
                } => match detect(reader) {
                    Ok((reader, true)) => {
                        self.state = State::Mbox(MboxReader::new(input, reader, limits))
                    }
                    Ok((reader, false)) => {
                        self.state = State::Single {
                            input,
                            reader,
                            limits,
                        }
                    }
                    Err(source) => {
                        return Some(Err(CorpusError::Read {
                            input,
                            index: 0,
                            source,
                        }))
                    }
                },
                State::Single {
                    input,
                    mut reader,
                    limits,
                } => return Some(read_single(input, &mut reader, limits.max_message_bytes)),
                State::Mbox(mut mbox) => {
                    let item = mbox.next_message();
                    if item.is_some() && !mbox.done {
                        self.state = State::Mbox(mbox);
                    }
                    return item;
                }
                State::Dir { mut files, limits } => {
                    let item = files.next()?;
                    self.state = State::Dir { files, limits };
                    return Some(item.and_then(|p| read_file(&p, limits.max_message_bytes)));
                }
            }
        }
    }
}

/// Read up to `n` bytes (fewer only at end of input), retrying short reads from pipes.
fn read_prefix(reader: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut prefix = Vec::with_capacity(n);
    reader.take(n as u64).read_to_end(&mut prefix)?;
    Ok(prefix)
}

/// Unwrap gzip if present, then tell whether the stream is an mbox (first line starts `From `).
fn detect(mut raw: Box<dyn Read + Send>) -> io::Result<(Box<dyn BufRead + Send>, bool)> {
    let magic = read_prefix(&mut raw, 2)?;
    let gzip = magic == [0x1f, 0x8b];
    let raw = Cursor::new(magic).chain(raw);
    let mut plain: Box<dyn Read + Send> = if gzip {
        // Multi-member, as `cat a.gz b.gz` and many log rotators produce.
        Box::new(flate2::read::MultiGzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    let start = read_prefix(&mut plain, 5)?;
    let mbox = start == b"From ";
    let reader = BufReader::with_capacity(64 * 1024, Cursor::new(start).chain(plain));
    Ok((Box::new(reader), mbox))
}

/// The whole remaining stream as one message; an over-size one is drained to learn its size.
fn read_single(
    input: String,
    reader: &mut dyn BufRead,
    limit: usize,
) -> Result<RawMessage, CorpusError> {
    let mut bytes = Vec::new();
    let read = reader
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .and_then(|n| {
            if n > limit {
                io::copy(reader, &mut io::sink()).map(|rest| n as u64 + rest)
            } else {
                Ok(n as u64)
            }
        });
    match read {
        Err(source) => Err(CorpusError::Read {
            input,
            index: 0,
            source,
        }),
        Ok(size) if size > limit as u64 => Err(CorpusError::TooLarge {
            input,
            index: 0,
            size,
            limit,
        }),
        Ok(_) => Ok(RawMessage {
            input,
            index: 0,
            bytes,
        }),
    }
}

/// One file of a directory as one message, refused by its size before reading when possible.
fn read_file(path: &Path, limit: usize) -> Result<RawMessage, CorpusError> {
    let input = path.display().to_string();
    let io_err = |source| CorpusError::Io {
        path: input.clone(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let len = file.metadata().map_err(io_err)?.len();
    let too_large = |size| CorpusError::TooLarge {
        input: input.clone(),
        index: 0,
        size,
        limit,
    };
    if len > limit as u64 {
        return Err(too_large(len));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    let n = file
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    if n > limit {
        return Err(too_large(n as u64));
    }
    Ok(RawMessage {
        input,
        index: 0,
        bytes,
    })
}

/// Every message file below `root`, sorted by path; listing errors sit at their directory's place.
fn walk_dir(root: &Path) -> Vec<Result<PathBuf, CorpusError>> {
    let mut found: Vec<(PathBuf, Option<io::Error>)> = Vec::new();
    // An explicit stack: deep trees cannot overflow the call stack.
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => {
                found.push((dir, Some(e)));
                continue;
            }
        };
        let is_maildir = dir.join("cur").is_dir() && dir.join("new").is_dir();
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    found.push((dir.clone(), Some(e)));
                    continue;
                }
            };
            if entry.file_name().as_encoded_bytes().starts_with(b".") {
                continue;
            }
            let path = entry.path();
            let file_type = match entry.file_type() {
                Ok(t) => t,
                Err(e) => {
                    found.push((path, Some(e)));
                    continue;
                }
            };
            if file_type.is_dir() {
                if !(is_maildir && entry.file_name() == "tmp") {
                    dirs.push(path);
                }
            } else if is_maildir {
                // Maildir top level holds index files (dovecot-uidlist, ...), not mail.
            } else if file_type.is_file() {
                found.push((path, None));
            } else if file_type.is_symlink() {
                // Follow links to files (a dangling link is reported when read); never to directories.
                match fs::metadata(&path) {
                    Ok(m) if m.is_dir() => {}
                    Ok(m) if !m.is_file() => {}
                    Ok(_) => found.push((path, None)),
                    Err(e) => found.push((path, Some(e))),
                }
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
        .into_iter()
        .map(|(path, err)| match err {
            None => Ok(path),
            Some(source) => Err(CorpusError::Io {
                path: path.display().to_string(),
                source,
            }),
        })
        .collect()
}

/// Streaming mbox splitter: reads line pieces of at most [`LINE_PIECE`] bytes.
struct MboxReader {
    input: String,
    reader: Box<dyn BufRead + Send>,
    limit: usize,
    /// The current line piece.
    piece: Vec<u8>,
    next_index: usize,
    /// The first From_ line has been consumed.
    started: bool,
    done: bool,
}

impl MboxReader {
    fn new(input: String, reader: Box<dyn BufRead + Send>, limits: ReadLimits) -> Self {
        MboxReader {
            input,
            reader,
            limit: limits.max_message_bytes,
            piece: Vec::with_capacity(LINE_PIECE),
            next_index: 0,
            started: false,
            done: false,
        }
    }

    /// Fill `self.piece` with the next piece of a line; returns whether it ends the line.
    /// An empty piece means end of input.
    fn read_piece(&mut self) -> io::Result<bool> {
        self.piece.clear();
        loop {
            let buf = match self.reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                return Ok(false);
            }
            let room = LINE_PIECE - self.piece.len();
            let avail = &buf[..buf.len().min(room)];
            if let Some(i) = avail.iter().position(|&b| b == b'\n') {
                self.piece.extend_from_slice(&avail[..=i]);
                self.reader.consume(i + 1);
                return Ok(true);
            }
            let n = avail.len();
            self.piece.extend_from_slice(avail);
            self.reader.consume(n);
            if self.piece.len() >= LINE_PIECE {
                return Ok(false);
            }
        }
    }

    /// Skip the rest of a line whose first piece was incomplete.
    fn skip_line(&mut self, mut complete: bool) -> io::Result<()> {
        while !complete {
            complete = self.read_piece()?;
            if self.piece.is_empty() {
                break;
            }
        }
        Ok(())
    }

    fn next_message(&mut self) -> Option<Result<RawMessage, CorpusError>> {
        if self.done {
            return None;
        }
        let index = self.next_index;
        match self.read_message() {
            Ok(Some((bytes, size))) => {
                self.next_index += 1;
                if size > self.limit as u64 {
                    Some(Err(CorpusError::TooLarge {
                        input: self.input.clone(),
                        index,
                        size,
                        limit: self.limit,
                    }))
                } else {
                    Some(Ok(RawMessage {
                        input: self.input.clone(),
                        index,
                        bytes,
                    }))
                }
            }
            Ok(None) => {
                self.done = true;
                None
            }
            Err(source) => {
                self.done = true;
                Some(Err(CorpusError::Read {
                    input: self.input.clone(),
                    index,
                    source,
                }))
            }
        }
    }

    /// The next message's bytes and true size; the bytes are empty when it is over the limit.
    fn read_message(&mut self) -> io::Result<Option<(Vec<u8>, u64)>> {
        if !self.started {
            // Detection saw "From " at the start: this first line is a From_ line.
            let complete = self.read_piece()?;
            if self.piece.is_empty() {
                return Ok(None);
            }
            self.skip_line(complete)?;
            self.started = true;
        }
        // Two bytes of slack: the final blank line is counted, then dropped.
        let keep_limit = self.limit.saturating_add(2);
        let mut bytes = Vec::new();
        let mut size: u64 = 0;
        let mut at_line_start = true;
        // Length of the previous line's "\n" / "\r\n" if that line was blank, else 0.
        let mut blank_before = 0usize;
        let mut eof = false;
        loop {
            let complete = self.read_piece()?;
            if self.piece.is_empty() {
                eof = true;
                break;
            }
            if at_line_start
                && self.piece.starts_with(b"From ")
                && (blank_before > 0 || looks_like_from_line(&self.piece))
            {
                self.skip_line(complete)?;
                break;
            }
            let data = if at_line_start && is_escaped_from(&self.piece) {
                &self.piece[1..]
            } else {
                &self.piece[..]
            };
            size += data.len() as u64;
            if size <= keep_limit as u64 {
                reserve_bounded(&mut bytes, data.len(), keep_limit);
                bytes.extend_from_slice(data);
            } else if !bytes.is_empty() {
                bytes = Vec::new();
            }
            blank_before = if complete && at_line_start && (data == b"\n" || data == b"\r\n") {
                data.len()
            } else {
                0
            };
            at_line_start = complete;
        }
        size -= blank_before as u64;
        if size <= self.limit as u64 {
            bytes.truncate(size as usize);
        }
        if eof {
            self.done = true;
        }
        Ok(Some((bytes, size)))
    }
}

/// Grow `bytes` for `extra` more bytes without letting its capacity pass `cap` by doubling.
fn reserve_bounded(bytes: &mut Vec<u8>, extra: usize, cap: usize) {
    let need = bytes.len() + extra;
    if need > bytes.capacity() {
        let want = need.max(bytes.capacity().saturating_mul(2).min(cap));
        bytes.reserve_exact(want - bytes.len());
    }
}

/// `^>+From ` — an mboxrd-escaped line.
fn is_escaped_from(line: &[u8]) -> bool {
    let quotes = line.iter().take_while(|&&b| b == b'>').count();
    quotes > 0 && line[quotes..].starts_with(b"From ")
}

/// A From_ line that is not preceded by a blank line must look like an envelope line:
/// `From <sender> <date>` where the date has a `hh:mm` time and a four-digit year.
fn looks_like_from_line(line: &[u8]) -> bool {
    let Some(rest) = line.strip_prefix(b"From ") else {
        return false;
    };
    let mut words = rest
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty());
    if words.next().is_none() {
        return false;
    }
    let mut has_time = false;
    let mut has_year = false;
    for word in words {
        if word.len() >= 4
            && word[0].is_ascii_digit()
            && word.contains(&b':')
            && word.iter().all(|b| b.is_ascii_digit() || *b == b':')
        {
            has_time = true;
        } else if word.len() == 4 && word.iter().all(u8::is_ascii_digit) {
            has_year = true;
        }
    }
    has_time && has_year
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    const PLAIN_MBOX: &[u8] = include_bytes!("../tests/fixtures/corpus/plain.mbox");

    fn limits(max: usize) -> ReadLimits {
        ReadLimits {
            max_message_bytes: max,
        }
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    /// (index, bytes as text) for each message; errors as their display text.
    fn collect(messages: Messages) -> Vec<Result<(usize, String), String>> {
        messages
            .map(|m| {
                m.map(|m| (m.index, String::from_utf8_lossy(&m.bytes).into_owned()))
                    .map_err(|e| e.to_string())
            })
            .collect()
    }

    fn ok(index: usize, text: &str) -> Result<(usize, String), String> {
        Ok((index, text.to_string()))
    }

    fn plain_expected() -> Vec<Result<(usize, String), String>> {
        vec![
            ok(
                0,
                "From: alice@example.com\nSubject: one\n\nHello.\nFrom the start, this was escaped.\n",
            ),
            ok(
                1,
                "From: bob@example.com\nSubject: two\n\nQuoted:\n>From a quoted escaped line.\n>not a from line\n",
            ),
            ok(2, "From: carol@example.com\nSubject: three\n\nLast one.\n"),
        ]
    }

    #[test]
    fn plain_mbox_splits_and_unescapes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox.mbox");
        fs::write(&path, PLAIN_MBOX).unwrap();
        let path = path.to_str().unwrap();
        let messages: Vec<RawMessage> = open_input(path, &ReadLimits::default())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(messages.len(), 3);
        assert!(messages.iter().all(|m| m.input == path));
        let got = collect(open_input(path, &ReadLimits::default()).unwrap());
        assert_eq!(got, plain_expected());
    }

    #[test]
    fn gzipped_mbox_is_detected_by_magic_not_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("archive.txt");
        fs::write(&path, gzip(PLAIN_MBOX)).unwrap();
        let got = collect(open_input(path.to_str().unwrap(), &ReadLimits::default()).unwrap());
        assert_eq!(got, plain_expected());
    }

    #[test]
    fn concatenated_gzip_members_are_one_stream() {
        let (head, tail) = PLAIN_MBOX.split_at(200);
        let mut data = gzip(head);
        data.extend(gzip(tail));
        let got = collect(Messages::from_reader(
            "x",
            Cursor::new(data),
            &ReadLimits::default(),
        ));
        assert_eq!(got, plain_expected());
    }

    #[test]
    fn crlf_mbox_keeps_line_ends() {
        let data =
            b"From a@x Mon Jan  1 10:00:00 2024\r\nSubject: one\r\n\r\nBody\r\n>From x\r\n\r\n\
                     From b@x Mon Jan  1 10:00:00 2024\r\nSubject: two\r\n\r\nBody 2\r\n";
        let got = collect(Messages::from_reader(
            "crlf",
            &data[..],
            &ReadLimits::default(),
        ));
        assert_eq!(
            got,
            vec![
                ok(0, "Subject: one\r\n\r\nBody\r\nFrom x\r\n"),
                ok(1, "Subject: two\r\n\r\nBody 2\r\n"),
            ]
        );
    }

    #[test]
    fn entry_over_the_limit_is_skipped_and_reading_goes_on() {
        let data = b"From a Mon Jan  1 10:00:00 2024\nshort\n\n\
                     From b Mon Jan  1 10:00:00 2024\nthis one is much too long\nand more\n\n\
                     From c Mon Jan  1 10:00:00 2024\nabcdefghij\n";
        // "abcdefghij\n" is 11 bytes: exactly at the limit is accepted.
        let got = collect(Messages::from_reader("big", &data[..], &limits(11)));
        assert_eq!(
            got,
            vec![
                ok(0, "short\n"),
                Err("big: message 1 is 35 bytes, over the limit of 11".to_string()),
                ok(2, "abcdefghij\n"),
            ]
        );
    }

    #[test]
    fn the_dropped_blank_line_does_not_count_against_the_limit() {
        let data = b"From a Mon Jan  1 10:00:00 2024\r\n0123456789\r\n\r\nFrom b Mon Jan  1 10:00:00 2024\r\n";
        let got = collect(Messages::from_reader("x", &data[..], &limits(12)));
        assert_eq!(got, vec![ok(0, "0123456789\r\n"), ok(1, "")]);
    }

    #[test]
    fn truncated_gzip_yields_the_messages_before_then_one_error() {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(&PLAIN_MBOX[..340]).unwrap(); // through carol's From_ line and more
        enc.flush().unwrap();
        let decodable = enc.get_ref().len();
        enc.write_all(&PLAIN_MBOX[340..]).unwrap();
        let mut data = enc.finish().unwrap();
        data.truncate(decodable);
        let mut messages =
            Messages::from_reader("cut.gz", Cursor::new(data), &ReadLimits::default());
        let first: Vec<usize> = messages
            .by_ref()
            .take(2)
            .map(|m| m.unwrap().index)
            .collect();
        assert_eq!(first, [0, 1]);
        match messages.next() {
            Some(Err(CorpusError::Read { input, index, .. })) => {
                assert_eq!((input.as_str(), index), ("cut.gz", 2))
            }
            other => panic!("expected a read error, got {other:?}"),
        }
        assert!(messages.next().is_none());
        assert!(messages.next().is_none());
    }

    #[test]
    fn single_messages_plain_gzipped_and_empty() {
        let eml = b"Subject: hi\n\nbody\n".to_vec();
        let got = collect(Messages::from_reader(
            "-",
            Cursor::new(eml.clone()),
            &ReadLimits::default(),
        ));
        assert_eq!(got, vec![ok(0, "Subject: hi\n\nbody\n")]);
        let got = collect(Messages::from_reader(
            "-",
            Cursor::new(gzip(&eml)),
            &ReadLimits::default(),
        ));
        assert_eq!(got, vec![ok(0, "Subject: hi\n\nbody\n")]);
        let got = collect(Messages::from_reader("-", &b""[..], &ReadLimits::default()));
        assert_eq!(got, vec![ok(0, "")]);
        // Too short to be either gzip or an mbox.
        let got = collect(Messages::from_reader(
            "-",
            &b"\x1f"[..],
            &ReadLimits::default(),
        ));
        assert_eq!(got, vec![ok(0, "\u{1f}")]);
    }

    #[test]
    fn single_message_over_the_limit_reports_its_size() {
        let got = collect(Messages::from_reader("-", &[b'x'; 100][..], &limits(10)));
        assert_eq!(
            got,
            vec![Err(
                "-: message 0 is 100 bytes, over the limit of 10".to_string()
            )]
        );
    }

    #[test]
    fn eml_starting_with_a_from_line_is_a_one_message_mbox() {
        let data = b"From someone@example.com Tue Feb  6 09:00:00 2024\nSubject: saved\n\nx\n";
        let got = collect(Messages::from_reader(
            "saved.eml",
            &data[..],
            &ReadLimits::default(),
        ));
        assert_eq!(got, vec![ok(0, "Subject: saved\n\nx\n")]);
    }

    #[test]
    fn from_lines_without_a_blank_line_split_only_if_they_look_like_envelopes() {
        let data = b"From a@x Mon Jan  1 10:00:00 2024\nSubject: one\n\nHello,\nFrom the desk of the manager\n\
                     From b@x Mon Jan  1 10:00:00 2024\nSubject: two\n";
        let got = collect(Messages::from_reader(
            "mboxo",
            &data[..],
            &ReadLimits::default(),
        ));
        assert_eq!(
            got,
            vec![
                ok(0, "Subject: one\n\nHello,\nFrom the desk of the manager\n"),
                ok(1, "Subject: two\n"),
            ]
        );
    }

    #[test]
    fn a_from_line_after_a_blank_line_always_splits() {
        let data = b"From a\nbody\n\nFrom here on\nsecond\n";
        let got = collect(Messages::from_reader(
            "m",
            &data[..],
            &ReadLimits::default(),
        ));
        assert_eq!(got, vec![ok(0, "body\n"), ok(1, "second\n")]);
    }

    #[test]
    fn long_lines_pass_through_and_long_from_lines_are_skipped_whole() {
        let long = "y".repeat(3 * LINE_PIECE + 5);
        let data = format!(
            "From a Mon Jan  1 10:00:00 2024 {long}\n{long}\n>From {long}\n\nFrom b {long}\nend"
        );
        let got = collect(Messages::from_reader(
            "m",
            Cursor::new(data.into_bytes()),
            &ReadLimits::default(),
        ));
        assert_eq!(
            got,
            vec![Ok((0, format!("{long}\nFrom {long}\n"))), ok(1, "end"),]
        );
    }

    #[test]
    fn a_line_that_merely_continues_is_never_a_separator_or_unescaped() {
        // ">From " and "From " right after a 8 KiB piece boundary are mid-line, not line starts.
        let pad = "z".repeat(LINE_PIECE);
        let data = format!("From a\n{pad}>From x\n\n{pad}From y\n");
        let got = collect(Messages::from_reader(
            "m",
            Cursor::new(data.into_bytes()),
            &ReadLimits::default(),
        ));
        assert_eq!(got, vec![Ok((0, format!("{pad}>From x\n\n{pad}From y\n")))]);
    }

    #[test]
    fn missing_input_is_an_io_error() {
        let err = open_input("/nonexistent/sendguard/x.mbox", &ReadLimits::default())
            .err()
            .unwrap();
        assert!(
            matches!(err, CorpusError::Io { ref path, .. } if path == "/nonexistent/sendguard/x.mbox")
        );
    }

    #[test]
    fn directory_with_nested_maildir() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let write = |rel: &str, text: &str| {
            let p = root.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        };
        write("a.eml", "A");
        write(".hidden.eml", "hidden");
        write("inbox/cur/1700000000.M1P2.host:2,S", "seen");
        write("inbox/new/1700000001.M3P4.host", "new");
        write("inbox/tmp/1700000002.M5P6.host", "half delivered");
        write("inbox/dovecot-uidlist", "index");
        write("inbox/.Sent/cur/1", "subfolder");
        write("nested/deeper/b.eml", "B");
        write("nested/empty.eml", "");
        std::os::unix::fs::symlink(root.join("a.eml"), root.join("link.eml")).unwrap();
        std::os::unix::fs::symlink(root.join("missing"), root.join("dangling.eml")).unwrap();
        std::os::unix::fs::symlink(root.join("nested"), root.join("linkdir")).unwrap();

        let got: Vec<Result<(String, String), String>> =
            open_input(root.to_str().unwrap(), &ReadLimits::default())
                .unwrap()
                .map(|m| match m {
                    Ok(m) => {
                        assert_eq!(m.index, 0);
                        let rel = Path::new(&m.input).strip_prefix(root).unwrap();
                        Ok((
                            rel.display().to_string(),
                            String::from_utf8(m.bytes).unwrap(),
                        ))
                    }
                    Err(CorpusError::Io { path, .. }) => Err(Path::new(&path)
                        .strip_prefix(root)
                        .unwrap()
                        .display()
                        .to_string()),
                    Err(e) => panic!("{e}"),
                })
                .collect();
        let ok2 = |a: &str, b: &str| Ok((a.to_string(), b.to_string()));
        assert_eq!(
            got,
            vec![
                ok2("a.eml", "A"),
                Err("dangling.eml".to_string()),
                ok2("inbox/cur/1700000000.M1P2.host:2,S", "seen"),
                ok2("inbox/new/1700000001.M3P4.host", "new"),
                ok2("link.eml", "A"),
                ok2("nested/deeper/b.eml", "B"),
                ok2("nested/empty.eml", ""),
            ]
        );
    }

    #[test]
    fn directory_file_over_the_limit_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("big.eml"), [b'x'; 50]).unwrap();
        fs::write(dir.path().join("small.eml"), "ok").unwrap();
        let got = collect(open_input(dir.path().to_str().unwrap(), &limits(10)).unwrap());
        let big = dir.path().join("big.eml").display().to_string();
        assert_eq!(
            got,
            vec![
                Err(format!(
                    "{big}: message 0 is 50 bytes, over the limit of 10"
                )),
                ok(0, "ok"),
            ]
        );
    }

    #[test]
    fn labelled_sources_by_file_stem_and_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::write(root.join("spam.mbox"), "").unwrap();
        fs::write(root.join("fraud.mbox.gz"), "").unwrap();
        fs::create_dir(root.join("ham")).unwrap();
        fs::create_dir(root.join("spam")).unwrap();
        fs::write(root.join("README.md"), "").unwrap();
        fs::write(root.join(".phishing.mbox"), "").unwrap();
        fs::create_dir(root.join(".git")).unwrap();
        let got = labelled_sources(root).unwrap();
        let expected: Vec<(String, PathBuf)> = [
            ("fraud", "fraud.mbox.gz"),
            ("ham", "ham"),
            ("spam", "spam"),
            ("spam", "spam.mbox"),
        ]
        .iter()
        .map(|(c, p)| (c.to_string(), root.join(p)))
        .collect();
        assert_eq!(got, expected);
        assert!(matches!(
            labelled_sources(&root.join("nope")),
            Err(CorpusError::Io { .. })
        ));
    }
}
