//! A `reqwest-middleware` [`Middleware`] for outgoing HTTP calls: a `remote` subsegment per
//! request (named after the host, `http.request` method and URL without the query,
//! `http.response` status and content length, the status flags, `traced: true` as the Node
//! SDK writes it, the error chain on failure), and `X-Amzn-Trace-Id` plus W3C `traceparent`
//! on the request so the callee joins the trace.
//!
//! ```no_run
//! # async fn f() -> Result<(), reqwest_middleware::Error> {
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(fluoro_sdk::integrations::reqwest::XRayMiddleware)
//!     .build();
//! client.get("http://inventory/items/1").send().await?;
//! # Ok(()) }
//! ```

use fluoro_proto::header::HEADER_NAME;
use fluoro_proto::segment::HttpRequest;
use http::{Extensions, HeaderValue};
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next, Result};

use crate::context;
use crate::propagation::TRACEPARENT;

/// Records each request as a `remote` subsegment of the current entity and propagates the
/// trace. Without a current segment the request goes out untouched
/// (`AWS_XRAY_CONTEXT_MISSING` decides whether that is logged).
#[derive(Debug, Clone, Copy, Default)]
pub struct XRayMiddleware;

#[async_trait::async_trait]
impl Middleware for XRayMiddleware {
    async fn handle(
        &self,
        mut req: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> Result<Response> {
        let parent = context::current();
        if parent.is_noop() {
            crate::recorder::context_missing("reqwest");
            return next.run(req, extensions).await;
        }
        let host = req.url().host_str().unwrap_or("UNKNOWN HOST").to_owned();
        let sub = parent.child(host);
        // The callee's parent: this subsegment, or the current entity when unsampled.
        let from = if sub.is_noop() { &parent } else { sub.entity() };
        if let Some(h) = from.trace_header()
            && let Ok(v) = HeaderValue::from_str(&h.to_string())
        {
            req.headers_mut().insert(HEADER_NAME, v);
        }
        if let Some(tp) = from.traceparent()
            && let Ok(v) = HeaderValue::from_str(&tp)
        {
            req.headers_mut().insert(TRACEPARENT, v);
        }
        if sub.is_sampled() {
            let mut url = req.url().clone();
            url.set_query(None);
            url.set_fragment(None);
            let _ = url.set_password(None);
            sub.set_namespace("remote");
            sub.set_traced(true);
            sub.set_http_request(HttpRequest {
                method: Some(req.method().as_str().to_owned()),
                url: Some(url.to_string()),
                ..HttpRequest::default()
            });
        }
        let result = next.run(req, extensions).await;
        match &result {
            Ok(resp) => sub.set_http_response(resp.status().as_u16(), resp.content_length()),
            Err(e) => sub.add_error(e),
        }
        result
    }
}
