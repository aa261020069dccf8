//! A `tracing-subscriber` [`Layer`](tracing_subscriber::Layer) that turns `tracing` spans into
//! subsegments: a span created while an X-Ray segment (or a traced span) is current becomes a
//! subsegment of it, named after the span; while the span is entered it is the current entity,
//! so subsegments, outgoing calls and nested spans hang under it; it ends when the span
//! closes.
//!
//! Fields with the prefix `xray.annotation.` become annotations (the rest of the name is the
//! key; strings, integers, floats and booleans), fields with the prefix `xray.metadata.`
//! metadata in the namespace `tracing`; other fields are not recorded. Spans outside any
//! segment are left alone (not counted as missing context: most spans are not requests).
//!
//! ```no_run
//! use tracing_subscriber::layer::SubscriberExt as _;
//! let subscriber = tracing_subscriber::registry().with(fluoro_sdk::integrations::tracing::XRayTracingLayer);
//! tracing::subscriber::set_global_default(subscriber).unwrap();
//! let span = tracing::info_span!("load_cart", xray.annotation.customer = "c-42", xray.metadata.rows = 3);
//! ```

use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::context;
use crate::entity::{Entity, EntityGuard};

/// Field name prefix for annotations.
pub const ANNOTATION_PREFIX: &str = "xray.annotation.";
/// Field name prefix for metadata (namespace `tracing`).
pub const METADATA_PREFIX: &str = "xray.metadata.";

/// See the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct XRayTracingLayer;

/// Stored in the span's extensions: the subsegment, ended when the span closes.
struct SpanSubsegment(EntityGuard);

struct Fields<'a>(&'a Entity);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Val::Str(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Val::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Val::U64(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Val::F64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Val::Bool(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name().starts_with("xray.") {
            let text = format!("{value:?}");
            self.put(field, Val::Str(&text));
        }
    }
}

#[derive(Clone, Copy)]
enum Val<'a> {
    Str(&'a str),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

impl Fields<'_> {
    fn put(&mut self, field: &Field, v: Val<'_>) {
        let name: &'static str = field.name();
        if let Some(key) = name.strip_prefix(ANNOTATION_PREFIX) {
            match v {
                Val::Str(s) => self.0.annotate(key, s),
                Val::I64(n) => self.0.annotate(key, n),
                Val::U64(n) => self.0.annotate(key, n),
                Val::F64(n) => self.0.annotate(key, n),
                Val::Bool(b) => self.0.annotate(key, b),
            }
        } else if let Some(key) = name.strip_prefix(METADATA_PREFIX) {
            match v {
                Val::Str(s) => self.0.metadata("tracing", key, s),
                Val::I64(n) => self.0.metadata("tracing", key, n),
                Val::U64(n) => self.0.metadata("tracing", key, n),
                Val::F64(n) => self.0.metadata("tracing", key, n),
                Val::Bool(b) => self.0.metadata("tracing", key, b),
            }
        }
    }
}

impl<S> tracing_subscriber::Layer<S> for XRayTracingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        // The parent: the nearest enclosing span with a subsegment, else the current entity.
        let parent = span
            .scope()
            .skip(1)
            .find_map(|s| {
                s.extensions()
                    .get::<SpanSubsegment>()
                    .map(|g| g.0.entity().clone())
            })
            .unwrap_or_else(context::current);
        if !parent.is_sampled() {
            return;
        }
        let guard = parent.child(attrs.metadata().name());
        attrs.record(&mut Fields(guard.entity()));
        span.extensions_mut().insert(SpanSubsegment(guard));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(g) = span.extensions().get::<SpanSubsegment>()
        {
            values.record(&mut Fields(g.0.entity()));
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(g) = span.extensions().get::<SpanSubsegment>()
            && let Some(node) = g.0.handle()
        {
            context::push(&node);
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(g) = span.extensions().get::<SpanSubsegment>()
            && let Some(node) = g.0.handle()
        {
            context::remove(&node);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id) {
            // Dropping the guard ends the subsegment.
            drop(span.extensions_mut().remove::<SpanSubsegment>());
        }
    }
}
