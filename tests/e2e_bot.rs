//! The Rust bot (examples/echo_bot.rs, the library's bot API) against a real Synapse, with a
//! matrix-nio user as the person in an encrypted direct chat: its saved session made by the
//! real nu (`matrix login --save`), the bot a process of its own, killed with SIGKILL in the
//! middle of a burst by the test.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value as JsonValue, json};
use support::bot::{Bot, dm};
use support::nio::Nio;
use support::{Running, keyring, synapse};

/// The example's binary, built by `cargo test` beside the plugin's.
fn echo_bot_binary() -> PathBuf {
    let bin = std::path::Path::new(support::plugin_binary())
        .parent()
        .expect("the target folder")
        .join("examples/echo_bot");
    assert!(
        bin.is_file(),
        "{} is missing: `cargo test` builds the examples (or `cargo build --examples`)",
        bin.display()
    );
    bin
}

/// The Rust bot running as `bot`'s saved session `bot`, listening.
fn start(bot: &Bot) -> Running {
    let mut command = Command::new(echo_bot_binary());
    command
        .arg("bot")
        .env("XDG_CONFIG_HOME", &bot.config)
        .env("XDG_DATA_HOME", bot.config.join("data"))
        .env("DBUS_SESSION_BUS_ADDRESS", keyring::NO_BUS)
        .env("no_proxy", "127.0.0.1,localhost");
    let mut running = Running::spawn(command);
    running.line_with("echo_bot: listening", Duration::from_secs(30));
    running
}

/// The bot's answers in nio's log: replies by the event they reply to, reactions by the event
/// they react to (each a list: more than one is a repeat sent twice).
fn answers(rows: &[JsonValue], bot: &str) -> (AnswersTo, AnswersTo) {
    let (mut replies, mut reactions) = (AnswersTo::new(), AnswersTo::new());
    for row in rows.iter().filter(|row| row["sender"] == bot) {
        let relates = &row["content"]["m.relates_to"];
        if let Some(to) = relates["m.in_reply_to"]["event_id"].as_str() {
            replies.entry(to.to_owned()).or_default().push(row.clone());
        } else if relates["rel_type"] == "m.annotation" {
            let to = relates["event_id"].as_str().expect("a reaction's event");
            reactions
                .entry(to.to_owned())
                .or_default()
                .push(row.clone());
        }
    }
    (replies, reactions)
}

type AnswersTo = BTreeMap<String, Vec<JsonValue>>;

/// The `!ping`s nio sent.
fn pings(rows: &[JsonValue], nio: &Nio) -> Vec<String> {
    rows.iter()
        .filter(|row| row["sender"] == nio.user_id.as_str() && row["body"] == "!ping")
        .map(|row| row["event_id"].as_str().expect("an event ID").to_owned())
        .collect()
}

#[test]
fn the_rust_bot_answers_in_an_encrypted_dm_and_goes_on_after_a_failed_answer() {
    let hs = synapse();
    let bot = Bot::new("rustbot");
    let nio = Nio::login(hs, "rustbotnio");
    let room = dm(&bot, &nio);
    // A room where the bot may not post: its answer there fails.
    let human = hs.register(&support::unique_user("readonly"), "pw-Rb-1");
    let human_token = hs.login(&human, "pw-Rb-1");
    let read_only = hs.call(
        &human_token,
        "POST",
        "createRoom",
        &json!({"name": "Read-only", "invite": [bot.user_id],
                "power_level_content_override": {"events_default": 100}}),
    )["room_id"]
        .as_str()
        .expect("a room")
        .to_owned();
    let mut running = start(&bot);
    // The invitation is joined by the bot itself.
    running.line_with(&format!("joined {read_only}"), Duration::from_secs(30));
    hs.send_text(&human_token, &read_only, "!ping");
    let failed = running.line_with("could not answer", Duration::from_secs(30));
    assert!(failed.contains("M_FORBIDDEN"), "{failed}");
    assert!(!running.has_ended(), "the bot ended at its failure");

    nio.send(&room, "!ping");
    // Sent at once (a later send would find nothing new to sync, and nio forgets its rooms).
    let report = nio.send(&room, "!report");
    let rows = nio.read_until(&room, "report.json", 60);
    let ping = pings(&rows, &nio).pop().expect("nio's !ping");
    let (replies, reactions) = answers(&rows, &bot.user_id);
    let pong = &replies.get(&ping).expect("a reply to the !ping")[0];
    assert_eq!(pong["body"], "pong");
    assert_eq!(pong["decrypted"], true, "sent encrypted: {pong}");
    assert_eq!(pong["content"]["msgtype"], "m.notice");
    // The reaction may come in a later sync than the reply.
    let started = Instant::now();
    let mut reactions = reactions;
    while !reactions.contains_key(&ping) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no 👀 on the !ping"
        );
        reactions = answers(&nio.log(&room), &bot.user_id).1;
    }
    let reaction = &reactions[&ping][0];
    assert_eq!(reaction["content"]["m.relates_to"]["key"], "👀");
    assert_eq!(reaction["type"], "m.reaction", "decrypted: {reaction}");

    // `!report`: a file, encrypted, as a reply.
    let (replies, _) = answers(&rows, &bot.user_id);
    let file = &replies.get(&report).expect("a reply to the !report")[0];
    assert!(file["content"]["file"].is_object(), "encrypted: {file}");
    assert_eq!(file["content"]["body"], "report.json");
    let bytes = nio.download(&room, file["event_id"].as_str().expect("an ID"));
    let said: JsonValue = serde_json::from_slice(&bytes).expect("the report's JSON");
    assert_eq!(said["asked_by"], nio.user_id.as_str());
    assert_eq!(said["encrypted"], true);
    running.signal("TERM");
}

#[test]
fn the_rust_bot_killed_twice_in_a_burst_answers_every_ping_once() {
    const BURST: usize = 24;
    let hs = synapse();
    let bot = Bot::new("rustkill");
    let nio = Nio::login(hs, "rustkillnio");
    let room = dm(&bot, &nio);
    let mut running = start(&bot);
    // Sent while the bot answers; it is killed twice, each time a few answers in.
    let sender = std::thread::spawn({
        let (nio, room) = (nio.clone(), room.clone());
        move || nio.send_same(&room, BURST as u32, "!ping")
    });
    for kill in 0..2 {
        running.line_with("answered !ping", Duration::from_secs(60));
        running.line_with("answered !ping", Duration::from_secs(60));
        running.signal("KILL");
        let _ = running.finish(Duration::from_secs(10));
        eprintln!("kill {kill}: killed after two answers");
        running = start(&bot);
    }
    sender.join().expect("the burst");
    // Until every !ping has its answers (from the last run).
    let started = Instant::now();
    let (rows, replies, reactions) = loop {
        let rows = nio.log(&room);
        let (replies, reactions) = answers(&rows, &bot.user_id);
        let sent = pings(&rows, &nio);
        let done = sent.len() == BURST
            && sent
                .iter()
                .all(|ping| replies.contains_key(ping) && reactions.contains_key(ping));
        if done {
            break (rows, replies, reactions);
        }
        if started.elapsed() > Duration::from_secs(120) {
            running.signal("TERM");
            let last = running.finish(Duration::from_secs(10));
            panic!(
                "{} of {BURST} pings answered; the last run said:\n{}",
                sent.iter()
                    .filter(|ping| replies.contains_key(*ping))
                    .count(),
                last.stderr
            );
        }
    };
    for ping in pings(&rows, &nio) {
        assert_eq!(
            replies[&ping].len(),
            1,
            "one reply to {ping}: {:?}",
            replies[&ping]
        );
        assert_eq!(reactions[&ping].len(), 1, "one 👀 on {ping}");
    }
    running.signal("TERM");
}

#[test]
fn the_library_guide_shows_the_echo_bot_as_it_is() {
    let guide = std::fs::read_to_string(support::root().join("docs/library.md")).expect("guide");
    let example =
        std::fs::read_to_string(support::root().join("examples/echo_bot.rs")).expect("example");
    let example: Vec<&str> = example.lines().map(str::trim).collect();
    let marker = "<!-- docs-test: the echo bot's heart, in examples/echo_bot.rs -->\n```rust\n";
    let blocks: Vec<&str> = guide
        .split(marker)
        .skip(1)
        .map(|rest| rest.split("\n```").next().expect("a block"))
        .collect();
    assert_eq!(blocks.len(), 2, "the guide's two blocks of the echo bot");
    for line in blocks.iter().flat_map(|block| block.lines()) {
        assert!(
            example.contains(&line.trim()),
            "docs/library.md shows a line examples/echo_bot.rs does not have: {line}"
        );
    }
}
