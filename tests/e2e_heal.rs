//! Undecryptable messages healed as Element X heals them, against real parts: a room key that
//! comes late (held by `matrix listen`, rows after it flowing on), a key only in the key
//! backup, a key asked of the account's other device (matrix-sdk logged in as the bot), a key
//! withheld by matrix-sdk in "exclude insecure devices" mode, and the history an inviter shares
//! (MSC4268). matrix-nio and matrix-sdk are the other people.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value as JsonValue;

use support::bot::{Bot, dm, row_of};
use support::nio::Nio;
use support::synapse;

/// The rows a listener printed (one JSON line each, on stderr) up to one whose body is `body`.
fn rows_until(listener: &mut support::Running, body: &str, within: Duration) -> Vec<JsonValue> {
    let mut rows = Vec::new();
    let until = Instant::now() + within;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let line = listener.line_with("\"room_id\"", left);
        let row = row_of(&line);
        let done = row["body"] == body;
        rows.push(row);
        if done {
            return rows;
        }
    }
}

fn bodies(rows: &[JsonValue]) -> Vec<String> {
    rows.iter()
        .map(|row| row["body"].as_str().unwrap_or("<none>").to_owned())
        .collect()
}

#[test]
fn a_late_key_holds_its_event_while_later_rows_flow_then_it_comes_once_decrypted() {
    let bot = Bot::new("late");
    let (nio, talker) = (
        Nio::login(synapse(), "late-nio"),
        Nio::login(synapse(), "talker"),
    );
    // Two people: nio knows only the rooms its last run heard of.
    let (slow, other) = (dm(&bot, &nio), dm(&bot, &talker));
    let mut listener = bot.listen("--key-grace 30sec");
    let (late_id, mut sharing) = nio.send_late(&slow, "late one", 8);
    let sent_at = Instant::now();
    talker.send(&other, "after it");
    let first = rows_until(&mut listener, "after it", Duration::from_secs(20));
    assert!(
        sent_at.elapsed() < Duration::from_secs(8),
        "the row after the held one came only after the key: {first:?}"
    );
    assert!(
        !bodies(&first).contains(&"late one".to_owned()),
        "the event without its key was handed out before its key came: {first:?}"
    );
    let then = rows_until(&mut listener, "late one", Duration::from_secs(30));
    let late = then.last().expect("a row");
    assert_eq!(late["event_id"], late_id.as_str(), "{late}");
    assert_eq!(late["decrypt_error"], JsonValue::Null, "{late}");
    assert_eq!(late["encrypted"], true, "{late}");
    assert!(sharing.wait().expect("nio ends").success());
    // Once: nothing more of it comes.
    talker.send(&other, "last");
    let rest = rows_until(&mut listener, "last", Duration::from_secs(20));
    assert!(
        !rest.iter().any(|row| row["event_id"] == late_id.as_str()),
        "the late event came twice: {rest:?}"
    );
}

#[test]
fn a_key_later_than_the_grace_gives_the_error_then_the_event_again_decrypted() {
    let bot = Bot::new("later");
    let nio = Nio::login(synapse(), "later-nio");
    let room = dm(&bot, &nio);
    let mut listener = bot.listen("--key-grace 2sec");
    let (late_id, mut sharing) = nio.send_late(&room, "very late", 8);
    let line = listener.line_with(&late_id, Duration::from_secs(20));
    let given_up = row_of(&line);
    let why = given_up["decrypt_error"].as_str().unwrap_or_default();
    assert!(why.contains("missing room key"), "{given_up}");
    assert_eq!(given_up["type"], "m.room.encrypted", "{given_up}");
    assert!(sharing.wait().expect("nio ends").success());
    let again = rows_until(&mut listener, "very late", Duration::from_secs(30));
    let healed = again.last().expect("a row");
    assert_eq!(healed["event_id"], late_id.as_str(), "{healed}");
    assert_eq!(healed["decrypt_error"], JsonValue::Null, "{healed}");
}

#[test]
fn a_listener_killed_while_an_event_is_held_delivers_it_on_the_next_run() {
    for ack in [false, true] {
        let bot = Bot::new(if ack { "held-ack" } else { "held" });
        let (nio, talker) = (
            Nio::login(synapse(), "held-nio"),
            Nio::login(synapse(), "talk"),
        );
        let (slow, other) = (dm(&bot, &nio), dm(&bot, &talker));
        let flags = if ack {
            "--since saved --key-grace 1min --ack | each {|r| $r | matrix listen ack; $r }"
        } else {
            "--since saved --key-grace 1min"
        };
        // A first run keeps where it got.
        let mut first = bot.listen(flags);
        talker.send(&other, "before");
        rows_until(&mut first, "before", Duration::from_secs(20));
        let (late_id, mut sharing) = nio.send_late(&slow, "held then killed", 6);
        talker.send(&other, "while held");
        let seen = rows_until(&mut first, "while held", Duration::from_secs(20));
        assert!(
            !bodies(&seen).contains(&"held then killed".to_owned()),
            "{seen:?}"
        );
        std::thread::sleep(Duration::from_millis(1500));
        first.signal("KILL");
        let _ = first.finish(Duration::from_secs(10));
        assert!(sharing.wait().expect("nio ends").success());
        let mut second = bot.listen(flags);
        let rows = rows_until(&mut second, "held then killed", Duration::from_secs(30));
        let held = rows.last().expect("a row");
        assert_eq!(held["event_id"], late_id.as_str(), "ack {ack}: {held}");
        assert_eq!(held["decrypt_error"], JsonValue::Null, "ack {ack}: {held}");
        drop(second);
    }
}
