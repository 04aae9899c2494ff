//! Requests to the OAuth 2.0 browser sign-in's listener, from anything that can reach 127.0.0.1:
//! a code or nothing, never a panic; a code only from a GET that carries this sign-in's state.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nu_plugin_matrix::fuzzing::oauth_callback;

const STATE: &str = "0123456789abcdef0123456789abcdef";

fuzz_target!(|data: &[u8]| {
    if let Some(code) = oauth_callback(data, STATE) {
        assert!(!code.is_empty());
        assert!(data.starts_with(b"GET /"));
        let line = data.split(|b| *b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        assert!(line.contains("state="), "{line}");
        // A request accepted for this state is refused for any other.
        assert!(oauth_callback(data, "fedcba9876543210fedcba9876543210").is_none());
    }
});
