//! Named, explainable advance-fee cues.
//!
//! Each cue is one feature with its own learned weight, so a verdict can say
//! "large sum of money + free-mail contact" in words a mail administrator reads.
//! Cues look at what a scam needs (money, a way to reach the scammer, a story,
//! pressure) rather than at any one language, so they also fire on mail in
//! languages the model was not trained on.

use crate::tokenize::typed::{email_domain, is_freemail, is_reserved_domain};

/// One named cue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cue {
    /// A sum of at least 100,000 (USD, EUR, GBP, ...) or 10 million yen.
    LargeSum,
    /// A sum of at least a million (100 million yen).
    VeryLargeSum,
    /// At least two words of the advance-fee story (beneficiary, inheritance, next of kin, ...).
    StoryLanguage,
    /// At least four distinct words of the advance-fee story.
    StrongStoryLanguage,
    /// The body names a free-mail address that is not the sender's own.
    FreeMailContact,
    /// A large sum together with a free-mail contact: the core of the incident letter.
    SumAndFreeMailContact,
    /// Reply-To points to another domain than From.
    ReplyToElsewhere,
    /// Reply-To is a free-mail address other than the sender.
    ReplyToFreeMail,
    /// The From display name claims a brand or authority its address does not belong to.
    BrandInDisplayName,
    /// Urgency and secrecy words in the same message.
    UrgencyAndSecrecy,
    /// Money transfer services named (Western Union, MoneyGram, ...).
    TransferService,
    /// A link to a site that is not the sender's own.
    LinkElsewhere,
    /// Account words (password, sign in, verify, ...) together with a link elsewhere.
    CredentialLure,
    /// A crypto-currency address (Bitcoin, Ethereum, TRON, ...) in the subject or body: where
    /// extortion and investment scams ask for the money.
    CryptoAddress,
}

impl Cue {
    /// Every cue, in a fixed order (the order fixes their feature hashes' names).
    pub const ALL: [Cue; 14] = [
        Cue::LargeSum,
        Cue::VeryLargeSum,
        Cue::StoryLanguage,
        Cue::StrongStoryLanguage,
        Cue::FreeMailContact,
        Cue::SumAndFreeMailContact,
        Cue::ReplyToElsewhere,
        Cue::ReplyToFreeMail,
        Cue::BrandInDisplayName,
        Cue::UrgencyAndSecrecy,
        Cue::TransferService,
        Cue::LinkElsewhere,
        Cue::CredentialLure,
        Cue::CryptoAddress,
    ];

    /// Stable name, used as the feature name and in explanations.
    pub fn name(self) -> &'static str {
        match self {
            Cue::LargeSum => "large-sum",
            Cue::VeryLargeSum => "very-large-sum",
            Cue::StoryLanguage => "advance-fee-story",
            Cue::StrongStoryLanguage => "advance-fee-story-strong",
            Cue::FreeMailContact => "free-mail-contact",
            Cue::SumAndFreeMailContact => "large-sum+free-mail-contact",
            Cue::ReplyToElsewhere => "reply-to-elsewhere",
            Cue::ReplyToFreeMail => "reply-to-free-mail",
            Cue::BrandInDisplayName => "brand-in-display-name",
            Cue::UrgencyAndSecrecy => "urgency+secrecy",
            Cue::TransferService => "money-transfer-service",
            Cue::LinkElsewhere => "link-elsewhere",
            Cue::CredentialLure => "account-words+link-elsewhere",
            Cue::CryptoAddress => "crypto-address",
        }
    }
}

/// What a normalised word tells the cue detector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WordClass {
    /// A word of the advance-fee story; the number tells distinct words apart (bit index).
    Story(u8),
    /// Pressure to act now.
    Urgency,
    /// Pressure to keep quiet.
    Secrecy,
    /// A money transfer service.
    Transfer,
    /// Account and credential words (password, sign in, verify, ...).
    Credential,
}

/// Words of the advance-fee story, normalised as the tokenizer emits them. Japanese entries are
/// character bigrams, which is how the tokenizer emits Han/Kana runs.
pub const STORY_WORDS: &[&str] = &[
    "beneficiary",
    "inheritance",
    "kin",
    "deceased",
    "compensation",
    "consignment",
    "barrister",
    "diplomat",
    "diplomatic",
    "lottery",
    "winnings",
    "unclaimed",
    "dormant",
    "heir",
    "awarded",
    "atm",
    "widow",
    "treasury",
    "remittance",
    "victims",
    "scam",
    "fbi",
    "imf",
    "遺産",
    "相続",
    "受取",
    "補償",
    "当選",
    "賞金",
    "送金",
    "手数",
    "宝く",
    "寄付",
];

/// Urgency words.
pub const URGENCY_WORDS: &[&str] = &["urgent", "urgently", "immediately", "asap", "至急"];
/// Secrecy words.
pub const SECRECY_WORDS: &[&str] = &[
    "confidential",
    "confidentiality",
    "secret",
    "secrecy",
    "discreet",
    "discretion",
    "極秘",
    "内密",
    // 口外 (口外無用, 口外しない); not 他言, whose bigram is also in 他言語 ("other language").
    "口外",
];
/// Money transfer services (normalised single tokens; "western union" is caught by "moneygram"
/// or the spaced-word rejoin of the tokenizer only when written together, so both halves count).
pub const TRANSFER_WORDS: &[&str] = &["moneygram", "westernunion", "ria", "xoom", "wu"];

/// Account and credential words (Japanese as the tokenizer's bigrams).
pub const CREDENTIAL_WORDS: &[&str] = &[
    "password",
    "passcode",
    "passwords",
    "login",
    "signin",
    "logon",
    "credentials",
    "verify",
    "verification",
    "unlock",
    "suspended",
    "mailbox",
    "パス",
    "ログ",
    "認証",
];

/// The registrable part of a host, roughly: the last two labels, or three under a two-letter
/// country code with a short second level ("example.co.jp").
pub fn registrable(host: &str) -> &str {
    let mut labels = host.rsplit('.');
    let (tld, second) = (labels.next().unwrap_or(""), labels.next().unwrap_or(""));
    let keep = if tld.len() == 2 && second.len() <= 3 && labels.next().is_some() {
        3
    } else {
        2
    };
    let mut dots = 0;
    for (i, c) in host.char_indices().rev() {
        if c == '.' {
            dots += 1;
            if dots == keep {
                return &host[i + 1..];
            }
        }
    }
    host
}

/// Brands and authorities scammers put in a display name.
pub const BRANDS: &[&str] = &[
    "paypal",
    "microsoft",
    "outlook",
    "apple",
    "icloud",
    "amazon",
    "dhl",
    "fedex",
    "ups",
    "usps",
    "fbi",
    "irs",
    "hmrc",
    "western",
    "moneygram",
    "netflix",
    "docusign",
    "google",
    "facebook",
    "instagram",
    "whatsapp",
    "linkedin",
    "chase",
    "wells",
    "citibank",
    "hsbc",
    "barclays",
    "un",
    "imf",
    "interpol",
    "webmail",
    "楽天",
    "アマ",
    "三井",
];

/// Per-message cue state, filled while the message's tokens stream by.
#[derive(Clone, Debug, Default)]
pub struct CueState {
    story_bits: u64,
    urgency: bool,
    secrecy: bool,
    transfer: bool,
    credential: bool,
    link_elsewhere: bool,
    crypto_address: bool,
    western: bool,
    union: bool,
    max_sum_magnitude: i32,
}

impl CueState {
    /// Forgets the previous message.
    pub fn clear(&mut self) {
        *self = CueState::default();
    }

    /// Notes a classified word.
    pub fn word(&mut self, class: WordClass) {
        match class {
            WordClass::Story(bit) => self.story_bits |= 1u64 << (bit % 64),
            WordClass::Urgency => self.urgency = true,
            WordClass::Secrecy => self.secrecy = true,
            WordClass::Transfer => self.transfer = true,
            WordClass::Credential => self.credential = true,
        }
    }

    /// Notes a crypto-currency address (a [`crate::tokenize::TokenKind::CryptoAddress`] token).
    pub fn crypto_address(&mut self) {
        self.crypto_address = true;
    }

    /// Notes the words "western" and "union" (the transfer service written in two words).
    pub fn western_union_part(&mut self, word: &str) {
        match word {
            "western" => self.western = true,
            "union" => self.union = true,
            _ => {}
        }
    }

    /// Notes the host of a link in the body, for a sender at `from_address`.
    pub fn link(&mut self, host: &str, from_address: &str) {
        let own = registrable(email_domain(from_address).unwrap_or(""));
        if !host.is_empty() && !registrable(host).eq_ignore_ascii_case(own) {
            self.link_elsewhere = true;
        }
    }

    /// Notes a money token of the tokenizer ("usd:5").
    pub fn money(&mut self, token: &str) {
        let Some((currency, magnitude)) = token.split_once(':') else {
            return;
        };
        let Ok(mut magnitude) = magnitude.parse::<i32>() else {
            return;
        };
        // Rough orders of magnitude against the dollar, so "large" means the same everywhere.
        magnitude += match currency {
            "jpy" | "inr" | "rub" => -2,
            "krw" | "ngn" | "xof" => -3,
            "cny" | "zar" | "ghs" => -1,
            "btc" => 4,
            _ => 0,
        };
        self.max_sum_magnitude = self.max_sum_magnitude.max(magnitude);
    }

    /// Evaluates the cues that need the whole message, calling `emit` for each that fires.
    pub fn finish(
        &self,
        from_address: &str,
        from_name_words: &str,
        reply_to: &[String],
        body_emails: &[String],
        mut emit: impl FnMut(Cue),
    ) {
        let from_domain = email_domain(from_address).unwrap_or("");
        let large = self.max_sum_magnitude >= 5;
        if large {
            emit(Cue::LargeSum);
        }
        if self.max_sum_magnitude >= 6 {
            emit(Cue::VeryLargeSum);
        }
        let story = self.story_bits.count_ones();
        if story >= 2 {
            emit(Cue::StoryLanguage);
        }
        if story >= 4 {
            emit(Cue::StrongStoryLanguage);
        }
        let free_contact = body_emails.iter().any(|addr| {
            addr != from_address
                && email_domain(addr).is_some_and(|d| is_freemail(d) && !is_reserved_domain(d))
        });
        if free_contact {
            emit(Cue::FreeMailContact);
            if large {
                emit(Cue::SumAndFreeMailContact);
            }
        }
        let mut reply_elsewhere = false;
        let mut reply_free = false;
        for addr in reply_to {
            if addr == from_address {
                continue;
            }
            if let Some(domain) = email_domain(addr) {
                if is_reserved_domain(domain) {
                    continue;
                }
                if !domain.eq_ignore_ascii_case(from_domain) {
                    reply_elsewhere = true;
                }
                if is_freemail(domain) {
                    reply_free = true;
                }
            }
        }
        if reply_elsewhere {
            emit(Cue::ReplyToElsewhere);
        }
        if reply_free {
            emit(Cue::ReplyToFreeMail);
        }
        // Compare with the domain's labels, not substrings: "un" is not in "fund.org".
        let brand = from_name_words.split_whitespace().any(|t| {
            BRANDS.contains(&t)
                && !from_domain
                    .split('.')
                    .any(|label| label.eq_ignore_ascii_case(t))
        });
        if brand {
            emit(Cue::BrandInDisplayName);
        }
        if self.urgency && self.secrecy {
            emit(Cue::UrgencyAndSecrecy);
        }
        if self.transfer || (self.western && self.union) {
            emit(Cue::TransferService);
        }
        if self.link_elsewhere {
            emit(Cue::LinkElsewhere);
            if self.credential {
                emit(Cue::CredentialLure);
            }
        }
        if self.crypto_address {
            emit(Cue::CryptoAddress);
        }
    }
}

/// The cue words, looked up by a hash the caller already has (the feature extractor hashes
/// every token once): an open-addressed table, so the hot path does one or two probes per word
/// instead of comparing it with every cue word. A hit is confirmed by comparing the words, so
/// the result is exactly [`classify_word`]'s.
#[derive(Clone, Debug)]
pub struct WordClassTable {
    /// `(hash, word, class)`; an empty slot has an empty word.
    slots: Box<[(u64, &'static str, Option<WordClass>)]>,
    mask: usize,
}

impl WordClassTable {
    /// The table of every cue word, hashed with `hash` (which must be the function the caller
    /// will hash its tokens with).
    pub fn new(hash: impl Fn(&str) -> u64) -> Self {
        let words = STORY_WORDS
            .iter()
            .chain(URGENCY_WORDS)
            .chain(SECRECY_WORDS)
            .chain(CREDENTIAL_WORDS)
            .chain(TRANSFER_WORDS);
        let count = words.clone().count();
        // At most a quarter full: probes stay short.
        let size = (count * 4).next_power_of_two();
        let mut slots = vec![(0u64, "", None); size].into_boxed_slice();
        let mask = size - 1;
        for &word in words {
            let h = hash(word);
            let mut i = h as usize & mask;
            while !slots[i].1.is_empty() {
                if slots[i].1 == word {
                    break;
                }
                i = (i + 1) & mask;
            }
            if slots[i].1.is_empty() {
                slots[i] = (h, word, classify_word(word));
            }
        }
        WordClassTable { slots, mask }
    }

    /// The class of `word`, whose hash is `h`.
    #[inline]
    pub fn get(&self, h: u64, word: &str) -> Option<WordClass> {
        let mut i = h as usize & self.mask;
        loop {
            let (sh, sw, class) = &self.slots[i];
            if sw.is_empty() {
                return None;
            }
            if *sh == h && *sw == word {
                return *class;
            }
            i = (i + 1) & self.mask;
        }
    }
}

/// The class of a word for the cue detector, if it has one.
pub fn classify_word(word: &str) -> Option<WordClass> {
    if let Some(i) = STORY_WORDS.iter().position(|w| *w == word) {
        return Some(WordClass::Story(i as u8));
    }
    if URGENCY_WORDS.contains(&word) {
        return Some(WordClass::Urgency);
    }
    if SECRECY_WORDS.contains(&word) {
        return Some(WordClass::Secrecy);
    }
    if CREDENTIAL_WORDS.contains(&word) {
        return Some(WordClass::Credential);
    }
    if TRANSFER_WORDS.contains(&word) {
        return Some(WordClass::Transfer);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_table_agrees_with_classify_word() {
        let hash = |w: &str| xxhash_rust::xxh3::xxh3_64(w.as_bytes());
        let table = WordClassTable::new(hash);
        let lists = [
            STORY_WORDS,
            URGENCY_WORDS,
            SECRECY_WORDS,
            CREDENTIAL_WORDS,
            TRANSFER_WORDS,
        ];
        for word in lists.iter().flat_map(|l| l.iter()) {
            assert_eq!(table.get(hash(word), word), classify_word(word), "{word}");
            assert!(table.get(hash(word), word).is_some(), "{word}");
        }
        for word in ["the", "westerns", "", "beneficiaries", "至", "union"] {
            assert_eq!(table.get(hash(word), word), None, "{word}");
        }
        // A colliding hash with another word is not a hit.
        assert_eq!(table.get(hash("urgent"), "urgenT"), None);
        // Even a table built with a degenerate hash (everything in one chain) is exact.
        let flat = WordClassTable::new(|_| 7);
        for word in lists.iter().flat_map(|l| l.iter()) {
            assert_eq!(flat.get(7, word), classify_word(word), "{word}");
        }
        assert_eq!(flat.get(7, "nothing"), None);
    }

    fn fired(
        state: &CueState,
        from: &str,
        name: &str,
        reply: &[&str],
        emails: &[&str],
    ) -> Vec<&'static str> {
        let reply: Vec<String> = reply.iter().map(|s| s.to_string()).collect();
        let emails: Vec<String> = emails.iter().map(|s| s.to_string()).collect();
        let mut out = Vec::new();
        state.finish(from, name, &reply, &emails, |c| out.push(c.name()));
        out
    }

    #[test]
    fn incident_letter_cues() {
        let mut s = CueState::default();
        s.money("usd:5");
        for w in [
            "compensation",
            "victims",
            "fbi",
            "moneygram",
            "urgent",
            "confidential",
        ] {
            if let Some(c) = classify_word(w) {
                s.word(c);
            }
        }
        let got = fired(
            &s,
            "info@securityfirm.example.org",
            "fbi office",
            &["agent.mark@gmail.com"],
            &["agent.mark@gmail.com"],
        );
        assert_eq!(
            got,
            vec![
                "large-sum",
                "advance-fee-story",
                "free-mail-contact",
                "large-sum+free-mail-contact",
                "reply-to-elsewhere",
                "reply-to-free-mail",
                "brand-in-display-name",
                "urgency+secrecy",
                "money-transfer-service",
            ]
        );
    }

    #[test]
    fn ordinary_mail_fires_nothing() {
        let mut s = CueState::default();
        s.money("eur:4");
        if let Some(c) = classify_word("payment") {
            s.word(c);
        }
        let got = fired(
            &s,
            "anna@northwind.io",
            "anna berg",
            &[],
            &["billing@northwind.io"],
        );
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn yen_amounts_are_scaled() {
        let mut s = CueState::default();
        s.money("krw:7"); // 10 million won is about 7,500 dollars: not large
        assert!(fired(&s, "a@b.kr", "", &[], &[]).is_empty());
        s.money("jpy:6"); // 1,000,000 yen is about 7,000 dollars: not large
        assert!(fired(&s, "a@b.jp", "", &[], &[]).is_empty());
        s.money("jpy:8"); // 100 million yen
        assert_eq!(
            fired(&s, "a@b.jp", "", &[], &[]),
            vec!["large-sum", "very-large-sum"]
        );
    }

    #[test]
    fn own_address_and_reserved_domains_are_not_contacts() {
        let s = CueState::default();
        let got = fired(
            &s,
            "me@gmail.com",
            "",
            &["me@gmail.com"],
            &["me@gmail.com", "user@example.net"],
        );
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn brands_are_matched_against_domain_labels() {
        let s = CueState::default();
        assert_eq!(
            fired(&s, "claims@fund.org", "un compensation", &[], &[]),
            vec!["brand-in-display-name"]
        );
        assert!(fired(&s, "service@paypal.com", "paypal", &[], &[]).is_empty());
        assert_eq!(
            fired(&s, "service@paypal-secure.net", "paypal", &[], &[]),
            vec!["brand-in-display-name"]
        );
    }

    #[test]
    fn all_lists_cues_in_declaration_order() {
        // FeatureExtractor indexes its cue buckets by `cue as usize`.
        for (i, cue) in Cue::ALL.iter().enumerate() {
            assert_eq!(*cue as usize, i);
        }
    }

    #[test]
    fn registrable_domains() {
        assert_eq!(registrable("www.mail.example.com"), "example.com");
        assert_eq!(registrable("shop.kanda-shoji.co.jp"), "kanda-shoji.co.jp");
        assert_eq!(registrable("example.com"), "example.com");
        assert_eq!(registrable("localhost"), "localhost");
    }

    #[test]
    fn credential_words_with_a_foreign_link() {
        let mut s = CueState::default();
        if let Some(c) = classify_word("password") {
            s.word(c);
        }
        let mut out = Vec::new();
        let mut own = s.clone();
        own.link("login.acme.de", "it@acme.de");
        own.finish("it@acme.de", "", &[], &[], |c| out.push(c.name()));
        assert!(out.is_empty(), "own site: {out:?}");
        s.link("acme-de.login-verify.io", "it@acme.de");
        s.finish("it@acme.de", "", &[], &[], |c| out.push(c.name()));
        assert_eq!(out, vec!["link-elsewhere", "account-words+link-elsewhere"]);
    }

    #[test]
    fn crypto_address_fires_its_cue() {
        let mut s = CueState::default();
        assert!(fired(&s, "", "", &[], &[]).is_empty());
        s.crypto_address();
        assert_eq!(fired(&s, "", "", &[], &[]), vec!["crypto-address"]);
    }

    #[test]
    fn western_union_in_two_words() {
        let mut s = CueState::default();
        s.western_union_part("western");
        assert!(fired(&s, "", "", &[], &[]).is_empty());
        s.western_union_part("union");
        assert_eq!(fired(&s, "", "", &[], &[]), vec!["money-transfer-service"]);
    }
}
