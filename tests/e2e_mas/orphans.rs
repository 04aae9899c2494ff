//! The OAuth 2.0 waits end with the Nushell that started them (see `tests/e2e_orphans.rs` for
//! the others): a device code, approved on MAS's page only after nu was killed, makes no session
//! (nothing polls any more: the plugin process is gone); a browser sign-in's loopback listener
//! closes, so the code MAS hands out afterwards reaches nobody.

use std::time::Duration;

use crate::support::mas::{approve_device, mas};
use crate::support::processes::{descendant_named, gone_within, signal};
use crate::support::{Running, scratch, unique_user};

const WITHIN: Duration = Duration::from_secs(30);
const GONE_WITHIN: Duration = Duration::from_secs(2);

/// Starts `matrix login --oauth...` for a new user with `--save me`; returns nu, the user's
/// name and config folder.
fn start_login(way: &str, how: &str) -> (Running, String, std::path::PathBuf) {
    let mas = mas();
    let localpart = unique_user(&format!("orphan{}", how.to_lowercase()));
    let user_id = mas.register(&localpart, "pw-Orphan-2");
    let config = scratch(&format!("config-{localpart}"));
    let nu = Running::start(
        &format!(
            "matrix login {user_id} -H {} {way} --no-browser --save me",
            mas.url
        ),
        |command| {
            command
                .env("XDG_CONFIG_HOME", &config)
                .env_remove("DISPLAY")
                .env_remove("WAYLAND_DISPLAY");
        },
    );
    (nu, localpart, config)
}

#[test]
fn a_device_code_wait_ends_with_its_shell_and_saves_nothing() {
    for how in ["KILL", "TERM"] {
        let (mut nu, localpart, config) = start_login("--oauth", how);
        let page = nu.line_with("/link", WITHIN).trim().to_owned();
        let code = nu
            .line_with("enter the code:", WITHIN)
            .rsplit(' ')
            .next()
            .expect("a code")
            .trim()
            .to_owned();
        let plugin = descendant_named(nu.pid(), "nu_plugin_matrix", WITHIN);
        signal(nu.pid(), how);
        assert!(
            gone_within(plugin, GONE_WITHIN),
            "the device code's wait outlived nu's SIG{how}"
        );
        // Approved now: a plugin still polling would get the tokens and save them.
        approve_device(&page, &code, &localpart, "pw-Orphan-2", true);
        std::thread::sleep(Duration::from_secs(6));
        let saved = std::fs::read_to_string(config.join("nu_plugin_matrix/sessions.json"))
            .unwrap_or_default();
        assert!(
            !saved.contains("\"me\""),
            "a session was saved after SIG{how}"
        );
    }
}

#[test]
fn a_browser_sign_in_ends_with_its_shell_and_closes_its_listener() {
    for how in ["KILL", "TERM"] {
        let (mut nu, _, config) = start_login("--oauth-browser", how);
        let page = nu.line_with("/authorize?", WITHIN).trim().to_owned();
        let redirect = url::Url::parse(&page)
            .expect("a URL")
            .query_pairs()
            .find(|(key, _)| key == "redirect_uri")
            .map(|(_, value)| value.into_owned())
            .expect("a redirect URI");
        let port = url::Url::parse(&redirect)
            .expect("a URL")
            .port()
            .expect("a port");
        let plugin = descendant_named(nu.pid(), "nu_plugin_matrix", WITHIN);
        signal(nu.pid(), how);
        assert!(
            gone_within(plugin, GONE_WITHIN),
            "the browser sign-in outlived nu's SIG{how}"
        );
        assert!(
            std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err(),
            "still listening on {port} after SIG{how}"
        );
        // (The file may hold the client registration, kept before the sign-in began.)
        let saved = std::fs::read_to_string(config.join("nu_plugin_matrix/sessions.json"))
            .unwrap_or_default();
        assert!(
            !saved.contains("\"me\""),
            "a session was saved after SIG{how}"
        );
    }
}
