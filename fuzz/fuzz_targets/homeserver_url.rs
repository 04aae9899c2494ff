//! Homeserver URLs: accepted ones are http(s), without credentials, query, fragment or a
//! trailing slash, and parse again to themselves.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nu_plugin_matrix::ids::homeserver_url;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(url) = homeserver_url(text) {
        assert!(url.starts_with("https://") || url.starts_with("http://"));
        assert!(!url.ends_with('/'));
        assert!(!url.contains('?') && !url.contains('#'));
        assert_eq!(homeserver_url(&url).as_deref(), Ok(url.as_str()));
    }
});
