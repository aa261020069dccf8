//! Daemon telemetry: every `--telemetry-interval` (60 s by default, as the AWS daemon), one
//! `PutTelemetryRecords` call to the endpoint with what happened since the previous one, so the
//! collector (and its console) can show each daemon's health. As the AWS daemon, nothing is sent
//! before the first datagram arrives, and an interval with no activity sends nothing.
//!
//! Counters map onto X-Ray's record like this: received = datagrams read; sent = documents the
//! endpoint took; spillover = documents dropped (buffer full, spool full, shutdown) and datagrams
//! the kernel dropped (full socket buffer); rejected =
//! datagrams refused by framing plus documents the endpoint refused or left unprocessed; backend
//! errors by kind (timeouts, refused connections, 4xx including 429, 5xx, other).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use fluoro_proto::api::{
    BackendConnectionErrors, EpochSeconds, Operation, PutTelemetryRecordsRequest, TelemetryRecord,
};
use hyper::{Method, Request};
use tokio::sync::watch;

use crate::client::Client;
use crate::metrics::{Metrics, Snapshot};

/// Timeout of one telemetry call; telemetry never holds anything else up.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The record for the activity between two snapshots; `None` when there was none.
pub fn record(before: &Snapshot, now: &Snapshot, at: f64) -> Option<TelemetryRecord> {
    let d = |a: u64, b: u64| i32::try_from(a.saturating_sub(b)).unwrap_or(i32::MAX);
    let err = |kind: &str| {
        d(
            now.send_errors.get(kind).copied().unwrap_or(0),
            before.send_errors.get(kind).copied().unwrap_or(0),
        )
    };
    let received = d(now.datagrams_received, before.datagrams_received);
    let sent = d(now.documents_sent, before.documents_sent)
        - d(now.documents_unprocessed, before.documents_unprocessed);
    let spillover =
        d(now.dropped_total(), before.dropped_total()) + d(now.kernel_drops, before.kernel_drops);
    let rejected = d(now.rejected_total(), before.rejected_total())
        + d(now.documents_unprocessed, before.documents_unprocessed)
        + d(now.documents_refused, before.documents_refused);
    let errors = BackendConnectionErrors {
        timeout_count: Some(err("timeout")),
        connection_refused_count: Some(err("connect")),
        http_code_4xx_count: Some(err("http_4xx") + err("http_429")),
        http_code_5xx_count: Some(err("http_5xx")),
        unknown_host_count: Some(0),
        other_count: Some(err("request") + err("credentials")),
    };
    let any_error = [
        errors.timeout_count,
        errors.connection_refused_count,
        errors.http_code_4xx_count,
        errors.http_code_5xx_count,
        errors.other_count,
    ]
    .iter()
    .any(|c| c.unwrap_or(0) > 0);
    if received == 0 && sent == 0 && spillover == 0 && rejected == 0 && !any_error {
        return None;
    }
    Some(TelemetryRecord {
        timestamp: EpochSeconds(at),
        segments_received_count: Some(received),
        segments_sent_count: Some(sent.max(0)),
        segments_spillover_count: Some(spillover),
        segments_rejected_count: Some(rejected),
        backend_connection_errors: Some(errors),
    })
}

/// Sends telemetry until `stop`. `hostname` (`AWS_HOSTNAME`, as the AWS daemon) overrides the
/// machine's host name.
pub async fn run(
    client: Client,
    metrics: Arc<Metrics>,
    interval: Duration,
    resource_arn: Option<String>,
    hostname: Option<String>,
    mut stop: watch::Receiver<bool>,
) {
    let hostname = hostname.or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
    });
    let mut before = metrics.snapshot();
    let mut warned = false;
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let now = metrics.snapshot();
        if now.datagrams_received == 0 {
            continue; // nothing received yet, as the AWS daemon
        }
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64().floor());
        let Some(rec) = record(&before, &now, at) else {
            continue;
        };
        before = now;
        let body = PutTelemetryRecordsRequest {
            telemetry_records: vec![rec],
            ec2_instance_id: None,
            hostname: hostname.clone(),
            resource_arn: resource_arn.clone(),
        };
        let Ok(json) = serde_json::to_vec(&body) else {
            continue;
        };
        let req = Request::builder()
            .method(Method::POST)
            .uri(Operation::PutTelemetryRecords.path())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Bytes::from(json));
        let Ok(req) = req else { continue };
        match client.send(req, TIMEOUT).await {
            Ok(resp) if resp.status().is_success() => warned = false,
            Ok(resp) => {
                if !warned {
                    tracing::warn!(status = %resp.status(), "telemetry refused by the endpoint");
                    warned = true;
                }
            }
            Err(e) => {
                if !warned {
                    tracing::warn!(error = %e, "telemetry not delivered");
                    warned = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_and_silence() {
        let before = Snapshot::default();
        assert!(record(&before, &before, 1.0).is_none());
        let mut now = Snapshot {
            datagrams_received: 12,
            documents_sent: 10,
            documents_unprocessed: 1,
            ..Snapshot::default()
        };
        now.rejected.insert("missing_newline", 2);
        now.dropped.insert("buffer_full", 3);
        now.send_errors.insert("http_429", 4);
        now.send_errors.insert("timeout", 1);
        let r = record(&before, &now, 1_700_000_000.0).unwrap();
        assert_eq!(r.segments_received_count, Some(12));
        assert_eq!(r.segments_sent_count, Some(9));
        assert_eq!(r.segments_spillover_count, Some(3));
        assert_eq!(r.segments_rejected_count, Some(3));
        let e = r.backend_connection_errors.unwrap();
        assert_eq!((e.http_code_4xx_count, e.timeout_count), (Some(4), Some(1)));
        // The next interval counts only what happened since.
        assert!(record(&now, &now, 2.0).is_none());
    }
}
