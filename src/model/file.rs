//! The model file (`.sgm`): versioned, checksummed, self-describing.
//!
//! Layout (little-endian):
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `SGMODEL\0` |
//! | 4 | format version ([`FORMAT_VERSION`]) |
//! | 8 | payload length |
//! | n | payload: [`ModelFile`] in postcard |
//! | 8 | xxh3-64 of the payload |
//!
//! The payload carries the tokenizer, feature and message-view configuration the model was
//! trained with; loading refuses a model whose configuration this build does not produce, so a
//! model is never used with another tokenizer.

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use super::{CompiledModel, NUM_CLASSES};
use crate::features::{FeatureConfig, FEATURE_VERSION};
use crate::message::ViewLimits;
#[cfg(test)]
use crate::policy::Level;
use crate::policy::Thresholds;
use crate::tokenize::TokenizerConfig;

/// Magic bytes at the start of every model file.
pub const MAGIC: &[u8; 8] = b"SGMODEL\0";
/// The format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 8;
/// Largest hash table a model may ask for: 2^24 buckets is 256 MB of weights in memory.
pub const MAX_BUCKET_BITS: u8 = 24;
const CHECKSUM_LEN: usize = 8;
/// Refuse payloads claiming more than this (a model is a few MB).
const MAX_PAYLOAD: u64 = 256 * 1024 * 1024;

/// Why a model file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    /// The file could not be read or written.
    #[error("cannot access model file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file does not start with the model magic: not a sendguard model.
    #[error("not a sendguard model file (no SGMODEL magic)")]
    Foreign,
    /// Written by a newer or older sendguard.
    #[error("model file format version {found} is not supported (this sendguard reads version {supported})")]
    UnsupportedVersion {
        /// Version in the file.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// The file ends early.
    #[error("model file is truncated: {expected} bytes expected, {found} present")]
    Truncated {
        /// Bytes the header announces.
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// Bytes were changed after writing.
    #[error("model file is corrupted: checksum mismatch")]
    Corrupted,
    /// The model could not be serialised.
    #[error("model cannot be serialised: {0}")]
    Encode(String),
    /// The payload does not decode although its checksum matched: written by an incompatible
    /// build of the same format version.
    #[error("model file payload does not decode: {0}")]
    Decode(String),
    /// The model was built for another tokenizer or feature layout.
    #[error("model does not match this sendguard: {0}")]
    Mismatch(String),
    /// The payload decodes but is inconsistent.
    #[error("model file is invalid: {0}")]
    Invalid(String),
}

/// Where a model came from and how it was made.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Creation time, RFC 3339 (UTC).
    pub created: String,
    /// Trainer description, e.g. "linfa MultinomialNb + MultiLogisticRegression blend".
    pub trainer: String,
    /// Free-form notes (data used).
    pub notes: String,
}

/// Everything stored in a model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    /// Provenance.
    pub info: ModelInfo,
    /// Tokenizer configuration the model was trained with.
    pub tokenizer: TokenizerConfig,
    /// Feature hashing configuration the model was trained with.
    pub features: FeatureConfig,
    /// Per-message work limits the model was evaluated with.
    pub limits: ViewLimits,
    /// Class names, in array order; must be ham, spam, phishing, fraud.
    pub classes: Vec<String>,
    /// Per-class bias.
    pub bias: Vec<f32>,
    /// Buckets carrying weight, ascending.
    pub buckets: Vec<u32>,
    /// Weights, `classes.len()` per bucket, bucket-major.
    pub weights: Vec<f32>,
    /// Verdict thresholds.
    pub thresholds: Thresholds,
}

/// The start of every payload, whatever the later fields: provenance, then the tokenizer's
/// version (the first field of [`TokenizerConfig`]).
#[derive(Deserialize)]
struct Prefix {
    #[allow(dead_code)] // decoded only to reach the version after it
    info: ModelInfo,
    tokenizer_version: u32,
}

fn tokenizer_mismatch(found: u32) -> ModelFileError {
    ModelFileError::Mismatch(format!(
        "trained with tokenizer version {found}, this sendguard tokenizes with version {}",
        TokenizerConfig::default().version
    ))
}

impl ModelFile {
    /// Serialises to the on-disk form.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ModelFileError> {
        let payload =
            postcard::to_allocvec(self).map_err(|e| ModelFileError::Encode(e.to_string()))?;
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + CHECKSUM_LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&payload);
        out.extend_from_slice(&xxh3_64(&payload).to_le_bytes());
        Ok(out)
    }

    /// Parses and checks the on-disk form (magic, version, length, checksum, consistency).
    pub fn from_bytes(bytes: &[u8]) -> Result<ModelFile, ModelFileError> {
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            // A prefix of the magic is a truncated model, anything else is foreign.
            if !bytes.is_empty() && MAGIC.starts_with(bytes) {
                return Err(ModelFileError::Truncated {
                    expected: HEADER_LEN as u64,
                    found: bytes.len() as u64,
                });
            }
            return Err(ModelFileError::Foreign);
        }
        if bytes.len() < HEADER_LEN {
            return Err(ModelFileError::Truncated {
                expected: HEADER_LEN as u64,
                found: bytes.len() as u64,
            });
        }
        let version = u32::from_le_bytes(
            bytes[8..12]
                .try_into()
                .map_err(|_| ModelFileError::Foreign)?,
        );
        if version != FORMAT_VERSION {
            return Err(ModelFileError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let len = u64::from_le_bytes(
            bytes[12..20]
                .try_into()
                .map_err(|_| ModelFileError::Foreign)?,
        );
        if len > MAX_PAYLOAD {
            return Err(ModelFileError::Invalid(format!(
                "payload length {len} is implausible"
            )));
        }
        let expected = HEADER_LEN as u64 + len + CHECKSUM_LEN as u64;
        if (bytes.len() as u64) < expected {
            return Err(ModelFileError::Truncated {
                expected,
                found: bytes.len() as u64,
            });
        }
        if (bytes.len() as u64) > expected {
            return Err(ModelFileError::Invalid(format!(
                "{} bytes of trailing garbage after the checksum",
                bytes.len() as u64 - expected
            )));
        }
        let payload = &bytes[HEADER_LEN..HEADER_LEN + len as usize];
        let stored = u64::from_le_bytes(
            bytes[HEADER_LEN + len as usize..]
                .try_into()
                .map_err(|_| ModelFileError::Corrupted)?,
        );
        if stored != xxh3_64(payload) {
            return Err(ModelFileError::Corrupted);
        }
        let file: ModelFile = postcard::from_bytes(payload).map_err(|e| {
            // A model from a build with another tokenizer may have a payload of another shape
            // (a setting added): say that, rather than that it does not decode.
            match postcard::take_from_bytes::<Prefix>(payload) {
                // Only an older version: anything else is more likely a damaged shape.
                Ok((prefix, _))
                    if (1..TokenizerConfig::default().version)
                        .contains(&prefix.tokenizer_version) =>
                {
                    tokenizer_mismatch(prefix.tokenizer_version)
                }
                _ => ModelFileError::Decode(e.to_string()),
            }
        })?;
        file.check()?;
        Ok(file)
    }

    /// Reads a model file from disk.
    pub fn read(path: &std::path::Path) -> Result<ModelFile, ModelFileError> {
        let bytes = std::fs::read(path).map_err(|source| ModelFileError::Io {
            path: path.display().to_string(),
            source,
        })?;
        ModelFile::from_bytes(&bytes)
    }

    /// Writes a model file to disk (via a temporary file and a rename, so a reader never sees
    /// half a model).
    pub fn write(&self, path: &std::path::Path) -> Result<(), ModelFileError> {
        let bytes = self.to_bytes()?;
        let io = |source| ModelFileError::Io {
            path: path.display().to_string(),
            source,
        };
        let tmp = path.with_extension("sgm.tmp");
        std::fs::write(&tmp, &bytes).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Checks that this model fits this build: configuration versions, classes, shapes, numbers.
    pub fn check(&self) -> Result<(), ModelFileError> {
        if self.tokenizer.version != TokenizerConfig::default().version {
            return Err(tokenizer_mismatch(self.tokenizer.version));
        }
        if self.features.version != FEATURE_VERSION {
            return Err(ModelFileError::Mismatch(format!(
                "trained with feature layout version {}, this sendguard uses version {FEATURE_VERSION}",
                self.features.version
            )));
        }
        if !(8..=MAX_BUCKET_BITS).contains(&self.features.bucket_bits) {
            return Err(ModelFileError::Invalid(format!(
                "bucket_bits {} out of range 8..={MAX_BUCKET_BITS}",
                self.features.bucket_bits
            )));
        }
        let f = &self.features;
        if !(f.cue_value.is_finite()
            && f.bigram_weight.is_finite()
            && f.cue_value.abs() <= 100.0
            && f.bigram_weight.abs() <= 100.0)
        {
            return Err(ModelFileError::Invalid(format!(
                "feature weights out of range: cue_value {}, bigram_weight {}",
                f.cue_value, f.bigram_weight
            )));
        }
        // The per-message work limits bound memory and time; a model may tighten them, never
        // lift them past what the message view was hardened for.
        let l = &self.limits;
        let hard = ViewLimits::hard_caps();
        if l.max_text_bytes > hard.max_text_bytes
            || l.max_parts > hard.max_parts
            || l.max_depth > hard.max_depth
            || l.max_urls > hard.max_urls
            || l.max_emails > hard.max_emails
            || l.max_parse_bytes > hard.max_parse_bytes
        {
            return Err(ModelFileError::Invalid(format!(
                "message limits {l:?} exceed the hard caps {hard:?}"
            )));
        }
        let want: Vec<&str> = super::Class::ALL.iter().map(|c| c.name()).collect();
        if self.classes != want {
            return Err(ModelFileError::Mismatch(format!(
                "classes {:?}, this sendguard expects {:?}",
                self.classes, want
            )));
        }
        if self.bias.len() != NUM_CLASSES || self.weights.len() != self.buckets.len() * NUM_CLASSES
        {
            return Err(ModelFileError::Invalid(format!(
                "{} buckets but {} weights and {} biases",
                self.buckets.len(),
                self.weights.len(),
                self.bias.len()
            )));
        }
        let n = 1u64 << self.features.bucket_bits;
        if !self.buckets.windows(2).all(|w| w[0] < w[1])
            || self.buckets.last().is_some_and(|b| u64::from(*b) >= n)
        {
            return Err(ModelFileError::Invalid(
                "buckets not ascending or out of range".into(),
            ));
        }
        if !self.weights.iter().chain(&self.bias).all(|w| w.is_finite()) {
            return Err(ModelFileError::Invalid("non-finite weight".into()));
        }
        let t = &self.thresholds;
        if !t.is_valid() {
            return Err(ModelFileError::Invalid(format!(
                "thresholds out of order: {t:?}"
            )));
        }
        Ok(())
    }

    /// Checks the file, then builds the fast form.
    pub fn compile(&self) -> Result<CompiledModel, ModelFileError> {
        self.check()?;
        let mut bias = [0.0; NUM_CLASSES];
        bias.copy_from_slice(&self.bias);
        let rows = self
            .buckets
            .iter()
            .zip(self.weights.chunks_exact(NUM_CLASSES))
            .map(|(b, w)| {
                let mut row = [0.0; NUM_CLASSES];
                row.copy_from_slice(w);
                (*b, row)
            });
        CompiledModel::from_sparse(
            1usize << self.features.bucket_bits,
            rows,
            bias,
            self.thresholds,
        )
        .ok_or_else(|| ModelFileError::Invalid("bucket out of range".into()))
    }

    /// The file form of a compiled model.
    pub fn from_compiled(
        model: &CompiledModel,
        info: ModelInfo,
        tokenizer: TokenizerConfig,
        features: FeatureConfig,
        limits: ViewLimits,
    ) -> ModelFile {
        let mut buckets = Vec::new();
        let mut weights = Vec::new();
        for (b, w) in model.sparse_rows() {
            buckets.push(b);
            weights.extend_from_slice(&w);
        }
        ModelFile {
            info,
            tokenizer,
            features,
            limits,
            classes: super::Class::ALL
                .iter()
                .map(|c| c.name().to_string())
                .collect(),
            bias: model.bias().to_vec(),
            buckets,
            weights,
            thresholds: *model.thresholds(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ModelFile {
        let features = FeatureConfig {
            bucket_bits: 10,
            ..FeatureConfig::default()
        };
        ModelFile {
            info: ModelInfo {
                created: "2026-11-28T00:00:00Z".into(),
                trainer: "test".into(),
                notes: String::new(),
            },
            tokenizer: TokenizerConfig::default(),
            features,
            limits: ViewLimits::default(),
            classes: vec![
                "ham".into(),
                "spam".into(),
                "phishing".into(),
                "fraud".into(),
            ],
            bias: vec![0.5, -0.1, -0.2, -0.3],
            buckets: vec![1, 7, 1023],
            weights: (0..12).map(|i| i as f32 / 4.0).collect(),
            thresholds: Thresholds {
                tag: Level {
                    suspicion: 0.0,
                    fraud: 1.0,
                },
                hold: Level {
                    suspicion: 1.0,
                    fraud: 2.0,
                },
                reject: Level {
                    suspicion: 2.0,
                    fraud: 3.0,
                },
            },
        }
    }

    #[test]
    fn round_trip() {
        let m = sample();
        let bytes = m.to_bytes().expect("serialises");
        assert_eq!(&bytes[..8], MAGIC);
        let back = ModelFile::from_bytes(&bytes).expect("reads back");
        assert_eq!(back, m);
        let compiled = back.compile().expect("compiles");
        assert_eq!(compiled.weights(7), [1.0, 1.25, 1.5, 1.75]);
        assert_eq!(compiled.buckets(), 1024);
    }

    #[test]
    fn every_truncation_is_reported_as_truncated() {
        let bytes = sample().to_bytes().expect("serialises");
        for cut in 1..bytes.len() {
            match ModelFile::from_bytes(&bytes[..cut]) {
                Err(ModelFileError::Truncated { .. }) => {}
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
    }

    #[test]
    fn empty_and_foreign_files() {
        assert!(matches!(
            ModelFile::from_bytes(b""),
            Err(ModelFileError::Foreign)
        ));
        assert!(matches!(
            ModelFile::from_bytes(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"),
            Err(ModelFileError::Foreign)
        ));
        assert!(matches!(
            ModelFile::from_bytes(b"{\"json\": true}"),
            Err(ModelFileError::Foreign)
        ));
    }

    #[test]
    fn every_flipped_payload_byte_is_corruption() {
        let bytes = sample().to_bytes().expect("serialises");
        for i in HEADER_LEN..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(
                matches!(ModelFile::from_bytes(&bad), Err(ModelFileError::Corrupted)),
                "flip at {i}"
            );
        }
    }

    #[test]
    fn other_version_is_refused() {
        let mut bytes = sample().to_bytes().expect("serialises");
        bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
        assert!(matches!(
            ModelFile::from_bytes(&bytes),
            Err(ModelFileError::UnsupportedVersion {
                found: 2,
                supported: 1
            })
        ));
    }

    #[test]
    fn huge_length_is_refused_without_allocating() {
        let mut bytes = sample().to_bytes().expect("serialises");
        bytes[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            ModelFile::from_bytes(&bytes),
            Err(ModelFileError::Invalid(_))
        ));
    }

    #[test]
    fn mismatched_tokenizer_or_feature_layout_is_refused_with_a_reason() {
        let bump_tokenizer: fn(&mut ModelFile) = |m| m.tokenizer.version += 1;
        let bump_features: fn(&mut ModelFile) = |m| m.features.version += 1;
        for (bump, reason) in [
            (bump_tokenizer, "tokenizer version"),
            (bump_features, "feature layout version"),
        ] {
            let mut m = sample();
            bump(&mut m);
            let bytes = m.to_bytes().expect("serialises");
            match ModelFile::from_bytes(&bytes) {
                Err(ModelFileError::Mismatch(why)) => assert!(why.contains(reason), "{why}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_model_of_an_older_tokenizer_shape_is_a_mismatch() {
        // Tokenizer version 3 had no `fold_symbols`: its payload has one field fewer, so it
        // does not decode as this build's ModelFile; the error still names the version.
        #[derive(Serialize)]
        struct TokenizerV3 {
            version: u32,
            max_word_chars: usize,
            rejoin_spaced: bool,
            fold_confusables: bool,
            fold_accents: bool,
            fold_digits: bool,
            cjk_bigrams: bool,
            typed_tokens: bool,
        }
        #[derive(Serialize)]
        struct OldFile {
            info: ModelInfo,
            tokenizer: TokenizerV3,
            rest: Vec<u8>,
        }
        let old = OldFile {
            info: sample().info,
            tokenizer: TokenizerV3 {
                version: 3,
                max_word_chars: 40,
                rejoin_spaced: true,
                fold_confusables: true,
                fold_accents: true,
                fold_digits: true,
                cjk_bigrams: true,
                typed_tokens: true,
            },
            rest: vec![7; 40],
        };
        let payload = postcard::to_allocvec(&old).expect("serialises");
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&payload);
        bytes.extend_from_slice(&xxh3_64(&payload).to_le_bytes());
        match ModelFile::from_bytes(&bytes) {
            Err(ModelFileError::Mismatch(why)) => {
                assert!(why.contains("tokenizer version 3"), "{why}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn limits_and_table_size_cannot_be_lifted_by_a_model() {
        let mut m = sample();
        m.limits.max_parse_bytes = usize::MAX;
        let bytes = m.to_bytes().expect("serialises");
        assert!(
            matches!(ModelFile::from_bytes(&bytes), Err(ModelFileError::Invalid(why)) if why.contains("hard caps"))
        );
        let mut m = sample();
        m.features.bucket_bits = 28;
        let bytes = m.to_bytes().expect("serialises");
        assert!(
            matches!(ModelFile::from_bytes(&bytes), Err(ModelFileError::Invalid(why)) if why.contains("bucket_bits"))
        );
        let mut m = sample();
        m.features.cue_value = f32::NAN;
        let bytes = m.to_bytes().expect("serialises");
        assert!(matches!(
            ModelFile::from_bytes(&bytes),
            Err(ModelFileError::Invalid(_))
        ));
        // compile() checks too
        let mut m = sample();
        m.bias.pop();
        assert!(m.compile().is_err());
    }

    #[test]
    fn inconsistent_shapes_are_invalid() {
        let mut m = sample();
        m.weights.pop();
        let bytes = m.to_bytes().expect("serialises");
        assert!(matches!(
            ModelFile::from_bytes(&bytes),
            Err(ModelFileError::Invalid(_))
        ));
        let mut m = sample();
        m.classes.swap(0, 1);
        let bytes = m.to_bytes().expect("serialises");
        assert!(matches!(
            ModelFile::from_bytes(&bytes),
            Err(ModelFileError::Mismatch(_))
        ));
        let mut m = sample();
        m.weights[3] = f32::NAN;
        let bytes = m.to_bytes().expect("serialises");
        assert!(matches!(
            ModelFile::from_bytes(&bytes),
            Err(ModelFileError::Invalid(_))
        ));
    }
}
