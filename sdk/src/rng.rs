//! Cheap ids for the hot path.
//!
//! Trace ids of sampled traces come from the OS's secure source ([`TraceId::generate`]): they
//! are visible in response headers. Subsegment ids, ids of unsampled traces and sampling coin
//! flips come from a per-thread xoshiro256++ generator seeded from the OS source, which costs
//! a few nanoseconds instead of a system call.

use std::cell::Cell;

use fluoro_proto::ids::{EntityId, TraceId};

thread_local! {
    static STATE: Cell<[u64; 4]> = Cell::new(seed());
}

fn seed() -> [u64; 4] {
    let mut b = [0u8; 32];
    if getrandom::fill(&mut b).is_err() {
        // No OS randomness: fall back to time and address entropy. Ids stay unique enough
        // for tracing; nothing here is a secret.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let local = 0u8;
        let addr = std::ptr::from_ref(&local) as usize as u128;
        b[..16].copy_from_slice(&(t ^ (addr << 64)).to_le_bytes());
        b[16..].copy_from_slice(&(t.rotate_left(64) ^ addr).to_le_bytes());
    }
    let mut s = [0u64; 4];
    for (i, chunk) in b.chunks_exact(8).enumerate() {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        s[i] = u64::from_le_bytes(w);
    }
    if s == [0; 4] {
        s[0] = 0x9e37_79b9_7f4a_7c15;
    }
    s
}

/// The next 64 random bits of this thread's generator.
pub(crate) fn next_u64() -> u64 {
    STATE.with(|st| {
        let mut s = st.get();
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        st.set(s);
        result
    })
}

/// A uniform float in `[0, 1)`.
pub(crate) fn next_f64() -> f64 {
    (next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Secure random bytes for trace ids, fetched from the OS 240 bytes (20 trace ids) at a
/// time instead of one system call per id.
struct SecurePool {
    buf: [u8; 240],
    pos: usize,
}

thread_local! {
    static SECURE: std::cell::RefCell<SecurePool> =
        const { std::cell::RefCell::new(SecurePool { buf: [0; 240], pos: 240 }) };
}

/// A trace id for a sampled trace: 96 bits from the OS's secure source.
pub(crate) fn secure_trace_id(epoch_secs: u32) -> TraceId {
    let r = SECURE.try_with(|p| {
        let mut p = p.try_borrow_mut().ok()?;
        if p.pos + 12 > p.buf.len() {
            getrandom::fill(&mut p.buf).ok()?;
            p.pos = 0;
        }
        let at = p.pos;
        let mut b = [0u8; 16];
        b[4..].copy_from_slice(&p.buf[at..at + 12]);
        // Used bytes are wiped so they never serve twice.
        p.buf[at..at + 12].fill(0);
        p.pos = at + 12;
        Some(u128::from_be_bytes(b))
    });
    match r {
        Ok(Some(r)) => TraceId::new(epoch_secs, r),
        _ => TraceId::generate_at(epoch_secs),
    }
}

/// A non-zero entity id.
pub(crate) fn entity_id() -> EntityId {
    loop {
        let v = next_u64();
        if v != 0 {
            return EntityId::new(v);
        }
    }
}

/// A trace id for a trace nobody will record (unsampled): cheap, valid, not secret.
pub(crate) fn unsampled_trace_id(epoch_secs: u32) -> TraceId {
    let r = (u128::from(next_u64()) << 64) | u128::from(next_u64());
    TraceId::new(epoch_secs, r | 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_differ_and_floats_are_in_range() {
        let a = entity_id();
        let b = entity_id();
        assert_ne!(a, b);
        for _ in 0..1000 {
            let f = next_f64();
            assert!((0.0..1.0).contains(&f));
        }
        let s1 = secure_trace_id(7);
        let s2 = secure_trace_id(7);
        assert_ne!(s1, s2);
        assert_eq!(s1.epoch_secs(), 7);
        let t = unsampled_trace_id(0x5840_6520);
        assert_eq!(t.epoch_secs(), 0x5840_6520);
        assert!(!t.is_noop());
    }
}
