//! Telemetry from daemons, and the account settings Fluoro answers with fixed values
//! (encryption, segment destination).

use super::AppState;
use crate::store::groups::{TelemetrySource, insert_telemetry};
use crate::store::traces::now_secs;
use fluoro_proto::api::{
    ApiError, EncryptionConfig, EncryptionStatus, EncryptionType, GetEncryptionConfigResponse,
    GetTraceSegmentDestinationResponse, PutEncryptionConfigRequest, PutEncryptionConfigResponse,
    PutTelemetryRecordsRequest, PutTelemetryRecordsResponse, TraceSegmentDestination,
    TraceSegmentDestinationStatus, UpdateTraceSegmentDestinationRequest,
};

pub(super) async fn put_telemetry(
    st: &AppState,
    req: PutTelemetryRecordsRequest,
) -> Result<PutTelemetryRecordsResponse, ApiError> {
    req.validate()?;
    let records = req
        .telemetry_records
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::internal(format!("cannot encode telemetry: {e}")))?;
    let source = TelemetrySource {
        hostname: req.hostname,
        instance_id: req.ec2_instance_id,
        resource_arn: req.resource_arn,
    };
    st.store
        .write(move |conn| insert_telemetry(conn, now_secs(), &source, &records))
        .await?;
    Ok(PutTelemetryRecordsResponse {})
}

/// Data is stored unencrypted by Fluoro itself (encrypt the volume if needed).
pub(super) fn get_encryption_config() -> GetEncryptionConfigResponse {
    GetEncryptionConfigResponse {
        encryption_config: Some(EncryptionConfig {
            key_id: None,
            status: Some(EncryptionStatus::Active),
            r#type: Some(EncryptionType::None),
        }),
    }
}

pub(super) fn put_encryption_config(
    req: &PutEncryptionConfigRequest,
) -> Result<PutEncryptionConfigResponse, ApiError> {
    req.validate()?;
    if req.r#type != EncryptionType::None {
        return Err(ApiError::invalid_request(
            "Type KMS is not supported: Fluoro does not call AWS KMS; encrypt the data directory's volume instead",
        ));
    }
    Ok(PutEncryptionConfigResponse {
        encryption_config: get_encryption_config().encryption_config,
    })
}

/// Segments always go to Fluoro's own store.
pub(super) fn get_destination() -> GetTraceSegmentDestinationResponse {
    GetTraceSegmentDestinationResponse {
        destination: Some(TraceSegmentDestination::XRay),
        status: Some(TraceSegmentDestinationStatus::Active),
    }
}

pub(super) fn update_destination(
    req: &UpdateTraceSegmentDestinationRequest,
) -> Result<GetTraceSegmentDestinationResponse, ApiError> {
    match req.destination {
        None | Some(TraceSegmentDestination::XRay) => Ok(get_destination()),
        Some(other) => Err(ApiError::invalid_request(format!(
            "Destination {other:?} is not supported: Fluoro keeps segments in its own store"
        ))),
    }
}
