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
use support::peer::Peer;
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

#[test]
fn a_key_only_in_the_backup_is_looked_up_once_per_session_and_marked_so() {
    let bot = Bot::new("inbackup");
    let nio = Nio::login(synapse(), "inbackup-nio");
    let room = dm(&bot, &nio);
    let key =
        bot.ok("matrix e2ee bootstrap --session bot | get recovery_key | matrix token reveal");
    // Three messages under one room key, which only the first device gets.
    nio.send_many(&room, 3);
    // The bot's second device, made and recovered before the first device backs that key up.
    bot.login("bot2", "");
    bot.ok(&format!(
        "'{key}' | matrix e2ee recover --session bot2 | ignore"
    ));
    // The first device reads them, and backs their key up.
    let first = bot.json(&format!(
        "matrix messages '{room}' --session bot | get body"
    ));
    assert_eq!(first.as_array().map(Vec::len), Some(3), "{first}");
    // Synapse's access log: each request, by whom.
    let log = synapse().dir.join("homeserver.log");
    let lookups = || {
        std::fs::read_to_string(&log)
            .expect("Synapse's log")
            .lines()
            .filter(|line| {
                line.contains(&format!("{{{}}}", bot.user_id))
                    && line.contains("\"GET /_matrix/client/v3/room_keys/keys/!")
            })
            .count()
    };
    let before = lookups();
    let rows = bot.json(&format!(
        "matrix messages '{room}' --session bot2 | select body decrypt_error verified authenticity"
    ));
    let rows = rows.as_array().expect("rows");
    assert_eq!(rows.len(), 3, "{rows:?}");
    for row in rows {
        assert!(
            row["body"]
                .as_str()
                .is_some_and(|body| body.starts_with("burst")),
            "{row}"
        );
        assert_eq!(row["verified"], false, "{row}");
        let why = row["authenticity"].as_str().unwrap_or_default();
        assert!(why.contains("key backup"), "{row}");
    }
    assert_eq!(
        lookups() - before,
        1,
        "one backup request for the one session"
    );
    // Read again: the key is the device's own now, nothing is asked.
    bot.ok(&format!("matrix messages '{room}' --session bot2 | ignore"));
    assert_eq!(lookups() - before, 1, "the backup asked again");
}

#[test]
fn a_key_withheld_from_a_device_not_cross_signed_says_so_and_bootstrap_is_the_way_out() {
    let bot = Bot::new("withheld");
    bot.ok("matrix e2ee status --session bot | ignore");
    // Element X in "exclude insecure devices" mode.
    let strict = Peer::login(synapse(), "strict", true);
    let room = strict.create_room(&[&bot.user_id]);
    bot.ok(&format!("matrix join '{room}' --session bot | ignore"));
    strict.send(&room, "not for devices their owner did not sign");
    let rows = bot.json(&format!(
        "matrix messages '{room}' --session bot | select type decrypt_error"
    ));
    let why = rows[0]["decrypt_error"].as_str().unwrap_or_default();
    assert!(why.contains("withheld"), "{rows}");
    assert!(why.contains("matrix e2ee bootstrap"), "{rows}");
    assert_eq!(rows[0]["type"], "m.room.encrypted", "{rows}");
    // The way out the row gives.
    bot.ok("matrix e2ee bootstrap --session bot | ignore");
    strict.send(&room, "for a cross-signed device");
    let bodies = bot.json(&format!(
        "matrix messages '{room}' --session bot | where decrypt_error == null | get body"
    ));
    assert_eq!(bodies, serde_json::json!(["for a cross-signed device"]));
}

#[test]
fn the_history_an_inviter_shares_is_read_after_joining_from_the_invitation_row() {
    let bot = Bot::new("history");
    // matrix-sdk shares history only with devices their owner cross-signed.
    bot.ok("matrix e2ee bootstrap --session bot | ignore");
    let inviter = Peer::login(synapse(), "inviter", false);
    let room = inviter.create_room(&[]);
    inviter.send(&room, "history one");
    inviter.send(&room, "history two");
    // matrix-sdk shares the room's history with the bot as it invites it (MSC4268).
    inviter.invite(&room, &bot.user_id);
    // As a bot joins: the invitation row of its listener (a device with a store: it decrypts).
    bot.ok(
        "matrix listen --invites --once --session bot | where type == invite | first | matrix join --session bot | ignore",
    );
    let rows = bot.json(&format!(
        "matrix messages '{room}' --session bot | select body decrypt_error authenticity"
    ));
    let bodies: Vec<&str> = rows
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|row| row["body"].as_str())
        .collect();
    assert_eq!(bodies, ["history two", "history one"], "{rows}");
    assert!(
        rows[0]["authenticity"]
            .as_str()
            .is_some_and(|why| why.contains("did not come from the sender")),
        "{rows}"
    );
    // Joined by room ID, not from the row: the inviter is asked of the server.
    let other = inviter.create_room(&[]);
    inviter.send(&other, "history three");
    inviter.invite(&other, &bot.user_id);
    bot.ok(&format!("matrix join '{other}' --session bot | ignore"));
    let bodies = bot.json(&format!(
        "matrix messages '{other}' --session bot | get body"
    ));
    assert_eq!(bodies, serde_json::json!(["history three"]));
}

#[test]
fn a_key_only_another_own_device_has_is_asked_for_and_comes_from_it() {
    let bot = Bot::new("askkey");
    let nio = Nio::login(synapse(), "askkey-nio");
    let room = dm(&bot, &nio);
    let key =
        bot.ok("matrix e2ee bootstrap --session bot | get recovery_key | matrix token reveal");
    // matrix-sdk logged in as the bot, cross-signed with the recovery key: Element X of the
    // bot's operator.
    let element = Peer::login_as(synapse(), &bot.user_id, &bot.password, &key);
    nio.send(&room, "only the other devices have it");
    // No backup to find it in: only a key request can bring it to a new device.
    let version =
        bot.ok("matrix api /_matrix/client/v3/room_keys/version --session bot | get version");
    bot.ok(&format!(
        "matrix api /_matrix/client/v3/room_keys/version/{version} --method DELETE --session bot | ignore"
    ));
    bot.login("bot2", "");
    bot.ok(&format!(
        "'{key}' | matrix e2ee recover --session bot2 | ignore"
    ));
    let mut serving = element.serve(60);
    let started = Instant::now();
    let row = loop {
        let rows = bot.json(&format!(
            "matrix messages '{room}' --session bot2 | select body decrypt_error authenticity"
        ));
        if rows[0]["decrypt_error"].is_null() || started.elapsed() > Duration::from_secs(45) {
            break rows[0].clone();
        }
        std::thread::sleep(Duration::from_secs(2));
    };
    let _ = serving.kill();
    let _ = serving.wait();
    assert_eq!(row["body"], "only the other devices have it", "{row}");
    assert!(
        row["authenticity"]
            .as_str()
            .is_some_and(|why| why.contains("did not come from the sender")),
        "{row}"
    );
}

#[test]
fn an_invitation_through_matrix_api_shares_the_rooms_history_unless_turned_off() {
    let bot = Bot::new("sharer");
    // History goes only to devices their owner cross-signed, from a user with cross-signing.
    bot.ok("matrix e2ee bootstrap --session bot | ignore");
    let create = "matrix api /_matrix/client/v3/createRoom --data {preset: private_chat, initial_state: [{type: m.room.encryption, state_key: '', content: {algorithm: m.megolm.v1.aes-sha2}}]} --session bot | get room_id";
    for share in [true, false] {
        let guest = Peer::login(synapse(), "guest", false);
        let room = bot.ok(create);
        let settings = format!("$env.config.plugins.matrix = {{share_history: {share}}}");
        bot.ok(&format!(
            "{settings}; matrix send '{room}' 'said before' --session bot | ignore; matrix api /_matrix/client/v3/rooms/{room}/invite --data {{user_id: '{}'}} --session bot | ignore",
            guest.user_id
        ));
        guest.join(&room);
        let read = guest.read(&room);
        let said = Some("said before".to_owned());
        assert_eq!(
            read.contains(&said),
            share,
            "share_history {share}: {read:?}"
        );
    }
}

#[test]
fn a_key_grace_out_of_range_is_refused_at_the_flag() {
    let bot = Bot::new("grace");
    for grace in ["20min", "-1sec"] {
        let run = bot.nu(&format!(
            "matrix listen --session bot --key-grace {grace} --once"
        ));
        assert!(!run.success, "{grace}");
        let said = run.stderr_folded();
        assert!(said.contains("The key grace is out of range"), "{said}");
        assert!(said.contains("between 0sec and 10min"), "{said}");
    }
    let none = bot.nu("matrix listen --session bot --key-grace 0sec --once | length");
    assert!(none.success, "{}", none.stderr);
}

#[test]
fn a_key_request_from_another_users_device_is_not_answered() {
    let bot = Bot::new("keeper");
    let nio = Nio::login(synapse(), "keeper-nio");
    let room = dm(&bot, &nio);
    let event_id = nio.send(&room, "for the bot only");
    bot.ok(&format!("matrix messages '{room}' --session bot | ignore"));
    let raw = bot.json(&format!(
        "matrix api '/_matrix/client/v3/rooms/{room}/event/{event_id}' --session bot | get content"
    ));
    let key = (
        raw["session_id"].as_str().expect("a session"),
        raw["sender_key"].as_str().expect("a sender key"),
    );
    // A stranger asks the bot's device for that key while its listener runs.
    let mut listener = bot.listen("");
    let stranger = Nio::login(synapse(), "stranger");
    let answers = stranger.ask_key(&bot.user_id, &room, key, 8);
    assert_eq!(
        answers, 0,
        "the bot's device answered another user's key request"
    );
    // The listener was up and taking to-device events all along.
    nio.send(&room, "still listening");
    listener.line_with("still listening", Duration::from_secs(20));
}

#[test]
fn a_join_by_id_publishes_the_keys_and_senders_are_judged_from_their_keys() {
    let bot = Bot::new("byid");
    let nio = Nio::login(synapse(), "byid-nio");
    let room = nio.create_dm(&bot.user_id);
    // A script's join by ID, nothing else before the person writes.
    bot.ok(&format!("matrix join '{room}' --session bot | ignore"));
    nio.send(&room, "right after the join");
    let rows = bot.json(&format!(
        "matrix messages '{room}' --session bot | select body verified authenticity"
    ));
    assert_eq!(rows[0]["body"], "right after the join", "{rows}");
    // nio's device is known (its keys asked for before decrypting), and not cross-signed.
    assert_eq!(rows[0]["verified"], false, "{rows}");
    assert_eq!(
        rows[0]["authenticity"], "sent by a device its owner has not verified",
        "{rows}"
    );
}

#[test]
fn a_reset_backs_the_room_keys_up_into_the_new_backup() {
    let bot = Bot::new("rebackup");
    let nio = Nio::login(synapse(), "rebackup-nio");
    let room = dm(&bot, &nio);
    nio.send(&room, "before the reset");
    bot.ok(&format!("matrix messages '{room}' --session bot | ignore"));
    bot.ok("matrix e2ee bootstrap --session bot | ignore");
    let version =
        bot.ok("$env.PW | matrix e2ee bootstrap --session bot --reset | get backup_version");
    let rooms = bot.json(&format!(
        "matrix api /_matrix/client/v3/room_keys/keys --query {{version: '{version}'}} --session bot | get rooms | columns"
    ));
    assert_eq!(
        rooms,
        serde_json::json!([room]),
        "the new backup holds the room's keys"
    );
}
