//! The MAS suite: the plugin, in the real nu, against a homeserver whose accounts a real
//! matrix-authentication-service (MAS) runs (`scripts/mas`: PostgreSQL, MAS, Synapse, and the
//! router in front of them). Needs `MAS_DIST` at `scripts/deps` time; `scripts/test` runs it when
//! that is set (CI always does), and says so when it is not.

mod support;

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
