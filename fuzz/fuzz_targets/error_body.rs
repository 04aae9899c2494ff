//! Error answers (errcode, retry hints, soft logout) and user-interactive authentication
//! challenges: never a panic, and no error text longer than its bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nu_plugin_matrix::fuzzing;

fuzz_target!(|data: &[u8]| {
    // The first byte chooses a Retry-After header value from the next few bytes.
    let (retry_after, body) = match data {
        [n, rest @ ..] if usize::from(*n) <= rest.len() && *n < 16 => {
            let (header, body) = rest.split_at(usize::from(*n));
            (std::str::from_utf8(header).ok(), body)
        }
        _ => (None, data),
    };
    let err = fuzzing::error(429, retry_after, body);
    assert!(err.to_string().len() < 4096);
    let _ = fuzzing::challenge(401, body);
});
