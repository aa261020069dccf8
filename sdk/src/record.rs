//! Closed plain subsegments as compact records in one byte buffer per trace.
//!
//! When a subsegment that carries only what the hot path stages (name, times, annotations)
//! closes, the closing thread copies what the emitter needs to write it (id, parent id, raw
//! start and end readings, name, annotations) into its trace's [`Records`], and the node
//! stays on that thread for reuse. The emitter thread then reads one contiguous block per
//! segment instead of one node per subsegment (no node crosses threads, no reference count
//! or lock moves between cores for it) and writes each record's JSON straight into the
//! datagram, or builds its `fluoro_proto` document for the general path. Both give the same
//! members and values as building the node's document (test
//! `record_json_matches_the_built_document` in `entity`).
//!
//! Depends on `fluoro_proto` (ids, documents) and [`crate::clock`] only.

use std::borrow::Cow;

use fluoro_proto::ids::EntityId;
use fluoro_proto::segment::{AnnotationValue, Segment, Timestamp};
use serde_json::Number;

use crate::clock::Anchor;

/// An annotation value as the closing thread hands it over (`Str`: the bytes of a `str`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val<'a> {
    Str(&'a [u8]),
    Bool(bool),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Val<'_> {
    /// A JSON number as a value (`None` for a number that is none of the three).
    pub(crate) fn number(n: &Number) -> Option<Val<'static>> {
        if let Some(u) = n.as_u64() {
            Some(Val::U64(u))
        } else if let Some(i) = n.as_i64() {
            Some(Val::I64(i))
        } else {
            n.as_f64().map(Val::F64)
        }
    }
}

const STR: u8 = 0;
const TRUE: u8 = 1;
const FALSE: u8 = 2;
const U64: u8 = 3;
const I64: u8 = 4;
const F64: u8 = 5;

/// Records of closed plain subsegments, one after the other: the record's length (u32, the
/// bytes after it), `id parent start end` (4 × u64), the name (u32 length, bytes), the
/// annotation count (u8), then per annotation the key (u32 length, bytes), a tag and the
/// value.
#[derive(Debug, Default)]
pub(crate) struct Records {
    buf: Vec<u8>,
    len: usize,
    /// The parent of every record so far, while they share one.
    parent: Option<EntityId>,
    /// Two records have different parents.
    parents: bool,
}

/// Where an unfinished record starts (see [`Records::begin`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    start: usize,
    count_at: usize,
}

fn push_len(buf: &mut Vec<u8>, n: usize) -> bool {
    match u32::try_from(n) {
        Ok(n) => {
            buf.extend_from_slice(&n.to_ne_bytes());
            true
        }
        Err(_) => false,
    }
}

impl Records {
    /// Records in an (emptied) buffer from the pool.
    pub(crate) fn with_buf(mut buf: Vec<u8>) -> Records {
        buf.clear();
        Records {
            buf,
            ..Records::default()
        }
    }

    /// The parent all records share (`None` when there are none, or several parents).
    pub(crate) fn single_parent(&self) -> Option<EntityId> {
        if self.parents { None } else { self.parent }
    }

    /// The buffer, for reuse.
    pub(crate) fn into_buf(self) -> Vec<u8> {
        self.buf
    }

    pub(crate) fn has_buf(&self) -> bool {
        self.buf.capacity() > 0
    }

    /// The buffer's capacity in bytes.
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Starts a record; annotations follow, then [`Records::commit`] (or
    /// [`Records::abort`]). False, with nothing written, for a name too long to encode.
    #[inline]
    pub(crate) fn begin(
        &mut self,
        id: EntityId,
        parent: EntityId,
        start: u64,
        end: u64,
        name: &str,
    ) -> Option<Mark> {
        let b = &mut self.buf;
        let mark = b.len();
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(&id.get().to_ne_bytes());
        b.extend_from_slice(&parent.get().to_ne_bytes());
        b.extend_from_slice(&start.to_ne_bytes());
        b.extend_from_slice(&end.to_ne_bytes());
        if !push_len(b, name.len()) {
            b.truncate(mark);
            return None;
        }
        b.extend_from_slice(name.as_bytes());
        let count_at = b.len();
        b.push(0);
        Some(Mark {
            start: mark,
            count_at,
        })
    }

    /// Adds an annotation to the record begun at `mark`. False (the record must then be
    /// aborted) past 255 annotations or for a string too long to encode.
    #[inline]
    pub(crate) fn annotation(&mut self, mark: Mark, key: &str, value: &Val<'_>) -> bool {
        let b = &mut self.buf;
        let Some(count) = b.get_mut(mark.count_at) else {
            return false;
        };
        let Some(next) = count.checked_add(1) else {
            return false;
        };
        *count = next;
        if !push_len(b, key.len()) {
            return false;
        }
        b.extend_from_slice(key.as_bytes());
        match value {
            Val::Str(s) => {
                b.push(STR);
                if !push_len(b, s.len()) {
                    return false;
                }
                b.extend_from_slice(s);
            }
            Val::Bool(v) => b.push(if *v { TRUE } else { FALSE }),
            Val::U64(u) => {
                b.push(U64);
                b.extend_from_slice(&u.to_ne_bytes());
            }
            Val::I64(i) => {
                b.push(I64);
                b.extend_from_slice(&i.to_ne_bytes());
            }
            Val::F64(f) => {
                b.push(F64);
                b.extend_from_slice(&f.to_ne_bytes());
            }
        }
        true
    }

    /// Ends the record begun at `mark`, a child of `parent`. False, with the record removed,
    /// when it is too long to encode.
    #[inline]
    pub(crate) fn commit(&mut self, mark: Mark, parent: EntityId) -> bool {
        let len = self.buf.len() - mark.start - 4;
        match (
            u32::try_from(len),
            self.buf.get_mut(mark.start..mark.start + 4),
        ) {
            (Ok(len), Some(at)) => at.copy_from_slice(&len.to_ne_bytes()),
            _ => {
                self.abort(mark);
                return false;
            }
        }
        self.len += 1;
        match self.parent {
            None => self.parent = Some(parent),
            Some(p) if p != parent => self.parents = true,
            Some(_) => {}
        }
        true
    }

    /// Removes the record begun at `mark`.
    pub(crate) fn abort(&mut self, mark: Mark) {
        self.buf.truncate(mark.start);
    }

    pub(crate) fn iter(&self) -> Iter<'_> {
        Iter {
            rest: &self.buf,
            left: self.len,
        }
    }

    /// The records as documents, for the general path.
    pub(crate) fn documents(&self, anchor: &Anchor) -> Vec<(EntityId, EntityId, Segment)> {
        self.iter()
            .map(|r| (r.id, r.parent, r.document(anchor)))
            .collect()
    }
}

/// Reads a record buffer front to back; a malformed buffer (never written by `Records`) ends
/// the iteration.
#[derive(Debug)]
pub(crate) struct Iter<'a> {
    rest: &'a [u8],
    left: usize,
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.0.split_at_checked(n)?;
        self.0 = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.bytes(1).map(|b| b[0])
    }
    fn u64(&mut self) -> Option<u64> {
        self.bytes(8)?.try_into().ok().map(u64::from_ne_bytes)
    }
    fn len(&mut self) -> Option<usize> {
        let n = u32::from_ne_bytes(self.bytes(4)?.try_into().ok()?);
        usize::try_from(n).ok()
    }
    /// The bytes of a `str` (checked as UTF-8 only where a `str` is needed).
    fn str(&mut self) -> Option<&'a [u8]> {
        let n = self.len()?;
        self.bytes(n)
    }
    fn value(&mut self) -> Option<Val<'a>> {
        Some(match self.u8()? {
            STR => Val::Str(self.str()?),
            TRUE => Val::Bool(true),
            FALSE => Val::Bool(false),
            U64 => Val::U64(self.u64()?),
            I64 => Val::I64(i64::from_ne_bytes(self.bytes(8)?.try_into().ok()?)),
            F64 => Val::F64(f64::from_bits(self.u64()?)),
            _ => return None,
        })
    }
}

/// One closed plain subsegment.
#[derive(Debug)]
pub(crate) struct Rec<'a> {
    pub(crate) id: EntityId,
    pub(crate) parent: EntityId,
    start: u64,
    end: u64,
    name: &'a [u8],
    count: u8,
    annotations: &'a [u8],
}

impl<'a> Iterator for Iter<'a> {
    type Item = Rec<'a>;

    fn next(&mut self) -> Option<Rec<'a>> {
        if self.left == 0 {
            return None;
        }
        let mut c = Cursor(self.rest);
        let rec = (|| {
            let len = c.len()?;
            let mut r = Cursor(c.bytes(len)?);
            let id = EntityId::new(r.u64()?);
            let parent = EntityId::new(r.u64()?);
            let start = r.u64()?;
            let end = r.u64()?;
            let name = r.str()?;
            let count = r.u8()?;
            Some(Rec {
                id,
                parent,
                start,
                end,
                name,
                count,
                annotations: r.0,
            })
        })();
        match rec {
            Some(r) => {
                self.rest = c.0;
                self.left -= 1;
                Some(r)
            }
            None => {
                self.left = 0;
                None
            }
        }
    }
}

impl<'a> Rec<'a> {
    /// Its annotations, in the order they were first set.
    pub(crate) fn annotations(&self) -> impl Iterator<Item = (&'a [u8], Val<'a>)> + use<'a> {
        let mut c = Cursor(self.annotations);
        (0..self.count).map_while(move |_| Some((c.str()?, c.value()?)))
    }

    /// Its document, as `Node::build` makes it for a plain subsegment.
    pub(crate) fn document(&self, anchor: &Anchor) -> Segment {
        let mut doc = Segment {
            id: Some(self.id.to_string()),
            name: Some(text(self.name).into_owned()),
            start_time: timestamp(anchor.epoch_micros(self.start)),
            end_time: timestamp(anchor.epoch_micros(self.end)),
            namespace: Some("local".to_owned()),
            ..Segment::default()
        };
        if self.count > 0 {
            let m = doc.annotations.get_or_insert_with(Default::default);
            for (k, v) in self.annotations() {
                m.insert(
                    text(k).into_owned(),
                    match v {
                        Val::Str(s) => AnnotationValue::String(text(s).into_owned()),
                        Val::Bool(b) => AnnotationValue::Bool(b),
                        Val::U64(u) => AnnotationValue::Number(u.into()),
                        Val::I64(i) => AnnotationValue::Number(i.into()),
                        // Never staged: `annotate` refuses non-finite numbers.
                        Val::F64(f) => Number::from_f64(f)
                            .map_or(AnnotationValue::Other(serde_json::Value::Null), |n| {
                                AnnotationValue::Number(n)
                            }),
                    },
                );
            }
        }
        doc
    }

    /// Writes its document as JSON into `out`, the same members and values as
    /// `serde_json` writes [`Rec::document`]. `independent`: the trace id, for a subsegment
    /// sent on its own (`type`, `trace_id` and `parent_id` added).
    pub(crate) fn write_json(
        &self,
        anchor: &Anchor,
        independent: Option<&str>,
        out: &mut Vec<u8>,
    ) -> serde_json::Result<()> {
        // Room for the members around the strings, so that the copies below do not grow it.
        out.reserve(192 + self.name.len() + self.annotations.len() * 2);
        out.extend_from_slice(b"{\"id\":\"");
        out.extend_from_slice(&self.id.to_hex());
        out.extend_from_slice(b"\",\"name\":");
        write_str(out, self.name)?;
        if let Some(trace_id) = independent {
            out.extend_from_slice(b",\"trace_id\":");
            write_str(out, trace_id.as_bytes())?;
            out.extend_from_slice(b",\"parent_id\":\"");
            out.extend_from_slice(&self.parent.to_hex());
            out.extend_from_slice(b"\",\"type\":\"subsegment\"");
        }
        out.extend_from_slice(b",\"start_time\":");
        write_micros(out, anchor.epoch_micros(self.start));
        out.extend_from_slice(b",\"end_time\":");
        write_micros(out, anchor.epoch_micros(self.end));
        out.extend_from_slice(b",\"namespace\":\"local\"");
        if self.count > 0 {
            out.extend_from_slice(b",\"annotations\":{");
            for (i, (k, v)) in self.annotations().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, k)?;
                out.push(b':');
                match v {
                    Val::Str(s) => write_str(out, s)?,
                    Val::Bool(true) => out.extend_from_slice(b"true"),
                    Val::Bool(false) => out.extend_from_slice(b"false"),
                    Val::U64(u) => push_decimal(out, u),
                    Val::I64(i) => {
                        if i < 0 {
                            out.push(b'-');
                        }
                        push_decimal(out, i.unsigned_abs());
                    }
                    Val::F64(f) => serde_json::to_writer(&mut *out, &f)?,
                }
            }
            out.push(b'}');
        }
        out.push(b'}');
        Ok(())
    }
}

/// The bytes of a `str` as one (a malformed buffer's bytes replaced, never a panic).
fn text(b: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(b)
}

/// A JSON string from the bytes of a `str`: plain printable ASCII without quotes or
/// backslashes (names, keys and most values) copied as is, anything else through
/// `serde_json`.
fn write_str(out: &mut Vec<u8>, s: &[u8]) -> serde_json::Result<()> {
    if s.iter()
        .all(|&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        out.push(b'"');
        out.extend_from_slice(s);
        out.push(b'"');
        Ok(())
    } else {
        serde_json::to_writer(out, &text(s))
    }
}

/// Microseconds since the epoch as a document's timestamp (microsecond resolution, as the
/// Python SDK writes).
pub(crate) fn timestamp(micros: u64) -> Option<Timestamp> {
    // Exact below 2^53 microseconds (the year 2255); the division is correctly rounded, so
    // this is the number `write_micros` writes in decimal.
    #[allow(clippy::cast_precision_loss)]
    Timestamp::from_secs_f64(micros as f64 / 1e6)
}

/// `micros` as epoch seconds in decimal, the same number as `timestamp(micros)`.
fn write_micros(out: &mut Vec<u8>, micros: u64) {
    let secs = micros / 1_000_000;
    let frac = micros % 1_000_000;
    // Trailing zeros of the fraction dropped, at least one digit kept (`1.5`, `2.0`).
    let zeros = if frac == 0 {
        5
    } else {
        let (mut z, mut f) = (0, frac);
        while f % 10 == 0 {
            z += 1;
            f /= 10;
        }
        z
    };
    if (1_000_000_000..10_000_000_000).contains(&secs) {
        // Every epoch time from 2001 to 2286: a fixed layout, `ssssssssss.ffffff`.
        let mut b = [0u8; 17];
        let (hi, lo) = (secs / 100_000_000, secs % 100_000_000);
        put_pair(&mut b, 0, hi);
        put_pair(&mut b, 2, lo / 1_000_000);
        put_pair(&mut b, 4, lo / 10_000 % 100);
        put_pair(&mut b, 6, lo / 100 % 100);
        put_pair(&mut b, 8, lo % 100);
        b[10] = b'.';
        put_pair(&mut b, 11, frac / 10_000);
        put_pair(&mut b, 13, frac / 100 % 100);
        put_pair(&mut b, 15, frac % 100);
        out.extend_from_slice(&b);
        out.truncate(out.len() - zeros);
        return;
    }
    let mut b = [0u8; 28];
    // The fraction's six digits, then the seconds, right to left.
    let mut f = frac;
    let mut i = b.len();
    for _ in 0..3 {
        i -= 2;
        put_pair(&mut b, i, f % 100);
        f /= 100;
    }
    let end = b.len() - zeros;
    i -= 1;
    b[i] = b'.';
    let mut secs = secs;
    while secs >= 100 {
        i -= 2;
        put_pair(&mut b, i, secs % 100);
        secs /= 100;
    }
    if secs >= 10 {
        i -= 2;
        put_pair(&mut b, i, secs);
    } else {
        i -= 1;
        b[i] = b'0' + u8::try_from(secs).unwrap_or(0);
    }
    out.extend_from_slice(&b[i..end]);
}

/// The two digits of `v` (below 100) at `b[at..at + 2]`.
#[inline]
fn put_pair(b: &mut [u8], at: usize, v: u64) {
    let d = usize::try_from(v % 100).unwrap_or(0) * 2;
    b[at..at + 2].copy_from_slice(&PAIRS[d..d + 2]);
}

/// `v` in decimal.
fn push_decimal(out: &mut Vec<u8>, mut v: u64) {
    let mut b = [0u8; 20];
    let mut i = b.len();
    loop {
        i -= 1;
        b[i] = b'0' + u8::try_from(v % 10).unwrap_or(0);
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&b[i..]);
}

/// "00" to "99".
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_as_written() {
        let mut r = Records::default();
        let m = r
            .begin(EntityId::new(1), EntityId::new(2), 10, 20, "a\u{e9}")
            .unwrap();
        assert!(r.annotation(m, "s", &Val::Str(b"x\"y")));
        assert!(r.annotation(m, "t", &Val::Bool(true)));
        assert!(r.annotation(m, "u", &Val::U64(7)));
        assert!(r.annotation(m, "i", &Val::I64(-7)));
        assert!(r.annotation(m, "f", &Val::F64(2.5)));
        assert!(r.commit(m, EntityId::new(2)));
        let m = r
            .begin(EntityId::new(3), EntityId::new(2), 30, 40, "b")
            .unwrap();
        assert!(r.commit(m, EntityId::new(2)));
        // An aborted record leaves nothing behind.
        let m = r
            .begin(EntityId::new(4), EntityId::new(2), 50, 60, "c")
            .unwrap();
        assert!(r.annotation(m, "k", &Val::Bool(false)));
        r.abort(m);
        assert_eq!(r.len(), 2);
        assert_eq!(r.single_parent(), Some(EntityId::new(2)));
        let recs: Vec<Rec<'_>> = r.iter().collect();
        assert_eq!(recs.len(), 2);
        assert_eq!((recs[0].id.get(), recs[0].parent.get()), (1, 2));
        assert_eq!((recs[0].start, recs[0].end), (10, 20));
        assert_eq!(recs[0].name, "a\u{e9}".as_bytes());
        let a: Vec<_> = recs[0].annotations().collect();
        assert_eq!(a.len(), 5);
        assert_eq!(a[0], (&b"s"[..], Val::Str(b"x\"y")));
        assert_eq!(a[4].1, Val::F64(2.5));
        assert_eq!(recs[1].annotations().count(), 0);
        assert_eq!(recs[1].id.get(), 3);

        // A truncated buffer ends the iteration without panicking.
        let mut cut = Records::with_buf(Vec::new());
        cut.buf = r.buf[..r.buf.len() - 3].to_vec();
        cut.len = 2;
        assert_eq!(cut.iter().count(), 1);
    }

    #[test]
    fn micros_are_written_as_their_timestamp() {
        for m in [
            0,
            1,
            10,
            999_999,
            1_000_000,
            1_500_000,
            1_700_000_000_000_000,
            1_700_000_000_000_001,
            1_700_000_000_123_450,
            1_732_800_000_987_654,
            1_732_800_000_000_010,
            1_000_000_000_000_000,
            999_999_999_999_999,
            9_999_999_999_999_999,
            10_000_000_000_000_000,
            10_000_000_000_100_000,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            write_micros(&mut out, m);
            let text = String::from_utf8(out).unwrap();
            let want = format!("{}.{:06}", m / 1_000_000, m % 1_000_000);
            let want = want.trim_end_matches('0');
            let want = if want.ends_with('.') {
                format!("{want}0")
            } else {
                want.to_owned()
            };
            assert_eq!(text, want);
            if m < 1 << 53 {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert_eq!(serde_json::to_value(timestamp(m)).unwrap(), v, "{m}");
            }
        }
    }

    #[test]
    fn independent_json_has_the_members_of_an_independent_document() {
        let mut r = Records::default();
        let m = r
            .begin(EntityId::new(0xab), EntityId::new(0xcd), 5, 9, "w")
            .unwrap();
        assert!(r.annotation(m, "k", &Val::Str(b"v")));
        assert!(r.commit(m, EntityId::new(0xcd)));
        let anchor = Anchor {
            wall_nanos: 1_700_000_000_123_456_000,
            ticks: 5,
        };
        let rec = r.iter().next().unwrap();
        let mut out = Vec::new();
        let t = "1-5f84c7a1-0123456789abcdef01234567";
        rec.write_json(&anchor, Some(t), &mut out).unwrap();
        let mut doc = rec.document(&anchor);
        doc.kind = Some("subsegment".to_owned());
        doc.trace_id = Some(t.to_owned());
        doc.parent_id = Some(EntityId::new(0xcd).to_string());
        let got: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(got, serde_json::to_value(&doc).unwrap());
        assert_eq!(got["id"], "00000000000000ab");
    }
}
