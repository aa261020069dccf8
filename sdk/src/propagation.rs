//! Trace context in and out of requests: `X-Amzn-Trace-Id` (parsed and written by
//! `fluoro_proto::header`) and W3C `traceparent`, so X-Ray SDKs and OpenTelemetry services
//! stay in one trace. X-Ray and W3C trace ids are the same 128 bits
//! (`fluoro_proto::ids::TraceId::to_w3c`), and entity ids are W3C span ids.

use fluoro_proto::header::{HEADER_NAME, Sampled, TraceHeader};
use fluoro_proto::ids::{EntityId, TraceId};

/// The W3C header name.
pub const TRACEPARENT: &str = "traceparent";

/// Trace context taken from an incoming request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// The caller's trace.
    pub trace_id: TraceId,
    /// The caller's (sub)segment or span: this segment's `parent_id`.
    pub parent: Option<EntityId>,
    /// The caller's decision: `Some(true)` / `Some(false)` are honoured, `None` (absent or
    /// `Sampled=?`) lets the local sampler decide.
    pub sampled: Option<bool>,
    /// The caller asked to be told the decision (`Sampled=?`).
    pub requested: bool,
    /// The whole X-Amzn-Trace-Id, to pass `Lineage` and unknown keys on.
    pub header: Option<TraceHeader>,
}

impl Upstream {
    /// Reads the context from request headers: `X-Amzn-Trace-Id` first, then `traceparent`.
    /// `get` looks a header up case-insensitively. Malformed values are ignored (a new trace
    /// starts), as the AWS SDKs do.
    pub fn from_headers<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Option<Upstream> {
        if let Some(v) = get(HEADER_NAME)
            && let Some(u) = Upstream::from_xray(v)
        {
            return Some(u);
        }
        get(TRACEPARENT).and_then(Upstream::from_traceparent)
    }

    /// Parses an `X-Amzn-Trace-Id` value; `None` without a valid `Root`.
    pub fn from_xray(value: &str) -> Option<Upstream> {
        let h = TraceHeader::parse(value).ok()?;
        let trace_id = h.root?;
        let (sampled, requested) = match h.sampled {
            Some(Sampled::Yes) => (Some(true), false),
            Some(Sampled::No) => (Some(false), false),
            Some(Sampled::Requested) => (None, true),
            None => (None, false),
        };
        Some(Upstream {
            trace_id,
            parent: h.parent,
            sampled,
            requested,
            header: Some(h),
        })
    }

    /// Parses a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex flags>`); the sampled flag is
    /// honoured like `Sampled=`.
    pub fn from_traceparent(value: &str) -> Option<Upstream> {
        let v = value.trim();
        let mut parts = v.split('-');
        let version = parts.next()?;
        let trace = parts.next()?;
        let span = parts.next()?;
        let flags = parts.next()?;
        if version.len() != 2 || version == "ff" || (version == "00" && parts.next().is_some()) {
            return None;
        }
        if flags.len() != 2 {
            return None;
        }
        let trace_id = TraceId::from_w3c_hex(trace).ok()?;
        let parent = EntityId::parse(span).ok()?;
        if trace_id.to_w3c() == 0 || parent == EntityId::NOOP {
            return None;
        }
        let flags = u8::from_str_radix(flags, 16).ok()?;
        Some(Upstream {
            trace_id,
            parent: Some(parent),
            sampled: Some(flags & 1 == 1),
            requested: false,
            header: None,
        })
    }
}

/// `00-<trace>-<span>-<01|00>`.
pub fn format_traceparent(trace_id: TraceId, parent: EntityId, sampled: bool) -> String {
    format!(
        "00-{}-{}-{}",
        trace_id.to_w3c_hex(),
        parent,
        if sampled { "01" } else { "00" }
    )
}

/// The headers to add to an outgoing request made from the current entity:
/// `X-Amzn-Trace-Id` and `traceparent`. Empty when there is no current segment.
pub fn outgoing_headers() -> Vec<(&'static str, String)> {
    let e = crate::context::current();
    let mut out = Vec::with_capacity(2);
    if let Some(h) = e.trace_header() {
        out.push((HEADER_NAME, h.to_string()));
    }
    if let Some(tp) = e.traceparent() {
        out.push((TRACEPARENT, tp));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xray_header_in() {
        let u = Upstream::from_xray(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a:1",
        )
        .unwrap();
        assert_eq!(
            u.trace_id.to_string(),
            "1-5759e988-bd862e3fe1be46a994272793"
        );
        assert_eq!(u.parent.unwrap().to_string(), "53995c3f42cd8ad8");
        assert_eq!(u.sampled, Some(true));
        let u = Upstream::from_xray("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=?").unwrap();
        assert!(u.requested && u.sampled.is_none());
        assert!(Upstream::from_xray("Parent=53995c3f42cd8ad8").is_none());
        assert!(Upstream::from_xray("Root=garbage").is_none());
    }

    #[test]
    fn traceparent_round_trip() {
        let t = TraceId::parse("1-5759e988-bd862e3fe1be46a994272793").unwrap();
        let p = EntityId::parse("53995c3f42cd8ad8").unwrap();
        let s = format_traceparent(t, p, true);
        assert_eq!(s, "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01");
        let u = Upstream::from_traceparent(&s).unwrap();
        assert_eq!((u.trace_id, u.parent, u.sampled), (t, Some(p), Some(true)));
        let u = Upstream::from_traceparent(&format_traceparent(t, p, false)).unwrap();
        assert_eq!(u.sampled, Some(false));
        for bad in [
            "",
            "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8",
            "ff-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01",
            "00-00000000000000000000000000000000-53995c3f42cd8ad8-01",
            "00-5759e988bd862e3fe1be46a994272793-0000000000000000-01",
            "00-5759E988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01",
        ] {
            assert!(Upstream::from_traceparent(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn xray_header_wins_over_traceparent() {
        let headers = [
            (
                "X-Amzn-Trace-Id",
                "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0",
            ),
            (
                "traceparent",
                "00-6759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01",
            ),
        ];
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| *v)
        };
        let u = Upstream::from_headers(get).unwrap();
        assert_eq!(u.sampled, Some(false));
        assert_eq!(
            u.trace_id.to_string(),
            "1-5759e988-bd862e3fe1be46a994272793"
        );
    }
}
