//! The OpenTelemetry bridge (feature `opentelemetry`), for services traced with
//! `opentelemetry_sdk` that should show up in X-Ray:
//!
//! - [`XRayIdGenerator`]: trace ids whose first 32 bits are the start time in epoch seconds,
//!   as X-Ray requires (the rest random), and random span ids;
//! - [`XRayPropagator`]: reads and writes `X-Amzn-Trace-Id` (the caller's `Sampled` becomes the
//!   sampled flag; the W3C propagator can run beside it);
//! - [`XRaySpanExporter`]: sends finished spans to the daemon through a [`Recorder`]'s emitter:
//!   a span with no parent, a remote parent, or kind `Server`/`Consumer` becomes a segment,
//!   any other an independent subsegment of its parent span (`remote` namespace for
//!   `Client`/`Producer`). HTTP semantic-convention attributes fill `http`; other scalar
//!   attributes become annotations (characters outside `[A-Za-z0-9_]` replaced by `_`, as the
//!   OpenTelemetry collector's X-Ray exporter does), arrays go to metadata namespace `otel`;
//!   an `Error` status sets `fault` with its description as the cause.

use std::time::{SystemTime, UNIX_EPOCH};

use fluoro_proto::header::{HEADER_NAME, Sampled, TraceHeader};
use fluoro_proto::ids::{EntityId, TraceId as XTraceId};
use fluoro_proto::segment::{
    AnnotationValue, Cause, CauseDetails, Exception, Http, HttpRequest, HttpResponse, Segment,
    Timestamp,
};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Context, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{IdGenerator, SpanData, SpanExporter};

use crate::recorder::Recorder;
use crate::rng;

/// X-Ray-compatible trace ids for `opentelemetry_sdk`.
#[derive(Debug, Clone, Copy, Default)]
pub struct XRayIdGenerator;

impl IdGenerator for XRayIdGenerator {
    fn new_trace_id(&self) -> TraceId {
        let epoch = u32::try_from(crate::sampling::epoch_secs()).unwrap_or(u32::MAX);
        TraceId::from(rng::secure_trace_id(epoch).to_w3c())
    }

    fn new_span_id(&self) -> SpanId {
        SpanId::from(rng::entity_id().get())
    }
}

/// `X-Amzn-Trace-Id` as an OpenTelemetry propagator.
#[derive(Debug, Clone)]
pub struct XRayPropagator {
    fields: [String; 1],
}

impl Default for XRayPropagator {
    fn default() -> Self {
        XRayPropagator {
            fields: [HEADER_NAME.to_ascii_lowercase()],
        }
    }
}

impl TextMapPropagator for XRayPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let sc = cx.span().span_context().clone();
        if !sc.is_valid() {
            return;
        }
        let h = TraceHeader::new(
            XTraceId::from_w3c(u128::from_be_bytes(sc.trace_id().to_bytes())),
            Some(EntityId::new(u64::from_be_bytes(sc.span_id().to_bytes()))),
            Some(if sc.is_sampled() {
                Sampled::Yes
            } else {
                Sampled::No
            }),
        );
        injector.set(HEADER_NAME, h.to_string());
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let Some(h) = extractor
            .get(HEADER_NAME)
            .and_then(|v| TraceHeader::parse(v).ok())
        else {
            return cx.clone();
        };
        let (Some(root), Some(parent)) = (h.root, h.parent) else {
            return cx.clone();
        };
        let flags = if h.sampled == Some(Sampled::Yes) {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        let sc = SpanContext::new(
            TraceId::from(root.to_w3c()),
            SpanId::from(parent.get()),
            flags,
            true,
            TraceState::default(),
        );
        cx.with_remote_span_context(sc)
    }

    fn fields(&self) -> opentelemetry::propagation::text_map_propagator::FieldIter<'_> {
        opentelemetry::propagation::text_map_propagator::FieldIter::new(&self.fields)
    }
}

/// Sends finished spans to the daemon as segments and subsegments.
#[derive(Debug, Clone)]
pub struct XRaySpanExporter {
    recorder: Recorder,
}

impl XRaySpanExporter {
    /// Documents go through `recorder`'s emitter (its daemon address, queue and counters).
    pub fn new(recorder: Recorder) -> XRaySpanExporter {
        XRaySpanExporter { recorder }
    }
}

fn secs(t: SystemTime) -> Option<Timestamp> {
    let s = t.duration_since(UNIX_EPOCH).ok()?.as_secs_f64();
    Timestamp::from_secs_f64((s * 1e6).round() / 1e6)
}

fn annotation_key(k: &str) -> String {
    k.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The document for one span.
pub(crate) fn span_to_document(span: &SpanData, recorder: &Recorder) -> Segment {
    let trace = XTraceId::from_w3c(u128::from_be_bytes(span.span_context.trace_id().to_bytes()));
    let id = EntityId::new(u64::from_be_bytes(span.span_context.span_id().to_bytes()));
    let parent = (span.parent_span_id != SpanId::INVALID)
        .then(|| EntityId::new(u64::from_be_bytes(span.parent_span_id.to_bytes())));
    let is_segment = parent.is_none()
        || span.parent_span_is_remote
        || matches!(span.span_kind, SpanKind::Server | SpanKind::Consumer);
    let mut doc = Segment {
        id: Some(id.to_string()),
        name: Some(crate::recorder::clean_name(span.name.clone()).into_owned()),
        trace_id: Some(trace.to_string()),
        parent_id: parent.map(|p| p.to_string()),
        start_time: secs(span.start_time),
        end_time: secs(span.end_time),
        ..Segment::default()
    };
    if is_segment {
        recorder.segment_template(&mut doc);
    } else {
        doc.kind = Some("subsegment".to_owned());
        doc.namespace = Some(
            if matches!(span.span_kind, SpanKind::Client | SpanKind::Producer) {
                "remote"
            } else {
                "local"
            }
            .to_owned(),
        );
    }
    let mut req = HttpRequest::default();
    let mut status = None;
    let mut annotations = fluoro_proto::segment::Annotations::new();
    let mut metadata = serde_json::Map::new();
    for kv in &span.attributes {
        let key = kv.key.as_str();
        let text = || kv.value.as_str().into_owned();
        match key {
            "http.request.method" | "http.method" => req.method = Some(text()),
            "url.full" | "http.url" => req.url = Some(text()),
            "user_agent.original" | "http.user_agent" => req.user_agent = Some(text()),
            "client.address" | "http.client_ip" => req.client_ip = Some(text()),
            "http.response.status_code" | "http.status_code" => {
                if let Value::I64(s) = kv.value {
                    status = u16::try_from(s).ok();
                }
            }
            _ => {
                let v = match &kv.value {
                    Value::Bool(b) => Some(AnnotationValue::Bool(*b)),
                    Value::I64(n) => Some(AnnotationValue::Number((*n).into())),
                    Value::F64(f) => serde_json::Number::from_f64(*f).map(AnnotationValue::Number),
                    Value::String(s) => Some(AnnotationValue::String(s.as_str().to_owned())),
                    _ => None,
                };
                match v {
                    Some(v) => {
                        annotations.insert(annotation_key(key), v);
                    }
                    None => {
                        metadata.insert(
                            key.to_owned(),
                            serde_json::Value::String(kv.value.to_string()),
                        );
                    }
                }
            }
        }
    }
    if req != HttpRequest::default() || status.is_some() {
        doc.http = Some(Box::new(Http {
            request: (req != HttpRequest::default()).then_some(req),
            response: status.map(|s| HttpResponse {
                status: Some(i64::from(s).into()),
                ..HttpResponse::default()
            }),
            ..Http::default()
        }));
    }
    if let Some(s) = status {
        match s {
            429 => {
                doc.error = Some(true);
                doc.throttle = Some(true);
            }
            400..=499 => doc.error = Some(true),
            500..=599 => doc.fault = Some(true),
            _ => {}
        }
    }
    if !annotations.is_empty() {
        doc.annotations = Some(annotations);
    }
    if !metadata.is_empty() {
        let mut md = serde_json::Map::new();
        md.insert("otel".to_owned(), serde_json::Value::Object(metadata));
        doc.metadata = Some(md);
    }
    if let Status::Error { description } = &span.status {
        doc.fault = Some(true);
        doc.cause = Some(Box::new(Cause::Details(CauseDetails {
            exceptions: Some(vec![Exception {
                id: Some(rng::entity_id().to_string()),
                message: Some(description.to_string()),
                ..Exception::default()
            }]),
            ..CauseDetails::default()
        })));
    }
    doc
}

impl SpanExporter for XRaySpanExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        for span in &batch {
            self.recorder
                .submit_document(span_to_document(span, &self.recorder));
        }
        Ok(())
    }
}
