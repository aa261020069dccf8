//! The [`Recorder`]: configuration, the sampler and the emitter, and where segments begin.

use std::borrow::Cow;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use fluoro_proto::header::TraceHeader;
use fluoro_proto::segment::{Aws, Ec2, Segment, Service, XraySdk};

use crate::config::{
    ContextMissing, DEFAULT_DAEMON_ADDRESS, DEFAULT_QUEUE_CAPACITY, DEFAULT_STREAMING_THRESHOLD,
    DaemonAddress, EnvConfig,
};
use crate::context;
use crate::emitter::{Emitter, Stats, StatsSnapshot};
use crate::entity::{EntityGuard, Handle, Light, Node, SegmentGuard, Trace};
use crate::plugins::{self, Plugin};
use crate::propagation::Upstream;
use crate::rng;
use crate::sampling::{LocalRules, SamplingRequest};

/// `aws.xray.sdk` in every segment.
pub const SDK_NAME: &str = "X-Ray for Rust (fluoro-sdk)";

static CONTEXT_MISSING_MODE: AtomicU8 = AtomicU8::new(0);
static CONTEXT_MISSING_COUNT: AtomicU64 = AtomicU64::new(0);
static CONTEXT_MISSING_LOGGED: AtomicBool = AtomicBool::new(false);

/// Instrumentation ran with no current segment.
pub(crate) fn context_missing(what: &'static str) {
    let n = CONTEXT_MISSING_COUNT.fetch_add(1, Ordering::Relaxed);
    if CONTEXT_MISSING_MODE.load(Ordering::Relaxed) == 0
        && n == 0
        && !CONTEXT_MISSING_LOGGED.swap(true, Ordering::Relaxed)
    {
        tracing::warn!(
            call = what,
            "fluoro-sdk: no segment is active (AWS_XRAY_CONTEXT_MISSING=LOG_ERROR); further occurrences are counted in stats"
        );
    }
}

/// Keeps names within X-Ray's rules: at most 200 characters of letters, digits, whitespace and
/// `_ . : / % & # = + \ - @`; other characters are dropped.
#[inline]
pub(crate) fn clean_name(name: Cow<'static, str>) -> Cow<'static, str> {
    // Plain ASCII names (the usual case) checked byte by byte, inline.
    let ascii_ok = |b: u8| b.is_ascii_alphanumeric() || b"_.:/%&#=+\\-@ ".contains(&b);
    if name.len() <= 200 && name.bytes().all(ascii_ok) {
        return name;
    }
    clean_name_slow(name)
}

#[cold]
fn clean_name_slow(name: Cow<'static, str>) -> Cow<'static, str> {
    let ok = |c: char| c.is_alphanumeric() || c.is_whitespace() || "_.:/%&#=+\\-@".contains(c);
    if name.len() <= 200 && name.chars().all(ok) {
        return name;
    }
    Cow::Owned(name.chars().filter(|c| ok(*c)).take(200).collect())
}

/// What the entities of every trace share.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) emitter: Emitter,
    pub(crate) streaming_threshold: usize,
    pub(crate) working_directory: Option<String>,
    sampler: LocalRules,
    centralized: Option<Arc<crate::sampling::centralized::Centralized>>,
    tracing_name: Option<String>,
    default_name: String,
    /// The origin of the ECS, EKS and Elastic Beanstalk plugins.
    origin: Option<String>,
    /// The EC2 plugin's answer, once it has arrived.
    ec2: Option<plugins::Ec2Slot>,
    pub(crate) aws: Aws,
    pub(crate) service: Service,
    lambda: bool,
    logged_reject: AtomicBool,
}

impl Inner {
    /// The EC2 plugin's `aws.ec2`, once known.
    fn ec2(&self) -> Option<&Ec2> {
        self.ec2.as_ref()?.get()?.as_deref()
    }

    /// `origin`: the most specific plugin that found its environment.
    pub(crate) fn origin(&self) -> Option<&str> {
        self.origin
            .as_deref()
            .or_else(|| self.ec2().map(|_| plugins::EC2_ORIGIN))
    }

    /// The recorder's members of every segment (`origin`, `aws.xray` and plugin blocks,
    /// `service`), under whatever code already set.
    pub(crate) fn fill_segment(&self, doc: &mut Segment) {
        if doc.origin.is_none() {
            doc.origin = self.origin().map(str::to_owned);
        }
        let aws = doc.aws.get_or_insert_with(Box::default);
        let tpl = &self.aws;
        if aws.ec2.is_none()
            && let Some(e) = self.ec2()
        {
            aws.ec2 = Some(Box::new(e.clone()));
        }
        if aws.xray.is_none() {
            aws.xray.clone_from(&tpl.xray);
        }
        if aws.ecs.is_none() {
            aws.ecs.clone_from(&tpl.ecs);
        }
        if aws.eks.is_none() {
            aws.eks.clone_from(&tpl.eks);
        }
        if aws.elastic_beanstalk.is_none() {
            aws.elastic_beanstalk.clone_from(&tpl.elastic_beanstalk);
        }
        let svc = doc.service.get_or_insert_with(Box::default);
        if svc.runtime.is_none() {
            svc.runtime.clone_from(&self.service.runtime);
            svc.runtime_version
                .clone_from(&self.service.runtime_version);
        }
        if svc.version.is_none() {
            svc.version.clone_from(&self.service.version);
        }
    }

    pub(crate) fn reject(&self, what: &str) {
        let n = self
            .emitter
            .stats
            .rejected_values
            .fetch_add(1, Ordering::Relaxed);
        if n == 0 && !self.logged_reject.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                value = what,
                "fluoro-sdk: value refused (further refusals are counted in stats)"
            );
        }
    }
}

/// Where a segment starts: its name, the caller's trace context and what sampling rules
/// match on.
#[derive(Debug, Clone, Default)]
pub struct SegmentStart<'a> {
    /// The segment name (`AWS_XRAY_TRACING_NAME` overrides it; the recorder's default name
    /// when `None`).
    pub name: Option<&'a str>,
    /// The caller's context, from [`Upstream::from_headers`].
    pub upstream: Option<Upstream>,
    /// Host, method and path for sampling rules (the service name and type are filled in).
    pub request: SamplingRequest<'a>,
}

/// Records segments and subsegments and sends them to the daemon. Cheap to clone; build one
/// per process with [`Recorder::builder`] (or [`Recorder::from_env`]).
///
/// A disabled recorder (`AWS_XRAY_SDK_ENABLED=false`) hands out no-op guards and starts no
/// thread.
#[derive(Debug, Clone)]
pub struct Recorder {
    inner: Option<Arc<Inner>>,
}

/// Builds a [`Recorder`].
#[derive(Debug)]
pub struct RecorderBuilder {
    env: EnvConfig,
    name: String,
    daemon: Option<DaemonAddress>,
    rules: Option<LocalRules>,
    centralized: Option<crate::sampling::Intervals>,
    queue_capacity: usize,
    streaming_threshold: usize,
    plugins: Vec<Plugin>,
    service_version: Option<String>,
}

impl RecorderBuilder {
    /// Uses this environment instead of the process's (tests, embedding).
    pub fn env(mut self, env: EnvConfig) -> Self {
        self.env = env;
        self
    }

    /// The daemon address (`AWS_XRAY_DAEMON_ADDRESS` wins when set, as in the AWS SDKs).
    pub fn daemon(mut self, addr: DaemonAddress) -> Self {
        self.daemon = Some(addr);
        self
    }

    /// Local sampling rules (default: 1 request/s and 5 % of the rest).
    pub fn sampling_rules(mut self, rules: LocalRules) -> Self {
        self.rules = Some(rules);
        self
    }

    /// Polls the daemon's sampling proxy (`GetSamplingRules`, `GetSamplingTargets`) and
    /// decides with the centralized rules; the local rules decide until the first rules
    /// arrive and when they are more than an hour old. Never in Lambda. `intervals`:
    /// `Intervals::default()` for AWS's 5 minutes and 10 seconds.
    pub fn centralized_sampling(mut self, intervals: crate::sampling::Intervals) -> Self {
        self.centralized = Some(intervals);
        self
    }

    /// Jobs the emitter queue holds before dropping (default 4096).
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = n;
        self
    }

    /// Closed subsegments a segment holds before they are sent on their own (default 100).
    pub fn streaming_threshold(mut self, n: usize) -> Self {
        self.streaming_threshold = n.max(1);
        self
    }

    /// Adds a plugin describing the environment.
    pub fn plugin(mut self, p: Plugin) -> Self {
        self.plugins.push(p);
        self
    }

    /// `service.version` of every segment.
    pub fn service_version(mut self, v: impl Into<String>) -> Self {
        self.service_version = Some(v.into());
        self
    }

    /// Builds the recorder and starts its emitter thread (and sampling poller).
    pub fn build(self) -> Recorder {
        for p in &self.env.problems {
            tracing::warn!(problem = %p, "fluoro-sdk: ignoring environment value");
        }
        CONTEXT_MISSING_MODE.store(
            match self.env.context_missing {
                ContextMissing::Log => 0,
                ContextMissing::Ignore => 1,
            },
            Ordering::Relaxed,
        );
        if !self.env.enabled {
            return Recorder { inner: None };
        }
        let daemon = self.env.daemon.or(self.daemon).unwrap_or_else(|| {
            DaemonAddress::parse(DEFAULT_DAEMON_ADDRESS).unwrap_or(DaemonAddress {
                udp: SocketAddr::from(([127, 0, 0, 1], 2000)),
                tcp: SocketAddr::from(([127, 0, 0, 1], 2000)),
            })
        });
        let detected = plugins::detect(
            &self.plugins,
            &plugins::Sources {
                env: &|k| std::env::var(k).ok(),
                read: &|p| std::fs::read_to_string(p).ok(),
            },
        );
        let mut aws = detected.aws;
        aws.xray = Some(Box::new(XraySdk {
            sdk: Some(SDK_NAME.to_owned()),
            sdk_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            ..XraySdk::default()
        }));
        let ec2 = (self.plugins.contains(&Plugin::Ec2)
            && !self.env.ec2_metadata_disabled
            && !self.env.lambda)
            .then(|| {
                plugins::start_ec2(
                    self.env.ec2_metadata_endpoint.as_deref(),
                    crate::imds::TIMEOUT,
                )
            });
        // Calibrates the entities' clock now rather than in the first request.
        let _ = crate::clock::clock();
        let stats = Arc::new(Stats::default());
        let emitter = Emitter::start(daemon.udp, self.queue_capacity, stats);
        let centralized = self
            .centralized
            .filter(|_| !self.env.lambda)
            .map(|i| crate::sampling::centralized::Centralized::start(daemon.tcp, i));
        Recorder {
            inner: Some(Arc::new(Inner {
                emitter,
                streaming_threshold: self.streaming_threshold,
                working_directory: std::env::current_dir()
                    .ok()
                    .map(|p| p.display().to_string()),
                sampler: self.rules.unwrap_or_default(),
                centralized,
                tracing_name: self.env.tracing_name,
                default_name: clean_name(Cow::Owned(self.name)).into_owned(),
                origin: detected.origin,
                ec2,
                aws,
                service: Service {
                    runtime: Some("rust".to_owned()),
                    runtime_version: Some(env!("FLUORO_SDK_RUSTC_VERSION").to_owned()),
                    version: self.service_version,
                    ..Service::default()
                },
                lambda: self.env.lambda,
                logged_reject: AtomicBool::new(false),
            })),
        }
    }
}

impl Recorder {
    /// A builder for a service called `name`, configured from the process environment.
    pub fn builder(name: impl Into<String>) -> RecorderBuilder {
        RecorderBuilder {
            env: EnvConfig::from_process(),
            name: name.into(),
            daemon: None,
            rules: None,
            centralized: None,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            streaming_threshold: DEFAULT_STREAMING_THRESHOLD,
            plugins: Vec::new(),
            service_version: None,
        }
    }

    /// A recorder for `name` with everything from the environment.
    pub fn from_env(name: impl Into<String>) -> Recorder {
        Recorder::builder(name).build()
    }

    /// A recorder that records nothing.
    pub fn disabled() -> Recorder {
        Recorder { inner: None }
    }

    /// False when `AWS_XRAY_SDK_ENABLED` turned the SDK off.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Counters: sent, dropped, streamed, refused values, context missing.
    pub fn stats(&self) -> StatsSnapshot {
        let mut s = self
            .inner
            .as_ref()
            .map(|i| i.emitter.stats.snapshot())
            .unwrap_or_default();
        s.context_missing = CONTEXT_MISSING_COUNT.load(Ordering::Relaxed);
        s
    }

    /// Waits up to `timeout` for plugins that ask the network (EC2's instance metadata), so
    /// that the first segments carry `aws.ec2` and `origin`; true when they are done (or
    /// there are none). Blocks: call it at start-up if you want that, never while serving.
    /// Without it, segments sent before the answer arrives simply lack those fields.
    pub fn wait_for_plugins(&self, timeout: Duration) -> bool {
        let Some(slot) = self.inner.as_ref().and_then(|i| i.ec2.as_ref()) else {
            return true;
        };
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if slot.get().is_some() {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits up to `timeout` until every document queued so far has been sent. Blocks: call
    /// it at shutdown (or in tests), not while serving.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.inner
            .as_ref()
            .is_some_and(|i| i.emitter.flush(timeout))
    }

    fn decide(
        &self,
        inner: &Inner,
        name: &str,
        req: &SamplingRequest<'_>,
    ) -> (bool, Option<Arc<str>>) {
        let req = SamplingRequest {
            service_name: Some(name),
            service_type: inner.origin(),
            ..*req
        };
        if let Some(c) = &inner.centralized
            && let Some(d) = c.sample(&req)
        {
            return (d.sampled, d.rule_name);
        }
        (inner.sampler.sample(&req), None)
    }

    fn start_node(&self, start: SegmentStart<'_>) -> Option<Handle> {
        let inner = self.inner.as_ref()?;
        let name = inner
            .tracing_name
            .as_deref()
            .or(start.name)
            .unwrap_or(&inner.default_name);
        let up = start.upstream;
        let (sampled, rule) = match up.as_ref().and_then(|u| u.sampled) {
            Some(s) => (s, None),
            None => self.decide(inner, name, &start.request),
        };
        let epoch = || u32::try_from(crate::sampling::epoch_secs()).unwrap_or(u32::MAX);
        let segment_id = rng::entity_id();
        if !sampled {
            // Nothing is recorded: only what context and outgoing headers need.
            let (trace_id, incoming) = match up {
                Some(u) => (u.trace_id, u.header.map(Box::new)),
                None => (rng::unsampled_trace_id(epoch()), None),
            };
            return Some(Handle::Unsampled(Light::new(
                trace_id, segment_id, incoming,
            )));
        }
        let trace_id = match &up {
            Some(u) => u.trace_id,
            None => rng::secure_trace_id(epoch()),
        };
        let parent = up.as_ref().and_then(|u| u.parent);
        let incoming = up.and_then(|u| u.header).map(Box::new);
        let mut trace = Trace::new(
            Arc::clone(inner),
            trace_id,
            segment_id,
            sampled,
            incoming,
            false,
        );
        trace.upstream_parent = parent;
        trace.rule = rule;
        let name = clean_name(Cow::Owned(name.to_owned()));
        // The document's other members (trace id, origin, aws, service) are written when it
        // is sent, on the emitter thread.
        Some(Handle::Sampled(Node::new_segment(
            Arc::new(trace),
            name,
            None,
        )))
    }

    /// Begins a segment named `name` (a new trace, sampled by the rules) and makes it current
    /// on this thread or task until the guard drops.
    pub fn begin_segment(&self, name: &str) -> SegmentGuard {
        self.begin_segment_with(SegmentStart {
            name: Some(name),
            ..SegmentStart::default()
        })
    }

    /// Begins a segment for a request: honours the caller's sampling decision, else asks the
    /// sampler. Current until the guard drops.
    pub fn begin_segment_with(&self, start: SegmentStart<'_>) -> SegmentGuard {
        match self.start_node(start) {
            Some(n) => EntityGuard::current(n),
            None => EntityGuard::noop(),
        }
    }

    /// A segment that is not made current (the tower layer scopes it around the handler).
    #[cfg(feature = "tower")]
    pub(crate) fn begin_detached(&self, start: SegmentStart<'_>) -> SegmentGuard {
        match self.start_node(start) {
            Some(n) => EntityGuard::detached(n),
            None => EntityGuard::noop(),
        }
    }

    /// Runs `fut` inside a new segment that is current for the future's whole run (across
    /// `.await`s and threads of the runtime) and ends when it completes or is dropped.
    pub async fn in_segment<F: Future>(&self, start: SegmentStart<'_>, fut: F) -> F::Output {
        let node = self.start_node(start);
        let guard = node.clone().map(EntityGuard::detached);
        let out = context::scope(node, fut).await;
        drop(guard);
        out
    }

    /// Lambda: the facade segment for one invocation, from `_X_AMZN_TRACE_ID` (or the
    /// invocation's trace id). It is never sent (Lambda sends the function's segment); every
    /// subsegment under it is sent on its own as soon as it closes, with the function
    /// segment as parent. Without `Parent` and `Sampled` (PassThrough) nothing is recorded.
    pub fn begin_facade(&self, trace_header: &str) -> SegmentGuard {
        match self.facade_node(trace_header) {
            Some(n) => EntityGuard::current(n),
            None => EntityGuard::noop(),
        }
    }

    /// [`Recorder::begin_facade`] for async handlers: the facade is current for `fut`.
    pub async fn in_facade<F: Future>(&self, trace_header: &str, fut: F) -> F::Output {
        let node = self.facade_node(trace_header);
        let guard = node.clone().map(EntityGuard::detached);
        let out = context::scope(node, fut).await;
        drop(guard);
        out
    }

    fn facade_node(&self, trace_header: &str) -> Option<Handle> {
        let inner = self.inner.as_ref()?;
        let h = TraceHeader::parse(trace_header).ok()?;
        let (root, parent, sampled) = (h.root?, h.parent?, h.sampled?);
        if !matches!(sampled, fluoro_proto::header::Sampled::Yes) {
            return Some(Handle::Unsampled(Light::new(
                root,
                parent,
                Some(Box::new(h)),
            )));
        }
        let trace = Arc::new(Trace::new(
            Arc::clone(inner),
            root,
            parent,
            true,
            Some(Box::new(h)),
            true,
        ));
        Some(Handle::Sampled(Node::new_segment(
            trace,
            Cow::Borrowed("facade"),
            None,
        )))
    }

    /// Fills the recorder's segment members into `doc` (OpenTelemetry exporter).
    #[cfg(feature = "opentelemetry")]
    pub(crate) fn segment_template(&self, doc: &mut Segment) {
        if let Some(i) = &self.inner {
            i.fill_segment(doc);
        }
    }

    /// Queues a finished document for the emitter (OpenTelemetry exporter).
    #[cfg(feature = "opentelemetry")]
    pub(crate) fn submit_document(&self, doc: Segment) {
        if let Some(i) = &self.inner {
            i.emitter
                .submit(crate::emitter::Job::Document(Box::new(doc)));
        }
    }

    /// In Lambda (`LAMBDA_TASK_ROOT` set).
    pub fn is_lambda(&self) -> bool {
        self.inner.as_ref().is_some_and(|i| i.lambda)
    }
}
