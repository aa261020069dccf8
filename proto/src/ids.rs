//! Trace ids and entity ids.
//!
//! An X-Ray trace id is `1-` + 8 hex digits (the epoch second of the original request) + `-` +
//! 24 hex digits (96 random bits): 35 characters, 128 bits in all. That is exactly the size of a
//! W3C / OpenTelemetry trace id, so [`TraceId`] keeps the 128 bits and converts both ways without
//! loss: the W3C form is the 8 epoch digits followed by the 24 random ones. Entity ids (segments,
//! subsegments, exceptions) are 64-bit, written as 16 hex digits, the same as a W3C span id.
//!
//! Parsing is strict about shape and accepts only lowercase hex, which is what every SDK writes
//! (Java even rejects uppercase). Whether AWS accepts uppercase is unverified; the policy lives in
//! [`is_lower_hex`] so it is one place to change.

use std::fmt;
use std::str::FromStr;

/// Length of a trace id in its X-Ray text form (`1-58406520-a006649127e371903a2de979`).
pub const TRACE_ID_LEN: usize = 35;
/// Length of an entity id in text form (`53995c3f42cd8ad8`).
pub const ENTITY_ID_LEN: usize = 16;

/// Why a trace or entity id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The text has the wrong number of characters.
    #[error("expected {expected} characters, got {actual}")]
    Length {
        /// Length required.
        expected: usize,
        /// Length found.
        actual: usize,
    },
    /// The trace id does not start with version `1-`.
    #[error("expected version prefix `1-`")]
    Version,
    /// The trace id has no `-` between the epoch and random parts.
    #[error("expected `-` at position 10")]
    Separator,
    /// A character that is not lowercase hex.
    #[error("invalid character {found:?} at position {position}; expected lowercase hex")]
    NotHex {
        /// Zero-based character position in the input.
        position: usize,
        /// The offending character.
        found: char,
    },
}

/// True for `0-9` and `a-f`.
#[inline]
pub fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

fn parse_hex(s: &[u8], offset: usize) -> Result<u128, IdError> {
    let mut v: u128 = 0;
    for (i, &b) in s.iter().enumerate() {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => {
                return Err(IdError::NotHex {
                    position: offset + i,
                    found: char::from(b),
                });
            }
        };
        v = (v << 4) | u128::from(d);
    }
    Ok(v)
}

fn check_ascii(s: &str, expected: usize) -> Result<&[u8], IdError> {
    // Count chars, not bytes, so a multi-byte character reports a sensible length.
    if s.len() != expected {
        return Err(IdError::Length {
            expected,
            actual: s.chars().count(),
        });
    }
    let bytes = s.as_bytes();
    if let Some(pos) = bytes.iter().position(|b| !b.is_ascii()) {
        let found = s[pos..].chars().next().unwrap_or('\u{fffd}');
        return Err(IdError::NotHex {
            position: pos,
            found,
        });
    }
    Ok(bytes)
}

/// Fills `buf` with cryptographically secure random bytes.
///
/// X-Ray trace ids appear in response headers, so AWS asks for a secure generator. If the
/// operating system's source fails (it practically never does) we fall back to a time- and
/// counter-derived value rather than panic the host.
fn random_bytes(buf: &mut [u8]) {
    if getrandom::fill(buf).is_err() {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);
        for chunk in buf.chunks_mut(8) {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            let mut x = COUNTER.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed) ^ nanos;
            // splitmix64 finaliser
            x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            x ^= x >> 31;
            let bytes = x.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// How long before a document's start a trace id's epoch part may lie and still be taken as
/// the trace's start (see [`TraceId::has_plausible_epoch`]).
pub const EPOCH_LEAD_SECS: f64 = 86_400.0;
/// How long after a document's start a trace id's epoch part may lie (clock skew).
pub const EPOCH_LAG_SECS: f64 = 300.0;

/// An X-Ray trace id: 32-bit epoch seconds + 96 random bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(u128);

impl TraceId {
    /// The id Go and Python use for unsampled requests: `1-00000000-000000000000000000000000`.
    pub const NOOP: TraceId = TraceId(0);

    /// Builds an id from its epoch seconds and its 96 random bits (the high 32 bits of `random`
    /// are ignored).
    pub fn new(epoch_secs: u32, random: u128) -> TraceId {
        TraceId((u128::from(epoch_secs) << 96) | (random & ((1u128 << 96) - 1)))
    }

    /// A fresh id for a request that starts now, with 96 bits from the OS's secure random source.
    pub fn generate() -> TraceId {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        TraceId::generate_at(u32::try_from(now).unwrap_or(u32::MAX))
    }

    /// A fresh id whose epoch part is `epoch_secs`.
    pub fn generate_at(epoch_secs: u32) -> TraceId {
        let mut buf = [0u8; 16];
        random_bytes(&mut buf[4..]);
        TraceId::new(epoch_secs, u128::from_be_bytes(buf))
    }

    /// Parses `1-XXXXXXXX-YYYYYYYYYYYYYYYYYYYYYYYY`.
    pub fn parse(s: &str) -> Result<TraceId, IdError> {
        let b = check_ascii(s, TRACE_ID_LEN)?;
        if &b[..2] != b"1-" {
            return Err(IdError::Version);
        }
        if b[10] != b'-' {
            return Err(IdError::Separator);
        }
        let epoch = parse_hex(&b[2..10], 2)?;
        let random = parse_hex(&b[11..], 11)?;
        Ok(TraceId((epoch << 96) | random))
    }

    /// The epoch-seconds part.
    pub fn epoch_secs(self) -> u32 {
        (self.0 >> 96) as u32
    }

    /// The 96 random bits.
    pub fn random_part(self) -> u128 {
        self.0 & ((1u128 << 96) - 1)
    }

    /// True for [`TraceId::NOOP`].
    pub fn is_noop(self) -> bool {
        self.0 == 0
    }

    /// The id as a 128-bit W3C / OpenTelemetry trace id.
    pub fn to_w3c(self) -> u128 {
        self.0
    }

    /// The id as the 16 bytes of an OTLP `trace_id` (big-endian).
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    /// Reads a 128-bit W3C trace id. Every value maps to a trace id; one whose first 32 bits are
    /// not a plausible epoch (as OpenTelemetry's random ids usually are not) still round-trips.
    pub fn from_w3c(id: u128) -> TraceId {
        TraceId(id)
    }

    /// Reads the 16 bytes of an OTLP `trace_id`.
    pub fn from_bytes(bytes: [u8; 16]) -> TraceId {
        TraceId(u128::from_be_bytes(bytes))
    }

    /// True when the epoch part can be the moment a trace began whose document starts at
    /// `start_secs`: at most [`EPOCH_LEAD_SECS`] before it and [`EPOCH_LAG_SECS`] after it. X-Ray
    /// ids always pass; a W3C id with a random first half almost never does (the chance is
    /// about 2 in 100 000).
    pub fn has_plausible_epoch(self, start_secs: f64) -> bool {
        let epoch = f64::from(self.epoch_secs());
        epoch >= start_secs - EPOCH_LEAD_SECS && epoch <= start_secs + EPOCH_LAG_SECS
    }

    /// The epoch second a trace is filed under (listings by trace-id time, retention): its
    /// epoch part when plausible for `start_secs`, else `start_secs` itself, so a trace whose
    /// id's first half is random is still found in the window it happened in.
    pub fn filing_time(self, start_secs: f64) -> i64 {
        if self.has_plausible_epoch(start_secs) || !start_secs.is_finite() {
            i64::from(self.epoch_secs())
        } else {
            start_secs.floor() as i64
        }
    }

    /// The W3C text form: 32 lowercase hex digits.
    pub fn to_w3c_hex(self) -> String {
        format!("{:032x}", self.0)
    }

    /// Parses the W3C text form (32 lowercase hex digits).
    pub fn from_w3c_hex(s: &str) -> Result<TraceId, IdError> {
        let b = check_ascii(s, 32)?;
        parse_hex(b, 0).map(TraceId)
    }

    /// The id's text, `1-` + 8 hex digits + `-` + 24 hex digits, without the formatting
    /// machinery (what `Display` writes; SDK emitters and the collector write many ids).
    pub fn to_text(self) -> [u8; 35] {
        let mut b = [0u8; 35];
        b[0] = b'1';
        b[1] = b'-';
        b[10] = b'-';
        let [hi, lo] = [(self.0 >> 64) as u64, self.0 as u64];
        let hi = hex16(hi);
        b[2..10].copy_from_slice(&hi[..8]);
        b[11..19].copy_from_slice(&hi[8..]);
        b[19..].copy_from_slice(&hex16(lo));
        b
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.to_text();
        f.pad(std::str::from_utf8(&b).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl FromStr for TraceId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TraceId::parse(s)
    }
}

impl serde::Serialize for TraceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for TraceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        TraceId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A segment, subsegment or exception id: 64 bits, written as 16 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityId(u64);

impl EntityId {
    /// The id Go and Python use for unsampled requests: `0000000000000000`.
    pub const NOOP: EntityId = EntityId(0);

    /// Wraps a raw 64-bit value.
    pub fn new(v: u64) -> EntityId {
        EntityId(v)
    }

    /// A fresh random id (never zero).
    pub fn generate() -> EntityId {
        loop {
            let mut buf = [0u8; 8];
            random_bytes(&mut buf);
            let v = u64::from_be_bytes(buf);
            if v != 0 {
                return EntityId(v);
            }
        }
    }

    /// Parses 16 lowercase hex digits.
    pub fn parse(s: &str) -> Result<EntityId, IdError> {
        let b = check_ascii(s, ENTITY_ID_LEN)?;
        parse_hex(b, 0).map(|v| EntityId(v as u64))
    }

    /// The raw value, which is also the W3C / OTLP span id.
    pub fn get(self) -> u64 {
        self.0
    }

    /// The 8 bytes of an OTLP `span_id` (big-endian).
    pub fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// Reads the 8 bytes of an OTLP `span_id`.
    pub fn from_bytes(bytes: [u8; 8]) -> EntityId {
        EntityId(u64::from_be_bytes(bytes))
    }

    /// The id's 16 lowercase hex digits, without the formatting machinery (what `Display`
    /// writes).
    pub fn to_hex(self) -> [u8; 16] {
        hex16(self.0)
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.to_hex();
        f.pad(std::str::from_utf8(&b).map_err(|_| fmt::Error)?)
    }
}

/// `v` as 16 lowercase hex digits, most significant first: each half's nibbles spread one to a
/// byte, then made ASCII eight at a time (no table, no loop).
fn hex16(v: u64) -> [u8; 16] {
    /// The eight nibbles of `x` (below 2^32), one per byte, the most significant in the
    /// highest byte.
    fn spread(x: u64) -> u64 {
        let x = (x | (x << 16)) & 0x0000_ffff_0000_ffff;
        let x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff;
        (x | (x << 4)) & 0x0f0f_0f0f_0f0f_0f0f
    }
    /// Each byte's nibble as its hex digit: `'0' + n`, plus 39 more from 10 on (`'a'`).
    fn ascii(n: u64) -> u64 {
        // Adding 6 carries a nibble of 10 or more into bit 4 of its byte, never past it.
        let letters = ((n + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
        n + 0x3030_3030_3030_3030 + letters * 39
    }
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&ascii(spread(v >> 32)).to_be_bytes());
    b[8..].copy_from_slice(&ascii(spread(v & 0xffff_ffff)).to_be_bytes());
    b
}

impl fmt::Debug for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntityId({self})")
    }
}

impl FromStr for EntityId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EntityId::parse(s)
    }
}

impl serde::Serialize for EntityId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for EntityId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        EntityId::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_docs_example() {
        let id = TraceId::parse("1-58406520-a006649127e371903a2de979").unwrap();
        assert_eq!(id.epoch_secs(), 1_480_615_200);
        assert_eq!(id.to_string(), "1-58406520-a006649127e371903a2de979");
        assert_eq!(id.to_w3c_hex(), "58406520a006649127e371903a2de979");
    }

    #[test]
    fn each_malformed_trace_id_has_its_error() {
        let cases: &[(&str, IdError)] = &[
            (
                "1-58406520-a006649127e371903a2de97",
                IdError::Length {
                    expected: 35,
                    actual: 34,
                },
            ),
            ("2-58406520-a006649127e371903a2de979", IdError::Version),
            ("1-58406520_a006649127e371903a2de979", IdError::Separator),
            (
                "1-58406520-A006649127e371903a2de979",
                IdError::NotHex {
                    position: 11,
                    found: 'A',
                },
            ),
            (
                "1-5840652g-a006649127e371903a2de979",
                IdError::NotHex {
                    position: 9,
                    found: 'g',
                },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(TraceId::parse(input).unwrap_err(), *want, "{input}");
        }
    }

    #[test]
    fn noop_ids_parse() {
        assert!(
            TraceId::parse("1-00000000-000000000000000000000000")
                .unwrap()
                .is_noop()
        );
        assert_eq!(EntityId::parse("0000000000000000").unwrap(), EntityId::NOOP);
    }

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let a = TraceId::generate_at(0x6b09_abae);
        let b = TraceId::generate_at(0x6b09_abae);
        assert_ne!(a, b);
        assert_eq!(a.epoch_secs(), 0x6b09_abae);
        assert_eq!(TraceId::parse(&a.to_string()).unwrap(), a);
        let e = EntityId::generate();
        assert_eq!(EntityId::parse(&e.to_string()).unwrap(), e);
    }

    #[test]
    fn entity_id_errors() {
        assert_eq!(
            EntityId::parse("53995c3f42cd8ad").unwrap_err(),
            IdError::Length {
                expected: 16,
                actual: 15
            }
        );
        assert_eq!(
            EntityId::parse("53995c3f42cd8adZ").unwrap_err(),
            IdError::NotHex {
                position: 15,
                found: 'Z'
            }
        );
    }

    #[test]
    fn filing_time_falls_back_to_start_for_random_first_halves() {
        let xray = TraceId::parse("1-5759e988-bd862e3fe1be46a994272793").unwrap();
        let start = 1_465_510_280.5;
        assert!(xray.has_plausible_epoch(start));
        assert_eq!(xray.filing_time(start), 0x5759_e988);
        // A long trace: a subsegment an hour later still files under the id's epoch.
        assert_eq!(xray.filing_time(start + 3600.0), 0x5759_e988);
        let w3c = TraceId::from_w3c_hex("fedcba9876543210fedcba9876543210").unwrap();
        assert!(!w3c.has_plausible_epoch(start));
        assert_eq!(w3c.filing_time(start), 1_465_510_280);
    }

    #[test]
    fn ids_are_written_as_lowercase_hex_at_any_width() {
        for v in [
            0u64,
            1,
            0x9,
            0xa,
            0xf,
            0x10,
            0xab,
            0x0123_4567_89ab_cdef,
            0xfedc_ba98_7654_3210,
            0x8000_0000_0000_0000,
            0x0000_0000_ffff_ffff,
            u64::MAX,
        ] {
            let e = EntityId::new(v);
            assert_eq!(e.to_string(), format!("{v:016x}"));
            assert_eq!(e.to_hex(), *format!("{v:016x}").as_bytes());
            for secs in [0u32, 0x5840_6520, u32::MAX] {
                let random = u128::from(v) << 32 | u128::from(v.rotate_left(17) as u32);
                let t = TraceId::new(secs, random);
                let want = format!("1-{secs:08x}-{:024x}", random & ((1u128 << 96) - 1));
                assert_eq!(t.to_string(), want);
                assert_eq!(t.to_text(), *want.as_bytes());
            }
        }
        // Width and alignment are honoured (`Formatter::pad`).
        assert_eq!(format!("{:>18}", EntityId::new(0xab)), "  00000000000000ab");
        assert_eq!(
            format!("{:<37}|", TraceId::NOOP),
            "1-00000000-000000000000000000000000  |"
        );
    }
}
