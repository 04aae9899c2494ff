//! Emoji verification (SAS) between the bot and a person, against real parts: a real Synapse,
//! the real nu in a pseudo-terminal (the operator), and matrix-sdk 0.18, the SDK under Element
//! X, as the person (`tests/peer`). Both sides' emoji are compared by the test, as two people
//! would; what each side then trusts is read back from each side, and from the server.

mod support;

use std::time::Duration;

use serde_json::Value as JsonValue;

use support::bot::Bot;
use support::peer::{Peer, Verifier};
use support::pty::Terminal;
use support::{nu_binary, plugin_binary, root, scratch, synapse, unique_user};

/// A bot whose device is cross-signed (`matrix e2ee bootstrap`), and a person (matrix-sdk,
/// cross-signing set up) in an encrypted direct room with it.
fn bot_and_person(prefix: &str) -> (Bot, Peer, String) {
    let bot = Bot::new(prefix);
    bot.ok("matrix e2ee bootstrap --session bot | ignore");
    let person = Peer::login(synapse(), &format!("{prefix}-admin"), false);
    let room = person.create_dm(&bot.user_id);
    bot.ok(&format!("matrix join '{room}' --session bot | ignore"));
    (bot, person, room)
}

/// `script` run by the bot's nu in a pseudo-terminal, as an operator runs it.
fn at_terminal(bot: &Bot, script: &str) -> Terminal {
    let name = unique_user("verify-tty");
    let dir = scratch(&name);
    let file = dir.join("script.nu");
    std::fs::write(&file, script).expect("write the script");
    let command = format!(
        "XDG_CONFIG_HOME='{config}' XDG_DATA_HOME='{config}/data' {nu} --no-config-file \
         --no-history --plugins '[{plugin}]' '{file}'",
        config = bot.config.display(),
        nu = nu_binary().display(),
        plugin = plugin_binary(),
        file = file.display(),
    );
    Terminal::start(&command, &dir.join("typescript"))
}

/// The emoji the terminal shows (`symbol` and name each), checked against the SDK's, in order:
/// what two people compare.
fn same_emoji_shown(terminal: &Terminal, theirs: &[(String, String)]) {
    terminal.wait_for("Do they match?", Duration::from_secs(60));
    let screen = terminal.screen();
    let shown = &screen[screen
        .rfind("Compare these emoji")
        .expect("the emoji are shown")..];
    assert_eq!(theirs.len(), 7, "{theirs:?}");
    let mut at = 0;
    for (symbol, _) in theirs {
        let found = shown[at..]
            .find(symbol.as_str())
            .unwrap_or_else(|| panic!("{symbol} not shown in order: {shown}"));
        at += found + symbol.len();
    }
    let mut at = 0;
    for (_, name) in theirs {
        let found = shown[at..]
            .find(name.as_str())
            .unwrap_or_else(|| panic!("{name} not shown in order: {shown}"));
        at += found + name.len();
    }
}

/// The record the command printed last (`to json -r`), from the screen.
fn printed_record(screen: &str) -> JsonValue {
    let line = screen
        .lines()
        .rev()
        .find(|line| line.trim_start().starts_with('{'))
        .unwrap_or_else(|| panic!("no record printed: {screen}"));
    serde_json::from_str(line.trim()).unwrap_or_else(|err| panic!("{err}: {line}"))
}

/// The bot verifies the person (the emoji compared and confirmed on both sides); the
/// command's record.
fn verify_person(bot: &Bot, person: &Peer) -> JsonValue {
    let mut theirs: Verifier = person.answer_verification(&bot.user_id, 120);
    let terminal = at_terminal(
        bot,
        &format!(
            "matrix e2ee verify {} --session bot | to json -r",
            person.user_id
        ),
    );
    let emoji = theirs.emoji();
    same_emoji_shown(&terminal, &emoji);
    terminal.type_keys(b"y");
    theirs.answer("confirm");
    let outcome = theirs.outcome();
    assert_eq!(outcome["outcome"], "done", "{outcome}");
    assert_eq!(
        outcome["verified"], true,
        "the SDK does not see the bot's identity verified: {outcome}"
    );
    let (success, screen) = terminal.finish(Duration::from_secs(60));
    assert!(success, "{screen}");
    printed_record(&screen)
}

/// Whether the signature of `signer`'s user-signing key on `user`'s master key checks out, as
/// the server holds them (`POST /keys/query` as `signer`, with a token of its own), checked
/// with vodozemac (Python) on the canonical JSON.
fn master_key_signed_by(user: &str, signer: &Bot) -> bool {
    let hs = synapse();
    let token = hs.login(&signer.user_id, &signer.password);
    let keys = hs.call(
        &token,
        "POST",
        "keys/query",
        &serde_json::json!({"device_keys": {user: [], signer.user_id.as_str(): []}}),
    );
    let master = keys["master_keys"][user].clone();
    let signing = &keys["user_signing_keys"][signer.user_id.as_str()]["keys"];
    let (key_id, public) = signing
        .as_object()
        .and_then(|keys| keys.iter().next())
        .map(|(id, key)| (id.clone(), key.as_str().unwrap_or_default().to_owned()))
        .expect("the signer's user-signing key");
    let Some(signature) = master["signatures"][signer.user_id.as_str()][&key_id].as_str() else {
        return false;
    };
    let check = r#"
import json, sys, vodozemac
master, public, signature = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
master.pop("signatures", None); master.pop("unsigned", None)
message = json.dumps(master, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
key = vodozemac.Ed25519PublicKey.from_base64(public)
try:
    key.verify_signature(message.encode(), vodozemac.Ed25519Signature.from_base64(signature))
    print("valid")
except Exception as err:
    print("invalid", err)
"#;
    let output = std::process::Command::new(root().join(".cache/nio-venv/bin/python"))
        .args(["-c", check, &master.to_string(), &public, signature])
        .output()
        .expect("python runs");
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    said.trim() == "valid"
}

/// The `verified` of the newest row of `room` from `sender`, as `matrix messages` gives it.
fn newest_verified(bot: &Bot, room: &str, sender: &str) -> JsonValue {
    let row = bot.json(&format!(
        "matrix messages '{room}' --session bot --limit 20 | where sender == '{sender}' | first"
    ));
    eprintln!("newest row of {sender}: {row}");
    row["verified"].clone()
}

#[test]
fn the_operator_verifies_a_person_by_their_emoji_and_then_trusts_them_everywhere() {
    let (bot, person, room) = bot_and_person("verifier");
    person.send(&room, "before");
    assert_eq!(newest_verified(&bot, &room, &person.user_id), false);
    assert!(!master_key_signed_by(&person.user_id, &bot));

    let record = verify_person(&bot, &person);
    assert_eq!(record["user_id"], person.user_id.as_str(), "{record}");
    assert_eq!(record["verified"], true, "{record}");
    let master = person.identity(&person.user_id)["master_key"].clone();
    assert_eq!(record["master_key"], master, "{record}");

    // Independently: the server holds the bot's signature on the person's master key.
    assert!(master_key_signed_by(&person.user_id, &bot));
    // The person's rows, from now on and before, say verified.
    person.send(&room, "after");
    assert_eq!(newest_verified(&bot, &room, &person.user_id), true);
    let devices = bot.json(&format!("matrix devices {} --session bot", person.user_id));
    let devices = devices.as_array().expect("a table");
    assert!(!devices.is_empty());
    assert!(
        devices.iter().all(|device| device["verified"] == true),
        "{devices:?}"
    );
}
