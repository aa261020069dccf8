//! An aws-sdk-rust interceptor: every AWS call made while a segment is current becomes an
//! `aws` subsegment named after the service (`DynamoDB`, `S3`, ... as the Go and Node v3 SDKs
//! name them), with `aws.operation`, `aws.region`, `aws.request_id` (`x-amzn-requestid` or
//! `x-amz-request-id`), `aws.id_2` (S3), `aws.retries` (attempts after the first, as the Java
//! SDK counts), `http.response` status and content length, the status flags, the error as a
//! remote `cause`, and the resource: `table_name` (DynamoDB), `queue_url` (SQS),
//! `topic_arn` (SNS), `bucket_name` (S3), `function_name` (Lambda), read from the request.
//! The request carries `X-Amzn-Trace-Id` so AWS services continue the trace.
//!
//! ```no_run
//! // The same for aws_sdk_dynamodb, aws_sdk_s3, ...: any generated client's config.
//! let config = aws_sdk_xray::Config::builder()
//!     .interceptor(fluoro_sdk::integrations::aws_sdk::XRayInterceptor)
//!     .build();
//! ```

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use aws_types::region::Region;
use fluoro_proto::header::HEADER_NAME;
use serde_json::Value;

use crate::context;
use crate::entity::{Entity, EntityGuard};

/// Add it to any aws-sdk-rust client's config (`.interceptor(XRayInterceptor)`).
#[derive(Debug, Clone, Copy, Default)]
pub struct XRayInterceptor;

/// One call's subsegment, kept in the call's config bag between hooks.
#[derive(Debug, Clone)]
struct Call {
    guard: Arc<Mutex<Option<EntityGuard>>>,
    /// The entity the callee's trace header names as parent.
    from: Entity,
    attempts: Arc<AtomicU32>,
}

impl Storable for Call {
    type Storer = StoreReplace<Self>;
}

/// The resource a call names, as an `aws` member: (member, value).
fn resource(service: &str, uri: &str, body: Option<&[u8]>) -> Option<(&'static str, String)> {
    let json = || body.and_then(|b| serde_json::from_slice::<Value>(b).ok());
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let rest = uri.split("://").nth(1).unwrap_or(uri);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    match service.to_ascii_lowercase().as_str() {
        "dynamodb" => json()
            .and_then(|v| text(&v, "TableName"))
            .map(|t| ("table_name", t)),
        "sqs" => json()
            .and_then(|v| text(&v, "QueueUrl"))
            .map(|q| ("queue_url", q)),
        // Query protocol: a form-encoded body.
        "sns" => body
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(|form| form.split('&').find_map(|kv| kv.strip_prefix("TopicArn=")))
            .map(|v| ("topic_arn", v.replace("%3A", ":").replace("%3a", ":"))),
        // /2015-03-31/functions/{name}/invocations
        "lambda" => path
            .split('/')
            .skip_while(|p| *p != "functions")
            .nth(1)
            .map(|n| ("function_name", n.to_owned())),
        "s3" => {
            let bucket = if host.contains(".s3.") || host.contains(".s3-") {
                host.split('.').next()
            } else {
                path.split(['/', '?']).next().filter(|b| !b.is_empty())
            };
            bucket.map(|b| ("bucket_name", b.to_owned()))
        }
        _ => None,
    }
}

fn set_resource(e: &Entity, member: &str, value: String) {
    e.set_aws(|a| match member {
        "table_name" => a.table_name = Some(value),
        "queue_url" => a.queue_url = Some(value),
        "topic_arn" => a.topic_arn = Some(value),
        "function_name" => a.function_name = Some(value),
        _ => a.bucket_name = Some(value),
    });
}

impl Intercept for XRayInterceptor {
    fn name(&self) -> &'static str {
        "fluoro-sdk X-Ray"
    }

    // Not `read_before_execution`: for client-level interceptors it runs before the operation's
    // configuration (which holds the service and operation names) is applied.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let parent = context::current();
        if parent.is_noop() {
            crate::recorder::context_missing("aws-sdk");
            return Ok(());
        }
        let (service, operation) = cfg
            .load::<Metadata>()
            .map_or(("AWS".to_owned(), None), |m| {
                (m.service().to_owned(), Some(m.name().to_owned()))
            });
        let region = cfg.load::<Region>().map(|r| r.as_ref().to_owned());
        let sub = parent.child(service);
        sub.set_namespace("aws");
        sub.set_aws(|a| {
            a.operation = operation;
            a.region = region;
        });
        let from = if sub.is_noop() {
            parent
        } else {
            sub.entity().clone()
        };
        cfg.interceptor_state().store_put(Call {
            guard: Arc::new(Mutex::new(Some(sub))),
            from,
            attempts: Arc::new(AtomicU32::new(0)),
        });
        Ok(())
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(call) = cfg.load::<Call>() else {
            return Ok(());
        };
        let attempt = call.attempts.fetch_add(1, Ordering::Relaxed);
        if let Some(h) = call.from.trace_header() {
            // Only fails on non-ASCII, which a trace header never is.
            let _ = context
                .request_mut()
                .headers_mut()
                .try_insert(HEADER_NAME, h.to_string());
        }
        if attempt == 0 && call.from.is_sampled() {
            let service = cfg
                .load::<Metadata>()
                .map(|m| m.service().to_owned())
                .unwrap_or_default();
            let req = context.request();
            if let Some((member, value)) = resource(&service, req.uri(), req.body().bytes()) {
                set_resource(&call.from, member, value);
            }
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(call) = cfg.load::<Call>() else {
            return Ok(());
        };
        let Some(guard) = call
            .guard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return Ok(());
        };
        let retries = call.attempts.load(Ordering::Relaxed).saturating_sub(1);
        guard.set_aws(|a| a.retries = Some(retries.into()));
        if let Some(resp) = context.response() {
            let h = resp.headers();
            let request_id = h
                .get("x-amzn-requestid")
                .or_else(|| h.get("x-amz-request-id"))
                .map(str::to_owned);
            let id_2 = h.get("x-amz-id-2").map(str::to_owned);
            guard.set_aws(|a| {
                a.request_id = request_id;
                a.id_2 = id_2;
            });
            let len = h.get("content-length").and_then(|v| v.parse().ok());
            guard.set_http_response(resp.status().as_u16(), len);
        }
        if let Some(Err(e)) = context.output_or_error() {
            guard.add_remote_error(e);
        }
        drop(guard);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::resource;

    #[test]
    fn resource_names_per_service() {
        let r = |s, u, b: &str| resource(s, u, Some(b.as_bytes()));
        assert_eq!(
            r(
                "DynamoDB",
                "https://dynamodb.us-east-1.amazonaws.com/",
                r#"{"TableName":"orders","Key":{}}"#
            ),
            Some(("table_name", "orders".into()))
        );
        assert_eq!(
            r(
                "SQS",
                "https://sqs.us-east-1.amazonaws.com/",
                r#"{"QueueUrl":"https://sqs/1/q"}"#
            ),
            Some(("queue_url", "https://sqs/1/q".into()))
        );
        assert_eq!(
            r(
                "SNS",
                "https://sns.us-east-1.amazonaws.com/",
                "Action=Publish&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A1%3At&Message=x"
            ),
            Some(("topic_arn", "arn:aws:sns:us-east-1:1:t".into()))
        );
        assert_eq!(
            r(
                "Lambda",
                "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/orders-fn/invocations",
                ""
            ),
            Some(("function_name", "orders-fn".into()))
        );
        assert_eq!(
            r(
                "S3",
                "https://photos.s3.us-east-1.amazonaws.com/cat.jpg",
                ""
            ),
            Some(("bucket_name", "photos".into()))
        );
        assert_eq!(
            r(
                "S3",
                "http://127.0.0.1:9000/photos/cat.jpg?x-id=GetObject",
                ""
            ),
            Some(("bucket_name", "photos".into()))
        );
        assert_eq!(r("DynamoDB", "https://x/", "not json"), None);
        assert_eq!(r("XRay", "https://x/", "{}"), None);
    }
}
