//! `fluoro-sdk`: AWS X-Ray tracing for Rust services.
//!
//! It records what a service does as X-Ray segments (one per request) and subsegments (the
//! work and calls inside it) and sends them as UDP datagrams to an X-Ray daemon
//! (`fluoro-daemon` or AWS's), in the same documents the other X-Ray SDKs write, so a trace
//! can cross Python, Node, Java, Go and Rust services.
//!
//! It depends on `fluoro-proto` only (ids, trace header, document model, datagram framing);
//! never on the daemon, collector or console. It never panics, never blocks the caller on I/O
//! and never returns errors onto the host's hot path: problems are counted
//! ([`Recorder::stats`]) and logged once through `tracing`.
//!
//! # Getting started
//!
//! ```no_run
//! use fluoro_sdk::{Recorder, begin_subsegment, in_subsegment};
//!
//! # async fn example() {
//! // One recorder per process. Reads AWS_XRAY_DAEMON_ADDRESS (default 127.0.0.1:2000),
//! // AWS_XRAY_SDK_ENABLED, AWS_XRAY_CONTEXT_MISSING, AWS_XRAY_TRACING_NAME.
//! let recorder = Recorder::from_env("orders");
//!
//! // A segment per request; it is current until the guard drops.
//! let segment = recorder.begin_segment("orders");
//! segment.annotate("customer", "c-42");            // indexed: filter expressions
//! segment.metadata("debug", "cart", &vec![1, 2, 3]); // any serde::Serialize
//! {
//!     let sub = begin_subsegment("load-cart");     // child of the current entity
//!     sub.annotate("items", 3);
//! }                                                // ends here
//! drop(segment);                                   // sent to the daemon, off-thread
//!
//! // Async: the entity stays current across .await points.
//! recorder
//!     .in_segment(Default::default(), async {
//!         in_subsegment("render", async { /* ... */ }).await;
//!     })
//!     .await;
//! # }
//! ```
//!
//! Incoming requests: [`Upstream::from_headers`] reads `X-Amzn-Trace-Id` (or W3C
//! `traceparent`) and [`Recorder::begin_segment_with`] honours the caller's sampling decision.
//! Outgoing requests: [`outgoing_headers`] gives both headers for the current entity.
//! Spawned tasks and threads do not inherit the context: carry it with [`current`] and
//! [`Entity::scope`] (tasks) or [`Entity::enter`] (threads).
//!
//! Errors: [`Entity::add_error`] records an error and its `source()` chain as `cause` and sets
//! `fault`; [`Entity::set_http_response`] sets `error`/`throttle`/`fault` from the status.
//!
//! Lambda: [`Recorder::begin_facade`] with `_X_AMZN_TRACE_ID` (or the invocation's trace id)
//! gives a facade segment that is never sent; its subsegments are sent as soon as they close,
//! under the function's segment that Lambda writes.
//!
//! # Integrations (cargo features, off by default)
//!
//! `tower` (alias `axum`): a segment per incoming request, current while the handler runs.
//! `reqwest`: a `remote` subsegment per outgoing request, with `X-Amzn-Trace-Id` and
//! `traceparent` added so the callee joins the trace. `aws-sdk`: an interceptor for any
//! aws-sdk-rust client (`aws` subsegments with operation, region, request id, resource).
//! `tracing-layer`: `tracing` spans become
//! subsegments (fields `xray.annotation.*` and `xray.metadata.*` become annotations and
//! metadata). `opentelemetry`: the X-Ray id generator, propagator and span exporter for
//! `opentelemetry_sdk`. See [`integrations`].
//!
//! ```no_run
//! # #[cfg(all(feature = "tower", feature = "reqwest"))]
//! # async fn example() {
//! use fluoro_sdk::integrations::{reqwest::XRayMiddleware, tower::XRayLayer};
//!
//! let recorder = fluoro_sdk::Recorder::from_env("orders");
//! let http = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(XRayMiddleware)
//!     .build();
//! let app: axum::Router = axum::Router::new()
//!     .route(
//!         "/orders/{id}",
//!         axum::routing::get(move || {
//!             let http = http.clone();
//!             async move { http.get("http://inventory/items/1").send().await.is_ok().to_string() }
//!         }),
//!     )
//!     .layer(XRayLayer::new(recorder));
//! # let _ = app;
//! # }
//! ```
//!
//! Sampling: local rules ([`sampling::LocalRules`], default 1/s + 5 %) or centralized rules
//! polled through the daemon ([`RecorderBuilder::centralized_sampling`]).
//!
//! Plugins describe where the service runs (`origin` and `aws.ec2` / `ecs` / `eks` /
//! `elastic_beanstalk`); see [`plugins::Plugin`]. EC2's asks the instance metadata service
//! (IMDSv2, then IMDSv1) on its own thread:
//!
//! ```no_run
//! use fluoro_sdk::plugins::Plugin;
//!
//! let recorder = fluoro_sdk::Recorder::builder("orders")
//!     .plugin(Plugin::Ec2)
//!     .plugin(Plugin::Ecs)
//!     .build();
//! // Optional: have the first segments carry aws.ec2 (waits at most this long, once).
//! recorder.wait_for_plugins(std::time::Duration::from_secs(2));
//! ```
//!
//! See `docs/sdk.md` for the whole guide.

mod clock;
pub mod config;
mod context;
mod emitter;
mod entity;
mod imds;
pub mod integrations;
pub mod plugins;
pub mod propagation;
mod record;
mod recorder;
mod rng;
pub mod sampling;

pub use context::current;
pub use emitter::{Stats, StatsSnapshot};
#[doc(hidden)]
pub use entity::StagedValue;
pub use entity::{
    EnterGuard, Entity, EntityGuard, IntoAnnotation, SegmentGuard, SubsegmentGuard,
    begin_subsegment, in_subsegment,
};
pub use fluoro_proto;
pub use propagation::{Upstream, outgoing_headers};
pub use recorder::{Recorder, RecorderBuilder, SDK_NAME, SegmentStart};
