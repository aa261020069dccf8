//! The `X-Amzn-Trace-Id` header (and Lambda's `_X_AMZN_TRACE_ID` variable, which has the same
//! grammar).
//!
//! `Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=...`
//!
//! Parsing follows the most tolerant of the SDKs (Node) so that nothing a real producer sends is
//! lost: parts are split on `;` and trimmed, empty parts and parts without `=` are skipped (a
//! trailing `;`, as Java writes, is fine), the well-known keys match case-insensitively, the value
//! is everything after the first `=`, and unknown keys are kept in order so they can be passed on
//! downstream. `Self` (added by load balancers) and `Lineage` (added by Lambda) are kept verbatim.

use std::fmt;

use crate::ids::{EntityId, IdError, TraceId};

/// The header's name as it is written on the wire.
pub const HEADER_NAME: &str = "X-Amzn-Trace-Id";
/// The environment variable Lambda sets for each invocation.
pub const LAMBDA_ENV_VAR: &str = "_X_AMZN_TRACE_ID";

/// The upstream sampling decision carried in `Sampled=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sampled {
    /// `Sampled=1`: trace this request.
    Yes,
    /// `Sampled=0`: do not trace it.
    No,
    /// `Sampled=?`: decide here and report the decision in the response header.
    Requested,
}

impl Sampled {
    /// The header value: `1`, `0` or `?`.
    pub fn as_str(self) -> &'static str {
        match self {
            Sampled::Yes => "1",
            Sampled::No => "0",
            Sampled::Requested => "?",
        }
    }

    fn parse(v: &str) -> Option<Sampled> {
        match v {
            "1" => Some(Sampled::Yes),
            "0" => Some(Sampled::No),
            "?" => Some(Sampled::Requested),
            _ => None,
        }
    }
}

/// A header value that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// `Root=` does not hold a valid trace id.
    #[error("trace header: invalid Root {value:?}: {source}")]
    Root {
        /// The value as received.
        value: String,
        /// What is wrong with it.
        source: IdError,
    },
    /// `Parent=` does not hold a valid entity id.
    #[error("trace header: invalid Parent {value:?}: {source}")]
    Parent {
        /// The value as received.
        value: String,
        /// What is wrong with it.
        source: IdError,
    },
    /// `Sampled=` is not `0`, `1` or `?`.
    #[error("trace header: invalid Sampled {0:?}; expected 0, 1 or ?")]
    Sampled(String),
}

/// A parsed `X-Amzn-Trace-Id` value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceHeader {
    /// `Root`: the trace id.
    pub root: Option<TraceId>,
    /// `Parent`: the id of the calling (sub)segment.
    pub parent: Option<EntityId>,
    /// `Sampled`: the upstream decision.
    pub sampled: Option<Sampled>,
    /// `Self`: set by Application Load Balancers; opaque to us.
    pub self_id: Option<String>,
    /// `Lineage`: set by Lambda and other AWS services; opaque.
    pub lineage: Option<String>,
    /// Every other `key=value` pair, in arrival order.
    pub extra: Vec<(String, String)>,
}

impl TraceHeader {
    /// A header for a new trace or a downstream call.
    pub fn new(root: TraceId, parent: Option<EntityId>, sampled: Option<Sampled>) -> TraceHeader {
        TraceHeader {
            root: Some(root),
            parent,
            sampled,
            ..TraceHeader::default()
        }
    }

    /// Parses a header value. Malformed `Root`, `Parent` or `Sampled` values are errors so the
    /// caller can decide to start a new trace; everything else is tolerated.
    pub fn parse(value: &str) -> Result<TraceHeader, HeaderError> {
        let mut h = TraceHeader::default();
        for part in value.split(';') {
            let part = part.trim();
            let Some((key, val)) = part.split_once('=') else {
                continue; // empty part (trailing `;`) or no `=`: skipped, as Node, Go and Java do
            };
            let key = key.trim();
            let val = val.trim();
            if key.eq_ignore_ascii_case("Root") {
                h.root = Some(TraceId::parse(val).map_err(|source| HeaderError::Root {
                    value: val.to_owned(),
                    source,
                })?);
            } else if key.eq_ignore_ascii_case("Parent") {
                h.parent = Some(EntityId::parse(val).map_err(|source| HeaderError::Parent {
                    value: val.to_owned(),
                    source,
                })?);
            } else if key.eq_ignore_ascii_case("Sampled") {
                h.sampled =
                    Some(Sampled::parse(val).ok_or_else(|| HeaderError::Sampled(val.to_owned()))?);
            } else if key.eq_ignore_ascii_case("Self") {
                h.self_id = Some(val.to_owned());
            } else if key.eq_ignore_ascii_case("Lineage") {
                h.lineage = Some(val.to_owned());
            } else if !key.is_empty() {
                h.extra.push((key.to_owned(), val.to_owned()));
            }
        }
        Ok(h)
    }

    /// The value for an outgoing request: this header with `Parent` replaced by the id of the
    /// subsegment that represents the call. `Self` is dropped (it belongs to the hop that set
    /// it); `Lineage` and unknown keys are passed on.
    pub fn for_downstream(&self, parent: EntityId, sampled: Sampled) -> TraceHeader {
        TraceHeader {
            root: self.root,
            parent: Some(parent),
            sampled: Some(sampled),
            self_id: None,
            lineage: self.lineage.clone(),
            extra: self.extra.clone(),
        }
    }
}

impl fmt::Display for TraceHeader {
    /// `Root=...;Parent=...;Sampled=...;Self=...;Lineage=...;k=v`, omitting absent parts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        let mut field = |f: &mut fmt::Formatter<'_>, k: &str, v: &dyn fmt::Display| {
            let r = write!(f, "{sep}{k}={v}");
            sep = ";";
            r
        };
        if let Some(root) = self.root {
            field(f, "Root", &root)?;
        }
        if let Some(parent) = self.parent {
            field(f, "Parent", &parent)?;
        }
        if let Some(s) = self.sampled {
            field(f, "Sampled", &s.as_str())?;
        }
        if let Some(s) = &self.self_id {
            field(f, "Self", s)?;
        }
        if let Some(l) = &self.lineage {
            field(f, "Lineage", l)?;
        }
        for (k, v) in &self.extra {
            field(f, k, v)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "1-5759e988-bd862e3fe1be46a994272793";

    #[test]
    fn parses_the_documented_forms() {
        let h = TraceHeader::parse(&format!(
            "Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1|68fd508a:5|c512fbe3:2"
        ))
        .unwrap();
        assert_eq!(h.root.unwrap().to_string(), ROOT);
        assert_eq!(h.parent.unwrap().to_string(), "53995c3f42cd8ad8");
        assert_eq!(h.sampled, Some(Sampled::Yes));
        assert_eq!(
            h.lineage.as_deref(),
            Some("a87bd80c:1|68fd508a:5|c512fbe3:2")
        );
    }

    #[test]
    fn tolerates_trailing_semicolon_spaces_and_key_case() {
        let h = TraceHeader::parse(&format!(
            " root={ROOT}; PARENT = 53995c3f42cd8ad8 ;sampled=?;"
        ))
        .unwrap();
        assert_eq!(h.root.unwrap().to_string(), ROOT);
        assert!(h.parent.is_some());
        assert_eq!(h.sampled, Some(Sampled::Requested));
        assert!(h.extra.is_empty());
    }

    #[test]
    fn keeps_self_and_unknown_keys_in_order() {
        let h = TraceHeader::parse(&format!(
            "Self=1-67891234-12456789abcdef012345678;Root={ROOT};CalledFrom=app;x=1=2"
        ))
        .unwrap();
        assert_eq!(
            h.self_id.as_deref(),
            Some("1-67891234-12456789abcdef012345678")
        );
        assert_eq!(
            h.extra,
            vec![
                ("CalledFrom".to_owned(), "app".to_owned()),
                ("x".to_owned(), "1=2".to_owned())
            ]
        );
        assert_eq!(
            h.to_string(),
            format!("Root={ROOT};Self=1-67891234-12456789abcdef012345678;CalledFrom=app;x=1=2")
        );
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(matches!(
            TraceHeader::parse("Root=1-abc"),
            Err(HeaderError::Root { .. })
        ));
        assert!(matches!(
            TraceHeader::parse(&format!("Root={ROOT};Parent=xyz")),
            Err(HeaderError::Parent { .. })
        ));
        assert_eq!(
            TraceHeader::parse(&format!("Root={ROOT};Sampled=yes")),
            Err(HeaderError::Sampled("yes".to_owned()))
        );
    }

    #[test]
    fn downstream_replaces_parent_and_drops_self() {
        let h = TraceHeader::parse(&format!(
            "Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1;Self=x;Lineage=l:1"
        ))
        .unwrap();
        let d = h.for_downstream(EntityId::new(0xabc), Sampled::Yes);
        assert_eq!(
            d.to_string(),
            format!("Root={ROOT};Parent=0000000000000abc;Sampled=1;Lineage=l:1")
        );
    }
}
