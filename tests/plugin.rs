//! The commands inside nu-plugin-test-support's in-process engine: their examples, and the
//! argument errors that need no server.

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

#[test]
fn every_command_has_examples_that_parse() {
    use nu_plugin_matrix::plugin::commands::{Login, Matrix, Token, TokenReveal};
    let mut test = plugin_test();
    let results = [
        test.test_command_examples(&Matrix),
        test.test_command_examples(&Login),
        test.test_command_examples(&Token),
        test.test_command_examples(&TokenReveal),
    ];
    for result in results {
        if let Err(err) = result {
            panic!("{}", describe(&err));
        }
    }
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

#[test]
fn argument_errors_point_at_the_argument_and_say_what_to_do() {
    for (source, expected) in [
        ("matrix login -p x", "Which user should log in?"),
        (
            "matrix login bot -p x",
            "give the full user ID (@bot:example.org)",
        ),
        (
            "matrix login bot:example.org -p x",
            "looks like a user ID without the leading @",
        ),
        ("matrix login '@bot' -p x", "has no server name"),
        (
            "matrix login '@:example.org' -p x",
            "the user name is empty",
        ),
        ("matrix login '@b ot:example.org' -p x", "contains a space"),
        (
            "matrix login @bot:example.org -H matrix.example.org -p x",
            "write https://matrix.example.org",
        ),
        (
            "matrix login @bot:example.org -H ftp://example.org -p x",
            "scheme 'ftp' is not supported",
        ),
        (
            "matrix login @bot:example.org -H 'https://u:pw@example.org' -p x",
            "contains a user name or password",
        ),
        (
            "matrix login @bot:example.org -H 'https://example.org/?x=1' -p x",
            "has a query or fragment",
        ),
        (
            "matrix login @bot:example.org -H https://example.org -p ''",
            "The password is empty",
        ),
        (
            "'a' | matrix login @bot:example.org -H https://example.org -p b",
            "The password was given twice",
        ),
        (
            "matrix login @bot:example.org -H https://example.org -p x --device-id ''",
            "the device ID is empty",
        ),
    ] {
        let text = error_of(source);
        assert!(
            text.to_lowercase().contains(&expected.to_lowercase()),
            "`{source}` gave: {text}"
        );
        assert!(!text.contains("u:pw"), "{text}");
    }
}

#[test]
fn an_over_long_device_id_is_refused() {
    let text = error_of(&format!(
        "matrix login @bot:example.org -H https://example.org -p x --device-id {}",
        "D".repeat(300)
    ));
    assert!(text.contains("the device ID is 300 bytes long"), "{text}");
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
    assert!(text.contains("The record has no access_token"), "{text}");
}
