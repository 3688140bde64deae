//! The message view: what the classifier reads of one raw message.
//!
//! mail-parser (with `full_encoding`) does the MIME structure, transfer encodings and charsets;
//! this module walks the parts it found within [`ViewLimits`], turns HTML into text with line
//! breaks between blocks (mail-parser's own conversion joins "Congratulations" and "Claim"),
//! and collects URLs, e-mail addresses and attachment names. Attached text and HTML files are
//! read like body parts (a cover note "see the attached letter" must not hide the letter).
//!
//! # Hardening
//! Measured on mail-parser 0.11.9, four inputs are dangerous when handed to it as they are:
//! - `message/rfc822` parts nest without limit and the parsed tree is dropped recursively:
//!   100,000 levels overflow the stack, 1,000,000 levels (30 MB) take 4.6 s and 1.4 GB.
//! - every `multipart` whose boundary never appears makes it scan to the end of the input and
//!   back: 10,000 such parts in 560 KB take 2.9 s, and the cost is quadratic in input size.
//! - boundaries are compared at every `--`, so a long boundary over a run of dashes costs
//!   input × boundary length.
//!
//! - it keeps ~17 bytes per input byte when the input is tiny parts or headers (a 50 MB
//!   message of 900,000 parts: 4.3 s and 850 MB).
//!
//! So only the first `max_parse_bytes` (8 MiB) go to mail-parser, and before parsing,
//! `neutralize()` finds the type tokens of `Content-Type` fields the way mail-parser reads
//! them and rewrites, in a copy made only when needed, the second letter of `message`
//! (always), `digest` (always) and `multipart` (beyond a budget that shrinks with input size,
//! or when the boundary is longer than [`MAX_BOUNDARY`]) into a control byte. mail-parser then
//! sees opaque parts; this module parses attached messages itself, at most `max_depth` deep
//! and within a byte budget (4 × input + 1 MiB), and restores the original letters wherever
//! the rewritten bytes reach the output. Multipart nesting itself is iterative in mail-parser
//! (20,000 levels parse in 35 ms) and is walked here only `max_depth` deep. With these, every
//! 50 MB adversarial input tried here finishes within 0.4 s and 140 MB beyond the input.

use std::borrow::Cow;
use std::fmt;

use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::parsers::MessageStream;
use mail_parser::{
    Address, ContentType, Encoding, Header, HeaderName, HeaderValue, Message, MessageParser,
    MessagePart, MimeHeaders, PartType,
};

/// Limits on work per message (carried in the model file, so derive serde + PartialEq).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ViewLimits {
    /// Body text beyond this many bytes is not kept (cut at a char boundary) and `truncated` is set.
    pub max_text_bytes: usize,
    /// MIME parts looked at, counted over the whole message including attached messages.
    pub max_parts: usize,
    /// Levels of multipart / message/rfc822 nesting looked at (at most [`MAX_DEPTH_CAP`]).
    pub max_depth: usize,
    /// URLs kept.
    pub max_urls: usize,
    /// E-mail addresses kept (body addresses; Reply-To is capped at the same number).
    pub max_emails: usize,
    /// Bytes of the raw message handed to the MIME parser; the rest is not looked at and
    /// `truncated` is set. Text and headers come first; a big attachment is listed but cut.
    /// mail-parser keeps ~17 bytes per input byte for inputs of tiny parts or headers, so this
    /// bounds memory and time (8 MiB: ~140 MB and ~0.5 s worst case).
    pub max_parse_bytes: usize,
}

fn default_max_parse_bytes() -> usize {
    8 * 1024 * 1024
}

impl ViewLimits {
    /// The largest limits the view is hardened for; a model file may not ask for more.
    pub fn hard_caps() -> ViewLimits {
        ViewLimits {
            max_text_bytes: 4 * 1024 * 1024,
            max_parts: 1024,
            max_depth: MAX_DEPTH_CAP,
            max_urls: 1024,
            max_emails: 1024,
            max_parse_bytes: 64 * 1024 * 1024,
        }
    }
}

impl Default for ViewLimits {
    fn default() -> Self {
        ViewLimits {
            max_text_bytes: 256 * 1024,
            max_parts: 64,
            max_depth: 8,
            max_urls: 64,
            max_emails: 64,
            max_parse_bytes: default_max_parse_bytes(),
        }
    }
}

/// An attachment's name and MIME type.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attachment {
    /// File name from Content-Disposition `filename` or Content-Type `name`, RFC 2047/2231 decoded.
    pub name: Option<String>,
    /// Lower-case "type/subtype" (just "type" when the subtype is missing).
    pub content_type: String,
}

/// What the classifier reads of one message.
#[derive(Default, Debug, Clone)]
pub struct MessageView {
    /// Message-ID of the first Message-ID field, without <>.
    pub message_id: Option<String>,
    /// First Subject field, RFC 2047 decoded.
    pub subject: String,
    /// Display name of the first From address (decoded), "" if none.
    pub from_name: String,
    /// First From address, lower-cased, "" if none.
    pub from_address: String,
    /// Reply-To addresses, lower-cased, deduplicated.
    pub reply_to: Vec<String>,
    /// Addresses in all To fields, including members of groups.
    pub to_count: usize,
    /// Addresses in all Cc fields, including members of groups.
    pub cc_count: usize,
    /// Addresses in all Bcc fields, including members of groups.
    pub bcc_count: usize,
    /// The body text: text parts in order, HTML as text, attached text/plain and text/html
    /// files, attached messages' subject and text; parts separated by "\n".
    pub text: String,
    /// http(s)/www URLs in the body text and in HTML href/src/action attributes, as written
    /// (entities decoded), deduplicated, in order of appearance (per HTML part: links first,
    /// then URLs in its text). Both versions of a multipart/alternative contribute.
    pub urls: Vec<String>,
    /// E-mail addresses in the body text and mailto: links, lower-cased, deduplicated (both
    /// versions of a multipart/alternative contribute).
    pub emails: Vec<String>,
    /// Parts that are not body text: files, images, attached messages, other text types; also
    /// attached text/plain and text/html files, whose text is read as well.
    pub attachments: Vec<Attachment>,
    /// Something was not looked at: text cut at `max_text_bytes`, parts beyond `max_parts` or
    /// `max_depth`, a multipart left unparsed by the hardening, or the nested-parse budget spent.
    pub truncated: bool,
    scratch: Scratch,
}

/// Errors from building a [`MessageView`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The input has no bytes, or only white space.
    #[error("empty message: the input is empty or only white space")]
    Empty,
}

/// Buffers kept between messages so the hot path allocates little.
#[derive(Default)]
struct Scratch {
    input: Vec<u8>,
    rewrites: Vec<(usize, u8)>,
    strings: Vec<String>,
    texts: Vec<String>,
    attr: String,
}

impl Clone for Scratch {
    fn clone(&self) -> Self {
        Scratch::default()
    }
}

impl fmt::Debug for Scratch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Scratch")
    }
}

/// Nesting levels looked at whatever `max_depth` says (the walk recurses once per level).
pub const MAX_DEPTH_CAP: usize = 64;
/// Spare strings kept for reuse; more are dropped.
const POOL_MAX: usize = 256;
/// URLs longer than this are cut (at a char boundary).
const MAX_URL_BYTES: usize = 2048;
/// Multipart boundaries longer than this are not handed to mail-parser (RFC 2046 allows 70).
pub const MAX_BOUNDARY: usize = 256;
/// Content-Type fields longer than this that declare a multipart are not handed to mail-parser.
const MAX_MULTIPART_FIELD: usize = 4096;
/// Bytes mail-parser may scan for failed multipart boundaries (sets the multipart budget).
const MULTIPART_SCAN_BUDGET: usize = 128 * 1024 * 1024;
/// Multipart containers always allowed, and never more than this many.
const MULTIPART_MIN: usize = 8;
const MULTIPART_MAX: usize = 4096;

// Control bytes that replace the second letter of a rewritten type token; one per original
// letter and case so the original can be restored exactly.
const MK_MESSAGE: u8 = 0x01; // 'e' of message (0x02 for 'E')
const MK_MULTIPART: u8 = 0x03; // 'u' of multipart (0x04 for 'U')
const MK_DIGEST: u8 = 0x05; // 'i' of digest (0x06 for 'I')

impl MessageView {
    /// Parses `raw` into a new view.
    ///
    /// # Errors
    /// [`MessageError::Empty`] when `raw` is empty or only white space. Input without any
    /// header is not an error: its bytes become the text (invalid UTF-8 replaced).
    pub fn parse(raw: &[u8], limits: &ViewLimits) -> Result<MessageView, MessageError> {
        let mut view = MessageView::default();
        view.parse_into(raw, limits)?;
        Ok(view)
    }

    /// Same, reusing this view's buffers (the hot path calls this with one view per thread).
    ///
    /// # Errors
    /// As [`MessageView::parse`]; the view is left cleared.
    pub fn parse_into(&mut self, raw: &[u8], limits: &ViewLimits) -> Result<(), MessageError> {
        self.clear();
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Err(MessageError::Empty);
        }
        let raw = match raw.get(..limits.max_parse_bytes) {
            Some(head) if head.len() < raw.len() => {
                self.truncated = true;
                head
            }
            _ => raw,
        };
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut input = std::mem::take(&mut scratch.input);
        let n = raw.len().max(1);
        let mut walker = Walker {
            view: self,
            scratch: &mut scratch,
            limits,
            parts_seen: 0,
            multipart_left: (MULTIPART_SCAN_BUDGET / n).clamp(MULTIPART_MIN, MULTIPART_MAX),
            parse_left: raw.len().saturating_mul(4).saturating_add(1 << 20),
            base: 0,
            html_parts: 0,
            markers: false,
            max_depth: limits.max_depth.min(MAX_DEPTH_CAP),
        };
        walker.parse_level(raw, 0, true, &mut input, true);
        scratch.input = input;
        self.scratch = scratch;
        Ok(())
    }

    /// Empties the view, keeping its buffers for the next message.
    pub fn clear(&mut self) {
        let pool = &mut self.scratch.strings;
        let mut keep = |s: String| {
            if pool.len() < POOL_MAX {
                pool.push(s);
            }
        };
        if let Some(id) = self.message_id.take() {
            keep(id);
        }
        self.reply_to.drain(..).for_each(&mut keep);
        self.urls.drain(..).for_each(&mut keep);
        self.emails.drain(..).for_each(&mut keep);
        for a in self.attachments.drain(..) {
            if let Some(name) = a.name {
                keep(name);
            }
            keep(a.content_type);
        }
        self.subject.clear();
        self.from_name.clear();
        self.from_address.clear();
        self.to_count = 0;
        self.cc_count = 0;
        self.bcc_count = 0;
        self.text.clear();
        self.truncated = false;
    }
}

/// What a part is, from its Content-Type (and whether its parent is a digest).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Plain,
    Html,
    OtherText,
    Alternative,
    Mixed,
    Digest,
    Unparsed,
    Message,
    Other,
}

impl Kind {
    fn of(ct: Option<&ContentType<'_>>, in_digest: bool) -> Kind {
        let Some(ct) = ct else {
            return if in_digest {
                Kind::Message
            } else {
                Kind::Plain
            };
        };
        let sub = ct.subtype().unwrap_or("");
        match marked(ct.ctype().as_bytes()) {
            Some(MK_MESSAGE) if matches!(sub, "rfc822" | "global") => Kind::Message,
            Some(MK_MULTIPART) => Kind::Unparsed,
            Some(_) => Kind::Other,
            None => match (ct.ctype(), sub) {
                ("text", "plain") => Kind::Plain,
                ("text", "html") => Kind::Html,
                ("text", _) => Kind::OtherText,
                ("multipart", "alternative") => Kind::Alternative,
                ("multipart", s) if marked(s.as_bytes()) == Some(MK_DIGEST) => Kind::Digest,
                ("multipart", _) => Kind::Mixed,
                ("message", "rfc822" | "global") => Kind::Message,
                _ => Kind::Other,
            },
        }
    }
}

/// The marker family (MK_*) in a rewritten token, by its second byte.
fn marked(token: &[u8]) -> Option<u8> {
    match token.get(1) {
        Some(0x01 | 0x02) => Some(MK_MESSAGE),
        Some(0x03 | 0x04) => Some(MK_MULTIPART),
        Some(0x05 | 0x06) => Some(MK_DIGEST),
        _ => None,
    }
}

/// The MIME parser, built once. It parses the header fields this module or mail-parser itself
/// reads as mail-parser's defaults do, and skips the others, which are only costly: References,
/// In-Reply-To, Return-Path and other message-id fields, List-*, Sender and Resent-* address
/// fields, and unknown fields. Their default parsers (message-id, address, raw) end a field
/// exactly where skipping ends it, at the first line break not followed by white space
/// (encoded words that would cross it are read back), so the fields after them parse alike.
/// Date, whose parser may stop early, and the rest keep their default parsers.
static PARSER: std::sync::LazyLock<MessageParser> = std::sync::LazyLock::new(|| {
    MessageParser::new()
        .header_text(HeaderName::Subject)
        .header_text(HeaderName::Comments)
        .header_text(HeaderName::ContentDescription)
        .header_text(HeaderName::ContentLocation)
        .header_text(HeaderName::ContentTransferEncoding)
        .header_address(HeaderName::From)
        .header_address(HeaderName::To)
        .header_address(HeaderName::Cc)
        .header_address(HeaderName::Bcc)
        .header_address(HeaderName::ReplyTo)
        .header_id(HeaderName::MessageId)
        .header_comma_separated(HeaderName::Keywords)
        .header_comma_separated(HeaderName::ContentLanguage)
        .header_received(HeaderName::Received)
        .header_date(HeaderName::Date)
        .header_date(HeaderName::ResentDate)
        .header_content_type(HeaderName::ContentType)
        .header_content_type(HeaderName::ContentDisposition)
        .default_header_ignore()
});

struct Walker<'a> {
    view: &'a mut MessageView,
    scratch: &'a mut Scratch,
    limits: &'a ViewLimits,
    parts_seen: usize,
    /// Multipart fields mail-parser may still see (each can cost one scan of the input).
    multipart_left: usize,
    /// Bytes that attached messages may still add to parsing.
    parse_left: usize,
    /// Text that will precede `view.text` while it holds one alternative's rendering.
    base: usize,
    /// HTML parts rendered so far (tells HTML alternatives from plain ones).
    html_parts: usize,
    /// The bytes being parsed had type tokens rewritten, so output may hold markers.
    markers: bool,
    /// `max_depth`, capped so recursion stays within a small thread stack.
    max_depth: usize,
}

impl Walker<'_> {
    /// Parses one message level (the input or an attached message) and walks its parts.
    fn parse_level(&mut self, raw: &[u8], depth: usize, top: bool, buf: &mut Vec<u8>, scan: bool) {
        let rewritten = scan
            && neutralize(
                raw,
                buf,
                &mut self.scratch.rewrites,
                &mut self.multipart_left,
            );
        let input: &[u8] = if rewritten { buf } else { raw };
        let saved_markers = self.markers;
        self.markers |= rewritten;
        match PARSER.parse(input) {
            Some(msg) => {
                if top {
                    self.read_headers(&msg);
                } else if let Some(h) = first_header(&msg, &HeaderName::Subject) {
                    let subject = header_text(&msg, h, self.limits.max_parts);
                    self.push_plain(&subject);
                }
                self.walk(&msg, 0, depth, false);
                dismantle(msg);
            }
            None => self.push_lossy(raw),
        }
        self.markers = saved_markers;
    }

    fn read_headers(&mut self, msg: &Message<'_>) {
        let Some(root) = msg.parts.first() else {
            return;
        };
        let (mut subject_seen, mut from_seen) = (false, false);
        for h in &root.headers {
            match (&h.name, &h.value) {
                (HeaderName::MessageId, v) if self.view.message_id.is_none() => {
                    let id = match v {
                        HeaderValue::Text(t) => Some(t.as_ref()),
                        HeaderValue::TextList(l) => l.first().map(|t| t.as_ref()),
                        _ => None,
                    };
                    if let Some(id) = id {
                        let mut s = self.string();
                        s.push_str(id);
                        self.view.message_id = Some(s);
                    }
                }
                (HeaderName::Subject, _) if !subject_seen => {
                    subject_seen = true;
                    let subject = header_text(msg, h, self.limits.max_parts);
                    self.view.subject.push_str(&subject);
                }
                (HeaderName::From, HeaderValue::Address(a)) if !from_seen => {
                    if let Some(addr) = a.first() {
                        from_seen = true;
                        let name = addr.name().unwrap_or("");
                        let reread = if undecoded(name) {
                            reread_header(msg, h, self.limits.max_parts)
                        } else {
                            None
                        };
                        let fixed = reread.as_deref().and_then(|v| {
                            match MessageStream::new(v.as_bytes()).parse_address() {
                                HeaderValue::Address(a) => {
                                    a.first().and_then(|f| f.name()).map(str::to_string)
                                }
                                _ => None,
                            }
                        });
                        self.view
                            .from_name
                            .push_str(fixed.as_deref().unwrap_or(name).trim());
                        push_lower(&mut self.view.from_address, addr.address().unwrap_or(""));
                    }
                }
                (HeaderName::ReplyTo, HeaderValue::Address(a)) => {
                    for addr in a.iter() {
                        let Some(address) = addr.address().filter(|s| !s.is_empty()) else {
                            continue;
                        };
                        if self.view.reply_to.len() >= self.limits.max_emails {
                            break;
                        }
                        let mut s = self.string();
                        push_lower(&mut s, address);
                        if self.view.reply_to.contains(&s) {
                            self.recycle(s);
                        } else {
                            self.view.reply_to.push(s);
                        }
                    }
                }
                (HeaderName::To, HeaderValue::Address(a)) => self.view.to_count += count(a),
                (HeaderName::Cc, HeaderValue::Address(a)) => self.view.cc_count += count(a),
                (HeaderName::Bcc, HeaderValue::Address(a)) => self.view.bcc_count += count(a),
                _ => {}
            }
        }
        if self.markers {
            restore_markers(&mut self.view.subject, 0);
            restore_markers(&mut self.view.from_name, 0);
        }
    }

    fn walk(&mut self, msg: &Message<'_>, id: u32, depth: usize, in_digest: bool) {
        let Some(part) = msg.parts.get(id as usize) else {
            return;
        };
        if self.parts_seen >= self.limits.max_parts {
            self.view.truncated = true;
            return;
        }
        self.parts_seen += 1;
        let kind = Kind::of(part.content_type(), in_digest);
        match &part.body {
            PartType::Multipart(children) => {
                if depth >= self.max_depth {
                    self.view.truncated = true;
                } else if kind == Kind::Alternative {
                    self.walk_alternative(msg, children, depth + 1);
                } else {
                    for &child in children {
                        self.walk(msg, child, depth + 1, kind == Kind::Digest);
                    }
                }
            }
            PartType::Message(inner) => {
                // Not produced after neutralize(); kept for safety.
                self.add_attachment(part, kind);
                if depth >= self.max_depth {
                    self.view.truncated = true;
                } else {
                    if let Some(h) = first_header(inner, &HeaderName::Subject) {
                        let subject = header_text(inner, h, self.limits.max_parts);
                        self.push_plain(&subject);
                    }
                    self.walk(inner, 0, depth + 1, false);
                }
            }
            body => match kind {
                Kind::Message => {
                    self.add_attachment(part, kind);
                    self.nested(msg, part, body, depth, in_digest);
                }
                Kind::Unparsed => {
                    self.add_attachment(part, kind);
                    self.view.truncated = true;
                }
                // A multipart whose boundary never appears arrives as text: read it, unless it
                // is an attached file.
                Kind::Alternative | Kind::Mixed | Kind::Digest if is_attachment(part) => {
                    self.add_attachment(part, kind)
                }
                Kind::Plain | Kind::Html | Kind::Alternative | Kind::Mixed | Kind::Digest => {
                    // A text or HTML file attached ("please read the attached letter.txt") is
                    // listed and read as well: the letter, not its cover note, is the mail.
                    let attached = is_attachment(part);
                    if attached {
                        self.add_attachment(part, kind);
                    }
                    match body {
                        PartType::Text(t) | PartType::Html(t) if kind == Kind::Html => {
                            let html = part_text(msg, part, t, usize::MAX);
                            self.push_html(&html);
                        }
                        PartType::Text(t) | PartType::Html(t) => {
                            let text = part_text(msg, part, t, self.room());
                            self.push_plain(&text);
                        }
                        _ if !attached => self.add_attachment(part, kind),
                        _ => {}
                    }
                }
                _ => self.add_attachment(part, kind),
            },
        }
    }

    /// Renders each alternative into its own buffer, then keeps the plain one unless it is a
    /// stub (under a quarter of the HTML text), else the HTML one.
    fn walk_alternative(&mut self, msg: &Message<'_>, children: &[u32], depth: usize) {
        let saved_base = self.base;
        self.base = saved_base + self.view.text.len() + 1;
        let mut best_plain: Option<String> = None;
        let mut best_html: Option<String> = None;
        for &child in children {
            let mut buf = self.scratch.texts.pop().unwrap_or_default();
            buf.clear();
            std::mem::swap(&mut self.view.text, &mut buf);
            let html_before = self.html_parts;
            self.walk(msg, child, depth, false);
            std::mem::swap(&mut self.view.text, &mut buf);
            let slot = if self.html_parts > html_before {
                &mut best_html
            } else {
                &mut best_plain
            };
            if buf.trim().is_empty() {
                self.recycle_text(buf);
            } else if let Some(old) = slot.replace(buf) {
                self.recycle_text(old);
            }
        }
        self.base = saved_base;
        let chosen = match (best_plain, best_html) {
            (Some(plain), Some(html)) => {
                if plain.trim().len().saturating_mul(4) < html.trim().len() {
                    self.recycle_text(plain);
                    html
                } else {
                    self.recycle_text(html);
                    plain
                }
            }
            (Some(one), None) | (None, Some(one)) => one,
            (None, None) => return,
        };
        self.separate();
        self.view.text.push_str(&chosen);
        self.recycle_text(chosen);
    }

    /// Reads an attached message (message/rfc822 or a digest entry) one level deeper.
    fn nested(
        &mut self,
        msg: &Message<'_>,
        part: &MessagePart<'_>,
        body: &PartType<'_>,
        depth: usize,
        in_digest: bool,
    ) {
        if depth >= self.max_depth {
            self.view.truncated = true;
            return;
        }
        let raw_slice = msg
            .raw_message
            .get(part.offset_body as usize..part.offset_end as usize);
        // Borrowed bytes are a slice of input that neutralize() has already seen.
        let (bytes, scan): (&[u8], bool) = match body {
            PartType::Text(_) | PartType::Html(_) if in_digest && raw_slice.is_some() => {
                (raw_slice.unwrap_or_default(), false)
            }
            PartType::Binary(b) | PartType::InlineBinary(b) => {
                (b.as_ref(), matches!(b, Cow::Owned(_)))
            }
            PartType::Text(t) | PartType::Html(t) => (t.as_bytes(), matches!(t, Cow::Owned(_))),
            _ => return,
        };
        if bytes.len() > self.parse_left {
            self.view.truncated = true;
            return;
        }
        self.parse_left -= bytes.len();
        let mut buf = Vec::new();
        self.parse_level(bytes, depth + 1, false, &mut buf, scan);
    }

    fn add_attachment(&mut self, part: &MessagePart<'_>, kind: Kind) {
        let name = part.attachment_name().map(|n| {
            let mut s = self.string();
            s.push_str(n);
            if self.markers {
                restore_markers(&mut s, 0);
            }
            s
        });
        let mut content_type = self.string();
        match part.content_type() {
            Some(ct) => {
                push_lower(&mut content_type, ct.ctype());
                if let Some(sub) = ct.subtype() {
                    content_type.push('/');
                    push_lower(&mut content_type, sub);
                }
                unmark_token(&mut content_type);
            }
            None if kind == Kind::Message => content_type.push_str("message/rfc822"),
            None => content_type.push_str("text/plain"),
        }
        self.view
            .attachments
            .push(Attachment { name, content_type });
    }

    /// Bytes of text that may still be added.
    fn room(&self) -> usize {
        self.limits
            .max_text_bytes
            .saturating_sub(self.base + self.view.text.len())
    }

    /// Starts a new part on a new line.
    fn separate(&mut self) {
        let text = &mut self.view.text;
        if !text.is_empty() && !text.ends_with('\n') {
            if self.base + text.len() < self.limits.max_text_bytes {
                text.push('\n');
            } else {
                self.view.truncated = true;
            }
        }
    }

    fn push_plain(&mut self, s: &str) {
        if s.trim().is_empty() {
            return;
        }
        self.separate();
        let start = self.view.text.len();
        let room = self.room();
        let take = floor_boundary(s, room);
        if take < s.len() {
            self.view.truncated = true;
        }
        push_without_cr(&mut self.view.text, &s[..take]);
        self.after_push(start);
    }

    fn push_html(&mut self, html: &str) {
        self.html_parts += 1;
        self.separate();
        let start = self.view.text.len();
        let limit = self.limits.max_text_bytes.saturating_sub(self.base);
        let v = &mut *self.view;
        let (urls, emails) = (&mut v.urls, &mut v.emails);
        let pool = &mut self.scratch.strings;
        let limits = self.limits;
        let markers = self.markers;
        let cut = convert_html(
            html,
            &mut v.text,
            limit,
            &mut self.scratch.attr,
            |kind, value| match kind {
                Link::Url => add_url(value, urls, limits.max_urls, pool, markers),
                Link::Mailto => scan_emails(value, emails, limits.max_emails, pool),
            },
        );
        if cut {
            self.view.truncated = true;
        }
        self.after_push(start);
    }

    /// Input mail-parser could not read as a message: its bytes, invalid UTF-8 replaced.
    fn push_lossy(&mut self, raw: &[u8]) {
        self.separate();
        let start = self.view.text.len();
        let mut room = self.room();
        for chunk in raw.utf8_chunks() {
            let valid = chunk.valid();
            let take = floor_boundary(valid, room);
            push_without_cr(&mut self.view.text, &valid[..take]);
            room -= take;
            if take < valid.len() {
                self.view.truncated = true;
                break;
            }
            if !chunk.invalid().is_empty() {
                if room < 3 {
                    self.view.truncated = true;
                    break;
                }
                self.view.text.push('\u{FFFD}');
                room -= 3;
            }
        }
        self.after_push(start);
    }

    /// Restores rewritten letters in the new text and collects its URLs and addresses.
    fn after_push(&mut self, start: usize) {
        if self.markers {
            restore_markers(&mut self.view.text, start);
        }
        let v = &mut *self.view;
        let segment = v.text.get(start..).unwrap_or("");
        scan_urls(
            segment,
            &mut v.urls,
            self.limits.max_urls,
            &mut self.scratch.strings,
        );
        scan_emails(
            segment,
            &mut v.emails,
            self.limits.max_emails,
            &mut self.scratch.strings,
        );
    }

    fn string(&mut self) -> String {
        let mut s = self.scratch.strings.pop().unwrap_or_default();
        s.clear();
        s
    }

    fn recycle(&mut self, s: String) {
        if self.scratch.strings.len() < POOL_MAX {
            self.scratch.strings.push(s);
        }
    }

    fn recycle_text(&mut self, s: String) {
        if self.scratch.texts.len() < 8 {
            self.scratch.texts.push(s);
        }
    }
}

/// First header of this name in the root part.
fn first_header<'m, 'x>(msg: &'m Message<'x>, name: &HeaderName<'_>) -> Option<&'m Header<'x>> {
    msg.parts.first()?.headers.iter().find(|h| &h.name == name)
}

/// Whether decoded header text shows bytes mail-parser could not decode: invalid UTF-8
/// (raw 8-bit text or an unknown charset label) or raw ISO-2022-JP escapes.
fn undecoded(s: &str) -> bool {
    s.contains('\u{FFFD}') || s.contains('\u{1b}')
}

/// An unstructured header's text, re-read with [`reread_header`] when mail-parser's shows
/// undecoded bytes.
fn header_text<'m>(msg: &'m Message<'_>, h: &'m Header<'_>, max_parts: usize) -> Cow<'m, str> {
    let text = h.value.as_text().unwrap_or("");
    if !undecoded(text) {
        return Cow::Borrowed(text);
    }
    reread_header(msg, h, max_parts)
        .and_then(
            |v| match MessageStream::new(v.as_bytes()).parse_unstructured() {
                HeaderValue::Text(t) => Some(Cow::Owned(t.into_owned())),
                _ => None,
            },
        )
        .unwrap_or(Cow::Borrowed(text))
}

/// A header's raw value decoded to UTF-8 for re-parsing: raw ISO-2022-JP escapes as
/// ISO-2022-JP; raw bytes that are not UTF-8 in the charset the body declares (the first part
/// with a known charset), else as windows-1252 unless they hold valid multi-byte UTF-8 (then
/// None: lossy UTF-8 stays). None also when the raw value is valid UTF-8 (the damage came
/// from an encoded word's unknown charset, which re-reading cannot fix).
fn reread_header(msg: &Message<'_>, h: &Header<'_>, max_parts: usize) -> Option<String> {
    let raw = msg
        .raw_message
        .get(h.offset_start as usize..h.offset_end as usize)?;
    let decoder = if find_sub(raw, 0, b"\x1b$").is_some() {
        charset_decoder(b"iso-2022-jp")
    } else if std::str::from_utf8(raw).is_ok() {
        return None;
    } else {
        let declared = msg.parts.iter().take(max_parts).find_map(|p| {
            p.content_type()?
                .attribute("charset")
                .and_then(|c| charset_decoder(c.as_bytes()))
        });
        match declared {
            Some(decoder) => Some(decoder),
            None if has_multibyte_utf8(raw) => return None,
            None => charset_decoder(b"windows-1252"),
        }
    };
    decoder.map(|decode| decode(raw))
}

/// Whether bytes hold at least one valid multi-byte UTF-8 sequence.
fn has_multibyte_utf8(bytes: &[u8]) -> bool {
    bytes
        .utf8_chunks()
        .any(|c| c.valid().bytes().any(|b| b >= 0x80))
}

/// Addresses with a non-empty address part, in lists and groups.
fn count(a: &Address<'_>) -> usize {
    a.iter()
        .filter(|addr| addr.address().is_some_and(|s| !s.is_empty()))
        .count()
}

/// A part is an attachment when its disposition says so, or it has a file name and no
/// disposition.
fn is_attachment(part: &MessagePart<'_>) -> bool {
    match part.content_disposition() {
        Some(cd) => cd.is_attachment(),
        None => part
            .content_type()
            .is_some_and(|ct| ct.attribute("name").is_some()),
    }
}

/// Drops a parsed message without recursing through nested messages (deep trees would
/// overflow the stack).
fn dismantle(msg: Message<'_>) {
    let mut stack = Vec::new();
    let mut current = msg;
    loop {
        for part in &mut current.parts {
            if matches!(part.body, PartType::Message(_)) {
                if let PartType::Message(inner) = std::mem::take(&mut part.body) {
                    stack.push(inner);
                }
            }
        }
        drop(current);
        match stack.pop() {
            Some(next) => current = next,
            None => break,
        }
    }
}

/// The text of a body part, repairing two things mail-parser leaves: a body whose transfer
/// encoding broke (cut base64) arrives undecoded, so it is decoded here as far as it goes; and
/// a body whose charset has no decoder (missing, utf-8 or an unknown label) that is not valid
/// UTF-8 is read as windows-1252, unless it holds valid multi-byte UTF-8 (then lossy UTF-8
/// stays). At most `room` source bytes are re-read.
fn part_text<'t>(
    msg: &Message<'_>,
    part: &MessagePart<'_>,
    decoded: &'t str,
    room: usize,
) -> Cow<'t, str> {
    let label = part.content_type().and_then(|ct| ct.attribute("charset"));
    let decoder = label.and_then(|l| charset_decoder(l.as_bytes()));
    let declared = declared_encoding(part);
    let redo_transfer = part.is_encoding_problem && declared != Encoding::None;
    if !redo_transfer && (decoder.is_some() || !decoded.contains('\u{FFFD}')) {
        return Cow::Borrowed(decoded);
    }
    let Some(raw) = msg
        .raw_message
        .get(part.offset_body as usize..part.offset_end as usize)
    else {
        return Cow::Borrowed(decoded);
    };
    let encoding = if redo_transfer {
        declared
    } else {
        part.encoding
    };
    let (end, bytes): (usize, Cow<'_, [u8]>) = match encoding {
        Encoding::None => (0, Cow::Borrowed(raw)),
        Encoding::Base64 => MessageStream::new(raw).decode_base64_mime(b""),
        Encoding::QuotedPrintable => MessageStream::new(raw).decode_quoted_printable_mime(b""),
    };
    if end == usize::MAX {
        return Cow::Borrowed(decoded);
    }
    let bytes = bytes.get(..room).unwrap_or(&bytes);
    if let Some(decode) = decoder {
        return Cow::Owned(decode(bytes));
    }
    let utf8 = has_multibyte_utf8(bytes) || std::str::from_utf8(bytes).is_ok();
    match charset_decoder(b"windows-1252") {
        Some(cp1252) if !utf8 => Cow::Owned(cp1252(bytes)),
        _ => Cow::Owned(String::from_utf8_lossy(bytes).into_owned()),
    }
}

/// The Content-Transfer-Encoding a part declares (mail-parser resets it when decoding fails).
fn declared_encoding(part: &MessagePart<'_>) -> Encoding {
    match part.content_transfer_encoding() {
        Some(e) if e.eq_ignore_ascii_case("base64") => Encoding::Base64,
        Some(e) if e.eq_ignore_ascii_case("quoted-printable") => Encoding::QuotedPrintable,
        _ => Encoding::None,
    }
}

// ---------------------------------------------------------------------------------------------
// Hardening: type tokens of Content-Type fields
// ---------------------------------------------------------------------------------------------

/// Rewrites, into `buf`, the Content-Type type tokens that would make mail-parser nest
/// messages, treat digest entries as messages, or scan for a multipart boundary beyond the
/// budget. Returns false (and leaves `buf` alone) when nothing needs rewriting.
///
/// A field is recognised wherever a `:` follows "content-type" (case-insensitive, white space
/// allowed between letters as mail-parser allows), not only at line starts: mail-parser starts
/// headers right after a boundary too. Matches in body text are harmless: the letters are
/// restored in the output.
fn neutralize(
    raw: &[u8],
    buf: &mut Vec<u8>,
    rewrites: &mut Vec<(usize, u8)>,
    multipart_left: &mut usize,
) -> bool {
    rewrites.clear();
    let mut pos = 0;
    while let Some(colon) = find_byte(raw, pos, b':') {
        pos = colon + 1;
        if ends_with_content_type(&raw[..colon]) {
            pos = pos.max(type_tokens(raw, colon + 1, multipart_left, rewrites));
        }
    }
    if rewrites.is_empty() {
        return false;
    }
    buf.clear();
    buf.extend_from_slice(raw);
    for &(at, marker) in rewrites.iter() {
        if let Some(b) = buf.get_mut(at) {
            *b = marker;
        }
    }
    true
}

/// Whether `before` ends with a header name mail-parser reads as "content-type": its
/// non-white-space bytes, lower-cased (then optional white space before the colon).
fn ends_with_content_type(before: &[u8]) -> bool {
    const NAME: &[u8] = b"content-type";
    let mut i = before.len();
    let mut want = NAME.len();
    while want > 0 {
        // mail-parser skips any ASCII white space but '\n' inside a header name.
        while i > 0 && matches!(before[i - 1], b' ' | b'\t' | b'\r' | 0x0C) {
            i -= 1;
        }
        if i == 0 || !before[i - 1].eq_ignore_ascii_case(&NAME[want - 1]) {
            return false;
        }
        i -= 1;
        want -= 1;
    }
    true
}

/// Mirrors mail-parser's Content-Type states from `start` (just after the colon) over the type
/// and subtype; records rewrites and returns where the subtype ends.
fn type_tokens(
    raw: &[u8],
    start: usize,
    multipart_left: &mut usize,
    rewrites: &mut Vec<(usize, u8)>,
) -> usize {
    let mut i = start;
    let mut comment = 0usize;
    let mut slash = None;
    while let Some(&b) = raw.get(i) {
        match b {
            b'\n' => {
                let folded = matches!(raw.get(i + 1), Some(b' ' | b'\t'));
                // A fold continues the type only outside comments and before the '/'.
                if !(folded && comment == 0 && slash.is_none()) {
                    break;
                }
            }
            b'(' => comment += 1,
            b')' if comment > 0 => comment -= 1,
            _ if comment > 0 => {}
            b'/' if slash.is_none() => slash = Some(i),
            b';' => break,
            _ => {}
        }
        i += 1;
    }
    let type_end = slash.unwrap_or(i);
    let type_region = &raw[start..type_end];
    for at in find_ci_all(type_region, b"message") {
        rewrites.push((start + at + 1, mark(type_region[at + 1], MK_MESSAGE)));
    }
    if find_ci_all(type_region, b"multipart").next().is_some()
        && !multipart_allowed(raw, start, multipart_left)
    {
        for at in find_ci_all(type_region, b"multipart") {
            rewrites.push((start + at + 1, mark(type_region[at + 1], MK_MULTIPART)));
        }
    }
    if let Some(slash) = slash {
        let sub_region = &raw[slash + 1..i];
        for at in find_ci_all(sub_region, b"digest") {
            rewrites.push((slash + 2 + at, mark(sub_region[at + 1], MK_DIGEST)));
        }
    }
    i
}

/// Marker byte for a letter: the family's first byte for lower case, the next for upper.
fn mark(letter: u8, family: u8) -> u8 {
    family + u8::from(letter.is_ascii_uppercase())
}

/// Whether mail-parser may see this multipart field: within the budget, not too long, and
/// with a boundary of sane length (checked with mail-parser's own Content-Type parser).
fn multipart_allowed(raw: &[u8], start: usize, multipart_left: &mut usize) -> bool {
    if *multipart_left == 0 {
        return false;
    }
    *multipart_left -= 1;
    let window = &raw[start..raw.len().min(start + MAX_MULTIPART_FIELD)];
    let mut end = None;
    let mut at = 0;
    while let Some(nl) = find_byte(window, at, b'\n') {
        if !matches!(window.get(nl + 1), Some(b' ' | b'\t')) {
            end = Some(nl + 1);
            break;
        }
        at = nl + 1;
    }
    let field = match end {
        Some(end) => &window[..end],
        None if start + window.len() == raw.len() => window,
        None => return false,
    };
    match MessageStream::new(field).parse_content_type() {
        HeaderValue::ContentType(ct) => ct
            .attribute("boundary")
            .is_none_or(|b| b.len() <= MAX_BOUNDARY),
        _ => true,
    }
}

/// Start offsets of case-insensitive, non-overlapping occurrences of an ASCII word.
fn find_ci_all<'h>(hay: &'h [u8], word: &'static [u8]) -> impl Iterator<Item = usize> + 'h {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i + word.len() <= hay.len() {
            if hay[i..i + word.len()].eq_ignore_ascii_case(word) {
                let at = i;
                i += word.len();
                return Some(at);
            }
            i += 1;
        }
        None
    })
}

/// Puts back the letters that neutralize() replaced, where the text still spells the word.
fn restore_markers(s: &mut String, from: usize) {
    let Some(tail) = s.get(from..) else {
        return;
    };
    if !tail.bytes().any(|b| (0x01..=0x06).contains(&b)) {
        return;
    }
    let mut out = String::with_capacity(tail.len());
    let bytes = tail.as_bytes();
    let mut last = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let letter = match b {
            0x01..=0x06 => original_letter(bytes, i),
            _ => None,
        };
        if let Some(letter) = letter {
            out.push_str(&tail[last..i]);
            out.push(letter);
            last = i + 1;
        }
    }
    out.push_str(&tail[last..]);
    s.truncate(from);
    s.push_str(&out);
}

/// The letter a marker at `i` stands for, if the bytes around it spell the rewritten word.
fn original_letter(bytes: &[u8], i: usize) -> Option<char> {
    let b = bytes[i];
    let (first, rest, lower) = match b {
        0x01 | 0x02 => (b'm', &b"ssage"[..], 'e'),
        0x03 | 0x04 => (b'm', &b"ltipart"[..], 'u'),
        _ => (b'd', &b"gest"[..], 'i'),
    };
    let prev = *bytes.get(i.checked_sub(1)?)?;
    let next = bytes.get(i + 1..i + 1 + rest.len())?;
    if !prev.eq_ignore_ascii_case(&first) || !next.eq_ignore_ascii_case(rest) {
        return None;
    }
    Some(if b.is_multiple_of(2) {
        lower.to_ascii_uppercase()
    } else {
        lower
    })
}

/// Restores a rewritten type token in an attachment's lower-case content type.
fn unmark_token(ct: &mut String) {
    if ct.bytes().any(|b| (0x01..=0x06).contains(&b)) {
        let fixed: String = ct
            .chars()
            .map(|c| match c {
                '\u{1}' | '\u{2}' => 'e',
                '\u{3}' | '\u{4}' => 'u',
                '\u{5}' | '\u{6}' => 'i',
                c => c,
            })
            .collect();
        *ct = fixed;
    }
}

/// Position of the first `needle` at or after `from`, eight bytes at a time.
fn find_byte(hay: &[u8], from: usize, needle: u8) -> Option<usize> {
    find_either(hay, from, needle, needle)
}

/// Position of the first `a` or `b` at or after `from`, eight bytes at a time (SWAR).
fn find_either(hay: &[u8], from: usize, a: u8, b: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let rest = hay.get(from..)?;
    let (pa, pb) = (LO * u64::from(a), LO * u64::from(b));
    let mut chunks = rest.chunks_exact(8);
    let mut offset = from;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let (xa, xb) = (w ^ pa, w ^ pb);
        // The lowest flagged byte is always a real match (borrows only run upwards).
        let found = (xa.wrapping_sub(LO) & !xa | xb.wrapping_sub(LO) & !xb) & HI;
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| c == a || c == b)
        .map(|p| offset + p)
}

// ---------------------------------------------------------------------------------------------
// Text helpers
// ---------------------------------------------------------------------------------------------

/// The largest char boundary of `s` not above `max`.
fn floor_boundary(s: &str, max: usize) -> usize {
    let mut i = max.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Appends `s` with "\r\n" turned into "\n".
fn push_without_cr(out: &mut String, s: &str) {
    let b = s.as_bytes();
    let (mut copied, mut pos) = (0, 0);
    while let Some(cr) = find_byte(b, pos, b'\r') {
        pos = cr + 1;
        if b.get(cr + 1) == Some(&b'\n') {
            out.push_str(&s[copied..cr]);
            copied = cr + 1;
        }
    }
    out.push_str(&s[copied..]);
}

fn push_lower(out: &mut String, s: &str) {
    out.extend(s.chars().map(|c| c.to_ascii_lowercase()));
}

/// Takes a string from the pool.
fn pooled(pool: &mut Vec<String>) -> String {
    let mut s = pool.pop().unwrap_or_default();
    s.clear();
    s
}

// ---------------------------------------------------------------------------------------------
// URLs and e-mail addresses
// ---------------------------------------------------------------------------------------------

/// Length of an http://, https:// or www. prefix at the start of `b` (case-insensitive).
fn url_prefix(b: &[u8]) -> Option<usize> {
    for p in [&b"http://"[..], b"https://", b"www."] {
        if b.len() > p.len() && b[..p.len()].eq_ignore_ascii_case(p) {
            return Some(p.len());
        }
    }
    None
}

/// Characters that end a URL in text besides white space: quotes, angle brackets, and CJK or
/// full-width text (Japanese often follows a URL without a space).
fn ends_url(c: char) -> bool {
    matches!(c, '"' | '\'' | '<' | '>' | '`' | '\u{FFFD}')
        || c.is_whitespace()
        || c.is_control()
        || matches!(c as u32,
            0x2000..=0x206F | 0x2E80..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0xFE30..=0xFE4F
            | 0xFF00..=0xFFEF)
}

/// Finds http(s):// and www. URLs in text: they end at white space, quotes, <> or CJK text,
/// and lose trailing .,;:!? and unbalanced closing brackets.
fn scan_urls(text: &str, urls: &mut Vec<String>, max: usize, pool: &mut Vec<String>) {
    let b = text.as_bytes();
    let mut pos = 0;
    // Every URL holds a ':' (http://, https://) or a '.' (www.): find those, look back.
    while urls.len() < max {
        let Some(at) = find_either(b, pos, b':', b'.') else {
            return;
        };
        pos = at + 1;
        let start = if b[at] == b':' {
            if b.get(at + 1..at + 3) != Some(b"//") {
                continue;
            }
            if at >= 5 && b[at - 5..at].eq_ignore_ascii_case(b"https") {
                at - 5
            } else if at >= 4 && b[at - 4..at].eq_ignore_ascii_case(b"http") {
                at - 4
            } else {
                continue;
            }
        } else if at >= 3 && b[at - 3..at].eq_ignore_ascii_case(b"www") {
            at - 3
        } else {
            continue;
        };
        if start > 0 && (b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'.') {
            continue;
        }
        let prefix = if b[at] == b':' { at + 3 } else { at + 1 } - start;
        let end = url_end(text, start + prefix);
        let url = trim_url(&text[start..end]);
        if url.len() > prefix && url.as_bytes()[prefix].is_ascii_alphanumeric() {
            push_unique(urls, &url[..floor_boundary(url, MAX_URL_BYTES)], pool);
        }
        pos = end.max(pos);
    }
}

/// Where a URL that continues at `from` ends (ASCII bytes checked without decoding).
fn url_end(text: &str, from: usize) -> usize {
    let b = text.as_bytes();
    let mut end = from;
    while let Some(&c) = b.get(end) {
        if c < 0x80 {
            if c <= b' ' || matches!(c, b'"' | b'\'' | b'<' | b'>' | b'`' | 0x7F) {
                break;
            }
            end += 1;
        } else {
            match text[end..].chars().next() {
                Some(ch) if !ends_url(ch) => end += ch.len_utf8(),
                _ => break,
            }
        }
    }
    end
}

/// Drops trailing punctuation and closing brackets that have no opening one in the URL.
fn trim_url(url: &str) -> &str {
    // [opening, closing] counts for (), [], {}; counted once, only if a bracket ends the URL.
    let mut balance: Option<[[usize; 2]; 3]> = None;
    let mut end = url.len();
    while let Some(&last) = url.as_bytes()[..end].last() {
        let k = match last {
            b'.' | b',' | b';' | b':' | b'!' | b'?' => {
                end -= 1;
                continue;
            }
            b')' => 0,
            b']' => 1,
            b'}' => 2,
            _ => break,
        };
        let counts = balance.get_or_insert_with(|| {
            let mut c = [[0usize; 2]; 3];
            for b in url[..end].bytes() {
                match b {
                    b'(' => c[0][0] += 1,
                    b')' => c[0][1] += 1,
                    b'[' => c[1][0] += 1,
                    b']' => c[1][1] += 1,
                    b'{' => c[2][0] += 1,
                    b'}' => c[2][1] += 1,
                    _ => {}
                }
            }
            c
        });
        if counts[k][0] >= counts[k][1] {
            break;
        }
        counts[k][1] -= 1;
        end -= 1;
    }
    &url[..end]
}

/// Adds an href/src/action value that is an http(s) or www. URL (up to any white space).
fn add_url(value: &str, urls: &mut Vec<String>, max: usize, pool: &mut Vec<String>, m: bool) {
    let value = value.trim();
    let value = &value[..value
        .find(|c: char| c.is_ascii_whitespace())
        .unwrap_or(value.len())];
    let Some(prefix) = url_prefix(value.as_bytes()) else {
        return;
    };
    if urls.len() >= max || prefix >= value.len() {
        return;
    }
    let url = &value[..floor_boundary(value, MAX_URL_BYTES)];
    if m {
        let mut s = url.to_string();
        restore_markers(&mut s, 0);
        push_unique(urls, &s, pool);
    } else {
        push_unique(urls, url, pool);
    }
}

fn push_unique(list: &mut Vec<String>, item: &str, pool: &mut Vec<String>) {
    if !list.iter().any(|x| x == item) {
        let mut s = pooled(pool);
        s.push_str(item);
        list.push(s);
    }
}

fn is_local_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// Finds local@domain.tld addresses (ASCII) in text, lower-cased; linear in the text.
fn scan_emails(text: &str, emails: &mut Vec<String>, max: usize, pool: &mut Vec<String>) {
    let b = text.as_bytes();
    let mut floor = 0; // bytes before this were consumed by an earlier address
    let mut pos = 0;
    while emails.len() < max {
        let Some(at) = find_byte(b, pos, b'@') else {
            return;
        };
        pos = at + 1;
        let mut start = at;
        while start > floor && at - start < 64 && is_local_byte(b[start - 1]) {
            start -= 1;
        }
        while start < at && b[start] == b'.' {
            start += 1;
        }
        let mut end = at + 1;
        while end < b.len() && end - at <= 253 && is_domain_byte(b[end]) {
            end += 1;
        }
        while end > at + 1 && matches!(b[end - 1], b'.' | b'-') {
            end -= 1;
        }
        if start == at || b[at - 1] == b'.' || !valid_domain(&b[at + 1..end]) {
            continue;
        }
        let mut s = pooled(pool);
        push_lower(&mut s, &text[start..end]);
        if emails.contains(&s) {
            pool.push(s);
        } else {
            emails.push(s);
        }
        floor = end;
        pos = end;
    }
}

/// A domain of labels of letters, digits and inner hyphens, with an alphabetic TLD of 2+.
fn valid_domain(d: &[u8]) -> bool {
    let mut labels = 0;
    let mut tld: &[u8] = &[];
    for label in d.split(|&c| c == b'.') {
        if label.is_empty() || label[0] == b'-' || label[label.len() - 1] == b'-' {
            return false;
        }
        labels += 1;
        tld = label;
    }
    labels >= 2 && tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic)
}

// ---------------------------------------------------------------------------------------------
// HTML to text
// ---------------------------------------------------------------------------------------------

/// HTML to text: block-level tags become line breaks so words of adjacent blocks never join;
/// script/style content and everything inside head are dropped; entities are decoded (common
/// named ones, decimal and hex; windows-1252 numbers 128-159 as browsers read them); runs of
/// white space collapse to one space (also inside pre). Appends to `out`.
pub fn html_to_text(html: &str, out: &mut String) {
    let mut attr = String::new();
    convert_html(html, out, usize::MAX, &mut attr, |_, _| {});
}

/// What an attribute value links to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    /// href/src/action value (not yet checked for a scheme).
    Url,
    /// A mailto: href with the scheme removed.
    Mailto,
}

/// Writes text into `out`, collapsing white space and never joining blocks.
struct TextSink<'o> {
    out: &'o mut String,
    limit: usize,
    space: bool,
    cut: bool,
}

impl TextSink<'_> {
    fn at_line_start(&self) -> bool {
        self.out.is_empty() || self.out.ends_with('\n')
    }

    fn fits(&mut self, n: usize) -> bool {
        if self.out.len().saturating_add(n) > self.limit {
            self.cut = true;
            false
        } else {
            true
        }
    }

    /// Text between tags: white space collapses, other bytes are copied in runs.
    fn text(&mut self, s: &str) {
        let b = s.as_bytes();
        let next_space = |from: usize| {
            b[from..]
                .iter()
                .position(u8::is_ascii_whitespace)
                .map_or(b.len(), |p| from + p)
        };
        let mut i = 0;
        while i < b.len() && !self.cut {
            if b[i].is_ascii_whitespace() {
                self.space = true;
                i += 1;
                continue;
            }
            let mut run_end = next_space(i);
            // Words apart by single spaces come out as they are written: as many of them as fit
            // are copied as one (word by word, each would get its one space back). The phrase
            // never grows past the room left, so a long text node is scanned once, not once
            // per word (which was quadratic when the text did not fit).
            let pad = usize::from(self.space && !self.at_line_start());
            let room = self.limit.saturating_sub(self.out.len() + pad);
            while run_end - i <= room
                && b.get(run_end) == Some(&b' ')
                && b.get(run_end + 1).is_some_and(|c| !c.is_ascii_whitespace())
            {
                let next = next_space(run_end + 1);
                if next - i > room {
                    break;
                }
                run_end = next;
            }
            self.word(&s[i..run_end]);
            i = run_end;
        }
    }

    fn word(&mut self, w: &str) {
        let pad = usize::from(self.space && !self.at_line_start());
        if !self.fits(w.len() + pad) {
            let room = self.limit.saturating_sub(self.out.len() + pad);
            let take = floor_boundary(w, room);
            if take > 0 {
                if pad == 1 {
                    self.out.push(' ');
                }
                self.out.push_str(&w[..take]);
            }
            return;
        }
        if pad == 1 {
            self.out.push(' ');
        }
        self.space = false;
        self.out.push_str(w);
    }

    /// A space that does not collapse: a pending collapsible space is written first, and the
    /// space itself is written even at the start of a line.
    fn hard_space(&mut self) {
        let pad = usize::from(self.space && !self.at_line_start());
        if self.fits(1 + pad) {
            if pad == 1 {
                self.out.push(' ');
            }
            self.out.push(' ');
        }
        self.space = false;
    }

    fn line_break(&mut self) {
        self.space = false;
        if !self.at_line_start() && self.fits(1) {
            self.out.push('\n');
        }
    }
}

/// How much of one `alt` text is read: a description, not a letter.
const MAX_ALT_BYTES: usize = 300;

/// The HTML converter behind [`html_to_text`]: stops once `out` would pass `limit` bytes
/// (returns true then) and reports href/src/action values to `on_link`.
fn convert_html<F: FnMut(Link, &str)>(
    html: &str,
    out: &mut String,
    limit: usize,
    attr: &mut String,
    mut on_link: F,
) -> bool {
    let start = out.len();
    let mut sink = TextSink {
        out,
        limit,
        space: false,
        cut: false,
    };
    let b = html.as_bytes();
    let mut i = 0;
    let mut run = 0; // start of the pending text run
    let mut in_head = false;
    // The hidden element being skipped (its name) and how many elements of that name are open
    // inside it; text is not written while it is open, links in it are still reported.
    let mut hidden: Option<(TagName, u32)> = None;
    while i < b.len() && !sink.cut {
        match b[i] {
            b'<' => {
                let Some(tag) = parse_tag(html, i, attr, &mut on_link) else {
                    i += 1;
                    continue;
                };
                if !in_head && hidden.is_none() {
                    sink.text(&html[run..i]);
                }
                i = tag.end;
                let name = tag.name.as_str();
                // Inside a hidden element a tag only counts its namesakes; the one that closes
                // it then acts as any closing tag would.
                if let Some((open, depth)) = &mut hidden {
                    if open.as_str() == name {
                        if tag.closing {
                            *depth -= 1;
                        } else {
                            *depth += 1;
                        }
                    }
                    if *depth > 0 {
                        run = i;
                        continue;
                    }
                    hidden = None;
                } else if tag.hidden
                    && !tag.closing
                    && !name.is_empty()
                    && !is_void(name)
                    && !has_optional_end(name)
                {
                    hidden = Some((tag.name, 1));
                    run = i;
                    continue;
                }
                // An image's alt text is what a reader sees when images are not shown (and
                // what image-only mail puts its words in): read in place, as words of their
                // own (spaces around them, never a line break, so an empty alt cannot split a
                // word and an emoji image does not cut a sentence). Only where browsers show
                // it (img, area, input), and at most MAX_ALT_BYTES of it.
                if let (Some((from, to)), false) = (tag.alt, in_head || tag.hidden) {
                    if matches!(name, "img" | "area" | "input") {
                        attr.clear();
                        decode_entities_into(&html[from..to], attr);
                        let alt = attr.trim();
                        let alt = &alt[..floor_boundary(alt, MAX_ALT_BYTES)];
                        if !alt.is_empty() {
                            sink.space = true;
                            sink.text(alt);
                            sink.space = true;
                        }
                    }
                }
                match name {
                    "head" | "xml" => in_head = !tag.closing,
                    "body" => in_head = false,
                    "script" | "style" | "textarea" | "template" if !tag.closing => {
                        i = find_close_tag(b, i, name.as_bytes());
                    }
                    name if is_block(name) && !in_head => sink.line_break(),
                    _ => {}
                }
                run = i;
            }
            b'&' => {
                let (decoded, len) = decode_entity(&html[i..]);
                if len == 0 {
                    i += 1;
                    continue;
                }
                if !in_head && hidden.is_none() {
                    sink.text(&html[run..i]);
                    match decoded {
                        Entity::Space => sink.space = true,
                        Entity::HardSpace => sink.hard_space(),
                        Entity::Str(s) => sink.word(s),
                        Entity::Char(c) => {
                            let mut utf8 = [0u8; 4];
                            sink.word(c.encode_utf8(&mut utf8));
                        }
                    }
                }
                i += len;
                run = i;
            }
            _ => i = find_either(b, i, b'<', b'&').unwrap_or(b.len()),
        }
    }
    if !in_head && hidden.is_none() && !sink.cut {
        sink.text(&html[run.min(b.len())..]);
    }
    // No trailing space or newline of our own at the end.
    while sink.out.len() > start && sink.out.ends_with('\n') {
        sink.out.pop();
    }
    sink.cut
}

/// Tags that start or end a block: their text never joins the text around them.
fn is_block(name: &str) -> bool {
    matches!(
        name,
        "p" | "div"
            | "br"
            | "li"
            | "tr"
            | "td"
            | "th"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "table"
            | "ul"
            | "ol"
            | "dl"
            | "dt"
            | "dd"
            | "blockquote"
            | "hr"
            | "title"
            | "pre"
            | "section"
            | "article"
            | "header"
            | "footer"
            | "center"
            | "nav"
            | "aside"
            | "main"
            | "form"
            | "address"
            | "figure"
            | "figcaption"
            | "caption"
            | "fieldset"
            | "legend"
            | "details"
            | "summary"
            | "tbody"
            | "thead"
            | "tfoot"
            | "option"
    )
}

/// A parsed tag: lower-case name (empty for comments and declarations), where it ends,
/// whether its attributes hide its content ([`hides`]), and where its `alt` value is.
struct Tag {
    name: TagName,
    closing: bool,
    end: usize,
    hidden: bool,
    alt: Option<(usize, usize)>,
}

/// A tag name of up to 15 bytes, lower-cased, without allocating.
struct TagName {
    buf: [u8; 15],
    len: usize,
}

impl TagName {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

/// Parses the tag at `i` (`b[i] == '<'`); None when it is a literal '<'.
fn parse_tag<F: FnMut(Link, &str)>(
    html: &str,
    i: usize,
    attr: &mut String,
    on_link: &mut F,
) -> Option<Tag> {
    let b = html.as_bytes();
    let empty = TagName {
        buf: [0; 15],
        len: 0,
    };
    match b.get(i + 1)? {
        b'!' => {
            let end = if b[i..].starts_with(b"<!--") {
                find_sub(b, i + 4, b"-->").map_or(b.len(), |p| p + 3)
            } else {
                find_byte(b, i, b'>').map_or(b.len(), |p| p + 1)
            };
            Some(Tag {
                name: empty,
                closing: false,
                end,
                hidden: false,
                alt: None,
            })
        }
        b'?' => Some(Tag {
            name: empty,
            closing: false,
            end: find_byte(b, i, b'>').map_or(b.len(), |p| p + 1),
            hidden: false,
            alt: None,
        }),
        b'/' if b.get(i + 2).is_some_and(u8::is_ascii_alphabetic) => {
            let (name, after) = tag_name(b, i + 2);
            Some(Tag {
                name,
                closing: true,
                end: find_byte(b, after, b'>').map_or(b.len(), |p| p + 1),
                hidden: false,
                alt: None,
            })
        }
        c if c.is_ascii_alphabetic() => {
            let (name, after) = tag_name(b, i + 1);
            let (end, hidden, alt) = parse_attributes(html, after, attr, on_link);
            Some(Tag {
                name,
                closing: false,
                end,
                hidden,
                alt,
            })
        }
        _ => None,
    }
}

fn tag_name(b: &[u8], from: usize) -> (TagName, usize) {
    let mut name = TagName {
        buf: [0; 15],
        len: 0,
    };
    let mut i = from;
    let mut too_long = false;
    while let Some(&c) = b.get(i) {
        if !(c.is_ascii_alphanumeric() || c == b'-' || c == b':') {
            break;
        }
        match name.buf.get_mut(name.len) {
            Some(slot) => {
                *slot = c.to_ascii_lowercase();
                name.len += 1;
            }
            None => too_long = true,
        }
        i += 1;
    }
    if too_long {
        name.len = 0;
    }
    (name, i)
}

/// Reads attributes up to the closing '>' (quotes respected) and reports links; returns the
/// offset after the tag, whether its style hides it, and the range of its `alt` value.
fn parse_attributes<F: FnMut(Link, &str)>(
    html: &str,
    from: usize,
    attr: &mut String,
    on_link: &mut F,
) -> (usize, bool, Option<(usize, usize)>) {
    let b = html.as_bytes();
    let mut i = from;
    let mut hidden = false;
    let mut alt = None;
    loop {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        match b.get(i) {
            None => return (b.len(), hidden, alt),
            Some(b'>') => return (i + 1, hidden, alt),
            _ => {}
        }
        let name_start = i;
        while i < b.len() && !matches!(b[i], b'=' | b'>' | b'/') && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        let name = &html[name_start..i];
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if b.get(i) != Some(&b'=') {
            hidden |= name.eq_ignore_ascii_case("hidden");
            continue;
        }
        i += 1;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let (value_start, value_end, next) = match b.get(i) {
            Some(&q @ (b'"' | b'\'')) => {
                let close = find_byte(b, i + 1, q).unwrap_or(b.len());
                (i + 1, close, (close + 1).min(b.len()))
            }
            _ => {
                let end = b[i..]
                    .iter()
                    .position(|&c| c.is_ascii_whitespace() || c == b'>')
                    .map_or(b.len(), |p| i + p);
                (i, end, end)
            }
        };
        let value = &html[value_start..value_end];
        i = next;
        if name.eq_ignore_ascii_case("alt") {
            alt = Some((value_start, value_end));
            continue;
        }
        if name.eq_ignore_ascii_case("style") {
            hidden |= hides(value);
            continue;
        }
        let is_link = ["href", "src", "action"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n));
        if is_link {
            let value = if value.contains('&') {
                attr.clear();
                decode_entities_into(value, attr);
                attr.as_str()
            } else {
                value
            };
            let trimmed = value.trim();
            match trimmed.get(..7) {
                Some(scheme) if scheme.eq_ignore_ascii_case("mailto:") => {
                    let addr = &trimmed[7..];
                    on_link(Link::Mailto, &addr[..addr.find('?').unwrap_or(addr.len())]);
                }
                _ => on_link(Link::Url, trimmed),
            }
        }
    }
}

/// True when a `style` attribute hides the element's text from a reader: `display: none`,
/// `visibility: hidden`, `opacity` below 0.05, a font size of 0 (any unit) or below 1.5 px/pt.
/// Text hidden this way is how mail pads a scam with words a reader never sees but a
/// word-counting filter does ("hash busting"); it is not read, as a browser would not show it.
fn hides(style: &str) -> bool {
    // One pass over the bytes, cutting declarations at ';' and each at its first ':' (both
    // ASCII, so the cuts are character boundaries): what `split(';')` and `split_once(':')`
    // give, without a search per declaration. Most declarations name another property and are
    // rejected on the trimmed name alone, before their value is looked at.
    let b = style.as_bytes();
    let (mut start, mut colon) = (0, None);
    for (i, &c) in b.iter().enumerate() {
        match c {
            b';' => {
                if colon.is_some_and(|at| declaration_hides(style, start, at, i)) {
                    return true;
                }
                (start, colon) = (i + 1, None);
            }
            b':' if colon.is_none() => colon = Some(i),
            _ => {}
        }
    }
    colon.is_some_and(|at| declaration_hides(style, start, at, b.len()))
}

/// Whether the declaration `style[start..end]`, whose first ':' is at `colon`, hides text (see
/// [`hides`]).
fn declaration_hides(style: &str, start: usize, colon: usize, end: usize) -> bool {
    let prop = style[start..colon].trim();
    let value = || {
        let value = style[colon + 1..end].trim();
        value
            .strip_suffix("!important")
            .map_or(value, str::trim_end)
    };
    if prop.eq_ignore_ascii_case("display") {
        value().eq_ignore_ascii_case("none")
    } else if prop.eq_ignore_ascii_case("visibility") {
        value().eq_ignore_ascii_case("hidden")
    } else if prop.eq_ignore_ascii_case("opacity") {
        value().parse::<f32>().is_ok_and(|o| o < 0.05)
    } else if prop.eq_ignore_ascii_case("font-size") {
        let value = value();
        let digits = value
            .bytes()
            .take_while(|c| c.is_ascii_digit() || *c == b'.')
            .count();
        let (number, unit) = value.split_at(digits);
        // The usual sizes ("12px", "9pt") are 2 or more whatever follows (or no number at all):
        // no need to parse them.
        if let [b'2'..=b'9', ..] | [b'1', b'0'..=b'9', ..] = number.as_bytes() {
            return false;
        }
        let absolute =
            unit.is_empty() || unit.eq_ignore_ascii_case("px") || unit.eq_ignore_ascii_case("pt");
        number
            .parse::<f32>()
            .is_ok_and(|n| n == 0.0 || (absolute && n < 1.5))
    } else {
        false
    }
}

/// Elements whose end tag may be left out, so that where they end depends on what follows:
/// `<p style="display:none"><div>text</div>` shows "text", as the div closes the p. Their
/// hiding is not followed (the text is read, as before hiding was looked at), so markup cannot
/// hide from sendguard what a browser shows.
fn has_optional_end(name: &str) -> bool {
    matches!(
        name,
        "p" | "li"
            | "dt"
            | "dd"
            | "option"
            | "optgroup"
            | "tr"
            | "td"
            | "th"
            | "thead"
            | "tbody"
            | "tfoot"
            | "colgroup"
            | "caption"
            | "rb"
            | "rt"
            | "rp"
            | "html"
            | "head"
            | "body"
    )
}

/// Elements that have no content (and no end tag), so hiding one hides no text.
fn is_void(name: &str) -> bool {
    matches!(
        name,
        "img"
            | "br"
            | "hr"
            | "input"
            | "meta"
            | "link"
            | "area"
            | "base"
            | "col"
            | "embed"
            | "source"
            | "track"
            | "wbr"
            | "param"
    )
}

/// Offset of the "</name" that closes a raw-text element, or the end of input.
fn find_close_tag(b: &[u8], from: usize, name: &[u8]) -> usize {
    let mut i = from;
    while let Some(lt) = find_byte(b, i, b'<') {
        let after = lt + 2;
        if b.get(lt + 1) == Some(&b'/')
            && b.get(after..after + name.len())
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        {
            return lt;
        }
        i = lt + 1;
    }
    b.len()
}

/// Offset of the first `needle` at or after `from`.
fn find_sub(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = from;
    while let Some(p) = find_byte(b, i, first) {
        if b.get(p..p + needle.len()) == Some(needle) {
            return Some(p);
        }
        i = p + 1;
    }
    None
}

/// A decoded character reference.
enum Entity {
    /// Collapsible white space (`&#32;`, `&#9;`, line ends).
    Space,
    /// A space that does not collapse (`&nbsp;`, `&ensp;`, `&emsp;`, `&thinsp;`): a browser
    /// shows "W&nbsp;e&nbsp; &nbsp;U&nbsp;n" with a wider gap between the words, so the text
    /// keeps it and spelt-out words can still be told apart.
    HardSpace,
    Str(&'static str),
    Char(char),
}

/// Decodes the reference at the start of `s` (which starts with '&'); length 0 when it is not
/// one (the '&' is then literal text).
fn decode_entity(s: &str) -> (Entity, usize) {
    let b = s.as_bytes();
    if b.get(1) == Some(&b'#') {
        let hex = matches!(b.get(2), Some(b'x' | b'X'));
        let digits_start = if hex { 3 } else { 2 };
        let radix = if hex { 16 } else { 10 };
        let mut end = digits_start;
        while end < b.len() && end - digits_start < 8 && (b[end] as char).is_digit(radix) {
            end += 1;
        }
        if end == digits_start {
            return (Entity::Space, 0);
        }
        let code = u32::from_str_radix(&s[digits_start..end], radix).unwrap_or(0xFFFD);
        let len = end + usize::from(b.get(end) == Some(&b';'));
        let c = match code {
            0x80..=0x9F => cp1252_c1(code),
            0 => '\u{FFFD}',
            _ => char::from_u32(code).unwrap_or('\u{FFFD}'),
        };
        let entity = match c {
            ' ' | '\t' | '\n' | '\r' => Entity::Space,
            '\u{A0}' | '\u{2002}' | '\u{2003}' | '\u{2009}' => Entity::HardSpace,
            c => Entity::Char(c),
        };
        return (entity, len);
    }
    let mut end = 1;
    while end < b.len() && end <= 32 && b[end].is_ascii_alphanumeric() {
        end += 1;
    }
    if end == 1 || b.get(end) != Some(&b';') {
        return (Entity::Space, 0);
    }
    match named_entity(&s[1..end]) {
        Some(" ") => (Entity::HardSpace, end + 1),
        Some(v) => (Entity::Str(v), end + 1),
        None => (Entity::Space, 0),
    }
}

/// Decodes all references in an attribute value.
fn decode_entities_into(value: &str, out: &mut String) {
    let mut rest = value;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let (entity, len) = decode_entity(&rest[amp..]);
        if len == 0 {
            out.push('&');
            rest = &rest[amp + 1..];
            continue;
        }
        match entity {
            Entity::Space | Entity::HardSpace => out.push(' '),
            Entity::Str(s) => out.push_str(s),
            Entity::Char(c) => out.push(c),
        }
        rest = &rest[amp + len..];
    }
    out.push_str(rest);
}

/// windows-1252 meaning of numeric references 128-159 (as browsers decode them).
fn cp1252_c1(code: u32) -> char {
    const MAP: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8D}', 'Ž',
        '\u{8F}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9D}',
        'ž', 'Ÿ',
    ];
    MAP.get((code as usize).wrapping_sub(0x80))
        .copied()
        .unwrap_or('\u{FFFD}')
}

/// Common named references; " " means a space that does not collapse.
fn named_entity(name: &str) -> Option<&'static str> {
    Some(match name {
        "amp" | "AMP" => "&",
        "lt" | "LT" => "<",
        "gt" | "GT" => ">",
        "quot" | "QUOT" => "\"",
        "apos" => "'",
        "nbsp" | "ensp" | "emsp" | "thinsp" => " ", // a space that does not collapse
        "shy" => "",
        "zwnj" => "\u{200C}",
        "zwj" => "\u{200D}",
        "copy" => "©",
        "reg" => "®",
        "trade" => "™",
        "hellip" => "…",
        "mdash" => "—",
        "ndash" => "–",
        "lsquo" => "‘",
        "rsquo" => "’",
        "sbquo" => "‚",
        "ldquo" => "“",
        "rdquo" => "”",
        "bdquo" => "„",
        "laquo" => "«",
        "raquo" => "»",
        "lsaquo" => "‹",
        "rsaquo" => "›",
        "bull" => "•",
        "middot" => "·",
        "dagger" => "†",
        "euro" => "€",
        "pound" => "£",
        "yen" => "¥",
        "cent" => "¢",
        "curren" => "¤",
        "sect" => "§",
        "para" => "¶",
        "deg" => "°",
        "plusmn" => "±",
        "times" => "×",
        "divide" => "÷",
        "frac12" => "½",
        "frac14" => "¼",
        "frac34" => "¾",
        "sup2" => "²",
        "iexcl" => "¡",
        "iquest" => "¿",
        "rarr" => "→",
        "larr" => "←",
        "hearts" => "♥",
        "szlig" => "ß",
        "aacute" => "á",
        "eacute" => "é",
        "iacute" => "í",
        "oacute" => "ó",
        "uacute" => "ú",
        "Aacute" => "Á",
        "Eacute" => "É",
        "Iacute" => "Í",
        "Oacute" => "Ó",
        "Uacute" => "Ú",
        "agrave" => "à",
        "egrave" => "è",
        "igrave" => "ì",
        "ograve" => "ò",
        "ugrave" => "ù",
        "Agrave" => "À",
        "Egrave" => "È",
        "acirc" => "â",
        "ecirc" => "ê",
        "icirc" => "î",
        "ocirc" => "ô",
        "ucirc" => "û",
        "auml" => "ä",
        "euml" => "ë",
        "iuml" => "ï",
        "ouml" => "ö",
        "uuml" => "ü",
        "yuml" => "ÿ",
        "Auml" => "Ä",
        "Ouml" => "Ö",
        "Uuml" => "Ü",
        "atilde" => "ã",
        "otilde" => "õ",
        "ntilde" => "ñ",
        "Ntilde" => "Ñ",
        "aring" => "å",
        "Aring" => "Å",
        "aelig" => "æ",
        "AElig" => "Æ",
        "oslash" => "ø",
        "Oslash" => "Ø",
        "ccedil" => "ç",
        "Ccedil" => "Ç",
        _ => return None,
    })
}

/// The test crates' base64 encoder, for the tests below.
#[cfg(test)]
#[path = "../tests/support/base64.rs"]
mod base64;

#[cfg(test)]
mod tests {
    use super::*;

    fn view(raw: &[u8]) -> MessageView {
        MessageView::parse(raw, &ViewLimits::default()).expect("fixture parses")
    }

    fn html(s: &str) -> String {
        let mut out = String::new();
        html_to_text(s, &mut out);
        out
    }

    #[test]
    fn alternative_uses_plain_and_keeps_html_links() {
        let v = view(include_bytes!("../tests/fixtures/message/alternative.eml"));
        assert_eq!(v.message_id.as_deref(), Some("alt-1@example.com"));
        assert_eq!(v.subject, "Quarterly report");
        assert_eq!(v.from_name, "Alice Example");
        assert_eq!(v.from_address, "alice@example.com");
        assert_eq!(v.to_count, 1);
        assert_eq!(
            v.text,
            "Hello Bob,\nthe report is at https://reports.example.com/q3.pdf today.\nCall me.\n"
        );
        assert_eq!(
            v.urls,
            [
                "https://reports.example.com/q3.pdf",
                "https://tracker.example.net/r?id=1&u=2"
            ]
        );
        assert!(v.emails.is_empty());
        assert!(v.attachments.is_empty());
        assert!(!v.truncated);
    }

    #[test]
    fn alternative_with_stub_plain_uses_html() {
        let raw = b"Subject: s\nContent-Type: multipart/alternative; boundary=b\n\n--b\n\
Content-Type: text/plain\n\nSee HTML.\n--b\nContent-Type: text/html\n\n\
<p>Dear customer, your parcel is waiting.</p><p>Pay the customs fee today.</p>\n--b--\n";
        let v = view(raw);
        assert_eq!(
            v.text,
            "Dear customer, your parcel is waiting.\nPay the customs fee today."
        );
    }

    #[test]
    fn html_only_blocks_entities_links() {
        let v = view(include_bytes!("../tests/fixtures/message/html_only.eml"));
        assert_eq!(
            v.text,
            "Congratulations\nClaim\nYour prize: €1,000,000 & more\nName\nBank account\nRef\nABC\n\
Reply to the agent\nnow"
        );
        assert_eq!(v.emails, ["agent.smith@claims.example"]);
        assert!(v.urls.is_empty());
        assert_eq!(v.from_name, "Prize Desk");
    }

    #[test]
    fn iso_2022_jp_body_and_subject() {
        let v = view(include_bytes!("../tests/fixtures/message/iso2022jp.eml"));
        assert_eq!(v.subject, "お支払いについてのご連絡");
        assert_eq!(
            v.text,
            "お支払いについてのご連絡\n口座の確認をお願いします。\n"
        );
    }

    #[test]
    fn shift_jis_body() {
        let v = view(include_bytes!("../tests/fixtures/message/shift_jis.eml"));
        assert_eq!(v.subject, "当選のお知らせ");
        assert_eq!(
            v.text,
            "至急ご確認ください。\n当選金をお受け取りください。\n"
        );
    }

    #[test]
    fn euc_jp_body() {
        let v = view(include_bytes!("../tests/fixtures/message/euc_jp.eml"));
        assert_eq!(v.subject, "パスワード再設定");
        assert_eq!(
            v.text,
            "パスワードの再設定\n下記のリンクから手続きしてください。\n"
        );
    }

    #[test]
    fn base64_plain_text() {
        let v = view(include_bytes!("../tests/fixtures/message/base64_plain.eml"));
        assert_eq!(
            v.text,
            "Dear friend,\nI am a barrister. Write to claims@example-law.com or visit www.example-law.com.\n"
        );
        assert_eq!(v.urls, ["www.example-law.com"]);
        assert_eq!(v.emails, ["claims@example-law.com"]);
    }

    #[test]
    fn quoted_printable_soft_breaks() {
        let v = view(include_bytes!("../tests/fixtures/message/qp_plain.eml"));
        assert_eq!(
            v.text,
            "It\u{2019}s a long line that is broken by a soft line break right here and continues.\n\
Price = 5 EUR.\n"
        );
    }

    #[test]
    fn attachments_listed_and_only_text_files_read() {
        let v = view(include_bytes!("../tests/fixtures/message/attachment.eml"));
        // The PDF is listed, not read; the attached notes.txt is listed and read.
        assert_eq!(
            v.text,
            "Please find the invoice attached.\nattached notes are read too"
        );
        assert_eq!(
            v.attachments,
            [
                Attachment {
                    name: Some("invoice.pdf".into()),
                    content_type: "application/pdf".into()
                },
                Attachment {
                    name: Some("notes.txt".into()),
                    content_type: "text/plain".into()
                },
            ]
        );
        assert!(!v.text.contains("SHOULD-NOT-APPEAR"));
    }

    #[test]
    fn reply_to_and_recipient_counts() {
        let v = view(include_bytes!("../tests/fixtures/message/reply_to.eml"));
        assert_eq!(v.from_name, "PayPal Service");
        assert_eq!(v.from_address, "service@paypa1-secure.example");
        assert_eq!(
            v.reply_to,
            ["claims.desk@freemail.example", "second@freemail.example"]
        );
        assert_eq!(v.to_count, 4);
        assert_eq!(v.cc_count, 1);
        assert_eq!(v.bcc_count, 1);
        assert_eq!(v.message_id.as_deref(), Some("rt-9@paypa1-secure.example"));
        assert_eq!(v.text, "Verify your account.\n");
    }

    #[test]
    fn truncated_mime_keeps_what_arrived() {
        let v = view(include_bytes!("../tests/fixtures/message/truncated.eml"));
        assert_eq!(v.subject, "Cut short");
        // The cut base64 decodes as far as whole 4-character groups go ("...IG5ldm").
        assert_eq!(
            v.text,
            "First part arrives whole.\nSecond part is cut mid-way through the base64 data and ne"
        );
    }

    #[test]
    fn unknown_charset_reads_windows_1252() {
        let v = view(include_bytes!(
            "../tests/fixtures/message/unknown_charset.eml"
        ));
        assert_eq!(v.text, "Café crème brûlée for 5 €.\n");
        // Raw 8-bit headers, no charset anywhere that decodes: windows-1252.
        assert_eq!(v.subject, "Café");
        assert_eq!(v.from_name, "René");
        assert_eq!(v.from_address, "old@example.com");
    }

    #[test]
    fn raw_8bit_headers_read_in_body_charset() {
        let v = view(include_bytes!(
            "../tests/fixtures/message/raw_8bit_headers.eml"
        ));
        assert_eq!(v.subject, "当選のお知らせ");
        assert_eq!(v.from_name, "商店");
        assert_eq!(v.from_address, "shop@example.jp");
        assert_eq!(v.text, "ご確認ください\n");
    }

    #[test]
    fn raw_iso_2022_jp_subject() {
        let v = view(include_bytes!(
            "../tests/fixtures/message/raw_jis_subject.eml"
        ));
        assert_eq!(v.subject, "お知らせ 2024");
        assert_eq!(v.text, "本文です\n");
    }

    #[test]
    fn unknown_charset_in_encoded_word_is_lossy() {
        let v = view(b"Subject: =?x-unknown?Q?Caf=E9?=\n\nx\n");
        assert_eq!(v.subject, "Caf\u{FFFD}");
    }

    #[test]
    fn unknown_charset_keeps_valid_utf8() {
        let raw = "Subject: x\nContent-Type: text/plain; charset=x-bogus\n\nnaïve café\n";
        assert_eq!(view(raw.as_bytes()).text, "naïve café\n");
    }

    #[test]
    fn forwarded_message_subject_and_text() {
        let v = view(include_bytes!("../tests/fixtures/message/forwarded.eml"));
        assert_eq!(
            v.text,
            "See below.\nInner offer\nSend the fee to agent@evil.example now.\n"
        );
        assert_eq!(v.emails, ["agent@evil.example"]);
        assert_eq!(
            v.attachments,
            [Attachment {
                name: Some("offer.eml".into()),
                content_type: "message/rfc822".into()
            }]
        );
        assert_eq!(v.from_address, "me@example.com");
    }

    #[test]
    fn enron_style_subject_and_body() {
        let v = view(include_bytes!("../tests/fixtures/message/enron.eml"));
        assert_eq!(v.subject, "gas prices");
        assert_eq!(
            v.text,
            "Please review the attached gas prices for tomorrow.\n"
        );
        assert_eq!(v.from_address, "");
        assert_eq!(v.to_count, 0);
    }

    #[test]
    fn empty_input_is_an_error() {
        assert_eq!(
            MessageView::parse(b"", &ViewLimits::default()).unwrap_err(),
            MessageError::Empty
        );
        assert_eq!(
            MessageView::parse(b" \r\n\t\n", &ViewLimits::default()).unwrap_err(),
            MessageError::Empty
        );
    }

    #[test]
    fn headerless_input_becomes_text() {
        let v = view(b"just some words\nand \xff more\n");
        assert_eq!(v.text, "just some words\nand \u{FFFD} more\n");
        assert_eq!(v.subject, "");
    }

    #[test]
    fn text_limit_cuts_at_char_boundary() {
        let limits = ViewLimits {
            max_text_bytes: 8,
            ..ViewLimits::default()
        };
        let v = MessageView::parse("Subject: x\n\nabcdeé日本\n".as_bytes(), &limits).unwrap();
        assert_eq!(v.text, "abcdeé");
        assert!(v.truncated);
    }

    #[test]
    fn parse_into_reuses_and_resets() {
        let mut v = MessageView::default();
        let limits = ViewLimits::default();
        v.parse_into(
            include_bytes!("../tests/fixtures/message/reply_to.eml"),
            &limits,
        )
        .unwrap();
        v.parse_into(b"Subject: second\n\nsee www.example.org\n", &limits)
            .unwrap();
        assert_eq!(v.subject, "second");
        assert_eq!(v.text, "see www.example.org\n");
        assert_eq!(v.urls, ["www.example.org"]);
        assert!(v.reply_to.is_empty());
        assert_eq!(v.to_count, 0);
        assert_eq!(v.from_address, "");
        assert_eq!(v.message_id, None);
    }

    #[test]
    fn parts_beyond_max_parts_are_skipped() {
        let limits = ViewLimits {
            max_parts: 3,
            ..ViewLimits::default()
        };
        let raw = b"Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\n\ntwo\n--b\n\nthree\n--b--\n";
        let v = MessageView::parse(raw, &limits).unwrap();
        assert_eq!(v.text, "one\ntwo");
        assert!(v.truncated);
    }

    #[test]
    fn deep_multipart_nesting_stops_at_max_depth() {
        let mut raw = String::from("Subject: deep\n");
        for i in 0..1000 {
            raw.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=\"b{i}\"\n\n--b{i}\n"
            ));
        }
        raw.push_str("Content-Type: text/plain\n\nhello deep\n");
        for i in (0..1000).rev() {
            raw.push_str(&format!("--b{i}--\n"));
        }
        let v = view(raw.as_bytes());
        assert_eq!(v.subject, "deep");
        assert_eq!(v.text, "");
        assert!(v.truncated);
    }

    #[test]
    fn attached_text_and_html_files_are_read() {
        let raw = "Subject: letter\nMIME-Version: 1.0\n\
Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\n\
Content-Type: text/plain\n\nPlease see the attached letter.\n--b\n\
Content-Type: text/plain; name=\"letter.txt\"\n\
Content-Disposition: attachment; filename=\"letter.txt\"\n\n\
Contact our agent at agent@example.org for your compensation.\n--b\n\
Content-Type: text/html; name=\"form.html\"\n\
Content-Disposition: attachment; filename=\"form.html\"\n\n\
<p>Confirm</p><p>your <a href=\"https://login.example.com/x\">account</a></p>\n--b\n\
Content-Type: application/pdf; name=\"scan.pdf\"\n\
Content-Disposition: attachment; filename=\"scan.pdf\"\n\
Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--b--\n";
        let v = view(raw.as_bytes());
        assert_eq!(
            v.text,
            "Please see the attached letter.\n\
Contact our agent at agent@example.org for your compensation.\nConfirm\nyour account"
        );
        assert_eq!(v.emails, ["agent@example.org"]);
        assert_eq!(v.urls, ["https://login.example.com/x"]);
        let names: Vec<_> = v.attachments.iter().map(|a| a.name.as_deref()).collect();
        assert_eq!(
            names,
            [Some("letter.txt"), Some("form.html"), Some("scan.pdf")]
        );
    }

    #[test]
    fn deep_message_nesting_is_bounded() {
        // 200,000 nested message/rfc822 levels: mail-parser alone overflows the stack.
        let mut raw = String::from("Subject: outer\n");
        for _ in 0..200_000 {
            raw.push_str("Content-Type: message/rfc822\n\n");
        }
        raw.push_str("Subject: inner\n\nhello\n");
        let v = view(raw.as_bytes());
        assert_eq!(v.subject, "outer");
        // Each level re-parses the rest (~6 MB); the 4x input budget stops it after 5.
        assert_eq!(v.attachments.len(), 5);
        assert!(v
            .attachments
            .iter()
            .all(|a| a.content_type == "message/rfc822"));
        assert!(v.truncated);
    }

    #[test]
    fn depth_cap_fits_a_small_stack() {
        let limits = ViewLimits {
            max_depth: usize::MAX,
            max_parts: usize::MAX,
            ..ViewLimits::default()
        };
        let mut raw = String::from("Subject: outer\n");
        for _ in 0..100 {
            raw.push_str("Content-Type: message/rfc822\n\n");
        }
        raw.push_str("Subject: inner\n\nhello\n");
        let attachments = std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(move || MessageView::parse(raw.as_bytes(), &limits).map(|v| v.attachments.len()))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(attachments, Ok(MAX_DEPTH_CAP + 1));
    }

    #[test]
    fn nested_message_in_base64_is_read() {
        let inner = "Subject: hidden\nContent-Type: text/plain\n\nwire the money\n";
        let b64 = base64::encode(inner.as_bytes());
        let raw = format!(
            "Subject: outer\nContent-Type: multipart/mixed; boundary=z\n\n--z\n\
Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n{b64}\n--z--\n"
        );
        let v = view(raw.as_bytes());
        assert_eq!(v.text, "hidden\nwire the money\n");
    }

    #[test]
    fn many_unclosed_multiparts_are_bounded() {
        // Each of these makes mail-parser scan to the end; beyond the budget they stay opaque.
        let mut raw = String::from("Content-Type: multipart/mixed; boundary=\"b\"\n\n");
        for i in 0..20_000 {
            raw.push_str(&format!(
                "--b\nContent-Type: multipart/mixed; boundary=\"z{i}\"\n\nxx\n"
            ));
        }
        raw.push_str("--b--\n");
        let start = std::time::Instant::now();
        let v = view(raw.as_bytes());
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        assert!(v.truncated);
        // The root and 63 parts (max_parts 64); each unclosed multipart reads as its text.
        assert_eq!(v.text, ["xx"; 63].join("\n"));
    }

    #[test]
    fn long_boundary_is_not_scanned() {
        let mut raw = String::from("Content-Type: multipart/mixed; boundary=\"");
        raw.push_str(&"-".repeat(MAX_BOUNDARY + 1));
        raw.push_str("x\"\n\n");
        raw.push_str(&"-".repeat(100_000));
        let v = view(raw.as_bytes());
        assert!(v.truncated);
        assert_eq!(
            v.attachments,
            [Attachment {
                name: None,
                content_type: "multipart/mixed".into()
            }]
        );
    }

    #[test]
    fn large_message_is_cut() {
        let mut raw = String::from("Subject: big\n\n");
        while raw.len() < 50_000_000 {
            raw.push_str("hello world this is a line of text\n");
        }
        let v = view(raw.as_bytes());
        assert_eq!(v.text.len(), 256 * 1024);
        assert!(v.truncated);
    }

    #[test]
    fn input_beyond_max_parse_bytes_is_not_parsed() {
        let limits = ViewLimits {
            max_parse_bytes: 4096,
            ..ViewLimits::default()
        };
        let mut raw = String::from(
            "Subject: files\nContent-Type: multipart/mixed; boundary=q\n\n--q\n\nsee files\n--q\n\
Content-Type: application/zip; name=a.zip\nContent-Transfer-Encoding: base64\n\n",
        );
        raw.push_str(&"UEsDBBQAAAAI\n".repeat(1000));
        raw.push_str("--q\nContent-Type: image/png; name=b.png\n\nPNG\n--q--\n");
        let v = MessageView::parse(raw.as_bytes(), &limits).unwrap();
        assert_eq!(v.text, "see files");
        assert_eq!(
            v.attachments,
            [Attachment {
                name: Some("a.zip".into()),
                content_type: "application/zip".into()
            }]
        );
        assert!(v.truncated);
    }

    #[test]
    fn garbage_does_not_fail() {
        let garbage: Vec<u8> = (0..100_000u32).map(|i| (i * 7919 + 13) as u8).collect();
        assert!(MessageView::parse(&garbage, &ViewLimits::default()).is_ok());
    }

    #[test]
    fn body_mention_of_content_type_is_restored() {
        let raw = b"Subject: content-type: message/rfc822\n\nContent-Type: Multipart/Digest; x\n";
        let v = view(raw);
        assert_eq!(v.subject, "content-type: message/rfc822");
        assert_eq!(v.text, "Content-Type: Multipart/Digest; x\n");
    }

    #[test]
    fn digest_entries_are_messages() {
        let raw = b"Subject: digest\nContent-Type: multipart/digest; boundary=d\n\n--d\n\n\
Subject: first\n\nbody one\n--d\n\nSubject: second\n\nbody two\n--d--\n";
        let v = view(raw);
        assert_eq!(v.text, "first\nbody one\nsecond\nbody two");
        assert_eq!(v.attachments.len(), 2);
        assert_eq!(v.attachments[0].content_type, "message/rfc822");
    }

    #[test]
    fn urls_in_text() {
        let mut urls = Vec::new();
        let mut pool = Vec::new();
        scan_urls(
            "Go to https://x.example/a?b=1. Or (www.y.example/p), \"http://z.example/q\"; \
HTTP://Caps.example! not xhttp://no.example nor http:// alone; 詳細はhttps://jp.example/a。です",
            &mut urls,
            64,
            &mut pool,
        );
        assert_eq!(
            urls,
            [
                "https://x.example/a?b=1",
                "www.y.example/p",
                "http://z.example/q",
                "HTTP://Caps.example",
                "https://jp.example/a"
            ]
        );
    }

    #[test]
    fn url_brackets_balance() {
        assert_eq!(
            trim_url("https://en.example.org/wiki/Foo_(bar)"),
            "https://en.example.org/wiki/Foo_(bar)"
        );
        assert_eq!(
            trim_url("https://x.example/a_(b))."),
            "https://x.example/a_(b)"
        );
        assert_eq!(trim_url("www.x.example/[1]]}!?"), "www.x.example/[1]");
        let long = format!("http://x.example/{}", ")".repeat(200_000));
        assert_eq!(trim_url(&long), "http://x.example/");
    }

    #[test]
    fn url_and_email_caps() {
        let limits = ViewLimits {
            max_urls: 2,
            max_emails: 1,
            ..ViewLimits::default()
        };
        let raw =
            b"Subject: x\n\nwww.a.example www.b.example www.c.example a@b.example c@d.example\n";
        let v = MessageView::parse(raw, &limits).unwrap();
        assert_eq!(v.urls, ["www.a.example", "www.b.example"]);
        assert_eq!(v.emails, ["a@b.example"]);
    }

    #[test]
    fn emails_in_text() {
        let mut emails = Vec::new();
        let mut pool = Vec::new();
        scan_emails(
            "Mail John.Doe+x@Mail.Example.COM, or .lead@dot.example. Not a@b, x@-y.com, \
me@host.c0m or @alone; a@b@c.example; write mailto:Ops@Help.example?s=1",
            &mut emails,
            64,
            &mut pool,
        );
        assert_eq!(
            emails,
            [
                "john.doe+x@mail.example.com",
                "lead@dot.example",
                "b@c.example",
                "ops@help.example"
            ]
        );
    }

    #[test]
    fn html_blocks_become_lines() {
        assert_eq!(
            html("<p>Congratulations</p><p>Claim</p>"),
            "Congratulations\nClaim"
        );
        assert_eq!(html("a<br>b<BR/>c<div>d</div>e"), "a\nb\nc\nd\ne");
        assert_eq!(html("<ul><li>one</li><li>two</li></ul>"), "one\ntwo");
        assert_eq!(
            html("<table><tr><td>a</td><td>b</td></tr><tr><th>c</th></tr></table>"),
            "a\nb\nc"
        );
        assert_eq!(
            html("<b>bold</b><i>italic</i> <span>x</span>"),
            "bolditalic x"
        );
    }

    #[test]
    fn html_drops_script_style_head_comments() {
        assert_eq!(
            html(
                "<html><head><title>T</title><style>p{}</style></head><body>\
<script type=\"text/javascript\">if (a < b) { x = '</p>'; }</script>visible<!-- hidden -->\
<SCRIPT>bad()</SCRIPT> text</body></html>"
            ),
            "visible text"
        );
        assert_eq!(html("<style>unclosed"), "");
        assert_eq!(html("a<!-- unclosed comment"), "a");
    }

    #[test]
    fn image_alt_text_is_read_in_place() {
        assert_eq!(
            html(
                "<p>Dear friend<img src=\"cid:x\" alt=\" US$ 4.5M awarded &amp; waiting\">call</p>"
            ),
            "Dear friend US$ 4.5M awarded & waiting call"
        );
        // Empty, hidden and head alt texts add nothing and split no word; alt on elements
        // that never show it is not read; a long one is cut.
        assert_eq!(
            html("Wes<img alt=\"\">tern Un<img alt=\" \">ion"),
            "Western Union"
        );
        assert_eq!(
            html("a <img style=\"display:none\" alt=\"pad words\"> b"),
            "a b"
        );
        assert_eq!(html("<head><img alt=x></head>body"), "body");
        assert_eq!(html("a<span alt=\"pad\">b</span><br alt=pad>c"), "ab\nc");
        let long = html(&format!("<img alt=\"{}\">", "word ".repeat(200)));
        assert!(long.len() <= MAX_ALT_BYTES, "{}", long.len());
    }

    #[test]
    fn html_hidden_elements_are_not_read() {
        assert_eq!(
            html("<p>Send the codes<span style=\"display: none\">meeting minutes budget</span> today</p>"),
            "Send the codes today"
        );
        // Nested elements of the same name, upper case, !important, the hidden attribute.
        assert_eq!(
            html(
                "<div>a</div><DIV STYLE='Display:None !important'>x<div>y</div>z</DIV><div>b</div>"
            ),
            "a\nb"
        );
        assert_eq!(html("<div hidden>quiet</div><p>loud</p>"), "loud");
        // Elements a following tag can close are not trusted to hide: a browser shows these.
        assert_eq!(html("<p style=display:none><div>shown</div></p>"), "shown");
        assert_eq!(html("<ul><li style=display:none>a<li>b</ul>"), "a\nb");
        for style in [
            "visibility:hidden",
            "font-size:0",
            "font-size: 0px",
            "font-size:1px;color:#fff",
            "font-size:0.0em",
            "opacity:0",
            "color:red; display:none",
        ] {
            assert_eq!(
                html(&format!("<p>in</p><div style=\"{style}\">out</div>")),
                "in",
                "{style}"
            );
        }
        // Visible text stays: sizes that can be read, relative sizes, other properties.
        for style in [
            "font-size:12px",
            "font-size:0.9em",
            "font-size:80%",
            "display:block",
            "opacity:0.8",
            "max-height:none",
        ] {
            assert_eq!(
                html(&format!("<p style=\"{style}\">in</p>")),
                "in",
                "{style}"
            );
        }
        // A hidden void element hides nothing after it; a hidden one never closed hides the rest.
        assert_eq!(html("<img style=display:none src=x.gif>after"), "after");
        assert_eq!(html("a<span style=display:none>b c d"), "a");
        // Letters split by hidden junk join, as a browser shows them.
        assert_eq!(
            html("Wes<span style=font-size:0>zzz</span>tern Union"),
            "Western Union"
        );
    }

    /// `hides` as first written (a split and a trim per declaration), the oracle for the
    /// one-pass version.
    fn hides_reference(style: &str) -> bool {
        style.split(';').any(|decl| {
            let Some((prop, value)) = decl.split_once(':') else {
                return false;
            };
            let (prop, value) = (prop.trim(), value.trim());
            let value = value
                .strip_suffix("!important")
                .map_or(value, str::trim_end);
            if prop.eq_ignore_ascii_case("display") {
                value.eq_ignore_ascii_case("none")
            } else if prop.eq_ignore_ascii_case("visibility") {
                value.eq_ignore_ascii_case("hidden")
            } else if prop.eq_ignore_ascii_case("opacity") {
                value.parse::<f32>().is_ok_and(|o| o < 0.05)
            } else if prop.eq_ignore_ascii_case("font-size") {
                let digits = value
                    .bytes()
                    .take_while(|c| c.is_ascii_digit() || *c == b'.')
                    .count();
                let (number, unit) = value.split_at(digits);
                let absolute = unit.is_empty()
                    || unit.eq_ignore_ascii_case("px")
                    || unit.eq_ignore_ascii_case("pt");
                number
                    .parse::<f32>()
                    .is_ok_and(|n| n == 0.0 || (absolute && n < 1.5))
            } else {
                false
            }
        })
    }

    #[test]
    fn hides_matches_its_reference() {
        let pieces = [
            "",
            ";",
            ":",
            " ",
            "\u{a0}",
            "\u{2003}",
            "display",
            "DISPLAY",
            " display ",
            "\u{a0}display",
            "visibility",
            "opacity",
            "font-size",
            "Font-Size",
            "color",
            "none",
            "hidden",
            " none ",
            "0",
            "0.01",
            ".04",
            "1",
            "1.4px",
            "1.4PT",
            "1.4em",
            "0em",
            "12px",
            "!important",
            " !important",
            "none!important",
            "display:none",
            "a:b:c",
            "x;y",
            "\u{fffd}",
            "é",
            "2",
            "1.",
            "10",
            "1.2.3",
            "9.9.9",
            "19pt",
            "00",
            "0.",
            "1e5",
            "2px",
            "10.5",
            "1..",
            "100%",
        ];
        let mut checked = 0;
        for a in pieces {
            for sep in [":", ": ", ";", " ; ", "::", ""] {
                for b in pieces {
                    for tail in ["", ";", "; color: red", ";display:none", ":"] {
                        let style = format!("{a}{sep}{b}{tail}");
                        assert_eq!(hides(&style), hides_reference(&style), "{style:?}");
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 30_000);
    }

    /// `TextSink::text` as first written (word by word), the oracle for the phrase copy.
    fn text_reference(sink: &mut TextSink<'_>, s: &str) {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() && !sink.cut {
            if b[i].is_ascii_whitespace() {
                sink.space = true;
                i += 1;
                continue;
            }
            let run_end = b[i..]
                .iter()
                .position(u8::is_ascii_whitespace)
                .map_or(b.len(), |p| i + p);
            sink.word(&s[i..run_end]);
            i = run_end;
        }
    }

    /// `parts` through a [`TextSink`] with a line break between them, with the phrase copy
    /// and with [`text_reference`]: (text, pending space, cut) of each.
    fn both_ways(parts: &[&str], limit: usize) -> [(String, bool, bool); 2] {
        [false, true].map(|reference| {
            let mut out = String::new();
            let mut sink = TextSink {
                out: &mut out,
                limit,
                space: false,
                cut: false,
            };
            for (k, part) in parts.iter().enumerate() {
                if k > 0 {
                    sink.line_break();
                }
                if reference {
                    text_reference(&mut sink, part);
                } else {
                    sink.text(part);
                }
            }
            let (space, cut) = (sink.space, sink.cut);
            (out, space, cut)
        })
    }

    #[test]
    fn text_sink_copies_phrases_as_word_by_word() {
        let alphabet = [
            "a", "bc", " ", " ", "  ", "\n", "\t", "é", "\u{a0}", "x\r\n", ".",
        ];
        let mut x: u64 = 3;
        for round in 0..6000usize {
            let mut piece = || {
                (0..round % 17)
                    .map(|_| {
                        x = x
                            .wrapping_mul(6_364_136_223_846_793_005)
                            .wrapping_add(1_442_695_040_888_963_407);
                        alphabet[(x >> 33) as usize % alphabet.len()]
                    })
                    .collect::<String>()
            };
            let (first, second) = (piece(), piece());
            let limit = if round % 4 == 0 {
                usize::MAX
            } else {
                round % 23
            };
            let [new, old] = both_ways(&[&first, &second], limit);
            assert_eq!(new, old, "{first:?} {second:?} {limit}");
        }
    }

    #[test]
    fn a_long_phrase_that_does_not_fit_is_read_once() {
        // 8 MB of single-spaced words against a 256 KiB limit: scanning the rest of the phrase
        // again for every word copied (as the first phrase copy did) would take ~10^12 steps
        // and never finish; one pass takes milliseconds. The output is the word-by-word one.
        let text = "ab ".repeat(8 << 20 >> 1);
        let limit = 256 * 1024;
        let [new, old] = both_ways(&[&text], limit);
        assert!(new.2, "cut");
        assert_eq!(new.0.len(), limit);
        assert_eq!(new, old);
        let mut out = String::new();
        html_to_text(&format!("<p>{text}</p><img alt=\"{text}\">"), &mut out);
        assert!(!out.is_empty());
    }

    #[test]
    fn links_in_hidden_elements_are_still_found() {
        let v = view(b"Content-Type: text/html\r\n\r\n<div style=display:none><a href=\"https://hidden.example.org/x\">x</a></div>shown\r\n");
        assert_eq!(v.text, "shown");
        assert_eq!(v.urls, vec!["https://hidden.example.org/x".to_string()]);
    }

    #[test]
    fn html_entities() {
        assert_eq!(
            html("a&amp;b &lt;c&gt; &quot;q&quot; &#65;&#x42;&#X43; &euro;5 &nbsp;x&#160;y &#150; &bogus; & z &#0;"),
            "a&b <c> \"q\" ABC €5  x y – &bogus; & z \u{FFFD}"
        );
    }

    #[test]
    fn html_non_breaking_spaces_do_not_collapse() {
        // Letters spelt out with &nbsp; keep the wider gap between the words, as a browser
        // shows it, so the tokenizer can rejoin "west" and "union" instead of one long run.
        assert_eq!(
            html("W&nbsp;e&nbsp;s&nbsp;t&nbsp; &nbsp;U&nbsp;n&nbsp;i&nbsp;o&nbsp;n"),
            "W e s t   U n i o n"
        );
        assert_eq!(html("<p>&nbsp;&nbsp;x</p>"), "  x");
        // Ordinary white space still collapses, and &#32; with it.
        assert_eq!(html("a \n &#32; b"), "a b");
    }

    #[test]
    fn html_whitespace_collapses() {
        assert_eq!(
            html("  one \n\t two   <p>  three  </p>  four  "),
            "one two\nthree\nfour"
        );
    }

    #[test]
    fn html_links_reported() {
        let mut out = String::new();
        let mut attr = String::new();
        let mut links = Vec::new();
        convert_html(
            "<a href='https://a.example/?x=1&amp;y=2'>A</a><img src=http://b.example/i.png>\
<form action=\"https://c.example/post\"><a HREF=\"MAILTO:Who@Where.example\">m</a>",
            &mut out,
            usize::MAX,
            &mut attr,
            |k, v| links.push((k, v.to_string())),
        );
        assert_eq!(
            links,
            [
                (Link::Url, "https://a.example/?x=1&y=2".to_string()),
                (Link::Url, "http://b.example/i.png".to_string()),
                (Link::Url, "https://c.example/post".to_string()),
                (Link::Mailto, "Who@Where.example".to_string()),
            ]
        );
        assert_eq!(out, "A\nm");
    }

    #[test]
    fn html_appends_and_respects_limit() {
        let mut out = String::from("before");
        html_to_text("<p>after</p>", &mut out);
        assert_eq!(out, "before\nafter");
        let mut out = String::from("before");
        html_to_text(" <b>after</b>", &mut out);
        assert_eq!(out, "before after");
        let mut out = String::new();
        let mut attr = String::new();
        let cut = convert_html("<p>aaaa</p><p>bbbb</p>", &mut out, 7, &mut attr, |_, _| {});
        assert!(cut);
        assert_eq!(out, "aaaa\nbb");
    }

    #[test]
    fn neutralize_finds_type_tokens() {
        let mut buf = Vec::new();
        let mut rewrites = Vec::new();
        let mut left = 0;
        let raw =
            b"X: 1\nContent-Type: MESSAGE/rfc822\n\nContent - Type : (c) message (x;y) /Digest\n";
        assert!(neutralize(raw, &mut buf, &mut rewrites, &mut left));
        assert_eq!(
            buf,
            b"X: 1\nContent-Type: M\x02SSAGE/rfc822\n\nContent - Type : (c) m\x01ssage (x;y) /D\x05gest\n"
        );
        let mut s = String::from_utf8(buf.clone()).unwrap();
        restore_markers(&mut s, 0);
        assert_eq!(s.as_bytes(), raw);
        let plain = b"Content-Type: text/plain; name=\"message.txt\"\n";
        assert!(!neutralize(plain, &mut buf, &mut rewrites, &mut left));
    }

    #[test]
    fn find_byte_matches_position() {
        let hay = b"0123456789abcdef:ghij:";
        assert_eq!(find_byte(hay, 0, b':'), Some(16));
        assert_eq!(find_byte(hay, 17, b':'), Some(21));
        assert_eq!(find_byte(hay, 22, b':'), None);
        assert_eq!(find_byte(b"\x80\xff:", 0, b':'), Some(2));
        assert_eq!(find_either(b"abcdefghij.k:", 0, b':', b'.'), Some(10));
        assert_eq!(find_either(b"abcdefghij.k:", 11, b':', b'.'), Some(12));
        assert_eq!(find_either(b"\x01\x00\x3a", 0, b':', b'.'), Some(2));
    }
}
