//! Reading stored daemon telemetry back (written by `groups::insert_telemetry`).

use fluoro_proto::api::{EpochSeconds, StoredTelemetry, TelemetryRecord};
use rusqlite::{Connection, params};

use super::StoreError;

/// Records received since `since` (epoch seconds), newest first, at most `limit`. A record
/// that no longer decodes is skipped and logged.
pub fn recent(
    conn: &Connection,
    since: f64,
    limit: usize,
) -> Result<Vec<StoredTelemetry>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT received_at, hostname, instance_id, resource_arn, record FROM telemetry
         WHERE received_at >= ?1 ORDER BY received_at DESC, id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(
        params![since, i64::try_from(limit).unwrap_or(i64::MAX)],
        |r| {
            Ok((
                r.get::<_, f64>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
            ))
        },
    )?;
    let mut out = Vec::new();
    for row in rows {
        let (received_at, hostname, ec2_instance_id, resource_arn, record) = row?;
        match serde_json::from_str::<TelemetryRecord>(&record) {
            Ok(record) => out.push(StoredTelemetry {
                received_at: EpochSeconds(received_at),
                hostname,
                ec2_instance_id,
                resource_arn,
                record,
            }),
            Err(e) => tracing::warn!(error = %e, "stored telemetry record does not decode"),
        }
    }
    Ok(out)
}
