//! A trusted bot device against real parts: `matrix e2ee bootstrap` on Synapse, its signatures
//! checked as another user reads them (Ed25519 over canonical JSON, by vodozemac's Python
//! bindings), its secret storage and key backup on the server, and its secrets nowhere else.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value as JsonValue, json};
use support::bot::{Bot, dm};
use support::nio::Nio;
use support::{root, synapse, unique_user};

/// The user's keys as a stranger reads them (`POST /keys/query`).
fn keys_of(user_id: &str) -> JsonValue {
    let hs = synapse();
    let stranger = unique_user("trstranger");
    let stranger_id = hs.register(&stranger, "pw-Stranger-1");
    let token = hs.login(&stranger_id, "pw-Stranger-1");
    hs.call(
        &token,
        "POST",
        "keys/query",
        &json!({"device_keys": {user_id: []}}),
    )
}

/// Whether vodozemac finds the chain master → self-signing → device valid; why not, if not.
fn chain(keys: &JsonValue, user_id: &str, device_id: &str) -> Result<(), String> {
    let mut check = Command::new(root().join(".cache/nio-venv/bin/python"))
        .arg(root().join("tests/support/signatures.py"))
        .args([user_id, device_id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python (run scripts/deps)");
    use std::io::Write;
    check
        .stdin
        .take()
        .expect("stdin")
        .write_all(keys.to_string().as_bytes())
        .expect("write");
    let out = check.wait_with_output().expect("the check");
    if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok" {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// A secret of the user's secret storage, read with the recovery key by
/// `tests/support/ssss.py` (the spec's algorithm, independently of the plugin).
fn secret_of(encrypted: &JsonValue, name: &str, recovery_key: &str) -> String {
    let mut read = Command::new(root().join(".cache/nio-venv/bin/python"))
        .arg(root().join("tests/support/ssss.py"))
        .arg(name)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python (run scripts/deps)");
    use std::io::Write;
    let given = json!({"recovery_key": recovery_key, "encrypted": encrypted});
    read.stdin
        .take()
        .expect("stdin")
        .write_all(given.to_string().as_bytes())
        .expect("write");
    let out = read.wait_with_output().expect("ssss.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Every file under `dir`, as bytes.
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            found.push((path.display().to_string(), bytes));
        }
    }
    found
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[test]
fn bootstrap_cross_signs_the_device_keeps_its_secrets_and_backs_up_room_keys() {
    let bot = Bot::new("trbot");
    let nio = Nio::login(synapse(), "trhuman");
    let room = dm(&bot, &nio);
    let made = bot.json(
        "let made = (matrix e2ee bootstrap --session bot)
        {shown: ($made | to json -r | from json), key: ($made.recovery_key | matrix token reveal)}",
    );
    let shown = &made["shown"];
    assert_eq!(shown["recovery_key"], "********", "{shown}");
    assert_eq!(shown["user_id"], bot.user_id.as_str());
    let key = made["key"].as_str().expect("the recovery key");
    let groups: Vec<&str> = key.split(' ').collect();
    assert_eq!(groups.len(), 12, "base58 in groups of four: {key}");
    assert!(groups.iter().all(|group| group.len() == 4));
    let device_id = shown["device_id"].as_str().expect("a device");

    // Another user sees the device signed by the self-signing key, signed by the master key.
    let keys = keys_of(&bot.user_id);
    chain(&keys, &bot.user_id, device_id).unwrap_or_else(|why| panic!("{why}: {keys}"));
    let master = &keys["master_keys"][&bot.user_id]["keys"];
    assert_eq!(
        master.as_object().and_then(|keys| keys.values().next()),
        Some(&shown["master_key"])
    );
    // The check itself fails for a device nobody signed: a second device of the bot's user
    // (nio's, which uploads its keys).
    let second = Nio::login_at(
        &synapse().url,
        &bot.user_id,
        &bot.password,
        &unique_user("trsecond"),
    );
    let keys = keys_of(&bot.user_id);
    let second_id = keys["device_keys"][&bot.user_id]
        .as_object()
        .and_then(|devices| devices.keys().find(|id| id.as_str() != device_id).cloned())
        .expect("the second device");
    let unsigned = chain(&keys, &bot.user_id, &second_id).expect_err("an unsigned device");
    drop(second);
    assert!(unsigned.contains("no signature"), "{unsigned}");
    let status = bot.json("matrix e2ee status --session bot | get cross_signing");
    assert_eq!(
        status,
        json!({"master": true, "self_signing": true, "user_signing": true, "signed": true})
    );

    // Secret storage and the backup are on the server.
    let hs = synapse();
    let token = hs.login(&bot.user_id, &bot.password);
    let account_data = |kind: &str| {
        hs.call(
            &token,
            "GET",
            &format!("user/{}/account_data/{kind}", bot.user_id),
            &json!({}),
        )
    };
    let key_id = account_data("m.secret_storage.default_key")["key"]
        .as_str()
        .expect("a default key")
        .to_owned();
    for secret in [
        "m.cross_signing.master",
        "m.cross_signing.self_signing",
        "m.cross_signing.user_signing",
        "m.megolm_backup.v1",
    ] {
        let stored = account_data(secret);
        assert!(
            stored["encrypted"][&key_id]["ciphertext"].is_string(),
            "{secret}: {stored}"
        );
    }
    let version = hs.call(&token, "GET", "room_keys/version", &json!({}));
    assert_eq!(version["version"], shown["backup_version"]);
    assert_eq!(
        version["algorithm"],
        "m.megolm_backup.v1.curve25519-aes-sha2"
    );
    // A room key that comes later goes to the backup.
    nio.send(&room, "after the bootstrap");
    let read = bot.ok(&format!(
        "matrix messages '{room}' --session bot | get body | to json -r"
    ));
    assert!(read.contains("after the bootstrap"), "{read}");
    let backed_up = hs.call(
        &token,
        "GET",
        &format!(
            "room_keys/keys?version={}",
            version["version"].as_str().expect("a version")
        ),
        &json!({}),
    );
    assert!(
        backed_up["rooms"][&room]["sessions"]
            .as_object()
            .is_some_and(|s| !s.is_empty()),
        "{backed_up}"
    );
    let backup = bot.json("matrix e2ee status --session bot | get backup");
    assert_eq!(backup["version"], version["version"]);
    assert!(
        backup["room_keys"].as_i64().is_some_and(|n| n >= 1),
        "{backup}"
    );
    assert_eq!(backup["room_keys"], backup["backed_up"], "{backup}");

    // The private cross-signing keys and the backup key, as secret storage holds them (read
    // here with the recovery key), and the recovery key itself are nowhere on disk in the
    // clear: not in the session file, not in the store; nor in what the bootstrap printed.
    let mut secrets = vec![key.to_owned(), key.replace(' ', "")];
    for name in [
        "m.cross_signing.master",
        "m.cross_signing.self_signing",
        "m.cross_signing.user_signing",
        "m.megolm_backup.v1",
    ] {
        let encrypted = &account_data(name)["encrypted"][&key_id];
        let secret = secret_of(encrypted, name, key);
        assert!(secret.len() >= 43, "{name}: {secret}");
        secrets.push(secret);
    }
    let printed = made.to_string();
    for secret in &secrets[2..] {
        assert!(!printed.contains(secret.as_str()), "a secret in the output");
    }
    for (path, bytes) in files_under(&bot.config) {
        for secret in &secrets[2..] {
            assert!(
                !contains(&bytes, secret.as_bytes()),
                "a private key in {path}"
            );
            let raw = base64::Engine::decode(
                &base64::engine::general_purpose::STANDARD_NO_PAD,
                secret.trim_end_matches('='),
            )
            .expect("base64");
            assert!(!contains(&bytes, &raw), "a private key's bytes in {path}");
        }
    }
    for (path, bytes) in files_under(&bot.config) {
        assert!(
            !contains(&bytes, key.as_bytes()),
            "the recovery key in {path}"
        );
        assert!(
            !contains(&bytes, key.replace(' ', "").as_bytes()),
            "the recovery key in {path}"
        );
    }
}

#[test]
fn bootstrap_again_is_refused_and_a_reset_needs_the_password() {
    let bot = Bot::new("trreset");
    bot.ok("matrix e2ee bootstrap --session bot | ignore");
    let master = |bot: &Bot| keys_of(&bot.user_id)["master_keys"][&bot.user_id]["keys"].clone();
    let first = master(&bot);
    let again = bot.nu("matrix e2ee bootstrap --session bot");
    assert!(!again.success);
    assert!(
        again.stderr.contains("already has cross-signing keys"),
        "{}",
        again.stderr
    );
    assert!(again.stderr.contains("--reset"), "{}", again.stderr);

    let wrong = bot.nu("'not-the-' + 'password' | matrix e2ee bootstrap --session bot --reset");
    assert!(!wrong.success);
    assert!(wrong.stderr.contains("Wrong password"), "{}", wrong.stderr);
    assert!(
        !wrong.stderr.contains("not-the-password"),
        "{}",
        wrong.stderr
    );
    assert_eq!(
        master(&bot),
        first,
        "a refused reset changes nothing on the server"
    );
    let status = bot.json("matrix e2ee status --session bot | get cross_signing.signed");
    assert_eq!(status, true);

    let reset = bot.json("$env.PW | matrix e2ee bootstrap --session bot --reset | get device_id");
    let second = master(&bot);
    assert_ne!(second, first, "new cross-signing keys");
    let keys = keys_of(&bot.user_id);
    chain(&keys, &bot.user_id, reset.as_str().expect("a device"))
        .unwrap_or_else(|why| panic!("{why}: {keys}"));
}

#[test]
fn recover_signs_a_new_device_and_reads_history_from_the_backup() {
    let bot = Bot::new("trrec");
    let nio = Nio::login(synapse(), "trrechuman");
    let room = dm(&bot, &nio);
    let key =
        bot.ok("matrix e2ee bootstrap --session bot | get recovery_key | matrix token reveal");
    let key_file = support::scratch(&unique_user("trkey")).join("recovery-key.txt");
    std::fs::write(&key_file, &key).expect("write the key");
    nio.send(&room, "before the new device");
    let read = bot.ok(&format!(
        "matrix messages '{room}' --session bot | get body | to json -r"
    ));
    assert!(read.contains("before the new device"), "{read}");

    // The bot re-deployed: a new device of the same user, saved as bot2.
    bot.login("bot2", "");
    let unread = bot.json(&format!(
        "matrix messages '{room}' --session bot2 | get decrypt_error"
    ));
    assert!(
        unread[0].is_string(),
        "a new device has no key yet: {unread}"
    );
    let recovered = bot.json(&format!(
        "open '{}' | matrix e2ee recover --session bot2",
        key_file.display()
    ));
    assert!(
        recovered["room_keys"].as_i64().is_some_and(|n| n >= 1),
        "{recovered}"
    );
    assert!(recovered["backup_version"].is_string(), "{recovered}");
    let device = recovered["device_id"].as_str().expect("a device");
    let keys = keys_of(&bot.user_id);
    chain(&keys, &bot.user_id, device).unwrap_or_else(|why| panic!("{why}: {keys}"));
    let history = bot.ok(&format!(
        "matrix messages '{room}' --session bot2 | get body | to json -r"
    ));
    assert!(history.contains("before the new device"), "{history}");
    // The old device still works.
    bot.ok(&format!(
        "matrix send '{room}' 'old device still works' --session bot | ignore"
    ));
    let seen = nio.read_until(&room, "old device still works", 30);
    assert!(
        seen.iter()
            .any(|m| m["body"] == "old device still works" && m["decrypted"] == true)
    );

    // `matrix devices` says which devices the user cross-signed.
    let listed = bot.json("matrix devices --session bot2 | select device_id verified");
    let verified = |id: &str| {
        listed
            .as_array()
            .expect("rows")
            .iter()
            .find(|row| row["device_id"] == id)
            .map(|row| row["verified"].clone())
    };
    assert_eq!(verified(device), Some(json!(true)), "{listed}");
    let first = bot.ok("matrix session get bot | get device_id");
    assert_eq!(verified(&first), Some(json!(true)), "{listed}");
    // Never a flag; without a pipe and without a terminal, a clear error.
    let unasked = bot.nu("matrix e2ee recover --session bot2");
    assert!(
        unasked
            .stderr
            .contains("No recovery key given, and no terminal"),
        "{}",
        unasked.stderr
    );
    // A wrong key changes nothing.
    bot.login("bot3", "");
    let wrong = bot.nu("'EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE4d' | matrix e2ee recover --session bot3");
    assert!(!wrong.success);
    assert!(
        wrong
            .stderr
            .contains("does not open this account's secret storage"),
        "{}",
        wrong.stderr
    );
    assert!(
        wrong.stderr.contains("a wrong recovery key"),
        "{}",
        wrong.stderr
    );
    let status = bot.json("matrix e2ee status --session bot3 | get cross_signing");
    assert_eq!(
        status,
        json!({"master": false, "self_signing": false, "user_signing": false, "signed": false})
    );
    assert_eq!(keys_of(&bot.user_id)["master_keys"], keys["master_keys"]);
    let third = bot.ok("matrix session get bot3 | get device_id");
    let listed = bot.json(&format!(
        "matrix devices --session bot3 | where device_id == '{third}' | get verified"
    ));
    assert_eq!(listed, json!([false]));
}
