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
