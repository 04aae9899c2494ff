//! `matrix login` end to end: the real `nu` binary, this plugin, and a real Synapse on loopback.

mod support;

use nu_plugin_matrix::secret::mask_token;
use support::{FaultServer, closed_port_url, nu, nu_pw, nu_with, synapse, unique_user};

/// Splits a run's stdout at the `-----` lines the scripts print between sections.
fn sections(stdout: &str) -> Vec<String> {
    stdout
        .split("-----\n")
        .map(|s| s.trim().to_owned())
        .collect()
}

#[test]
fn login_by_user_id_from_the_pipeline_shows_only_the_masked_token() {
    let hs = synapse();
    let password = "pw-Alice-7f3e9";
    let user_id = hs.register(&unique_user("alice"), password);
    let run = nu_pw(
        &format!(
            r#"let s = ($env.PW | matrix login {user_id} --homeserver {url})
        print ($s | reject access_token | to json --raw)
        print "-----"; print ($s | table)
        print "-----"; print ($s | to json)
        print "-----"; print ($s | to csv)
        print "-----"; print $"interpolated: ($s.access_token)"
        print "-----"; print ($s.access_token | describe)
        print "-----"; print ($s | get access_token | into string)
        print "-----"; print ($s | matrix token reveal | get access_token)
        print "-----"; print ($s.access_token | matrix token reveal)"#,
            url = hs.url
        ),
        password,
    );
    assert!(run.success, "{}", run.stderr);
    let parts = sections(&run.stdout);
    // (The output holds the revealed token: failure messages show it scrubbed.)
    let revealed = parts.get(8).cloned().unwrap_or_default();
    assert_eq!(
        parts.len(),
        9,
        "{}",
        support::scrubbed(&run.stdout, &[revealed.trim()])
    );

    let fields: serde_json::Value = serde_json::from_str(&parts[0]).expect("JSON fields");
    assert_eq!(fields["user_id"], user_id.as_str());
    assert_eq!(fields["home_server"], "localhost");
    assert_eq!(fields["homeserver"], hs.url.as_str());
    let device_id = fields["device_id"].as_str().expect("a device ID");
    assert!(!device_id.is_empty());

    let token = parts[8].clone();
    assert!(
        token.starts_with("syt_") && token.len() > 20,
        "not a token: {token}"
    );
    assert_eq!(
        parts[7], token,
        "reveal of a record and of a token value agree"
    );
    let masked = mask_token(&token);
    assert!(masked.starts_with("syt_…") && masked.len() < 12, "{masked}");

    // Every rendering shows the masked form, never the token.
    for (what, text) in [
        ("table", &parts[1]),
        ("to json", &parts[2]),
        ("to csv", &parts[3]),
        ("interpolation", &parts[4]),
        ("into string", &parts[6]),
    ] {
        assert!(
            text.contains(&masked),
            "{what} lacks the masked token:\n{text}"
        );
        assert!(
            !text.contains(&token),
            "{what} shows the real token:\n{}",
            support::scrubbed(text, &[&token])
        );
    }
    assert!(
        parts[2].contains(&format!("\"access_token\": \"{masked}\"")),
        "{}",
        parts[2]
    );
    assert_eq!(parts[5], "matrix_token");
    assert!(!run.stderr.contains(&token) && !run.all().contains(password));

    // The revealed token is the real one.
    let me = hs.whoami(&token);
    assert_eq!(me["user_id"], user_id.as_str());
    assert_eq!(me["device_id"], device_id);
}

#[test]
fn login_by_localpart_with_password_flag_and_chosen_device() {
    let hs = synapse();
    let name = unique_user("bob");
    let user_id = hs.register(&name, "pw-Bob-2");
    let run = nu(&format!(
        r#"let s = (matrix login {name} -H {url}/ --password 'pw-Bob-2' --device-id BOTDEV1 --device-name 'ops bot')
        print ($s | reject access_token | to json --raw)
        print "-----"; print ($s.access_token | matrix token reveal)"#,
        url = hs.url
    ));
    assert!(run.success, "{}", run.stderr);
    let parts = sections(&run.stdout);
    let fields: serde_json::Value = serde_json::from_str(&parts[0]).expect("JSON fields");
    assert_eq!(fields["user_id"], user_id.as_str());
    assert_eq!(fields["device_id"], "BOTDEV1");
    assert_eq!(
        fields["homeserver"],
        hs.url.as_str(),
        "trailing slash dropped"
    );
    let device = hs.get_json(
        &format!("{}/_matrix/client/v3/devices/BOTDEV1", hs.url),
        Some(&parts[1]),
    );
    assert_eq!(device["display_name"], "ops bot");
}

#[test]
fn token_values_survive_a_plugin_restart_and_compare() {
    let hs = synapse();
    let user_id = hs.register(&unique_user("carol"), "pw-Carol-3");
    let run = nu(&format!(
        r#"let s = ('pw-Carol-3' | matrix login {user_id} -H {url})
        let t = ('pw-Carol-3' | matrix login {user_id} -H {url})
        let before = ($s.access_token | matrix token reveal)
        plugin stop matrix
        let after = ($s | matrix token reveal | get access_token)
        print ([($before == $after) ($s.access_token == $s.access_token) ($s.access_token == $t.access_token) ($s.access_token != $t.access_token)] | to json --raw)
        print "-----"; print $after"#,
        url = hs.url
    ));
    assert!(run.success, "{}", run.stderr);
    let parts = sections(&run.stdout);
    assert_eq!(parts[0], "[true,true,false,true]");
    assert_eq!(hs.whoami(&parts[1])["user_id"], user_id.as_str());
}

#[test]
fn wrong_password_and_unknown_user_are_refused_without_echoing_the_password() {
    let hs = synapse();
    let user_id = hs.register(&unique_user("dave"), "pw-Dave-4");
    for (user, password) in [
        (user_id.as_str(), "not-Daves-password-91"),
        ("@nobody-here:localhost", "pw-Nobody-55"),
    ] {
        let run = nu_pw(
            &format!("$env.PW | matrix login {user} -H {}", hs.url),
            password,
        );
        assert!(!run.success);
        assert!(
            run.stderr.contains(&format!("Login refused for {user}")),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("wrong password or unknown user"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("M_FORBIDDEN"), "{}", run.stderr);
        assert!(!run.all().contains(password), "{}", run.all());
    }
}

#[test]
fn nothing_listening_names_the_url() {
    let url = closed_port_url();
    let run = nu(&format!("'pw' | matrix login @bot:localhost -H {url}"));
    assert!(!run.success);
    assert!(
        run.stderr
            .contains(&format!("Could not reach the homeserver at {url}")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("connection refused"), "{}", run.stderr);
}

#[test]
fn an_html_502_page_is_not_a_homeserver() {
    let page = "<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>";
    let server = FaultServer::answering("502 Bad Gateway", "text/html", page);
    let run = nu_pw(
        &format!("$env.PW | matrix login @bot:localhost -H {}", server.url),
        "pw-secret-502",
    );
    assert!(!run.success);
    assert!(
        run.stderr
            .contains("did not answer like a Matrix homeserver"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("HTTP 502, text/html: \"502 Bad Gateway\""),
        "{}",
        run.stderr
    );
    assert!(!run.all().contains("pw-secret-502"));
}

#[test]
fn a_plain_404_and_a_matrix_404_are_told_apart() {
    let plain = FaultServer::answering("404 Not Found", "text/plain", "404 page not found");
    let run = nu(&format!(
        "'pw' | matrix login @bot:localhost -H {}",
        plain.url
    ));
    assert!(
        run.stderr
            .contains("did not answer like a Matrix homeserver"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("404 page not found"), "{}", run.stderr);

    // A Matrix 404 on /login: what Synapse answers when its accounts are delegated (to MAS) and
    // the proxy in front does not send /login on to MAS's compatibility layer.
    let body = r#"{"errcode":"M_UNRECOGNIZED","error":"Unrecognized request"}"#;
    let matrix = FaultServer::answering("404 Not Found", "application/json", body);
    let run = nu(&format!(
        "'pw' | matrix login @bot:localhost -H {}",
        matrix.url
    ));
    assert!(
        run.stderr_folded().contains("only offers OAuth 2.0 logins"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_redirect_is_reported_not_followed() {
    let server = FaultServer::start(
        "HTTP/1.1 301 Moved Permanently\r\nLocation: https://matrix.example.org/_matrix/client/v3/login\r\nContent-Length: 0\r\n\r\n"
            .to_owned(),
    );
    let run = nu(&format!(
        "'pw-redirected' | matrix login @bot:localhost -H {}",
        server.url
    ));
    assert!(!run.success);
    assert!(
        run.stderr.contains("answered with a redirect (HTTP 301)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("https://matrix.example.org/_matrix/client/v3/login"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_success_answer_of_the_wrong_shape_never_quotes_the_token() {
    let body = r#"{"access_token":"syt_leakleakleakleakleak_abcd","device_id":"X"}"#;
    let server = FaultServer::answering("200 OK", "application/json", body);
    let run = nu(&format!(
        "'pw' | matrix login @bot:localhost -H {}",
        server.url
    ));
    assert!(!run.success);
    assert!(
        run.stderr.contains("the field `user_id` is missing"),
        "{}",
        run.stderr
    );
    assert!(!run.all().contains("leakleak"), "{}", run.all());
}

#[test]
fn no_password_and_no_terminal_says_how_to_give_one() {
    let run = nu_with(
        "matrix login @bot:localhost -H http://127.0.0.1:9",
        |command| {
            // A new session has no controlling terminal, like CI.
            let nu = command.get_program().to_owned();
            let args: Vec<_> = command.get_args().map(ToOwned::to_owned).collect();
            *command = std::process::Command::new("setsid");
            command
                .arg(nu)
                .args(args)
                .stdin(std::process::Stdio::null());
        },
    );
    assert!(!run.success);
    assert!(
        run.stderr.contains("no terminal to ask for it"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("input -s"), "{}", run.stderr);
}

#[test]
fn saving_writes_only_the_masked_token() {
    let hs = synapse();
    let user_id = hs.register(&unique_user("erin"), "pw-Erin-5");
    let dir = support::scratch("save");
    let run = nu(&format!(
        r#"cd {dir}
        let s = ('pw-Erin-5' | matrix login {user_id} -H {url})
        $s | save -f session.json
        print (open --raw session.json)
        $s.access_token | save -f token.txt
        print "-----"; print ($s.access_token | matrix token reveal)"#,
        dir = dir.display(),
        url = hs.url
    ));
    assert!(run.success, "{}", run.stderr);
    let parts = sections(&run.stdout);
    let token = &parts[1];
    let masked = mask_token(token);
    assert!(
        parts[0].contains(&masked) && !parts[0].contains(token.as_str()),
        "{}",
        parts[0]
    );
    let saved = std::fs::read_to_string(dir.join("token.txt")).expect("token.txt");
    assert_eq!(saved, masked);
}

#[test]
fn a_password_from_a_file_or_external_command_loses_its_trailing_newline() {
    let hs = synapse();
    let user_id = hs.register(&unique_user("frank"), "pw-Frank-6");
    let dir = support::scratch("pwfile");
    std::fs::write(dir.join("pw.txt"), "pw-Frank-6\n").expect("write pw.txt");
    let run = nu(&format!(
        r#"cd {dir}
        print (open pw.txt | matrix login {user_id} -H {url} | get user_id)
        print (^cat pw.txt | matrix login {user_id} -H {url} | get user_id)"#,
        dir = dir.display(),
        url = hs.url
    ));
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), format!("{user_id}\n{user_id}"));
}

#[test]
fn a_non_string_password_on_the_pipeline_is_refused() {
    for (input, type_name) in [
        ("42", "int"),
        ("[a b]", "list<string>"),
        ("(do { 42 })", "int"),
    ] {
        let run = nu(&format!(
            "{input} | matrix login @bot:localhost -H http://127.0.0.1:9"
        ));
        assert!(!run.success);
        assert!(run.stderr.contains(type_name), "{input}: {}", run.stderr);
        assert!(
            run.stderr.contains("matrix login"),
            "{input}: {}",
            run.stderr
        );
    }
}

#[test]
fn binary_records_and_foreign_custom_values_are_refused_clearly() {
    for (script, expected) in [
        (
            "0x[ff fe] | matrix login @bot:localhost -H http://127.0.0.1:9",
            "binary",
        ),
        (
            "{a: 1} | matrix login @bot:localhost -H http://127.0.0.1:9",
            "record<a: int>",
        ),
        ("{a: 1} | matrix whoami", "The record is not a session"),
        // Nushell's own linear-algebra `matrix` values are custom values of another kind.
        (
            "matrix identity 2 | matrix whoami",
            "cannot be sent to plugin",
        ),
        (
            "matrix identity 2 | matrix token reveal",
            "cannot be sent to plugin",
        ),
    ] {
        let run = nu(script);
        assert!(!run.success, "{script}");
        assert!(run.stderr.contains(expected), "{script}: {}", run.stderr);
    }
}

/// The hidden prompt, in a pseudo-terminal (util-linux `script`): the plugin (spawned over
/// stdio) takes the terminal's foreground, reads the password with echo off, and logs in.
#[test]
fn the_hidden_prompt_reads_the_password_at_the_terminal() {
    use std::time::Duration;

    let hs = synapse();
    let password = "pw-Tty-93c1d";
    let user_id = hs.register(&unique_user("tty"), password);
    let typescript = support::scratch("pty").join("typescript");
    let command = format!(
        "{nu} --no-config-file --plugins '[{plugin}]' -c 'matrix login {user_id} -H {url} | get user_id'",
        nu = support::nu_binary().display(),
        plugin = support::plugin_binary(),
        url = hs.url,
    );
    let terminal = support::pty::Terminal::start(&command, &typescript);
    terminal.wait_for(
        &format!("Password for {user_id}: "),
        Duration::from_secs(20),
    );
    terminal.type_keys(format!("{password}\n").as_bytes());
    let (success, screen) = terminal.finish(Duration::from_secs(40));
    assert!(success, "{screen}");
    let after_prompt = screen.split("Password for").nth(1).unwrap_or_default();
    assert!(after_prompt.contains(&user_id), "{screen}");
    assert!(
        !screen.contains(password),
        "the password was echoed: {screen}"
    );
}

#[test]
fn oauth_on_a_server_without_it_says_so() {
    let hs = synapse();
    let run = nu(&format!(
        "matrix login @nobody:localhost -H {} --oauth",
        hs.url
    ));
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(
        text.contains("This homeserver does not log in with OAuth 2.0"),
        "{text}"
    );
    assert!(text.contains("matrix flows"), "{text}");
}

#[test]
fn a_login_names_its_new_device_and_a_reused_device_keeps_its_name() {
    let hs = synapse();
    let name = unique_user("named");
    let user_id = hs.register(&name, "pw-Named-1");
    let admin = unique_user("namedadm");
    let admin_token = hs.register_admin(&admin, "pw-NamedAdm-1");
    let run = support::nu_pw(
        &format!(
            r#"let s = ($env.PW | matrix login {user_id} -H {url})
            print ($s | matrix devices | where current | get display_name.0)
            $env.PW | matrix login {user_id} -H {url} --device-id KEPTNAME --device-name 'first name' | ignore
            let again = ($env.PW | matrix login {user_id} -H {url} --device-id KEPTNAME)
            print ($again | matrix devices | where device_id == KEPTNAME | get display_name.0)
            $env.config.plugins.matrix = {{device_name: 'ops bots'}}
            let c = ($env.PW | matrix login {user_id} -H {url})
            print ($c | matrix devices | where current | get display_name.0)
            print $s.device_id"#,
            url = hs.url
        ),
        "pw-Named-1",
    );
    assert!(run.success, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].starts_with("nu_plugin_matrix on ") && lines[0].len() > 20,
        "{}",
        lines[0]
    );
    assert_eq!(lines[1], "first name", "a reused device keeps its name");
    assert_eq!(
        lines[2], "ops bots",
        "$env.config.plugins.matrix.device_name"
    );
    // The name as the server's admin sees it.
    let devices = hs.get_json(
        &format!("{}/_synapse/admin/v2/users/{user_id}/devices", hs.url),
        Some(&admin_token),
    );
    let named = devices["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .find(|device| device["device_id"] == lines[3])
        .expect("the first login's device");
    assert_eq!(named["display_name"], lines[0]);
}
