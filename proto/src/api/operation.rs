//! [`Operation`]: the 38 operations of the X-Ray API and the `POST` path each is served at.
//!
//! rest-json routes on the path alone (no `X-Amz-Target`), and several paths are not the
//! operation name (`/Traces`, `/TraceSummaries`, `/EncryptionConfig`, ...), so the collector routes
//! with [`Operation::from_path`].

use std::fmt;

/// An X-Ray API operation (all 38 of the 2016-04-12 model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    /// `BatchGetTraces`: `POST /Traces`.
    BatchGetTraces,
    /// `CancelTraceRetrieval`: `POST /CancelTraceRetrieval`.
    CancelTraceRetrieval,
    /// `CreateGroup`: `POST /CreateGroup`.
    CreateGroup,
    /// `CreateSamplingRule`: `POST /CreateSamplingRule`.
    CreateSamplingRule,
    /// `DeleteGroup`: `POST /DeleteGroup`.
    DeleteGroup,
    /// `DeleteResourcePolicy`: `POST /DeleteResourcePolicy`.
    DeleteResourcePolicy,
    /// `DeleteSamplingRule`: `POST /DeleteSamplingRule`.
    DeleteSamplingRule,
    /// `GetEncryptionConfig`: `POST /EncryptionConfig`.
    GetEncryptionConfig,
    /// `GetGroup`: `POST /GetGroup`.
    GetGroup,
    /// `GetGroups`: `POST /Groups`.
    GetGroups,
    /// `GetIndexingRules`: `POST /GetIndexingRules`.
    GetIndexingRules,
    /// `GetInsight`: `POST /Insight`.
    GetInsight,
    /// `GetInsightEvents`: `POST /InsightEvents`.
    GetInsightEvents,
    /// `GetInsightImpactGraph`: `POST /InsightImpactGraph`.
    GetInsightImpactGraph,
    /// `GetInsightSummaries`: `POST /InsightSummaries`.
    GetInsightSummaries,
    /// `GetRetrievedTracesGraph`: `POST /GetRetrievedTracesGraph`.
    GetRetrievedTracesGraph,
    /// `GetSamplingRules`: `POST /GetSamplingRules`.
    GetSamplingRules,
    /// `GetSamplingStatisticSummaries`: `POST /SamplingStatisticSummaries`.
    GetSamplingStatisticSummaries,
    /// `GetSamplingTargets`: `POST /SamplingTargets`.
    GetSamplingTargets,
    /// `GetServiceGraph`: `POST /ServiceGraph`.
    GetServiceGraph,
    /// `GetTimeSeriesServiceStatistics`: `POST /TimeSeriesServiceStatistics`.
    GetTimeSeriesServiceStatistics,
    /// `GetTraceGraph`: `POST /TraceGraph`.
    GetTraceGraph,
    /// `GetTraceSegmentDestination`: `POST /GetTraceSegmentDestination`.
    GetTraceSegmentDestination,
    /// `GetTraceSummaries`: `POST /TraceSummaries`.
    GetTraceSummaries,
    /// `ListResourcePolicies`: `POST /ListResourcePolicies`.
    ListResourcePolicies,
    /// `ListRetrievedTraces`: `POST /ListRetrievedTraces`.
    ListRetrievedTraces,
    /// `ListTagsForResource`: `POST /ListTagsForResource`.
    ListTagsForResource,
    /// `PutEncryptionConfig`: `POST /PutEncryptionConfig`.
    PutEncryptionConfig,
    /// `PutResourcePolicy`: `POST /PutResourcePolicy`.
    PutResourcePolicy,
    /// `PutTelemetryRecords`: `POST /TelemetryRecords`.
    PutTelemetryRecords,
    /// `PutTraceSegments`: `POST /TraceSegments`.
    PutTraceSegments,
    /// `StartTraceRetrieval`: `POST /StartTraceRetrieval`.
    StartTraceRetrieval,
    /// `TagResource`: `POST /TagResource`.
    TagResource,
    /// `UntagResource`: `POST /UntagResource`.
    UntagResource,
    /// `UpdateGroup`: `POST /UpdateGroup`.
    UpdateGroup,
    /// `UpdateIndexingRule`: `POST /UpdateIndexingRule`.
    UpdateIndexingRule,
    /// `UpdateSamplingRule`: `POST /UpdateSamplingRule`.
    UpdateSamplingRule,
    /// `UpdateTraceSegmentDestination`: `POST /UpdateTraceSegmentDestination`.
    UpdateTraceSegmentDestination,
}

impl Operation {
    /// Every operation, in alphabetical order.
    pub const ALL: [Operation; 38] = [
        Operation::BatchGetTraces,
        Operation::CancelTraceRetrieval,
        Operation::CreateGroup,
        Operation::CreateSamplingRule,
        Operation::DeleteGroup,
        Operation::DeleteResourcePolicy,
        Operation::DeleteSamplingRule,
        Operation::GetEncryptionConfig,
        Operation::GetGroup,
        Operation::GetGroups,
        Operation::GetIndexingRules,
        Operation::GetInsight,
        Operation::GetInsightEvents,
        Operation::GetInsightImpactGraph,
        Operation::GetInsightSummaries,
        Operation::GetRetrievedTracesGraph,
        Operation::GetSamplingRules,
        Operation::GetSamplingStatisticSummaries,
        Operation::GetSamplingTargets,
        Operation::GetServiceGraph,
        Operation::GetTimeSeriesServiceStatistics,
        Operation::GetTraceGraph,
        Operation::GetTraceSegmentDestination,
        Operation::GetTraceSummaries,
        Operation::ListResourcePolicies,
        Operation::ListRetrievedTraces,
        Operation::ListTagsForResource,
        Operation::PutEncryptionConfig,
        Operation::PutResourcePolicy,
        Operation::PutTelemetryRecords,
        Operation::PutTraceSegments,
        Operation::StartTraceRetrieval,
        Operation::TagResource,
        Operation::UntagResource,
        Operation::UpdateGroup,
        Operation::UpdateIndexingRule,
        Operation::UpdateSamplingRule,
        Operation::UpdateTraceSegmentDestination,
    ];

    /// The AWS operation name, e.g. `"PutTraceSegments"`.
    pub const fn name(self) -> &'static str {
        match self {
            Operation::BatchGetTraces => "BatchGetTraces",
            Operation::CancelTraceRetrieval => "CancelTraceRetrieval",
            Operation::CreateGroup => "CreateGroup",
            Operation::CreateSamplingRule => "CreateSamplingRule",
            Operation::DeleteGroup => "DeleteGroup",
            Operation::DeleteResourcePolicy => "DeleteResourcePolicy",
            Operation::DeleteSamplingRule => "DeleteSamplingRule",
            Operation::GetEncryptionConfig => "GetEncryptionConfig",
            Operation::GetGroup => "GetGroup",
            Operation::GetGroups => "GetGroups",
            Operation::GetIndexingRules => "GetIndexingRules",
            Operation::GetInsight => "GetInsight",
            Operation::GetInsightEvents => "GetInsightEvents",
            Operation::GetInsightImpactGraph => "GetInsightImpactGraph",
            Operation::GetInsightSummaries => "GetInsightSummaries",
            Operation::GetRetrievedTracesGraph => "GetRetrievedTracesGraph",
            Operation::GetSamplingRules => "GetSamplingRules",
            Operation::GetSamplingStatisticSummaries => "GetSamplingStatisticSummaries",
            Operation::GetSamplingTargets => "GetSamplingTargets",
            Operation::GetServiceGraph => "GetServiceGraph",
            Operation::GetTimeSeriesServiceStatistics => "GetTimeSeriesServiceStatistics",
            Operation::GetTraceGraph => "GetTraceGraph",
            Operation::GetTraceSegmentDestination => "GetTraceSegmentDestination",
            Operation::GetTraceSummaries => "GetTraceSummaries",
            Operation::ListResourcePolicies => "ListResourcePolicies",
            Operation::ListRetrievedTraces => "ListRetrievedTraces",
            Operation::ListTagsForResource => "ListTagsForResource",
            Operation::PutEncryptionConfig => "PutEncryptionConfig",
            Operation::PutResourcePolicy => "PutResourcePolicy",
            Operation::PutTelemetryRecords => "PutTelemetryRecords",
            Operation::PutTraceSegments => "PutTraceSegments",
            Operation::StartTraceRetrieval => "StartTraceRetrieval",
            Operation::TagResource => "TagResource",
            Operation::UntagResource => "UntagResource",
            Operation::UpdateGroup => "UpdateGroup",
            Operation::UpdateIndexingRule => "UpdateIndexingRule",
            Operation::UpdateSamplingRule => "UpdateSamplingRule",
            Operation::UpdateTraceSegmentDestination => "UpdateTraceSegmentDestination",
        }
    }

    /// The path the operation is `POST`ed to, e.g. `"/TraceSegments"`.
    pub const fn path(self) -> &'static str {
        match self {
            Operation::BatchGetTraces => "/Traces",
            Operation::CancelTraceRetrieval => "/CancelTraceRetrieval",
            Operation::CreateGroup => "/CreateGroup",
            Operation::CreateSamplingRule => "/CreateSamplingRule",
            Operation::DeleteGroup => "/DeleteGroup",
            Operation::DeleteResourcePolicy => "/DeleteResourcePolicy",
            Operation::DeleteSamplingRule => "/DeleteSamplingRule",
            Operation::GetEncryptionConfig => "/EncryptionConfig",
            Operation::GetGroup => "/GetGroup",
            Operation::GetGroups => "/Groups",
            Operation::GetIndexingRules => "/GetIndexingRules",
            Operation::GetInsight => "/Insight",
            Operation::GetInsightEvents => "/InsightEvents",
            Operation::GetInsightImpactGraph => "/InsightImpactGraph",
            Operation::GetInsightSummaries => "/InsightSummaries",
            Operation::GetRetrievedTracesGraph => "/GetRetrievedTracesGraph",
            Operation::GetSamplingRules => "/GetSamplingRules",
            Operation::GetSamplingStatisticSummaries => "/SamplingStatisticSummaries",
            Operation::GetSamplingTargets => "/SamplingTargets",
            Operation::GetServiceGraph => "/ServiceGraph",
            Operation::GetTimeSeriesServiceStatistics => "/TimeSeriesServiceStatistics",
            Operation::GetTraceGraph => "/TraceGraph",
            Operation::GetTraceSegmentDestination => "/GetTraceSegmentDestination",
            Operation::GetTraceSummaries => "/TraceSummaries",
            Operation::ListResourcePolicies => "/ListResourcePolicies",
            Operation::ListRetrievedTraces => "/ListRetrievedTraces",
            Operation::ListTagsForResource => "/ListTagsForResource",
            Operation::PutEncryptionConfig => "/PutEncryptionConfig",
            Operation::PutResourcePolicy => "/PutResourcePolicy",
            Operation::PutTelemetryRecords => "/TelemetryRecords",
            Operation::PutTraceSegments => "/TraceSegments",
            Operation::StartTraceRetrieval => "/StartTraceRetrieval",
            Operation::TagResource => "/TagResource",
            Operation::UntagResource => "/UntagResource",
            Operation::UpdateGroup => "/UpdateGroup",
            Operation::UpdateIndexingRule => "/UpdateIndexingRule",
            Operation::UpdateSamplingRule => "/UpdateSamplingRule",
            Operation::UpdateTraceSegmentDestination => "/UpdateTraceSegmentDestination",
        }
    }

    /// The operation served at `path` (case-sensitive; one trailing `/` tolerated; any query
    /// string must already be stripped).
    pub fn from_path(path: &str) -> Option<Operation> {
        let path = match path.strip_suffix('/') {
            Some(trimmed) if !trimmed.is_empty() => trimmed,
            _ => path,
        };
        Some(match path {
            "/Traces" => Operation::BatchGetTraces,
            "/CancelTraceRetrieval" => Operation::CancelTraceRetrieval,
            "/CreateGroup" => Operation::CreateGroup,
            "/CreateSamplingRule" => Operation::CreateSamplingRule,
            "/DeleteGroup" => Operation::DeleteGroup,
            "/DeleteResourcePolicy" => Operation::DeleteResourcePolicy,
            "/DeleteSamplingRule" => Operation::DeleteSamplingRule,
            "/EncryptionConfig" => Operation::GetEncryptionConfig,
            "/GetGroup" => Operation::GetGroup,
            "/Groups" => Operation::GetGroups,
            "/GetIndexingRules" => Operation::GetIndexingRules,
            "/Insight" => Operation::GetInsight,
            "/InsightEvents" => Operation::GetInsightEvents,
            "/InsightImpactGraph" => Operation::GetInsightImpactGraph,
            "/InsightSummaries" => Operation::GetInsightSummaries,
            "/GetRetrievedTracesGraph" => Operation::GetRetrievedTracesGraph,
            "/GetSamplingRules" => Operation::GetSamplingRules,
            "/SamplingStatisticSummaries" => Operation::GetSamplingStatisticSummaries,
            "/SamplingTargets" => Operation::GetSamplingTargets,
            "/ServiceGraph" => Operation::GetServiceGraph,
            "/TimeSeriesServiceStatistics" => Operation::GetTimeSeriesServiceStatistics,
            "/TraceGraph" => Operation::GetTraceGraph,
            "/GetTraceSegmentDestination" => Operation::GetTraceSegmentDestination,
            "/TraceSummaries" => Operation::GetTraceSummaries,
            "/ListResourcePolicies" => Operation::ListResourcePolicies,
            "/ListRetrievedTraces" => Operation::ListRetrievedTraces,
            "/ListTagsForResource" => Operation::ListTagsForResource,
            "/PutEncryptionConfig" => Operation::PutEncryptionConfig,
            "/PutResourcePolicy" => Operation::PutResourcePolicy,
            "/TelemetryRecords" => Operation::PutTelemetryRecords,
            "/TraceSegments" => Operation::PutTraceSegments,
            "/StartTraceRetrieval" => Operation::StartTraceRetrieval,
            "/TagResource" => Operation::TagResource,
            "/UntagResource" => Operation::UntagResource,
            "/UpdateGroup" => Operation::UpdateGroup,
            "/UpdateIndexingRule" => Operation::UpdateIndexingRule,
            "/UpdateSamplingRule" => Operation::UpdateSamplingRule,
            "/UpdateTraceSegmentDestination" => Operation::UpdateTraceSegmentDestination,
            _ => return None,
        })
    }

    /// The operation with this AWS name, e.g. `"GetSamplingRules"`.
    pub fn from_name(name: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|op| op.name() == name)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
