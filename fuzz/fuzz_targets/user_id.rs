//! User IDs and user names: accepted ones split where they should, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nu_plugin_matrix::ids::{UserArg, UserId};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(id) = UserId::parse(text) {
        assert_eq!(format!("@{}:{}", id.localpart(), id.server_name()), text);
        assert!(!id.localpart().is_empty() && !id.server_name().is_empty());
    }
    let _ = UserArg::parse(text);
    let _ = nu_plugin_matrix::secret::mask_token(text);
});
