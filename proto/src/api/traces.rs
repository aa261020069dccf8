//! Trace ingestion and retrieval: `PutTraceSegments`, `BatchGetTraces`, `GetTraceSummaries`
//! and the `TraceSummary` family (annotations, users, service ids, root causes).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::EpochSeconds;
use super::de::null_as_default;
use super::limits::{MAX_BATCH_GET_TRACES_IDS, MAX_TRACE_ID_LEN, MAX_TRACE_SEGMENT_DOCUMENTS};
use super::validation::{Checked, ValidationError, len_range, max_items, time_window};

// ---------------------------------------------------------------------------------------------
// PutTraceSegments

/// `PutTraceSegments` input (`POST /TraceSegments`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutTraceSegmentsRequest {
    /// Segment documents, each a JSON document serialized into a *string* (never an object).
    pub trace_segment_documents: Vec<String>,
}

impl PutTraceSegmentsRequest {
    /// Checks the document count (at most [`MAX_TRACE_SEGMENT_DOCUMENTS`]); the message is
    /// AWS's own (`Exceeding maximum segment count: 50`).
    pub fn validate(&self) -> Checked {
        let n = self.trace_segment_documents.len();
        if n > MAX_TRACE_SEGMENT_DOCUMENTS {
            return Err(ValidationError {
                member: "TraceSegmentDocuments".to_owned(),
                message: format!("Exceeding maximum segment count: {MAX_TRACE_SEGMENT_DOCUMENTS}"),
            });
        }
        Ok(())
    }
}

/// `PutTraceSegments` output.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutTraceSegmentsResponse {
    /// Documents that were rejected (always written, `[]` when all were accepted).
    #[serde(default, deserialize_with = "null_as_default")]
    pub unprocessed_trace_segments: Vec<UnprocessedTraceSegment>,
}

/// A rejected document of a `PutTraceSegments` call.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnprocessedTraceSegment {
    /// The document's `id`, omitted when it could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Machine-readable reason, e.g. `MissingId`, `InvalidTraceId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Human-readable reason, e.g. `Invalid segment. ErrorCode: MissingId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// BatchGetTraces

/// `BatchGetTraces` input (`POST /Traces`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchGetTracesRequest {
    /// Trace ids to fetch (at most [`MAX_BATCH_GET_TRACES_IDS`], each 1..35 chars).
    pub trace_ids: Vec<String>,
    /// Pagination token from a previous response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

impl BatchGetTracesRequest {
    /// Checks the id count and each id's length.
    pub fn validate(&self) -> Checked {
        validate_trace_ids(&self.trace_ids, MAX_BATCH_GET_TRACES_IDS)
    }
}

/// Shared by `BatchGetTraces` and `GetTraceGraph`.
pub(super) fn validate_trace_ids(ids: &[String], max: usize) -> Checked {
    max_items("TraceIds", ids.len(), max)?;
    for (i, id) in ids.iter().enumerate() {
        len_range(&format!("TraceIds[{i}]"), id, 1, MAX_TRACE_ID_LEN)?;
    }
    Ok(())
}

/// `BatchGetTraces` output.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchGetTracesResponse {
    /// The traces found (always written).
    #[serde(default, deserialize_with = "null_as_default")]
    pub traces: Vec<Trace>,
    /// Requested ids with nothing stored (always written).
    #[serde(default, deserialize_with = "null_as_default")]
    pub unprocessed_trace_ids: Vec<String>,
    /// Token for the next page; omitted on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// A trace: its processed segment documents.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Trace {
    /// The trace id.
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    /// Seconds from the earliest segment start to the latest segment end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    /// Whether the trace exceeded the trace-document size limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_exceeded: Option<bool>,
    /// One entry per segment (always written).
    #[serde(default, deserialize_with = "null_as_default")]
    pub segments: Vec<Segment>,
}

/// A segment as returned by `BatchGetTraces`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Segment {
    /// The segment id.
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    /// The segment document: JSON serialized into a string, never an embedded object.
    #[serde(default, deserialize_with = "null_as_default")]
    pub document: String,
}

// ---------------------------------------------------------------------------------------------
// GetTraceSummaries

/// `GetTraceSummaries` input (`POST /TraceSummaries`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTraceSummariesRequest {
    /// Start of the window (inclusive).
    pub start_time: EpochSeconds,
    /// End of the window (exclusive).
    pub end_time: EpochSeconds,
    /// What the window applies to (default `TraceId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_range_type: Option<TimeRangeType>,
    /// Return only a sample of the matching traces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling: Option<bool>,
    /// How to sample when `Sampling` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling_strategy: Option<SamplingStrategy>,
    /// Filter expression over trace properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_expression: Option<String>,
    /// Pagination token from a previous response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

impl GetTraceSummariesRequest {
    /// Checks `StartTime <= EndTime`.
    pub fn validate(&self) -> Checked {
        time_window(self.start_time, self.end_time)
    }
}

/// What a `GetTraceSummaries` time window selects on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum TimeRangeType {
    /// The trace start time encoded in the trace id (the default).
    #[default]
    TraceId,
    /// The trace's update time: traces active in the window.
    Event,
    /// The segment end time.
    Service,
}

/// Sampling of `GetTraceSummaries` results.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SamplingStrategy {
    /// The strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<SamplingStrategyName>,
    /// Its parameter (a fraction for `FixedRate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// The name of a [`SamplingStrategy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SamplingStrategyName {
    /// Scan only part of the window.
    PartialScan,
    /// Keep a fixed fraction of the matches.
    FixedRate,
}

/// `GetTraceSummaries` output.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTraceSummariesResponse {
    /// The summaries of this page, newest first (always written).
    #[serde(default, deserialize_with = "null_as_default")]
    pub trace_summaries: Vec<TraceSummary>,
    /// The start time covered by this page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approximate_time: Option<EpochSeconds>,
    /// Traces scanned, including those the filter rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traces_processed_count: Option<i64>,
    /// Token for the next page; omitted on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// Metadata of one trace, as `GetTraceSummaries` returns it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TraceSummary {
    /// The trace id.
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    /// Earliest segment start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<EpochSeconds>,
    /// Seconds from the earliest start to the latest end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    /// Root segment end minus start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_time: Option<f64>,
    /// The root segment has a fault (5xx).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_fault: Option<bool>,
    /// The root segment has an error (4xx).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_error: Option<bool>,
    /// Some document of the trace was throttled (429).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_throttle: Option<bool>,
    /// Some segment is still in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_partial: Option<bool>,
    /// The root segment's HTTP request and response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<Http>,
    /// Annotation key to the distinct values recorded in the trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, Vec<ValueWithServiceIds>>>,
    /// Distinct users recorded in the trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<TraceUser>>,
    /// Every node of the trace graph.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_ids: Option<Vec<ServiceId>>,
    /// Distinct resource ARNs of the trace's segments.
    #[serde(
        rename = "ResourceARNs",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub resource_arns: Option<Vec<ResourceArnDetail>>,
    /// Distinct EC2 instance ids of the trace's segments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_ids: Option<Vec<InstanceIdDetail>>,
    /// Distinct availability zones of the trace's segments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zones: Option<Vec<AvailabilityZoneDetail>>,
    /// The service of the root segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<ServiceId>,
    /// Root causes of faults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault_root_causes: Option<Vec<FaultRootCause>>,
    /// Root causes of errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_root_causes: Option<Vec<ErrorRootCause>>,
    /// Root causes of response time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_time_root_causes: Option<Vec<ResponseTimeRootCause>>,
    /// Bumped each time the stored trace changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i32>,
    /// With `TimeRangeType` `Event`: the event time that matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_event_time: Option<EpochSeconds>,
}

/// The root segment's HTTP request and response.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Http {
    /// Request URL.
    #[serde(rename = "HttpURL", default, skip_serializing_if = "Option::is_none")]
    pub http_url: Option<String>,
    /// Response status code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<i32>,
    /// Request method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_method: Option<String>,
    /// Request user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Client IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
}

/// One distinct annotation value and the services that recorded it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ValueWithServiceIds {
    /// The value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation_value: Option<AnnotationValue>,
    /// The services that recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_ids: Option<Vec<ServiceId>>,
}

/// An annotation value: exactly one member is set.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AnnotationValue {
    /// A numeric value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_value: Option<f64>,
    /// A boolean value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boolean_value: Option<bool>,
    /// A string value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
}

impl AnnotationValue {
    /// A numeric annotation value.
    pub fn number(v: f64) -> Self {
        AnnotationValue {
            number_value: Some(v),
            ..Self::default()
        }
    }

    /// A boolean annotation value.
    pub fn boolean(v: bool) -> Self {
        AnnotationValue {
            boolean_value: Some(v),
            ..Self::default()
        }
    }

    /// A string annotation value.
    pub fn string(v: impl Into<String>) -> Self {
        AnnotationValue {
            string_value: Some(v.into()),
            ..Self::default()
        }
    }
}

/// A user recorded in a trace and the services that recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TraceUser {
    /// The user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// The services that recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_ids: Option<Vec<ServiceId>>,
}

/// Identity of a service (a node of the service graph).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceId {
    /// Canonical name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// All names, including the canonical one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<Vec<String>>,
    /// AWS account id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Node type (the segment's `origin`, `client`, `remote`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
}

/// A resource ARN of a trace (AWS shape `ResourceARNDetail`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ResourceArnDetail {
    /// The ARN.
    #[serde(rename = "ARN", default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
}

/// An EC2 instance id of a trace.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceIdDetail {
    /// The instance id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// An availability zone of a trace.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AvailabilityZoneDetail {
    /// The zone name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Root causes: fault, error and response-time causes share one structure, differing only in the
// entity type, so one generic pair of structs with aliases carries all six AWS shapes.

/// A root cause: the chain of services leading to the culprit (AWS shapes `FaultRootCause`,
/// `ErrorRootCause`, `ResponseTimeRootCause`; see the aliases).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RootCause<E> {
    /// One element per service on the path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<RootCauseService<E>>>,
    /// Whether the root cause affects the trace's client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_impacting: Option<bool>,
}

/// One service on a root-cause path (AWS shapes `FaultRootCauseService`, `ErrorRootCauseService`,
/// `ResponseTimeRootCauseService`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RootCauseService<E> {
    /// Canonical name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// All names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<Vec<String>>,
    /// Node type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    /// AWS account id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Entities traversed inside this service, segment first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_path: Option<Vec<E>>,
    /// Whether the service is inferred.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inferred: Option<bool>,
}

/// An entity of a fault or error root-cause path (AWS shapes `FaultRootCauseEntity`,
/// `ErrorRootCauseEntity`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RootCauseEntity {
    /// Entity (segment or subsegment) name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The exceptions recorded on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exceptions: Option<Vec<RootCauseException>>,
    /// Whether it is a remote subsegment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<bool>,
}

/// An entity of a response-time root-cause path (AWS shape `ResponseTimeRootCauseEntity`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResponseTimeRootCauseEntity {
    /// Entity name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Entity response time divided by the root segment's response time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<f64>,
    /// Whether it is a remote subsegment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<bool>,
}

/// An exception on a root-cause entity.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RootCauseException {
    /// Exception type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Exception message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// AWS shape `FaultRootCauseEntity`.
pub type FaultRootCauseEntity = RootCauseEntity;
/// AWS shape `ErrorRootCauseEntity`.
pub type ErrorRootCauseEntity = RootCauseEntity;
/// AWS shape `FaultRootCauseService`.
pub type FaultRootCauseService = RootCauseService<FaultRootCauseEntity>;
/// AWS shape `ErrorRootCauseService`.
pub type ErrorRootCauseService = RootCauseService<ErrorRootCauseEntity>;
/// AWS shape `ResponseTimeRootCauseService`.
pub type ResponseTimeRootCauseService = RootCauseService<ResponseTimeRootCauseEntity>;
/// AWS shape `FaultRootCause`.
pub type FaultRootCause = RootCause<FaultRootCauseEntity>;
/// AWS shape `ErrorRootCause`.
pub type ErrorRootCause = RootCause<ErrorRootCauseEntity>;
/// AWS shape `ResponseTimeRootCause`.
pub type ResponseTimeRootCause = RootCause<ResponseTimeRootCauseEntity>;
