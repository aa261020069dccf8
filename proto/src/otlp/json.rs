//! The OTLP/JSON encoding of `ExportTraceServiceRequest` (OTLP specification, "JSON Protobuf
//! Encoding"): the proto3 JSON mapping except that trace and span ids are hex strings, not
//! base64. Field names are lowerCamelCase (the original snake_case is accepted too, as proto3
//! JSON parsers do); enums are integers (their names are accepted); 64-bit integers are decimal
//! strings or numbers; unknown fields are ignored.
//!
//! Decoding goes through `serde_json::Value`, so an error can name the path at fault.

use serde_json::{Map, Value};

use super::pb::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use super::pb::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use super::pb::resource::v1::Resource;
use super::pb::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};

/// An OTLP/JSON body that does not decode, with the path of the member at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct JsonError {
    /// Where, e.g. `resourceSpans[0].scopeSpans[1].spans[3].traceId`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

type R<T> = Result<T, JsonError>;

fn err<T>(path: &str, message: impl Into<String>) -> R<T> {
    Err(JsonError {
        path: path.to_owned(),
        message: message.into(),
    })
}

/// Decodes an OTLP/JSON export request.
pub fn decode_request(body: &[u8]) -> R<ExportTraceServiceRequest> {
    let v: Value = serde_json::from_slice(body).map_err(|e| JsonError {
        path: "$".into(),
        message: format!("not JSON: {e}"),
    })?;
    let o = obj(&v, "$")?;
    Ok(ExportTraceServiceRequest {
        resource_spans: list(o, "$", "resourceSpans", "resource_spans", resource_spans)?,
    })
}

/// Encodes an export response as OTLP/JSON.
pub fn encode_response(r: &ExportTraceServiceResponse) -> Vec<u8> {
    let mut o = Map::new();
    if let Some(p) = &r.partial_success {
        let mut ps = Map::new();
        if p.rejected_spans != 0 {
            ps.insert(
                "rejectedSpans".into(),
                Value::String(p.rejected_spans.to_string()),
            );
        }
        if !p.error_message.is_empty() {
            ps.insert(
                "errorMessage".into(),
                Value::String(p.error_message.clone()),
            );
        }
        o.insert("partialSuccess".into(), Value::Object(ps));
    }
    serde_json::to_vec(&Value::Object(o)).unwrap_or_default()
}

fn obj<'a>(v: &'a Value, path: &str) -> R<&'a Map<String, Value>> {
    v.as_object()
        .map_or_else(|| err(path, "expected an object"), Ok)
}

fn field<'a>(o: &'a Map<String, Value>, camel: &str, snake: &str) -> Option<&'a Value> {
    o.get(camel)
        .or_else(|| o.get(snake))
        .filter(|v| !v.is_null())
}

fn list<T>(
    o: &Map<String, Value>,
    path: &str,
    camel: &str,
    snake: &str,
    item: impl Fn(&Value, &str) -> R<T>,
) -> R<Vec<T>> {
    let Some(v) = field(o, camel, snake) else {
        return Ok(Vec::new());
    };
    let p = format!("{path}.{camel}");
    let Some(arr) = v.as_array() else {
        return err(&p, "expected an array");
    };
    arr.iter()
        .enumerate()
        .map(|(i, x)| item(x, &format!("{p}[{i}]")))
        .collect()
}

fn string(o: &Map<String, Value>, path: &str, camel: &str, snake: &str) -> R<String> {
    match field(o, camel, snake) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => err(&format!("{path}.{camel}"), "expected a string"),
    }
}

fn uint(o: &Map<String, Value>, path: &str, camel: &str, snake: &str) -> R<u64> {
    let p = || format!("{path}.{camel}");
    match field(o, camel, snake) {
        None => Ok(0),
        Some(Value::String(s)) => s
            .parse()
            .or_else(|_| err(&p(), format!("{s:?} is not an unsigned integer"))),
        Some(Value::Number(n)) => n
            .as_u64()
            .map_or_else(|| err(&p(), format!("{n} is not an unsigned integer")), Ok),
        Some(_) => err(&p(), "expected an integer"),
    }
}

fn int(v: &Value, path: &str) -> R<i64> {
    match v {
        Value::String(s) => s
            .parse()
            .or_else(|_| err(path, format!("{s:?} is not an integer"))),
        Value::Number(n) => n
            .as_i64()
            .map_or_else(|| err(path, format!("{n} is not an integer")), Ok),
        _ => err(path, "expected an integer"),
    }
}

fn enumeration(
    o: &Map<String, Value>,
    path: &str,
    camel: &str,
    snake: &str,
    by_name: impl Fn(&str) -> Option<i32>,
) -> R<i32> {
    let p = format!("{path}.{camel}");
    match field(o, camel, snake) {
        None => Ok(0),
        Some(Value::String(s)) => {
            by_name(s).map_or_else(|| err(&p, format!("{s:?} is not a known value")), Ok)
        }
        Some(v) => i32::try_from(int(v, &p)?).or_else(|_| err(&p, "out of range")),
    }
}

fn hex_id(o: &Map<String, Value>, path: &str, camel: &str, snake: &str) -> R<Vec<u8>> {
    let p = format!("{path}.{camel}");
    match field(o, camel, snake) {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => {
            if s.len() % 2 != 0 {
                return err(&p, format!("{s:?} is not hex: odd length"));
            }
            (0..s.len())
                .step_by(2)
                .map(|i| {
                    s.get(i..i + 2)
                        .and_then(|b| u8::from_str_radix(b, 16).ok())
                        .map_or_else(|| err(&p, format!("{s:?} is not hex")), Ok)
                })
                .collect()
        }
        Some(_) => err(&p, "expected a hex string"),
    }
}

fn base64(s: &str, path: &str) -> R<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        })
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let v = val(c).map_or_else(|| err(path, format!("{s:?} is not base64")), Ok)?;
            acc |= v << (18 - 6 * i);
        }
        let n = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return err(path, format!("{s:?} is not base64")),
        };
        out.extend_from_slice(&acc.to_be_bytes()[1..=n]);
    }
    Ok(out)
}

fn resource_spans(v: &Value, path: &str) -> R<ResourceSpans> {
    let o = obj(v, path)?;
    let resource = match field(o, "resource", "resource") {
        None => None,
        Some(r) => {
            let p = format!("{path}.resource");
            let ro = obj(r, &p)?;
            Some(Resource {
                attributes: list(ro, &p, "attributes", "attributes", key_value)?,
                dropped_attributes_count: count(ro, &p)?,
                ..Resource::default()
            })
        }
    };
    Ok(ResourceSpans {
        resource,
        scope_spans: list(o, path, "scopeSpans", "scope_spans", scope_spans)?,
        schema_url: string(o, path, "schemaUrl", "schema_url")?,
    })
}

fn count(o: &Map<String, Value>, path: &str) -> R<u32> {
    let n = uint(
        o,
        path,
        "droppedAttributesCount",
        "dropped_attributes_count",
    )?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

fn scope_spans(v: &Value, path: &str) -> R<ScopeSpans> {
    let o = obj(v, path)?;
    let scope = match field(o, "scope", "scope") {
        None => None,
        Some(s) => {
            let p = format!("{path}.scope");
            let so = obj(s, &p)?;
            Some(InstrumentationScope {
                name: string(so, &p, "name", "name")?,
                version: string(so, &p, "version", "version")?,
                attributes: list(so, &p, "attributes", "attributes", key_value)?,
                dropped_attributes_count: count(so, &p)?,
            })
        }
    };
    Ok(ScopeSpans {
        scope,
        spans: list(o, path, "spans", "spans", span)?,
        schema_url: string(o, path, "schemaUrl", "schema_url")?,
    })
}

fn span_kind(name: &str) -> Option<i32> {
    span::SpanKind::from_str_name(name).map(|k| k as i32)
}

fn span(v: &Value, path: &str) -> R<Span> {
    let o = obj(v, path)?;
    let status = match field(o, "status", "status") {
        None => None,
        Some(s) => {
            let p = format!("{path}.status");
            let so = obj(s, &p)?;
            Some(Status {
                message: string(so, &p, "message", "message")?,
                code: enumeration(so, &p, "code", "code", |n| {
                    super::pb::trace::v1::status::StatusCode::from_str_name(n).map(|c| c as i32)
                })?,
            })
        }
    };
    let u32_field = |camel: &str, snake: &str| -> R<u32> {
        Ok(u32::try_from(uint(o, path, camel, snake)?).unwrap_or(u32::MAX))
    };
    Ok(Span {
        trace_id: hex_id(o, path, "traceId", "trace_id")?,
        span_id: hex_id(o, path, "spanId", "span_id")?,
        trace_state: string(o, path, "traceState", "trace_state")?,
        parent_span_id: hex_id(o, path, "parentSpanId", "parent_span_id")?,
        flags: u32_field("flags", "flags")?,
        name: string(o, path, "name", "name")?,
        kind: enumeration(o, path, "kind", "kind", span_kind)?,
        start_time_unix_nano: uint(o, path, "startTimeUnixNano", "start_time_unix_nano")?,
        end_time_unix_nano: uint(o, path, "endTimeUnixNano", "end_time_unix_nano")?,
        attributes: list(o, path, "attributes", "attributes", key_value)?,
        dropped_attributes_count: count(o, path)?,
        events: list(o, path, "events", "events", |v, p| {
            let eo = obj(v, p)?;
            Ok(span::Event {
                time_unix_nano: uint(eo, p, "timeUnixNano", "time_unix_nano")?,
                name: string(eo, p, "name", "name")?,
                attributes: list(eo, p, "attributes", "attributes", key_value)?,
                dropped_attributes_count: count(eo, p)?,
            })
        })?,
        dropped_events_count: u32_field("droppedEventsCount", "dropped_events_count")?,
        links: list(o, path, "links", "links", |v, p| {
            let lo = obj(v, p)?;
            Ok(span::Link {
                trace_id: hex_id(lo, p, "traceId", "trace_id")?,
                span_id: hex_id(lo, p, "spanId", "span_id")?,
                trace_state: string(lo, p, "traceState", "trace_state")?,
                attributes: list(lo, p, "attributes", "attributes", key_value)?,
                dropped_attributes_count: count(lo, p)?,
                flags: u32::try_from(uint(lo, p, "flags", "flags")?).unwrap_or(u32::MAX),
            })
        })?,
        dropped_links_count: u32_field("droppedLinksCount", "dropped_links_count")?,
        status,
    })
}

fn key_value(v: &Value, path: &str) -> R<KeyValue> {
    let o = obj(v, path)?;
    let value = match field(o, "value", "value") {
        None => None,
        Some(v) => Some(any_value(v, &format!("{path}.value"))?),
    };
    Ok(KeyValue {
        key: string(o, path, "key", "key")?,
        value,
        ..KeyValue::default()
    })
}

fn any_value(v: &Value, path: &str) -> R<AnyValue> {
    use any_value::Value as V;
    let o = obj(v, path)?;
    let Some((k, x)) = o.iter().find(|(_, x)| !x.is_null()) else {
        return Ok(AnyValue { value: None });
    };
    let p = format!("{path}.{k}");
    let value = match k.as_str() {
        "stringValue" | "string_value" => match x {
            Value::String(s) => V::StringValue(s.clone()),
            _ => return err(&p, "expected a string"),
        },
        "boolValue" | "bool_value" => match x {
            Value::Bool(b) => V::BoolValue(*b),
            _ => return err(&p, "expected a bool"),
        },
        "intValue" | "int_value" => V::IntValue(int(x, &p)?),
        "doubleValue" | "double_value" => match x {
            Value::Number(n) => V::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => V::DoubleValue(match s.as_str() {
                "NaN" => f64::NAN,
                "Infinity" => f64::INFINITY,
                "-Infinity" => f64::NEG_INFINITY,
                other => other
                    .parse()
                    .or_else(|_| err(&p, format!("{other:?} is not a number")))?,
            }),
            _ => return err(&p, "expected a number"),
        },
        "bytesValue" | "bytes_value" => match x {
            Value::String(s) => V::BytesValue(base64(s, &p)?),
            _ => return err(&p, "expected a base64 string"),
        },
        "arrayValue" | "array_value" => {
            let ao = obj(x, &p)?;
            V::ArrayValue(ArrayValue {
                values: list(ao, &p, "values", "values", any_value)?,
            })
        }
        "kvlistValue" | "kvlist_value" => {
            let lo = obj(x, &p)?;
            V::KvlistValue(KeyValueList {
                values: list(lo, &p, "values", "values", key_value)?,
            })
        }
        other => return err(&p, format!("unknown AnyValue member {other:?}")),
    };
    Ok(AnyValue { value: Some(value) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_specification_example() {
        // The shape of the OTLP specification's trace example (hex ids, string int64s).
        let body = br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"my.service"}}]},
          "scopeSpans":[{"scope":{"name":"my.library","version":"1.0.0","attributes":[{"key":"my.scope.attribute","value":{"stringValue":"some scope attribute"}}]},
          "spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174","parentSpanId":"EEE19B7EC3C1B173",
            "name":"I'm a server span","startTimeUnixNano":"1544712660000000000","endTimeUnixNano":1544712661000000000,"kind":2,
            "attributes":[{"key":"my.span.attr","value":{"stringValue":"some value"}},{"key":"n","value":{"intValue":"42"}},
              {"key":"d","value":{"doubleValue":1.5}},{"key":"b","value":{"bytesValue":"AQID"}},
              {"key":"arr","value":{"arrayValue":{"values":[{"boolValue":true}]}}}],
            "status":{"code":"STATUS_CODE_ERROR","message":"boom"}}]}]}]}"#;
        let req = decode_request(body).unwrap();
        let s = &req.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(s.trace_id.len(), 16);
        assert_eq!(s.trace_id[0], 0x5b);
        assert_eq!(s.span_id, [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74]);
        assert_eq!(s.start_time_unix_nano, 1_544_712_660_000_000_000);
        assert_eq!(s.end_time_unix_nano, 1_544_712_661_000_000_000);
        assert_eq!(s.kind, 2);
        assert_eq!(s.status.as_ref().unwrap().code, 2);
        assert_eq!(
            s.attributes[1].value.as_ref().unwrap().value,
            Some(any_value::Value::IntValue(42))
        );
        assert_eq!(
            s.attributes[3].value.as_ref().unwrap().value,
            Some(any_value::Value::BytesValue(vec![1, 2, 3]))
        );
    }

    #[test]
    fn errors_name_the_member() {
        let e =
            decode_request(br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}"#)
                .unwrap_err();
        assert_eq!(e.path, "$.resourceSpans[0].scopeSpans[0].spans[0].traceId");
        let e = decode_request(b"{").unwrap_err();
        assert_eq!(e.path, "$");
        let e = decode_request(br#"{"resourceSpans":{}}"#).unwrap_err();
        assert_eq!(e.to_string(), "$.resourceSpans: expected an array");
    }

    #[test]
    fn snake_case_and_empty_are_accepted() {
        let req = decode_request(
            br#"{"resource_spans":[{"scope_spans":[{"spans":[{"span_id":"0102030405060708"}]}]}]}"#,
        )
        .unwrap();
        assert_eq!(
            req.resource_spans[0].scope_spans[0].spans[0].span_id.len(),
            8
        );
        assert!(decode_request(b"{}").unwrap().resource_spans.is_empty());
    }
}
