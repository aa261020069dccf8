//! Daemon telemetry: `PutTelemetryRecords`.

use serde::{Deserialize, Serialize};

use super::EpochSeconds;
use super::limits::{MAX_EC2_INSTANCE_ID_LEN, MAX_HOSTNAME_LEN, MAX_TELEMETRY_RESOURCE_ARN_LEN};
use super::validation::{Checked, opt_max_len};

/// `PutTelemetryRecords` input (`POST /TelemetryRecords`), sent by the daemon every 60 s.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutTelemetryRecordsRequest {
    /// The records, oldest first.
    pub telemetry_records: Vec<TelemetryRecord>,
    /// The daemon host's EC2 instance id (at most 20 chars).
    #[serde(
        rename = "EC2InstanceId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ec2_instance_id: Option<String>,
    /// The daemon's host name (at most 255 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The daemon's `-a` resource ARN (at most 500 chars).
    #[serde(
        rename = "ResourceARN",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub resource_arn: Option<String>,
}

impl PutTelemetryRecordsRequest {
    /// Checks the lengths of `EC2InstanceId`, `Hostname` and `ResourceARN`.
    pub fn validate(&self) -> Checked {
        opt_max_len(
            "EC2InstanceId",
            self.ec2_instance_id.as_ref(),
            MAX_EC2_INSTANCE_ID_LEN,
        )?;
        opt_max_len("Hostname", self.hostname.as_ref(), MAX_HOSTNAME_LEN)?;
        opt_max_len(
            "ResourceARN",
            self.resource_arn.as_ref(),
            MAX_TELEMETRY_RESOURCE_ARN_LEN,
        )
    }
}

/// `PutTelemetryRecords` output: `{}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PutTelemetryRecordsResponse {}

/// The daemon's counters over one interval.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TelemetryRecord {
    /// End of the interval.
    pub timestamp: EpochSeconds,
    /// Segments received over UDP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments_received_count: Option<i32>,
    /// Segments uploaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments_sent_count: Option<i32>,
    /// Segments dropped because a buffer was full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments_spillover_count: Option<i32>,
    /// Segments rejected (bad header, or unprocessed by the API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments_rejected_count: Option<i32>,
    /// Upload failures by kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_connection_errors: Option<BackendConnectionErrors>,
}

/// The daemon's upload failures by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BackendConnectionErrors {
    /// Timed-out calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_count: Option<i32>,
    /// Refused connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_refused_count: Option<i32>,
    /// HTTP 4xx answers (including 429).
    #[serde(
        rename = "HTTPCode4XXCount",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub http_code_4xx_count: Option<i32>,
    /// HTTP 5xx answers.
    #[serde(
        rename = "HTTPCode5XXCount",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub http_code_5xx_count: Option<i32>,
    /// Name-resolution failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_host_count: Option<i32>,
    /// Anything else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_count: Option<i32>,
}

/// Fluoro's own read path for stored daemon telemetry (`GET /fluoro/telemetry?minutes=N`): the
/// X-Ray API has no operation that reads `PutTelemetryRecords` back. Not an AWS shape.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StoredTelemetryResponse {
    /// Records received in the window, newest first.
    #[serde(default)]
    pub telemetry_records: Vec<StoredTelemetry>,
}

/// One stored telemetry record with who sent it and when it arrived.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StoredTelemetry {
    /// When the collector received it.
    pub received_at: EpochSeconds,
    /// The daemon host's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The daemon host's EC2 instance id.
    #[serde(
        rename = "EC2InstanceId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ec2_instance_id: Option<String>,
    /// The daemon's resource ARN.
    #[serde(
        rename = "ResourceARN",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub resource_arn: Option<String>,
    /// The record as the daemon sent it.
    pub record: TelemetryRecord,
}
