//! End-to-end encryption with an OAuth 2.0 session: a device MAS made reads and writes an
//! encrypted DM that a matrix-nio user (logged in through MAS's compatibility layer) opens.

use std::time::Duration;

use crate::support::mas::mas;
use crate::support::nio::Nio;
use crate::support::{Running, scratch, unique_user};

#[test]
fn an_oauth_session_reads_and_writes_an_encrypted_dm() {
    let mas = mas();
    let localpart = unique_user("oae2ee");
    let user_id = mas.register(&localpart, "pw-Oae2-1");
    let peer = unique_user("oapeer");
    let peer_id = mas.register(&peer, "pw-Peer-1");
    let nio = Nio::login_at(&mas.url, &peer_id, "pw-Peer-1", &peer);
    let config = scratch(&format!("config-{localpart}"));
    let with_config = |command: &mut std::process::Command| {
        command
            .env("XDG_CONFIG_HOME", &config)
            .env("XDG_DATA_HOME", config.join("data"));
    };
    let login = format!(
        "matrix login {user_id} -H {} --oauth --no-browser --save oa | get device_id",
        mas.url
    );
    let mut nu = Running::start(&login, with_config);
    super::approve_what_nu_shows(&mut nu, &localpart, "pw-Oae2-1");
    let run = nu.finish(Duration::from_secs(90));
    assert!(run.success, "{}", run.stderr);

    let room = nio.create_dm(&user_id);
    let run = crate::support::nu_with(
        &format!(
            "matrix join '{room}' --session oa | ignore; matrix e2ee status --session oa | get store_state"
        ),
        with_config,
    );
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), "opened");
    let sent = nio.send(&room, "hello through MAS");
    let run = crate::support::nu_with(
        &format!(
            "let read = (matrix messages '{room}' --session oa | where event_id == '{sent}' | get 0)
             let answer = (matrix send '{room}' 'hello from the OAuth device' --session oa)
             [$read.body $read.encrypted $answer.event_id] | to json -r"
        ),
        with_config,
    );
    assert!(run.success, "{}", run.stderr);
    let out: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("JSON");
    assert_eq!(out[0], "hello through MAS", "{out}");
    assert_eq!(out[1], true);
    let seen = nio.read_until(&room, "hello from the OAuth device", 30);
    let answer = seen
        .iter()
        .find(|m| m["event_id"] == out[2])
        .unwrap_or_else(|| panic!("{seen:?}"));
    assert_eq!(answer["decrypted"], true, "{answer}");

    // Trust on MAS: the device cross-signed (a fresh account needs no approval) ...
    let run = crate::support::nu_with(
        "matrix e2ee bootstrap --session oa | ignore
         matrix devices --session oa | where current | get verified | to json -r",
        with_config,
    );
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), "[true]");
    // ... and a reset sends the user to MAS's account page to approve it; nothing changes.
    let run = crate::support::nu_with("matrix e2ee bootstrap --session oa --reset", with_config);
    assert!(!run.success);
    assert!(run.stderr.contains("approve"), "{}", run.stderr);
    assert!(run.stderr.contains("cross_signing_reset"), "{}", run.stderr);
    let run = crate::support::nu_with(
        "matrix devices --session oa | where current | get verified | to json -r",
        with_config,
    );
    assert_eq!(run.stdout.trim(), "[true]", "{}", run.stderr);
    // Approved on the page (as the user would), the same command goes through: new keys.
    crate::support::mas::allow_cross_signing_reset(&localpart, "pw-Oae2-1");
    let run = crate::support::nu_with(
        "let made = (matrix e2ee bootstrap --session oa --reset)
         [$made.master_key (matrix devices --session oa | where current | get verified | first)] | to json -r",
        with_config,
    );
    assert!(run.success, "{}", run.stderr);
    let out: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("JSON");
    assert!(out[0].as_str().is_some_and(|key| key.len() == 43), "{out}");
    assert_eq!(out[1], true, "{out}");
}
