//! Times as Matrix and the session file write them: whole milliseconds since the Unix epoch.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `at` in milliseconds since the Unix epoch: 0 for earlier times, `u64::MAX` for far later ones.
pub(crate) fn from_time(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        .try_into()
        .unwrap_or(u64::MAX)
}

/// The time `ms` milliseconds after the Unix epoch.
pub(crate) fn to_time(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_round_trip_and_saturate() {
        assert_eq!(from_time(to_time(1_800_000_000_123)), 1_800_000_000_123);
        assert_eq!(from_time(UNIX_EPOCH - Duration::from_secs(1)), 0);
        assert_eq!(to_time(0), UNIX_EPOCH);
    }
}
