//! Property tests: ids and the trace header survive format → parse unchanged.

use fluoro_proto::header::{Sampled, TraceHeader};
use fluoro_proto::ids::{EntityId, TraceId};
use proptest::prelude::*;

fn sampled() -> impl Strategy<Value = Option<Sampled>> {
    prop_oneof![
        Just(None),
        Just(Some(Sampled::Yes)),
        Just(Some(Sampled::No)),
        Just(Some(Sampled::Requested)),
    ]
}

proptest! {
    #[test]
    fn trace_id_text_and_w3c_round_trip(epoch in any::<u32>(), random in any::<u128>()) {
        let id = TraceId::new(epoch, random);
        let text = id.to_string();
        prop_assert_eq!(text.len(), 35);
        prop_assert_eq!(TraceId::parse(&text).unwrap(), id);
        prop_assert_eq!(TraceId::from_w3c(id.to_w3c()), id);
        prop_assert_eq!(TraceId::from_bytes(id.to_bytes()), id);
        prop_assert_eq!(TraceId::from_w3c_hex(&id.to_w3c_hex()).unwrap(), id);
        prop_assert_eq!(id.epoch_secs(), epoch);
    }

    #[test]
    fn any_w3c_id_round_trips(raw in any::<u128>()) {
        let id = TraceId::from_w3c(raw);
        prop_assert_eq!(TraceId::parse(&id.to_string()).unwrap().to_w3c(), raw);
    }

    #[test]
    fn entity_id_round_trips(raw in any::<u64>()) {
        let id = EntityId::new(raw);
        prop_assert_eq!(EntityId::parse(&id.to_string()).unwrap(), id);
        prop_assert_eq!(EntityId::from_bytes(id.to_bytes()), id);
    }

    #[test]
    fn trace_id_parse_never_panics(s in "\\PC{0,40}") {
        let _ = TraceId::parse(&s);
        let _ = EntityId::parse(&s);
    }

    #[test]
    fn header_round_trips(
        epoch in any::<u32>(), random in any::<u128>(),
        parent in proptest::option::of(any::<u64>()),
        sampled in sampled(),
        lineage in proptest::option::of("[0-9a-f]{8}:[0-9]{1,2}(\\|[0-9a-f]{8}:[0-9])?"),
        extra in proptest::collection::vec(("[A-Za-z][A-Za-z0-9_]{0,10}", "[A-Za-z0-9_.:|-]{0,12}"), 0..3),
    ) {
        let extra: Vec<(String, String)> = extra
            .into_iter()
            .filter(|(k, _)| !["root", "parent", "sampled", "self", "lineage"].contains(&k.to_ascii_lowercase().as_str()))
            .collect();
        let h = TraceHeader {
            root: Some(TraceId::new(epoch, random)),
            parent: parent.map(EntityId::new),
            sampled,
            self_id: None,
            lineage,
            extra,
        };
        let text = h.to_string();
        let parsed = TraceHeader::parse(&text).unwrap();
        prop_assert_eq!(&parsed, &h);
        // Spaces around parts and a trailing `;` (Java) change nothing.
        let spaced = format!(" {} ;", text.replace(';', " ; "));
        prop_assert_eq!(TraceHeader::parse(&spaced).unwrap(), h);
    }

    #[test]
    fn header_parse_never_panics(s in "\\PC{0,120}") {
        let _ = TraceHeader::parse(&s);
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        // Strings full of the bytes a scanner trips on: quotes, backslashes, brackets.
        "[a-z\"\\\\{}\\[\\] é\u{1F600}]{0,70}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map("[a-z_\"\\\\]{0,8}", inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    /// The head scanner reads the same members serde_json does, whatever surrounds them.
    #[test]
    fn head_parse_agrees_with_serde(
        id in "[a-z0-9\"\\\\]{0,20}",
        name in "\\PC{0,30}",
        start in proptest::option::of(0f64..2e9),
        in_progress in proptest::option::of(any::<bool>()),
        noise in proptest::collection::vec(("[a-z]{1,6}", json_value()), 0..5),
        pretty in any::<bool>(),
    ) {
        use fluoro_proto::head::SegmentHead;
        let mut obj = serde_json::Map::new();
        for (k, v) in noise {
            obj.insert(format!("x_{k}"), v);
        }
        obj.insert("id".into(), id.clone().into());
        obj.insert("name".into(), name.clone().into());
        if let Some(s) = start {
            obj.insert("start_time".into(), s.into());
        }
        if let Some(p) = in_progress {
            obj.insert("in_progress".into(), p.into());
        }
        let v = serde_json::Value::Object(obj);
        let doc = if pretty { serde_json::to_string_pretty(&v).unwrap() } else { v.to_string() };
        let h = SegmentHead::parse(&doc).unwrap();
        prop_assert_eq!(h.id.as_deref(), Some(id.as_str()));
        prop_assert_eq!(h.name.as_deref(), Some(name.as_str()));
        prop_assert_eq!(h.start_time, start);
        prop_assert_eq!(h.in_progress, in_progress);
    }

    #[test]
    fn head_parse_never_panics(s in "[{}\\[\\]\":,a-z0-9\\\\ .-]{0,80}") {
        let _ = fluoro_proto::head::SegmentHead::parse(&s);
    }
}
