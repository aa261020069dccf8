//! Server-side map layout and SVG render for a 200-node / 400-edge graph (target: < 50 ms).

use askama::Template;
use criterion::{Criterion, criterion_group, criterion_main};
use fluoro_console::{layout, map};
use fluoro_proto::api::{Edge, Service, ServiceStatistics};

/// A layered service graph: `nodes` services, `edges` calls, pseudo-random but fixed.
fn graph(nodes: usize, edges: usize) -> Vec<Service> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut services: Vec<Service> = (0..nodes)
        .map(|i| Service {
            reference_id: i as i32,
            name: Some(format!("service-{i:03}")),
            r#type: Some(
                [
                    "AWS::Lambda",
                    "AWS::Lambda::Function",
                    "AWS::DynamoDB::Table",
                    "remote",
                ][i % 4]
                    .to_owned(),
            ),
            summary_statistics: Some(ServiceStatistics {
                ok_count: 90,
                total_count: 100,
                total_response_time: 12.5,
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    let mut added = std::collections::HashSet::new();
    while added.len() < edges {
        let a = (next() % nodes as u64) as usize;
        let b = (next() % nodes as u64) as usize;
        // Mostly forward calls, as in a real system; a few back edges make cycles.
        let (a, b) = if next() % 10 == 0 {
            (a.max(b), a.min(b))
        } else {
            (a.min(b), a.max(b))
        };
        if a != b && added.insert((a, b)) {
            services[a].edges.push(Edge {
                reference_id: b as i32,
                ..Default::default()
            });
        }
    }
    services
}

fn bench(c: &mut Criterion) {
    let services = graph(200, 400);
    let pairs: Vec<(usize, usize)> = services
        .iter()
        .flat_map(|s| {
            s.edges
                .iter()
                .map(move |e| (s.reference_id as usize, e.reference_id as usize))
        })
        .collect();
    c.bench_function("layout 200 nodes 400 edges", |b| {
        b.iter(|| layout::layout(200, &pairs, layout::Spacing::default()));
    });
    c.bench_function("map build + svg render 200 nodes 400 edges", |b| {
        b.iter(|| map::build(&services, 15.0).render().map(|s| s.len()));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
