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
use std::time::SystemTime;

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

/// A wall-clock time and the raw reading taken with it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Anchor {
    pub(crate) wall: SystemTime,
    pub(crate) ticks: u64,
}

impl Anchor {
    /// An anchor for entities that are never written (unsampled): no clock read.
    pub(crate) const NONE: Anchor = Anchor {
        wall: SystemTime::UNIX_EPOCH,
        ticks: 0,
    };

    /// Now.
    pub(crate) fn now() -> Anchor {
        let ticks = ticks();
        Anchor {
            wall: SystemTime::now(),
            ticks,
        }
    }

    /// The wall-clock time of raw reading `t` (readings before the anchor too). Never
    /// panics: a time that cannot be represented is the anchor's own.
    pub(crate) fn at(&self, t: u64) -> SystemTime {
        let c = clock();
        if t >= self.ticks {
            self.wall.checked_add(c.delta(self.ticks, t))
        } else {
            self.wall.checked_sub(c.delta(t, self.ticks))
        }
        .unwrap_or(self.wall)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn readings_convert_in_order_and_measure_elapsed_time() {
        let a = Anchor::now();
        let wall_before = SystemTime::now();
        let t1 = ticks();
        std::thread::sleep(Duration::from_millis(30));
        let t2 = ticks();
        let wall_after = SystemTime::now();
        let (s, e) = (a.at(t1), a.at(t2));
        assert!(a.at(a.ticks) == a.wall);
        assert!(s >= a.wall && e >= s);
        let d = e.duration_since(s).unwrap();
        let wall = wall_after.duration_since(wall_before).unwrap();
        assert!(d >= Duration::from_millis(30), "{d:?}");
        // The counter's elapsed time agrees with the wall clock's (which brackets it).
        assert!(d <= wall + Duration::from_millis(1), "{d:?} vs {wall:?}");
        // Converted times stay close to the wall clock read beside them.
        let off = e.duration_since(wall_before).unwrap();
        assert!(off <= wall + Duration::from_millis(1));
    }

    #[test]
    fn extreme_readings_do_not_panic() {
        let a = Anchor::now();
        let _ = a.at(0);
        let _ = a.at(u64::MAX);
        let e = Anchor {
            wall: UNIX_EPOCH,
            ticks: u64::MAX / 2,
        };
        let _ = e.at(0);
        let _ = e.at(u64::MAX);
        assert_eq!(Anchor::NONE.at(0), UNIX_EPOCH);
    }
}
