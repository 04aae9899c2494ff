//! `/.well-known/matrix/client` documents: a homeserver URL or a reason, never a panic; any
//! homeserver URL accepted is normalised (no trailing slash) and http only to loopback.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nu_plugin_matrix::fuzzing;

fuzz_target!(|data: &[u8]| {
    if let Ok((homeserver, _)) = fuzzing::well_known(data) {
        assert!(!homeserver.ends_with('/'));
        assert!(homeserver.starts_with("https://") || homeserver.starts_with("http://"));
        assert!(nu_plugin_matrix::ids::http_allowed(&homeserver, false));
    }
});
