//! `--demo`: realistic traffic for a newcomer's first minute.
//!
//! An online shop's order API: API Gateway stage → Lambda → Lambda function, whose handler
//! reads and writes a DynamoDB table, calls an inventory service over HTTP, and publishes to
//! SQS and SNS. Some requests are not found (4xx), some are throttled by DynamoDB (429), some
//! fail because the inventory service faults (5xx), a few are slow. Each trace is written as the
//! X-Ray SDKs and the Lambda service write it (one document per segment, subsegments embedded)
//! and sent as UDP datagrams in the daemon's framing to the in-process receiver, so it takes the
//! same path as an SDK's traffic.

use std::net::SocketAddr;
use std::time::Duration;

use fluoro_proto::frame;
use fluoro_proto::ids::{EntityId, TraceId};
use serde_json::{Value, json};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The UDP port `--demo` receives on when `--udp` is not given (the X-Ray daemon's).
pub(crate) const DEFAULT_UDP_PORT: u16 = 2000;
/// Time between two demo requests.
pub(crate) const INTERVAL: Duration = Duration::from_millis(250);

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const STAGE: &str = "orders-api/prod";
const FUNCTION: &str = "orders-fn";
const TABLE: &str = "orders";
const QUEUE: &str = "order-events";
const TOPIC: &str = "order-notifications";
const INVENTORY: &str = "inventory.internal";

/// The running generator.
#[derive(Debug)]
pub(crate) struct Demo {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Demo {
    /// Starts sending a trace every [`INTERVAL`] to `udp`.
    pub(crate) async fn start(udp: SocketAddr) -> std::io::Result<Demo> {
        let local: SocketAddr = if udp.is_ipv4() {
            SocketAddr::from(([127, 0, 0, 1], 0))
        } else {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0))
        };
        let socket = UdpSocket::bind(local).await?;
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut rng = Rng::seeded();
            let mut tick = tokio::time::interval(INTERVAL);
            let mut sent: u64 = 0;
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tick.tick() => {}
                }
                for doc in request(&mut rng, now()) {
                    let text = doc.to_string();
                    match frame::encode(text.as_bytes()) {
                        Ok(datagram) => {
                            if let Err(e) = socket.send_to(&datagram, udp).await {
                                tracing::warn!(error = %e, "demo: cannot send a datagram");
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "demo: document too large"),
                    }
                }
                sent += 1;
                if sent == 1 {
                    tracing::info!("demo traffic is flowing: open the console and watch the map");
                }
            }
            tracing::info!(traces = sent, "demo stopped");
        });
        Ok(Demo { stop, task })
    }

    /// Stops sending.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// The documents of one demo request ending at `end` (epoch seconds), drawn from generator
/// state `seed`: for load tools that need the demo's traffic without the UDP path.
pub fn documents(seed: u64, end: f64) -> Vec<String> {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    for _ in 0..4 {
        rng.next();
    }
    request(&mut rng, end)
        .iter()
        .map(Value::to_string)
        .collect()
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A small xorshift generator: the demo needs variety, not cryptography.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Rng(t | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[lo, hi)`.
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

fn id() -> String {
    EntityId::generate().to_string()
}

/// What goes wrong in one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    NotFound,
    Throttled,
    Fault,
}

/// The documents of one request that ends at `end`: the API Gateway segment, the Lambda
/// service segment and the function segment (with the handler's calls embedded).
fn request(rng: &mut Rng, end: f64) -> Vec<Value> {
    let post = rng.chance(0.3);
    let roll = rng.unit();
    let outcome = if roll < 0.05 {
        Outcome::NotFound
    } else if roll < 0.09 {
        Outcome::Throttled
    } else if roll < 0.14 {
        Outcome::Fault
    } else {
        Outcome::Ok
    };
    let slow = rng.chance(0.03);
    let order = format!("ord-{:06}", rng.next() % 1_000_000);
    let trace_id = TraceId::generate_at(end as u32).to_string();

    // Durations of the handler's calls, seconds.
    let ddb = rng.range(0.004, 0.018) + if slow { rng.range(0.3, 0.9) } else { 0.0 };
    let inventory = rng.range(0.020, 0.090);
    let queue = rng.range(0.008, 0.025);
    let topic = rng.range(0.006, 0.020);
    let handler_work = rng.range(0.002, 0.010);
    let cold = rng.chance(0.03);
    let init = if cold { rng.range(0.15, 0.4) } else { 0.0 };

    let status: u16;
    let handler_id = id();
    // Calls are laid out one after the other inside the handler.
    let mut t = 0.0;
    let mut calls = Vec::new();
    let ddb_op = if post { "PutItem" } else { "GetItem" };
    let ddb_throttled = outcome == Outcome::Throttled;
    let mut ddb_doc = json!({
        "id": id(), "name": "DynamoDB", "namespace": "aws",
        "start_time": t, "end_time": t + ddb,
        "http": {"response": {"status": if ddb_throttled { 400 } else { 200 }}},
        "aws": {"operation": ddb_op, "region": REGION, "table_name": TABLE,
                "request_id": format!("{:032X}", rng.next() as u128 * 31)},
    });
    if ddb_throttled {
        ddb_doc["error"] = json!(true);
        ddb_doc["throttle"] = json!(true);
        ddb_doc["cause"] = json!({"working_directory": "/var/task", "exceptions": [{
            "id": id(), "type": "ProvisionedThroughputExceededException", "remote": true,
            "message": "The level of configured provisioned throughput for the table was exceeded",
        }]});
    }
    calls.push(ddb_doc);
    t += ddb;
    if ddb_throttled {
        status = 429;
    } else if outcome == Outcome::NotFound {
        status = 404;
    } else {
        let inv_status = if outcome == Outcome::Fault { 503 } else { 200 };
        let mut inv = json!({
            "id": id(), "name": INVENTORY, "namespace": "remote",
            "start_time": t, "end_time": t + inventory,
            "http": {"request": {"method": "GET", "url": format!("http://{INVENTORY}/stock/{order}")},
                     "response": {"status": inv_status}},
        });
        if outcome == Outcome::Fault {
            inv["fault"] = json!(true);
            inv["cause"] = json!({"working_directory": "/var/task", "exceptions": [{
                "id": id(), "type": "HTTPError", "remote": true,
                "message": format!("503 Service Unavailable: http://{INVENTORY}/stock/{order}"),
                "stack": [
                    {"path": "handler.py", "line": 88, "label": "check_stock"},
                    {"path": "handler.py", "line": 41, "label": "handle_order"},
                    {"path": "/var/runtime/bootstrap.py", "line": 60, "label": "handle_event_request"},
                ],
            }]});
        }
        calls.push(inv);
        t += inventory;
        if outcome == Outcome::Fault {
            status = 502;
        } else {
            status = if post { 201 } else { 200 };
            if post {
                calls.push(json!({
                    "id": id(), "name": "SQS", "namespace": "aws",
                    "start_time": t, "end_time": t + queue,
                    "http": {"response": {"status": 200}},
                    "aws": {"operation": "SendMessage", "region": REGION,
                            "queue_url": format!("https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{QUEUE}")},
                }));
                t += queue;
                calls.push(json!({
                    "id": id(), "name": "SNS", "namespace": "aws",
                    "start_time": t, "end_time": t + topic,
                    "http": {"response": {"status": 200}},
                    "aws": {"operation": "Publish", "region": REGION,
                            "topic_arn": format!("arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC}")},
                }));
                t += topic;
            }
        }
    }
    let handler_len = t + handler_work;

    // Absolute times, working back from the end of the API Gateway request.
    let gw_overhead = rng.range(0.003, 0.012);
    let lambda_overhead = rng.range(0.002, 0.006);
    let fn_len = init + handler_len + 0.002;
    let lambda_len = fn_len + lambda_overhead;
    let gw_len = lambda_len + gw_overhead;
    let gw_start = end - gw_len;
    let lambda_start = gw_start + gw_overhead / 2.0;
    let fn_start = lambda_start + lambda_overhead / 2.0;
    let invoke_start = fn_start + init;
    let handler_start = invoke_start + 0.001;

    let shift = |mut v: Value, by: f64| {
        for k in ["start_time", "end_time"] {
            if let Some(x) = v[k].as_f64() {
                v[k] = json!(x + by);
            }
        }
        v
    };
    let calls: Vec<Value> = calls.into_iter().map(|c| shift(c, handler_start)).collect();
    let items = (rng.next() % 5 + 1) as i64;
    let tier = ["gold", "silver", "bronze"][(rng.next() % 3) as usize];
    let mut handler = json!({
        "id": handler_id, "name": "handle_order", "namespace": "local",
        "start_time": handler_start, "end_time": handler_start + handler_len,
        "annotations": {"order_id": order, "route": if post { "POST /orders" } else { "GET /orders/{id}" },
                        "items": items, "tier": tier},
        "metadata": {"orders": {"cold_start": cold, "path": format!("/orders/{order}")}},
        "subsegments": calls,
    });
    match outcome {
        Outcome::NotFound => handler["error"] = json!(true),
        Outcome::Throttled => {
            handler["error"] = json!(true);
            handler["throttle"] = json!(true);
        }
        Outcome::Fault => handler["fault"] = json!(true),
        Outcome::Ok => {}
    }
    let fn_arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION}");
    let lambda_id = id();
    let fn_id = id();
    let gw_id = id();
    let invoke_id = id();
    let mut fn_subs = Vec::new();
    if cold {
        fn_subs.push(
            json!({"id": id(), "name": "Initialization", "start_time": fn_start,
                            "end_time": fn_start + init, "aws": {"function_arn": fn_arn}}),
        );
    }
    fn_subs.push(
        json!({"id": id(), "name": "Invocation", "start_time": invoke_start,
                        "end_time": handler_start + handler_len + 0.0005,
                        "aws": {"function_arn": fn_arn}, "subsegments": [handler]}),
    );
    fn_subs.push(
        json!({"id": id(), "name": "Overhead", "start_time": handler_start + handler_len + 0.0005,
                        "end_time": fn_start + fn_len, "aws": {"function_arn": fn_arn}}),
    );
    let mut function = json!({
        "id": fn_id, "name": FUNCTION, "trace_id": trace_id, "parent_id": lambda_id,
        "origin": "AWS::Lambda::Function",
        "start_time": fn_start, "end_time": fn_start + fn_len,
        "aws": {"account_id": ACCOUNT, "function_arn": fn_arn, "resource_names": [FUNCTION]},
        "subsegments": fn_subs,
    });
    let mut lambda = json!({
        "id": lambda_id, "name": FUNCTION, "trace_id": trace_id, "parent_id": invoke_id,
        "origin": "AWS::Lambda", "resource_arn": fn_arn,
        "start_time": lambda_start, "end_time": lambda_start + lambda_len,
        "http": {"response": {"status": 200}},
        "aws": {"request_id": format!("{:08x}-{:04x}-4000-8000-{:012x}", rng.next() as u32, rng.next() as u16, rng.next() & 0xffff_ffff_ffff)},
    });
    let method = if post { "POST" } else { "GET" };
    let path = if post {
        "/prod/orders".to_owned()
    } else {
        format!("/prod/orders/{order}")
    };
    let mut gateway = json!({
        "id": gw_id, "name": STAGE, "trace_id": trace_id,
        "origin": "AWS::ApiGateway::Stage",
        "resource_arn": format!("arn:aws:apigateway:{REGION}::/restapis/a1b2c3d4e5/stages/prod"),
        "start_time": gw_start, "end_time": end,
        "http": {"request": {"method": method, "url": format!("https://a1b2c3d4e5.execute-api.{REGION}.amazonaws.com{path}"),
                             "user_agent": "Mozilla/5.0", "client_ip": format!("198.51.100.{}", rng.next() % 250 + 1)},
                 "response": {"status": status}},
        "aws": {"api_gateway": {"account_id": ACCOUNT, "rest_api_id": "a1b2c3d4e5", "stage": "prod"}},
        "annotations": {"aws:api_id": "a1b2c3d4e5", "aws:api_stage": "prod"},
        "subsegments": [{
            "id": invoke_id, "name": "Lambda", "namespace": "aws",
            "start_time": lambda_start - 0.0005, "end_time": lambda_start + lambda_len + 0.0005,
            "http": {"response": {"status": 200}},
            "aws": {"function_name": FUNCTION, "region": REGION, "operation": "Invoke", "resource_names": [FUNCTION]},
        }],
    });
    match status {
        429 => {
            for d in [&mut gateway, &mut function] {
                d["error"] = json!(true);
                d["throttle"] = json!(true);
            }
        }
        400..=499 => {
            gateway["error"] = json!(true);
            function["error"] = json!(true);
        }
        500..=599 => {
            gateway["fault"] = json!(true);
            function["fault"] = json!(true);
        }
        _ => {}
    }
    if status == 404 {
        lambda["http"] = json!({"response": {"status": 200}});
    }
    vec![gateway, lambda, function]
}

#[cfg(test)]
mod tests {
    use super::*;
    use fluoro_proto::segment::Segment;

    #[test]
    fn demo_documents_are_valid_segments_with_every_outcome() {
        let mut rng = Rng(42);
        let mut statuses = std::collections::BTreeSet::new();
        for _ in 0..400 {
            let docs = request(&mut rng, 1_800_000_000.0);
            assert_eq!(docs.len(), 3);
            for d in &docs {
                let text = d.to_string();
                let seg = Segment::from_json(&text).unwrap();
                assert!(seg.trace_id.is_some() && seg.id.is_some());
                assert!(frame::encode(text.as_bytes()).is_ok());
            }
            statuses.insert(docs[0]["http"]["response"]["status"].as_u64().unwrap());
        }
        for s in [200, 201, 404, 429, 502] {
            assert!(statuses.contains(&s), "no {s} in {statuses:?}");
        }
    }
}
