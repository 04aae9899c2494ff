//! Single sign-on and login tokens, in the real nu against a real Synapse whose single sign-on
//! goes through a real OpenID provider on loopback (oidc-provider-mock). The test plays the
//! browser: it takes the URL the command prints, follows the redirects, signs in at the
//! provider, and lets the browser go back to the command's listener.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value as JsonValue;
use support::browser::Browser;
use support::{Running, synapse_with_sso, unique_user};

/// The Rust example, compiled into this test so that it is always current.
#[path = "../examples/sso.rs"]
mod sso_example;

const SIGN_IN_WITHIN: Duration = Duration::from_secs(30);

/// The single sign-on URL in a line the command printed.
fn sso_url(line: &str) -> String {
    line.split_whitespace()
        .find(|word| word.contains("/login/sso/redirect"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned()
}

/// Starts `script` (which runs `matrix login --sso ...`) and returns it with the URL it printed.
fn start_sso(script: &str) -> (Running, String) {
    let mut nu = Running::start(script, |command| {
        command.env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
    });
    let line = nu.line_with("/login/sso/redirect", SIGN_IN_WITHIN);
    let url = sso_url(&line);
    (nu, url)
}

fn json(text: &str) -> JsonValue {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

#[test]
fn sso_login_returns_a_working_session_for_the_mapped_user() {
    let synapse = synapse_with_sso();
    let sub = unique_user("carol");
    let script = format!(
        "let s = (matrix login --sso --no-browser --idp oidc-mock -H {} --device-id SSO1 \
         --device-name 'sso test' --refresh --save sso1); \
         {{login: ($s | reject access_token refresh_token), shown: ($s.access_token | into string), \
          refreshable: ($s.refresh_token? != null), saved: (matrix session list | get name), \
          me: (matrix whoami)}} | to json",
        synapse.url
    );
    let config = support::scratch("sso-config");
    let mut nu = Running::start(&script, |command| {
        command
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env("XDG_CONFIG_HOME", &config);
    });
    let url = sso_url(&nu.line_with("/login/sso/redirect", SIGN_IN_WITHIN));
    assert!(
        url.starts_with(&format!(
            "{}/_matrix/client/v3/login/sso/redirect/oidc-mock?redirectUrl=http%3A%2F%2F127.0.0.1%3A",
            synapse.url
        )),
        "{url}"
    );
    assert!(
        url.contains("nonce%3D"),
        "no nonce in the redirect URL: {url}"
    );
    let page = Browser::new().sign_in(&url, &sub);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("You can close this tab"),
        "{}",
        page.body
    );

    let run = nu.finish(SIGN_IN_WITHIN);
    assert!(run.success, "{}", run.stderr);
    let out = json(&run.stdout);
    let user_id = format!("@{sub}:localhost");
    assert_eq!(out["login"]["user_id"], user_id.as_str());
    assert_eq!(out["login"]["device_id"], "SSO1");
    assert_eq!(out["login"]["homeserver"], synapse.url.as_str());
    assert_eq!(out["me"]["user_id"], user_id.as_str());
    assert_eq!(out["me"]["device_id"], "SSO1");
    assert_eq!(out["refreshable"], true);
    assert_eq!(out["saved"], serde_json::json!(["sso1"]));
    assert!(
        out["shown"].as_str().unwrap().starts_with("syt_…"),
        "{}",
        out["shown"]
    );
    // What the user was told while it waited.
    assert!(
        run.stderr
            .contains("Open this page in a browser on this machine"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Waiting up to 5min"), "{}", run.stderr);
    assert!(!run.all().contains("loginToken="), "{}", run.all());
}

#[test]
fn a_callback_without_the_right_nonce_is_refused_and_the_wait_goes_on() {
    let synapse = synapse_with_sso();
    let sub = unique_user("dave");
    let script = format!(
        "matrix login --sso --no-browser -H {} | get user_id",
        synapse.url
    );
    let (nu, url) = start_sso(&script);
    let mut browser = Browser::new();
    let callback = browser.sign_in_until_callback(&url, &sub);
    assert!(callback.contains("loginToken="), "{callback}");

    // Someone else's link (a forged nonce), and one without a nonce: refused.
    let (before, after) = callback.split_once("nonce=").expect("a nonce");
    let forged = format!("{before}nonce=0000{}", &after[4..]);
    let page = browser.get(&forged);
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(
        page.body.contains("does not belong to the sign-in"),
        "{}",
        page.body
    );
    let without = callback.replace("nonce=", "other=");
    assert_eq!(browser.get(&without).status, 403);
    // Other paths (a favicon) are not the callback.
    let root = callback.split("/callback").next().unwrap().to_owned();
    assert_eq!(browser.get(&format!("{root}/favicon.ico")).status, 404);

    // The real one still works.
    let page = browser.get(&callback);
    assert_eq!(page.status, 200, "{}", page.body);
    let run = nu.finish(SIGN_IN_WITHIN);
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), format!("@{sub}:localhost"));
}

#[test]
fn the_wait_for_the_browser_times_out_cleanly() {
    let synapse = synapse_with_sso();
    // No --no-browser, but no graphical session either: the URL is printed all the same.
    let script = format!("matrix login --sso -H {} --sso-timeout 2sec", synapse.url);
    let started = Instant::now();
    let (nu, url) = start_sso(&script);
    let run = nu.finish(Duration::from_secs(20));
    assert!(!run.success);
    assert!(started.elapsed() < Duration::from_secs(15));
    let text = run.stderr_folded();
    assert!(
        text.contains("Could not open a browser: no graphical session"),
        "{text}"
    );
    assert!(
        text.contains("The browser did not come back within 2sec"),
        "{text}"
    );
    assert!(text.contains("--login-token"), "{text}");
    // The listener is gone with the wait.
    let port = url
        .split("127.0.0.1%3A")
        .nth(1)
        .and_then(|rest| rest.split('%').next())
        .expect("a port in the redirect URL");
    assert!(
        std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err(),
        "still listening on {port}"
    );
}

#[test]
fn ctrl_c_stops_the_wait_for_the_browser() {
    let synapse = synapse_with_sso();
    let script = format!("matrix login --sso --no-browser -H {}", synapse.url);
    let (nu, _url) = start_sso(&script);
    nu.interrupt();
    let run = nu.finish(Duration::from_secs(10));
    assert!(!run.success);
    assert!(run.stderr.contains("Interrupted"), "{}", run.stderr);
}

#[test]
fn the_browser_is_opened_where_there_is_a_graphical_session() {
    let synapse = synapse_with_sso();
    let sub = unique_user("erin");
    // A stand-in for the desktop's URL opener that notes what it was asked to open.
    let dir = support::scratch("fake-browser");
    let opened = dir.join("opened.txt");
    let opener = dir.join("xdg-open");
    std::fs::write(
        &opener,
        format!("#!/bin/sh\nprintf '%s' \"$1\" > '{}'\n", opened.display()),
    )
    .unwrap();
    std::fs::set_permissions(&opener, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = format!("matrix login --sso -H {} | get user_id", synapse.url);
    let mut nu = Running::start(&script, |command| {
        command
            .env("DISPLAY", ":99")
            .env_remove("WAYLAND_DISPLAY")
            .env("PATH", &path);
    });
    let line = nu.line_with("/login/sso/redirect", SIGN_IN_WITHIN);
    let printed = sso_url(&line);
    let url = std::fs::read_to_string(&opened).expect("the opener ran");
    assert_eq!(url, printed);
    let page = Browser::new().sign_in(&url, &sub);
    assert_eq!(page.status, 200, "{}", page.body);
    let run = nu.finish(SIGN_IN_WITHIN);
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), format!("@{sub}:localhost"));
    assert!(
        run.stderr.contains("Your browser should open this page"),
        "{}",
        run.stderr
    );
}

#[test]
fn signing_in_as_another_user_is_refused_and_that_session_logged_out() {
    let synapse = synapse_with_sso();
    let wanted = unique_user("bot");
    let signed_in = unique_user("frank");
    let script = format!(
        "matrix login @{wanted}:localhost --sso --no-browser -H {}",
        synapse.url
    );
    let (nu, url) = start_sso(&script);
    assert_eq!(Browser::new().sign_in(&url, &signed_in).status, 200);
    let run = nu.finish(SIGN_IN_WITHIN);
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(
        text.contains(&format!(
            "Signed in as @{signed_in}:localhost, not @{wanted}:localhost"
        )),
        "{text}"
    );
    assert!(text.contains("That session was logged out again"), "{text}");
    // The account exists now (single sign-on made it), with no device left.
    let admin = synapse.register_admin(&unique_user("admin"), "admin-pw");
    let devices = synapse.get_json(
        &format!(
            "{}/_synapse/admin/v2/users/@{signed_in}:localhost/devices",
            synapse.url
        ),
        Some(&admin),
    );
    assert_eq!(devices["total"], 0, "{devices}");
}

#[test]
fn an_unknown_identity_provider_is_refused_before_the_browser() {
    let synapse = synapse_with_sso();
    let run = support::nu(&format!(
        "matrix login --sso --no-browser --idp oidc-nope -H {}",
        synapse.url
    ));
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(
        text.contains("No identity provider 'oidc-nope' here"),
        "{text}"
    );
    assert!(text.contains("oidc-mock (Mock IdP)"), "{text}");
    assert!(!text.contains("/login/sso/redirect"), "{text}");
}

#[test]
fn a_server_without_single_sign_on_says_so() {
    // A plain Synapse: password logins, no single sign-on.
    let server = support::synapse();
    let run = support::nu(&format!(
        "matrix login --sso --no-browser -H {}",
        server.url
    ));
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(
        text.contains("This homeserver offers no single sign-on"),
        "{text}"
    );
    assert!(text.contains("it offers: m.login.password"), "{text}");
}

#[test]
fn flows_list_the_identity_providers() {
    let synapse = synapse_with_sso();
    let run = support::nu(&format!("matrix flows {} | to json", synapse.url));
    assert!(run.success, "{}", run.stderr);
    assert!(run.stdout.contains("oidc-mock"), "{}", run.stdout);
    assert!(run.stdout.contains("Mock IdP"), "{}", run.stdout);
}

#[test]
fn a_login_token_from_a_session_logs_in_a_second_session_once() {
    let synapse = synapse_with_sso();
    let user = unique_user("gina");
    let password = "gina-pw-123";
    let user_id = synapse.register(&user, password);
    let script = format!(
        "let first = ($env.PW | matrix login {user_id} -H {url}); \
         let lt = ($first | matrix token login-token --password $env.PW); \
         let second = ($lt | matrix login --device-name second); \
         let text = ($lt.login_token | matrix token reveal); \
         let whole = ($lt | matrix token reveal | get login_token); \
         let again = (try {{ matrix login --login-token $text -H {url}; 'accepted' }} catch {{|e| $e.msg }}); \
         {{shown: ($lt | to json), user: $lt.user_id, expires: ($lt.expires_at > (date now)), \
          first: $first.device_id, second: ($second | matrix whoami), again: $again, \
          text_prefix: ($text | str substring 0..3), whole_record: ($whole == $text)}} | to json",
        url = synapse.url
    );
    let run = support::nu_pw(&script, password);
    assert!(run.success, "{}", run.stderr);
    let out = json(&run.stdout);
    assert_eq!(out["user"], user_id.as_str());
    assert_eq!(
        out["whole_record"], true,
        "the record's login token is revealed too"
    );
    assert_eq!(out["expires"], true);
    assert_eq!(out["second"]["user_id"], user_id.as_str());
    assert_ne!(out["second"]["device_id"], out["first"]);
    assert_eq!(out["text_prefix"], "syl_");
    // Masked wherever it is shown.
    let shown = json(out["shown"].as_str().unwrap());
    assert!(
        shown["login_token"].as_str().unwrap().starts_with("syl_…"),
        "{shown}"
    );
    // Used once already: refused, with a clear error.
    assert_eq!(
        out["again"], "The login token was refused",
        "{}",
        run.stdout
    );
    assert!(!run.stderr.contains(password));
}

#[test]
fn login_token_flag_logs_in_with_a_token_made_elsewhere() {
    let synapse = synapse_with_sso();
    let user = unique_user("hank");
    let password = "hank-pw-123";
    let user_id = synapse.register(&user, password);
    // Made "on another machine": straight from the API, with the password confirmation.
    let token = synapse.login(&user_id, password);
    let login_token = synapse.login_token(&token, &user_id, password);
    // From a variable, as `--login-token (input -s)` would: nu quotes the command line in
    // its errors, so a literal token would show up there.
    let with_token = |script: &str| {
        support::nu_with(script, |command| {
            command.env("LT", &login_token);
        })
    };
    let run = with_token(&format!(
        "matrix login {user_id} --login-token $env.LT -H {} --device-id LT1 | matrix whoami | to json",
        synapse.url
    ));
    assert!(run.success, "{}", run.stderr);
    let me = json(&run.stdout);
    assert_eq!(me["user_id"], user_id.as_str());
    assert_eq!(me["device_id"], "LT1");
    // Used: a second time it is refused, saying why.
    let run = with_token(&format!(
        "matrix login --login-token $env.LT -H {}",
        synapse.url
    ));
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(text.contains("The login token was refused"), "{text}");
    assert!(text.contains("works once"), "{text}");
    assert!(!text.contains(&login_token[4..]), "{text}");
}

#[test]
fn login_tokens_need_the_password_and_are_refused_with_a_wrong_one() {
    let synapse = synapse_with_sso();
    let user = unique_user("ivy");
    let password = "ivy-pw-123";
    let user_id = synapse.register(&user, password);
    let login = format!(
        "let s = ($env.PW | matrix login {user_id} -H {});",
        synapse.url
    );
    // No password and no terminal to ask on.
    let run = support::nu_pw(&format!("{login} $s | matrix token login-token"), password);
    assert!(!run.success);
    assert!(
        run.stderr_folded()
            .contains("No password given, and no terminal to ask for it"),
        "{}",
        run.stderr
    );
    let run = support::nu_pw(
        &format!("{login} $s | matrix token login-token --password wrong-pw"),
        password,
    );
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(
        text.contains("Wrong password: no login token was made"),
        "{text}"
    );
    // A login token is not a session.
    let run = support::nu_pw(
        &format!("{login} $s | matrix token login-token --password $env.PW | matrix whoami"),
        password,
    );
    assert!(!run.success);
    assert!(
        run.stderr_folded()
            .contains("This is a login token, not a session"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_server_without_login_tokens_says_how_to_turn_them_on() {
    // The plain test Synapse: login_via_existing_session is off, as by default.
    let synapse = support::synapse();
    let user = unique_user("jack");
    let password = "jack-pw-123";
    let user_id = synapse.register(&user, password);
    let run = support::nu_pw(
        &format!(
            "$env.PW | matrix login {user_id} -H {} | matrix token login-token --password $env.PW",
            synapse.url
        ),
        password,
    );
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(
        text.contains("This homeserver does not hand out login tokens"),
        "{text}"
    );
    assert!(text.contains("login_via_existing_session"), "{text}");
}

#[test]
fn the_rust_example_signs_in_through_the_browser() {
    let synapse = synapse_with_sso();
    let sub = unique_user("kim");
    let (sender, urls) = std::sync::mpsc::channel::<String>();
    let browser = std::thread::spawn(move || {
        let url = urls.recv().expect("the example shows a URL");
        Browser::new().sign_in(&url, &sub).status
    });
    let session = sso_example::sign_in(&synapse.url, Some("oidc-mock"), |url| {
        sender.send(url.to_owned()).expect("the browser waits");
    })
    .expect("the example signs in");
    assert_eq!(browser.join().expect("the browser"), 200);
    assert!(session.user_id.as_str().starts_with("@kim"), "{session:?}");
    let me = synapse.whoami(session.access_token.reveal());
    assert_eq!(me["user_id"], session.user_id.as_str());
    assert!(!format!("{session:?}").contains(session.access_token.reveal()));
}

/// Tab after `--idp` in an interactive nu (in a pseudo-terminal from util-linux `script`)
/// completes the identity provider of the homeserver named on the command line.
#[test]
fn idp_completes_from_the_homeservers_identity_providers() {
    let synapse = synapse_with_sso();
    let typescript = support::scratch("pty-completion").join("typescript");
    let command = format!(
        "{nu} --no-config-file --no-history --plugins '[{plugin}]'",
        nu = support::nu_binary().display(),
        plugin = support::plugin_binary(),
    );
    let terminal = support::pty::Terminal::start(&command, &typescript);
    terminal.wait_for("Startup Time", Duration::from_secs(20));
    let typing = format!("matrix login --sso -H {} --idp ", synapse.url);
    terminal.tab_completes(&typing, "--idp oidc-mock", Duration::from_secs(15));
    // Leave without running it: Ctrl-C clears the line, then exit.
    terminal.type_keys(b"\x03exit\r");
    let (exited, screen) = terminal.finish(Duration::from_secs(10));
    assert!(exited, "nu did not exit cleanly: {screen}");
}
