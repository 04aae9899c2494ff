//! Finding the homeserver: the spec's client discovery against loopback well-known servers in
//! front of the real Synapse, login flows, the no-password-login error, configuration.
//!
//! Discovery looks up `https://<hostname>/.well-known/matrix/client`; these tests point it at a
//! loopback test server with `NU_PLUGIN_MATRIX_DISCOVERY_ORIGIN` (honoured for loopback http
//! origins only).

mod support;

use support::{
    FaultServer, NuRun, closed_port_url, http, nu, nu_with, redirect, synapse,
    synapse_without_password_login, unique_user,
};

const ORIGIN_VAR: &str = "NU_PLUGIN_MATRIX_DISCOVERY_ORIGIN";

/// Runs `script` with discovery pointed at `origin` and `$env.PW` set.
fn nu_discovering(script: &str, origin: &str, password: &str) -> NuRun {
    nu_with(script, |command| {
        command.env(ORIGIN_VAR, origin).env("PW", password);
    })
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

fn well_known(body: &str) -> FaultServer {
    FaultServer::routes(vec![(
        "/.well-known/matrix/client",
        http("200 OK", "application/json", body),
    )])
}

#[test]
fn delegation_to_another_port_is_followed_and_login_uses_it() {
    let hs = synapse();
    // The base URL with a trailing slash, as many well-known files have it.
    let delegating = well_known(&format!(
        r#"{{"m.homeserver": {{"base_url": "{}/"}}, "m.identity_server": {{"base_url": "https://id.example.org"}}}}"#,
        hs.url
    ));
    let run = nu_discovering(
        "matrix discover localhost | to json --raw",
        &delegating.url,
        "",
    );
    assert!(run.success, "{}", run.stderr);
    let found = json(&run.stdout);
    assert_eq!(found["server_name"], "localhost");
    assert_eq!(found["homeserver"], hs.url.as_str());
    assert_eq!(found["identity_server"], "https://id.example.org");
    assert_eq!(found["source"], "well-known");
    assert!(
        found["versions"]
            .as_array()
            .is_some_and(|v| v.iter().any(|v| v == "v1.11")),
        "{found}"
    );

    let password = "pw-Disco-1";
    let user_id = hs.register(&unique_user("disco"), password);
    let run = nu_discovering(
        &format!("$env.PW | matrix login {user_id} | reject access_token | to json --raw"),
        &delegating.url,
        password,
    );
    assert!(run.success, "{}", run.stderr);
    let session = json(&run.stdout);
    assert_eq!(session["user_id"], user_id.as_str());
    assert_eq!(session["homeserver"], hs.url.as_str());

    // The same through a user ID.
    let run = nu_discovering(
        &format!("matrix discover {user_id} | get homeserver"),
        &delegating.url,
        "",
    );
    assert_eq!(run.stdout.trim(), hs.url, "{}", run.stderr);
}

#[test]
fn a_404_well_known_falls_back_to_the_server_name() {
    // Synapse, whose /.well-known/matrix/client alone a relay answers with a 404: the server
    // name itself is the homeserver, and Synapse's own /versions says so.
    let hs = synapse();
    let server =
        support::relay::FaultRelay::start(hs.url.trim_start_matches("http://"), |_, path| {
            path.starts_with("/.well-known/matrix/client")
                .then(|| http("404 Not Found", "text/plain", "no such file"))
        });
    let run = nu_discovering(
        "matrix discover example.org | to json --raw",
        &server.url,
        "",
    );
    assert!(run.success, "{}", run.stderr);
    let found = json(&run.stdout);
    assert_eq!(found["source"], "server name");
    assert_eq!(found["homeserver"], server.url.as_str());
    let versions = hs.get_json(&format!("{}/_matrix/client/versions", hs.url), None);
    assert_eq!(found["versions"], versions["versions"], "Synapse's own");
    assert_eq!(found["identity_server"], serde_json::Value::Null);
}

/// Runs `matrix discover` against a well-known server and returns its failure text.
fn discovery_failure(origin: &str) -> String {
    let run = nu_discovering("matrix discover example.org", origin, "");
    assert!(!run.success, "discovery should fail: {}", run.stdout);
    run.stderr_folded()
}

#[test]
fn failures_of_the_well_known_document_ask_for_the_homeserver() {
    let cases = [
        (
            http("500 Internal Server Error", "text/plain", "boom"),
            "it answered HTTP 500",
        ),
        (
            http("200 OK", "application/json", ""),
            "the document is empty",
        ),
        (
            http("200 OK", "text/html", "<html>hello</html>"),
            "not a JSON object",
        ),
        (
            http("200 OK", "application/json", r#"{"m.homeserver": {}}"#),
            "no m.homeserver.base_url",
        ),
        (
            http(
                "200 OK",
                "application/json",
                r#"{"m.homeserver": {"base_url": 5}}"#,
            ),
            "no m.homeserver.base_url",
        ),
    ];
    for (answer, expected) in cases {
        let server = FaultServer::routes(vec![("/.well-known/matrix/client", answer)]);
        let text = discovery_failure(&server.url);
        assert!(
            text.contains("Could not find the homeserver of example.org"),
            "{text}"
        );
        assert!(text.contains(expected), "{expected}: {text}");
        assert!(text.contains("--homeserver"), "{text}");
    }
    let text = discovery_failure(&closed_port_url());
    assert!(
        text.contains("Could not find the homeserver") && text.contains("connection refused"),
        "{text}"
    );
}

#[test]
fn a_broken_delegation_is_an_error_of_its_own() {
    let not_a_homeserver =
        FaultServer::answering("404 Not Found", "text/html", "<html>nope</html>");
    let cases = [
        (
            r#"{"m.homeserver": {"base_url": "not a url"}}"#.to_owned(),
            "is not a valid URL",
        ),
        (
            format!(
                r#"{{"m.homeserver": {{"base_url": "{}"}}}}"#,
                not_a_homeserver.url
            ),
            "is not a homeserver",
        ),
        (
            r#"{"m.homeserver": {"base_url": "http://matrix.example.org"}}"#.to_owned(),
            "plain http",
        ),
        (
            format!(
                r#"{{"m.homeserver": {{"base_url": "{}"}}, "m.identity_server": {{"base_url": "::"}}}}"#,
                synapse().url
            ),
            "m.identity_server.base_url is not a valid URL",
        ),
    ];
    for (body, expected) in cases {
        let server = well_known(&body);
        let text = discovery_failure(&server.url);
        assert!(
            text.contains("delegates to a broken homeserver address"),
            "{text}"
        );
        assert!(text.contains(expected), "{expected}: {text}");
    }
}

#[test]
fn redirects_are_followed_but_loops_are_not() {
    let hs = synapse();
    let body = format!(r#"{{"m.homeserver": {{"base_url": "{}"}}}}"#, hs.url);
    let server = FaultServer::routes(vec![
        ("/.well-known/matrix/client", redirect("/moved/client.json")),
        (
            "/moved/client.json",
            http("200 OK", "application/json", &body),
        ),
    ]);
    let run = nu_discovering(
        "matrix discover example.org | get homeserver",
        &server.url,
        "",
    );
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), hs.url);

    let looping = FaultServer::routes(vec![
        ("/.well-known/matrix/client", redirect("/a")),
        ("/a", redirect("/.well-known/matrix/client")),
    ]);
    let text = discovery_failure(&looping.url);
    assert!(text.contains("redirect loop"), "{text}");
}

#[test]
fn flows_of_the_real_synapse_list_password_login() {
    let hs = synapse();
    let run = nu(&format!(
        "matrix flows {} | get type | to json --raw",
        hs.url
    ));
    assert!(run.success, "{}", run.stderr);
    let types = json(&run.stdout);
    assert!(
        types
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t == "m.login.password")),
        "{types}"
    );
    // A Synapse that runs its own accounts speaks no OAuth 2.0: no oauth2 row, and discovery
    // says so too (`oauth2` is nothing).
    assert!(
        !types
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t == "oauth2")),
        "{types}"
    );
}

#[test]
fn a_server_without_password_login_says_what_it_offers() {
    let hs = synapse_without_password_login();
    let run = nu(&format!(
        "matrix flows {} | get type | to json --raw",
        hs.url
    ));
    assert!(run.success, "{}", run.stderr);
    assert!(!run.stdout.contains("m.login.password"), "{}", run.stdout);

    let run = nu_with(
        &format!("$env.PW | matrix login @someone:localhost -H {}", hs.url),
        |command| {
            command.env("PW", "pw-unused-1");
        },
    );
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(
        text.contains("This homeserver offers no password login"),
        "{text}"
    );
    assert!(text.contains("it offers:"), "{text}");
    assert!(text.contains("matrix token import"), "{text}");
}

#[test]
fn a_server_without_a_login_endpoint_points_to_mas_compatibility_tokens() {
    // A server that serves no /login at all (a plain 404): what a homeserver whose logins are
    // elsewhere, and whose proxy does not send /login to MAS, answers. (Behind a proxy that
    // does, MAS serves /login through its compatibility layer: the MAS suite logs in there.)
    let server = FaultServer::routes(vec![]);
    let run = nu(&format!(
        "'pw' | matrix login @bot:localhost -H {}",
        server.url
    ));
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(text.contains("only offers OAuth 2.0 logins"), "{text}");
    assert!(
        text.contains("mas-cli manage issue-compatibility-token"),
        "{text}"
    );
}

#[test]
fn config_sets_defaults_flags_win_and_bad_values_name_their_key() {
    let hs = synapse();
    let password = "pw-Config-2";
    let name = unique_user("config");
    let user_id = hs.register(&name, password);
    let run = nu_with(
        &format!(
            r#"$env.config.plugins.matrix = {{homeserver: "{url}", timeout: 20sec}}
            print ($env.PW | matrix login {name} | get user_id)
            print ($env.PW | matrix login {name} -H {url} | get homeserver)"#,
            url = hs.url
        ),
        |command| {
            command.env("PW", password);
        },
    );
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.stdout.trim(), format!("{user_id}\n{}", hs.url));

    let closed = closed_port_url();
    let run = nu_with(
        &format!(
            r#"$env.config.plugins.matrix = {{homeserver: "{closed}"}}
            $env.PW | matrix login {name} -H {url} | get user_id"#,
            url = hs.url
        ),
        |command| {
            command.env("PW", password);
        },
    );
    assert!(run.success, "the flag wins over the config: {}", run.stderr);

    for (setting, expected) in [
        ("{timeout: 5}", "$env.config.plugins.matrix.timeout is int"),
        (
            "{homeserver: 'matrix.example.org'}",
            "$env.config.plugins.matrix.homeserver",
        ),
        (
            "{allow_http: 'yes'}",
            "$env.config.plugins.matrix.allow_http is string",
        ),
        (
            "{homesever: 'https://x'}",
            "homesever is not a setting of this plugin",
        ),
    ] {
        let run = nu(&format!(
            "$env.config.plugins.matrix = {setting}; 'pw' | matrix login @bot:localhost -H {}",
            hs.url
        ));
        assert!(!run.success, "{setting}");
        assert!(
            run.stderr_folded().contains(expected),
            "{setting}: {}",
            run.stderr
        );
    }
}

#[test]
fn plain_http_to_another_host_needs_allow_http() {
    let run = nu("'pw' | matrix login @bot:example.org -H http://matrix.example.org");
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(
        text.contains("plain http to a host that is not this machine"),
        "{text}"
    );
    assert!(text.contains("allow_http"), "{text}");
}

#[test]
fn the_well_known_of_a_login_answer_is_honoured() {
    // A login through a relay: Synapse's answer names its own public URL (`well_known`), and
    // later calls go there, past the relay.
    let hs = synapse();
    let user_id = hs.register(&unique_user("wellknown"), "pw-WellKnown-1");
    let relay = support::proxy::CountingProxy::start(hs.url.trim_start_matches("http://"), |_| {});
    let run = support::nu_pw(
        &format!(
            "let s = ($env.PW | matrix login {user_id} -H {})
            $s | matrix whoami | ignore
            $s.homeserver",
            relay.url
        ),
        "pw-WellKnown-1",
    );
    assert!(run.success, "{}", run.stderr);
    assert_eq!(
        run.stdout.trim(),
        hs.url,
        "later calls go where the server said"
    );
    assert_eq!(
        relay.requests(),
        ["POST /_matrix/client/v3/login"],
        "only the login went through the relay"
    );
}
