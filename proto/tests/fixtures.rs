//! Every datagram captured from the real Python and Node X-Ray SDKs (`shared/fixtures/`) goes
//! through frame decode → typed parse → validate → encode, and must come back equal to the
//! original as a JSON value: nothing lost, nothing added. The head parse must agree with the
//! capture index.

use fluoro_proto::frame;
use fluoro_proto::head::SegmentHead;
use fluoro_proto::segment::Segment;
use fluoro_proto::validate::{ValidateOptions, check_document};
use serde_json::Value;

struct Capture {
    sdk: &'static str,
    file: String,
    bytes: Vec<u8>,
    index: Value,
}

fn captures() -> Vec<Capture> {
    let root = fluoro_testkit::fixtures_dir();
    let mut out = Vec::new();
    for sdk in ["python", "node"] {
        let dir = root.join(sdk);
        let index = std::fs::read_to_string(dir.join("index.jsonl"))
            .unwrap_or_else(|e| panic!("fixtures missing at {}: {e}", dir.display()));
        for line in index.lines().filter(|l| !l.trim().is_empty()) {
            let index: Value = serde_json::from_str(line).unwrap();
            let file = index["file"].as_str().unwrap().to_owned();
            let bytes = std::fs::read(dir.join(&file)).unwrap();
            out.push(Capture {
                sdk,
                file,
                bytes,
                index,
            });
        }
    }
    assert!(
        out.len() >= 150,
        "expected every capture, found {}",
        out.len()
    );
    out
}

#[test]
fn every_capture_round_trips_losslessly() {
    let opts = ValidateOptions::default();
    for c in captures() {
        let what = format!("{}/{}", c.sdk, c.file);
        assert_eq!(
            c.bytes.len() as u64,
            c.index["size"].as_u64().unwrap(),
            "{what}"
        );
        let f = frame::decode(&c.bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            std::str::from_utf8(f.header).unwrap(),
            c.index["header"].as_str().unwrap(),
            "{what}"
        );
        let seg = check_document(f.body, &opts).unwrap_or_else(|e| panic!("{what}: {e}"));
        let written = seg.to_json();
        let reframed = frame::encode(written.as_bytes()).unwrap();
        let again = frame::decode(&reframed).unwrap();
        let original: Value = serde_json::from_str(f.body).unwrap();
        let back: Value = serde_json::from_str(again.body).unwrap();
        assert_eq!(
            back, original,
            "{what}: typed round trip changed the document"
        );
        // Parsing what we wrote is a fixed point.
        assert_eq!(Segment::from_json(&written).unwrap(), seg, "{what}");
    }
}

#[test]
fn head_parse_agrees_with_the_capture_index() {
    for c in captures() {
        let what = format!("{}/{}", c.sdk, c.file);
        let f = frame::decode(&c.bytes).unwrap();
        let h = SegmentHead::parse(f.body).unwrap_or_else(|e| panic!("{what}: {e}"));
        for (member, got) in [
            ("id", h.id.as_deref()),
            ("trace_id", h.trace_id.as_deref()),
            ("parent_id", h.parent_id.as_deref()),
            ("name", h.name.as_deref()),
            ("type", h.kind.as_deref()),
        ] {
            assert_eq!(got, c.index[member].as_str(), "{what}: {member}");
        }
        let full = Segment::from_json(f.body).unwrap();
        assert_eq!(h.is_in_progress(), full.in_progress == Some(true), "{what}");
        assert_eq!(
            h.start_time,
            full.start_time.as_ref().map(|t| t.as_secs_f64()),
            "{what}"
        );
    }
}

#[test]
fn captures_cover_the_quirks_we_claim() {
    // The spec lists SDK quirks; make sure the captures really exercise the important ones, so
    // the round-trip test above means what it says.
    let mut spaced_header = false;
    let mut python_embedded_type = false;
    let mut node_top_level_traced = false;
    let mut cause_object = false;
    let mut in_progress = false;
    for c in captures() {
        let f = frame::decode(&c.bytes).unwrap();
        spaced_header |= f.header == frame::HEADER_SPACED;
        let seg = Segment::from_json(f.body).unwrap();
        in_progress |= seg.in_progress == Some(true);
        node_top_level_traced |= seg.traced == Some(true);
        cause_object |= seg.cause.is_some();
        seg.walk(&mut |s| {
            if !std::ptr::eq(s, &seg) && s.kind.is_some() {
                python_embedded_type = true;
            }
        });
    }
    assert!(spaced_header, "a capture with the spaced header");
    assert!(python_embedded_type, "an embedded subsegment with type");
    assert!(node_top_level_traced, "a top-level traced");
    assert!(cause_object, "a cause");
    assert!(in_progress, "an in-progress segment");
}
