//! The life of a saved OAuth 2.0 session in the real nu: it survives `plugin stop`, refreshes
//! under concurrent pipelines without spending a refresh token twice, refreshes itself when
//! its token expired or was refused, and is kept and marked when its refresh token is refused.

use std::path::Path;
use std::time::Duration;

use serde_json::Value as JsonValue;

use super::json;
use crate::support::mas::mas;
use crate::support::{Running, nu_with, scratch, unique_user};

fn sessions_file(config: &Path) -> std::path::PathBuf {
    config.join("nu_plugin_matrix/sessions.json")
}

fn saved(config: &Path) -> JsonValue {
    json(&std::fs::read_to_string(sessions_file(config)).expect("the session file"))
}

/// Changes the saved session `oa` in the file, as time or another client would have.
fn tamper(config: &Path, change: impl FnOnce(&mut JsonValue)) {
    let mut file = saved(config);
    change(&mut file["sessions"]["oa"]);
    std::fs::write(sessions_file(config), file.to_string()).expect("written");
}

#[test]
fn a_saved_oauth_session_lives_through_restarts_concurrency_and_refusal() {
    let mas = mas();
    let localpart = unique_user("oalife");
    let user_id = mas.register(&localpart, "pw-Life-1");
    let config = scratch(&format!("config-{localpart}"));
    let script = format!(
        r#"let s = (matrix login {user_id} -H {url} --oauth --no-browser --save oa)
        plugin stop matrix
        print ($s | matrix whoami | get device_id)
        plugin stop matrix
        print (matrix whoami --session oa | get device_id)"#,
        url = mas.url
    );
    let mut nu = Running::start(&script, |command| {
        command.env("XDG_CONFIG_HOME", &config);
    });
    super::approve_what_nu_shows(&mut nu, &localpart, "pw-Life-1");
    let run = nu.finish(Duration::from_secs(90));
    assert!(run.success, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0].len(), 12, "{lines:?}");
    assert_eq!(lines[1], lines[0], "the saved session after a restart");
    let with_config = |command: &mut std::process::Command| {
        command.env("XDG_CONFIG_HOME", &config);
    };

    // Eight concurrent refreshes, through a relay in front of MAS's token endpoint that sees
    // each refresh token presented: none is presented twice, and one valid session is left.
    let endpoint = url::Url::parse(
        saved(&config)["sessions"]["oa"]["oauth"]["token_endpoint"]
            .as_str()
            .expect("a token endpoint"),
    )
    .expect("a URL");
    let upstream = format!(
        "{}:{}",
        endpoint.host_str().expect("a host"),
        endpoint.port_or_known_default().expect("a port")
    );
    let relay = crate::support::proxy::CountingProxy::start(&upstream, |_| {});
    tamper(&config, |oa| {
        oa["oauth"]["token_endpoint"] = format!("{}{}", relay.url, endpoint.path()).into();
    });
    let run = nu_with(
        "print (1..8 | par-each {|_| null | matrix refresh --session oa | ignore; 1 } | math sum)
        print (matrix whoami --session oa | get user_id)",
        with_config,
    );
    let refreshes = relay
        .requests()
        .iter()
        .filter(|request| request.starts_with("POST ") && request.ends_with(endpoint.path()))
        .count();
    let presented = relay.presented("refresh_token");
    assert!((1..=8).contains(&refreshes), "{:?}", relay.requests());
    crate::support::assert_presented_once(&presented, refreshes);
    assert!(run.success, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "8", "eight concurrent refreshes");
    assert_eq!(lines[1], user_id, "one valid session left");
    tamper(&config, |oa| {
        oa["oauth"]["token_endpoint"] = endpoint.as_str().into();
    });
    let whoami = || nu_with("matrix whoami --session oa | get user_id", with_config);

    // Expired by the clock: refreshed before the request.
    let before = saved(&config)["sessions"]["oa"]["access_token"].clone();
    tamper(&config, |oa| oa["expires_at_ms"] = 1_000.into());
    let run = whoami();
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), user_id);
    let after = saved(&config)["sessions"]["oa"]["access_token"].clone();
    assert_ne!(after, before, "refreshed ahead of the request");

    // Refused by the server (M_UNKNOWN_TOKEN, which Synapse does not mark soft_logout behind
    // MAS): refreshed, and the request made again.
    tamper(&config, |oa| {
        oa["access_token"] = "mat_notATokenOfThisServer000000000".into();
    });
    let run = whoami();
    assert!(run.success, "{}", run.stderr);
    let after_refusal = saved(&config)["sessions"]["oa"]["access_token"].clone();
    assert_ne!(after_refusal, "mat_notATokenOfThisServer000000000");

    // A refresh token the server refuses: the error says to log in again, and the session is
    // kept, marked.
    tamper(&config, |oa| {
        oa["access_token"] = "mat_notATokenOfThisServer000000000".into();
        oa["refresh_token"] = "mar_notATokenOfThisServer000000000".into();
    });
    let run = whoami();
    assert!(!run.success, "{}", run.stdout);
    let text = run.stderr_folded();
    assert!(
        text.contains("no longer accepts this session's refresh token"),
        "{text}"
    );
    assert!(text.contains("--save oa"), "{text}");
    let run = nu_with(
        "matrix session list | where name == oa | get needs_login | to json --raw",
        with_config,
    );
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), "[true]", "kept and marked");

    // A new session saved under the name clears the mark.
    let run = nu_with(
        &format!(
            "$env.TOKEN | matrix token import -H {} | matrix session save oa | ignore
            matrix session list | where name == oa | get needs_login | to json --raw",
            mas.url
        ),
        |command| {
            command
                .env("XDG_CONFIG_HOME", &config)
                .env("TOKEN", mas.compat_token(&localpart));
        },
    );
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), "[false]");
}
