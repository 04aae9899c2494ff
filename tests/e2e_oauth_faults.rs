//! OAuth 2.0 faults a real MAS does not produce on demand: a registration refused, `slow_down`
//! while polling, a revocation that fails, the `m.oauth` authentication stage. A loopback fault
//! server plays the homeserver and its OAuth 2.0 server; the plugin runs in the real nu.

mod support;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use support::{FaultServer, http, scratch};

/// The access token the fake server grants (never to be shown whole).
const ACCESS: &str = "mat_faultyAccessToken0000000001";
/// The refresh token it grants.
const REFRESH: &str = "mar_faultyRefreshToken000000001";
/// The device code it hands out.
const DEVICE_CODE: &str = "device-code-never-shown-0001";

fn json(body: &str) -> String {
    http("200 OK", "application/json", body)
}

fn oauth_error(status: &str, error: &str, description: &str) -> String {
    http(
        status,
        "application/json",
        &format!(r#"{{"error": "{error}", "error_description": "{description}"}}"#),
    )
}

/// The requests a fake server saw: path and when.
type Seen = Arc<Mutex<Vec<(String, Instant)>>>;

/// A homeserver whose OAuth 2.0 server (at the same address) offers the device code; `route`
/// answers the OAuth 2.0 endpoints (`/oauth/register`, `/oauth/device`, `/oauth/token`,
/// `/oauth/revoke`) and any other path, given how many times that path was asked before.
fn oauth_server(
    route: impl Fn(&str, usize) -> Option<String> + Send + Sync + 'static,
) -> (FaultServer, Seen) {
    let base: Arc<OnceLock<String>> = Arc::new(OnceLock::new());
    let seen: Seen = Arc::default();
    let (base_in, seen_in) = (Arc::clone(&base), Arc::clone(&seen));
    let server = FaultServer::with_handler(move |path| {
        let before = {
            let mut seen = seen_in.lock().expect("the log");
            let before = seen.iter().filter(|(p, _)| p == path).count();
            seen.push((path.to_owned(), Instant::now()));
            before
        };
        let base = base_in
            .get()
            .expect("the address is set before any request");
        if path == "/_matrix/client/v1/auth_metadata" {
            return json(&format!(
                r#"{{"issuer": "{base}/", "authorization_endpoint": "{base}/oauth/authorize",
                "token_endpoint": "{base}/oauth/token", "registration_endpoint": "{base}/oauth/register",
                "revocation_endpoint": "{base}/oauth/revoke",
                "device_authorization_endpoint": "{base}/oauth/device",
                "account_management_uri": "{base}/account/",
                "response_types_supported": ["code"], "response_modes_supported": ["query"],
                "grant_types_supported": ["authorization_code", "refresh_token",
                    "urn:ietf:params:oauth:grant-type:device_code"],
                "code_challenge_methods_supported": ["S256"]}}"#
            ));
        }
        route(path, before).unwrap_or_else(|| {
            http(
                "404 Not Found",
                "application/json",
                r#"{"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"}"#,
            )
        })
    });
    base.set(server.url.clone()).expect("set once");
    (server, seen)
}

/// The answers of a server that registers the client, hands out a device code polled every
/// second, and grants tokens at the first poll.
fn granting(path: &str) -> Option<String> {
    Some(match path {
        "/oauth/register" => http("201 Created", "application/json", r#"{"client_id": "c1"}"#),
        "/oauth/device" => json(&format!(
            r#"{{"device_code": "{DEVICE_CODE}", "user_code": "ABCD-EFGH",
            "verification_uri": "http://127.0.0.1/link", "interval": 1, "expires_in": 60}}"#
        )),
        "/oauth/token" => json(&format!(
            r#"{{"access_token": "{ACCESS}", "refresh_token": "{REFRESH}",
            "expires_in": 300, "token_type": "Bearer"}}"#
        )),
        "/_matrix/client/v3/account/whoami" => {
            json(r#"{"user_id": "@bot:localhost", "device_id": "FAULTDEVICE1"}"#)
        }
        _ => return None,
    })
}

fn login(url: &str, extra: &str) -> String {
    format!("matrix login @bot:localhost -H {url} --oauth --no-browser {extra}")
}

#[test]
fn a_refused_registration_says_what_the_admin_can_allow() {
    let (server, _) = oauth_server(|path, _| {
        (path == "/oauth/register").then(|| {
            oauth_error(
                "400 Bad Request",
                "invalid_client_metadata",
                "client_uri is not on the allowed list",
            )
        })
    });
    let run = support::nu(&login(&server.url, ""));
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(
        text.contains("The OAuth 2.0 server refused to register this program"),
        "{text}"
    );
    assert!(text.contains("invalid_client_metadata"), "{text}");
    assert!(text.contains("oauth_client_uri"), "{text}");
    assert!(
        text.contains("client_uri is not on the allowed list"),
        "{text}"
    );
}

/// A registration the server fails once (MAS does, with a 500, when an identical registration
/// happens at the same moment: seen in the MAS suite's parallel first logins) is asked again once.
#[test]
fn a_registration_the_server_fails_once_is_asked_again() {
    let (server, seen) = oauth_server(|path, before| match (path, before) {
        ("/oauth/register", 0) => Some(oauth_error(
            "500 Internal Server Error",
            "server_error",
            "The authorization server encountered an unexpected condition",
        )),
        _ => granting(path),
    });
    let run = support::nu(&format!("{} | get user_id", login(&server.url, "")));
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), "@bot:localhost");
    assert_eq!(registrations(&seen), 2, "one retry");

    // Failing twice is an error, after the one retry.
    let (server, seen) = oauth_server(|path, _| {
        (path == "/oauth/register")
            .then(|| oauth_error("500 Internal Server Error", "server_error", "still broken"))
    });
    let run = support::nu(&login(&server.url, ""));
    assert!(!run.success);
    assert!(
        run.stderr_folded().contains("server_error"),
        "{}",
        run.stderr
    );
    assert_eq!(registrations(&seen), 2);
}

/// How many registrations a fake server saw.
fn registrations(seen: &Seen) -> usize {
    seen.lock()
        .expect("the log")
        .iter()
        .filter(|(path, _)| path == "/oauth/register")
        .count()
}

#[test]
fn slow_down_adds_five_seconds_between_polls() {
    let (server, seen) = oauth_server(|path, before| match (path, before) {
        ("/oauth/token", 0) => Some(oauth_error("400 Bad Request", "slow_down", "too fast")),
        ("/oauth/token", _) => Some(oauth_error("400 Bad Request", "access_denied", "no")),
        _ => granting(path),
    });
    let run = support::nu(&login(&server.url, ""));
    assert!(!run.success, "{}", run.stdout);
    let text = run.stderr_folded();
    assert!(text.contains("The sign-in was refused"), "{text}");
    assert!(
        !run.all().contains(DEVICE_CODE),
        "the device code never shows"
    );
    let polls: Vec<Instant> = seen
        .lock()
        .expect("the log")
        .iter()
        .filter(|(path, _)| path == "/oauth/token")
        .map(|(_, at)| *at)
        .collect();
    assert_eq!(polls.len(), 2, "one slow_down, then the refusal");
    let gap = polls[1] - polls[0];
    // The interval was 1 s; slow_down makes it 6 s.
    assert!(gap >= Duration::from_millis(5_900), "{gap:?}");
}

#[test]
fn a_revocation_that_fails_says_what_is_still_valid_and_keeps_the_session() {
    // The refresh token is revoked; the access token's revocation fails.
    let (server, _) = oauth_server(|path, before| match (path, before) {
        ("/oauth/revoke", 0) => Some(json("{}")),
        ("/oauth/revoke", _) => Some(oauth_error(
            "503 Service Unavailable",
            "temporarily_unavailable",
            "try later",
        )),
        _ => granting(path),
    });
    let config = scratch("config-oauth-revocation");
    let with_config = |command: &mut std::process::Command| {
        command.env("XDG_CONFIG_HOME", &config);
    };
    let run = support::nu_with(&login(&server.url, "--save bot | ignore"), with_config);
    assert!(run.success, "{}", run.stderr);
    let run = support::nu_with("matrix logout --session bot", with_config);
    assert!(!run.success, "{}", run.stdout);
    let text = run.stderr_folded();
    assert!(
        text.contains("The OAuth 2.0 server did not revoke the session"),
        "{text}"
    );
    assert!(text.contains("the access token is still valid"), "{text}");
    assert!(text.contains("The refresh token is revoked"), "{text}");
    assert!(text.contains("temporarily_unavailable"), "{text}");
    for secret in [ACCESS, REFRESH] {
        assert!(!run.all().contains(secret), "no token shows");
    }
    let run = support::nu_with(
        "matrix session list | get name | to json --raw",
        with_config,
    );
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), r#"["bot"]"#, "the saved session is kept");
}

#[test]
fn the_m_oauth_stage_sends_to_the_account_page() {
    let (server, _) = oauth_server(|path, _| match path {
        "/_matrix/client/v3/delete_devices" => Some(http(
            "401 Unauthorized",
            "application/json",
            r#"{"session": "s1", "flows": [{"stages": ["m.oauth"]}],
            "params": {"m.oauth": {"url": "https://auth.example/account/?action=org.matrix.devices_list"}}}"#,
        )),
        _ => granting(path),
    });
    let run = support::nu_with(
        &format!(
            "$env.TOKEN | matrix token import -H {} | matrix devices delete OLDDEVICE01 --password x",
            server.url
        ),
        |command| {
            command.env("TOKEN", "syt_Ym90_faultyfaultyfaulty_0000");
        },
    );
    assert!(!run.success, "{}", run.stdout);
    let text = run.stderr_folded();
    assert!(
        text.contains("The homeserver asks to approve this on its account page"),
        "{text}"
    );
    assert!(
        // (Folding may break the line after `https://`.)
        text.contains("auth.example/account/?action=org.matrix.devices_list, approve there"),
        "{text}"
    );
}

#[test]
fn a_device_code_the_server_expires_ends_the_wait_clearly() {
    let (server, _) = oauth_server(|path, _| match path {
        "/oauth/token" => Some(oauth_error("400 Bad Request", "expired_token", "too late")),
        _ => granting(path),
    });
    let run = support::nu(&login(&server.url, ""));
    assert!(!run.success, "{}", run.stdout);
    let text = run.stderr_folded();
    assert!(
        text.contains("Nobody approved the sign-in in time"),
        "{text}"
    );
    assert!(text.contains("--oauth-timeout"), "{text}");
}

#[test]
fn broken_metadata_stops_an_oauth_login_saying_what_is_wrong() {
    let without_s256 = r#"{"issuer": "http://127.0.0.1:1/", "authorization_endpoint": "http://127.0.0.1:1/a",
        "token_endpoint": "http://127.0.0.1:1/t", "registration_endpoint": "http://127.0.0.1:1/r",
        "revocation_endpoint": "http://127.0.0.1:1/v", "response_types_supported": ["code"],
        "response_modes_supported": ["query"], "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["plain"]}"#;
    for (answer, expected) in [
        (
            http("200 OK", "text/html", "<html><body>Welcome</body></html>"),
            "not JSON",
        ),
        (
            json(without_s256),
            "`code_challenge_methods_supported` holds none of S256",
        ),
    ] {
        let server = FaultServer::routes(vec![("/_matrix/client/v1/auth_metadata", answer)]);
        let run = support::nu(&login(&server.url, ""));
        assert!(!run.success, "{}", run.stdout);
        let text = run.stderr_folded();
        assert!(text.contains(expected), "{text}");
    }
}

#[test]
fn an_admin_api_that_is_not_served_is_named() {
    // The OAuth 2.0 server signs in, but nothing answers at <issuer>api/admin/v1/.
    let (server, seen) = oauth_server(|path, _| granting(path));
    let run = support::nu(&format!(
        "{} | matrix admin tokens",
        login(&server.url, "--admin")
    ));
    assert!(!run.success, "{}", run.stdout);
    let text = run.stderr_folded();
    assert!(
        text.contains("MAS's admin API is not served here"),
        "{text}"
    );
    assert!(text.contains("adminapi"), "{text}");
    assert!(
        seen.lock()
            .expect("the log")
            .iter()
            .any(|(path, _)| path.starts_with("/api/admin/v1/personal-sessions")),
        "asked where MAS serves it"
    );
}

#[test]
fn a_password_mas_refuses_after_creating_the_user_says_the_user_exists() {
    // MAS's password policy (its zxcvbn complexity, which the test MAS turns off) refuses the
    // password after the user was made.
    let (server, _) = oauth_server(|path, _| match path {
        "/api/admin/v1/users" => Some(json(
            r#"{"data": {"type": "user", "id": "01JUSER0000000000000000000",
            "attributes": {"username": "newbot", "locked_at": null, "admin": false}}}"#,
        )),
        "/api/admin/v1/users/01JUSER0000000000000000000/set-password" => Some(http(
            "400 Bad Request",
            "application/json",
            r#"{"errors": [{"title": "Password is too weak"}]}"#,
        )),
        _ => granting(path),
    });
    let run = support::nu(&format!(
        "{} | matrix register newbot --password password",
        login(&server.url, "--admin")
    ));
    assert!(!run.success, "{}", run.stdout);
    let text = run.stderr_folded();
    assert!(
        text.contains("MAS created @newbot:localhost, then refused"),
        "{text}"
    );
    assert!(text.contains("Password is too weak"), "{text}");
    assert!(
        text.contains("matrix admin token @newbot:localhost"),
        "{text}"
    );
}

/// A real MAS's policy answers `invalid_scope` to a client outside `policy.data.admin_clients`
/// that asks for `urn:mas:admin`. The MAS build the MAS suite runs has its policy engine stubbed
/// out and grants it (../shared/mas/README.md), so the refusal is injected here.
#[test]
fn a_client_that_is_not_an_admin_client_is_told_so() {
    let (server, _) = oauth_server(|path, _| {
        (path == "/oauth/token").then(|| {
            oauth_error(
                "400 Bad Request",
                "invalid_scope",
                "urn:mas:admin is not allowed for this client",
            )
        })
    });
    let run = support::nu_with(
        &format!(
            "$env.SECRET | matrix admin session --client-id 01JADM1NC11ENT000000000001 -H {}",
            server.url
        ),
        |command| {
            command.env("SECRET", "a-client-secret-0001");
        },
    );
    assert!(!run.success, "{}", run.stdout);
    let text = run.stderr_folded();
    assert!(
        text.contains("This client may not get an admin token"),
        "{text}"
    );
    assert!(text.contains("admin_clients"), "{text}");
    assert!(
        !run.all().contains("a-client-secret-0001"),
        "the secret never shows: {}",
        run.all()
    );
}
