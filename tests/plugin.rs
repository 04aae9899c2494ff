//! The commands inside nu-plugin-test-support's in-process engine: their examples, and the
//! argument errors that need no server.

mod support;

use nu_plugin_matrix::plugin::MatrixPlugin;
use nu_plugin_test_support::PluginTest;
use nu_protocol::ShellError;

fn plugin_test() -> PluginTest {
    PluginTest::new("matrix", MatrixPlugin::new().into()).expect("the plugin loads")
}

/// Evaluates `source` and returns the error's full text (message, labels, help).
fn error_of(source: &str) -> String {
    match plugin_test().eval(source) {
        Ok(data) => panic!(
            "`{source}` should fail, gave {:?}",
            data.into_value(nu_protocol::Span::test_data())
        ),
        Err(err) => describe(&err),
    }
}

fn describe(err: &ShellError) -> String {
    let labeled = nu_protocol::LabeledError::from_diagnostic(err);
    let labels: Vec<String> = labeled
        .labels
        .iter()
        .map(|label| label.text.clone())
        .collect();
    format!(
        "{} | {} | {}",
        labeled.msg,
        labels.join(" / "),
        labeled.help.unwrap_or_default()
    )
}

/// Runs the examples of every command that carry a result, each command in a fresh example mode
/// (its own seeded session store, no network), and fails on any wrong result. (That every
/// example parses in the real nu is `e2e_help`'s test.)
#[test]
fn every_example_with_a_result_gives_it() {
    use nu_plugin::Plugin;
    let commands = MatrixPlugin::new().commands();
    let mut checked = 0;
    for command in &commands {
        let examples = command.examples();
        if examples.iter().all(|example| example.result.is_none()) {
            continue;
        }
        let folder = tempfile::tempdir().expect("a temp folder");
        let plugin = MatrixPlugin::for_examples(folder.path()).expect("the example store");
        let mut test = PluginTest::new("matrix", plugin.into()).expect("the plugin loads");
        if let Err(err) = test.test_examples(&examples) {
            panic!("{}: {}", command.name(), describe(&err));
        }
        checked += examples
            .iter()
            .filter(|example| example.result.is_some())
            .count();
    }
    // matrix, matrix token, matrix session, matrix admin, token reveal, session list, get, use,
    // remove, config: a command that loses its checked example must be noticed. (The examples
    // that need a homeserver run in e2e_command_examples and the MAS suite.)
    assert!(checked >= 10, "only {checked} examples carry a result");
}

#[test]
fn example_mode_sends_nothing() {
    let folder = tempfile::tempdir().expect("a temp folder");
    let plugin = MatrixPlugin::for_examples(folder.path()).expect("the example store");
    let mut test = PluginTest::new("matrix", plugin.into()).expect("the plugin loads");
    let err = match test.eval("matrix whoami --session bot") {
        Ok(data) => panic!(
            "should fail, gave {:?}",
            data.into_value(nu_protocol::Span::test_data())
        ),
        Err(err) => describe(&err),
    };
    assert!(err.contains("Example mode sends no request"), "{err}");
}

#[test]
fn matrix_alone_lists_the_subcommands() {
    let value = plugin_test()
        .eval("matrix")
        .expect("matrix runs")
        .into_value(nu_protocol::Span::test_data())
        .expect("a value");
    let help = value.coerce_into_string().expect("help text");
    assert!(help.contains("matrix login"), "{help}");
    assert!(help.contains("matrix token reveal"), "{help}");
}

/// Evaluates `source`, which must fail, and returns the error's text and the source text each
/// label points at.
fn failure(source: &str) -> (String, Vec<String>) {
    let mut test = plugin_test();
    let err = match test.eval(source) {
        Ok(data) => panic!(
            "`{source}` should fail, gave {:?}",
            data.into_value(nu_protocol::Span::test_data())
        ),
        Err(err) => err,
    };
    let labeled = nu_protocol::LabeledError::from_diagnostic(&err);
    let pointed = labeled
        .labels
        .iter()
        .map(|label| {
            String::from_utf8_lossy(test.engine_state().get_span_contents(label.span)).into_owned()
        })
        .collect();
    (describe(&err), pointed)
}

#[test]
fn bad_input_gets_a_clear_error_pointing_at_the_argument() {
    let long_user = format!("@{}:example.org", "a".repeat(250));
    let long_device = "D".repeat(300);
    let login = "matrix login @bot:example.org -H https://example.org";
    // (source, what the error says, the argument it points at ("" = the command itself))
    let cases: Vec<(String, &str, &str)> = vec![
        (
            "matrix login -p x".into(),
            "Which user should log in?",
            "matrix login",
        ),
        (
            "matrix login bot -p x".into(),
            "give the full user ID (@bot:example.org)",
            "bot",
        ),
        (
            "matrix login bot:example.org -p x".into(),
            "without the leading @",
            "bot:example.org",
        ),
        (
            "matrix login '@bot' -p x".into(),
            "has no server name",
            "'@bot'",
        ),
        (
            "matrix login '@:example.org' -p x".into(),
            "the user name is empty",
            "'@:example.org'",
        ),
        (
            "matrix login '@b ot:example.org' -p x".into(),
            "contains a space",
            "'@b ot:example.org'",
        ),
        (
            "matrix login \"@b\tot:example.org\" -p x".into(),
            "U+0009",
            "\"@b\tot:example.org\"",
        ),
        (
            "matrix login '@bot:' -p x".into(),
            "server name is empty",
            "'@bot:'",
        ),
        (
            "matrix login '@bot:exa mple.org' -p x".into(),
            "not a valid server name",
            "'@bot:exa mple.org'",
        ),
        (
            "matrix login '@bot:example.org:99999' -p x".into(),
            "invalid port",
            "'@bot:example.org:99999'",
        ),
        (
            "matrix login '@bot:[zz]' -p x".into(),
            "not a valid server name",
            "'@bot:[zz]'",
        ),
        (format!("matrix login '{long_user}' -p x"), "bytes long", ""),
        (
            "matrix login @bot:example.org -H matrix.example.org -p x".into(),
            "write https://matrix.example.org",
            "matrix.example.org",
        ),
        (
            "matrix login @bot:example.org -H ftp://example.org -p x".into(),
            "scheme 'ftp' is not supported",
            "ftp://example.org",
        ),
        (
            "matrix login @bot:example.org -H 'https://u:pw@example.org' -p x".into(),
            "contains a user name or password",
            "'https://u:pw@example.org'",
        ),
        (
            "matrix login @bot:example.org -H 'https://example.org/?x=1' -p x".into(),
            "has a query or fragment",
            "'https://example.org/?x=1'",
        ),
        (
            "matrix login @bot:example.org -H 'https://example.org/#top' -p x".into(),
            "has a query or fragment",
            "'https://example.org/#top'",
        ),
        (
            "matrix login @bot:example.org -H '' -p x".into(),
            "the homeserver URL is empty",
            "''",
        ),
        (
            "matrix login @bot:example.org -H 'https://' -p x".into(),
            "not a valid URL",
            "'https://'",
        ),
        (
            "matrix login @bot:example.org -H http://matrix.example.org -p x".into(),
            "plain http to a host that is not this machine",
            "http://matrix.example.org",
        ),
        (format!("{login} -p ''"), "The password is empty", "''"),
        (
            format!("'a' | {login} -p b"),
            "The password was given twice",
            "b",
        ),
        (
            format!("{login} -p x --device-id ''"),
            "the device ID is empty",
            "''",
        ),
        (
            format!("{login} -p x --device-id {long_device}"),
            "the device ID is 300 bytes long",
            "",
        ),
        (
            format!("{login} -p x --device-name \"a\\u{{7}}b\""),
            "contains a control character",
            "",
        ),
        (
            format!("{login} -p x --save ''"),
            "Invalid session name",
            "''",
        ),
        (
            format!("{login} -p x --timeout 0sec"),
            "Invalid --timeout",
            "0sec",
        ),
        (
            format!("{login} --idp oidc-x"),
            "--idp only goes with --sso",
            "oidc-x",
        ),
        (
            format!("{login} -p x --no-browser"),
            "--no-browser does nothing with --password",
            "",
        ),
        (
            format!("{login} --sso-timeout 1min"),
            "--sso-timeout only goes with --sso",
            "1min",
        ),
        (
            format!("{login} --sso --sso-timeout 0sec"),
            "The time to wait for the browser is zero",
            "0sec",
        ),
        (
            format!("{login} --sso --idp ''"),
            "The identity provider ID is empty",
            "''",
        ),
        (
            format!("{login} -p x --sso"),
            "Two ways to log in given",
            "--sso",
        ),
        (
            format!("'pw' | {login} --login-token syl_abc"),
            "Two ways to log in given",
            "syl_abc",
        ),
        (
            format!("{login} --sso --login-token syl_abc"),
            "Two ways to log in given",
            "--sso",
        ),
        (
            format!("{login} --login-token ''"),
            "That is not a login token",
            "''",
        ),
        (
            format!("{login} --login-token 'syl_a b'"),
            "a login token has no spaces",
            "'syl_a b'",
        ),
        (
            "matrix login --sso".into(),
            "Which homeserver?",
            "matrix login",
        ),
        (
            "matrix login --login-token syl_abc".into(),
            "Which homeserver?",
            "matrix login",
        ),
        (
            format!("{{a: 1}} | {login}"),
            "Expected a login token or a password",
            "",
        ),
        (
            "matrix send ops hi".into(),
            "'ops' is not a room ID or alias",
            "ops",
        ),
        (
            "matrix send '#ops:example.org'".into(),
            "What should be sent?",
            "matrix send",
        ),
        (
            "'a' | matrix send '#ops:example.org' b".into(),
            "The message was given twice",
            "b",
        ),
        (
            "matrix send '#ops:example.org' '  '".into(),
            "The message is empty",
            "'  '",
        ),
        (
            "matrix join 'ops room'".into(),
            "is not a room ID or alias",
            "'ops room'",
        ),
        (
            "matrix messages '#ops:example.org' --limit 0".into(),
            "The limit must be at least 1",
            "0",
        ),
        (
            "matrix api account/whoami --method FETCH".into(),
            "Unknown method 'FETCH'",
            "FETCH",
        ),
        (
            "matrix api createRoom --data '{nope'".into(),
            "--data is not JSON",
            "'{nope'",
        ),
        (
            "matrix api account/whoami --method GET --data {a: 1}".into(),
            "A GET request has no body",
            "{a: 1}",
        ),
        ("matrix api x --data {t: (1..3)}".into(), "Cannot send", ""),
        (
            "matrix api x --query {a: [1]}".into(),
            "A query parameter must be text or a number",
            "[1]",
        ),
        (
            "matrix token import -H https://example.org".into(),
            "Which token?",
            "matrix token import",
        ),
        (
            "'two words' | matrix token import -H https://example.org".into(),
            "This is not an access token",
            "matrix token import",
        ),
        (
            "'tok' | matrix token import tok2 -H https://example.org".into(),
            "The token was given twice",
            "tok2",
        ),
        (
            "'syt_abc' | matrix token import -H ftp://example.org".into(),
            "scheme 'ftp' is not supported",
            "ftp://example.org",
        ),
        (
            "matrix discover 'exa mple.org'".into(),
            "not a valid server name",
            "",
        ),
        ("matrix discover '@bot'".into(), "has no server name", ""),
        (
            "matrix flows ftp://example.org".into(),
            "scheme 'ftp' is not supported",
            "ftp://example.org",
        ),
        (
            "{user_id: '@a:b'} | matrix whoami".into(),
            "The record is not a session",
            "",
        ),
        (
            "do { 'syt_plain_token_1234567890' } | matrix whoami".into(),
            "Expected a Matrix session",
            "matrix whoami",
        ),
        (
            "'syt_plain' | matrix logout".into(),
            "matrix token import",
            "matrix logout",
        ),
        (
            "do { 42 } | matrix whoami".into(),
            "got int, not a session or token value",
            "",
        ),
        (
            "matrix devices delete -p x".into(),
            "Which devices?",
            "matrix devices delete",
        ),
        (
            "do { [1 2] } | matrix devices delete -p x".into(),
            "input type: list<int>",
            "",
        ),
        (
            "[{id: 1}] | matrix devices delete -p x".into(),
            "A piped row has no device_id",
            "",
        ),
        (
            "matrix session move bot --to vault".into(),
            "not keyring or file",
            "vault",
        ),
        (
            "matrix session move bot".into(),
            "Missing --to",
            "matrix session move",
        ),
        (
            "matrix session move bot --all --to file".into(),
            "give one session's name, or --all",
            "bot",
        ),
        (
            "matrix session move --to keyring".into(),
            "name a saved session, or give --all",
            "matrix session move",
        ),
    ];
    for (source, expected, pointed_at) in &cases {
        let (text, pointed) = failure(source);
        // Every error points at something: the argument to blame, or the command.
        assert!(!pointed.is_empty(), "`{source}` points at nothing: {text}");
        assert!(
            text.to_lowercase().contains(&expected.to_lowercase()),
            "`{source}` gave: {text}"
        );
        if !pointed_at.is_empty() {
            assert!(
                pointed.iter().any(|p| p.ends_with(pointed_at)),
                "`{source}` should point at {pointed_at:?}, points at {pointed:?}"
            );
        }
        for secret in ["u:pw", "syt_plain_token"] {
            assert!(!text.contains(secret), "`{source}` leaks {secret}: {text}");
        }
    }
}

#[test]
fn reveal_refuses_plain_and_masked_strings() {
    let text = error_of("do { 'syt_…abcd' } | matrix token reveal");
    assert!(text.contains("masked text of a token"), "{text}");
    let text = error_of("'syt_plain_token_text_1234' | matrix token reveal");
    assert!(text.contains("matrix token import"), "{text}");
    // A session record that went through `to json` or a file keeps only the masked text.
    let text = error_of("{access_token: 'syt_…abcd'} | matrix token reveal");
    assert!(
        text.contains("this access_token is not a token value"),
        "{text}"
    );
    assert!(text.contains("masked text of a token"), "{text}");
    let text = error_of("{access_token: 'plain'} | matrix token reveal");
    assert!(text.contains("already plain text"), "{text}");
    let text = error_of("{user_id: '@a:b'} | matrix token reveal");
    assert!(text.contains("The record holds no token value"), "{text}");
}

/// Help that names a table's columns names the ones the command declares, in order.
#[test]
fn every_table_command_names_its_columns_in_help() {
    let tables = support::table_columns();
    assert!(tables.len() >= 4, "{tables:?}");
    for (name, named, declared) in tables {
        assert_eq!(
            named, declared,
            "`help {name}` names other columns than it gives"
        );
    }
}
