//! Emoji verification (SAS) between the bot and a person, against real parts: a real Synapse,
//! the real nu in a pseudo-terminal (the operator), and matrix-sdk 0.18, the SDK under Element
//! X, as the person (`tests/peer`). Both sides' emoji are compared by the test, as two people
//! would; what each side then trusts is read back from each side, and from the server.

mod support;

use std::time::Duration;

use serde_json::Value as JsonValue;

use support::bot::Bot;
use support::examples::example_text;
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
    // The command's own example, as `help` shows it.
    let asked = example_text(
        "matrix e2ee verify",
        "matrix e2ee verify @admin",
        &person.user_id,
    );
    let terminal = at_terminal(bot, &format!("{asked} | to json -r"));
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

/// The emoji compared on both sides and confirmed; the verification's end on both sides.
fn compare_and_confirm(terminal: Terminal, theirs: &mut Verifier) -> JsonValue {
    let emoji = theirs.emoji();
    same_emoji_shown(&terminal, &emoji);
    terminal.type_keys(b"y");
    theirs.answer("confirm");
    let (success, screen) = terminal.finish(Duration::from_secs(60));
    assert!(success, "{screen}");
    printed_record(&screen)
}

#[test]
fn a_person_verifies_the_bot_from_their_direct_room() {
    let (bot, person, room) = bot_and_person("asked");
    let from = example_text(
        "matrix e2ee verify",
        "matrix e2ee verify --from",
        &person.user_id,
    );
    let terminal = at_terminal(&bot, &format!("{from} --within 2min | to json -r"));
    terminal.wait_for("Waiting for", Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(2));
    let mut theirs = person.request_verification(&bot.user_id, &["room"], 120);
    let record = compare_and_confirm(terminal, &mut theirs);
    assert_eq!(record["user_id"], person.user_id.as_str(), "{record}");
    let outcome = theirs.outcome();
    assert_eq!(outcome["outcome"], "done", "{outcome}");
    assert_eq!(outcome["verified"], true, "{outcome}");
    assert!(master_key_signed_by(&person.user_id, &bot));
    // Their request, read again from the room later, is answered already: refused at once.
    let stale = at_terminal(
        &bot,
        &format!(
            "matrix messages '{room}' --session bot --limit 50 \
             | where msgtype? == m.key.verification.request | first \
             | matrix e2ee verify --session bot"
        ),
    );
    let (success, screen) = stale.finish(Duration::from_secs(30));
    assert!(!success, "{screen}");
    assert!(screen.contains("no longer open"), "{screen}");
}

#[test]
fn a_person_verifies_the_bot_device_to_device_from_a_listener_row() {
    let (bot, person, _room) = bot_and_person("todevice");
    let device = bot.ok("matrix whoami --session bot | get device_id");
    // Element sends the request to each of the bot's devices; it waits on the server.
    let mut theirs = person.request_verification(&bot.user_id, &["to-device", &device], 120);
    std::thread::sleep(Duration::from_secs(2));
    // A listener of one sync hears it; its row is answered once that listener has ended.
    let terminal = at_terminal(
        &bot,
        "let request = (matrix listen --verifications --once --session bot \
         | where type == m.key.verification.request | first); \
         $request | matrix e2ee verify --session bot | to json -r",
    );
    let record = compare_and_confirm(terminal, &mut theirs);
    assert_eq!(record["user_id"], person.user_id.as_str(), "{record}");
    let outcome = theirs.outcome();
    assert_eq!(outcome["outcome"], "done", "{outcome}");
    assert_eq!(outcome["verified"], true, "{outcome}");
    assert!(master_key_signed_by(&person.user_id, &bot));
}

/// The bot asks the person; the emoji shown on both sides; then `ours` typed at the terminal
/// and `their` answer given. The terminal's end and the person's outcome.
fn ended_with(ours: &[u8], their: Option<&str>) -> (Bot, Peer, (bool, String), JsonValue) {
    let (bot, person, _room) = bot_and_person("ended");
    let mut theirs = person.answer_verification(&bot.user_id, 120);
    let terminal = at_terminal(
        &bot,
        &format!(
            "matrix e2ee verify {} --session bot | to json -r",
            person.user_id
        ),
    );
    let emoji = theirs.emoji();
    same_emoji_shown(&terminal, &emoji);
    if let Some(answer) = their {
        theirs.answer(answer);
        std::thread::sleep(Duration::from_secs(2));
    }
    terminal.type_keys(ours);
    let end = terminal.finish(Duration::from_secs(60));
    let outcome = theirs.outcome();
    (bot, person, end, outcome)
}

#[test]
fn emoji_that_do_not_match_cancel_on_either_side_and_nothing_is_signed() {
    // The operator says they differ.
    let (bot, person, (success, screen), outcome) = ended_with(b"n", None);
    assert!(!success, "{screen}");
    assert!(screen.contains("The emoji did not match"), "{screen}");
    assert_eq!(outcome["outcome"], "cancelled", "{outcome}");
    assert_eq!(outcome["code"], "m.mismatched_sas", "{outcome}");
    assert_eq!(outcome["by_me"], false, "{outcome}");
    assert!(!master_key_signed_by(&person.user_id, &bot));
    assert_eq!(person.identity(&bot.user_id)["verified"], false);

    // The person says they differ.
    let (bot, person, (success, screen), outcome) = ended_with(b"y", Some("mismatch"));
    assert!(!success, "{screen}");
    assert!(screen.contains("cancelled the verification"), "{screen}");
    assert!(screen.contains("m.mismatched_sas"), "{screen}");
    assert_eq!(outcome["code"], "m.mismatched_sas", "{outcome}");
    assert_eq!(outcome["by_me"], true, "{outcome}");
    assert!(!master_key_signed_by(&person.user_id, &bot));
    assert_eq!(person.identity(&bot.user_id)["verified"], false);
}

#[test]
fn ctrl_c_at_the_emoji_cancels_with_m_user() {
    let (bot, person, (success, screen), outcome) = ended_with(b"\x03", None);
    assert!(!success, "{screen}");
    assert!(screen.contains("Verification cancelled"), "{screen}");
    assert_eq!(outcome["outcome"], "cancelled", "{outcome}");
    assert_eq!(outcome["code"], "m.user", "{outcome}");
    assert!(!master_key_signed_by(&person.user_id, &bot));
}

#[test]
fn a_request_nobody_accepts_times_out_and_the_person_is_told() {
    let (bot, person, _room) = bot_and_person("timeout");
    let theirs = person.ignore_verification(&bot.user_id, 60);
    let terminal = at_terminal(
        &bot,
        &format!(
            "matrix e2ee verify {} --session bot --within 3sec",
            person.user_id
        ),
    );
    let (success, screen) = terminal.finish(Duration::from_secs(60));
    assert!(!success, "{screen}");
    assert!(screen.contains("took too long"), "{screen}");
    assert!(screen.contains("m.timeout"), "{screen}");
    // The person's client heard the request, then its cancel for time.
    let outcome = theirs.outcome();
    assert_eq!(outcome["outcome"], "cancelled", "{outcome}");
    assert_eq!(outcome["code"], "m.timeout", "{outcome}");
}

#[test]
fn without_bootstrap_or_a_terminal_nothing_is_sent() {
    let bot = Bot::new("unsigned");
    let person = Peer::login(synapse(), "unsigned-admin", false);
    let room = person.create_dm(&bot.user_id);
    bot.ok(&format!("matrix join '{room}' --session bot | ignore"));
    let before = person.read(&room).len();
    let terminal = at_terminal(
        &bot,
        &format!("matrix e2ee verify {} --session bot", person.user_id),
    );
    let (success, screen) = terminal.finish(Duration::from_secs(60));
    assert!(!success, "{screen}");
    // Nushell wraps the help at the terminal's width.
    let folded = screen.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(folded.contains("matrix e2ee bootstrap"), "{screen}");
    assert!(folded.contains("nothing was sent"), "{screen}");
    // Said at the person, and a user ID checked before anything is shown.
    let run = bot.nu("matrix e2ee verify nobody --session bot");
    assert!(!run.success);
    assert!(
        run.stderr.contains("'nobody' is not a user ID"),
        "{}",
        run.stderr
    );
    // No terminal (a script run by cron): refused, with what to do.
    bot.ok("matrix e2ee bootstrap --session bot | ignore");
    let run = bot.nu(&format!(
        "matrix e2ee verify {} --session bot",
        person.user_id
    ));
    assert!(!run.success);
    assert!(
        run.stderr.contains("This needs a person at a terminal"),
        "{}",
        run.stderr
    );
    assert_eq!(person.read(&room).len(), before, "a request was sent");
}

#[test]
fn a_verified_person_whose_identity_changes_is_distrusted_until_verified_again() {
    let (bot, person, room) = bot_and_person("reset");
    verify_person(&bot, &person);
    person.send(&room, "trusted");
    assert_eq!(newest_verified(&bot, &room, &person.user_id), true);

    // Their account's identity is reset (or taken over).
    person.reset_identity();
    // Said at once, before anything else made the device look.
    let changed = bot.json("matrix e2ee status --session bot | get identity_changed");
    assert_eq!(changed, serde_json::json!([person.user_id]), "{changed}");
    person.send(&room, "after the reset");
    let row = bot.json(&format!(
        "matrix messages '{room}' --session bot --limit 5 | where sender == '{}' | first",
        person.user_id
    ));
    assert_eq!(row["body"], "after the reset", "{row}");
    assert_eq!(row["verified"], false, "{row}");
    assert!(
        row["authenticity"]
            .as_str()
            .is_some_and(|words| words.contains("changed since it was verified")),
        "{row}"
    );
    let changed = bot.json("matrix e2ee status --session bot | get identity_changed");
    assert_eq!(changed, serde_json::json!([person.user_id]), "{changed}");

    // Keys only for verified people: none for them now.
    let shared = "$env.config.plugins.matrix = {e2ee_share: verified}";
    bot.ok(&format!(
        "{shared}; matrix send '{room}' 'for the verified only' --session bot | ignore"
    ));
    let read = person.read(&room);
    assert_eq!(read.first(), Some(&None), "they read it: {read:?}");

    // Withdrawing the verification ends the warning, not the distrust.
    let distrusted = example_text("matrix devices", "matrix devices @admin", &person.user_id);
    let distrusted = bot.json(&distrusted);
    assert_eq!(distrusted.as_array().map(Vec::len), Some(1), "{distrusted}");
    bot.ok(&format!(
        "{} | ignore",
        example_text(
            "matrix e2ee withdraw",
            "matrix e2ee status",
            &person.user_id
        )
    ));
    let changed = bot.json("matrix e2ee status --session bot | get identity_changed");
    assert_eq!(changed, serde_json::json!([]), "{changed}");
    assert_eq!(newest_verified(&bot, &room, &person.user_id), false);
    let again = bot.nu(&format!(
        "matrix e2ee withdraw {} --session bot",
        person.user_id
    ));
    assert!(
        !again.success && again.stderr.contains("Nothing to withdraw"),
        "{}",
        again.stderr
    );

    // Verifying again restores trust, and keys flow again.
    verify_person(&bot, &person);
    person.send(&room, "trusted again");
    assert_eq!(newest_verified(&bot, &room, &person.user_id), true);
    bot.ok(&format!(
        "{shared}; matrix send '{room}' 'for the verified again' --session bot | ignore"
    ));
    let read = person.read(&room);
    assert_eq!(
        read.first(),
        Some(&Some("for the verified again".to_owned())),
        "{read:?}"
    );
}

/// The block of docs/bots.md under the heading `heading`.
fn recipe(heading: &str) -> String {
    let guide = std::fs::read_to_string(root().join("docs/bots.md")).expect("docs/bots.md");
    let after = &guide[guide.find(heading).expect("the recipe's heading")..];
    let start = after.find("```nu\n").expect("a nu block") + "```nu\n".len();
    let end = start + after[start..].find("```").expect("the block's end");
    after[start..end].to_owned()
}

#[test]
fn the_bot_that_obeys_only_verified_admins_answers_the_verified_one_alone() {
    let (bot, admin, room) = bot_and_person("obeys");
    verify_person(&bot, &admin);
    // Another person, in a DM of their own, cross-signed but not verified by the bot.
    let stranger = Peer::login(synapse(), "obeys-stranger", false);
    let other = stranger.create_dm(&bot.user_id);
    bot.ok(&format!("matrix join '{other}' --session bot | ignore"));
    let script = recipe("### A bot that obeys only verified admins")
        .replace("@admin:example.org", &admin.user_id);
    let mut command = support::nu_command();
    command
        .env("XDG_CONFIG_HOME", &bot.config)
        .env("XDG_DATA_HOME", bot.config.join("data"))
        .arg("-c")
        .arg(&script);
    let mut running = support::Running::spawn(command);
    std::thread::sleep(Duration::from_secs(4));
    stranger.send(&other, "!ping");
    admin.send(&room, "!ping");
    let answered = |peer: &Peer, room: &str| {
        peer.read(room)
            .iter()
            .any(|body| body.as_deref() == Some("pong"))
    };
    let until = std::time::Instant::now() + Duration::from_secs(30);
    while !answered(&admin, &room) {
        assert!(
            std::time::Instant::now() < until,
            "the verified admin got no pong"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        !answered(&stranger, &other),
        "an unverified person was obeyed"
    );
    assert!(!running.has_ended(), "the bot stopped");
    running.interrupt();
}

#[path = "../examples/verify.rs"]
mod verify_example;

#[test]
fn the_rust_example_verifies_a_person_and_the_person_sees_it() {
    let hs = synapse();
    let localpart = unique_user("libbot");
    let password = format!("pw-{localpart}-3");
    let bot = hs.register(&localpart, &password);
    let person = Peer::login(hs, "lib-admin", false);
    // Their direct room, which the bot's account joined.
    let room = person.create_dm(&bot);
    let token = hs.login(&bot, &password);
    hs.call(
        &token,
        "POST",
        &format!("join/{room}"),
        &serde_json::json!({}),
    );
    let mut theirs = person.answer_verification(&bot, 120);
    let theirs_emoji = std::sync::Arc::new(std::sync::Mutex::new(None));
    let store = scratch(&format!("{localpart}-store"));
    let mut shown = Vec::new();
    let verified = std::thread::scope(|scope| {
        let peer = scope.spawn(|| {
            let emoji = theirs.emoji();
            *theirs_emoji.lock().unwrap() = Some(emoji);
            theirs.answer("confirm");
            theirs.outcome()
        });
        let mut compare = |sas: &nu_plugin_matrix::e2ee::ShortAuth| {
            shown = sas.emoji.clone();
            // The person's emoji, once their side has them.
            let until = std::time::Instant::now() + Duration::from_secs(30);
            while theirs_emoji.lock().unwrap().is_none() && std::time::Instant::now() < until {
                std::thread::sleep(Duration::from_millis(100));
            }
            theirs_emoji.lock().unwrap().as_ref() == Some(&sas.emoji)
        };
        let verified = verify_example::verify(
            (
                &bot,
                &hs.url,
                nu_plugin_matrix::Password::new(password.clone()),
            ),
            &person.user_id,
            &store,
            &mut compare,
        );
        let outcome = peer.join().expect("the person's side");
        assert_eq!(outcome["outcome"], "done", "{outcome}");
        assert_eq!(outcome["verified"], true, "{outcome}");
        verified
    });
    let verified = verified.unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(verified.user_id, person.user_id);
    assert_eq!(shown.len(), 7);
}
