//! `matrix listen --since saved --ack`: at-least-once for bots. Real Synapse, real nu; the bot's
//! nu killed with SIGKILL in the middle of a burst, more than once, by the test.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use support::{NuRun, Running, nu_command, scratch, synapse, unique_user};

/// A bot (saved session `bot`) and a sender in a room of their own.
struct Room {
    config: PathBuf,
    room_id: String,
    sender_token: String,
}

impl Room {
    fn new(prefix: &str) -> Self {
        let room = Self::unplaced(prefix);
        // Where the bot's listener starts: now.
        let placed = room.nu("matrix listen --session bot --since saved --once | ignore");
        assert!(placed.success, "{}", placed.stderr);
        room
    }

    /// A bot whose listener never ran.
    fn unplaced(prefix: &str) -> Self {
        let hs = synapse();
        let bot = hs.register(&unique_user(prefix), "pw-Ack-1");
        let sender = hs.register(&unique_user("sender"), "pw-Ack-2");
        let config = scratch(&format!("ack-{}", unique_user(prefix)));
        let login = support::nu_cfg(
            &format!(
                "$env.PW | matrix login {bot} -H {} --save bot | ignore",
                hs.url
            ),
            &config,
            "pw-Ack-1",
        );
        assert!(login.success, "{}", login.stderr);
        let bot_token = hs.login(&bot, "pw-Ack-1");
        let room_id = hs.call(
            &bot_token,
            "POST",
            "createRoom",
            &serde_json::json!({"invite": [sender]}),
        )["room_id"]
            .as_str()
            .expect("a room")
            .to_owned();
        let sender_token = hs.login(&sender, "pw-Ack-2");
        hs.call(
            &sender_token,
            "POST",
            &format!("join/{room_id}"),
            &serde_json::json!({}),
        );
        Self {
            config,
            room_id,
            sender_token,
        }
    }

    /// The saved session's position, as the session file holds it.
    fn kept(&self) -> Option<serde_json::Value> {
        let file = self.config.join("nu_plugin_matrix/sessions.json");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(file).ok()?).ok()?;
        json["listened"]["bot"]
            .as_object()
            .map(|kept| kept.clone().into())
    }

    fn nu(&self, script: &str) -> NuRun {
        support::nu_cfg(script, &self.config, "")
    }

    fn send(&self, bodies: impl IntoIterator<Item = String>) {
        for body in bodies {
            synapse().send_text(&self.sender_token, &self.room_id, &body);
        }
    }

    fn bot(&self, script: &str) -> Running {
        let mut command = nu_command();
        command
            .env("XDG_CONFIG_HOME", &self.config)
            .env("XDG_DATA_HOME", self.config.join("data"))
            .arg("-c")
            .arg(script);
        Running::spawn(command)
    }
}

/// Reads `handled <body>` lines of a running bot until `enough` says stop, or it ends.
fn handled(bot: &mut Running, enough: impl Fn(&[String]) -> bool) -> Vec<String> {
    let mut seen = Vec::new();
    while !enough(&seen) {
        let line = bot.line_with("handled ", Duration::from_secs(60));
        seen.push(line.trim().trim_start_matches("handled ").to_owned());
    }
    seen
}

#[test]
fn a_first_run_that_hands_out_nothing_keeps_where_it_got() {
    // A bot deployed, then killed before anyone wrote to it: what is sent meanwhile comes to
    // its next run.
    let room = Room::unplaced("ackfirst");
    assert!(room.kept().is_none());
    let script = "matrix listen --session bot --since saved --ack | each {|r| print -e $'handled ($r.body)'; $r | matrix listen ack | ignore }";
    let bot = room.bot(script);
    let started = std::time::Instant::now();
    while room.kept().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the first run kept no position"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    bot.signal("KILL");
    let _ = bot.finish(Duration::from_secs(10));
    room.send(["while it was down".to_owned()]);
    let run = room.nu("let rows = (matrix listen --session bot --since saved --ack --once); $rows | get body | to json -r");
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), r#"["while it was down"]"#);
    assert!(!run.stderr.contains("nothing kept yet"), "{}", run.stderr);
}

#[test]
fn a_bot_killed_twice_in_a_burst_handles_every_message_and_repeats_only_the_unwritten() {
    let room = Room::new("ackkill");
    let bodies: Vec<String> = (0..300).map(|n| format!("m{n:03}")).collect();
    room.send(bodies.clone());
    let script = "matrix listen --session bot --since saved --ack | each {|r| sleep 20ms; print -e $'handled ($r.body)'; $r | matrix listen ack | ignore }";
    let mut runs: Vec<Vec<String>> = Vec::new();
    for _ in 0..2 {
        let mut bot = room.bot(script);
        let seen = handled(&mut bot, |seen| seen.len() >= 90);
        bot.signal("KILL");
        let _ = bot.finish(Duration::from_secs(10));
        runs.push(seen);
    }
    // The third run goes to the end.
    let all: BTreeSet<&String> = bodies.iter().collect();
    let before: BTreeSet<String> = runs.iter().flatten().cloned().collect();
    let mut bot = room.bot(script);
    let last = handled(&mut bot, |seen| {
        all.iter()
            .all(|body| before.contains(*body) || seen.contains(body))
    });
    bot.interrupt();
    let _ = bot.finish(Duration::from_secs(10));
    runs.push(last);

    let mut times: BTreeMap<&String, usize> = BTreeMap::new();
    for body in runs.iter().flatten() {
        *times.entry(body).or_default() += 1;
    }
    for body in &bodies {
        assert!(
            times.contains_key(body),
            "{body} was never handled: {runs:?}"
        );
    }
    // Each run's repeats are the end of the run before (what was handled after the last write
    // of its acks, at most a second of it), never anything older.
    for (at, run) in runs.iter().enumerate().skip(1) {
        let earlier: BTreeSet<&String> = runs[..at].iter().flatten().collect();
        let repeats: Vec<&String> = run.iter().filter(|body| earlier.contains(body)).collect();
        let previous = &runs[at - 1];
        let tail: Vec<&String> = previous.iter().rev().take(repeats.len()).rev().collect();
        assert_eq!(
            repeats,
            tail,
            "run {at} repeated more than the end of run {}",
            at - 1
        );
        assert!(
            repeats.len() <= 75,
            "run {at} repeated {} rows",
            repeats.len()
        );
        eprintln!("run {at}: {} repeats after the kill", repeats.len());
    }
}

#[test]
fn acks_out_of_order_never_move_the_position_past_a_row_not_done() {
    let room = Room::new("ackpar");
    room.send((0..30).map(|n| format!("p{n:02}")));
    let run = room.nu(
        "matrix listen --session bot --since saved --ack --limit 30 | par-each {|r|
            sleep (random int 1..40 | into duration --unit ms)
            if $r.body != 'p10' { $r | matrix listen ack | ignore }
            $r.body
        } | length",
    );
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), "30");
    // p10 was never acked: the next run starts there.
    let again = room.nu("matrix listen --session bot --since saved --once | get body | to json -r");
    assert!(again.success, "{}", again.stderr);
    let expected: Vec<String> = (10..30).map(|n| format!("p{n:02}")).collect();
    assert_eq!(
        again.stdout.trim(),
        serde_json::to_string(&expected).expect("JSON")
    );
}

#[test]
fn acks_that_cannot_be_are_refused_with_a_reason() {
    let room = Room::new("ackerr");
    room.send(["e1".to_owned(), "e2".to_owned()]);
    let saved_other = room.nu("matrix session get bot | matrix session save other | ignore");
    assert!(saved_other.success, "{}", saved_other.stderr);
    let cases = [
        (
            "matrix listen --session bot --since now --ack --once",
            "--ack needs --since saved",
        ),
        (
            "{body: x} | matrix listen ack",
            "This row has no place to ack",
        ),
        (
            "matrix listen --session bot --since saved --once --limit 1 | get 0 | matrix listen ack",
            "This row comes from a listener without --ack",
        ),
        (
            "matrix listen --session bot --since saved --ack --limit 1 | get 0 | matrix listen ack --session other",
            "This row is from another session's listener",
        ),
    ];
    for (script, said) in cases {
        let run = room.nu(script);
        assert!(!run.success, "{script}: {}", run.stdout);
        let text = run.stderr_folded();
        assert!(text.contains(said), "{script}: {text}");
    }
    // A row kept from a listener of another Nushell (its plugin process gone).
    let kept =
        room.nu("matrix listen --session bot --since saved --ack --limit 1 | get 0 | to nuon");
    assert!(kept.success, "{}", kept.stderr);
    let run = room.nu(&format!("{} | matrix listen ack", kept.stdout.trim()));
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(
        text.contains("The listener of this row has ended"),
        "{text}"
    );
}

#[test]
fn answers_to_rows_repeated_after_kills_are_sent_once() {
    let room = Room::new("ackonce");
    let bodies: Vec<String> = (0..150).map(|n| format!("q{n:03}")).collect();
    room.send(bodies.clone());
    // The answer goes before the ack: a kill between them repeats the row, and its answer.
    // Each run but the last is killed in a burst; the first also right after the answer to
    // q020, before its ack (its answer held there), so that at least that row surely repeats.
    let script = "matrix listen --session bot --since saved --ack | each {|r| $r | matrix send $'re ($r.body)' --reply --notice --session bot | ignore; print -e $'handled ($r.body)'; $r | matrix listen ack | ignore }";
    let held = script.replace(
        "| ignore; print -e $'handled ($r.body)';",
        "| ignore; print -e $'handled ($r.body)'; if $r.body == 'q020' { sleep 30sec };",
    );
    let mut runs: Vec<Vec<String>> = Vec::new();
    for (run, script) in [held.as_str(), script].into_iter().enumerate() {
        let mut bot = room.bot(script);
        let seen = match run {
            0 => handled(&mut bot, |seen| {
                seen.last().is_some_and(|body| body == "q020")
            }),
            _ => handled(&mut bot, |seen| seen.len() >= 40),
        };
        bot.signal("KILL");
        let _ = bot.finish(Duration::from_secs(10));
        runs.push(seen);
    }
    let before: BTreeSet<String> = runs.iter().flatten().cloned().collect();
    let mut bot = room.bot(script);
    let last = handled(&mut bot, |seen| {
        bodies
            .iter()
            .all(|body| before.contains(body) || seen.contains(body))
    });
    bot.interrupt();
    let _ = bot.finish(Duration::from_secs(10));
    runs.push(last);
    let handled_twice = runs.iter().flatten().count() - bodies.len();
    assert!(
        handled_twice > 0,
        "no row came again: the test shows nothing"
    );
    // Every row answered, each once, though some were handled twice.
    let answers = room.nu(&format!(
        "matrix messages '{}' --session bot --limit 1000 | where msgtype == m.notice | get body | to json -r",
        room.room_id
    ));
    assert!(answers.success, "{}", answers.stderr);
    let answers: Vec<String> = serde_json::from_str(answers.stdout.trim()).expect("JSON");
    let mut counted: BTreeMap<&String, usize> = BTreeMap::new();
    for answer in &answers {
        *counted.entry(answer).or_default() += 1;
    }
    let twice: Vec<_> = counted.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "answered twice: {twice:?}");
    assert_eq!(answers.len(), bodies.len(), "{handled_twice} repeats");
}

#[test]
fn a_second_listener_of_a_saved_session_is_refused_while_the_first_runs() {
    let room = Room::new("acklock");
    let mut first = room
        .bot("matrix listen --session bot --since saved | each {|r| print -e $'got ($r.body)' }");
    room.send(["hello".to_owned()]);
    first.line_with("got hello", Duration::from_secs(30));
    let run = room.nu("matrix listen --session bot --since saved --once");
    assert!(!run.success, "{}", run.stdout);
    let text = run.stderr_folded();
    assert!(
        text.contains("A listener of saved session bot is running"),
        "{text}"
    );
    assert!(text.contains("process "), "{text}");
    // Without --since saved, a second listener keeps no position, and may run.
    let other = room.nu("matrix listen --session bot --since now --once | length");
    assert!(other.success, "{}", other.stderr);
    // Killed, the first lets go: a restart at once (as a supervisor does) waits the moment its
    // plugin process takes to end.
    first.signal("KILL");
    let again = room.nu("matrix listen --session bot --since saved --once | length");
    assert!(again.success, "{}", again.stderr);
    let _ = first.finish(Duration::from_secs(10));
}

#[test]
fn rows_a_where_drops_unacked_are_said_to_replay() {
    let room = Room::new("ackgap");
    room.send(["chatter".to_owned(), "!ping".to_owned()]);
    let mut bot = room.bot("matrix listen --session bot --since saved --ack | where body == '!ping' | each {|r| print -e $'handled ($r.body)'; $r | matrix listen ack | ignore }");
    bot.line_with("handled !ping", Duration::from_secs(30));
    let said = bot.line_with("still not acked", Duration::from_secs(20));
    assert!(said.contains("filter inside `each`"), "{said}");
    bot.interrupt();
    let end = bot.finish(Duration::from_secs(10));
    assert!(
        end.stderr
            .contains("1 rows handed out were never acked: the next run"),
        "{}",
        end.stderr
    );
}
