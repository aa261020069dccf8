//! The clock of the hot path: raw readings of the CPU's time-stamp counter (through `quanta`;
//! the OS's monotonic clock where the CPU has no invariant counter), about 10 ns each instead
//! of about 35 ns for a wall-clock reading (`SystemTime::now`) on the test machine.
//!
//! Each sampled trace reads the wall clock once, when its segment begins (its [`Anchor`]).
//! Every start and end time of its entities is a raw reading, turned into an epoch time only
//! when the document is built (emitter thread): the anchor's wall time plus the counter's
//! elapsed time since the anchor. Within a trace, times are therefore exactly ordered and
//! durations come from one monotonic source (an NTP step of the wall clock mid-request does
//! not bend them); the counter's calibrated rate is accurate to about 10 ppm (10 µs per
//! second of elapsed time since the segment began).
//!
//! Nothing here depends on the rest of the crate.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();

/// The process's clock. The first call calibrates the counter against the OS clock (under a
/// millisecond on the test machine, at most 200 ms); `Recorder::build` makes that call, so
/// no request pays it.
pub(crate) fn clock() -> &'static quanta::Clock {
    CLOCK.get_or_init(quanta::Clock::new)
}

/// A raw reading, meaningful only against an [`Anchor`] of the same process.
#[inline]
pub(crate) fn ticks() -> u64 {
    clock().raw()
}

/// A wall-clock time (nanoseconds since the epoch) and the raw reading taken with it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Anchor {
    /// The wall clock; a time before the epoch reads as 0.
    pub(crate) wall_nanos: u64,
    pub(crate) ticks: u64,
}

impl Anchor {
    /// An anchor for entities that are never written (unsampled): no clock read.
    pub(crate) const NONE: Anchor = Anchor {
        wall_nanos: 0,
        ticks: 0,
    };

    /// Now.
    pub(crate) fn now() -> Anchor {
        let ticks = ticks();
        let wall_nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Anchor { wall_nanos, ticks }
    }

    /// Nanoseconds since the epoch at raw reading `t` (readings before the anchor too),
    /// saturating at 0 and `u64::MAX` (the year 2554).
    pub(crate) fn epoch_nanos(&self, t: u64) -> u64 {
        let c = clock();
        if t >= self.ticks {
            self.wall_nanos
                .saturating_add(c.delta_as_nanos(self.ticks, t))
        } else {
            self.wall_nanos
                .saturating_sub(c.delta_as_nanos(t, self.ticks))
        }
    }

    /// Microseconds since the epoch at raw reading `t`, rounded to the nearest (the
    /// resolution documents carry, as the Python SDK writes them).
    pub(crate) fn epoch_micros(&self, t: u64) -> u64 {
        self.epoch_nanos(t).saturating_add(500) / 1000
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn wall_nanos() -> u64 {
        u64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos(),
        )
        .unwrap()
    }

    #[test]
    fn readings_convert_in_order_and_measure_elapsed_time() {
        let a = Anchor::now();
        let wall_before = wall_nanos();
        let t1 = ticks();
        std::thread::sleep(Duration::from_millis(30));
        let t2 = ticks();
        let wall_after = wall_nanos();
        let (s, e) = (a.epoch_nanos(t1), a.epoch_nanos(t2));
        assert_eq!(a.epoch_nanos(a.ticks), a.wall_nanos);
        assert!(s >= a.wall_nanos && e >= s);
        let wall = wall_after - wall_before;
        assert!(e - s >= 30_000_000, "{}", e - s);
        // The counter's elapsed time agrees with the wall clock's (which brackets it).
        assert!(e - s <= wall + 1_000_000, "{} vs {wall}", e - s);
        // Converted times stay close to the wall clock read beside them.
        assert!(e.abs_diff(wall_after) <= 1_000_000);
        assert_eq!(a.epoch_micros(t2), (e + 500) / 1000);
    }

    #[test]
    fn extreme_readings_do_not_panic() {
        let a = Anchor::now();
        let _ = a.epoch_micros(0);
        let _ = a.epoch_micros(u64::MAX);
        let e = Anchor {
            wall_nanos: u64::MAX - 1,
            ticks: u64::MAX / 2,
        };
        assert!(e.epoch_micros(0) <= e.epoch_micros(u64::MAX));
        assert_eq!(e.epoch_micros(u64::MAX), u64::MAX / 1000);
        assert_eq!(Anchor::NONE.epoch_nanos(0), 0);
    }
}
