//! The service graph: `GetServiceGraph`, `GetTraceGraph`, `GetTimeSeriesServiceStatistics` and
//! their `Service`, `Edge`, statistics and histogram shapes.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::EpochSeconds;
use super::de::null_as_default;
use super::limits::{MAX_ENTITY_SELECTOR_LEN, MAX_TRACE_GRAPH_IDS};
use super::traces::validate_trace_ids;
use super::validation::{Checked, at_least, group_ref, opt_len_range, time_window};

/// `GetServiceGraph` input (`POST /ServiceGraph`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetServiceGraphRequest {
    /// Start of the window.
    pub start_time: EpochSeconds,
    /// End of the window.
    pub end_time: EpochSeconds,
    /// Restrict to a group, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    /// Restrict to a group, by ARN.
    #[serde(rename = "GroupARN", default, skip_serializing_if = "Option::is_none")]
    pub group_arn: Option<String>,
    /// Pagination token from a previous response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

impl GetServiceGraphRequest {
    /// Checks `StartTime <= EndTime` and the group name/ARN lengths.
    pub fn validate(&self) -> Checked {
        time_window(self.start_time, self.end_time)?;
        group_ref(self.group_name.as_ref(), self.group_arn.as_ref())
    }
}

/// `GetServiceGraph` output.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetServiceGraphResponse {
    /// Start of the window actually used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<EpochSeconds>,
    /// End of the window actually used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<EpochSeconds>,
    /// The nodes, each with its outgoing edges (always written).
    #[serde(default, deserialize_with = "null_as_default")]
    pub services: Vec<Service>,
    /// Whether the group's filter changed within the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains_old_group_versions: Option<bool>,
    /// Token for the next page; omitted on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `GetTraceGraph` input (`POST /TraceGraph`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTraceGraphRequest {
    /// Trace ids (at most [`MAX_TRACE_GRAPH_IDS`], each 1..35 chars).
    pub trace_ids: Vec<String>,
    /// Pagination token from a previous response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

impl GetTraceGraphRequest {
    /// Checks the id count and each id's length.
    pub fn validate(&self) -> Checked {
        validate_trace_ids(&self.trace_ids, MAX_TRACE_GRAPH_IDS)
    }
}

/// `GetTraceGraph` output.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTraceGraphResponse {
    /// The nodes (always written).
    #[serde(default, deserialize_with = "null_as_default")]
    pub services: Vec<Service>,
    /// Token for the next page; omitted on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// A node of the service graph.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Service {
    /// Identifier unique within the response; edges point at it.
    #[serde(default, deserialize_with = "null_as_default")]
    pub reference_id: i32,
    /// Canonical name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// All names, including the canonical one (always written).
    #[serde(default, deserialize_with = "null_as_default")]
    pub names: Vec<String>,
    /// `true` for the service that handled the request first; omitted otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<bool>,
    /// AWS account id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Node type: the segment `origin` verbatim, `client` or `remote`; omitted when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    /// `active` for instrumented services, `unknown` for client and inferred nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// First segment start of the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<EpochSeconds>,
    /// Last segment end of the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<EpochSeconds>,
    /// Outgoing edges (always written, `[]` for leaves).
    #[serde(default, deserialize_with = "null_as_default")]
    pub edges: Vec<Edge>,
    /// Aggregated statistics; omitted on client nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_statistics: Option<ServiceStatistics>,
    /// Distribution of durations; omitted on client nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_histogram: Option<Vec<HistogramEntry>>,
    /// Distribution of response times; omitted on client nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_time_histogram: Option<Vec<HistogramEntry>>,
}

/// A directed connection from the service that owns it to the service `ReferenceId`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Edge {
    /// `ReferenceId` of the target service.
    #[serde(default, deserialize_with = "null_as_default")]
    pub reference_id: i32,
    /// First request start on the edge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<EpochSeconds>,
    /// Last request end on the edge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<EpochSeconds>,
    /// Statistics of the requests on the edge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_statistics: Option<EdgeStatistics>,
    /// Client-side response times (always written: Grafana sums its counts).
    #[serde(default, deserialize_with = "null_as_default")]
    pub response_time_histogram: Vec<HistogramEntry>,
    /// Aliases of the target (always written, usually `[]`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub aliases: Vec<Alias>,
    /// `link` for asynchronous trace links; omitted for ordinary calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge_type: Option<EdgeType>,
    /// Age of events when received; only for `link` edges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_event_age_histogram: Option<Vec<HistogramEntry>>,
}

/// The kind of an [`Edge`]; a plain string in the model, where only `link` is documented.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EdgeType {
    /// `link`: an asynchronous trace link (e.g. SQS to Lambda).
    Link,
    /// Any other value, kept verbatim.
    Other(String),
}

impl EdgeType {
    /// The wire string.
    pub fn as_str(&self) -> &str {
        match self {
            EdgeType::Link => "link",
            EdgeType::Other(s) => s,
        }
    }
}

impl fmt::Display for EdgeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for EdgeType {
    fn from(s: &str) -> Self {
        if s == "link" {
            EdgeType::Link
        } else {
            EdgeType::Other(s.to_owned())
        }
    }
}

impl Serialize for EdgeType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EdgeType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Ok(EdgeType::from(s.as_str()))
    }
}

/// Another name for an edge's target.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Alias {
    /// Canonical name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Other names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<Vec<String>>,
    /// Type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
}

/// Request statistics of a service or an edge (AWS shapes `ServiceStatistics` and
/// `EdgeStatistics`, which have identical members). Counts are always written.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceStatistics {
    /// Requests that completed with 2xx.
    #[serde(default, deserialize_with = "null_as_default")]
    pub ok_count: i64,
    /// 4xx breakdown.
    #[serde(default, deserialize_with = "null_as_default")]
    pub error_statistics: ErrorStatistics,
    /// 5xx breakdown.
    #[serde(default, deserialize_with = "null_as_default")]
    pub fault_statistics: FaultStatistics,
    /// Completed requests.
    #[serde(default, deserialize_with = "null_as_default")]
    pub total_count: i64,
    /// Sum of response times, seconds.
    #[serde(default, deserialize_with = "null_as_default")]
    pub total_response_time: f64,
}

/// AWS shape `EdgeStatistics` (same members as [`ServiceStatistics`]).
pub type EdgeStatistics = ServiceStatistics;

/// Client-error (4xx) counts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorStatistics {
    /// Requests that got 429.
    #[serde(default, deserialize_with = "null_as_default")]
    pub throttle_count: i64,
    /// Requests that got another 4xx.
    #[serde(default, deserialize_with = "null_as_default")]
    pub other_count: i64,
    /// All 4xx.
    #[serde(default, deserialize_with = "null_as_default")]
    pub total_count: i64,
}

/// Server-fault (5xx) counts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FaultStatistics {
    /// Requests that got a 5xx.
    #[serde(default, deserialize_with = "null_as_default")]
    pub other_count: i64,
    /// All 5xx.
    #[serde(default, deserialize_with = "null_as_default")]
    pub total_count: i64,
}

/// One bucket of a histogram: `Count` observations of `Value` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistogramEntry {
    /// The value, seconds (millisecond-rounded by AWS).
    #[serde(default, deserialize_with = "null_as_default")]
    pub value: f64,
    /// How many observations had it.
    #[serde(default, deserialize_with = "null_as_default")]
    pub count: i32,
}

/// `GetTimeSeriesServiceStatistics` input (`POST /TimeSeriesServiceStatistics`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTimeSeriesServiceStatisticsRequest {
    /// Start of the window.
    pub start_time: EpochSeconds,
    /// End of the window.
    pub end_time: EpochSeconds,
    /// Restrict to a group, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    /// Restrict to a group, by ARN.
    #[serde(rename = "GroupARN", default, skip_serializing_if = "Option::is_none")]
    pub group_arn: Option<String>,
    /// `id(...)`, `service(...)` or `edge(...)`; without one, edge statistics are returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_selector_expression: Option<String>,
    /// Bucket width in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<i32>,
    /// Include fault forecasts (needs an `id()` selector).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecast_statistics: Option<bool>,
    /// Pagination token from a previous response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

impl GetTimeSeriesServiceStatisticsRequest {
    /// Checks `StartTime <= EndTime`, group name/ARN and selector lengths, and `Period >= 1`
    /// (the model has no bound; a zero or negative bucket width is meaningless).
    pub fn validate(&self) -> Checked {
        time_window(self.start_time, self.end_time)?;
        group_ref(self.group_name.as_ref(), self.group_arn.as_ref())?;
        opt_len_range(
            "EntitySelectorExpression",
            self.entity_selector_expression.as_ref(),
            1,
            MAX_ENTITY_SELECTOR_LEN,
        )?;
        if let Some(period) = self.period {
            at_least("Period", period, 1)?;
        }
        Ok(())
    }
}

/// `GetTimeSeriesServiceStatistics` output.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTimeSeriesServiceStatisticsResponse {
    /// One entry per bucket (always written).
    #[serde(default, deserialize_with = "null_as_default")]
    pub time_series_service_statistics: Vec<TimeSeriesServiceStatistics>,
    /// Whether the group's filter changed within the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains_old_group_versions: Option<bool>,
    /// Token for the next page; omitted on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// Statistics of one time bucket.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TimeSeriesServiceStatistics {
    /// Start of the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<EpochSeconds>,
    /// Edge statistics (edge selector, or no selector).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge_summary_statistics: Option<EdgeStatistics>,
    /// Service statistics (`id()` / `service()` selector).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_summary_statistics: Option<ServiceStatistics>,
    /// Fault forecast, when requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_forecast_statistics: Option<ForecastStatistics>,
    /// Response-time distribution of the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_time_histogram: Option<Vec<HistogramEntry>>,
}

/// Forecast bounds of the fault count.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ForecastStatistics {
    /// Upper bound.
    #[serde(default, deserialize_with = "null_as_default")]
    pub fault_count_high: i64,
    /// Lower bound.
    #[serde(default, deserialize_with = "null_as_default")]
    pub fault_count_low: i64,
}
