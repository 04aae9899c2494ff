//! Saved sessions' tokens in the system keyring: a real GNOME Keyring on a D-Bus bus of its own
//! (support/keyring.rs), the real nu and a real Synapse. Saving, listing, using, refreshing
//! (also concurrently), moving both ways, the failures, and the file when no keyring answers.

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value as JsonValue;
use support::keyring::{TestKeyring, keyring, own_keyring};
use support::proxy::CountingProxy;
use support::{NuRun, nu_with, scratch, synapse, unique_user};

/// A fresh user and config folder for one test.
fn fixture(prefix: &str) -> (String, String, PathBuf) {
    let password = format!("pw-{prefix}-77");
    let user_id = synapse().register(&unique_user(prefix), &password);
    let config = scratch(&format!("cfg-{}", unique_user(prefix)));
    (user_id, password, config)
}

/// How a test runs nu: its config folder, `$env.PW`, and the keyring, if it gives one.
struct Nu<'a> {
    config: &'a Path,
    password: &'a str,
    keyring: Option<&'a TestKeyring>,
}

impl Nu<'_> {
    fn run(&self, script: &str) -> NuRun {
        nu_with(script, |command| {
            command
                .env("XDG_CONFIG_HOME", self.config)
                .env("XDG_DATA_HOME", self.config.join("data"))
                .env("PW", self.password);
            if let Some(keyring) = self.keyring {
                keyring.give(command);
            }
        })
    }
}

fn file_text(config: &Path) -> String {
    std::fs::read_to_string(config.join("nu_plugin_matrix/sessions.json")).expect("session file")
}

fn saved(config: &Path, name: &str) -> JsonValue {
    let file: JsonValue = serde_json::from_str(&file_text(config)).expect("JSON");
    file["sessions"][name].clone()
}

/// The key of the keyring item of the saved session `name`.
fn key_of(config: &Path, name: &str) -> String {
    saved(config, name)["keyring"]
        .as_str()
        .unwrap_or_else(|| panic!("session '{name}' has no keyring key: {}", file_text(config)))
        .to_owned()
}

/// The tokens in the keyring item under `key`.
fn item_tokens(keyring: &TestKeyring, key: &str) -> JsonValue {
    let secret = keyring.lookup(key).expect("the item is there");
    serde_json::from_str(&secret).expect("the item holds JSON")
}

#[test]
fn a_saved_session_lives_in_the_keyring_and_not_in_the_file() {
    let hs = synapse();
    let keyring = keyring();
    let (user_id, password, config) = fixture("kr-save");
    let nu = Nu {
        config: &config,
        password: &password,
        keyring: Some(keyring),
    };
    // `auto`, the default, takes the keyring when one answers.
    let login = nu.run(&format!(
        r#"let s = ($env.PW | matrix login {user_id} -H {url} --save bot)
            print ($s | matrix token reveal | get access_token)
            print "-----"
            print (matrix session list | select name store needs_login | to json --raw)
            print "-----"
            print (matrix whoami --session bot | get user_id)
            print "-----"
            print (matrix session get bot | matrix token reveal | get access_token)"#,
        url = hs.url
    ));
    assert!(login.success, "{}", login.stderr);
    let parts: Vec<&str> = login.stdout.split("-----\n").map(str::trim).collect();
    let token = parts[0];
    assert!(token.starts_with("syt_"), "{token}");
    assert_eq!(
        parts[1],
        r#"[{"name":"bot","store":"keyring","needs_login":false}]"#
    );
    assert_eq!(parts[2], user_id);
    assert_eq!(parts[3], token, "the session read back from the keyring");

    // The file has everything but the tokens; the item has them, under a label a person
    // recognises.
    let text = file_text(&config);
    assert!(!text.contains(token), "the token is in the file");
    assert!(!text.contains("syt_"), "{text}");
    assert!(text.contains(&user_id), "{text}");
    let key = key_of(&config, "bot");
    assert!(key.starts_with("bot "), "{key}");
    assert!(
        item_tokens(keyring, &key)["access_token"] == token,
        "the item holds another token"
    );
    let described = keyring.describe(&key);
    assert!(
        described.contains(&format!("Matrix session 'bot' of {user_id}")),
        "no item labelled for 'bot' ({} characters of secret-tool output, not shown: they hold \
         the secret)",
        described.len()
    );
    assert_eq!(hs.whoami_status(token), 200);

    // `matrix session remove` deletes the item with the entry.
    let removed = nu.run("matrix session remove bot");
    assert!(removed.success, "{}", removed.stderr);
    assert!(keyring.lookup(&key).is_none(), "the item is still there");
}

#[test]
fn refreshes_write_the_keyring_and_concurrent_ones_spend_each_token_once() {
    let hs = synapse();
    let keyring = keyring();
    let (user_id, password, config) = fixture("kr-refresh");
    let nu = Nu {
        config: &config,
        password: &password,
        keyring: Some(keyring),
    };
    let login = nu.run(&format!(
            r#"$env.config.plugins.matrix = {{secrets: keyring}}
            $env.PW | matrix login {user_id} -H {url} --refresh --save r | matrix token reveal | get access_token"#,
            url = hs.url
        ));
    assert!(login.success, "{}", login.stderr);
    let first_access = login.stdout.trim().to_owned();
    let key = key_of(&config, "r");
    let first = item_tokens(keyring, &key);
    assert_eq!(first["access_token"], first_access.as_str());
    let first_refresh = first["refresh_token"].as_str().expect("a refresh token");

    // Past the test server's 6 s lifetime, a command refreshes by itself: the new tokens are in
    // the same item, and still none in the file.
    std::thread::sleep(std::time::Duration::from_secs(7));
    let whoami = nu.run("matrix whoami --session r | get user_id");
    assert!(whoami.success, "{}", whoami.stderr);
    assert_eq!(whoami.stdout.trim(), user_id);
    let renewed = item_tokens(keyring, &key);
    let new_access = renewed["access_token"].as_str().expect("token");
    assert_ne!(new_access, first_access);
    assert_ne!(renewed["refresh_token"].as_str(), Some(first_refresh));
    assert_eq!(key_of(&config, "r"), key, "the same item");
    assert!(!file_text(&config).contains("syt_"));
    assert!(!file_text(&config).contains("syr_"));
    assert_eq!(hs.whoami_status(new_access), 200);

    // Twelve concurrent refreshes, through a relay in front of Synapse that sees each refresh
    // token presented: each uses the refresh token it finds in the keyring, none is presented
    // twice, and a valid session is left.
    let relay = CountingProxy::start(hs.url.trim_start_matches("http://"), |_| {});
    let mut file: JsonValue = serde_json::from_str(&file_text(&config)).expect("JSON");
    file["sessions"]["r"]["homeserver"] = JsonValue::String(relay.url.clone());
    std::fs::write(
        config.join("nu_plugin_matrix/sessions.json"),
        file.to_string(),
    )
    .expect("written");
    let concurrent =
        nu.run("1..12 | par-each {|_| matrix refresh --session r | ignore; 1 } | math sum");
    let presented = relay.presented("refresh_token");
    let refreshes = relay
        .requests()
        .iter()
        .filter(|request| *request == "POST /_matrix/client/v3/refresh")
        .count();
    assert!((1..=12).contains(&refreshes), "{:?}", relay.requests());
    support::assert_presented_once(&presented, refreshes);
    assert!(concurrent.success, "{}", concurrent.stderr);
    assert_eq!(concurrent.stdout.trim(), "12");
    let left = item_tokens(keyring, &key);
    assert_eq!(
        hs.whoami_status(left["access_token"].as_str().expect("token")),
        200
    );
    let after = nu.run("matrix refresh --session r | matrix whoami | get user_id");
    assert!(
        after.success,
        "the refresh token left is valid: {}",
        after.stderr
    );
    let list = nu.run("matrix session list | get needs_login.0");
    assert_eq!(list.stdout.trim(), "false", "{}", list.stderr);
}

#[test]
fn sessions_move_between_the_file_and_the_keyring_both_ways() {
    let hs = synapse();
    let keyring = keyring();
    let (user_id, password, config) = fixture("kr-move");
    let nu = Nu {
        config: &config,
        password: &password,
        keyring: Some(keyring),
    };
    let login = nu.run(&format!(
        r#"$env.config.plugins.matrix = {{secrets: file}}
            let s = ($env.PW | matrix login {user_id} -H {url} --save a)
            $s | matrix session save b | ignore
            $s | matrix token reveal | get access_token"#,
        url = hs.url
    ));
    assert!(login.success, "{}", login.stderr);
    let token = login.stdout.trim().to_owned();
    assert!(file_text(&config).contains(&token), "`file` keeps it there");

    let moved = nu.run(
        r#"print (matrix session move a --to keyring | to json --raw)
        print (matrix session list | select name store | to json --raw)
        print (matrix whoami --session a | get user_id)"#,
    );
    assert!(moved.success, "{}", moved.stderr);
    let lines: Vec<&str> = moved.stdout.lines().collect();
    assert_eq!(lines[0], r#"[{"name":"a","store":"keyring","moved":true}]"#);
    assert_eq!(
        lines[1],
        r#"[{"name":"a","store":"keyring"},{"name":"b","store":"file"}]"#
    );
    assert_eq!(lines[2], user_id);
    let key = key_of(&config, "a");
    assert_eq!(item_tokens(keyring, &key)["access_token"], token.as_str());
    assert!(saved(&config, "a").get("access_token").is_none());

    // Every session to the keyring, then every one back: the items go, the file has them.
    let all = nu.run(
        r#"print (matrix session move --all --to keyring | to json --raw)
        print (matrix session move --all --to file | to json --raw)"#,
    );
    assert!(all.success, "{}", all.stderr);
    let lines: Vec<&str> = all.stdout.lines().collect();
    assert_eq!(
        lines[0],
        r#"[{"name":"a","store":"keyring","moved":false},{"name":"b","store":"keyring","moved":true}]"#
    );
    assert_eq!(
        lines[1],
        r#"[{"name":"a","store":"file","moved":true},{"name":"b","store":"file","moved":true}]"#
    );
    assert!(keyring.lookup(&key).is_none(), "never in both");
    assert_eq!(saved(&config, "a")["access_token"], token.as_str());
    assert_eq!(saved(&config, "b")["access_token"], token.as_str());
    assert!(saved(&config, "b").get("keyring").is_none());

    // Bad use says what to do.
    let bad = nu.run("matrix session move a --to vault");
    assert!(!bad.success);
    assert!(bad.stderr.contains("not keyring or file"), "{}", bad.stderr);
    let unknown = nu.run("matrix session move nope --to keyring");
    assert!(!unknown.success);
    assert!(
        unknown.stderr.contains("saved sessions: a, b"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn an_item_deleted_by_hand_leaves_the_session_broken_not_deleted() {
    let hs = synapse();
    let keyring = keyring();
    let (user_id, password, config) = fixture("kr-gone");
    let nu = Nu {
        config: &config,
        password: &password,
        keyring: Some(keyring),
    };
    let login = nu.run(&format!(
        "$env.PW | matrix login {user_id} -H {url} --save bot | ignore",
        url = hs.url
    ));
    assert!(login.success, "{}", login.stderr);
    keyring.delete_by_hand(&key_of(&config, "bot"));

    let whoami = nu.run("matrix whoami --session bot");
    assert!(!whoami.success);
    let said = whoami.stderr_folded();
    assert!(said.contains("Saved session 'bot' is broken"), "{said}");
    assert!(said.contains("--save bot"), "{said}");
    let list =
        nu.run("matrix session list | select name store access_token needs_login | to json --raw");
    assert!(list.success, "{}", list.stderr);
    assert_eq!(
        list.stdout.trim(),
        r#"[{"name":"bot","store":"keyring","access_token":null,"needs_login":true}]"#
    );
    // A new login saved under the name mends it.
    let again = nu.run(&format!(
            "$env.PW | matrix login {user_id} -H {url} --save bot | ignore; matrix whoami --session bot | get user_id",
            url = hs.url
        ));
    assert!(again.success, "{}", again.stderr);
    assert_eq!(again.stdout.trim(), user_id);
}

#[test]
fn a_locked_or_stopped_keyring_is_an_error_naming_the_session_never_plain_text() {
    let hs = synapse();
    let keyring = own_keyring("keyring-locked");
    let (user_id, password, config) = fixture("kr-locked");
    let nu = Nu {
        config: &config,
        password: &password,
        keyring: Some(&keyring),
    };
    let login = nu.run(&format!(
        "$env.PW | matrix login {user_id} -H {url} --save bot | ignore",
        url = hs.url
    ));
    assert!(login.success, "{}", login.stderr);
    let before = file_text(&config);

    keyring.lock();
    for script in ["matrix whoami --session bot", "matrix session list"] {
        let locked = nu.run(script);
        assert!(!locked.success, "{script}");
        let said = locked.stderr_folded();
        assert!(said.contains("saved session 'bot'"), "{script}: {said}");
        assert!(said.contains("is locked"), "{script}: {said}");
    }
    assert_eq!(file_text(&config), before, "nothing changed, nothing lost");

    keyring.stop_daemon();
    let gone = nu.run("matrix whoami --session bot");
    assert!(!gone.success);
    let said = gone.stderr_folded();
    assert!(said.contains("saved session 'bot'"), "{said}");
    assert!(said.contains("system keyring"), "{said}");
    assert_eq!(file_text(&config), before);
    assert!(!file_text(&config).contains("syt_"));
}

#[test]
fn without_a_secret_service_auto_uses_the_file_and_keyring_refuses_before_logging_in() {
    let hs = synapse();
    let (user_id, password, config) = fixture("kr-none");
    let nu = Nu {
        config: &config,
        password: &password,
        keyring: None,
    };
    // No keyring given: the harness points nu at a bus where nothing listens.
    let auto = nu.run(&format!(
        r#"$env.PW | matrix login {user_id} -H {url} --save bot | ignore
            matrix session list | select name store | to json --raw"#,
        url = hs.url
    ));
    assert!(auto.success, "{}", auto.stderr);
    assert_eq!(auto.stdout.trim(), r#"[{"name":"bot","store":"file"}]"#);
    assert!(saved(&config, "bot")["access_token"].is_string());

    // `keyring` fails at --save, before the login makes a device whose token would be lost.
    let devices_before = count_devices(&user_id, &password);
    let refused = nu.run(&format!(
        r#"$env.config.plugins.matrix = {{secrets: keyring}}
            $env.PW | matrix login {user_id} -H {url} --save other"#,
        url = hs.url
    ));
    assert!(!refused.success);
    let said = refused.stderr_folded();
    assert!(said.contains("secrets: keyring"), "{said}");
    assert!(said.contains("\"file\""), "{said}");
    assert_eq!(count_devices(&user_id, &password), devices_before);
    assert!(saved(&config, "other").is_null());
    // Moving to a keyring that is not there keeps the session where it was.
    let moved = nu.run("matrix session move bot --to keyring");
    assert!(!moved.success);
    assert!(
        moved.stderr_folded().contains("does not answer"),
        "{}",
        moved.stderr
    );
    assert!(saved(&config, "bot")["access_token"].is_string());
}

/// How many devices the user has (one login more, for asking, is logged out again).
fn count_devices(user_id: &str, password: &str) -> usize {
    let hs = synapse();
    let token = hs.login(user_id, password);
    let devices = hs.get_json(
        &format!("{}/_matrix/client/v3/devices", hs.url),
        Some(&token),
    );
    let count = devices["devices"].as_array().expect("devices").len();
    hs.call(&token, "POST", "logout", &serde_json::json!({}));
    count - 1
}

#[test]
fn the_crypto_store_key_lives_with_the_tokens_and_moves_with_them() {
    let keyring = own_keyring("kr-e2ee");
    let (user_id, password, config) = fixture("kr-e2ee");
    let nu = Nu {
        config: &config,
        password: &password,
        keyring: Some(&keyring),
    };
    let login = nu.run(&format!(
        "$env.PW | matrix login {user_id} -H {} --save bot | ignore
         let room = (matrix api createRoom --data {{initial_state: [{{type: m.room.encryption, \
           state_key: '', content: {{algorithm: m.megolm.v1.aes-sha2}}}}]}} | get room_id)
         'in the keyring' | matrix send $room | ignore
         $room",
        synapse().url
    ));
    assert!(login.success, "{}", login.stderr);
    let room = login.stdout.trim().to_owned();
    let key = key_of(&config, "bot");
    let store_key = item_tokens(&keyring, &key)["crypto_store_key"]
        .as_str()
        .expect("the store key is in the keyring item")
        .to_owned();
    assert!(!file_text(&config).contains(&store_key), "nor in the file");
    assert!(!file_text(&config).contains("crypto_store_key"));

    // Moved to the file and back, the key goes with the tokens: the store still opens.
    let read = |script: &str| {
        let run = nu.run(&format!(
            "{script} | ignore; matrix messages '{room}' | get 0 | [$in.body $in.encrypted] | to json -r"
        ));
        assert!(run.success, "{script}: {}", run.stderr);
        run.stdout.trim().to_owned()
    };
    let expected = r#"["in the keyring",true]"#;
    assert_eq!(read("matrix session move bot --to file"), expected);
    assert_eq!(
        saved(&config, "bot")["crypto_store_key"],
        store_key.as_str()
    );
    assert_eq!(read("matrix session move bot --to keyring"), expected);
    assert!(!file_text(&config).contains(&store_key));

    // A locked keyring: an error that says so, and nothing changed.
    let before = file_text(&config);
    keyring.lock();
    let locked = nu.run(&format!("'while locked' | matrix send '{room}'"));
    assert!(!locked.success);
    let said = locked.stderr_folded();
    assert!(said.contains("is locked"), "{said}");
    assert_eq!(file_text(&config), before, "nothing changed, nothing lost");
}
