//! Account-level settings: encryption (`GetEncryptionConfig`, `PutEncryptionConfig`) and the
//! trace-segment destination (`GetTraceSegmentDestination`, `UpdateTraceSegmentDestination`).

use serde::{Deserialize, Serialize};

use super::limits::MAX_KEY_ID_LEN;
use super::validation::{Checked, opt_len_range};

/// `GetEncryptionConfig` input (`POST /EncryptionConfig`): no members; clients may send no body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GetEncryptionConfigRequest {}

/// `GetEncryptionConfig` output.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetEncryptionConfigResponse {
    /// The current configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_config: Option<EncryptionConfig>,
}

/// `PutEncryptionConfig` input (`POST /PutEncryptionConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutEncryptionConfigRequest {
    /// KMS key alias, id or ARN (1..3000 chars); omitted for `NONE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Encryption type.
    pub r#type: EncryptionType,
}

impl PutEncryptionConfigRequest {
    /// Checks the `KeyId` length.
    pub fn validate(&self) -> Checked {
        opt_len_range("KeyId", self.key_id.as_ref(), 1, MAX_KEY_ID_LEN)
    }
}

/// `PutEncryptionConfig` output.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutEncryptionConfigResponse {
    /// The new configuration (status `UPDATING` until applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_config: Option<EncryptionConfig>,
}

/// Encryption settings of stored traces.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptionConfig {
    /// The KMS key, when `Type` is `KMS` (AWS echoes the full key ARN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Whether a change is being applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<EncryptionStatus>,
    /// Encryption type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<EncryptionType>,
}

/// Whether an encryption change is being applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EncryptionStatus {
    /// `UPDATING`
    Updating,
    /// `ACTIVE`
    #[default]
    Active,
}

/// How stored traces are encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EncryptionType {
    /// `NONE`: default encryption.
    #[default]
    None,
    /// `KMS`: a customer key.
    Kms,
}

/// `GetTraceSegmentDestination` input (`POST /GetTraceSegmentDestination`): no members.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GetTraceSegmentDestinationRequest {}

/// `GetTraceSegmentDestination` output.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTraceSegmentDestinationResponse {
    /// Where segments go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<TraceSegmentDestination>,
    /// Whether a change is pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TraceSegmentDestinationStatus>,
}

/// `UpdateTraceSegmentDestination` input (`POST /UpdateTraceSegmentDestination`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateTraceSegmentDestinationRequest {
    /// The new destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<TraceSegmentDestination>,
}

/// `UpdateTraceSegmentDestination` output.
pub type UpdateTraceSegmentDestinationResponse = GetTraceSegmentDestinationResponse;

/// Where trace segments are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum TraceSegmentDestination {
    /// `XRay`
    #[default]
    XRay,
    /// `CloudWatchLogs`
    CloudWatchLogs,
}

/// Whether a destination change is pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TraceSegmentDestinationStatus {
    /// `PENDING`
    Pending,
    /// `ACTIVE`
    #[default]
    Active,
}
