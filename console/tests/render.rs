//! Render tests: the layout never overlaps nodes and draws acyclic graphs left to right; the
//! same graph always gives the same picture; every name from the API is escaped in the SVG.

use askama::Template;
use fluoro_console::layout::{self, Spacing};
use fluoro_console::map;
use fluoro_proto::api::{Edge, Service, ServiceStatistics};

/// A fixed pseudo-random DAG: edges always go from a lower to a higher index.
fn dag(nodes: usize, edges: usize, seed: u64) -> Vec<(usize, usize)> {
    let mut s = seed | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut out = std::collections::BTreeSet::new();
    while out.len() < edges {
        let a = (next() % nodes as u64) as usize;
        let b = (next() % nodes as u64) as usize;
        if a != b {
            out.insert((a.min(b), a.max(b)));
        }
    }
    out.into_iter().collect()
}

fn assert_no_overlap(l: &layout::Layout, sp: Spacing) {
    for (i, a) in l.nodes.iter().enumerate() {
        for b in &l.nodes[i + 1..] {
            let apart =
                (a.x - b.x).abs() >= sp.layer_gap - 1e-6 || (a.y - b.y).abs() >= sp.node_gap - 1e-6;
            assert!(apart, "nodes overlap: {a:?} {b:?}");
        }
        assert!(a.x >= 0.0 && a.y >= 0.0 && a.x <= l.width && a.y <= l.height);
    }
}

#[test]
fn acyclic_graphs_go_left_to_right_without_overlap() {
    let sp = Spacing::default();
    for (n, e, seed) in [(5, 6, 1), (30, 50, 2), (80, 160, 3), (200, 400, 4)] {
        let edges = dag(n, e, seed);
        let l = layout::layout(n, &edges, sp);
        assert_no_overlap(&l, sp);
        for p in &l.edges {
            assert!(!p.reversed, "no edge of a DAG is reversed");
            let (a, b) = (l.nodes[p.from], l.nodes[p.to]);
            assert!(a.x < b.x, "edge {}→{} goes right to left", p.from, p.to);
            // Bend points advance one layer at a time.
            let mut x = a.x;
            for &(bx, _) in &p.bends {
                assert!(bx > x);
                x = bx;
            }
            assert!(b.x > x);
        }
    }
}

#[test]
fn cycles_are_laid_out_too() {
    let sp = Spacing::default();
    let edges = [(0, 1), (1, 2), (2, 0), (2, 3), (3, 3), (3, 1)];
    let l = layout::layout(4, &edges, sp);
    assert_no_overlap(&l, sp);
    assert_eq!(l.self_loops, [3]);
    assert!(l.edges.iter().any(|e| e.reversed));
    assert_eq!(
        l.nodes[0].layer, 0,
        "the first node of a cycle without entry starts it"
    );
}

#[test]
fn layout_is_deterministic() {
    let edges = dag(60, 120, 7);
    let a = layout::layout(60, &edges, Spacing::default());
    let b = layout::layout(60, &edges, Spacing::default());
    assert_eq!(a, b);
}

#[test]
fn entry_points_are_on_the_left_and_crossings_are_avoided() {
    // client → gateway → lambda → {function}; function → {ddb, sqs, http}; drawn in input
    // order that would cross if kept.
    let edges = [(0, 1), (1, 2), (2, 3), (3, 6), (3, 4), (3, 5)];
    let l = layout::layout(7, &edges, Spacing::default());
    assert_eq!(l.nodes[0].layer, 0);
    assert_eq!(l.nodes[6].layer, 4);
    // Two parents each with two children laid out crossing-free.
    let edges = [(0, 3), (1, 2), (0, 4), (1, 5)];
    let l = layout::layout(6, &edges, Spacing::default());
    let order = |v: usize| l.nodes[v].y;
    let (p0, p1) = (order(0), order(1));
    let below = |c: usize| order(c) > (p0 + p1) / 2.0;
    assert_eq!(below(3), p0 > p1);
    assert_eq!(below(4), p0 > p1);
    assert_eq!(below(2), p1 > p0);
}

fn service(id: i32, name: &str, t: &str, to: &[i32]) -> Service {
    Service {
        reference_id: id,
        name: Some(name.to_owned()),
        names: vec![name.to_owned()],
        r#type: Some(t.to_owned()),
        edges: to
            .iter()
            .map(|&r| Edge {
                reference_id: r,
                ..Default::default()
            })
            .collect(),
        summary_statistics: Some(ServiceStatistics {
            ok_count: 7,
            total_count: 10,
            total_response_time: 1.0,
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn names_from_segments_are_escaped_in_the_svg() {
    let evil = "<script>alert(1)</script>";
    let services = vec![
        service(0, evil, "client", &[1]),
        service(1, evil, "AWS::Lambda", &[2]),
        service(2, "\"onmouseover=\"alert(2)", "remote", &[]),
    ];
    let svg = map::build(&services, 5.0).render().unwrap();
    assert!(!svg.contains("<script>"), "{svg}");
    assert!(svg.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
    assert!(!svg.contains("\"onmouseover=\""));
    assert!(svg.contains("&#34;onmouseover=&#34;alert(2)"));
}

#[test]
fn symbols_and_rings_follow_type_and_outcomes() {
    let mut s = service(0, "api", "AWS::ApiGateway::Stage", &[]);
    s.summary_statistics = Some(ServiceStatistics {
        ok_count: 5,
        total_count: 10,
        total_response_time: 2.0,
        error_statistics: fluoro_proto::api::ErrorStatistics {
            throttle_count: 1,
            other_count: 2,
            total_count: 3,
        },
        fault_statistics: fluoro_proto::api::FaultStatistics {
            other_count: 2,
            total_count: 2,
        },
    });
    let view = map::build(&[s], 10.0);
    let n = &view.nodes[0];
    assert_eq!(n.kind.symbol(), "sym-apigw");
    let classes: Vec<&str> = n.arcs.iter().map(|a| a.class).collect();
    assert_eq!(classes, ["ok", "error", "throttle", "fault"]);
    assert_eq!(n.rate, "1.00 t/min");
    assert_eq!(n.latency, "200 ms");
    let svg = view.render().unwrap();
    assert!(svg.contains("href=\"#sym-apigw\""));
    assert!(svg.contains("class=\"ring fault\""));
}
