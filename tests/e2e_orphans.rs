//! No plugin process outlives the Nushell that started it: each wait that can outlast a shell
//! (a rate limit's wait, the password prompt, single sign-on's browser, `matrix send`'s room
//! watch, `matrix listen`) is started in the real nu, nu is killed (SIGKILL, then in a second
//! run SIGTERM), and the plugin process must be gone within 2 s, having done nothing more: no
//! request after the kill, its loopback listener closed. The OAuth 2.0 waits are in the MAS
//! suite (`tests/e2e_mas/orphans.rs`).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use support::processes::{descendant_named, gone_within, signal};
use support::pty::Terminal;
use support::{FaultServer, Running, http, scratch, synapse, synapse_with_sso, unique_user};

const PLUGIN: &str = "nu_plugin_matrix";
const GONE_WITHIN: Duration = Duration::from_secs(2);
const START_WITHIN: Duration = Duration::from_secs(30);

/// Kills nu with `how` once `ready` says its wait is on, and returns the plugin's process ID
/// after checking that it is gone within [`GONE_WITHIN`].
fn kill_while_waiting(nu: &mut Running, how: &str, ready: impl FnOnce(&mut Running)) -> u32 {
    let plugin = descendant_named(nu.pid(), PLUGIN, START_WITHIN);
    ready(nu);
    signal(nu.pid(), how);
    assert!(
        gone_within(plugin, GONE_WITHIN),
        "the plugin outlived nu's SIG{how} by {GONE_WITHIN:?}"
    );
    plugin
}

#[test]
fn a_rate_limits_wait_ends_with_its_shell() {
    for how in ["KILL", "TERM"] {
        // Every request is refused with a wait of 8 s: the plugin waits it out (within its
        // 10 s setting) before trying again.
        let asked = Arc::new(AtomicUsize::new(0));
        let count = asked.clone();
        let server = FaultServer::with_handler(move |_| {
            count.fetch_add(1, Ordering::SeqCst);
            http(
                "429 Too Many Requests",
                "application/json",
                r#"{"errcode": "M_LIMIT_EXCEEDED", "error": "slow down", "retry_after_ms": 8000}"#,
            )
        });
        let mut nu = Running::start(
            &format!("$env.PW | matrix token import -H {} | ignore", server.url),
            |command| {
                command.env("PW", "syt_fake_token_for_the_fault_server");
            },
        );
        kill_while_waiting(&mut nu, how, |_| {
            while asked.load(Ordering::SeqCst) == 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let before = asked.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_secs(9));
        assert_eq!(
            asked.load(Ordering::SeqCst),
            before,
            "no request after nu was killed (SIG{how})"
        );
    }
}

#[test]
fn a_password_prompt_ends_with_its_shell() {
    let hs = synapse();
    for how in ["KILL", "TERM", "HUP"] {
        let dir = scratch(&format!("orphan-prompt-{how}"));
        let command = format!(
            "{nu} --no-config-file --plugins '[{plugin}]' -c 'matrix login @nobody:localhost -H {url}'",
            nu = support::nu_binary().display(),
            plugin = support::plugin_binary(),
            url = hs.url,
        );
        let terminal = Terminal::start(&command, &dir.join("typescript"));
        terminal.wait_for("Password for", START_WITHIN);
        let nu = descendant_named(terminal.pid(), "nu", START_WITHIN);
        let plugin = descendant_named(nu, PLUGIN, START_WITHIN);
        signal(nu, how);
        assert!(
            gone_within(plugin, GONE_WITHIN),
            "the prompt outlived nu's SIG{how}"
        );
        let _ = terminal.finish(Duration::from_secs(10));
    }
}

#[test]
fn a_single_sign_on_wait_ends_with_its_shell_and_closes_its_listener() {
    let hs = synapse_with_sso();
    for how in ["KILL", "TERM"] {
        let config = scratch(&format!("orphan-sso-{how}"));
        let mut nu = Running::start(
            &format!("matrix login --sso --no-browser -H {} --save me", hs.url),
            |command| {
                command
                    .env("XDG_CONFIG_HOME", &config)
                    .env_remove("DISPLAY")
                    .env_remove("WAYLAND_DISPLAY");
            },
        );
        let mut port = String::new();
        kill_while_waiting(&mut nu, how, |nu| {
            let line = nu.line_with("/login/sso/redirect", START_WITHIN);
            port = line
                .split("127.0.0.1%3A")
                .nth(1)
                .and_then(|rest| rest.split('%').next())
                .expect("a port in the redirect URL")
                .to_owned();
        });
        assert!(
            std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err(),
            "still listening on {port} after SIG{how}"
        );
        assert!(
            !config.join("nu_plugin_matrix/sessions.json").exists(),
            "nothing saved"
        );
    }
}

#[test]
fn matrix_send_and_matrix_listen_end_with_their_shell() {
    let hs = synapse();
    let user = hs.register(&unique_user("orphan"), "pw-Orphan-1");
    let token = hs.login(&user, "pw-Orphan-1");
    let room = hs.call(&token, "POST", "createRoom", &json!({}))["room_id"]
        .as_str()
        .expect("a room")
        .to_owned();
    for how in ["KILL", "TERM"] {
        let config = scratch(&format!("orphan-send-{how}"));
        let start = |script: &str| {
            Running::start(
                &format!(
                    "$env.PW | matrix token import -H {} --save me | ignore\n{script}",
                    hs.url
                ),
                |command| {
                    command.env("XDG_CONFIG_HOME", &config).env("PW", &token);
                },
            )
        };
        // The room watch's long-poll goes on in the plugin after the send.
        let mut nu = start(&format!(
            "matrix send {room} hello | ignore; print -e sent; sleep 1min"
        ));
        kill_while_waiting(&mut nu, how, |nu| {
            nu.line_with("sent", START_WITHIN);
        });
        // A listener in its long-poll: a row came through, and it waits for the next.
        let mut nu = start(
            "matrix listen --session me --since saved --once | ignore
            matrix listen --session me --since saved --own | each {|r| print -e $'row: ($r.body)' }",
        );
        kill_while_waiting(&mut nu, how, |nu| {
            // Placed (its --once run kept the position): a message now is one it hands out.
            nu.line_with("nothing kept for 'me' yet", START_WITHIN);
            hs.send_text(&token, &room, "ping");
            nu.line_with("row: ping", START_WITHIN);
        });
    }
}
