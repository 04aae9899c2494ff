//! Requests to the single sign-on listener, from anything that can reach 127.0.0.1: a login
//! token or nothing, never a panic; a token only from a GET that carries the nonce.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nu_plugin_matrix::fuzzing::sso_callback;

const NONCE: &str = "0123456789abcdef0123456789abcdef";

fuzz_target!(|data: &[u8]| {
    if let Some(token) = sso_callback(data, NONCE) {
        assert!(!token.is_empty());
        assert!(data.starts_with(b"GET /"));
        let line = data.split(|b| *b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        assert!(line.contains("nonce="), "{line}");
        // A request accepted for this nonce is refused for any other.
        assert!(sso_callback(data, "fedcba9876543210fedcba9876543210").is_none());
    }
});
