//! The stored form of a [`GraphContribution`]: a compact binary encoding, one per trace and one
//! per minute bucket in the store.
//!
//! It replaced the JSON form in the store (2026-11-28): it is about 2.5 times smaller than the
//! JSON (test `binary_form_round_trips_and_reads_old_json_rows`), and encoding the JSON of each
//! settled trace had been a tenth of the aggregator's time. Rows written before still hold JSON
//! text; readers take both ([`GraphContribution::from_stored`]).
//!
//! Layout (integers are LEB128 varints, `f64` little-endian, strings a varint length then
//! UTF-8; an optional string is `0` for none or its length plus one, then the bytes; an
//! optional `f64` is a byte `0`/`1` then the value):
//!
//! ```text
//! contribution = VERSION nodes edges
//! nodes        = count { name type? account? node_stats }      (key order; see below)
//! edges        = count { source target edge_stats }             (indexes into nodes)
//! node_stats   = records instrumented roots counters histogram histogram start? end?
//! edge_stats   = records counters histogram aliases edge_type? start? end?
//! counters     = ok error throttle fault total response_time_us
//! histogram    = count { bucket_ms_delta count }                (ascending buckets)
//! aliases      = count { name type? count }
//! ```
//!
//! An edge endpoint that is not a node (possible only in hand-built values) is appended to the
//! node list with zero records, as the JSON form does; the reader keeps nodes with records only.

use std::collections::BTreeMap;

use super::contribution::{Counters, EdgeStats, GraphContribution, NodeKey, NodeStats};
use super::histogram::Histogram;

/// First byte of the binary form (a JSON form starts with `{`).
const VERSION: u8 = 0xB1;

/// Most entries a count may announce: more than the remaining bytes could hold is corrupt.
fn check_count(n: u64, remaining: usize) -> Result<usize, String> {
    usize::try_from(n)
        .ok()
        .filter(|&n| n <= remaining)
        .ok_or_else(|| format!("count {n} exceeds the {remaining} bytes left"))
}

struct Writer {
    out: Vec<u8>,
}

impl Writer {
    fn uint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.out.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
    }

    fn len(&mut self, n: usize) {
        self.uint(n as u64);
    }

    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.out.extend_from_slice(s.as_bytes());
    }

    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            None => self.uint(0),
            Some(s) => {
                self.len(s.len() + 1);
                self.out.extend_from_slice(s.as_bytes());
            }
        }
    }

    fn opt_f64(&mut self, v: Option<f64>) {
        match v {
            None => self.out.push(0),
            Some(v) => {
                self.out.push(1);
                self.out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }

    fn key(&mut self, k: &NodeKey) {
        self.str(&k.name);
        self.opt_str(k.r#type.as_deref());
        self.opt_str(k.account_id.as_deref());
    }

    fn counters(&mut self, c: &Counters) {
        for v in [
            c.ok,
            c.error,
            c.throttle,
            c.fault,
            c.total,
            c.response_time_us,
        ] {
            self.uint(v);
        }
    }

    fn histogram(&mut self, h: &Histogram) {
        self.len(h.buckets().count());
        let mut last = 0;
        for (bucket, count) in h.buckets() {
            self.uint(bucket - last);
            self.uint(count);
            last = bucket;
        }
    }

    fn node(&mut self, s: &NodeStats) {
        self.uint(s.records);
        self.uint(s.instrumented);
        self.uint(s.roots);
        self.counters(&s.counters);
        self.histogram(&s.duration);
        self.histogram(&s.response_time);
        self.opt_f64(s.start);
        self.opt_f64(s.end);
    }

    fn edge(&mut self, e: &EdgeStats) {
        self.uint(e.records);
        self.counters(&e.counters);
        self.histogram(&e.response_time);
        self.len(e.aliases.len());
        for (alias, n) in &e.aliases {
            self.str(&alias.name);
            self.opt_str(alias.r#type.as_deref());
            self.uint(*n);
        }
        self.opt_str(e.edge_type.as_deref());
        self.opt_f64(e.start);
        self.opt_f64(e.end);
    }
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, String> {
        let (&b, rest) = self
            .rest
            .split_first()
            .ok_or("unexpected end of the contribution")?;
        self.rest = rest;
        Ok(b)
    }

    fn uint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint longer than 64 bits".into())
    }

    fn count(&mut self) -> Result<usize, String> {
        let n = self.uint()?;
        check_count(n, self.rest.len())
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.rest.len() {
            return Err(format!("{n} bytes announced, {} left", self.rest.len()));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn string(&mut self, n: usize) -> Result<String, String> {
        let b = self.bytes(n)?;
        String::from_utf8(b.to_vec()).map_err(|e| format!("bad UTF-8 in a name: {e}"))
    }

    fn str(&mut self) -> Result<String, String> {
        let n = self.count()?;
        self.string(n)
    }

    fn opt_str(&mut self) -> Result<Option<String>, String> {
        match self.count()? {
            0 => Ok(None),
            n => self.string(n - 1).map(Some),
        }
    }

    fn opt_f64(&mut self) -> Result<Option<f64>, String> {
        match self.byte()? {
            0 => Ok(None),
            1 => {
                let b: [u8; 8] = self
                    .bytes(8)?
                    .try_into()
                    .map_err(|_| "short float".to_owned())?;
                Ok(Some(f64::from_le_bytes(b)))
            }
            t => Err(format!("bad optional tag {t}")),
        }
    }

    fn key(&mut self) -> Result<NodeKey, String> {
        Ok(NodeKey {
            name: self.str()?,
            r#type: self.opt_str()?,
            account_id: self.opt_str()?,
        })
    }

    fn counters(&mut self) -> Result<Counters, String> {
        Ok(Counters {
            ok: self.uint()?,
            error: self.uint()?,
            throttle: self.uint()?,
            fault: self.uint()?,
            total: self.uint()?,
            response_time_us: self.uint()?,
        })
    }

    fn histogram(&mut self) -> Result<Histogram, String> {
        let n = self.count()?;
        let mut h = Histogram::new();
        let mut bucket = 0u64;
        for _ in 0..n {
            bucket = bucket
                .checked_add(self.uint()?)
                .ok_or("histogram bucket overflows")?;
            h.add_to_bucket(bucket, self.uint()?);
        }
        Ok(h)
    }

    fn node(&mut self) -> Result<NodeStats, String> {
        Ok(NodeStats {
            records: self.uint()?,
            instrumented: self.uint()?,
            roots: self.uint()?,
            counters: self.counters()?,
            duration: self.histogram()?,
            response_time: self.histogram()?,
            start: self.opt_f64()?,
            end: self.opt_f64()?,
        })
    }

    fn edge(&mut self) -> Result<EdgeStats, String> {
        let records = self.uint()?;
        let counters = self.counters()?;
        let response_time = self.histogram()?;
        let mut aliases = BTreeMap::new();
        for _ in 0..self.count()? {
            let key = NodeKey {
                name: self.str()?,
                r#type: self.opt_str()?,
                account_id: None,
            };
            let n = self.uint()?;
            if n > 0 {
                aliases.insert(key, n);
            }
        }
        Ok(EdgeStats {
            records,
            counters,
            response_time,
            aliases,
            edge_type: self.opt_str()?,
            start: self.opt_f64()?,
            end: self.opt_f64()?,
        })
    }
}

impl GraphContribution {
    /// The binary form (see the module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer {
            out: Vec::with_capacity(64 + 48 * (self.nodes.len() + self.edges.len())),
        };
        w.out.push(VERSION);
        let mut index: BTreeMap<&NodeKey, usize> = BTreeMap::new();
        let mut keys: Vec<&NodeKey> = Vec::with_capacity(self.nodes.len());
        for k in self.nodes.keys() {
            index.insert(k, keys.len());
            keys.push(k);
        }
        let mut edges = Vec::with_capacity(self.edges.len());
        for ((src, dst), d) in &self.edges {
            let mut ends = [0; 2];
            for (slot, k) in ends.iter_mut().zip([src, dst]) {
                *slot = *index.entry(k).or_insert_with(|| {
                    keys.push(k);
                    keys.len() - 1
                });
            }
            edges.push((ends[0], ends[1], d));
        }
        let empty = NodeStats::default();
        w.len(keys.len());
        for k in &keys {
            w.key(k);
            w.node(self.nodes.get(*k).unwrap_or(&empty));
        }
        w.len(edges.len());
        for (s, t, d) in edges {
            w.len(s);
            w.len(t);
            w.edge(d);
        }
        w.out
    }

    /// Reads the binary form.
    pub fn from_bytes(bytes: &[u8]) -> Result<GraphContribution, String> {
        let mut r = Reader { rest: bytes };
        let v = r.byte()?;
        if v != VERSION {
            return Err(format!("unknown contribution format {v:#04x}"));
        }
        let mut keys = Vec::new();
        let mut out = GraphContribution::default();
        for _ in 0..r.count()? {
            let key = r.key()?;
            let stats = r.node()?;
            if stats.records > 0 {
                out.nodes.insert(key.clone(), stats);
            }
            keys.push(key);
        }
        for _ in 0..r.count()? {
            let (s, t) = (r.uint()?, r.uint()?);
            let (s, t) = (
                usize::try_from(s).unwrap_or(usize::MAX),
                usize::try_from(t).unwrap_or(usize::MAX),
            );
            let (Some(src), Some(dst)) = (keys.get(s), keys.get(t)) else {
                return Err(format!(
                    "edge {s}→{t} names a node that is not in the list of {}",
                    keys.len()
                ));
            };
            let stats = r.edge()?;
            out.edges.insert((src.clone(), dst.clone()), stats);
        }
        if !r.rest.is_empty() {
            return Err(format!("{} bytes after the contribution", r.rest.len()));
        }
        Ok(out)
    }

    /// Reads a stored contribution: the binary form, or the JSON text of rows written before
    /// it existed.
    pub fn from_stored(stored: &[u8]) -> Result<GraphContribution, String> {
        if stored.first() == Some(&VERSION) {
            GraphContribution::from_bytes(stored)
        } else {
            let text = std::str::from_utf8(stored).map_err(|e| e.to_string())?;
            GraphContribution::from_json(text).map_err(|e| e.to_string())
        }
    }
}
