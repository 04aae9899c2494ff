//! The authorization code grant with PKCE against MAS: `matrix login --oauth-browser` in the
//! real nu, whose listener the test browser comes back to, and the library's code exchange.

use std::time::Duration;

use nu_plugin_matrix::oauth::{API_SCOPE, ClientMetadata, LOOPBACK_REDIRECT_URI, OAuthClient};
use nu_plugin_matrix::{Client, Error};

use super::json;
use crate::support::browser::Browser;
use crate::support::mas::{authorize_in_browser, mas};
use crate::support::{Running, scratch, unique_user};

const WITHIN: Duration = Duration::from_secs(30);

/// The value of `name` in the query of `url`.
fn param(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .expect("a URL")
        .query_pairs()
        .find(|(key, _)| key == name)
        .unwrap_or_else(|| panic!("no {name} in {url}"))
        .1
        .into_owned()
}

/// `matrix login --oauth-browser --no-browser` for a new user, running in the real nu with a
/// config folder of its own; returns it, the user, and the authorization page it printed.
fn start_browser_login(prefix: &str, script_after: &str) -> (Running, String, String) {
    let mas = mas();
    let localpart = unique_user(prefix);
    let user_id = mas.register(&localpart, "pw-Browser-1");
    let config = scratch(&format!("config-{localpart}"));
    let mut nu = Running::start(
        &format!(
            "let s = (matrix login {user_id} -H {} --oauth-browser --no-browser)\n{script_after}",
            mas.url
        ),
        |command| {
            command.env("XDG_CONFIG_HOME", &config);
        },
    );
    let page = nu.line_with("/authorize?", WITHIN).trim().to_owned();
    (nu, localpart, page)
}

#[test]
fn matrix_login_oauth_browser_signs_in_and_refuses_a_forged_callback() {
    let (nu, localpart, page) = start_browser_login(
        "browser",
        r#"print ($s | reject access_token refresh_token | to json --raw)
        print ($s.refresh_token | into string)
        print ($s | matrix whoami | to json --raw)
        print ($s | matrix devices | where current | get device_id | to json --raw)
        print ($s | matrix devices | where current | get display_name.0)"#,
    );
    assert_eq!(param(&page, "code_challenge_method"), "S256");
    assert_eq!(param(&page, "code_challenge").len(), 43);
    let redirect_uri = param(&page, "redirect_uri");
    assert!(
        redirect_uri.starts_with("http://127.0.0.1:") && redirect_uri.ends_with("/callback"),
        "{redirect_uri}"
    );
    // A callback that does not carry this sign-in's state is refused, and the wait goes on.
    let forged = Browser::new().get(&format!("{redirect_uri}?state=forged&code=stolen"));
    assert_eq!(forged.status, 403, "{}", forged.body);
    let back = authorize_in_browser(&page, &localpart, "pw-Browser-1");
    assert!(back.starts_with(&redirect_uri), "{back}");
    let code = param(&back, "code");
    let arrived = Browser::new().get(&back);
    assert_eq!(arrived.status, 200, "{}", arrived.body);
    assert!(arrived.body.contains("Signed in"), "{}", arrived.body);
    let run = nu.finish(Duration::from_secs(60));
    assert!(run.success, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let session = json(lines[0]);
    assert_eq!(
        session["user_id"],
        format!("@{localpart}:localhost").as_str()
    );
    let device_id = session["device_id"].as_str().expect("a device");
    assert_eq!(device_id.len(), 12, "a fresh device: {device_id}");
    assert!(session["expires_at"].is_string(), "{session}");
    assert!(lines[1].starts_with("mar_…"), "masked: {}", lines[1]);
    let me = json(lines[2]);
    assert_eq!(me["device_id"], device_id);
    assert_eq!(
        json(lines[3]),
        serde_json::json!([device_id]),
        "the device list"
    );
    assert!(
        lines[4].starts_with("nu_plugin_matrix on "),
        "the OAuth device is named: {}",
        lines[4]
    );
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains(&code), "the code never shows");
    }
}

#[test]
fn a_callback_without_a_code_or_with_a_refusal_ends_the_browser_sign_in_clearly() {
    let cases = [
        ("", "sent the browser back without a code"),
        ("&error=access_denied", "The sign-in was refused"),
    ];
    for (extra, expected) in cases {
        let (nu, _, page) = start_browser_login("nocode", "print $s");
        let back = format!(
            "{}?state={}{extra}",
            param(&page, "redirect_uri"),
            param(&page, "state")
        );
        let answer = Browser::new().get(&back);
        assert_eq!(answer.status, 400, "{}", answer.body);
        let run = nu.finish(WITHIN);
        assert!(!run.success, "{}", run.stdout);
        let text = run.stderr_folded();
        assert!(text.contains(expected), "{text}");
    }
}

#[test]
fn a_code_is_exchanged_once_and_a_forgotten_client_is_noticed() {
    let mas = mas();
    let localpart = unique_user("codeonce");
    mas.register(&localpart, "pw-Browser-1");
    let client = Client::new(&mas.url).expect("a client");
    let metadata = client.auth_metadata().expect("asked").expect("MAS");
    let client_id = client
        .register_oauth_client(
            &metadata,
            &ClientMetadata {
                client_name: "e2e browser test".into(),
                client_uri: "https://example.org/".into(),
                redirect_uris: vec![LOOPBACK_REDIRECT_URI.into()],
                grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            },
        )
        .expect("registered");
    assert!(
        client
            .oauth_client_known(&metadata, &client_id)
            .expect("asked")
    );
    assert!(
        !client
            .oauth_client_known(&metadata, "01JZZZZZZZZZZZZZZZZZZZZZZZ")
            .expect("asked"),
        "an unknown client"
    );
    let sign_in = client
        .start_browser_sign_in(&metadata, &client_id, API_SCOPE)
        .expect("listening");
    let back = authorize_in_browser(sign_in.url(), &localpart, "pw-Browser-1");
    let browser = std::thread::spawn(move || Browser::new().get(&back).status);
    let code = sign_in.wait_for_code(WITHIN, &|| false).expect("a code");
    assert_eq!(browser.join().expect("the browser"), 200);
    let oauth = OAuthClient::new(&metadata, client_id);
    let tokens = client
        .exchange_code(&oauth, &sign_in, &code)
        .expect("exchanged");
    let me = client
        .whoami(&tokens.access_token)
        .expect("the token works");
    assert_eq!(me.user_id, *format!("@{localpart}:localhost").as_str());
    match client.exchange_code(&oauth, &sign_in, &code) {
        Err(Error::OAuth(err)) => {
            assert_eq!(err.error, "invalid_grant");
            assert!(!err.to_string().contains(code.reveal()));
        }
        other => panic!("a code works once: {other:?}"),
    }
    assert!(!format!("{sign_in:?}").contains("code_verifier"));
}
