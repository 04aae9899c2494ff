//! The examples in examples/, run against the real Synapse.

mod support;

use std::os::unix::fs::PermissionsExt;

use nu_plugin_matrix::Password;
use support::{scratch, synapse, unique_user};

/// The Rust examples, compiled into this test so that they are always current.
#[path = "../examples/login.rs"]
mod login_example;
#[path = "../examples/saved_session.rs"]
mod saved_session_example;

#[test]
fn the_rust_example_uses_a_session_the_plugin_saved() {
    let hs = synapse();
    let password = "pw-Saved-5";
    let user_id = hs.register(&unique_user("savedex"), password);
    let config = scratch("example-saved");
    let run = support::nu_cfg(
        &format!(
            "$env.PW | matrix login {user_id} -H {} --save bot | ignore",
            hs.url
        ),
        &config,
        password,
    );
    assert!(run.success, "{}", run.stderr);
    let store = nu_plugin_matrix::SessionStore::new(config.join("nu_plugin_matrix/sessions.json"));
    let mut out = Vec::new();
    saved_session_example::whoami_of_saved(&store, "bot", &mut out).expect("the example runs");
    let out = String::from_utf8(out).expect("text");
    assert!(
        out.starts_with(&format!("{user_id} on {}", hs.url)),
        "{out}"
    );
    assert!(out.ends_with("kept in the file\n"), "{out}");
    let err = saved_session_example::whoami_of_saved(&store, "nobody", &mut Vec::new())
        .expect_err("no such session");
    assert!(err.to_string().contains("'nobody'"), "{err}");
}

#[test]
fn the_nushell_example_writes_a_working_token_to_a_0600_file() {
    let hs = synapse();
    let user_id = hs.register(&unique_user("botnu"), "pw-Botnu-8");
    let dir = scratch("example-nu");
    let token_file = dir.join("bot.token");
    let output = support::nu_command()
        .arg(support::root().join("examples/login_bot.nu"))
        .arg(&user_id)
        .arg("--homeserver")
        .arg(&hs.url)
        .arg("--out")
        .arg(&token_file)
        .env("MATRIX_PASSWORD", "pw-Botnu-8")
        .output()
        .expect("run nu");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");

    let mode = std::fs::metadata(&token_file)
        .expect("the token file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    let token = std::fs::read_to_string(&token_file).expect("the token");
    assert!(token.starts_with("syt_"), "{token}");
    let me = hs.whoami(&token);
    assert_eq!(me["user_id"], user_id.as_str());
    assert_eq!(me["device_id"], "BOT");
    assert!(
        stdout.contains(&user_id) && stdout.contains("token_file"),
        "{stdout}"
    );
    assert!(!stdout.contains(&token) && !stderr.contains(&token));
}

#[test]
fn the_rust_example_logs_in_and_prints_the_token_masked() {
    let hs = synapse();
    let user_id = hs.register(&unique_user("botrs"), "pw-Botrs-9");
    let mut out = Vec::new();
    login_example::login_and_print(
        &user_id,
        &hs.url,
        Password::new("pw-Botrs-9".into()),
        &mut out,
    )
    .expect("the example logs in");
    let stdout = String::from_utf8(out).expect("text");
    assert!(
        stdout.contains(&format!("user_id: \"{user_id}\"")),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("whoami: {user_id}")), "{stdout}");
    // The token appears only masked: its prefix, an ellipsis, at most four characters.
    let token_line = stdout
        .lines()
        .find(|l| l.contains("access_token"))
        .expect("a token line");
    assert!(token_line.contains("AccessToken(syt_…"), "{token_line}");
    let shown = token_line
        .split('…')
        .nth(1)
        .expect("masked")
        .trim_end_matches([')', ',']);
    assert!(shown.chars().count() <= 4, "{token_line}");
}

#[test]
fn the_rust_example_reports_a_wrong_password_without_it() {
    let hs = synapse();
    let user_id = hs.register(&unique_user("botrs"), "pw-Botrs-10");
    let err = login_example::login_and_print(
        &user_id,
        &hs.url,
        Password::new("wrong-password-123".into()),
        &mut Vec::new(),
    )
    .expect_err("a wrong password");
    let text = format!("{err} {err:?}");
    assert!(text.contains("[403 / M_FORBIDDEN]"), "{text}");
    assert!(!text.contains("wrong-password-123"), "{text}");
}

/// `examples/bot.nu`, run as its header says against Synapse, with @human on the other side:
/// it joins the rooms it is invited to, fails to answer in a room where it may not post (and
/// says so), answers the next `!ping` with one pong, and leaves notices alone.
#[test]
fn the_nushell_bot_joins_answers_and_outlives_a_failed_answer() {
    let hs = synapse();
    let bot = hs.register(&unique_user("nubot"), "pw-Nubot-1");
    let human = hs.register(&unique_user("human"), "pw-Human-1");
    let human_token = hs.login(&human, "pw-Human-1");
    let config = scratch("example-bot");
    let saved = support::nu_cfg(
        &format!(
            "$env.PW | matrix login {bot} -H {} --save bot | ignore",
            hs.url
        ),
        &config,
        "pw-Nubot-1",
    );
    assert!(saved.success, "{}", saved.stderr);
    let mut command = support::nu_command();
    command
        .arg(support::root().join("examples/bot.nu"))
        .arg("bot")
        .env("XDG_CONFIG_HOME", &config)
        .env("XDG_DATA_HOME", config.join("data"));
    let mut running = support::Running::spawn(command);
    let room = |name: &str, override_levels: serde_json::Value| -> String {
        let mut body = serde_json::json!({"name": name, "invite": [bot]});
        if !override_levels.is_null() {
            body["power_level_content_override"] = override_levels;
        }
        hs.call(&human_token, "POST", "createRoom", &body)["room_id"]
            .as_str()
            .expect("a room")
            .to_owned()
    };
    // A room where only @human may post, and an ordinary one.
    let read_only = room(
        "Read-only",
        // (The creator may always post: rooms of version 12 give creators every power.)
        serde_json::json!({"events_default": 100}),
    );
    let open = room("Open", serde_json::Value::Null);
    for room_id in [&read_only, &open] {
        running.line_with(&format!("bot: joined {room_id}"), WITHIN);
    }
    hs.send_text(&human_token, &read_only, "!ping");
    let failed = running.line_with("bot: could not answer in", WITHIN);
    assert!(failed.contains(&read_only), "{failed}");
    // Still up: a notice is left alone, the next !ping gets one pong.
    hs.call(
        &human_token,
        "PUT",
        &format!("rooms/{open}/send/m.room.message/notice-1"),
        &serde_json::json!({"msgtype": "m.notice", "body": "!ping"}),
    );
    let ping = hs.send_text(&human_token, &open, "!ping");
    // The contents of the bot's latest messages in the open room.
    let answers = || {
        let page = hs.call(
            &human_token,
            "GET",
            &format!("rooms/{open}/messages?dir=b&limit=10"),
            &serde_json::json!({}),
        );
        page["chunk"]
            .as_array()
            .expect("events")
            .iter()
            .filter(|event| event["sender"] == bot.as_str() && event["type"] == "m.room.message")
            .map(|event| event["content"].clone())
            .collect::<Vec<_>>()
    };
    let pongs = || {
        answers()
            .into_iter()
            .filter(|content| content["body"] == "pong")
            .collect::<Vec<_>>()
    };
    let started = std::time::Instant::now();
    while pongs().is_empty() {
        assert!(started.elapsed() < WITHIN, "no pong in {WITHIN:?}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // One pong: a notice that replies to the !ping and mentions its sender.
    assert_eq!(
        pongs(),
        [serde_json::json!({
            "msgtype": "m.notice",
            "body": "pong",
            "m.mentions": {"user_ids": [human]},
            "m.relates_to": {"m.in_reply_to": {"event_id": ping}},
        })]
    );
    // !report gets a file.
    hs.send_text(&human_token, &open, "!report");
    let started = std::time::Instant::now();
    let reported = || {
        answers()
            .iter()
            .any(|content| content["msgtype"] == "m.file" && content["body"] == "host.json")
    };
    while !reported() {
        assert!(started.elapsed() < WITHIN, "no report in {WITHIN:?}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    running.signal("TERM");
    let run = running.finish(WITHIN);
    assert!(!run.stderr.contains("pw-Nubot-1"));
}

/// How long the bot gets for each step.
const WITHIN: std::time::Duration = std::time::Duration::from_secs(30);
