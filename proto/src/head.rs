//! The cheap parse: only the members routing needs, borrowed from the input.
//!
//! The daemon and the collector's ingest path need a document's ids, name, kind and times to
//! route and index it; building the whole [`crate::segment::Segment`] for that is wasted work.
//! [`SegmentHead::parse`] reads the top-level members it names and skips every other value
//! (including the `subsegments` tree) without allocating, except for strings that contain JSON
//! escapes.
//!
//! It is a small hand-written scanner rather than serde: the members it reads are parsed and
//! type-checked fully, while skipped values are only scanned for their extent (strings to their
//! closing quote eight bytes at a time, containers by bracket depth). So it proves the top level is
//! well-formed, not every nested value: the full parse is the one that validates.

use std::borrow::Cow;

/// The routing members of a segment document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SegmentHead<'a> {
    /// `id`.
    pub id: Option<Cow<'a, str>>,
    /// `trace_id`.
    pub trace_id: Option<Cow<'a, str>>,
    /// `parent_id`.
    pub parent_id: Option<Cow<'a, str>>,
    /// `type` (`subsegment` for independent subsegments).
    pub kind: Option<Cow<'a, str>>,
    /// `name`.
    pub name: Option<Cow<'a, str>>,
    /// `start_time`, epoch seconds.
    pub start_time: Option<f64>,
    /// `end_time`, epoch seconds.
    pub end_time: Option<f64>,
    /// `in_progress`.
    pub in_progress: Option<bool>,
}

/// Where and why the head parse gave up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{expected} at byte {offset}")]
pub struct HeadError {
    /// Byte offset in the document.
    pub offset: usize,
    /// What was expected there.
    pub expected: &'static str,
}

impl<'a> SegmentHead<'a> {
    /// Reads the routing members of `doc`.
    pub fn parse(doc: &'a str) -> Result<SegmentHead<'a>, HeadError> {
        Scanner {
            s: doc,
            b: doc.as_bytes(),
            i: 0,
        }
        .head()
    }

    /// True for an independent subsegment.
    pub fn is_subsegment(&self) -> bool {
        self.kind.as_deref() == Some("subsegment")
    }

    /// True while the document is an in-progress placeholder.
    pub fn is_in_progress(&self) -> bool {
        self.in_progress == Some(true)
    }
}

/// From just after an opening quote, the index of the closing quote and whether escapes were
/// seen. Scans eight bytes at a time (SWAR): most of a segment document is string content.
fn string_end(b: &[u8], mut i: usize) -> Option<(usize, bool)> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const QUOTES: u64 = LO * b'"' as u64;
    const BACKSLASHES: u64 = LO * b'\\' as u64;
    // High bit set in each byte of `x` that is zero; the lowest set bit is always exact.
    let zero_bytes = |x: u64| x.wrapping_sub(LO) & !x & HI;
    let mut escaped = false;
    loop {
        if let Some(word) = b.get(i..i + 8) {
            let w = u64::from_le_bytes(word.try_into().ok()?);
            let hits = zero_bytes(w ^ QUOTES) | zero_bytes(w ^ BACKSLASHES);
            if hits == 0 {
                i += 8;
                continue;
            }
            i += (hits.trailing_zeros() / 8) as usize;
        } else {
            i += b.get(i..)?.iter().position(|&c| c == b'"' || c == b'\\')?;
        }
        if b[i] == b'"' {
            return Some((i, escaped));
        }
        escaped = true;
        i += 2; // the backslash and the character it escapes
    }
}

/// Bytes that matter while skipping a container: quotes and brackets.
static STRUCTURAL: [bool; 256] = {
    let mut t = [false; 256];
    t[b'"' as usize] = true;
    t[b'{' as usize] = true;
    t[b'[' as usize] = true;
    t[b'}' as usize] = true;
    t[b']' as usize] = true;
    t
};

struct Scanner<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn err<T>(&self, expected: &'static str) -> Result<T, HeadError> {
        Err(HeadError {
            offset: self.i,
            expected,
        })
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn expect(&mut self, c: u8, what: &'static str) -> Result<(), HeadError> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            self.err(what)
        }
    }

    /// Positioned on an opening quote: returns the raw contents and whether they hold escapes,
    /// and moves past the closing quote.
    fn raw_string(&mut self) -> Result<(&'a str, bool), HeadError> {
        self.expect(b'"', "expected '\"'")?;
        let start = self.i;
        match string_end(self.b, start) {
            Some((end, escaped)) => {
                self.i = end + 1;
                Ok((&self.s[start..end], escaped))
            }
            None => {
                self.i = self.b.len();
                self.err("unterminated string")
            }
        }
    }

    fn string(&mut self) -> Result<Cow<'a, str>, HeadError> {
        let at = self.i;
        let (raw, escaped) = self.raw_string()?;
        if !escaped {
            return Ok(Cow::Borrowed(raw));
        }
        // Rare: let serde_json apply the escapes (and reject bad ones).
        let quoted = &self.s[at..self.i];
        serde_json::from_str::<String>(quoted)
            .map(Cow::Owned)
            .map_err(|_| HeadError {
                offset: at,
                expected: "a valid JSON string",
            })
    }

    fn literal(&mut self, word: &'static [u8], what: &'static str) -> Result<(), HeadError> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            self.err(what)
        }
    }

    fn opt_string(&mut self) -> Result<Option<Cow<'a, str>>, HeadError> {
        match self.peek() {
            Some(b'"') => self.string().map(Some),
            Some(b'n') => self.literal(b"null", "expected a string").map(|()| None),
            _ => self.err("expected a string"),
        }
    }

    fn opt_number(&mut self) -> Result<Option<f64>, HeadError> {
        if self.peek() == Some(b'n') {
            return self.literal(b"null", "expected a number").map(|()| None);
        }
        let start = self.i;
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.peek() {
            self.i += 1;
        }
        match self.s[start..self.i].parse::<f64>() {
            Ok(v) if v.is_finite() && self.i > start => Ok(Some(v)),
            _ => {
                self.i = start;
                self.err("expected a number")
            }
        }
    }

    fn opt_bool(&mut self) -> Result<Option<bool>, HeadError> {
        match self.peek() {
            Some(b't') => self
                .literal(b"true", "expected a boolean")
                .map(|()| Some(true)),
            Some(b'f') => self
                .literal(b"false", "expected a boolean")
                .map(|()| Some(false)),
            Some(b'n') => self.literal(b"null", "expected a boolean").map(|()| None),
            _ => self.err("expected a boolean"),
        }
    }

    /// Skips one value of any type.
    fn skip_value(&mut self) -> Result<(), HeadError> {
        match self.peek() {
            Some(b'"') => self.raw_string().map(|_| ()),
            Some(b'{' | b'[') => {
                let b = self.b;
                let mut depth = 0usize;
                let mut i = self.i;
                // Jump from one structural byte to the next; everything else is skipped by a
                // table lookup in a tight loop.
                while let Some(n) = b[i..].iter().position(|&c| STRUCTURAL[usize::from(c)]) {
                    i += n;
                    match b[i] {
                        b'"' => match string_end(b, i + 1) {
                            Some((end, _)) => i = end,
                            None => break,
                        },
                        b'{' | b'[' => depth += 1,
                        _ => {
                            depth -= 1;
                            if depth == 0 {
                                self.i = i + 1;
                                return Ok(());
                            }
                        }
                    }
                    i += 1;
                }
                self.i = b.len();
                self.err("unterminated object or array")
            }
            Some(b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => {
                let start = self.i;
                while let Some(c) = self.peek() {
                    if matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                        break;
                    }
                    self.i += 1;
                }
                let tok = &self.s[start..self.i];
                if matches!(tok, "true" | "false" | "null") || tok.parse::<f64>().is_ok() {
                    Ok(())
                } else {
                    self.i = start;
                    self.err("expected a JSON value")
                }
            }
            _ => self.err("expected a JSON value"),
        }
    }

    fn head(mut self) -> Result<SegmentHead<'a>, HeadError> {
        let mut h = SegmentHead::default();
        self.ws();
        self.expect(b'{', "expected '{'")?;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
        } else {
            loop {
                self.ws();
                let key = self.string()?;
                self.ws();
                self.expect(b':', "expected ':'")?;
                self.ws();
                match &*key {
                    "id" => h.id = self.opt_string()?,
                    "trace_id" => h.trace_id = self.opt_string()?,
                    "parent_id" => h.parent_id = self.opt_string()?,
                    "type" => h.kind = self.opt_string()?,
                    "name" => h.name = self.opt_string()?,
                    "start_time" => h.start_time = self.opt_number()?,
                    "end_time" => h.end_time = self.opt_number()?,
                    "in_progress" => h.in_progress = self.opt_bool()?,
                    _ => self.skip_value()?,
                }
                self.ws();
                match self.peek() {
                    Some(b',') => self.i += 1,
                    Some(b'}') => {
                        self.i += 1;
                        break;
                    }
                    _ => return self.err("expected ',' or '}'"),
                }
            }
        }
        self.ws();
        if self.i != self.b.len() {
            return self.err("trailing characters after the document");
        }
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_routing_members_and_skips_the_rest() {
        let doc = r#"{"id":"9cb6b2c613c3c8e6","name":"sub\u0030","start_time":1795795172.5117192,
            "parent_id":"2466ae7e12a3cc6a","in_progress":false,"trace_id":"1-6b09a8e4-5b96a508acf0bf936fb8a414",
            "x":[{"a":"]}\"{["},-1.5e3,true,null,[]],
            "type":"subsegment","subsegments":[{"id":"x","name":"y"}],"end_time":1795795172.5117366}"#;
        let h = SegmentHead::parse(doc).unwrap();
        assert_eq!(h.id.as_deref(), Some("9cb6b2c613c3c8e6"));
        assert_eq!(h.name.as_deref(), Some("sub0"));
        assert!(matches!(h.id, Some(Cow::Borrowed(_))));
        assert!(matches!(h.name, Some(Cow::Owned(_))));
        assert!(h.is_subsegment());
        assert!(!h.is_in_progress());
        assert_eq!(h.end_time, Some(1_795_795_172.511_736_6));
    }

    #[test]
    fn errors_say_where() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 0, "expected '{'"),
            ("[]", 0, "expected '{'"),
            (r#"{"id":1}"#, 6, "expected a string"),
            (r#"{"start_time":"x"}"#, 14, "expected a number"),
            (r#"{"in_progress":1}"#, 15, "expected a boolean"),
            (r#"{"a":{"b":[1,2}"#, 15, "unterminated object or array"),
            (r#"{"a":"b"#, 7, "unterminated string"),
            (r#"{"a":1 "b":2}"#, 7, "expected ',' or '}'"),
            (r#"{"a":tru}"#, 5, "expected a JSON value"),
            (r#"{"a":1}x"#, 7, "trailing characters after the document"),
        ];
        for (doc, offset, expected) in cases {
            assert_eq!(
                SegmentHead::parse(doc).unwrap_err(),
                HeadError {
                    offset: *offset,
                    expected
                },
                "{doc}"
            );
        }
        assert_eq!(SegmentHead::parse(" {} ").unwrap(), SegmentHead::default());
    }
}
