use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{Category, Example, LabeledError, Record, Signature, Type, Value};

use crate::plugin::MatrixPlugin;
use crate::plugin::examples::BOT_TOKEN;
use crate::plugin::token::{TYPE_NAME, TokenValue};

/// `matrix token reveal`: the plaintext of a token value.
pub struct TokenReveal;

impl SimplePluginCommand for TokenReveal {
    type Plugin = MatrixPlugin;

    fn name(&self) -> &str {
        "matrix token reveal"
    }

    fn description(&self) -> &str {
        "Show the real access token of a session record or token value."
    }

    fn extra_description(&self) -> &str {
        "A token is the key to an account: whoever has it can act as the user until it is \
         logged out. That is why tokens display masked in tables, `to json`, `save` and \
         error messages, and why getting the plaintext takes this explicit command. Use it \
         where the token must leave Nushell (a bot's config file, an environment variable \
         of a bridge), and keep the result out of logs and shell history."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .input_output_types(vec![
                (Type::Custom(TYPE_NAME.into()), Type::String),
                (Type::record(), Type::record()),
                // Refused, but with an error that does not print the string.
                (Type::String, Type::String),
            ])
            .category(Category::Network)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["access token", "plaintext", "unmask", "secret"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "(matrix session get bot).access_token | matrix token reveal",
                description: "The token of the saved session 'bot' as plain text",
                result: Some(Value::test_string(BOT_TOKEN)),
            },
            Example {
                example: "let session = (input -s | matrix login @bot:example.org); $session.access_token | matrix token reveal",
                description: "The token of a session as plain text",
                result: None,
            },
            Example {
                example: "matrix login @bot:example.org | matrix token reveal | to json",
                description: "A session record with the plaintext token, e.g. for a bot's config",
                result: None,
            },
        ]
    }

    fn run(
        &self,
        _plugin: &MatrixPlugin,
        _engine: &EngineInterface,
        call: &EvaluatedCall,
        input: &Value,
    ) -> Result<Value, LabeledError> {
        if let Some(token) = TokenValue::from_value(input) {
            return Ok(Value::string(token.token().reveal(), call.head));
        }
        if let Value::Record { val, .. } = input {
            return reveal_record(val, input.span(), call);
        }
        Err(not_a_token(input, "this is not a token value", call.head))
    }
}

fn reveal_record(
    record: &Record,
    span: nu_protocol::Span,
    call: &EvaluatedCall,
) -> Result<Value, LabeledError> {
    // Every token value in it: a session's access and refresh tokens, a login token, a
    // generated password.
    let mut revealed = record.clone();
    let mut found = false;
    for (_, value) in revealed.iter_mut() {
        if let Some(token) = TokenValue::from_value(value) {
            *value = Value::string(token.token().reveal(), call.head);
            found = true;
        }
    }
    if found {
        return Ok(Value::record(revealed, span));
    }
    match record.get("access_token") {
        Some(field) => Err(not_a_token(
            field,
            "this access_token is not a token value",
            call.head,
        )),
        None => Err(
            LabeledError::new("The record holds no token value").with_label(
                "expected a record from `matrix login`, `matrix register` or `matrix token \
                 login-token`",
                span,
            ),
        ),
    }
}

/// The error for a value that is no token. Strings are never labelled at their own span, which
/// Nushell would print (a token from `$env`, say).
fn not_a_token(value: &Value, label: &str, head: nu_protocol::Span) -> LabeledError {
    let span = match value {
        Value::String { .. } => head,
        other => other.span(),
    };
    let error = LabeledError::new("Expected a Matrix token value")
        .with_label(format!("{label} (it is {})", value.get_type()), span);
    match value {
        Value::String { val, .. } if val.contains('…') => error.with_help(
            "this is the masked text of a token: the real token is gone once a value goes \
             through `to json`, `into string` or a file. Pass the value that `matrix login` \
             returned instead.",
        ),
        Value::String { .. } => error.with_help(
            "a plain string is already plain text; to use a token from elsewhere as a \
             session, wrap it: `$token | matrix token import --homeserver <url>`",
        ),
        _ => error.with_help("pass a session record or token value from `matrix login`"),
    }
}
