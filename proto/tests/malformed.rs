//! Malformed datagrams and documents: each class gets its own, precise error. Inputs are real
//! captured datagrams (`shared/fixtures/`) broken in one way at a time.

use fluoro_proto::frame::{self, FrameError};
use fluoro_proto::validate::{SegmentErrorCode, ValidateOptions, check_document};

fn capture(rel: &str) -> Vec<u8> {
    std::fs::read(fluoro_testkit::fixtures_dir().join(rel)).unwrap()
}

/// A Node segment datagram (canonical header) and a Python subsegment datagram.
fn node_segment() -> Vec<u8> {
    capture("node/000003.dgram")
}

fn body(dgram: &[u8]) -> String {
    frame::decode(dgram).unwrap().body.to_owned()
}

fn doc_error(doc: &str) -> (SegmentErrorCode, String, String) {
    let e = check_document(doc, &ValidateOptions::default()).unwrap_err();
    (e.code, e.path.clone(), e.message())
}

#[test]
fn no_newline() {
    let d = node_segment();
    let nl = d.iter().position(|&b| b == b'\n').unwrap();
    let mut joined = d;
    joined.remove(nl);
    assert_eq!(frame::decode(&joined), Err(FrameError::MissingNewline));
}

#[test]
fn header_only() {
    assert_eq!(
        frame::decode(b"{\"format\":\"json\",\"version\":1}\n"),
        Err(FrameError::EmptyBody)
    );
    assert_eq!(
        frame::decode(b"{\"format\":\"json\",\"version\":1}\n \r\n"),
        Err(FrameError::EmptyBody)
    );
}

#[test]
fn wrong_version_and_format() {
    let d = node_segment();
    let b = body(&d);
    let v2 = format!("{{\"format\":\"json\",\"version\":2}}\n{b}");
    assert_eq!(
        frame::decode(v2.as_bytes()),
        Err(FrameError::UnsupportedVersion("2".into()))
    );
    let xml = format!("{{\"format\":\"xml\",\"version\":1}}\n{b}");
    assert_eq!(
        frame::decode(xml.as_bytes()),
        Err(FrameError::UnsupportedFormat("\"xml\"".into()))
    );
    let garbage = format!("hello\n{b}");
    assert_eq!(
        frame::decode(garbage.as_bytes()).unwrap_err().reason(),
        "header_not_json"
    );
}

#[test]
fn non_utf8_body() {
    let mut d = node_segment();
    let nl = d.iter().position(|&b| b == b'\n').unwrap();
    d[nl + 20] = 0xff;
    assert_eq!(
        frame::decode(&d),
        Err(FrameError::BodyNotUtf8 { offset: 19 })
    );
}

#[test]
fn oversize_datagram_and_document() {
    let mut d = node_segment();
    d.resize(frame::MAX_DATAGRAM_LEN + 1, b' ');
    assert_eq!(
        frame::decode(&d),
        Err(FrameError::TooLarge {
            len: frame::MAX_DATAGRAM_LEN + 1,
            max: frame::MAX_DATAGRAM_LEN
        })
    );
    // A document over 64 kB (arriving through PutTraceSegments, where no datagram limits it).
    let b = body(&node_segment());
    let padded = format!(
        "{},\"metadata\":{{\"default\":{{\"pad\":\"{}\"}}}}}}",
        &b[..b.len() - 1],
        "x".repeat(70_000)
    );
    let (code, _, msg) = doc_error(&padded);
    assert_eq!(code, SegmentErrorCode::DocumentTooLarge);
    assert!(msg.contains("the limit is 65536"), "{msg}");
}

#[test]
fn truncated_json() {
    let b = body(&node_segment());
    let (code, path, msg) = doc_error(&b[..b.len() / 2]);
    assert_eq!(code, SegmentErrorCode::InvalidJson);
    assert!(
        msg.starts_with("Invalid segment. ErrorCode: InvalidJSON, Cause: "),
        "{msg}"
    );
    assert!(msg.contains("EOF while parsing"), "{msg} at {path}");
}

#[test]
fn bad_ids() {
    let b = body(&node_segment());
    let bad_trace = b.replace("1-6b09abae-f47fdd9445ec71a2b334fd41", "1-6b09abae-f47fdd94");
    assert_eq!(bad_trace.len() + 16, b.len(), "fixture changed");
    let (code, path, msg) = doc_error(&bad_trace);
    assert_eq!(
        (code, path.as_str()),
        (SegmentErrorCode::InvalidTraceId, "trace_id")
    );
    assert!(msg.contains("expected 35 characters, got 19"), "{msg}");

    let bad_id = b.replace("\"1e8931fa5354907c\"", "\"1E8931FA5354907C\"");
    let (code, path, msg) = doc_error(&bad_id);
    assert_eq!((code, path.as_str()), (SegmentErrorCode::InvalidId, "id"));
    assert!(msg.contains("invalid character 'E' at position 1"), "{msg}");

    let no_id = b.replace("\"id\":\"1e8931fa5354907c\",", "");
    assert_eq!(doc_error(&no_id).0, SegmentErrorCode::MissingId);

    let wrong_type = b.replace("\"1e8931fa5354907c\"", "12");
    let (code, path, _) = doc_error(&wrong_type);
    assert_eq!((code, path.as_str()), (SegmentErrorCode::InvalidId, "id"));
}

#[test]
fn independent_subsegment_needs_its_parent() {
    let py = body(&capture("python/000001.dgram"));
    let orphan = py.replace("\"parent_id\": \"2f2dd42e0f3e305d\", ", "");
    assert_ne!(orphan, py, "fixture changed");
    let (code, path, msg) = doc_error(&orphan);
    assert_eq!(
        (code, path.as_str()),
        (SegmentErrorCode::MissingParentId, "parent_id")
    );
    assert!(msg.starts_with("Invalid subsegment. "), "{msg}");
}
