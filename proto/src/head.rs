//! The cheap parse: only the members routing needs, borrowed from the input.
//!
//! The daemon and the collector's ingest path need a document's ids, name, kind and times to
//! route and index it; building the whole [`crate::segment::Segment`] for that is wasted work.
//! [`SegmentHead::parse`] reads the top-level members it names and skips every other value
//! (including the `subsegments` tree) without allocating, except for strings that contain JSON
//! escapes. It checks that the input is well-formed JSON, not that the document is valid.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer};

use crate::segment::Key;

/// `Option<Cow<str>>` that borrows: serde's `borrow` attribute does not reach through `Option`.
fn borrowed<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    Ok(Option::<Key<'de>>::deserialize(d)?.map(|k| k.0))
}

/// The routing members of a segment document.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct SegmentHead<'a> {
    /// `id`.
    #[serde(borrow, default, deserialize_with = "borrowed")]
    pub id: Option<Cow<'a, str>>,
    /// `trace_id`.
    #[serde(borrow, default, deserialize_with = "borrowed")]
    pub trace_id: Option<Cow<'a, str>>,
    /// `parent_id`.
    #[serde(borrow, default, deserialize_with = "borrowed")]
    pub parent_id: Option<Cow<'a, str>>,
    /// `type` (`subsegment` for independent subsegments).
    #[serde(borrow, default, rename = "type", deserialize_with = "borrowed")]
    pub kind: Option<Cow<'a, str>>,
    /// `name`.
    #[serde(borrow, default, deserialize_with = "borrowed")]
    pub name: Option<Cow<'a, str>>,
    /// `start_time`, epoch seconds.
    #[serde(default)]
    pub start_time: Option<f64>,
    /// `end_time`, epoch seconds.
    #[serde(default)]
    pub end_time: Option<f64>,
    /// `in_progress`.
    #[serde(default)]
    pub in_progress: Option<bool>,
}

impl<'a> SegmentHead<'a> {
    /// Reads the routing members of `doc`.
    pub fn parse(doc: &'a str) -> Result<SegmentHead<'a>, serde_json::Error> {
        serde_json::from_str(doc)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_routing_members_and_skips_the_rest() {
        let doc = r#"{"id":"9cb6b2c613c3c8e6","name":"sub\u0030","start_time":1795795172.5117192,
            "parent_id":"2466ae7e12a3cc6a","in_progress":false,"trace_id":"1-6b09a8e4-5b96a508acf0bf936fb8a414",
            "type":"subsegment","subsegments":[{"id":"x","name":"y"}],"end_time":1795795172.5117366}"#;
        let h = SegmentHead::parse(doc).unwrap();
        assert_eq!(h.id.as_deref(), Some("9cb6b2c613c3c8e6"));
        assert_eq!(h.name.as_deref(), Some("sub0"));
        assert!(matches!(h.id, Some(Cow::Borrowed(_))));
        assert!(h.is_subsegment());
        assert!(!h.is_in_progress());
        assert_eq!(h.end_time, Some(1_795_795_172.511_736_6));
    }
}
