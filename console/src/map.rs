//! The service map: X-Ray `Service`/`Edge` lists → laid-out nodes and edges with their
//! statistics → SVG. Pure: used by the map page, the trace page (a trace's own map) and the
//! layout benchmark.
//!
//! Every name and type from the API reaches the page through askama, which escapes it.

use askama::Template;
use fluoro_proto::api::{HistogramEntry, Service, ServiceStatistics};

use crate::layout::{self, Spacing};

/// Radius of a node's ring.
pub const NODE_RADIUS: f64 = 26.0;
/// Longest label drawn under a node before it is shortened (the full name is in the tooltip).
const LABEL_CHARS: usize = 28;

/// What kind of node, by the origin X-Ray reports as its type; decides the symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// The caller outside the traced system.
    Client,
    /// `AWS::ApiGateway::Stage`.
    ApiGateway,
    /// `AWS::Lambda`: the Lambda service's view of an invocation.
    LambdaService,
    /// `AWS::Lambda::Function`: the function's own code.
    LambdaFunction,
    /// `AWS::StepFunctions::StateMachine`.
    StepFunctions,
    /// `AWS::EC2::Instance`.
    Ec2,
    /// `AWS::ECS::Container` (and EKS containers).
    Ecs,
    /// `AWS::ElasticBeanstalk::Environment`.
    Beanstalk,
    /// Elastic Load Balancing.
    LoadBalancer,
    /// DynamoDB.
    DynamoDb,
    /// SQS.
    Sqs,
    /// SNS.
    Sns,
    /// S3.
    S3,
    /// A downstream HTTP service without its own segments (`remote`).
    Remote,
    /// Anything else, or no type.
    Untyped,
}

impl NodeKind {
    /// The kind of a node of type `t`.
    pub fn of(t: Option<&str>) -> NodeKind {
        let Some(t) = t else {
            return NodeKind::Untyped;
        };
        match t {
            "client" => NodeKind::Client,
            "remote" => NodeKind::Remote,
            "AWS::ApiGateway::Stage" => NodeKind::ApiGateway,
            "AWS::Lambda" => NodeKind::LambdaService,
            "AWS::Lambda::Function" => NodeKind::LambdaFunction,
            "AWS::StepFunctions::StateMachine" => NodeKind::StepFunctions,
            "AWS::EC2::Instance" => NodeKind::Ec2,
            "AWS::ECS::Container" | "AWS::EKS::Container" => NodeKind::Ecs,
            "AWS::ElasticBeanstalk::Environment" => NodeKind::Beanstalk,
            _ if t.starts_with("AWS::ElasticLoadBalancing") => NodeKind::LoadBalancer,
            _ if t.starts_with("AWS::DynamoDB") => NodeKind::DynamoDb,
            _ if t.starts_with("AWS::SQS") => NodeKind::Sqs,
            _ if t.starts_with("AWS::SNS") => NodeKind::Sns,
            _ if t.starts_with("AWS::S3") => NodeKind::S3,
            _ => NodeKind::Untyped,
        }
    }

    /// The id of its `<symbol>` in the SVG.
    pub fn symbol(self) -> &'static str {
        match self {
            NodeKind::Client => "sym-client",
            NodeKind::ApiGateway => "sym-apigw",
            NodeKind::LambdaService => "sym-lambda",
            NodeKind::LambdaFunction => "sym-lambda-fn",
            NodeKind::StepFunctions => "sym-stepfn",
            NodeKind::Ec2 => "sym-ec2",
            NodeKind::Ecs => "sym-ecs",
            NodeKind::Beanstalk => "sym-beanstalk",
            NodeKind::LoadBalancer => "sym-elb",
            NodeKind::DynamoDb => "sym-dynamodb",
            NodeKind::Sqs => "sym-sqs",
            NodeKind::Sns => "sym-sns",
            NodeKind::S3 => "sym-s3",
            NodeKind::Remote => "sym-remote",
            NodeKind::Untyped => "sym-untyped",
        }
    }

    /// Words for the legend and tooltips.
    pub fn label(self) -> &'static str {
        match self {
            NodeKind::Client => "Client",
            NodeKind::ApiGateway => "API Gateway stage",
            NodeKind::LambdaService => "Lambda service",
            NodeKind::LambdaFunction => "Lambda function",
            NodeKind::StepFunctions => "Step Functions state machine",
            NodeKind::Ec2 => "EC2 instance",
            NodeKind::Ecs => "ECS container",
            NodeKind::Beanstalk => "Elastic Beanstalk environment",
            NodeKind::LoadBalancer => "Load balancer",
            NodeKind::DynamoDb => "DynamoDB",
            NodeKind::Sqs => "SQS",
            NodeKind::Sns => "SNS",
            NodeKind::S3 => "S3",
            NodeKind::Remote => "Remote HTTP",
            NodeKind::Untyped => "Service",
        }
    }
}

/// Request counts by outcome, as X-Ray colours them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outcomes {
    /// 2xx/3xx.
    pub ok: i64,
    /// 4xx other than 429.
    pub error: i64,
    /// 429.
    pub throttle: i64,
    /// 5xx.
    pub fault: i64,
}

impl Outcomes {
    /// From X-Ray statistics.
    pub fn of(s: &ServiceStatistics) -> Outcomes {
        Outcomes {
            ok: s.ok_count,
            error: s.error_statistics.other_count,
            throttle: s.error_statistics.throttle_count,
            fault: s.fault_statistics.total_count,
        }
    }

    /// All requests counted.
    pub fn total(&self) -> i64 {
        self.ok + self.error + self.throttle + self.fault
    }

    /// Percentage of `part` in the total (0 when empty).
    pub fn pct(&self, part: i64) -> f64 {
        let t = self.total();
        if t == 0 {
            0.0
        } else {
            part as f64 * 100.0 / t as f64
        }
    }

    /// Percentages of ok, error, throttle and fault, formatted with one decimal.
    pub fn shares(&self) -> [String; 4] {
        [self.ok, self.error, self.throttle, self.fault].map(|n| format!("{:.1}", self.pct(n)))
    }
}

/// One coloured arc of a node's ring.
#[derive(Debug, Clone, PartialEq)]
pub struct Arc {
    /// CSS class: `ok`, `error`, `throttle`, `fault`.
    pub class: &'static str,
    /// `stroke-dasharray`.
    pub dash: String,
    /// `stroke-dashoffset`.
    pub offset: String,
}

/// Arcs of a ring of radius `r`, in X-Ray's order (ok, error, throttle, fault).
pub fn ring(o: &Outcomes, r: f64) -> Vec<Arc> {
    let c = 2.0 * std::f64::consts::PI * r;
    let t = o.total();
    if t == 0 {
        return Vec::new();
    }
    let mut start = 0.0;
    let mut out = Vec::new();
    for (class, n) in [
        ("ok", o.ok),
        ("error", o.error),
        ("throttle", o.throttle),
        ("fault", o.fault),
    ] {
        if n == 0 {
            continue;
        }
        let len = c * n as f64 / t as f64;
        out.push(Arc {
            class,
            dash: format!("{len:.2} {:.2}", c - len),
            offset: format!("{:.2}", -start),
        });
        start += len;
    }
    out
}

/// One bar of a histogram drawing.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Left edge, px.
    pub x: f64,
    /// Top, px.
    pub y: f64,
    /// Width, px.
    pub w: f64,
    /// Height, px.
    pub h: f64,
    /// Range, ms, low end.
    pub lo_ms: f64,
    /// Range, ms, high end.
    pub hi_ms: f64,
    /// Observations in the range.
    pub count: i64,
}

/// Width of a histogram drawing, px.
pub const HIST_W: f64 = 320.0;
/// Height of a histogram drawing, px.
pub const HIST_H: f64 = 90.0;

/// Bins `(seconds, count)` observations into at most `bins` equal ranges for a bar chart.
pub fn histogram(entries: &[(f64, i64)], bins: usize) -> Vec<Bar> {
    let entries: Vec<(f64, i64)> = entries
        .iter()
        .copied()
        .filter(|(v, c)| v.is_finite() && *c > 0)
        .collect();
    if entries.is_empty() || bins == 0 {
        return Vec::new();
    }
    let lo = entries.iter().map(|e| e.0).fold(f64::INFINITY, f64::min);
    let hi = entries
        .iter()
        .map(|e| e.0)
        .fold(f64::NEG_INFINITY, f64::max);
    let width = if hi > lo {
        (hi - lo) / bins as f64
    } else {
        0.001
    };
    let n = if hi > lo { bins } else { 1 };
    let mut counts = vec![0i64; n];
    for (v, c) in entries {
        let i = (((v - lo) / width) as usize).min(n - 1);
        counts[i] += c;
    }
    let max = counts.iter().copied().max().unwrap_or(1).max(1);
    let bw = HIST_W / n as f64;
    counts
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let h = (HIST_H - 14.0) * c as f64 / max as f64;
            Bar {
                x: i as f64 * bw,
                y: HIST_H - 14.0 - h,
                w: (bw - 2.0).max(1.0),
                h,
                lo_ms: (lo + width * i as f64) * 1000.0,
                hi_ms: (lo + width * (i + 1) as f64) * 1000.0,
                count: c,
            }
        })
        .collect()
}

fn hist_entries(h: Option<&Vec<HistogramEntry>>) -> Vec<(f64, i64)> {
    h.map(|v| v.iter().map(|e| (e.value, i64::from(e.count))).collect())
        .unwrap_or_default()
}

/// A node as drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct MapNode {
    /// `n<ReferenceId>`: the id of its detail panel.
    pub key: String,
    /// Full name.
    pub name: String,
    /// Name shortened for the label.
    pub label: String,
    /// X-Ray type, as reported.
    pub type_name: String,
    /// The kind (symbol).
    pub kind: NodeKind,
    /// Center x.
    pub x: f64,
    /// Center y.
    pub y: f64,
    /// Ring arcs.
    pub arcs: Vec<Arc>,
    /// Requests per minute over the window, formatted.
    pub rate: String,
    /// Average response time, formatted.
    pub latency: String,
    /// Counts by outcome.
    pub outcomes: Outcomes,
    /// Response-time histogram.
    pub bars: Vec<Bar>,
    /// Filter expression selecting its traces (none for the client).
    pub filter: Option<String>,
    /// Whether any request had a fault (drawn with a red name).
    pub faulty: bool,
}

/// An edge as drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct MapEdge {
    /// `e<from>-<to>`: the id of its detail panel.
    pub key: String,
    /// SVG path.
    pub d: String,
    /// Source name.
    pub from_name: String,
    /// Target name.
    pub to_name: String,
    /// Counts by outcome.
    pub outcomes: Outcomes,
    /// Requests per minute, formatted.
    pub rate: String,
    /// Average response time, formatted.
    pub latency: String,
    /// Response-time histogram.
    pub bars: Vec<Bar>,
    /// Filter expression selecting its traces.
    pub filter: Option<String>,
    /// Class: `edge`, plus `fault`/`error` when those dominate, `link` for async links.
    pub class: String,
    /// Label position.
    pub mid: (f64, f64),
}

/// A laid-out map.
#[derive(Debug, Clone, PartialEq, Template)]
#[template(path = "map_svg.html", escape = "html")]
pub struct MapView {
    /// Nodes.
    pub nodes: Vec<MapNode>,
    /// Edges.
    pub edges: Vec<MapEdge>,
    /// Drawing width.
    pub width: f64,
    /// Drawing height.
    pub height: f64,
}

/// Quotes `s` as a filter-expression string.
pub fn filter_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `service(id(name: "...", type: "..."))`, or by name alone when untyped.
pub fn service_filter(name: &str, type_name: Option<&str>) -> String {
    match type_name {
        Some(t) => format!(
            "service(id(name: {}, type: {}))",
            filter_string(name),
            filter_string(t)
        ),
        None => format!("service({})", filter_string(name)),
    }
}

/// Requests per minute; empty when there is no window (a single trace's map).
fn rate(count: i64, minutes: f64) -> String {
    if minutes <= 0.0 {
        return String::new();
    }
    let r = count as f64 / minutes;
    if r >= 100.0 {
        format!("{r:.0} t/min")
    } else if r >= 10.0 {
        format!("{r:.1} t/min")
    } else {
        format!("{r:.2} t/min")
    }
}

/// Formats seconds as a latency.
pub fn latency(secs: f64) -> String {
    let ms = secs * 1000.0;
    if ms >= 10_000.0 {
        format!("{:.1} s", secs)
    } else if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

fn avg_latency(s: Option<&ServiceStatistics>) -> String {
    match s {
        Some(s) if s.total_count > 0 => latency(s.total_response_time / s.total_count as f64),
        _ => "–".to_owned(),
    }
}

fn shorten(s: &str) -> String {
    if s.chars().count() <= LABEL_CHARS {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(LABEL_CHARS - 1).collect();
        t.push('…');
        t
    }
}

/// Lays out `services` (from `GetServiceGraph` or `GetTraceGraph`) observed over `minutes`
/// (0 for a single trace: no rates).
pub fn build(services: &[Service], minutes: f64) -> MapView {
    // Deterministic order whatever order the API used: by name, type, then reference id.
    let mut order: Vec<&Service> = services.iter().collect();
    order.sort_by(|a, b| {
        (a.name.as_deref(), a.r#type.as_deref(), a.reference_id).cmp(&(
            b.name.as_deref(),
            b.r#type.as_deref(),
            b.reference_id,
        ))
    });
    let index: std::collections::HashMap<i32, usize> = order
        .iter()
        .enumerate()
        .map(|(i, s)| (s.reference_id, i))
        .collect();
    let mut pairs = Vec::new();
    let mut edge_refs = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, s) in order.iter().enumerate() {
        for e in &s.edges {
            // Self-calls are not drawn; a repeated edge is drawn once.
            if let Some(&j) = index.get(&e.reference_id)
                && i != j
                && seen.insert((i, j))
            {
                pairs.push((i, j));
                edge_refs.push((i, j, e));
            }
        }
    }
    let lay = layout::layout(order.len(), &pairs, Spacing::default());
    let nodes: Vec<MapNode> = order
        .iter()
        .zip(&lay.nodes)
        .map(|(s, p)| {
            let name = s.name.clone().unwrap_or_default();
            let kind = NodeKind::of(s.r#type.as_deref());
            let outcomes = s
                .summary_statistics
                .as_ref()
                .map(Outcomes::of)
                .unwrap_or_default();
            MapNode {
                key: format!("n{}", s.reference_id),
                label: shorten(&name),
                filter: (kind != NodeKind::Client)
                    .then(|| service_filter(&name, s.r#type.as_deref())),
                name,
                type_name: s.r#type.clone().unwrap_or_default(),
                kind,
                x: p.x,
                y: p.y,
                arcs: ring(&outcomes, NODE_RADIUS),
                rate: rate(
                    s.summary_statistics.as_ref().map_or(0, |x| x.total_count),
                    minutes,
                ),
                latency: avg_latency(s.summary_statistics.as_ref()),
                faulty: outcomes.fault > 0,
                outcomes,
                bars: histogram(&hist_entries(s.response_time_histogram.as_ref()), 24),
            }
        })
        .collect();
    let mut edges = Vec::new();
    for ((i, j, e), path) in edge_refs.iter().zip(&lay.edges) {
        let (a, b) = (&nodes[*i], &nodes[*j]);
        let mut pts = vec![(a.x, a.y)];
        pts.extend(path.bends.iter().copied());
        pts.push((b.x, b.y));
        let d = edge_path(&pts, path.reversed);
        let outcomes = e
            .summary_statistics
            .as_ref()
            .map(Outcomes::of)
            .unwrap_or_default();
        let mut class = String::from("edge");
        if outcomes.fault > 0 {
            class.push_str(" fault");
        } else if outcomes.error + outcomes.throttle > 0 {
            class.push_str(" error");
        }
        if e.edge_type.as_ref().is_some_and(|t| t.as_str() == "link") {
            class.push_str(" link");
        }
        let mid = pts[pts.len() / 2 - usize::from(pts.len() % 2 == 0)];
        let mid_next = pts[pts.len() / 2];
        let filter = if a.kind == NodeKind::Client {
            b.filter.clone()
        } else {
            Some(format!(
                "edge({}, {})",
                filter_string(&a.name),
                filter_string(&b.name)
            ))
        };
        edges.push(MapEdge {
            key: format!("e{}-{}", order[*i].reference_id, order[*j].reference_id),
            d,
            from_name: a.name.clone(),
            to_name: b.name.clone(),
            rate: rate(
                e.summary_statistics.as_ref().map_or(0, |x| x.total_count),
                minutes,
            ),
            latency: avg_latency(e.summary_statistics.as_ref()),
            bars: histogram(
                &e.response_time_histogram
                    .iter()
                    .map(|h| (h.value, i64::from(h.count)))
                    .collect::<Vec<_>>(),
                24,
            ),
            outcomes,
            filter,
            class,
            mid: (
                f64::midpoint(mid.0, mid_next.0),
                f64::midpoint(mid.1, mid_next.1),
            ),
        });
    }
    MapView {
        nodes,
        edges,
        width: lay.width.max(400.0),
        height: lay.height.max(240.0),
    }
}

/// A smooth path through `pts` (node centers at both ends), trimmed to the rings.
fn edge_path(pts: &[(f64, f64)], reversed: bool) -> String {
    use std::fmt::Write as _;
    let r = NODE_RADIUS + 6.0;
    let n = pts.len();
    let mut p = pts.to_vec();
    // Leave the source ring and arrive at the target ring (on the side facing the path).
    let trim = |from: (f64, f64), toward: (f64, f64)| {
        let (dx, dy) = (toward.0 - from.0, toward.1 - from.1);
        let len = dx.hypot(dy).max(1e-6);
        (from.0 + dx / len * r, from.1 + dy / len * r)
    };
    p[0] = trim(pts[0], pts[1]);
    p[n - 1] = trim(pts[n - 1], pts[n - 2]);
    let mut d = format!("M{:.1},{:.1}", p[0].0, p[0].1);
    for w in p.windows(2) {
        let (a, b) = (w[0], w[1]);
        let dx = (b.0 - a.0) / 2.0;
        if reversed || dx.abs() < 1.0 {
            let _ = write!(d, " L{:.1},{:.1}", b.0, b.1);
        } else {
            let _ = write!(
                d,
                " C{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}",
                a.0 + dx,
                a.1,
                b.0 - dx,
                b.1,
                b.0,
                b.1
            );
        }
    }
    d
}
