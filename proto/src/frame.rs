//! UDP framing between SDKs and the daemon.
//!
//! One datagram carries one document: a one-line JSON header, `\n`, then the document.
//!
//! ```text
//! {"format":"json","version":1}\n{"trace_id":"1-...","id":"...",...}
//! ```
//!
//! The split happens at the first `\n` only. The header is parsed as JSON with the AWS daemon's
//! leniency: whitespace and key order do not matter, keys and the `json` value match
//! case-insensitively, unknown keys are ignored, and `version` must be the integer `1` (not
//! `1.0`, not `"1"`). Unlike the AWS daemon we also refuse bodies that are empty, whitespace or
//! not UTF-8 here, each with its own error, since X-Ray would refuse them later anyway.

use serde_json::Value;

/// Receive buffer and largest datagram we accept: 64 KiB, the AWS daemon's buffer size.
pub const MAX_DATAGRAM_LEN: usize = 64 * 1024;
/// Largest payload one IPv4 UDP datagram can carry; the encoder refuses anything bigger.
pub const MAX_UDP_PAYLOAD: usize = 65_507;
/// The header every SDK we know writes, without its newline (Python, Node).
pub const HEADER: &[u8] = br#"{"format":"json","version":1}"#;
/// The spaced variant written by Go, Java and the AWS docs.
pub const HEADER_SPACED: &[u8] = br#"{"format": "json", "version": 1}"#;

/// Why a datagram was refused. Each variant is a reason the daemon counts separately.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Larger than [`MAX_DATAGRAM_LEN`].
    #[error("datagram of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Size of the datagram.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// No `\n` separates header and body.
    #[error("missing header or segment: no newline in datagram")]
    MissingNewline,
    /// Nothing but whitespace after the newline.
    #[error("missing segment: nothing after the header")]
    EmptyBody,
    /// The header line is not a JSON object.
    #[error("invalid header: not a JSON object: {reason}")]
    HeaderNotJson {
        /// What the JSON parser said.
        reason: String,
    },
    /// The header's `format` is missing or not `json`.
    #[error("invalid header: unsupported format {0}")]
    UnsupportedFormat(String),
    /// The header's `version` is missing or not the integer `1`.
    #[error("invalid header: unsupported version {0}")]
    UnsupportedVersion(String),
    /// The body is not valid UTF-8.
    #[error("segment is not valid UTF-8 (first bad byte at offset {offset})")]
    BodyNotUtf8 {
        /// Byte offset of the first invalid sequence within the body.
        offset: usize,
    },
}

impl FrameError {
    /// A short stable label for metrics (`reason="..."`).
    pub fn reason(&self) -> &'static str {
        match self {
            FrameError::TooLarge { .. } => "too_large",
            FrameError::MissingNewline => "missing_newline",
            FrameError::EmptyBody => "empty_body",
            FrameError::HeaderNotJson { .. } => "header_not_json",
            FrameError::UnsupportedFormat(_) => "unsupported_format",
            FrameError::UnsupportedVersion(_) => "unsupported_version",
            FrameError::BodyNotUtf8 { .. } => "body_not_utf8",
        }
    }
}

/// A decoded datagram: the document body, borrowed from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The header line as received (without `\n`).
    pub header: &'a [u8],
    /// The document, exactly as received (UTF-8 checked).
    pub body: &'a str,
}

/// Splits and checks one datagram.
pub fn decode(datagram: &[u8]) -> Result<Frame<'_>, FrameError> {
    if datagram.len() > MAX_DATAGRAM_LEN {
        return Err(FrameError::TooLarge {
            len: datagram.len(),
            max: MAX_DATAGRAM_LEN,
        });
    }
    let nl = datagram
        .iter()
        .position(|&b| b == b'\n')
        .ok_or(FrameError::MissingNewline)?;
    let header = &datagram[..nl];
    let body = &datagram[nl + 1..];
    check_header(header)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(FrameError::EmptyBody);
    }
    let body = std::str::from_utf8(body).map_err(|e| FrameError::BodyNotUtf8 {
        offset: e.valid_up_to(),
    })?;
    Ok(Frame { header, body })
}

/// Checks a header line; the two forms SDKs actually send are recognised without a JSON parse.
pub fn check_header(header: &[u8]) -> Result<(), FrameError> {
    if header == HEADER || header == HEADER_SPACED {
        return Ok(());
    }
    let value: Value = serde_json::from_slice(header).map_err(|e| FrameError::HeaderNotJson {
        reason: e.to_string(),
    })?;
    let Value::Object(map) = value else {
        return Err(FrameError::HeaderNotJson {
            reason: format!("found {}", json_kind(&value)),
        });
    };
    // Like Go's encoding/json: keys match case-insensitively and the last match wins.
    let mut format = None;
    let mut version = None;
    for (k, v) in &map {
        if k.eq_ignore_ascii_case("format") {
            format = Some(v);
        } else if k.eq_ignore_ascii_case("version") {
            version = Some(v);
        }
    }
    match format {
        Some(Value::String(s)) if s.eq_ignore_ascii_case("json") => {}
        Some(other) => return Err(FrameError::UnsupportedFormat(other.to_string())),
        None => return Err(FrameError::UnsupportedFormat("(missing)".to_owned())),
    }
    match version {
        Some(Value::Number(n)) if n.as_u64() == Some(1) => Ok(()),
        Some(other) => Err(FrameError::UnsupportedVersion(other.to_string())),
        None => Err(FrameError::UnsupportedVersion("(missing)".to_owned())),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Error from [`encode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("document of {len} bytes does not fit in one datagram (max {max} bytes with header)")]
pub struct EncodeError {
    /// Size the datagram would have had.
    pub len: usize,
    /// The limit, [`MAX_UDP_PAYLOAD`].
    pub max: usize,
}

/// Frames a document with the canonical header into `out` (cleared first).
pub fn encode_into(document: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let len = HEADER.len() + 1 + document.len();
    if len > MAX_UDP_PAYLOAD {
        return Err(EncodeError {
            len,
            max: MAX_UDP_PAYLOAD,
        });
    }
    out.clear();
    out.reserve(len);
    out.extend_from_slice(HEADER);
    out.push(b'\n');
    out.extend_from_slice(document);
    Ok(())
}

/// Frames a document with the canonical header.
pub fn encode(document: &[u8]) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    encode_into(document, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_acceptance_matrix() {
        // xray-wire.md §1.3, row by row.
        let accept: &[&str] = &[
            r#"{"format":"json","version":1}"#,
            r#"{"format": "json", "version": 1}"#,
            r#"{ "version":1 ,"format":"json" }"#,
            r#"{"format":"JSON","version":1}"#,
            r#"{"FORMAT":"json","Version":1}"#,
            r#"{"format":"json","version":1,"extra":true}"#,
            "{\"format\":\"json\",\"version\":1}\r",
        ];
        for h in accept {
            assert_eq!(check_header(h.as_bytes()), Ok(()), "{h}");
        }
        let reject: &[(&str, &str)] = &[
            (r#"{"format":"json","version":"1"}"#, "unsupported_version"),
            (r#"{"format":"json","version":1.0}"#, "unsupported_version"),
            (r#"{"format":"json","version":2}"#, "unsupported_version"),
            (r#"{"format":"json"}"#, "unsupported_version"),
            (r#"{"version":1}"#, "unsupported_format"),
            (r#"{"format":"xml","version":1}"#, "unsupported_format"),
            (
                "\u{feff}{\"format\":\"json\",\"version\":1}",
                "header_not_json",
            ),
            ("{", "header_not_json"),
            ("[1]", "header_not_json"),
        ];
        for (h, reason) in reject {
            assert_eq!(
                check_header(h.as_bytes()).unwrap_err().reason(),
                *reason,
                "{h}"
            );
        }
    }

    #[test]
    fn splits_at_first_newline_only() {
        let f = decode(b"{\"format\":\"json\",\"version\":1}\n{\"a\":\n1}").unwrap();
        assert_eq!(f.body, "{\"a\":\n1}");
        // A pretty-printed header breaks at its first line.
        assert_eq!(
            decode(b"{\n\"format\":\"json\",\"version\":1}\n{}")
                .unwrap_err()
                .reason(),
            "header_not_json"
        );
    }

    #[test]
    fn encode_round_trips_and_refuses_oversize() {
        let dgram = encode(b"{\"id\":\"x\"}").unwrap();
        assert_eq!(decode(&dgram).unwrap().body, "{\"id\":\"x\"}");
        let big = vec![b' '; MAX_UDP_PAYLOAD];
        assert_eq!(
            encode(&big).unwrap_err(),
            EncodeError {
                len: MAX_UDP_PAYLOAD + HEADER.len() + 1,
                max: MAX_UDP_PAYLOAD
            }
        );
    }
}
