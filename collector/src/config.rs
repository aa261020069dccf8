//! The collector's configuration: one typed struct, parsed from flags and `FLUORO_*` variables,
//! validated before any socket is bound or file opened.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Default API and console address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:2020";
/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "./fluoro-data";
/// Default retention: X-Ray keeps traces 30 days.
pub const DEFAULT_RETENTION: &str = "30d";
/// Default largest request body: 50 documents of 64 KiB plus JSON overhead.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Default most documents per PutTraceSegments, as AWS.
pub const DEFAULT_MAX_DOCUMENTS: usize = 50;
/// Default largest document, as AWS (64 KiB).
pub const DEFAULT_MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// Default depth of the writer's queue, in write requests (one per API call).
pub const DEFAULT_WRITE_QUEUE: usize = 256;
/// Default quiet time before a changed trace's summary and graph statistics are recomputed.
pub const DEFAULT_AGGREGATE_DELAY: &str = "1s";
/// Default most traces one filtered GetTraceSummaries page evaluates.
pub const DEFAULT_MAX_FILTER_EVALUATIONS: usize = 2_000;
/// Default most traces a group-scoped service graph or time series evaluates.
pub const DEFAULT_MAX_GROUP_GRAPH_TRACES: usize = 200_000;
/// Default memory for documents waiting to be aggregated, already parsed (256 MiB: about
/// 45,000 one-kilobyte documents, under a second of ingest at full rate).
pub const DEFAULT_AGGREGATE_CACHE_BYTES: usize = 256 * 1024 * 1024;

/// `fluoro-collector`: the X-Ray API, trace storage and the service graph.
///
/// Point any X-Ray client at it: `aws xray get-service-graph --endpoint-url http://127.0.0.1:2020`,
/// boto3's `endpoint_url`, or the X-Ray daemon's `Endpoint` setting.
#[derive(Debug, Clone, Parser)]
#[command(name = "fluoro-collector", version, about, long_about = None)]
pub struct Config {
    /// Address to serve the X-Ray API on.
    #[arg(long, env = "FLUORO_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// Directory for the SQLite database (created if missing).
    #[arg(long, env = "FLUORO_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,

    /// How long traces are kept, e.g. `30d`, `12h`, `90m`, `3600s`.
    #[arg(long, env = "FLUORO_RETENTION", default_value = DEFAULT_RETENTION, value_parser = parse_duration)]
    pub retention: Duration,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "FLUORO_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,

    /// Most documents accepted in one PutTraceSegments call.
    #[arg(long, env = "FLUORO_MAX_DOCUMENTS", default_value_t = DEFAULT_MAX_DOCUMENTS)]
    pub max_documents: usize,

    /// Largest segment document accepted, in bytes.
    #[arg(long, env = "FLUORO_MAX_DOCUMENT_BYTES", default_value_t = DEFAULT_MAX_DOCUMENT_BYTES)]
    pub max_document_bytes: usize,

    /// Write requests that may wait for the database writer; beyond it the API answers 429
    /// ThrottledException, which every AWS client retries.
    #[arg(long, env = "FLUORO_WRITE_QUEUE", default_value_t = DEFAULT_WRITE_QUEUE)]
    pub write_queue: usize,

    /// Quiet time after a trace's last document before its summary and its service-graph
    /// statistics are (re)computed, e.g. `1s`, `500ms`, `0s`.
    #[arg(long, env = "FLUORO_AGGREGATE_DELAY", default_value = DEFAULT_AGGREGATE_DELAY, value_parser = parse_duration)]
    pub aggregate_delay: Duration,

    /// Memory, in bytes, for documents waiting to be aggregated, kept as ingest parsed them so
    /// the aggregator need not read and parse them again. Past it the oldest traces are read
    /// back from the database instead (slower, never wrong). 0 turns the cache off.
    #[arg(long, env = "FLUORO_AGGREGATE_CACHE_BYTES", default_value_t = DEFAULT_AGGREGATE_CACHE_BYTES)]
    pub aggregate_cache_bytes: usize,

    /// WAL size, in bytes, past which a checkpoint waits for readers and the writer and starts
    /// the WAL over (counted in `fluoro_collector_wal_checkpoints_forced_total`); below it,
    /// checkpoints never block anyone.
    #[arg(long, env = "FLUORO_WAL_LIMIT_BYTES", default_value_t = crate::store::checkpoint::DEFAULT_WAL_LIMIT_BYTES)]
    pub wal_limit_bytes: u64,

    /// Most traces one GetTraceSummaries page with a FilterExpression evaluates before it
    /// answers with the matches found so far and a NextToken.
    #[arg(long, env = "FLUORO_MAX_FILTER_EVALUATIONS", default_value_t = DEFAULT_MAX_FILTER_EVALUATIONS)]
    pub max_filter_evaluations: usize,

    /// Most traces GetServiceGraph / GetTimeSeriesServiceStatistics evaluate for a group with a
    /// filter expression; a time range holding more is refused with a hint to narrow it.
    #[arg(long, env = "FLUORO_MAX_GROUP_GRAPH_TRACES", default_value_t = DEFAULT_MAX_GROUP_GRAPH_TRACES)]
    pub max_group_graph_traces: usize,

    /// File of `ACCESS_KEY_ID SECRET_ACCESS_KEY` lines; when set, every request must carry a
    /// valid SigV4 signature (service `xray`) made with one of these keys.
    #[arg(long, env = "FLUORO_AUTH_KEYS")]
    pub auth_keys: Option<PathBuf>,

    /// Region written into ARNs of sampling rules and groups.
    #[arg(long, env = "FLUORO_REGION", default_value = "us-east-1")]
    pub region: String,

    /// Account id written into ARNs of sampling rules and groups.
    #[arg(long, env = "FLUORO_ACCOUNT_ID", default_value = "000000000000")]
    pub account_id: String,

    /// OTLP/gRPC receiver address (`TraceService/Export`), or `off`.
    #[arg(long, env = "FLUORO_OTLP_GRPC", default_value = crate::otlp::DEFAULT_GRPC)]
    pub otlp_grpc: crate::otlp::OptionalAddr,

    /// OTLP/HTTP receiver address (`POST /v1/traces`), or `off`.
    #[arg(long, env = "FLUORO_OTLP_HTTP", default_value = crate::otlp::DEFAULT_HTTP)]
    pub otlp_http: crate::otlp::OptionalAddr,

    /// Largest OTLP request accepted, in bytes (after decompression).
    #[arg(long, env = "FLUORO_OTLP_MAX_MESSAGE_BYTES", default_value_t = crate::otlp::DEFAULT_MAX_MESSAGE_BYTES)]
    pub otlp_max_message_bytes: usize,

    /// Span attributes that become annotations (indexed): `all`, `none`, or a comma-separated
    /// list of attribute keys; the others go to metadata.
    #[arg(long, env = "FLUORO_OTLP_INDEXED_ATTRIBUTES", default_value = "all", value_parser = fluoro_proto::otlp::translate::Indexed::parse)]
    pub otlp_indexed_attributes: fluoro_proto::otlp::translate::Indexed,

    /// Forward what is stored, as OTLP/HTTP protobuf, to this traces endpoint
    /// (`http://host:4318/v1/traces`: Jaeger, Tempo, an OpenTelemetry Collector).
    #[arg(long, env = "FLUORO_OTLP_EXPORT")]
    pub otlp_export: Option<String>,

    /// Documents that may wait for export; beyond it they are dropped and counted.
    #[arg(long, env = "FLUORO_OTLP_EXPORT_QUEUE", default_value_t = 10_000)]
    pub otlp_export_queue: usize,

    /// Spans per export request.
    #[arg(long, env = "FLUORO_OTLP_EXPORT_BATCH", default_value_t = 512)]
    pub otlp_export_batch: usize,

    /// Retries of a failed export request (with exponential backoff) before its spans are
    /// dropped and counted.
    #[arg(long, env = "FLUORO_OTLP_EXPORT_RETRIES", default_value_t = 5)]
    pub otlp_export_retries: u32,

    /// Log filter: `error`, `warn`, `info`, `debug`, `trace`, or a tracing directive list.
    #[arg(long, env = "FLUORO_LOG", default_value = "info")]
    pub log_level: String,

    /// Also receive SDK datagrams in-process on this UDP address (and proxy sampling calls on
    /// the same TCP port), as the X-Ray daemon does; e.g. `127.0.0.1:2000`.
    #[arg(long, env = "FLUORO_UDP")]
    pub udp: Option<SocketAddr>,

    /// Generate demo traffic (API Gateway → Lambda → DynamoDB / SQS / HTTP, with errors,
    /// throttles and faults) through the UDP receiver; implies `--udp 127.0.0.1:2000`.
    #[arg(long, env = "FLUORO_DEMO")]
    pub demo: bool,
}

/// A configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Parses flags from `args` (the first item is the program name) and the given environment
    /// lookups are clap's; tests pass explicit arguments and never touch the environment.
    pub fn parse_from_args<I, T>(args: I) -> Result<Config, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Config::try_parse_from(args)
    }

    /// A configuration for tests and embedding: loopback on an ephemeral port, data in `dir`,
    /// aggregation without delay.
    pub fn for_dir(dir: impl Into<PathBuf>) -> Config {
        let mut c = Config::try_parse_from(["fluoro-collector"]).unwrap_or_else(|e| {
            // The defaults above always parse.
            unreachable!("default config: {e}")
        });
        c.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        c.data_dir = dir.into();
        c.aggregate_delay = Duration::ZERO;
        let any = crate::otlp::OptionalAddr(Some(SocketAddr::from(([127, 0, 0, 1], 0))));
        (c.otlp_grpc, c.otlp_http) = (any, any);
        c
    }

    /// Checks values that clap cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_documents == 0 {
            return Err(ConfigError("--max-documents must be at least 1".into()));
        }
        if self.max_document_bytes < 1024 {
            return Err(ConfigError(
                "--max-document-bytes must be at least 1024".into(),
            ));
        }
        if self.max_body_bytes < self.max_document_bytes {
            return Err(ConfigError(format!(
                "--max-body-bytes ({}) must be at least --max-document-bytes ({})",
                self.max_body_bytes, self.max_document_bytes
            )));
        }
        if self.write_queue == 0 {
            return Err(ConfigError("--write-queue must be at least 1".into()));
        }
        if self.max_filter_evaluations == 0 || self.max_group_graph_traces == 0 {
            return Err(ConfigError(
                "--max-filter-evaluations and --max-group-graph-traces must be at least 1".into(),
            ));
        }
        if let Some(url) = &self.otlp_export {
            crate::otlp::export::parse_url(url).map_err(ConfigError)?;
        }
        if self.otlp_export_queue == 0 || self.otlp_export_batch == 0 {
            return Err(ConfigError(
                "--otlp-export-queue and --otlp-export-batch must be at least 1".into(),
            ));
        }
        if self.otlp_max_message_bytes < 1024 {
            return Err(ConfigError(
                "--otlp-max-message-bytes must be at least 1024".into(),
            ));
        }
        if self.retention < Duration::from_secs(60) {
            return Err(ConfigError("--retention must be at least 1m".into()));
        }
        if self.account_id.len() != 12 || !self.account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConfigError(format!(
                "--account-id must be 12 digits, got {:?}",
                self.account_id
            )));
        }
        if let Some(p) = &self.auth_keys
            && !p.is_file()
        {
            return Err(ConfigError(format!(
                "--auth-keys {}: no such file",
                p.display()
            )));
        }
        Ok(())
    }
}

/// Parses `30d`, `12h`, `90m`, `3600s`, `500ms` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a number followed by ms, s, m, h or d"))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86_400.0,
        other => {
            return Err(format!(
                "{s:?}: unknown unit {other:?}; use ms, s, m, h or d"
            ));
        }
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("{s:?}: not a valid duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_validate() {
        let c = Config::parse_from_args(["fluoro-collector"]).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.retention, Duration::from_secs(30 * 86_400));
        c.validate().unwrap();
    }

    #[test]
    fn flags_override_and_bad_values_are_refused() {
        let c = Config::parse_from_args([
            "fluoro-collector",
            "--listen",
            "127.0.0.1:0",
            "--retention",
            "12h",
            "--aggregate-delay",
            "250ms",
        ])
        .unwrap();
        assert_eq!(c.retention, Duration::from_secs(12 * 3600));
        assert_eq!(c.aggregate_delay, Duration::from_millis(250));
        assert!(Config::parse_from_args(["fluoro-collector", "--retention", "3w"]).is_err());
        let mut c = Config::for_dir("/tmp/x");
        c.max_documents = 0;
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "invalid configuration: --max-documents must be at least 1"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
