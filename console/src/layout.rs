//! Layered graph layout (Sugiyama style), pure and deterministic: the same graph in the same
//! order always gets the same picture.
//!
//! Steps: cycles are broken by reversing the back edges of a depth-first search started at the
//! entry points; nodes get the layer of their longest path from an entry point (entry points on
//! the left); edges spanning several layers get a chain of dummy points; each layer is ordered
//! by repeated barycenter sweeps, keeping the order with the fewest crossings; vertical
//! positions are pulled toward the neighbours' positions while keeping a minimum gap, so nodes
//! never overlap. No I/O, no rendering here.

/// Distances of the drawing, in SVG user units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spacing {
    /// Horizontal distance between the centers of two adjacent layers.
    pub layer_gap: f64,
    /// Smallest vertical distance between the centers of two nodes of one layer.
    pub node_gap: f64,
    /// Smallest vertical distance between an edge's bend point and its neighbours.
    pub dummy_gap: f64,
    /// Space around the drawing.
    pub margin: f64,
}

impl Default for Spacing {
    fn default() -> Self {
        Spacing {
            layer_gap: 220.0,
            node_gap: 120.0,
            dummy_gap: 24.0,
            margin: 110.0,
        }
    }
}

/// Where a node goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodePos {
    /// Layer, 0 for entry points.
    pub layer: usize,
    /// Center, x.
    pub x: f64,
    /// Center, y.
    pub y: f64,
}

/// How an edge is drawn: from the center of `from` through `bends` to the center of `to`.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgePath {
    /// Index of the source node.
    pub from: usize,
    /// Index of the target node.
    pub to: usize,
    /// Bend points between the two ends (one per layer crossed), in drawing order.
    pub bends: Vec<(f64, f64)>,
    /// The edge points right to left (it closes a cycle).
    pub reversed: bool,
}

/// A computed layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// One entry per node, in input order.
    pub nodes: Vec<NodePos>,
    /// One entry per distinct edge that is not a self-loop, in input order.
    pub edges: Vec<EdgePath>,
    /// Indices of nodes with an edge to themselves.
    pub self_loops: Vec<usize>,
    /// Width of the drawing.
    pub width: f64,
    /// Height of the drawing.
    pub height: f64,
}

/// Sweeps of barycenter ordering (each one down and one up).
const SWEEPS: usize = 12;
/// Rounds of pulling positions toward neighbours.
const PULLS: usize = 8;

/// Lays out `node_count` nodes and the directed `edges` between them (node indices).
pub fn layout(node_count: usize, edges: &[(usize, usize)], spacing: Spacing) -> Layout {
    let n = node_count;
    let mut self_loops = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut uniq: Vec<(usize, usize)> = Vec::new();
    for &(a, b) in edges {
        if a >= n || b >= n {
            continue;
        }
        if a == b {
            if !self_loops.contains(&a) {
                self_loops.push(a);
            }
            continue;
        }
        if seen.insert((a, b)) {
            uniq.push((a, b));
        }
    }
    let reversed = back_edges(n, &uniq);
    // Oriented edges: left to right once back edges are turned around.
    let oriented: Vec<(usize, usize)> = uniq
        .iter()
        .zip(&reversed)
        .map(|(&(a, b), &r)| if r { (b, a) } else { (a, b) })
        .collect();
    let layer = longest_path_layers(n, &oriented);
    let layers_count = layer.iter().copied().max().map_or(0, |m| m + 1);

    // Virtual graph: real nodes, then one dummy per layer crossed by a long edge.
    let mut vlayer = layer.clone();
    let mut down: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut up: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut chains: Vec<Vec<usize>> = Vec::with_capacity(oriented.len());
    for &(a, b) in &oriented {
        let mut chain = Vec::new();
        let mut prev = a;
        for l in layer[a] + 1..layer[b] {
            let d = vlayer.len();
            vlayer.push(l);
            down.push(Vec::new());
            up.push(Vec::new());
            down[prev].push(d);
            up[d].push(prev);
            chain.push(d);
            prev = d;
        }
        down[prev].push(b);
        up[b].push(prev);
        chains.push(chain);
    }
    let total = vlayer.len();

    // Initial order: discovery order of a depth-first walk from the entry points, so that
    // related nodes start close together; ties always resolved by index.
    let mut rank = vec![usize::MAX; total];
    let mut next = 0;
    let mut starts: Vec<usize> = (0..n).filter(|&v| up[v].is_empty()).collect();
    starts.extend(0..n);
    for s in starts {
        if rank[s] != usize::MAX {
            continue;
        }
        let mut stack = vec![s];
        while let Some(v) = stack.pop() {
            if rank[v] != usize::MAX {
                continue;
            }
            rank[v] = next;
            next += 1;
            for &w in down[v].iter().rev() {
                if rank[w] == usize::MAX {
                    stack.push(w);
                }
            }
        }
    }
    let mut order: Vec<Vec<usize>> = vec![Vec::new(); layers_count];
    for v in 0..total {
        order[vlayer[v]].push(v);
    }
    for l in &mut order {
        l.sort_by_key(|&v| rank[v]);
    }

    let mut pos = vec![0usize; total];
    let set_pos = |order: &Vec<Vec<usize>>, pos: &mut Vec<usize>| {
        for l in order {
            for (i, &v) in l.iter().enumerate() {
                pos[v] = i;
            }
        }
    };
    set_pos(&order, &mut pos);
    let mut best = order.clone();
    let mut best_cross = crossings(&order, &down, &pos);
    let mut stale = 0;
    for _ in 0..SWEEPS {
        if best_cross == 0 || stale >= 3 {
            break;
        }
        for layer in order.iter_mut().skip(1) {
            reorder(layer, &up, &mut pos);
        }
        for layer in order.iter_mut().rev().skip(1) {
            reorder(layer, &down, &mut pos);
        }
        let c = crossings(&order, &down, &pos);
        if c < best_cross {
            best_cross = c;
            best.clone_from(&order);
            stale = 0;
        } else {
            stale += 1;
        }
    }
    let order = best;
    set_pos(&order, &mut pos);

    // Vertical positions.
    let is_dummy = |v: usize| v >= n;
    let gap = |a: usize, b: usize| {
        if is_dummy(a) && is_dummy(b) {
            spacing.dummy_gap
        } else if is_dummy(a) || is_dummy(b) {
            (spacing.node_gap + spacing.dummy_gap) / 2.0
        } else {
            spacing.node_gap
        }
    };
    let mut y = vec![0.0f64; total];
    for l in &order {
        let mut acc = 0.0;
        for (i, &v) in l.iter().enumerate() {
            if i > 0 {
                acc += gap(l[i - 1], v);
            }
            y[v] = acc;
        }
    }
    // Center each layer on the tallest one before pulling.
    let extent = |l: &Vec<usize>, y: &Vec<f64>| match (l.first(), l.last()) {
        (Some(&f), Some(&b)) => y[b] - y[f],
        _ => 0.0,
    };
    let tallest = order.iter().map(|l| extent(l, &y)).fold(0.0, f64::max);
    for l in &order {
        let shift = (tallest - extent(l, &y)) / 2.0;
        for &v in l {
            y[v] += shift;
        }
    }
    for round in 0..PULLS {
        let downward = round % 2 == 0;
        let layers: Vec<usize> = if downward {
            (1..layers_count).collect()
        } else {
            (0..layers_count.saturating_sub(1)).rev().collect()
        };
        for l in layers {
            let nbrs = if downward { &up } else { &down };
            let desired: Vec<f64> = order[l]
                .iter()
                .map(|&v| {
                    if nbrs[v].is_empty() {
                        y[v]
                    } else {
                        nbrs[v].iter().map(|&w| y[w]).sum::<f64>() / nbrs[v].len() as f64
                    }
                })
                .collect();
            place(&order[l], &desired, &gap, &mut y);
        }
    }
    let min_y = y.iter().copied().fold(f64::INFINITY, f64::min);
    let min_y = if min_y.is_finite() { min_y } else { 0.0 };
    for v in &mut y {
        *v = *v - min_y + spacing.margin;
    }
    let x = |v: usize| spacing.margin + vlayer[v] as f64 * spacing.layer_gap;

    let nodes = (0..n)
        .map(|v| NodePos {
            layer: layer[v],
            x: x(v),
            y: y[v],
        })
        .collect();
    let edges = uniq
        .iter()
        .zip(&reversed)
        .zip(&chains)
        .map(|((&(a, b), &r), chain)| {
            let mut bends: Vec<(f64, f64)> = chain.iter().map(|&d| (x(d), y[d])).collect();
            if r {
                bends.reverse();
            }
            EdgePath {
                from: a,
                to: b,
                bends,
                reversed: r,
            }
        })
        .collect();
    let max_y = y.iter().copied().fold(0.0, f64::max);
    Layout {
        nodes,
        edges,
        self_loops,
        width: spacing.margin * 2.0 + layers_count.saturating_sub(1) as f64 * spacing.layer_gap,
        height: max_y + spacing.margin,
    }
}

/// Marks the edges that close a cycle in a depth-first search from the entry points (nodes
/// without incoming edges, in index order), then from any node left.
fn back_edges(n: usize, edges: &[(usize, usize)]) -> Vec<bool> {
    let mut out: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    let mut indeg = vec![0usize; n];
    for (i, &(a, b)) in edges.iter().enumerate() {
        out[a].push((b, i));
        indeg[b] += 1;
    }
    // 0 = unvisited, 1 = on the stack, 2 = done.
    let mut state = vec![0u8; n];
    let mut back = vec![false; edges.len()];
    let mut starts: Vec<usize> = (0..n).filter(|&v| indeg[v] == 0).collect();
    starts.extend(0..n);
    for s in starts {
        if state[s] != 0 {
            continue;
        }
        // Iterative DFS: (node, next edge index).
        let mut stack = vec![(s, 0usize)];
        state[s] = 1;
        while let Some(top) = stack.last_mut() {
            let (v, i) = *top;
            if i < out[v].len() {
                top.1 += 1;
                let (w, e) = out[v][i];
                match state[w] {
                    0 => {
                        state[w] = 1;
                        stack.push((w, 0));
                    }
                    1 => back[e] = true,
                    _ => {}
                }
            } else {
                state[v] = 2;
                stack.pop();
            }
        }
    }
    back
}

/// Layer of each node: the length of the longest path reaching it (edges must be acyclic).
fn longest_path_layers(n: usize, edges: &[(usize, usize)]) -> Vec<usize> {
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut indeg = vec![0usize; n];
    for &(a, b) in edges {
        out[a].push(b);
        indeg[b] += 1;
    }
    let mut layer = vec![0usize; n];
    let mut ready: std::collections::VecDeque<usize> = (0..n).filter(|&v| indeg[v] == 0).collect();
    while let Some(v) = ready.pop_front() {
        for &w in &out[v] {
            layer[w] = layer[w].max(layer[v] + 1);
            indeg[w] -= 1;
            if indeg[w] == 0 {
                ready.push_back(w);
            }
        }
    }
    layer
}

/// Sorts one layer by the mean position of each node's neighbours in the adjacent layer
/// (`nbrs`); nodes without neighbours keep their place. Stable, so ties keep their order.
fn reorder(layer: &mut [usize], nbrs: &[Vec<usize>], pos: &mut [usize]) {
    let mut keyed: Vec<(f64, usize)> = layer
        .iter()
        .map(|&v| {
            let k = if nbrs[v].is_empty() {
                pos[v] as f64
            } else {
                nbrs[v].iter().map(|&w| pos[w] as f64).sum::<f64>() / nbrs[v].len() as f64
            };
            (k, v)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (i, (_, v)) in keyed.into_iter().enumerate() {
        layer[i] = v;
        pos[v] = i;
    }
}

/// Edge crossings between every pair of adjacent layers.
fn crossings(order: &[Vec<usize>], down: &[Vec<usize>], pos: &[usize]) -> usize {
    let mut total = 0;
    for l in order {
        let mut segs: Vec<(usize, usize)> = Vec::new();
        for &v in l {
            for &w in &down[v] {
                segs.push((pos[v], pos[w]));
            }
        }
        segs.sort_unstable();
        // Inversions of the target positions, counted by merge sort.
        let mut targets: Vec<usize> = segs.iter().map(|s| s.1).collect();
        total += inversions(&mut targets);
    }
    total
}

fn inversions(v: &mut [usize]) -> usize {
    let len = v.len();
    if len < 2 {
        return 0;
    }
    let mid = len / 2;
    let mut count = inversions(&mut v[..mid]) + inversions(&mut v[mid..]);
    let mut merged = Vec::with_capacity(len);
    let (mut i, mut j) = (0, mid);
    while i < mid && j < len {
        if v[j] < v[i] {
            count += mid - i;
            merged.push(v[j]);
            j += 1;
        } else {
            merged.push(v[i]);
            i += 1;
        }
    }
    merged.extend_from_slice(&v[i..mid]);
    merged.extend_from_slice(&v[j..]);
    v.copy_from_slice(&merged);
    count
}

/// Places one layer's nodes as close to `desired` as the order and gaps allow: the mean of
/// the packing pushed down from the top and the packing pushed up from the bottom, both of
/// which respect every gap, so their mean does too.
fn place(layer: &[usize], desired: &[f64], gap: &dyn Fn(usize, usize) -> f64, y: &mut [f64]) {
    let k = layer.len();
    if k == 0 {
        return;
    }
    let mut fwd = desired.to_vec();
    for i in 1..k {
        fwd[i] = fwd[i].max(fwd[i - 1] + gap(layer[i - 1], layer[i]));
    }
    let mut bwd = desired.to_vec();
    for i in (0..k - 1).rev() {
        bwd[i] = bwd[i].min(bwd[i + 1] - gap(layer[i], layer[i + 1]));
    }
    for i in 0..k {
        y[layer[i]] = f64::midpoint(fwd[i], bwd[i]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_goes_left_to_right() {
        let l = layout(3, &[(0, 1), (1, 2)], Spacing::default());
        assert!(l.nodes[0].x < l.nodes[1].x && l.nodes[1].x < l.nodes[2].x);
        assert_eq!(l.nodes[2].layer, 2);
    }

    #[test]
    fn cycle_is_broken_and_marked() {
        let l = layout(3, &[(0, 1), (1, 2), (2, 1)], Spacing::default());
        assert_eq!(l.edges.iter().filter(|e| e.reversed).count(), 1);
        assert!(l.nodes[0].x < l.nodes[1].x);
    }

    #[test]
    fn inversions_counts() {
        assert_eq!(inversions(&mut [3, 1, 2]), 2);
        assert_eq!(inversions(&mut [1, 2, 3]), 0);
    }
}
