//! `matrix listen` in the real nu against a real Synapse: messages another user sends (straight
//! to Synapse's API) come out as rows in order; a saved session goes on where it stopped; the
//! stream stays up across a Synapse restart; Ctrl-C and `first` end it; a refused token ends it
//! with an error; a rate limit is waited out (a loopback server that answers 429 once).

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value as JsonValue, json};
use support::{Running, Synapse, http, nu_cfg, scratch, synapse, unique_user};

const PW: &str = "pw-Listen-1";

/// A bot with a saved session `bot`, and a room it shares with a human who writes to it.
struct Room {
    config: PathBuf,
    bot: String,
    human_token: String,
    room_id: String,
}

fn room_on(hs: &Synapse, name: &str) -> Room {
    let bot = hs.register(&unique_user("listenbot"), PW);
    let human = hs.register(&unique_user("human"), PW);
    let bot_token = hs.login(&bot, PW);
    let human_token = hs.login(&human, PW);
    let room_id = hs.call(
        &bot_token,
        "POST",
        "createRoom",
        &json!({"name": "Listen room", "invite": [human]}),
    )["room_id"]
        .as_str()
        .expect("a room")
        .to_owned();
    hs.call(&human_token, "POST", &format!("join/{room_id}"), &json!({}));
    let config = scratch(&format!("listen-{name}"));
    let run = nu_cfg(
        &format!(
            "$env.PW | matrix login {bot} -H {} --save bot | ignore",
            hs.url
        ),
        &config,
        PW,
    );
    assert!(run.success, "{}", run.stderr);
    Room {
        config,
        bot,
        human_token,
        room_id,
    }
}

fn json_of(text: &str) -> JsonValue {
    serde_json::from_str(text.trim()).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

/// The bodies of a JSON table of rows.
fn bodies(rows: &JsonValue) -> Vec<String> {
    rows.as_array()
        .expect("a table")
        .iter()
        .map(|row| row["body"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Runs `script` with the room's config and waits for it.
fn nu_in(room: &Room, script: &str) -> support::NuRun {
    let run = nu_cfg(script, &room.config, PW);
    assert!(run.success, "`{script}`: {}", run.stderr);
    run
}

fn start_in(room: &Room, script: &str) -> Running {
    Running::start(script, |command| {
        command
            .env("XDG_CONFIG_HOME", &room.config)
            .env("XDG_DATA_HOME", room.config.join("data"));
    })
}

#[test]
fn messages_sent_while_listening_come_in_order_with_their_fields() {
    let hs = synapse();
    let room = room_on(hs, "order");
    // The position of "now", kept, so that nothing sent from here on can be missed.
    nu_in(
        &room,
        "matrix listen --session bot --since saved --once | length",
    );
    let nu = start_in(
        &room,
        "matrix listen --session bot --since saved --limit 3 | to json --raw",
    );
    std::thread::sleep(Duration::from_millis(500));
    let mut sent = Vec::new();
    for body in ["first", "second", "third"] {
        sent.push(hs.send_text(&room.human_token, &room.room_id, body));
    }
    // The bot's own message is left out.
    let bot_token = hs.login(&room.bot, PW);
    hs.send_text(&bot_token, &room.room_id, "my own");
    let run = nu.finish(Duration::from_secs(30));
    assert!(run.success, "{}", run.stderr);
    let rows = json_of(&run.stdout);
    assert_eq!(bodies(&rows), ["first", "second", "third"]);
    let row = &rows[0];
    assert_eq!(row["room_id"], room.room_id.as_str());
    assert_eq!(row["room"], "Listen room");
    assert_eq!(row["type"], "m.room.message");
    assert_eq!(row["msgtype"], "m.text");
    assert_eq!(row["event_id"], sent[0].as_str());
    assert_eq!(row["content"]["body"], "first");
    assert!(row["sender"].as_str().unwrap().starts_with("@human"));
    assert!(row["time"].as_str().unwrap().starts_with("20"), "{row}");

    // --own: the bot's own messages too.
    let run = nu_in(
        &room,
        &format!(
            "matrix listen --session bot --since saved --once --own {} | get body | to json --raw",
            room.room_id
        ),
    );
    assert_eq!(json_of(&run.stdout), json!(["my own"]));
}

#[test]
fn a_saved_session_goes_on_where_it_stopped_and_nothing_comes_twice() {
    let hs = synapse();
    let room = room_on(hs, "saved");
    let once = "matrix listen --session bot --since saved --once | to json --raw";
    assert_eq!(
        bodies(&json_of(&nu_in(&room, once).stdout)),
        Vec::<String>::new()
    );
    for body in ["m1", "m2", "m3"] {
        hs.send_text(&room.human_token, &room.room_id, body);
    }
    let two = nu_in(
        &room,
        "matrix listen --session bot --since saved --limit 2 | to json --raw",
    );
    assert_eq!(bodies(&json_of(&two.stdout)), ["m1", "m2"]);
    hs.send_text(&room.human_token, &room.room_id, "m4");
    // A later run (cron) gets what it missed, once.
    assert_eq!(bodies(&json_of(&nu_in(&room, once).stdout)), ["m3", "m4"]);
    assert_eq!(
        bodies(&json_of(&nu_in(&room, once).stdout)),
        Vec::<String>::new()
    );
    // A burst larger than one sync's timeline comes whole, in order.
    for n in 0..130 {
        hs.send_text(&room.human_token, &room.room_id, &format!("b{n}"));
    }
    let burst = bodies(&json_of(&nu_in(&room, once).stdout));
    let expected: Vec<String> = (0..130).map(|n| format!("b{n}")).collect();
    assert_eq!(burst, expected);
}

#[test]
fn the_stream_stays_up_across_a_synapse_restart_and_loses_nothing() {
    let hs = support::start_own_synapse("synapse-listen-restart");
    let room = room_on(&hs, "restart");
    nu_in(
        &room,
        "matrix listen --session bot --since saved --once | length",
    );
    let mut nu = start_in(
        &room,
        "matrix listen --session bot --since saved --limit 3 | get body | to json --raw",
    );
    hs.send_text(&room.human_token, &room.room_id, "before");
    std::thread::sleep(Duration::from_secs(1));
    hs.stop();
    // The listener notices and says so once, in a short line: the host and the cause.
    let host = hs.url.trim_start_matches("http://");
    let lost = nu.line_with("lost the connection", Duration::from_secs(60));
    assert!(
        lost.starts_with(&format!("matrix listen: lost the connection to {host} (")),
        "{lost}"
    );
    assert!(lost.contains("); retrying in 1s"), "{lost}");
    hs.restart();
    let back = nu.line_with("matrix listen: back after ", Duration::from_secs(60));
    hs.send_text(&room.human_token, &room.room_id, "after 1");
    hs.send_text(&room.human_token, &room.room_id, "after 2");
    let run = nu.finish(Duration::from_secs(90));
    assert!(run.success, "{}", run.stderr);
    assert_eq!(
        json_of(&run.stdout),
        json!(["before", "after 1", "after 2"])
    );
    assert!(back.ends_with('s'), "{back}");
    // One line for the outage however many tries it took, and one for the way back: no
    // filter, no sync token, no access token.
    let notes: Vec<&str> = run
        .stderr
        .lines()
        .filter(|line| line.starts_with("matrix listen:"))
        .collect();
    assert_eq!(notes, [lost.as_str(), back.as_str()], "{}", run.stderr);
    assert!(notes.iter().all(|note| note.len() < 120), "{notes:?}");
    assert!(!run.stderr.contains("filter") && !run.stderr.contains("since="));
}

#[test]
fn a_listener_ended_with_its_shell_says_nothing() {
    let hs = synapse();
    let room = room_on(hs, "quiet");
    nu_in(
        &room,
        "matrix listen --session bot --since saved --once | length",
    );
    for signal in ["TERM", "KILL", "HUP"] {
        let mut nu = start_in(
            &room,
            "matrix listen --session bot --since saved | each {|r| print -e $'row: ($r.body)' }",
        );
        // A row came through: the stream is up, and long-polls again.
        hs.send_text(&room.human_token, &room.room_id, signal);
        nu.line_with(&format!("row: {signal}"), Duration::from_secs(30));
        nu.signal(signal);
        let run = nu.finish(Duration::from_secs(30));
        assert!(!run.success, "killed with {signal}");
        assert!(
            !run.stderr.contains("matrix listen"),
            "said on SIGTERM/KILL/HUP of nu: {}",
            run.stderr
        );
    }
}

#[test]
fn types_and_senders_given_inline_filter_as_lists() {
    let hs = synapse();
    let room = room_on(hs, "inline");
    nu_in(
        &room,
        "matrix listen --session bot --since saved --once | length",
    );
    hs.send_text(&room.human_token, &room.room_id, "text");
    hs.call(
        &room.human_token,
        "PUT",
        &format!("rooms/{}/send/com.example.ping/t1", room.room_id),
        &json!({"body": "custom"}),
    );
    let bot_token = hs.login(&room.bot, PW);
    hs.send_text(&bot_token, &room.room_id, "own");
    let human = hs.whoami(&room.human_token)["user_id"]
        .as_str()
        .expect("a user")
        .to_owned();
    // Inline lists, as a user types them: both types, and only the human (the bot's own
    // message is in, with --own, and then left out by --sender).
    let run = nu_in(
        &room,
        &format!(
            "matrix listen --session bot --since saved --once --own \
                --type [m.room.message com.example.ping] --sender ['{human}'] \
            | each {{|r| $'($r.type) ($r.content.body)' }} | to json --raw"
        ),
    );
    assert_eq!(
        json_of(&run.stdout),
        json!(["m.room.message text", "com.example.ping custom"])
    );
    // Values that cannot be a type or a sender: a clear error at the value.
    for (flag, problem) in [
        ("--type 5", "'5' is not an event type"),
        ("--type [m.room.message 5]", "'5' is not an event type"),
        ("--sender [bob]", "'bob' is not a user ID"),
        ("--type []", "--type is empty"),
    ] {
        let run = nu_cfg(
            &format!("matrix listen --session bot --once {flag}"),
            &room.config,
            PW,
        );
        assert!(!run.success, "{flag}");
        assert!(run.stderr.contains(problem), "{flag}: {}", run.stderr);
    }
}

#[test]
fn ctrl_c_and_first_end_the_stream_at_once() {
    let hs = synapse();
    let room = room_on(hs, "end");
    // Ctrl-C while a long-poll the server would hold for 5 minutes is in flight: a row came
    // through, so the listener is placed and waits for the next.
    nu_in(
        &room,
        "matrix listen --session bot --since saved --once | length",
    );
    let mut nu = start_in(
        &room,
        "matrix listen --session bot --since saved --wait 5min | each {|r| print -e $'row: ($r.body)' }",
    );
    hs.send_text(&room.human_token, &room.room_id, "before");
    nu.line_with("row: before", Duration::from_secs(30));
    nu.interrupt();
    // Far less than the 5 minutes a listener deaf to Ctrl-C would wait.
    let run = nu.finish(Duration::from_secs(60));
    // A clean end, or Nushell's own "Operation interrupted", and no other error.
    let errors = run.stderr.matches("Error:").count();
    let clean = run.success && errors == 0;
    let interrupted = !run.success && errors == 1 && run.stderr.contains("Operation interrupted");
    assert!(clean || interrupted, "{}", run.stderr);
    assert!(!run.stderr.contains("matrix listen:"), "{}", run.stderr);

    // `first 2` ends the pipeline as soon as two rows came, however long the wait would be:
    // here 5 minutes, if it did not.
    for body in ["one", "two", "three"] {
        hs.send_text(&room.human_token, &room.room_id, body);
    }
    let started = Instant::now();
    let run = nu_in(
        &room,
        "matrix listen --session bot --since saved --wait 5min | first 2 | get body | to json --raw",
    );
    assert_eq!(json_of(&run.stdout), json!(["one", "two"]));
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_listener_outlives_its_access_token() {
    let hs = synapse();
    let room = room_on(hs, "refresh");
    // Access tokens of logins with a refresh token live 6 s on the test Synapse.
    nu_in(
        &room,
        &format!(
            "$env.PW | matrix login {} -H {} --refresh --save bot | ignore
            matrix listen --session bot --since saved --once | length",
            room.bot, hs.url
        ),
    );
    let nu = start_in(
        &room,
        "matrix listen --session bot --since saved --limit 2 --wait 2sec | get body | to json --raw",
    );
    hs.send_text(&room.human_token, &room.room_id, "fresh");
    std::thread::sleep(Duration::from_secs(8));
    hs.send_text(&room.human_token, &room.room_id, "after expiry");
    let run = nu.finish(Duration::from_secs(30));
    assert!(run.success, "{}", run.stderr);
    assert_eq!(json_of(&run.stdout), json!(["fresh", "after expiry"]));
    assert!(!run.stderr.contains("retrying"), "{}", run.stderr);
}

#[test]
fn a_refused_token_ends_the_stream_with_an_error() {
    let hs = synapse();
    let room = room_on(hs, "refused");
    let token = hs.login(&room.bot, PW);
    let saved = nu_cfg(
        &format!(
            "$env.PW | matrix token import -H {} --save old | ignore",
            hs.url
        ),
        &room.config,
        &token,
    );
    assert!(saved.success, "{}", saved.stderr);
    hs.call(&token, "POST", "logout", &json!({}));
    let run = nu_cfg(
        "matrix listen --session old --once | length",
        &room.config,
        "",
    );
    assert!(!run.success, "{}", run.stdout);
    let text = run.stderr_folded();
    assert!(text.contains("M_UNKNOWN_TOKEN"), "{text}");
    assert!(
        !text.contains(&token),
        "the token leaked into the error (not shown here)"
    );
}

#[test]
fn a_rate_limit_is_waited_out() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    // The real Synapse behind a relay that answers the listener's second and third /sync with
    // a 429 (the transport waits out the first, the listener the second); all else is Synapse's.
    let hs = synapse();
    let room = room_on(hs, "limited");
    let syncs = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = syncs.clone();
    let relay = support::relay::FaultRelay::start(
        hs.url.trim_start_matches("http://"),
        move |_, path| {
            if !path.starts_with("/_matrix/client/v3/sync") {
                return None;
            }
            matches!(seen.fetch_add(1, Ordering::SeqCst), 1 | 2).then(|| {
                http(
                    "429 Too Many Requests",
                    "application/json",
                    r#"{"errcode": "M_LIMIT_EXCEEDED", "error": "slow down", "retry_after_ms": 1500}"#,
                )
            })
        },
    );
    let token = hs.login(&room.bot, PW);
    let mut nu = Running::start(
        &format!(
            "$env.PW | matrix token import -H {} | matrix listen --limit 1 | get body.0",
            relay.url
        ),
        |command| {
            command.env("PW", &token);
        },
    );
    // Refused twice once placed; then a message of the human's comes.
    let started = Instant::now();
    nu.line_with(
        "asks to slow down (rate-limited); retrying in 1.5s",
        Duration::from_secs(60),
    );
    hs.send_text(&room.human_token, &room.room_id, "go");
    let run = nu.finish(Duration::from_secs(60));
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), "go");
    assert!(
        run.stderr.contains("matrix listen: back after "),
        "{}",
        run.stderr
    );
    assert!(
        syncs.load(Ordering::SeqCst) >= 4,
        "placed, refused twice, then synced"
    );
    // Two waits of 1.5 s: the transport's, then the listener's.
    assert!(
        started.elapsed() >= Duration::from_millis(2900),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_running_listener_names_an_unnamed_room_by_who_is_in_it_now() {
    let hs = synapse();
    let bot = hs.register(&unique_user("namebot"), PW);
    let alice = hs.register(&unique_user("alice"), PW);
    let alice_token = hs.login(&alice, PW);
    let room_id = hs.call(
        &alice_token,
        "POST",
        "createRoom",
        &json!({"invite": [bot], "preset": "private_chat"}),
    )["room_id"]
        .as_str()
        .expect("a room")
        .to_owned();
    let config = scratch("listen-names");
    let run = nu_cfg(
        &format!(
            "$env.PW | matrix login {bot} -H {} --save bot | matrix join '{room_id}' --session bot | ignore",
            hs.url
        ),
        &config,
        PW,
    );
    assert!(run.success, "{}", run.stderr);
    let room = Room {
        config,
        bot,
        human_token: alice_token.clone(),
        room_id: room_id.clone(),
    };
    let mut nu = start_in(
        &room,
        "matrix listen --session bot | each {|r| print -e $'row ($r.body) in ($r.room)' }",
    );
    // Placed (its first sync made) well within this, as tests/support/bot.rs waits.
    std::thread::sleep(Duration::from_secs(3));
    hs.send_text(&alice_token, &room_id, "just us");
    let line = nu.line_with("row just us", Duration::from_secs(30));
    // Synapse's display name of a new user is its localpart.
    let localpart = alice
        .trim_start_matches('@')
        .split(':')
        .next()
        .expect("a localpart");
    assert!(line.ends_with(&format!("in {localpart}")), "{line}");
    // Two more join while it runs: the name follows.
    for name in ["bob", "carol"] {
        let user = hs.register(&unique_user(name), PW);
        hs.call(
            &alice_token,
            "POST",
            &format!("rooms/{room_id}/invite"),
            &json!({"user_id": user}),
        );
        let token = hs.login(&user, PW);
        hs.call(&token, "POST", &format!("join/{room_id}"), &json!({}));
    }
    hs.send_text(&alice_token, &room_id, "now four");
    let line = nu.line_with("row now four", Duration::from_secs(30));
    assert!(line.contains(" and "), "the name did not follow: {line}");
    assert!(line.contains("bob") && line.contains("carol"), "{line}");
    nu.interrupt();
    let _ = nu.finish(Duration::from_secs(10));
}

#[test]
fn a_frozen_server_is_noticed_within_the_wait_and_its_outage_told_whole() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let hs = synapse();
    let room = room_on(hs, "frozen");
    let frozen = Arc::new(AtomicBool::new(false));
    let held = frozen.clone();
    // While frozen, a sync gets no answer at all (the connection stays open, silent).
    let relay =
        support::relay::FaultRelay::start(hs.url.trim_start_matches("http://"), move |_, path| {
            if path.starts_with("/_matrix/client/v3/sync") {
                while held.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            None
        });
    let token = hs.login(&room.bot, PW);
    let mut nu = Running::start(
        &format!(
            "$env.PW | matrix token import -H {} | matrix listen --wait 1sec | each {{|r| print -e $'got ($r.body)' }}",
            relay.url
        ),
        |command| {
            command.env("PW", &token);
        },
    );
    std::thread::sleep(Duration::from_secs(3));
    frozen.store(true, Ordering::SeqCst);
    let froze = Instant::now();
    let lost = nu.line_with("lost the connection", Duration::from_secs(30));
    let noticed = froze.elapsed();
    assert!(lost.contains("no answer in time"), "{lost}");
    // Within the wait (1 s) and the grace (10 s), not a whole time-out (30 s) later.
    assert!(
        noticed < Duration::from_secs(15),
        "noticed after {noticed:?}"
    );
    std::thread::sleep(Duration::from_secs(4));
    frozen.store(false, Ordering::SeqCst);
    let outage = froze.elapsed();
    let back = nu.line_with("back after", Duration::from_secs(40));
    let told: f64 = back
        .rsplit("back after ")
        .next()
        .and_then(|text| text.trim_end_matches('s').parse().ok())
        .unwrap_or_else(|| panic!("no length in {back}"));
    // The whole outage, from the request that first failed (at most one wait before the
    // freeze), not from when the failure was noticed.
    assert!(
        told >= outage.as_secs_f64() - 1.5,
        "told {told}s of an outage of {outage:?}"
    );
    hs.send_text(&room.human_token, &room.room_id, "after the thaw");
    nu.line_with("got after the thaw", Duration::from_secs(30));
    nu.interrupt();
    let _ = nu.finish(Duration::from_secs(10));
}
