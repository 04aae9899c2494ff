//! The life of a token, end to end in the real nu against the real Synapse: whoami, logout,
//! devices, refresh, import, saved sessions.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nu_plugin_matrix::secret::mask_token;
use support::{nu_cfg, scratch, synapse, unique_user};

fn sections(stdout: &str) -> Vec<String> {
    stdout
        .split("-----\n")
        .map(|s| s.trim().to_owned())
        .collect()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

/// A fresh user and config folder for one test.
fn fixture(prefix: &str) -> (String, String, std::path::PathBuf) {
    let password = format!("pw-{prefix}-31");
    let user_id = synapse().register(&unique_user(prefix), &password);
    let config = scratch(&format!("cfg-{}", unique_user(prefix)));
    (user_id, password, config)
}

/// Points the saved session `name` at another base URL (a relay in front of its homeserver),
/// as an edit of the session file.
fn point_session_at(config: &Path, name: &str, url: &str) {
    let path = sessions_file(config);
    let mut stored = json(&std::fs::read_to_string(&path).expect("the session file"));
    stored["sessions"][name]["homeserver"] = serde_json::Value::String(url.to_owned());
    std::fs::write(&path, stored.to_string()).expect("written");
}

fn sessions_file(config: &Path) -> std::path::PathBuf {
    config.join("nu_plugin_matrix/sessions.json")
}

#[test]
fn whoami_works_on_a_fresh_login_and_fails_after_logout() {
    let hs = synapse();
    let (user_id, password, config) = fixture("wendy");
    let run = nu_cfg(
        &format!(
            r#"let s = ($env.PW | matrix login {user_id} -H {url})
            print ($s | matrix whoami | to json --raw)
            print "-----"; print ($s.access_token | matrix whoami | get user_id)
            print "-----"; print ($s | matrix logout | to json --raw)
            print "-----"; $s | matrix whoami"#,
            url = hs.url
        ),
        &config,
        &password,
    );
    let parts = sections(&run.stdout);
    let me = json(&parts[0]);
    assert_eq!(me["user_id"], user_id.as_str());
    assert_eq!(me["is_guest"], false);
    assert_eq!(me["homeserver"], hs.url.as_str());
    assert!(me["device_id"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(parts[1], user_id, "a token value alone is a session");
    let out = json(&parts[2]);
    assert_eq!(out["device_id"], me["device_id"]);
    assert!(
        out["revoked"]
            .as_str()
            .is_some_and(|r| r.contains("its device")),
        "{out}"
    );
    assert!(!run.success, "whoami after logout must fail");
    assert!(run.stderr.contains("is no longer valid"), "{}", run.stderr);
    assert!(run.stderr.contains("M_UNKNOWN_TOKEN"), "{}", run.stderr);
}

#[test]
fn logout_all_kills_every_session_of_the_user() {
    let hs = synapse();
    let (user_id, password, config) = fixture("xena");
    let run = nu_cfg(
        &format!(
            r#"let a = ($env.PW | matrix login {user_id} -H {url})
            let b = ($env.PW | matrix login {user_id} -H {url})
            print ($a | matrix logout --all | get revoked)
            print "-----"; print ($b.access_token | matrix token reveal)"#,
            url = hs.url
        ),
        &config,
        &password,
    );
    assert!(run.success, "{}", run.stderr);
    let parts = sections(&run.stdout);
    assert!(parts[0].contains("every token"), "{}", parts[0]);
    let status = hs.whoami_status(&parts[1]);
    assert_eq!(status, 401, "the second session must be dead");
}

#[test]
fn devices_list_rename_and_delete_with_the_password() {
    let hs = synapse();
    let (user_id, password, config) = fixture("yves");
    let run = nu_cfg(
        &format!(
            r#"let s = ($env.PW | matrix login {user_id} -H {url} --device-id MAINDEV)
            let other = ($env.PW | matrix login {user_id} -H {url} --device-id SPAREDEV --device-name spare)
            print ($s | matrix devices | to json --raw)
            print "-----"; print ($s | matrix devices | get last_seen | describe)
            print "-----"; print ($s | matrix devices rename SPAREDEV 'renamed spare' | to json --raw)
            print "-----"; print ($s | matrix devices | where device_id == SPAREDEV | get 0.display_name)
            print "-----"; print (try {{ $s | matrix devices delete SPAREDEV --password 'not-the-password' }} catch {{|e| $e.msg }})
            print "-----"; print ($s | matrix devices | where device_id in [MAINDEV SPAREDEV] | get device_id | sort | to json --raw)
            print "-----"; print ($s | matrix devices delete SPAREDEV --password $env.PW | to json --raw)
            print "-----"; print ($s | matrix devices | where device_id in [MAINDEV SPAREDEV] | get device_id | to json --raw)"#,
            url = hs.url
        ),
        &config,
        &password,
    );
    assert!(run.success, "{}", run.stderr);
    let parts = sections(&run.stdout);
    let devices = json(&parts[0]);
    let main = devices
        .as_array()
        .and_then(|list| list.iter().find(|d| d["device_id"] == "MAINDEV"))
        .expect("MAINDEV listed");
    assert_eq!(main["current"], true);
    let spare = devices
        .as_array()
        .and_then(|list| list.iter().find(|d| d["device_id"] == "SPAREDEV"))
        .expect("SPAREDEV listed");
    assert_eq!(spare["current"], false);
    assert_eq!(spare["display_name"], "spare");
    assert!(
        parts[1].contains("date"),
        "last_seen is a datetime: {}",
        parts[1]
    );
    assert_eq!(json(&parts[2])["display_name"], "renamed spare");
    assert_eq!(parts[3], "renamed spare");
    assert_eq!(parts[4], "Wrong password: no device was deleted");
    assert_eq!(
        parts[5], r#"["MAINDEV","SPAREDEV"]"#,
        "a wrong password deletes nothing"
    );
    assert_eq!(json(&parts[6])["deleted"], serde_json::json!(["SPAREDEV"]));
    assert_eq!(parts[7], r#"["MAINDEV"]"#);
    assert!(!run.all().contains(&password));
}

#[test]
fn a_plain_string_is_not_a_session_and_import_wraps_a_curl_token() {
    let hs = synapse();
    let (user_id, password, config) = fixture("zoe");
    // A token obtained the seed document's way: a login with curl-like plain HTTP.
    let token = hs.login(&user_id, &password);
    let run = support::nu_with("$env.TOKEN | matrix whoami", |command| {
        command
            .env("XDG_CONFIG_HOME", &config)
            .env("XDG_DATA_HOME", config.join("data"))
            .env("TOKEN", &token);
    });
    assert!(!run.success);
    assert!(
        run.stderr_folded().contains("matrix token import"),
        "{}",
        run.stderr
    );
    assert!(!run.all().contains(&token), "{}", run.all());

    let run = support::nu_with(
        &format!(
            r#"let s = ($env.TOKEN | matrix token import --homeserver {url})
            print ($s | reject access_token | to json --raw)
            print "-----"; print ($s | matrix whoami | get device_id)
            print "-----"; print $s.access_token"#,
            url = hs.url
        ),
        |command| {
            command
                .env("XDG_CONFIG_HOME", &config)
                .env("XDG_DATA_HOME", config.join("data"))
                .env("TOKEN", &token);
        },
    );
    assert!(run.success, "{}", run.stderr);
    let parts = sections(&run.stdout);
    let fields = json(&parts[0]);
    assert_eq!(fields["user_id"], user_id.as_str());
    assert_eq!(fields["home_server"], "localhost");
    assert_eq!(fields["homeserver"], hs.url.as_str());
    assert_eq!(fields["device_id"].as_str(), Some(parts[1].as_str()));
    assert_eq!(parts[2], mask_token(&token));

    let run = support::nu_with(
        &format!(
            "'syt_not_a_real_token_1234567' | matrix token import --homeserver {}",
            hs.url
        ),
        |command| {
            command
                .env("XDG_CONFIG_HOME", &config)
                .env("XDG_DATA_HOME", config.join("data"));
        },
    );
    assert!(!run.success);
    assert!(run.stderr.contains("is no longer valid"), "{}", run.stderr);
}

#[test]
fn saved_sessions_default_list_use_remove_and_logout_forgets() {
    let hs = synapse();
    let (user_id, password, config) = fixture("saved");
    let file = sessions_file(&config);
    let run = nu_cfg(
        &format!(
            r#"let s = ($env.PW | matrix login {user_id} -H {url} --save first)
            print (matrix whoami | get user_id)
            print "-----"; $env.PW | matrix login {user_id} -H {url} | matrix session save second | to json --raw | print
            print "-----"; print (matrix session list | select name default user_id | to json --raw)
            print "-----"; print (matrix session list | to json)
            print "-----"; matrix session use second; print (matrix session list | where default | get name | to json --raw)
            print "-----"; print (matrix whoami --session first | get user_id)
            print "-----"; print (matrix session get second | matrix token reveal | get access_token)
            print "-----"; print (matrix session list | par-each {{ matrix whoami --session $in.name | get user_id }} | uniq | to json --raw)
            print "-----"; print ([first second] | each {{|name| matrix whoami --session $name | get device_id }} | uniq | length)
            print "-----"; print (1..3 | each {{ matrix whoami --session first | get device_id }} | uniq | length)
            print "-----"; try {{ matrix session get first | matrix whoami --session second }} catch {{|e| print $e.msg }}"#,
            url = hs.url
        ),
        &config,
        &password,
    );
    assert!(run.success, "{}", run.stderr);
    let parts = sections(&run.stdout);
    assert_eq!(parts[0], user_id, "the first saved session is the default");
    assert_eq!(json(&parts[1])["default"], false);
    assert_eq!(
        json(&parts[2]),
        serde_json::json!([
            {"name": "first", "default": true, "user_id": user_id},
            {"name": "second", "default": false, "user_id": user_id},
        ])
    );
    let second_token = parts[6].clone();
    assert!(parts[3].contains(&mask_token(&second_token)));
    assert!(
        !parts[3].contains(&second_token),
        "list shows tokens masked"
    );
    assert_eq!(parts[4], r#"["second"]"#);
    assert_eq!(parts[5], user_id);
    // `--session` inside par-each and each: the row or string on the pipeline is left alone...
    assert_eq!(parts[7], format!(r#"["{user_id}"]"#));
    assert_eq!(parts[8], "2");
    assert_eq!(parts[9], "1");
    // ... but another session there contradicts it.
    assert_eq!(parts[10], "Two sessions given");

    let mode = std::fs::metadata(&file)
        .expect("the session file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let stored = json(&std::fs::read_to_string(&file).expect("readable"));
    assert_eq!(stored["default"], "second");
    assert_eq!(
        stored["sessions"]["second"]["access_token"],
        second_token.as_str()
    );

    // Logging out the default session removes it from the store; remove forgets another.
    let run = nu_cfg(
        r#"print (matrix logout | get removed_sessions | to json --raw)
        print "-----"; matrix session remove first; print (matrix session list | length)
        print "-----"; matrix whoami"#,
        &config,
        &password,
    );
    let parts = sections(&run.stdout);
    assert_eq!(parts[0], r#"["second"]"#, "{}", run.stderr);
    assert_eq!(parts[1], "0");
    assert!(!run.success);
    assert!(
        run.stderr.contains("no default session saved"),
        "{}",
        run.stderr
    );
    assert_eq!(hs.whoami_status(&second_token), 401);
}

#[test]
fn a_corrupt_session_file_is_reported_and_left_untouched() {
    let (_, password, config) = fixture("corrupt");
    let file = sessions_file(&config);
    std::fs::create_dir_all(file.parent().expect("folder")).expect("mkdir");
    let garbage = "{\"version\": 1, \"sessions\": {\"bot\": [1, 2";
    std::fs::write(&file, garbage).expect("write");
    for script in [
        "matrix whoami",
        "matrix session list",
        "matrix session use bot",
        "$env.PW | matrix login @x:localhost -H http://127.0.0.1:9 --save bot",
    ] {
        let run = nu_cfg(script, &config, &password);
        assert!(!run.success, "{script}");
        assert!(
            run.stderr.contains("not a valid session file"),
            "{script}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("sessions.json"),
            "{script}: {}",
            run.stderr
        );
        assert_eq!(
            std::fs::read_to_string(&file).expect("still there"),
            garbage,
            "{script}"
        );
    }
}

#[test]
fn concurrent_saves_keep_the_file_valid() {
    let hs = synapse();
    let (user_id, password, config) = fixture("para");
    let run = nu_cfg(
        &format!(
            r#"let s = ($env.PW | matrix login {user_id} -H {url})
            1..20 | par-each {{|i| $s | matrix session save $"s($i)" }} | length"#,
            url = hs.url
        ),
        &config,
        &password,
    );
    assert!(run.success, "{}", run.stderr);
    let stored = json(&std::fs::read_to_string(sessions_file(&config)).expect("file"));
    assert_eq!(stored["sessions"].as_object().map(|m| m.len()), Some(20));
    let mode = std::fs::metadata(sessions_file(&config))
        .expect("file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn an_expired_token_is_refreshed_and_the_saved_session_updated() {
    let hs = synapse();
    let (user_id, password, config) = fixture("refr");
    let run = nu_cfg(
        &format!(
            r#"let s = ($env.PW | matrix login {user_id} -H {url} --refresh --save r)
            print ($s | reject access_token refresh_token | update expires_at {{ describe }} | to json --raw)
            print "-----"; print ($s.refresh_token | into string)
            print "-----"; print ($s | matrix token reveal | select access_token refresh_token | to json --raw)"#,
            url = hs.url
        ),
        &config,
        &password,
    );
    assert!(run.success, "{}", run.stderr);
    let parts = sections(&run.stdout);
    assert_eq!(json(&parts[0])["expires_at"], "datetime");
    let first = json(&parts[2]);
    let first_access = first["access_token"].as_str().expect("token").to_owned();
    let first_refresh = first["refresh_token"].as_str().expect("refresh").to_owned();
    assert!(
        first_refresh.starts_with("syr_"),
        "a refresh token of {} characters",
        first_refresh.len()
    );
    assert_eq!(
        parts[1],
        mask_token(&first_refresh),
        "the refresh token shows masked"
    );

    // Past the test server's 6 s lifetime, a command still works: it refreshes by itself.
    std::thread::sleep(std::time::Duration::from_secs(7));
    assert_eq!(
        hs.whoami_status(&first_access),
        401,
        "the old token expired"
    );
    // An expired token without its refresh token is explained as expired, not as revoked.
    let run = support::nu_with(
        &format!("$env.OLD | matrix token import --homeserver {}", hs.url),
        |command| {
            command.env("OLD", &first_access);
        },
    );
    assert!(!run.success);
    assert!(run.stderr.contains("has expired"), "{}", run.stderr);
    assert!(
        run.stderr_folded().contains("matrix refresh"),
        "{}",
        run.stderr
    );
    assert!(!run.all().contains(&first_access));
    let run = nu_cfg("matrix whoami | get user_id", &config, &password);
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), user_id);
    let stored = json(&std::fs::read_to_string(sessions_file(&config)).expect("file"));
    let saved = &stored["sessions"]["r"];
    let new_access = saved["access_token"].as_str().expect("token");
    assert_ne!(new_access, first_access);
    assert_ne!(
        saved["refresh_token"].as_str(),
        Some(first_refresh.as_str())
    );
    assert_eq!(hs.whoami_status(new_access), 200);

    // Twenty concurrent refreshes of the saved session, through a relay in front of Synapse
    // that sees each refresh token presented: each uses the refresh token it finds, none
    // spends one twice (Synapse would take a spent one until its successor is first used, so
    // only the relay can tell), and one valid session is left.
    let relay = support::proxy::CountingProxy::start(hs.url.trim_start_matches("http://"), |_| {});
    point_session_at(&config, "r", &relay.url);
    let run = nu_cfg(
        "1..20 | par-each {|_| null | matrix refresh | ignore; 1 } | math sum",
        &config,
        &password,
    );
    let refreshes = relay
        .requests()
        .iter()
        .filter(|request| *request == "POST /_matrix/client/v3/refresh")
        .count();
    // (A call that finds the session refreshed while it waited for the lock uses that.)
    assert!((1..=20).contains(&refreshes), "{:?}", relay.requests());
    support::assert_presented_once(&relay.presented("refresh_token"), refreshes);
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), "20");
    let stored = json(&std::fs::read_to_string(sessions_file(&config)).expect("file"));
    let saved = &stored["sessions"]["r"];
    assert_eq!(
        hs.whoami_status(saved["access_token"].as_str().expect("token")),
        200
    );
    let run = nu_cfg(
        "matrix refresh | matrix whoami | get user_id",
        &config,
        &password,
    );
    assert!(
        run.success,
        "the refresh token left is valid: {}",
        run.stderr
    );
    assert_eq!(run.stdout.trim(), user_id);
}

#[test]
fn refresh_without_a_refresh_token_says_so() {
    let hs = synapse();
    let (user_id, password, config) = fixture("norefr");
    let run = nu_cfg(
        &format!(
            "$env.PW | matrix login {user_id} -H {url} | matrix refresh",
            url = hs.url
        ),
        &config,
        &password,
    );
    assert!(!run.success);
    assert!(
        run.stderr.contains("has no refresh token"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--refresh"), "{}", run.stderr);
}

#[test]
fn devices_to_delete_can_be_piped_from_matrix_devices() {
    let hs = synapse();
    let (user_id, password, config) = fixture("pipe");
    let run = nu_cfg(
        &format!(
            r#"$env.PW | matrix login {user_id} -H {url} --device-id KEEPER --save main | ignore
            $env.PW | matrix login {user_id} -H {url} --device-id OLDONE1 | ignore
            $env.PW | matrix login {user_id} -H {url} --device-id OLDONE2 | ignore
            $env.PW | matrix login {user_id} -H {url} --device-id LONEONE | ignore
            print (matrix devices | where device_id starts-with OLDONE | matrix devices delete --password $env.PW | get deleted | sort | to json --raw)
            print "-----"; print (matrix devices | where device_id starts-with OLDONE | length)
            print "-----"; print (matrix devices | where current | get device_id | to json --raw)
            print "-----"; print (matrix devices | where device_id == LONEONE | first | matrix devices delete --password $env.PW | get deleted | to json --raw)"#,
            url = hs.url
        ),
        &config,
        &password,
    );
    assert!(run.success, "{}", run.stderr);
    let parts = sections(&run.stdout);
    assert_eq!(parts[0], r#"["OLDONE1","OLDONE2"]"#);
    assert_eq!(parts[1], "0");
    assert_eq!(parts[2], r#"["KEEPER"]"#);
    // One row (`first`) is taken as a row, not as a session.
    assert_eq!(parts[3], r#"["LONEONE"]"#);
}

/// Connection reuse, counted at the server's door rather than inferred from timing: a session
/// made there (a token import: a login would follow Synapse's `well_known` past the door), 20
/// calls with it in one nu session, and the saved session read back, open a single connection.
#[test]
fn one_nu_session_keeps_one_connection_alive() {
    let hs = synapse();
    let (user_id, password, config) = fixture("kate");
    let token = hs.login(&user_id, &password);
    let upstream = hs.url.trim_start_matches("http://");
    let door = support::proxy::CountingProxy::start(upstream, |_| {});
    let run = nu_cfg(
        &format!(
            "let s = $env.PW | matrix token import -H {url} --save kate
             1..20 | each {{|_| $s | matrix whoami }} | ignore
             1..5 | each {{|_| null | matrix whoami }} | ignore
             $s | matrix devices | get device_id | sort | to json --raw",
            url = door.url
        ),
        &config,
        &token,
    );
    assert!(run.success, "{}", run.stderr);
    // The devices Synapse lists for the user, as the plugin gave them.
    let mut devices: Vec<String> =
        hs.call(&token, "GET", "devices", &serde_json::json!({}))["devices"]
            .as_array()
            .expect("devices")
            .iter()
            .map(|device| device["device_id"].as_str().expect("an ID").to_owned())
            .collect();
    devices.sort();
    assert_eq!(json(run.stdout.trim()), serde_json::json!(devices));
    // 25 whoami, and `matrix devices`' two (/devices, and /keys/query for `verified`).
    let requests = door.requests();
    assert_eq!(requests.len(), 28, "{requests:#?}");
    assert_eq!(door.accepted(), 1, "28 requests, one connection");
}

/// Tab after `--session`, and after `matrix session use`, in an interactive nu (a
/// pseudo-terminal) offers the saved sessions' names, read from the session file alone; Tab
/// after `matrix api --method` and `matrix api` offers the methods and common paths.
#[test]
fn session_names_and_api_complete_at_the_prompt() {
    let hs = synapse();
    let (user_id, password, config) = fixture("complete");
    let run = nu_cfg(
        &format!(
            "$env.PW | matrix login {user_id} -H {url} --save alpha-bot | ignore
            $env.PW | matrix login {user_id} -H {url} --save beta-bot | ignore",
            url = hs.url
        ),
        &config,
        &password,
    );
    assert!(run.success, "{}", run.stderr);
    let terminal = support::pty::Terminal::nu_prompt(&config, "pty-session-completion");
    let within = std::time::Duration::from_secs(10);
    terminal.tab_completes("matrix whoami --session al", "--session alpha-bot", within);
    terminal.tab_completes("\x03matrix session use be", "session use beta-bot", within);
    // matrix api: its methods and common paths.
    terminal.tab_completes("\x03matrix api --method DE", "--method DELETE", within);
    terminal.tab_completes("\x03matrix api account/wh", "api account/whoami", within);
    terminal.type_keys(b"\x03exit\r");
    let (exited, screen) = terminal.finish(within);
    assert!(exited, "nu did not exit cleanly: {screen}");
}
