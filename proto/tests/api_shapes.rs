//! Black-box tests of `fluoro_proto::api` against the X-Ray API reference in
//! `../shared/spec/xray-api.md` and `xray-wire.md`:
//!
//! - every shape of the §2.4 dictionary and every operation input/output of §2.3 that we model is
//!   generated from the spec text with every member set, deserialized into our type, serialized
//!   back and compared (catches a wrong member name, a member we drop, and an integer modeled as a
//!   float or the reverse);
//! - the JSON examples of the spec round-trip unchanged;
//! - encoding rules (integers, omitted optionals, timestamps, `Attributes: {}`), every
//!   `validate()` error message, the error body and the routing table.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use fluoro_proto::api::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

// =============================================================================================
// Helpers

/// Reads a spec file from `$FLUORO_SPEC`, else from `spec/` beside `$FLUORO_FIXTURES` (which
/// `scripts/test` sets), else from `../shared/spec` beside the checkout.
fn spec(name: &str) -> String {
    let dir = match (
        std::env::var_os("FLUORO_SPEC"),
        std::env::var_os("FLUORO_FIXTURES"),
    ) {
        (Some(spec), _) => PathBuf::from(spec),
        (None, Some(fixtures)) => PathBuf::from(fixtures).join("..").join("spec"),
        (None, None) => [env!("CARGO_MANIFEST_DIR"), "..", "..", "shared", "spec"]
            .iter()
            .collect(),
    };
    let path = dir.join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the spec at {}: {e}", path.display()))
}

/// Timestamp members: an integer in the input may come back as the same value written as a
/// float (we always write timestamps as floats, as AWS does).
const TIMESTAMP_MEMBERS: &[&str] = &[
    "StartTime",
    "EndTime",
    "Timestamp",
    "CreatedAt",
    "ModifiedAt",
    "ApproximateTime",
    "MatchedEventTime",
    "ReservoirQuotaTTL",
    "LastRuleModification",
    "BoostRateTTL",
];

/// Compares `ours` with `original`; differences are collected with their JSON path. Numbers must
/// match exactly (an integer stays an integer) except timestamps, see [`TIMESTAMP_MEMBERS`].
fn diff(path: &str, key: &str, original: &Value, ours: &Value, out: &mut Vec<String>) {
    match (original, ours) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                let p = format!("{path}.{k}");
                match b.get(k) {
                    Some(vb) => diff(&p, k, va, vb, out),
                    None => out.push(format!("{p}: lost")),
                }
            }
            for k in b.keys().filter(|k| !a.contains_key(*k)) {
                out.push(format!("{path}.{k}: added ({})", b[k]));
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (va, vb)) in a.iter().zip(b).enumerate() {
                diff(&format!("{path}[{i}]"), key, va, vb, out);
            }
        }
        (Value::Number(a), Value::Number(b))
            if a != b
                && TIMESTAMP_MEMBERS.contains(&key)
                && !a.is_f64()
                && b.is_f64()
                && a.as_f64() == b.as_f64() => {}
        (a, b) if a == b => {}
        (a, b) => out.push(format!("{path}: {a} became {b}")),
    }
}

fn assert_same(original: &Value, ours: &Value) {
    let mut out = Vec::new();
    diff("$", "", original, ours, &mut out);
    assert!(
        out.is_empty(),
        "round trip changed the JSON:\n  {}",
        out.join("\n  ")
    );
}

/// Deserializes `json` into `T`, serializes it back and returns the result.
fn rt<T: DeserializeOwned + Serialize>(json: &Value) -> Result<Value, String> {
    let typed: T = serde_json::from_value(json.clone()).map_err(|e| e.to_string())?;
    serde_json::to_value(&typed).map_err(|e| e.to_string())
}

/// Round-trips `json` through `T` and asserts nothing was lost or added.
#[track_caller]
fn check<T: DeserializeOwned + Serialize>(json: &Value) -> T {
    let back = rt::<T>(json).unwrap_or_else(|e| panic!("does not deserialize: {e}\n{json}"));
    assert_same(json, &back);
    serde_json::from_value(json.clone()).unwrap()
}

fn find_nulls(path: &str, v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Null => out.push(path.to_owned()),
        Value::Object(m) => m
            .iter()
            .for_each(|(k, v)| find_nulls(&format!("{path}.{k}"), v, out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| find_nulls(&format!("{path}[{i}]"), v, out)),
        _ => {}
    }
}

// =============================================================================================
// The shape registry: spec shape name -> our type.

type RoundTrip = fn(&Value) -> Result<Value, String>;

macro_rules! registry {
    ($($name:literal => $ty:ty),* $(,)?) => {
        vec![$(($name, rt::<$ty> as RoundTrip)),*]
    };
}

fn registry() -> BTreeMap<&'static str, RoundTrip> {
    let shapes: Vec<(&str, RoundTrip)> = registry![
        // §2.4 dictionary
        "Alias" => Alias,
        "AnnotationValue" => AnnotationValue,
        "AvailabilityZoneDetail" => AvailabilityZoneDetail,
        "BackendConnectionErrors" => BackendConnectionErrors,
        "Edge" => Edge,
        "EdgeStatistics" => EdgeStatistics,
        "EncryptionConfig" => EncryptionConfig,
        "ErrorRootCause" => ErrorRootCause,
        "ErrorRootCauseEntity" => ErrorRootCauseEntity,
        "ErrorRootCauseService" => ErrorRootCauseService,
        "ErrorStatistics" => ErrorStatistics,
        "FaultRootCause" => FaultRootCause,
        "FaultRootCauseEntity" => FaultRootCauseEntity,
        "FaultRootCauseService" => FaultRootCauseService,
        "FaultStatistics" => FaultStatistics,
        "ForecastStatistics" => ForecastStatistics,
        "Group" => Group,
        "GroupSummary" => GroupSummary,
        "HistogramEntry" => HistogramEntry,
        "Http" => Http,
        "InsightsConfiguration" => InsightsConfiguration,
        "InstanceIdDetail" => InstanceIdDetail,
        "ResourceARNDetail" => ResourceArnDetail,
        "ResponseTimeRootCause" => ResponseTimeRootCause,
        "ResponseTimeRootCauseEntity" => ResponseTimeRootCauseEntity,
        "ResponseTimeRootCauseService" => ResponseTimeRootCauseService,
        "RootCauseException" => RootCauseException,
        "SamplingBoost" => SamplingBoost,
        "SamplingBoostStatisticsDocument" => SamplingBoostStatisticsDocument,
        "SamplingRateBoost" => SamplingRateBoost,
        "SamplingRule" => SamplingRule,
        "SamplingRuleRecord" => SamplingRuleRecord,
        "SamplingRuleUpdate" => SamplingRuleUpdate,
        "SamplingStatisticSummary" => SamplingStatisticSummary,
        "SamplingStatisticsDocument" => SamplingStatisticsDocument,
        "SamplingStrategy" => SamplingStrategy,
        "SamplingTargetDocument" => SamplingTargetDocument,
        "Segment" => Segment,
        "Service" => Service,
        "ServiceId" => ServiceId,
        "ServiceStatistics" => ServiceStatistics,
        "Tag" => Tag,
        "TelemetryRecord" => TelemetryRecord,
        "TimeSeriesServiceStatistics" => TimeSeriesServiceStatistics,
        "Trace" => Trace,
        "TraceSummary" => TraceSummary,
        "TraceUser" => TraceUser,
        "UnprocessedStatistics" => UnprocessedStatistics,
        "UnprocessedTraceSegment" => UnprocessedTraceSegment,
        "ValueWithServiceIds" => ValueWithServiceIds,
        // §2.3 operation inputs and outputs
        "BatchGetTracesRequest" => BatchGetTracesRequest,
        "BatchGetTracesResult" => BatchGetTracesResponse,
        "CreateGroupRequest" => CreateGroupRequest,
        "CreateGroupResult" => CreateGroupResponse,
        "CreateSamplingRuleRequest" => CreateSamplingRuleRequest,
        "CreateSamplingRuleResult" => CreateSamplingRuleResponse,
        "DeleteGroupRequest" => DeleteGroupRequest,
        "DeleteGroupResult" => DeleteGroupResponse,
        "DeleteSamplingRuleRequest" => DeleteSamplingRuleRequest,
        "DeleteSamplingRuleResult" => DeleteSamplingRuleResponse,
        "GetEncryptionConfigRequest" => GetEncryptionConfigRequest,
        "GetEncryptionConfigResult" => GetEncryptionConfigResponse,
        "GetGroupRequest" => GetGroupRequest,
        "GetGroupResult" => GetGroupResponse,
        "GetGroupsRequest" => GetGroupsRequest,
        "GetGroupsResult" => GetGroupsResponse,
        "GetSamplingRulesRequest" => GetSamplingRulesRequest,
        "GetSamplingRulesResult" => GetSamplingRulesResponse,
        "GetSamplingStatisticSummariesRequest" => GetSamplingStatisticSummariesRequest,
        "GetSamplingStatisticSummariesResult" => GetSamplingStatisticSummariesResponse,
        "GetSamplingTargetsRequest" => GetSamplingTargetsRequest,
        "GetSamplingTargetsResult" => GetSamplingTargetsResponse,
        "GetServiceGraphRequest" => GetServiceGraphRequest,
        "GetServiceGraphResult" => GetServiceGraphResponse,
        "GetTimeSeriesServiceStatisticsRequest" => GetTimeSeriesServiceStatisticsRequest,
        "GetTimeSeriesServiceStatisticsResult" => GetTimeSeriesServiceStatisticsResponse,
        "GetTraceGraphRequest" => GetTraceGraphRequest,
        "GetTraceGraphResult" => GetTraceGraphResponse,
        "GetTraceSegmentDestinationRequest" => GetTraceSegmentDestinationRequest,
        "GetTraceSegmentDestinationResult" => GetTraceSegmentDestinationResponse,
        "GetTraceSummariesRequest" => GetTraceSummariesRequest,
        "GetTraceSummariesResult" => GetTraceSummariesResponse,
        "ListTagsForResourceRequest" => ListTagsForResourceRequest,
        "ListTagsForResourceResponse" => ListTagsForResourceResponse,
        "PutEncryptionConfigRequest" => PutEncryptionConfigRequest,
        "PutEncryptionConfigResult" => PutEncryptionConfigResponse,
        "PutTelemetryRecordsRequest" => PutTelemetryRecordsRequest,
        "PutTelemetryRecordsResult" => PutTelemetryRecordsResponse,
        "PutTraceSegmentsRequest" => PutTraceSegmentsRequest,
        "PutTraceSegmentsResult" => PutTraceSegmentsResponse,
        "TagResourceRequest" => TagResourceRequest,
        "TagResourceResponse" => TagResourceResponse,
        "UntagResourceRequest" => UntagResourceRequest,
        "UntagResourceResponse" => UntagResourceResponse,
        "UpdateGroupRequest" => UpdateGroupRequest,
        "UpdateGroupResult" => UpdateGroupResponse,
        "UpdateSamplingRuleRequest" => UpdateSamplingRuleRequest,
        "UpdateSamplingRuleResult" => UpdateSamplingRuleResponse,
        "UpdateTraceSegmentDestinationRequest" => UpdateTraceSegmentDestinationRequest,
        "UpdateTraceSegmentDestinationResult" => UpdateTraceSegmentDestinationResponse,
    ];
    shapes.into_iter().collect()
}

/// Shapes of the spec we deliberately do not model (insights, indexing rules, trace retrieval,
/// resource policies: features the collector does not offer yet).
const NOT_MODELED_SHAPES: &[&str] = &[
    "AnomalousService",
    "GraphLink",
    "IndexingRule",
    "IndexingRuleValue",
    "IndexingRuleValueUpdate",
    "Insight",
    "InsightEvent",
    "InsightImpactGraphEdge",
    "InsightImpactGraphService",
    "InsightSummary",
    "ProbabilisticRuleValue",
    "ProbabilisticRuleValueUpdate",
    "RequestImpactStatistics",
    "ResourcePolicy",
    "RetrievedService",
    "RetrievedTrace",
    "Span",
];

/// Operations whose shapes we do not model (only routed, see `Operation`).
const NOT_MODELED_OPERATIONS: &[&str] = &[
    "CancelTraceRetrieval",
    "DeleteResourcePolicy",
    "GetIndexingRules",
    "GetInsight",
    "GetInsightEvents",
    "GetInsightImpactGraph",
    "GetInsightSummaries",
    "GetRetrievedTracesGraph",
    "ListResourcePolicies",
    "ListRetrievedTraces",
    "PutResourcePolicy",
    "StartTraceRetrieval",
    "UpdateIndexingRule",
];

// =============================================================================================
// Reading the shapes out of the spec text.

#[derive(Debug)]
struct Member {
    name: String,
    ty: String,
    required: bool,
}

/// Splits `s` on `sep` outside of backticks, `[...]` constraints, `{...}` enums and `<...>`
/// type arguments (a `<` or `>` inside `[...]`, as in `[<=5]`, is a comparison, not a bracket).
fn split_top(s: &str, sep: &str) -> Vec<String> {
    let (mut parts, mut cur) = (Vec::new(), String::new());
    let (mut angle, mut square, mut brace, mut tick) = (0i32, 0i32, 0i32, false);
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if !tick && angle == 0 && square == 0 && brace == 0 && rest.starts_with(sep) {
            parts.push(std::mem::take(&mut cur));
            rest = &rest[sep.len()..];
            continue;
        }
        match c {
            '`' => tick = !tick,
            _ if tick => {}
            '[' => square += 1,
            ']' => square -= 1,
            _ if square > 0 => {}
            '{' => brace += 1,
            '}' => brace -= 1,
            '<' => angle += 1,
            '>' => angle -= 1,
            _ => {}
        }
        cur.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if !cur.trim().is_empty() {
        parts.push(cur);
    }
    parts
}

fn parse_members(list: &str) -> Vec<Member> {
    if list.contains("(empty object") || list.contains("(no members)") {
        return Vec::new();
    }
    split_top(list.trim(), "; ")
        .into_iter()
        .map(|m| {
            let m = m.trim();
            let rest = m.strip_prefix('`').expect(m);
            let (name, ty) = rest.split_once("`: ").expect(m);
            let required = ty.contains("**(req)**");
            let ty = ty.replace("**(req)**", "").trim().to_owned();
            Member {
                name: name.to_owned(),
                ty,
                required,
            }
        })
        .collect()
}

/// Shape name -> members, from the §2.4 dictionary and the §2.3 `In`/`Out` lines.
fn spec_shapes() -> BTreeMap<String, Vec<Member>> {
    let text = spec("xray-api.md");
    let mut shapes = BTreeMap::new();
    let dict = text
        .split("### 2.4 Shape dictionary")
        .nth(1)
        .expect("§2.4 present")
        .split("\n---")
        .next()
        .unwrap();
    for line in dict.lines() {
        let Some(rest) = line.strip_prefix("- **") else {
            continue;
        };
        let (name, rest) = rest.split_once("**").unwrap();
        let members = &rest[rest.find('`').unwrap()..];
        shapes.insert(name.to_owned(), parse_members(members));
    }
    let ops = text
        .split("### 2.3 Every operation")
        .nth(1)
        .unwrap()
        .split("### 2.4")
        .next()
        .unwrap();
    for line in ops.lines() {
        let rest = match line
            .strip_prefix("- In (`")
            .or_else(|| line.strip_prefix("- Out (`"))
        {
            Some(rest) => rest,
            None => continue,
        };
        let (name, members) = rest.split_once("`): ").unwrap();
        shapes.insert(name.to_owned(), parse_members(members));
    }
    shapes
}

/// The operations of §2.3 with their input and output shape names.
fn spec_operations() -> Vec<(String, String, String)> {
    let text = spec("xray-api.md");
    let ops = text.split("### 2.3 Every operation").nth(1).unwrap();
    let ops = ops.split("### 2.4").next().unwrap();
    let mut out = Vec::new();
    for block in ops.split("\n#### ").skip(1) {
        let name = block.split_whitespace().next().unwrap().to_owned();
        let shape = |prefix: &str| {
            block
                .lines()
                .find_map(|l| l.strip_prefix(prefix))
                .and_then(|r| r.split('`').next())
                .unwrap()
                .to_owned()
        };
        out.push((name, shape("- In (`"), shape("- Out (`")));
    }
    out
}

/// A JSON value of spec type `ty` with every member set.
fn sample(ty: &str, shapes: &BTreeMap<String, Vec<Member>>) -> Value {
    let ty = ty.trim();
    if let Some(inner) = ty.strip_prefix("list<") {
        let inner = &inner[..matching_close(inner)];
        return Value::Array(vec![sample(inner, shapes)]);
    }
    if let Some(inner) = ty.strip_prefix("map<") {
        let inner = &inner[..matching_close(inner)];
        let kv = split_top(inner, ",");
        return json!({ "k1": sample(&kv[1], shapes) });
    }
    if let Some(variants) = ty.strip_prefix("enum{") {
        let first = variants.split(['|', '}']).next().unwrap();
        return json!(first);
    }
    let base = ty.split(['[', ' ']).next().unwrap();
    match base {
        "string" => json!("s"),
        "integer" | "long" => json!(7),
        "double" => json!(0.25),
        "boolean" => json!(true),
        "timestamp" => json!(1_700_000_000.5),
        shape => sample_shape(shape, shapes),
    }
}

fn sample_shape(shape: &str, shapes: &BTreeMap<String, Vec<Member>>) -> Value {
    let members = shapes
        .get(shape)
        .unwrap_or_else(|| panic!("shape {shape} not in the spec"));
    let mut obj = serde_json::Map::new();
    for m in members {
        obj.insert(m.name.clone(), sample(&m.ty, shapes));
    }
    Value::Object(obj)
}

/// Index of the `>` closing a `list<`/`map<` whose content starts at `s[0]`.
fn matching_close(s: &str) -> usize {
    let (mut depth, mut square) = (1, 0);
    for (i, c) in s.char_indices() {
        match c {
            '[' => square += 1,
            ']' => square -= 1,
            _ if square > 0 => {}
            '<' => depth += 1,
            '>' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced type {s}")
}

// =============================================================================================
// Spec-driven shape tests

#[test]
fn every_spec_shape_is_modeled_or_listed_as_not_modeled() {
    let shapes = spec_shapes();
    let registry = registry();
    let mut missing = Vec::new();
    for name in shapes.keys() {
        let op_shape =
            name.ends_with("Request") || name.ends_with("Result") || name.ends_with("Response");
        let skipped = NOT_MODELED_SHAPES.contains(&name.as_str())
            || (op_shape && NOT_MODELED_OPERATIONS.iter().any(|op| name.starts_with(op)));
        if !registry.contains_key(name.as_str()) && !skipped {
            missing.push(name.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "spec shapes with no Rust type: {missing:?}"
    );
    for name in registry.keys() {
        assert!(
            shapes.contains_key(*name),
            "{name} is registered but not in the spec"
        );
    }
}

#[test]
fn every_member_of_every_modeled_shape_round_trips_with_its_spec_type() {
    let shapes = spec_shapes();
    let mut failures = Vec::new();
    for (name, roundtrip) in registry() {
        let full = sample_shape(name, &shapes);
        match roundtrip(&full) {
            Ok(back) => {
                let mut out = Vec::new();
                diff(name, "", &full, &back, &mut out);
                failures.extend(out);
            }
            Err(e) => failures.push(format!("{name}: {e}\n    input {full}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn requests_without_required_members_accept_an_empty_object() {
    let shapes = spec_shapes();
    let mut checked = 0;
    for (op, input, _) in spec_operations() {
        if NOT_MODELED_OPERATIONS.contains(&op.as_str()) {
            continue;
        }
        if shapes[&input].iter().any(|m| m.required) {
            continue;
        }
        let roundtrip = registry()[input.as_str()];
        let back = roundtrip(&json!({})).unwrap_or_else(|e| panic!("{input} from {{}}: {e}"));
        assert_eq!(back, json!({}), "{input}");
        checked += 1;
    }
    // GetSamplingRules, GetSamplingStatisticSummaries, GetGroups, GetGroup, DeleteGroup,
    // UpdateGroup, DeleteSamplingRule, GetEncryptionConfig, GetTraceSegmentDestination,
    // UpdateTraceSegmentDestination.
    assert_eq!(checked, 10);
    assert_eq!(
        serde_json::from_str::<GetSamplingRulesRequest>("{}").unwrap(),
        GetSamplingRulesRequest::default()
    );
}

#[test]
fn required_members_are_required() {
    let shapes = spec_shapes();
    for (op, input, _) in spec_operations() {
        if NOT_MODELED_OPERATIONS.contains(&op.as_str()) {
            continue;
        }
        let full = sample_shape(&input, &shapes);
        for m in shapes[&input].iter().filter(|m| m.required) {
            let mut partial = full.clone();
            partial.as_object_mut().unwrap().remove(&m.name);
            let roundtrip = registry()[input.as_str()];
            let err = roundtrip(&partial).expect_err(&format!("{input} without {}", m.name));
            assert!(
                err.contains(&format!("missing field `{}`", m.name)),
                "{err}"
            );
        }
    }
}

#[test]
fn requests_tolerate_unknown_members_and_nulls_for_optionals() {
    let r: GetSamplingRulesRequest =
        serde_json::from_str(r#"{"NextToken": null, "Extra": {"x": 1}}"#).unwrap();
    assert_eq!(r, GetSamplingRulesRequest::default());
    let r: GetTraceSummariesRequest = serde_json::from_str(
        r#"{"StartTime": 1, "EndTime": 2, "FilterExpression": null, "SomethingNew": true}"#,
    )
    .unwrap();
    assert_eq!(r.filter_expression, None);
}

#[test]
fn defaults_serialize_without_nulls_and_only_always_written_members() {
    fn members<T: Default + Serialize>() -> Vec<String> {
        let v = serde_json::to_value(T::default()).unwrap();
        let mut nulls = Vec::new();
        find_nulls("$", &v, &mut nulls);
        assert!(nulls.is_empty(), "nulls at {nulls:?}");
        v.as_object().unwrap().keys().cloned().collect()
    }
    assert_eq!(members::<TraceSummary>(), ["Id"]);
    assert_eq!(members::<Service>(), ["Edges", "Names", "ReferenceId"]);
    assert_eq!(
        members::<Edge>(),
        ["Aliases", "ReferenceId", "ResponseTimeHistogram"]
    );
    assert_eq!(
        members::<GetSamplingTargetsResponse>(),
        [
            "LastRuleModification",
            "SamplingTargetDocuments",
            "UnprocessedStatistics"
        ]
    );
    assert_eq!(
        members::<BatchGetTracesResponse>(),
        ["Traces", "UnprocessedTraceIds"]
    );
    assert_eq!(
        members::<PutTraceSegmentsResponse>(),
        ["UnprocessedTraceSegments"]
    );
    assert_eq!(members::<GetServiceGraphResponse>(), ["Services"]);
    assert_eq!(members::<GetTraceSummariesResponse>(), ["TraceSummaries"]);
    assert_eq!(
        members::<GetSamplingRulesResponse>(),
        ["SamplingRuleRecords"]
    );
    assert_eq!(members::<GetGroupsResponse>(), ["Groups"]);
    assert!(members::<Group>().is_empty());
    assert!(members::<Http>().is_empty());
    assert!(members::<TelemetryRecord>() == ["Timestamp"]);
    assert!(members::<DeleteGroupResponse>().is_empty());
    assert!(members::<PutTelemetryRecordsResponse>().is_empty());
    assert!(members::<GetTraceSegmentDestinationResponse>().is_empty());
    assert_eq!(
        serde_json::to_string(&UnprocessedTraceSegment {
            error_code: Some("MissingId".into()),
            message: Some("Invalid segment. ErrorCode: MissingId".into()),
            ..Default::default()
        })
        .unwrap(),
        r#"{"ErrorCode":"MissingId","Message":"Invalid segment. ErrorCode: MissingId"}"#
    );
}

// =============================================================================================
// The spec's examples

/// The JSON block that follows `marker` in `text` (between the next pair of ``` fences).
fn fenced_after<'a>(text: &'a str, marker: &str) -> &'a str {
    let after = &text[text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker:?} not in spec"))..];
    let start = after.find("```").unwrap();
    let body = &after[start + 3..];
    let body = &body[body.find('\n').unwrap() + 1..];
    &body[..body.find("```").unwrap()]
}

#[test]
fn get_trace_summaries_example_of_section_5_2() {
    let text = spec("xray-api.md");
    let block = fenced_after(&text, "Real output example (2017) [DG-GD]:");
    let example: Value = serde_json::from_str(block).unwrap();
    let resp = check::<GetTraceSummariesResponse>(&example);
    let summary = &resp.trace_summaries[0];
    assert_eq!(summary.id, "1-59602603-23fc5b688855d396af79b496");
    assert_eq!(summary.http.as_ref().unwrap().http_status, Some(200));
    assert_eq!(
        summary.annotations.as_ref().unwrap()["UserID"][0].annotation_value,
        Some(AnnotationValue::string("5M388M1E"))
    );
    assert_eq!(resp.traces_processed_count, Some(2));
    assert_eq!(resp.approximate_time, Some(EpochSeconds(1_499_473_304.0)));
    let written = serde_json::to_string(&resp).unwrap();
    assert!(written.contains(r#""HttpStatus":200,"#), "{written}");
    assert!(written.contains(r#""TracesProcessedCount":2"#), "{written}");
    assert!(
        written.contains(r#""ApproximateTime":1499473304.0"#),
        "{written}"
    );
}

#[test]
fn sampling_responses_of_wire_section_6_3() {
    let text = spec("xray-wire.md");
    let block = fenced_after(&text, "Response shapes the collector must produce");
    let mut docs = block.split("\n\n");
    let rules: Value = serde_json::from_str(docs.next().unwrap()).unwrap();
    let targets: Value = serde_json::from_str(docs.next().unwrap()).unwrap();

    let rules = check::<GetSamplingRulesResponse>(&rules);
    let default = &rules.sampling_rule_records[0];
    assert_eq!(default.sampling_rule.priority, 10_000);
    assert_eq!(default.sampling_rule.http_method, "*");
    assert_eq!(default.created_at, Some(EpochSeconds(0.0)));

    let targets = check::<GetSamplingTargetsResponse>(&targets);
    assert_eq!(
        targets.sampling_target_documents[0].reservoir_quota,
        Some(1)
    );
    assert_eq!(
        targets.last_rule_modification,
        EpochSeconds(1_530_920_505.0)
    );
}

/// The §4.5 GetServiceGraph example, with its `...` elisions filled in from the prose (stats of
/// the DynamoDB and SNS edges equal those nodes' stats; the SNS histogram is made up) and the
/// CLI's top-level `StartTime`/`EndTime`/`ContainsOldGroupVersions` added.
fn service_graph_example() -> Value {
    let stats = |ok: i64, err_other: i64, total: i64, time: f64| {
        json!({"OkCount": ok,
               "ErrorStatistics": {"ThrottleCount": 0, "OtherCount": err_other, "TotalCount": err_other},
               "FaultStatistics": {"OtherCount": 0, "TotalCount": 0},
               "TotalCount": total, "TotalResponseTime": time})
    };
    let app_hist = json!([{"Value":0.005,"Count":1},{"Value":0.015,"Count":1},{"Value":0.157,"Count":1},{"Value":0.096,"Count":1}]);
    let ddb_hist = json!([{"Value":0.076,"Count":1},{"Value":0.044,"Count":1}]);
    let sns_hist = json!([{"Value":0.049,"Count":1},{"Value":0.076,"Count":1}]);
    let table = "awseb-e-dixzws4s9p-stack-StartupSignupsTable-4IMSMHAYX2BA";
    let app = "xray-sample.elasticbeanstalk.com";
    json!({
      "Services": [
        {"ReferenceId":0,"Name":app,"Names":[app],"Type":"client","State":"unknown",
         "StartTime":1528317567.0,"EndTime":1528317589.0,
         "Edges":[{"ReferenceId":2,"StartTime":1528317567.0,"EndTime":1528317589.0,
                   "SummaryStatistics":stats(3,1,4,0.273),"ResponseTimeHistogram":app_hist,"Aliases":[]}]},
        {"ReferenceId":1,"Name":table,"Names":[table],"Type":"AWS::DynamoDB::Table","State":"unknown",
         "StartTime":1528317583.0,"EndTime":1528317589.0,"Edges":[],
         "SummaryStatistics":stats(2,0,2,0.12),"DurationHistogram":ddb_hist,"ResponseTimeHistogram":ddb_hist},
        {"ReferenceId":2,"Name":app,"Names":[app],"Root":true,"Type":"AWS::EC2::Instance","State":"active",
         "StartTime":1528317567.0,"EndTime":1528317589.0,
         "Edges":[{"ReferenceId":1,"StartTime":1528317583.0,"EndTime":1528317589.0,
                   "SummaryStatistics":stats(2,0,2,0.12),"ResponseTimeHistogram":ddb_hist,"Aliases":[]},
                  {"ReferenceId":3,"StartTime":1528317587.0,"EndTime":1528317589.0,
                   "SummaryStatistics":stats(2,0,2,0.125),"ResponseTimeHistogram":sns_hist,"Aliases":[]}],
         "SummaryStatistics":stats(3,1,4,0.273),"DurationHistogram":app_hist,"ResponseTimeHistogram":app_hist},
        {"ReferenceId":3,"Name":"SNS","Names":["SNS"],"Type":"AWS::SNS","State":"unknown",
         "StartTime":1528317587.0,"EndTime":1528317589.0,"Edges":[],
         "SummaryStatistics":stats(2,0,2,0.125),"DurationHistogram":sns_hist,"ResponseTimeHistogram":sns_hist}
      ],
      "StartTime":1528317567.0,"EndTime":1528317589.0,"ContainsOldGroupVersions":false
    })
}

#[test]
fn get_service_graph_example_of_section_4_5() {
    let graph = check::<GetServiceGraphResponse>(&service_graph_example());
    let client = &graph.services[0];
    assert_eq!(client.r#type.as_deref(), Some("client"));
    assert!(client.summary_statistics.is_none());
    assert_eq!(client.edges[0].reference_id, 2);
    assert_eq!(graph.services[2].root, Some(true));
    assert_eq!(graph.services[1].root, None);
    let written = serde_json::to_string(&graph).unwrap();
    assert!(written.contains(r#""OkCount":3,"#), "{written}");
    assert!(written.contains(r#""Count":1}"#), "{written}");
    assert!(!written.contains("null"));
    // The same services answer GetTraceGraph.
    let services = json!({"Services": service_graph_example()["Services"]});
    check::<GetTraceGraphResponse>(&services);
}

#[test]
fn batch_get_traces_shapes_of_section_2_2_and_wire_section_7() {
    let doc = r#"{"id":"194fcc8747581230","name":"Scorekeep","start_time":1.499473411562E9,"end_time":1.499473414794E9,"trace_id":"1-59602603-23fc5b688855d396af79b496"}"#;
    let example = json!({
        "Traces": [{"Id": "1-59602603-23fc5b688855d396af79b496", "Duration": 3.232, "LimitExceeded": false,
                    "Segments": [{"Id": "194fcc8747581230", "Document": doc}]}],
        "UnprocessedTraceIds": []
    });
    let resp = check::<BatchGetTracesResponse>(&example);
    assert_eq!(resp.traces[0].segments[0].document, doc);
    // The document is a string on the wire, never an object.
    let written = serde_json::to_value(&resp).unwrap();
    assert!(written["Traces"][0]["Segments"][0]["Document"].is_string());
    let embedded =
        json!({"Traces": [{"Id": "x", "Segments": [{"Id": "a", "Document": {"id": "a"}}]}]});
    assert!(serde_json::from_value::<BatchGetTracesResponse>(embedded).is_err());

    // §2.2 "Unknown IDs": only an unknown id asked for.
    check::<BatchGetTracesResponse>(
        &json!({"Traces": [], "UnprocessedTraceIds": ["1-5f000000-000000000000000000000000"]}),
    );
    check::<BatchGetTracesRequest>(
        &json!({"TraceIds": ["1-59602603-23fc5b688855d396af79b496"], "NextToken": "t"}),
    );
}

#[test]
fn daemon_calls_of_wire_sections_5_8_and_5_9() {
    let doc = r#"{"trace_id":"1-6b09a8ed-cfa0ca4532ae309b15a289fa","id":"24c83048a5778d72","start_time":1795795180.909,"name":"node-svc","end_time":1795795180.91}"#;
    let put = check::<PutTraceSegmentsRequest>(&json!({"TraceSegmentDocuments": [doc]}));
    assert_eq!(put.trace_segment_documents[0], doc);
    assert!(
        serde_json::from_value::<PutTraceSegmentsRequest>(
            json!({"TraceSegmentDocuments": [{"id": "x"}]})
        )
        .is_err()
    );
    check::<PutTraceSegmentsResponse>(&json!({"UnprocessedTraceSegments": [
        {"Id": "24c83048a5778d72", "ErrorCode": "InvalidTraceId", "Message": "Invalid segment. ErrorCode: InvalidTraceId"}
    ]}));

    // §5.9 with numbers for the `n`s. The daemon writes integer seconds; we echo a float.
    let telemetry = json!({"TelemetryRecords":[{"Timestamp":1795795200,"SegmentsReceivedCount":12,"SegmentsSentCount":11,
        "SegmentsSpilloverCount":0,"SegmentsRejectedCount":1,"BackendConnectionErrors":{"TimeoutCount":0,
        "ConnectionRefusedCount":0,"HTTPCode4XXCount":1,"HTTPCode5XXCount":2,"UnknownHostCount":0,"OtherCount":0}}],
        "EC2InstanceId":"i-0123456789abcdef0","Hostname":"ip-10-0-0-1","ResourceARN":"arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0"});
    let req = check::<PutTelemetryRecordsRequest>(&telemetry);
    let errors = req.telemetry_records[0].backend_connection_errors.unwrap();
    assert_eq!(errors.http_code_5xx_count, Some(2));
    req.validate().unwrap();
    assert_eq!(
        serde_json::to_string(&PutTelemetryRecordsResponse {}).unwrap(),
        "{}"
    );
}

#[test]
fn sdk_sampling_requests_of_wire_section_6_3() {
    // Python / Node: integer Timestamp, body `{}` for the rules.
    let py = json!({"SamplingStatisticsDocuments": [{"RuleName": "Default", "ClientID": "0123456789abcdef01234567",
        "RequestCount": 10, "BorrowCount": 1, "SampledCount": 2, "Timestamp": 1795795200}]});
    let req = check::<GetSamplingTargetsRequest>(&py);
    req.validate().unwrap();
    assert_eq!(
        req.sampling_statistics_documents[0].timestamp,
        EpochSeconds(1_795_795_200.0)
    );
    // Go: `{"NextToken": null}`; we read it as absent and would write `{}`.
    let go: GetSamplingRulesRequest = serde_json::from_str(r#"{"NextToken": null}"#).unwrap();
    assert_eq!(serde_json::to_string(&go).unwrap(), "{}");
}

#[test]
fn other_documented_values_round_trip() {
    // §2.2: the default encryption config and the built-in Default group.
    check::<GetEncryptionConfigResponse>(
        &json!({"EncryptionConfig": {"Type": "NONE", "Status": "ACTIVE"}}),
    );
    check::<PutEncryptionConfigResponse>(
        &json!({"EncryptionConfig": {"KeyId": "arn:aws:kms:us-east-2:123456789012:key/ae4aa6d49-a4d8-9df9-a475-4ff6d7898456", "Type": "KMS", "Status": "UPDATING"}}),
    );
    check::<GetGroupsResponse>(&json!({"Groups": [{"GroupName": "Default",
        "GroupARN": "arn:aws:xray:us-east-1:123456789012:group/Default",
        "InsightsConfiguration": {"InsightsEnabled": false, "NotificationsEnabled": false}}]}));
    check::<GetTraceSegmentDestinationResponse>(
        &json!({"Destination": "XRay", "Status": "ACTIVE"}),
    );
    // §5.3: the documented response-time root cause.
    check::<ResponseTimeRootCause>(&json!({"Services": [
        {"Name": "GetWeatherData", "EntityPath": [{"Name": "GetWeatherData", "Coverage": 1.0}, {"Name": "get_temperature", "Coverage": 0.8}]},
        {"Name": "GetTemperature", "EntityPath": [{"Name": "GetTemperature", "Coverage": 0.7}]}]}));
    check::<FaultRootCause>(
        &json!({"ClientImpacting": true, "Services": [{"Name": "api", "Names": ["api"],
        "Type": "AWS::EC2::Instance", "AccountId": "123456789012", "Inferred": false,
        "EntityPath": [{"Name": "api", "Remote": false, "Exceptions": [{"Name": "Oops", "Message": "boom"}]}]}]}),
    );
    // Grafana's analytics request (§7).
    check::<GetTraceSummariesRequest>(
        &json!({"StartTime": 1795795200, "EndTime": 1795798800, "TimeRangeType": "Event",
        "Sampling": true, "SamplingStrategy": {"Name": "FixedRate", "Value": 0.5}, "FilterExpression": "service(\"a\")"}),
    );
    check::<GetTimeSeriesServiceStatisticsRequest>(
        &json!({"StartTime": 1795795200.0, "EndTime": 1795798800.0, "Period": 60,
        "EntitySelectorExpression": "service(\"a\")", "GroupName": "g"}),
    );
    check::<GetTimeSeriesServiceStatisticsResponse>(
        &json!({"TimeSeriesServiceStatistics": [{"Timestamp": 1795795200.0,
        "ServiceSummaryStatistics": {"OkCount": 1, "ErrorStatistics": {"ThrottleCount": 0, "OtherCount": 0, "TotalCount": 0},
        "FaultStatistics": {"OtherCount": 0, "TotalCount": 0}, "TotalCount": 1, "TotalResponseTime": 0.5},
        "ServiceForecastStatistics": {"FaultCountHigh": 3, "FaultCountLow": 0},
        "ResponseTimeHistogram": [{"Value": 0.5, "Count": 1}]}], "ContainsOldGroupVersions": false}),
    );
    // An async link edge.
    let edge = check::<Edge>(
        &json!({"ReferenceId": 4, "EdgeType": "link", "Aliases": [], "ResponseTimeHistogram": [],
        "ReceivedEventAgeHistogram": [{"Value": 1.5, "Count": 2}]}),
    );
    assert_eq!(edge.edge_type, Some(EdgeType::Link));
}

// =============================================================================================
// Encoding rules

#[test]
fn integers_never_serialize_with_a_decimal_point() {
    let stats = ServiceStatistics {
        ok_count: 1,
        error_statistics: ErrorStatistics {
            throttle_count: 1,
            other_count: 1,
            total_count: 2,
        },
        fault_statistics: FaultStatistics {
            other_count: 1,
            total_count: 1,
        },
        total_count: 4,
        total_response_time: 1.0,
    };
    let service = Service {
        reference_id: 1,
        summary_statistics: Some(stats),
        response_time_histogram: Some(vec![HistogramEntry {
            value: 1.0,
            count: 1,
        }]),
        ..Default::default()
    };
    let target = SamplingTargetDocument {
        rule_name: "r".into(),
        fixed_rate: 1.0,
        reservoir_quota: Some(1),
        interval: Some(10),
        ..Default::default()
    };
    let summary = TraceSummary {
        revision: Some(1),
        http: Some(Http {
            http_status: Some(200),
            ..Default::default()
        }),
        ..Default::default()
    };
    let text = [
        serde_json::to_string(&service).unwrap(),
        serde_json::to_string(&target).unwrap(),
        serde_json::to_string(&summary).unwrap(),
        serde_json::to_string(&GetTraceSummariesResponse {
            traces_processed_count: Some(1),
            ..Default::default()
        })
        .unwrap(),
    ]
    .join("\n");
    for member in [
        "ReferenceId",
        "OkCount",
        "ThrottleCount",
        "OtherCount",
        "TotalCount",
        "Count",
        "ReservoirQuota",
        "Interval",
        "Revision",
        "HttpStatus",
        "TracesProcessedCount",
    ] {
        assert!(
            text.contains(&format!("\"{member}\":")),
            "{member} missing in {text}"
        );
        assert!(
            !text.contains(&format!("\"{member}\":1.0")),
            "{member} written as a float: {text}"
        );
    }
    // Doubles may carry a fraction.
    assert!(text.contains(r#""TotalResponseTime":1.0"#));
    assert!(text.contains(r#""FixedRate":1.0"#));
    // And an integer member refuses a float on input, as aws-sdk-rust does.
    assert!(serde_json::from_str::<HistogramEntry>(r#"{"Value":1,"Count":1.0}"#).is_err());
}

#[test]
fn timestamps_read_ints_floats_and_iso_strings_and_write_numbers() {
    let cases = [
        ("1795801200", 1_795_801_200.0),
        ("1795801200.123", 1_795_801_200.123),
        ("1.7958012E9", 1_795_801_200.0),
        (r#""2026-11-27T17:40:00Z""#, 1_795_801_200.0),
        (r#""2026-11-27T17:40:00.123+01:00""#, 1_795_797_600.123),
        (r#""1795801200""#, 1_795_801_200.0),
    ];
    for (wire, secs) in cases {
        let json = format!(r#"{{"StartTime": {wire}, "EndTime": {wire}}}"#);
        let req: GetServiceGraphRequest = serde_json::from_str(&json).unwrap();
        assert_eq!(req.start_time, EpochSeconds(secs), "{wire}");
        let back = serde_json::to_value(&req).unwrap();
        assert!(back["StartTime"].is_f64(), "{back}");
        assert_eq!(back["StartTime"].as_f64(), Some(secs));
    }
    for bad in [r#""yesterday""#, r#""2026-02-30T00:00:00Z""#, "true", "[1]"] {
        let json = format!(r#"{{"StartTime": {bad}, "EndTime": 1}}"#);
        assert!(
            serde_json::from_str::<GetServiceGraphRequest>(&json).is_err(),
            "{bad}"
        );
    }
    assert_eq!(
        serde_json::to_string(&EpochSeconds(1_795_801_200.0)).unwrap(),
        "1795801200.0"
    );
    assert_eq!(
        serde_json::to_string(&EpochSeconds(1_700_000_000.123)).unwrap(),
        "1700000000.123"
    );
    // Non-finite values are refused instead of being written as null.
    assert!(serde_json::to_string(&EpochSeconds(f64::NAN)).is_err());
    // Conversions.
    let now = std::time::SystemTime::now();
    let t = EpochSeconds::from(now);
    let back = t.to_system_time().unwrap();
    let drift = back.duration_since(now).unwrap_or_else(|e| e.duration());
    assert!(drift.as_micros() <= 1, "{drift:?}");
    assert_eq!(f64::from(EpochSeconds::from(12.5)), 12.5);
    assert_eq!(
        "2026-11-27T17:40:00Z".parse(),
        Ok(EpochSeconds(1_795_801_200.0))
    );
}

#[test]
fn sampling_rules_always_carry_attributes() {
    let rule = SamplingRule {
        rule_name: Some("Default".into()),
        resource_arn: "*".into(),
        priority: 10_000,
        fixed_rate: 0.05,
        reservoir_size: 1,
        service_name: "*".into(),
        service_type: "*".into(),
        host: "*".into(),
        http_method: "*".into(),
        url_path: "*".into(),
        version: 1,
        ..Default::default()
    };
    let record = SamplingRuleRecord {
        sampling_rule: rule,
        created_at: Some(EpochSeconds(0.0)),
        modified_at: Some(EpochSeconds(1_530_558_121.0)),
    };
    let v = serde_json::to_value(GetSamplingRulesResponse {
        sampling_rule_records: vec![record],
        next_token: None,
    })
    .unwrap();
    assert_eq!(
        v["SamplingRuleRecords"][0]["SamplingRule"]["Attributes"],
        json!({})
    );
    assert_eq!(v["SamplingRuleRecords"][0]["CreatedAt"], json!(0.0));
    assert!(v.get("NextToken").is_none());
    // Also when the input had none, or had null.
    for input in [json!({}), json!({"Attributes": null})] {
        let mut rule = serde_json::to_value(SamplingRule::default()).unwrap();
        rule.as_object_mut().unwrap().remove("Attributes");
        rule.as_object_mut()
            .unwrap()
            .extend(input.as_object().unwrap().clone());
        let parsed: SamplingRule = serde_json::from_value(rule).unwrap();
        assert_eq!(
            serde_json::to_value(parsed).unwrap()["Attributes"],
            json!({})
        );
    }
}

// =============================================================================================
// validate()

fn valid_rule() -> SamplingRule {
    SamplingRule {
        rule_name: Some("checkout".into()),
        rule_arn: None,
        resource_arn: "*".into(),
        priority: 100,
        fixed_rate: 0.1,
        reservoir_size: 5,
        service_name: "checkout-*".into(),
        service_type: "*".into(),
        host: "*".into(),
        http_method: "POST".into(),
        url_path: "/api/*".into(),
        version: 1,
        attributes: BTreeMap::new(),
        sampling_rate_boost: Some(SamplingRateBoost {
            max_rate: 0.5,
            cooldown_window_minutes: 5,
        }),
    }
}

#[track_caller]
fn expect_error(result: Result<(), ValidationError>, message: &str) {
    let err = result.expect_err(message);
    assert_eq!(err.to_string(), message);
    let api = ApiError::from(err);
    assert_eq!(api.code, ErrorCode::InvalidRequest);
    assert_eq!(api.message, message);
}

#[test]
fn sampling_rule_constraints() {
    valid_rule().validate().unwrap();
    let long = |n: usize| "x".repeat(n);
    type Mutation = Box<dyn Fn(&mut SamplingRule)>;
    let cases: Vec<(Mutation, &str)> = vec![
        (
            Box::new(|r| r.rule_name = Some(String::new())),
            "SamplingRule.RuleName: length must be between 1 and 32, got 0",
        ),
        (
            Box::new(move |r| r.rule_name = Some(long(33))),
            "SamplingRule.RuleName: length must be between 1 and 32, got 33",
        ),
        (
            Box::new(move |r| r.resource_arn = long(501)),
            "SamplingRule.ResourceARN: length must be at most 500, got 501",
        ),
        (
            Box::new(|r| r.priority = 0),
            "SamplingRule.Priority: must be between 1 and 9999, got 0",
        ),
        (
            Box::new(|r| r.priority = 10_000),
            "SamplingRule.Priority: must be between 1 and 9999, got 10000",
        ),
        (
            Box::new(|r| r.fixed_rate = 1.5),
            "SamplingRule.FixedRate: must be between 0 and 1, got 1.5",
        ),
        (
            Box::new(|r| r.fixed_rate = -0.1),
            "SamplingRule.FixedRate: must be between 0 and 1, got -0.1",
        ),
        (
            Box::new(|r| r.reservoir_size = -1),
            "SamplingRule.ReservoirSize: must be at least 0, got -1",
        ),
        (
            Box::new(move |r| r.service_name = long(65)),
            "SamplingRule.ServiceName: length must be at most 64, got 65",
        ),
        (
            Box::new(move |r| r.service_type = long(65)),
            "SamplingRule.ServiceType: length must be at most 64, got 65",
        ),
        (
            Box::new(move |r| r.host = long(65)),
            "SamplingRule.Host: length must be at most 64, got 65",
        ),
        (
            Box::new(move |r| r.http_method = long(11)),
            "SamplingRule.HTTPMethod: length must be at most 10, got 11",
        ),
        (
            Box::new(move |r| r.url_path = long(129)),
            "SamplingRule.URLPath: length must be at most 128, got 129",
        ),
        (
            Box::new(|r| r.version = 0),
            "SamplingRule.Version: must be at least 1, got 0",
        ),
        (
            Box::new(|r| r.attributes = (0..6).map(|i| (format!("k{i}"), "v".into())).collect()),
            "SamplingRule.Attributes: must contain at most 5 entries, got 6",
        ),
        (
            Box::new(move |r| r.attributes = [(long(33), "v".into())].into()),
            "SamplingRule.Attributes: key length must be between 1 and 32, got 33 for key \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"",
        ),
        (
            Box::new(|r| r.attributes = [("env".into(), String::new())].into()),
            "SamplingRule.Attributes.env: length must be between 1 and 32, got 0",
        ),
        (
            Box::new(|r| {
                r.sampling_rate_boost = Some(SamplingRateBoost {
                    max_rate: 2.0,
                    cooldown_window_minutes: 1,
                });
            }),
            "SamplingRule.SamplingRateBoost.MaxRate: must be between 0 and 1, got 2",
        ),
        (
            Box::new(|r| {
                r.sampling_rate_boost = Some(SamplingRateBoost {
                    max_rate: 0.5,
                    cooldown_window_minutes: -1,
                });
            }),
            "SamplingRule.SamplingRateBoost.CooldownWindowMinutes: must be at least 0, got -1",
        ),
    ];
    for (mutate, message) in cases {
        let mut rule = valid_rule();
        mutate(&mut rule);
        expect_error(rule.validate(), message);
    }
    // Length counts characters, not bytes.
    let mut rule = valid_rule();
    rule.rule_name = Some("é".repeat(32));
    rule.validate().unwrap();

    let mut create = CreateSamplingRuleRequest {
        sampling_rule: valid_rule(),
        tags: Some(vec![Tag {
            key: "team".into(),
            value: String::new(),
        }]),
    };
    create.validate().unwrap();
    create.sampling_rule.rule_name = None;
    expect_error(create.validate(), "SamplingRule.RuleName: is required");
    create.sampling_rule = valid_rule();
    create.tags = Some(vec![Tag {
        key: String::new(),
        value: "v".into(),
    }]);
    expect_error(
        create.validate(),
        "Tags[0].Key: length must be between 1 and 128, got 0",
    );
    create.tags = Some(vec![Tag {
        key: "k".into(),
        value: long(257),
    }]);
    expect_error(
        create.validate(),
        "Tags[0].Value: length must be at most 256, got 257",
    );
    create.tags = Some(vec![
        Tag {
            key: "k".into(),
            value: "v".into()
        };
        201
    ]);
    expect_error(
        create.validate(),
        "Tags: must contain at most 200 items, got 201",
    );
}

#[test]
fn sampling_rule_update_and_delete_constraints() {
    let update = |f: &dyn Fn(&mut SamplingRuleUpdate)| {
        let mut u = SamplingRuleUpdate {
            rule_name: Some("checkout".into()),
            ..Default::default()
        };
        f(&mut u);
        UpdateSamplingRuleRequest {
            sampling_rule_update: u,
        }
        .validate()
    };
    update(&|_| {}).unwrap();
    update(&|u| u.fixed_rate = Some(1.0)).unwrap();
    expect_error(
        update(&|u| u.rule_name = None),
        "SamplingRuleUpdate.RuleName: one of RuleName or RuleARN is required",
    );
    expect_error(
        update(&|u| u.rule_arn = Some("arn:aws:xray:us-east-1:1:sampling-rule/checkout".into())),
        "SamplingRuleUpdate.RuleName: specify either RuleName or RuleARN, not both",
    );
    expect_error(
        update(&|u| u.priority = Some(0)),
        "SamplingRuleUpdate.Priority: must be between 1 and 9999, got 0",
    );
    expect_error(
        update(&|u| u.fixed_rate = Some(1.01)),
        "SamplingRuleUpdate.FixedRate: must be between 0 and 1, got 1.01",
    );
    expect_error(
        update(&|u| u.reservoir_size = Some(-2)),
        "SamplingRuleUpdate.ReservoirSize: must be at least 0, got -2",
    );
    expect_error(
        update(&|u| u.host = Some("h".repeat(65))),
        "SamplingRuleUpdate.Host: length must be at most 64, got 65",
    );
    expect_error(
        update(&|u| u.url_path = Some("/".repeat(129))),
        "SamplingRuleUpdate.URLPath: length must be at most 128, got 129",
    );
    expect_error(
        update(&|u| u.attributes = Some((0..6).map(|i| (format!("k{i}"), "v".into())).collect())),
        "SamplingRuleUpdate.Attributes: must contain at most 5 entries, got 6",
    );

    let mut delete = DeleteSamplingRuleRequest {
        rule_name: Some("checkout".into()),
        rule_arn: None,
    };
    delete.validate().unwrap();
    delete.rule_name = None;
    expect_error(
        delete.validate(),
        "RuleName: one of RuleName or RuleARN is required",
    );
}

#[test]
fn sampling_targets_constraints() {
    let doc = SamplingStatisticsDocument {
        rule_name: "Default".into(),
        client_id: "0123456789abcdef01234567".into(),
        timestamp: EpochSeconds(1_795_795_200.0),
        request_count: 10,
        sampled_count: 1,
        borrow_count: Some(1),
    };
    let req = |f: &dyn Fn(&mut GetSamplingTargetsRequest)| {
        let mut r = GetSamplingTargetsRequest {
            sampling_statistics_documents: vec![doc.clone(), doc.clone()],
            sampling_boost_statistics_documents: None,
        };
        f(&mut r);
        r.validate()
    };
    req(&|_| {}).unwrap();
    req(&|r| r.sampling_statistics_documents = vec![doc.clone(); 25]).unwrap();
    expect_error(
        req(&|r| r.sampling_statistics_documents = vec![doc.clone(); 26]),
        "SamplingStatisticsDocuments: must contain at most 25 items, got 26",
    );
    expect_error(
        req(&|r| r.sampling_statistics_documents[1].client_id = "abc".into()),
        "SamplingStatisticsDocuments[1].ClientID: length must be exactly 24, got 3",
    );
    expect_error(
        req(&|r| r.sampling_statistics_documents[0].rule_name = String::new()),
        "SamplingStatisticsDocuments[0].RuleName: length must be between 1 and 32, got 0",
    );
    expect_error(
        req(&|r| r.sampling_statistics_documents[0].request_count = -1),
        "SamplingStatisticsDocuments[0].RequestCount: must be at least 0, got -1",
    );
    expect_error(
        req(&|r| r.sampling_statistics_documents[0].sampled_count = -1),
        "SamplingStatisticsDocuments[0].SampledCount: must be at least 0, got -1",
    );
    expect_error(
        req(&|r| r.sampling_statistics_documents[1].borrow_count = Some(-3)),
        "SamplingStatisticsDocuments[1].BorrowCount: must be at least 0, got -3",
    );
    let boost = SamplingBoostStatisticsDocument {
        rule_name: "r".into(),
        service_name: "s".into(),
        timestamp: EpochSeconds(1.0),
        anomaly_count: 1,
        total_count: 2,
        sampled_anomaly_count: 1,
    };
    expect_error(
        req(&|r| r.sampling_boost_statistics_documents = Some(vec![boost.clone(); 26])),
        "SamplingBoostStatisticsDocuments: must contain at most 25 items, got 26",
    );
    expect_error(
        req(&|r| {
            let mut b = boost.clone();
            b.anomaly_count = -1;
            r.sampling_boost_statistics_documents = Some(vec![b]);
        }),
        "SamplingBoostStatisticsDocuments[0].AnomalyCount: must be at least 0, got -1",
    );
}

#[test]
fn trace_request_constraints() {
    let id = "1-59602603-23fc5b688855d396af79b496".to_owned();
    let batch = |ids: Vec<String>| {
        BatchGetTracesRequest {
            trace_ids: ids,
            next_token: None,
        }
        .validate()
    };
    batch(vec![id.clone(); 5]).unwrap();
    expect_error(
        batch(vec![id.clone(); 6]),
        "TraceIds: must contain at most 5 items, got 6",
    );
    expect_error(
        batch(vec![id.clone(), format!("{id}0")]),
        "TraceIds[1]: length must be between 1 and 35, got 36",
    );
    expect_error(
        batch(vec![String::new()]),
        "TraceIds[0]: length must be between 1 and 35, got 0",
    );
    let graph = GetTraceGraphRequest {
        trace_ids: vec![id; 6],
        next_token: None,
    };
    expect_error(
        graph.validate(),
        "TraceIds: must contain at most 5 items, got 6",
    );

    let put = |n: usize| {
        PutTraceSegmentsRequest {
            trace_segment_documents: vec!["{}".into(); n],
        }
        .validate()
    };
    put(50).unwrap();
    let err = put(51).unwrap_err();
    assert_eq!(err.member, "TraceSegmentDocuments");
    expect_error(put(51), "Exceeding maximum segment count: 50");

    let summaries = |start: f64, end: f64| {
        GetTraceSummariesRequest {
            start_time: EpochSeconds(start),
            end_time: EpochSeconds(end),
            ..Default::default()
        }
        .validate()
    };
    summaries(1.0, 1.0).unwrap();
    expect_error(
        summaries(1_795_795_300.0, 1_795_795_200.0),
        "StartTime: must not be after EndTime, got StartTime 1795795300 > EndTime 1795795200",
    );
    let mut graph = GetServiceGraphRequest {
        start_time: EpochSeconds(2.5),
        end_time: EpochSeconds(1.0),
        ..Default::default()
    };
    expect_error(
        graph.validate(),
        "StartTime: must not be after EndTime, got StartTime 2.5 > EndTime 1",
    );
    graph.end_time = EpochSeconds(3.0);
    graph.group_name = Some("g".repeat(33));
    expect_error(
        graph.validate(),
        "GroupName: length must be between 1 and 32, got 33",
    );
    graph.group_name = None;
    graph.group_arn = Some(String::new());
    expect_error(
        graph.validate(),
        "GroupARN: length must be between 1 and 400, got 0",
    );

    let mut series = GetTimeSeriesServiceStatisticsRequest {
        start_time: EpochSeconds(1.0),
        end_time: EpochSeconds(2.0),
        period: Some(60),
        ..Default::default()
    };
    series.validate().unwrap();
    series.period = Some(0);
    expect_error(series.validate(), "Period: must be at least 1, got 0");
    series.period = None;
    series.entity_selector_expression = Some(String::new());
    expect_error(
        series.validate(),
        "EntitySelectorExpression: length must be between 1 and 500, got 0",
    );
}

#[test]
fn group_tag_telemetry_and_config_constraints() {
    let create = |name: &str| CreateGroupRequest {
        group_name: name.into(),
        ..Default::default()
    };
    create("payments").validate().unwrap();
    expect_error(
        create("").validate(),
        "GroupName: length must be between 1 and 32, got 0",
    );
    expect_error(
        create(&"g".repeat(33)).validate(),
        "GroupName: length must be between 1 and 32, got 33",
    );
    expect_error(
        create("Default").validate(),
        "GroupName: \"Default\" is reserved for the built-in group",
    );
    let mut with_insights = create("payments");
    with_insights.insights_configuration = Some(InsightsConfiguration {
        insights_enabled: Some(false),
        notifications_enabled: Some(true),
    });
    expect_error(
        with_insights.validate(),
        "InsightsConfiguration.NotificationsEnabled: requires InsightsEnabled to be true",
    );

    expect_error(
        GetGroupRequest::default().validate(),
        "GroupName: one of GroupName or GroupARN is required",
    );
    expect_error(
        DeleteGroupRequest::default().validate(),
        "GroupName: one of GroupName or GroupARN is required",
    );
    expect_error(
        UpdateGroupRequest::default().validate(),
        "GroupName: one of GroupName or GroupARN is required",
    );
    GetGroupRequest {
        group_arn: Some("arn".into()),
        group_name: None,
    }
    .validate()
    .unwrap();
    expect_error(
        GetGroupsRequest {
            next_token: Some("t".repeat(101)),
        }
        .validate(),
        "NextToken: length must be between 1 and 100, got 101",
    );

    expect_error(
        TagResourceRequest {
            resource_arn: String::new(),
            tags: vec![],
        }
        .validate(),
        "ResourceARN: length must be between 1 and 1011, got 0",
    );
    expect_error(
        UntagResourceRequest {
            resource_arn: "arn".into(),
            tag_keys: vec![String::new()],
        }
        .validate(),
        "TagKeys[0]: length must be between 1 and 128, got 0",
    );
    expect_error(
        ListTagsForResourceRequest {
            resource_arn: "a".repeat(1012),
            next_token: None,
        }
        .validate(),
        "ResourceARN: length must be between 1 and 1011, got 1012",
    );

    let telemetry = |f: &dyn Fn(&mut PutTelemetryRecordsRequest)| {
        let mut r = PutTelemetryRecordsRequest::default();
        f(&mut r);
        r.validate()
    };
    expect_error(
        telemetry(&|r| r.ec2_instance_id = Some("i".repeat(21))),
        "EC2InstanceId: length must be at most 20, got 21",
    );
    expect_error(
        telemetry(&|r| r.hostname = Some("h".repeat(256))),
        "Hostname: length must be at most 255, got 256",
    );
    expect_error(
        telemetry(&|r| r.resource_arn = Some("a".repeat(501))),
        "ResourceARN: length must be at most 500, got 501",
    );
    expect_error(
        PutEncryptionConfigRequest {
            key_id: Some(String::new()),
            r#type: EncryptionType::Kms,
        }
        .validate(),
        "KeyId: length must be between 1 and 3000, got 0",
    );
}

// =============================================================================================
// Errors

#[test]
fn error_codes_map_to_status_type_and_grpc() {
    let table = [
        (ErrorCode::InvalidRequest, 400, "InvalidRequestException", 3),
        (ErrorCode::Throttled, 429, "ThrottledException", 8),
        (
            ErrorCode::ResourceNotFound,
            404,
            "ResourceNotFoundException",
            5,
        ),
        (
            ErrorCode::RuleLimitExceeded,
            400,
            "RuleLimitExceededException",
            8,
        ),
        (ErrorCode::TooManyTags, 400, "TooManyTagsException", 8),
        (
            ErrorCode::UnknownOperation,
            404,
            "UnknownOperationException",
            12,
        ),
        (
            ErrorCode::MissingAuthenticationToken,
            403,
            "MissingAuthenticationTokenException",
            16,
        ),
        (
            ErrorCode::UnrecognizedClient,
            403,
            "UnrecognizedClientException",
            16,
        ),
        (
            ErrorCode::PayloadTooLarge,
            413,
            "PayloadTooLargeException",
            3,
        ),
        (
            ErrorCode::NotImplemented,
            501,
            "NotImplementedException",
            12,
        ),
        (ErrorCode::InternalFailure, 500, "InternalFailure", 13),
        (ErrorCode::ServiceUnavailable, 503, "ServiceUnavailable", 14),
    ];
    for (code, status, aws, grpc) in table {
        assert_eq!(code.http_status(), status, "{code}");
        assert_eq!(code.aws_type(), aws);
        assert_eq!(code.grpc_code(), grpc, "{code}");
        assert_eq!(code.to_string(), aws);
    }
    let mut types = BTreeSet::new();
    for code in ErrorCode::ALL {
        assert!(types.insert(code.aws_type()), "duplicate {code}");
        assert_eq!(ErrorCode::from_aws_type(code.aws_type()), Some(code));
        assert!((0..=16).contains(&code.grpc_code()));
        assert_eq!(
            code.is_retryable(),
            // botocore retries 429 and 500/502/503/504, not 501.
            matches!(code.http_status(), 429 | 500 | 502 | 503 | 504)
        );
    }
    assert_eq!(
        ErrorCode::from_aws_type(
            "com.amazonaws.xray#ThrottledException:http://internal.amazon.com/"
        ),
        Some(ErrorCode::Throttled)
    );
    assert_eq!(ErrorCode::from_aws_type("SerializationException"), None);
    assert_eq!(ERROR_TYPE_HEADER, "x-amzn-ErrorType");
}

#[test]
fn error_body_is_what_every_client_parses() {
    let err = ApiError::invalid_request("SamplingRule.Priority: must be between 1 and 9999, got 0");
    assert_eq!(err.http_status(), 400);
    assert_eq!(
        err.to_string(),
        "InvalidRequestException: SamplingRule.Priority: must be between 1 and 9999, got 0"
    );
    assert_eq!(
        serde_json::to_value(err.body()).unwrap(),
        json!({"__type": "InvalidRequestException",
               "message": "SamplingRule.Priority: must be between 1 and 9999, got 0",
               "Message": "SamplingRule.Priority: must be between 1 and 9999, got 0"})
    );
    let missing =
        ApiError::resource_not_found("Group not found", "arn:aws:xray:us-east-1:1:group/x/y");
    assert_eq!(missing.http_status(), 404);
    assert_eq!(
        serde_json::to_value(missing.body()).unwrap(),
        json!({"__type": "ResourceNotFoundException", "message": "Group not found",
               "Message": "Group not found", "ResourceName": "arn:aws:xray:us-east-1:1:group/x/y"})
    );
    let unknown = ApiError::unknown_operation("/Nope");
    assert_eq!(
        (unknown.code, unknown.http_status()),
        (ErrorCode::UnknownOperation, 404)
    );
    assert_eq!(unknown.message, "no X-Ray operation at POST /Nope");
    assert_eq!(
        ApiError::throttled("slow down").body().error_type,
        "ThrottledException"
    );

    // Reading bodies back (the console talking to AWS or to us).
    for (body, code, message) in [
        (
            r#"{"__type":"InvalidRequestException","message":"bad"}"#,
            ErrorCode::InvalidRequest,
            "bad",
        ),
        (
            r#"{"__type":"ThrottledException","Message":"slow"}"#,
            ErrorCode::Throttled,
            "slow",
        ),
        (
            r#"{"code":"ResourceNotFoundException","__type":"x#y","message":"gone"}"#,
            ErrorCode::ResourceNotFound,
            "gone",
        ),
    ] {
        let parsed: ErrorBody = serde_json::from_str(body).unwrap();
        let api = ApiError::from(parsed);
        assert_eq!((api.code, api.message.as_str()), (code, message), "{body}");
    }
    let ours = ApiError::new(ErrorCode::TooManyTags, "too many").with_resource_name("arn");
    let round: ErrorBody =
        serde_json::from_value(serde_json::to_value(ours.body()).unwrap()).unwrap();
    assert_eq!(ApiError::from(round), ours);
}

// =============================================================================================
// Routing

#[test]
fn operations_route_by_path_as_in_the_spec_table() {
    assert_eq!(Operation::ALL.len(), 38);
    for op in Operation::ALL {
        assert_eq!(Operation::from_path(op.path()), Some(op), "{op}");
        assert_eq!(
            Operation::from_path(&format!("{}/", op.path())),
            Some(op),
            "{op}"
        );
        assert_eq!(Operation::from_name(op.name()), Some(op));
        assert_eq!(op.to_string(), op.name());
    }
    let text = spec("xray-api.md");
    let table = text.split("### 2.1 Routing table").nth(1).unwrap();
    let table = table.split("### 2.2").next().unwrap();
    let mut rows = 0;
    for line in table.lines().filter(|l| l.contains("| `/")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (name, path) = (cells[1], cells[2].trim_matches('`'));
        let op = Operation::from_name(name).unwrap_or_else(|| panic!("{name} not an Operation"));
        assert_eq!(op.path(), path, "{name}");
        rows += 1;
    }
    assert_eq!(rows, 38);
    assert_eq!(
        Operation::from_path("/TraceSegments"),
        Some(Operation::PutTraceSegments)
    );
    assert_eq!(
        Operation::from_path("/EncryptionConfig"),
        Some(Operation::GetEncryptionConfig)
    );
    assert_eq!(Operation::from_path("/tracesegments"), None);
    assert_eq!(Operation::from_path("/TraceSegments//"), None);
    assert_eq!(Operation::from_path("/"), None);
    assert_eq!(Operation::from_path(""), None);
    assert_eq!(Operation::from_path("/GetTraceIds"), None);
}
