//! The parser of `flows` answers: any status and body gives a value or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nu_plugin_matrix::fuzzing;

fuzz_target!(|data: &[u8]| {
    // The first two bytes choose the HTTP status; the rest is the body.
    let (status, body) = match data {
        [a, b, rest @ ..] => (100 + u16::from_le_bytes([*a, *b]) % 500, rest),
        _ => (200, data),
    };
    let _ = fuzzing::flows(status, body);
});
