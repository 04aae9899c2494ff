//! The MAS suite: the plugin, in the real nu, against a homeserver whose accounts a real
//! matrix-authentication-service (MAS) runs (`scripts/mas`: PostgreSQL, MAS, Synapse, and the
//! router in front of them). Needs `MAS_DIST` at `scripts/deps` time; `scripts/test` runs it when
//! that is set (CI always does), and says so when it is not.

#[path = "e2e_mas/admin.rs"]
mod admin;
#[path = "e2e_mas/browser.rs"]
mod browser;
#[path = "e2e_mas/e2ee.rs"]
mod e2ee;
#[path = "e2e_mas/examples.rs"]
mod examples;
#[path = "e2e_mas/lifecycle.rs"]
mod lifecycle;
#[path = "e2e_mas/orphans.rs"]
mod orphans;
#[path = "e2e_mas/secrets.rs"]
mod secrets;
mod support;

use nu_plugin_matrix::Client;
use nu_plugin_matrix::oauth::{OAuthClient, TokenKind};
use support::mas::mas;
use support::{nu, nu_pw, unique_user};

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|err| panic!("{err}: {text}"))
}

#[test]
fn flows_show_the_oauth_server_first() {
    let mas = mas();
    let run = nu(&format!("matrix flows {} | to json --raw", mas.url));
    assert!(run.success, "{}", run.stderr);
    let rows = json(&run.stdout);
    let rows = rows.as_array().expect("a table");
    assert_eq!(rows[0]["type"], "oauth2", "{rows:?}");
    assert_eq!(rows[0]["issuer"], mas.issuer.as_str());
    assert_eq!(
        rows[0]["account_page"],
        format!("{}account/", mas.issuer).as_str()
    );
    let sso = rows
        .iter()
        .find(|row| row["type"] == "m.login.sso")
        .expect("MAS offers m.login.sso");
    assert_eq!(sso["oauth_aware_preferred"], true);
    assert!(rows.iter().any(|row| row["type"] == "m.login.password"));
}

#[test]
fn discovery_reports_the_oauth_server_and_its_device_code() {
    let mas = mas();
    let run = support::nu_with(
        "matrix discover localhost | get oauth2 | to json --raw",
        |command| {
            command.env("NU_PLUGIN_MATRIX_DISCOVERY_ORIGIN", &mas.url);
        },
    );
    assert!(run.success, "{}", run.stderr);
    let oauth = json(&run.stdout);
    assert_eq!(oauth["issuer"], mas.issuer.as_str());
    assert_eq!(oauth["device_code"], true);
}

#[test]
fn a_password_login_goes_through_the_compatibility_layer() {
    let mas = mas();
    let localpart = unique_user("compat");
    let user_id = mas.register(&localpart, "pw-Compat-1");
    let run = nu_pw(
        &format!(
            r#"let s = ($env.PW | matrix login {user_id} -H {url})
            print ($s | reject access_token | to json --raw)
            print ($s.access_token | into string)
            print ($s | matrix whoami | get user_id)"#,
            url = mas.url
        ),
        "pw-Compat-1",
    );
    assert!(run.success, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let session = json(lines[0]);
    assert_eq!(session["user_id"], user_id.as_str());
    // MAS leaves `home_server` out: it comes from the user ID.
    assert_eq!(session["home_server"], "localhost");
    assert_eq!(session["homeserver"], mas.url.as_str());
    assert!(
        lines[1].starts_with("mct_…"),
        "masked with its prefix: {}",
        lines[1]
    );
    assert_eq!(lines[2], user_id);
}

#[test]
fn a_compatibility_token_from_mas_cli_is_imported_and_checked() {
    let mas = mas();
    let localpart = unique_user("imported");
    let user_id = mas.register(&localpart, "pw-Imported-1");
    let token = mas.compat_token(&localpart);
    assert!(token.starts_with("mct_"), "{token}");
    let run = support::nu_with(
        &format!(
            r#"let s = ($env.TOKEN | matrix token import -H {url})
            print ($s | reject access_token | to json --raw)
            print ($s.access_token | into string)"#,
            url = mas.url
        ),
        |command| {
            command.env("TOKEN", &token);
        },
    );
    assert!(run.success, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(json(lines[0])["user_id"], user_id.as_str());
    assert!(lines[1].starts_with("mct_…"), "{}", lines[1]);
    assert!(!run.all().contains(&token), "the token never shows");
}

#[test]
fn what_the_client_api_of_an_oauth_server_does_not_offer_sends_to_the_account_page() {
    let mas = mas();
    let localpart = unique_user("pages");
    let user_id = mas.register(&localpart, "pw-Pages-1");
    let attempts = [
        (
            "matrix token login-token --password $env.PW",
            "Making a login token is not offered here",
            "mas-cli manage issue-compatibility-token".to_owned(),
        ),
        (
            "matrix devices delete ABCDEFGHIJ --password $env.PW",
            "Deleting devices is not offered here",
            format!(
                "{}account/?action=org.matrix.device_delete&device_id=ABCDEFGHIJ",
                mas.issuer
            ),
        ),
        (
            "matrix logout --all",
            "Signing out every session is not offered here",
            format!("{}account/?action=org.matrix.devices_list", mas.issuer),
        ),
    ];
    for (command, message, help) in attempts {
        let run = nu_pw(
            &format!(
                "let s = ($env.PW | matrix login {user_id} -H {url}); $s | {command}",
                url = mas.url
            ),
            "pw-Pages-1",
        );
        assert!(!run.success, "{command}");
        let text = run.stderr_folded();
        assert!(text.contains(message), "{command}: {text}");
        assert!(
            text.contains("accounts are run by an OAuth 2.0 server"),
            "{command}: {text}"
        );
        // nu wraps the help, URLs too: compare without white space.
        let squashed = |text: &str| text.split_whitespace().collect::<String>();
        assert!(
            squashed(&text).contains(&squashed(&help)),
            "{command}: {text}"
        );
    }
}

#[path = "../examples/oauth_device.rs"]
mod oauth_device;

#[path = "../examples/mas_bot.rs"]
mod mas_bot;

/// Runs the library example's device-code sign-in while the test, as the user, approves (or
/// refuses) it on MAS's pages.
fn device_sign_in(
    url: &str,
    localpart: &str,
    password: &str,
    approve: bool,
) -> Result<(nu_plugin_matrix::Session, OAuthClient), nu_plugin_matrix::Error> {
    let (codes, shown) = std::sync::mpsc::channel();
    let url = url.to_owned();
    let signing_in = std::thread::spawn(move || {
        oauth_device::sign_in(&url, |device| {
            codes
                .send((device.verification_uri.clone(), device.user_code.clone()))
                .expect("the test waits for the code");
        })
    });
    let (page, code) = shown.recv().expect("the example shows a code");
    support::mas::approve_device(&page, &code, localpart, password, approve);
    signing_in.join().expect("the example ends")
}

#[test]
fn the_device_code_grant_signs_in_with_a_device_of_its_own() {
    let mas = mas();
    let localpart = unique_user("device");
    let user_id = mas.register(&localpart, "pw-Device-1");
    let (session, oauth) =
        device_sign_in(&mas.url, &localpart, "pw-Device-1", true).expect("signed in");
    assert_eq!(oauth.issuer, mas.issuer);
    assert_eq!(session.user_id, *user_id.as_str());
    assert_eq!(session.home_server, "localhost");
    assert_eq!(session.device_id.len(), 12, "{session:?}");
    assert!(session.access_token.reveal().starts_with("mat_"));
    assert!(
        session.refresh_token.is_some(),
        "the refresh grant was registered"
    );
    assert!(session.expires_at.is_some(), "MAS access tokens expire");
    // The token works in the real nu, on the homeserver behind the router.
    let run = support::nu_with(
        &format!(
            "$env.TOKEN | matrix token import -H {} | matrix whoami | to json --raw",
            mas.url
        ),
        |command| {
            command.env("TOKEN", session.access_token.reveal());
        },
    );
    assert!(run.success, "{}", run.stderr);
    let me = json(&run.stdout);
    assert_eq!(me["user_id"], user_id.as_str());
    assert_eq!(me["device_id"], session.device_id.as_str());
    assert!(!format!("{session:?}").contains(session.access_token.reveal()));

    // Refresh: a new access token that works; the old refresh token is spent (MAS rotates it).
    let client = Client::new(&mas.url).expect("a client");
    let old_refresh = session.refresh_token.clone().expect("a refresh token");
    let refreshed = client
        .refresh_oauth(&oauth, &old_refresh)
        .expect("refreshed");
    assert_ne!(refreshed.access_token, session.access_token);
    let me = client
        .whoami(&refreshed.access_token)
        .expect("the new token works");
    assert_eq!(me.device_id.as_deref(), Some(session.device_id.as_str()));
    let new_refresh = refreshed.refresh_token.expect("rotated");
    assert_ne!(new_refresh, old_refresh);
    match client.refresh_oauth(&oauth, &old_refresh) {
        Err(nu_plugin_matrix::Error::OAuth(err)) => assert_eq!(err.error, "invalid_grant"),
        other => panic!("a spent refresh token must be refused: {other:?}"),
    }

    // Revocation. Synapse keeps a token it has seen valid for up to 2 minutes (its cache of
    // MAS's answers), so the access token checked is a fresh one it has never seen.
    let unseen = client
        .refresh_oauth(&oauth, &new_refresh)
        .expect("refreshed again");
    client
        .revoke_oauth(&oauth, &unseen.access_token, TokenKind::Access)
        .expect("revoked");
    match client.whoami(&unseen.access_token) {
        Err(nu_plugin_matrix::Error::Matrix(err)) => {
            assert_eq!(err.errcode, nu_plugin_matrix::ErrorCode::UnknownToken)
        }
        other => panic!("a revoked token must fail: {other:?}"),
    }
    let last_refresh = unseen.refresh_token.expect("rotated again");
    client
        .revoke_oauth(&oauth, &last_refresh, TokenKind::Refresh)
        .expect("revoked");
    match client.refresh_oauth(&oauth, &last_refresh) {
        Err(nu_plugin_matrix::Error::OAuth(err)) => assert_eq!(err.error, "invalid_grant"),
        other => panic!("a revoked refresh token must be refused: {other:?}"),
    }
}

#[test]
fn a_refused_device_code_is_access_denied() {
    let mas = mas();
    let localpart = unique_user("refuser");
    mas.register(&localpart, "pw-Refuser-1");
    match device_sign_in(&mas.url, &localpart, "pw-Refuser-1", false) {
        Err(nu_plugin_matrix::Error::OAuth(err)) => assert_eq!(err.error, "access_denied"),
        other => panic!("should be refused: {other:?}"),
    }
}

#[test]
fn matrix_login_oauth_signs_in_with_the_device_code_refreshes_and_logs_out_by_revocation() {
    let mas = mas();
    let localpart = unique_user("nuoauth");
    let user_id = mas.register(&localpart, "pw-Nuoauth-1");
    let config = support::scratch(&format!("config-{localpart}"));
    let script = format!(
        r#"let s = (matrix login {user_id} -H {url} --oauth --no-browser --save oa)
        print ($s | reject access_token refresh_token | to json --raw)
        print ($s.access_token | into string)
        print (matrix whoami --session oa | to json --raw)
        let r = (matrix refresh --session oa | matrix token reveal)
        print $r.access_token
        matrix logout --session oa | ignore
        print (matrix session list | length)"#,
        url = mas.url
    );
    let mut nu = support::Running::start(&script, |command| {
        command
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env("XDG_CONFIG_HOME", &config)
            .env("XDG_DATA_HOME", config.join("data"));
    });
    let page = approve_what_nu_shows(&mut nu, &localpart, "pw-Nuoauth-1");
    assert_eq!(page, format!("{}link", mas.issuer));
    let run = nu.finish(std::time::Duration::from_secs(60));
    assert!(run.success, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let session = json(lines[0]);
    assert_eq!(session["user_id"], user_id.as_str());
    assert_eq!(session["homeserver"], mas.url.as_str());
    let device_id = session["device_id"].as_str().expect("a device").to_owned();
    assert_eq!(device_id.len(), 12, "a fresh device: {device_id}");
    assert!(lines[1].starts_with("mat_…"), "masked: {}", lines[1]);
    let me = json(lines[2]);
    assert_eq!(me["user_id"], user_id.as_str());
    assert_eq!(me["device_id"], device_id.as_str());
    // The refresh went to MAS's token endpoint: a new token. Synapse has not seen it yet, so
    // after the logout (revocation) it must fail at once.
    let refreshed = lines[3].trim();
    assert!(refreshed.starts_with("mat_"), "{refreshed}");
    assert_eq!(lines[4].trim(), "0", "the logout forgot the saved session");
    let status = ureq::get(&format!("{}/_matrix/client/v3/account/whoami", mas.url))
        .header("Authorization", &format!("Bearer {refreshed}"))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .expect("an answer")
        .status();
    assert_eq!(status, 401, "a revoked token fails");
    assert!(!run.stderr.contains(refreshed), "tokens never reach stderr");
}

#[test]
fn without_a_password_an_oauth_server_gets_the_device_code_and_ctrl_c_stops_the_wait() {
    let mas = mas();
    let localpart = unique_user("chooser");
    let user_id = mas.register(&localpart, "pw-Chooser-1");
    // No password on the pipeline or as a flag, no terminal to ask on: OAuth 2.0 is the way.
    let mut nu = support::Running::start(
        // `--no-browser` goes with the OAuth 2.0 chosen for the server.
        &format!("matrix login {user_id} -H {} --no-browser", mas.url),
        |command| {
            command.env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
        },
    );
    let within = std::time::Duration::from_secs(30);
    nu.line_with("enter the code:", within);
    nu.interrupt();
    let run = nu.finish(within);
    assert!(!run.success);
    assert!(
        run.stderr_folded().contains("Interrupted"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_sign_in_nobody_approves_ends_at_the_time_out() {
    let mas = mas();
    let localpart = unique_user("waiter");
    let user_id = mas.register(&localpart, "pw-Waiter-1");
    let run = nu(&format!(
        "matrix login {user_id} -H {} --oauth --no-browser --oauth-timeout 2sec",
        mas.url
    ));
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(
        text.contains("Nobody approved the sign-in in time"),
        "{text}"
    );
    assert!(text.contains("waited 2 s"), "{text}");
}

/// `matrix login --oauth` of `user_id` in the real nu with a config folder of its own, after
/// `setup` (a line of nu: a setting), approved on MAS's page as the user.
fn oauth_login_approved_after(
    setup: &str,
    config: &std::path::Path,
    user_id: &str,
    password: &str,
) -> support::NuRun {
    let mas = mas();
    let localpart = user_id
        .trim_start_matches('@')
        .split(':')
        .next()
        .expect("a localpart");
    let mut nu = support::Running::start(
        &format!(
            "{setup}\nmatrix login {user_id} -H {} --oauth --no-browser | ignore",
            mas.url
        ),
        |command| {
            command
                .env("XDG_CONFIG_HOME", config)
                .env("XDG_DATA_HOME", config.join("data"));
        },
    );
    approve_what_nu_shows(&mut nu, localpart, password);
    nu.finish(std::time::Duration::from_secs(60))
}

/// Reads the address and the code a running `matrix login --oauth` printed, and approves the
/// sign-in there as the user. Returns the address.
fn approve_what_nu_shows(nu: &mut support::Running, localpart: &str, password: &str) -> String {
    let within = std::time::Duration::from_secs(30);
    let page = nu.line_with("/link", within).trim().to_owned();
    let code_line = nu.line_with("enter the code:", within);
    let code = code_line
        .rsplit(' ')
        .next()
        .expect("a code")
        .trim()
        .to_owned();
    support::mas::approve_device(&page, &code, localpart, password, true);
    page
}

/// The client_id kept for MAS's issuer in the session file.
fn kept_client_id(config: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(config.join("nu_plugin_matrix/sessions.json")).ok()?;
    json(&text)["oauth_clients"][mas().issuer.as_str()]
        .as_str()
        .map(str::to_owned)
}

#[test]
fn the_client_id_is_kept_per_server_and_replaced_when_refused() {
    let mas = mas();
    let localpart = unique_user("registrar");
    let user_id = mas.register(&localpart, "pw-Registrar-1");
    let config = support::scratch(&format!("config-{localpart}"));
    // This test's registrations carry a client_uri of their own, which MAS logs with each
    // registration it takes: they are counted there.
    let client_uri = format!("https://example.org/{localpart}");
    let setup = format!("$env.config.plugins.matrix = {{oauth_client_uri: '{client_uri}'}}");
    let registrations = || {
        std::fs::read_to_string(mas.dir.join("mas.log"))
            .expect("MAS's log")
            .lines()
            .filter(|line| line.contains("Client registration") && line.contains(&client_uri))
            .count()
    };
    let login = || oauth_login_approved_after(&setup, &config, &user_id, "pw-Registrar-1");
    let run = login();
    assert!(run.success, "{}", run.stderr);
    assert_eq!(registrations(), 1, "the first login registers");
    let first = kept_client_id(&config).expect("the client_id is kept");
    // The next login uses the kept one: no registration.
    let file = config.join("nu_plugin_matrix/sessions.json");
    let run = login();
    assert!(run.success, "{}", run.stderr);
    assert_eq!(registrations(), 1, "a later login does not register again");
    assert_eq!(kept_client_id(&config).as_deref(), Some(first.as_str()));
    // A client the server does not know (forgotten, or another server's): registered again.
    let text = std::fs::read_to_string(&file).expect("the session file");
    std::fs::write(&file, text.replace(&first, "01JZZZZZZZZZZZZZZZZZZZZZZZ")).expect("written");
    let run = login();
    assert!(run.success, "{}", run.stderr);
    assert_eq!(registrations(), 2, "an unknown client is registered again");
    let again = kept_client_id(&config).expect("kept again");
    assert_ne!(again, "01JZZZZZZZZZZZZZZZZZZZZZZZ");
}
