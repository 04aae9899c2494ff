//! Where passwords come from: the pipeline, `--password`, or a hidden prompt on the terminal.

use std::path::PathBuf;

use nu_plugin::{EngineInterface, EvaluatedCall};
use nu_protocol::{LabeledError, PipelineData, Span, Spanned, Value};

use crate::secret::Password;

/// The password from what was piped in, else `--password`, else the prompt.
pub(crate) fn password_from(
    piped: Option<(String, Span)>,
    flag: Option<Spanned<String>>,
    engine: &EngineInterface,
    call: &EvaluatedCall,
    command: &str,
    user: &str,
) -> Result<Password, LabeledError> {
    match given_password(piped, flag)? {
        Some(password) => Ok(password),
        None => prompt(engine, call, command, user),
    }
}

/// The password piped in or given with `--password`, if any: not both, and not empty.
pub(crate) fn given_password(
    piped: Option<(String, Span)>,
    flag: Option<Spanned<String>>,
) -> Result<Option<Password>, LabeledError> {
    let (text, span) = match (piped, flag) {
        (Some(_), Some(flag)) => {
            return Err(LabeledError::new("The password was given twice")
                .with_label("a password also came from the pipeline", flag.span)
                .with_help("give it one way: on the pipeline or with --password, not both"));
        }
        (Some(piped), None) => piped,
        (None, Some(flag)) => (flag.item, flag.span),
        (None, None) => return Ok(None),
    };
    let password = Password::new(text);
    if password.is_empty() {
        return Err(LabeledError::new("The password is empty")
            .with_label("empty password", span)
            .with_help("give the account's password"));
    }
    Ok(Some(password))
}

/// For commands that take a session and may need the password: a string (or text stream) on
/// the pipeline is the password, and the session then comes from `--session` or the default;
/// anything else on the pipeline is the session. Returns the session input and the password.
pub(crate) fn session_or_password(
    input: PipelineData,
    head: Span,
) -> Result<(Value, Option<(String, Span)>), LabeledError> {
    match input {
        PipelineData::Value(Value::String { .. }, _) | PipelineData::ByteStream(..) => {
            Ok((Value::nothing(head), piped_password(input)?))
        }
        other => Ok((other.into_value(head)?, None)),
    }
}

/// A secret piped in as a string (a shared secret, a client's secret), without its trailing line
/// breaks.
pub(crate) fn piped_secret(input: &Value) -> Option<String> {
    match input {
        Value::String { val, .. } => Some(val.trim_end_matches(['\r', '\n']).to_owned()),
        _ => None,
    }
}

/// A secret read from a file, without its trailing line breaks; `unreadable` and `hint` word the
/// error when the file cannot be read.
pub(crate) fn secret_file(
    file: &Spanned<PathBuf>,
    unreadable: &str,
    hint: &str,
) -> Result<String, LabeledError> {
    let text = std::fs::read_to_string(&file.item).map_err(|err| {
        LabeledError::new(unreadable)
            .with_label(err.to_string(), file.span)
            .with_help(hint)
    })?;
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

/// A password piped in: a string, or a byte stream of text. Anything else is an error.
pub(crate) fn piped_password(input: PipelineData) -> Result<Option<(String, Span)>, LabeledError> {
    let (mut text, span) = match input {
        PipelineData::Empty | PipelineData::Value(Value::Nothing { .. }, _) => return Ok(None),
        PipelineData::Value(
            Value::String {
                val, internal_span, ..
            },
            _,
        ) => (val, internal_span),
        PipelineData::ByteStream(stream, _) => {
            let span = stream.span();
            let text = stream.into_string().map_err(|_| {
                LabeledError::new("The piped password is not text")
                    .with_label("expected UTF-8 text", span)
                    .with_help("pipe the password as a string, e.g. `input -s | matrix login ...`")
            })?;
            (text, span)
        }
        PipelineData::Value(other, _) => {
            return Err(LabeledError::new("Expected the password as a string")
                .with_label(format!("this is {}", other.get_type()), other.span())
                .with_help("pipe a string (`input -s | matrix login ...`), or use --password"));
        }
        PipelineData::ListStream(stream, _) => {
            return Err(LabeledError::new("Expected the password as a string")
                .with_label("this is a list", stream.span())
                .with_help("pipe a string (`input -s | matrix login ...`), or use --password"));
        }
    };
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(Some((text, span)))
}

/// Asks on the terminal for the password, with echo off. Needs the plugin in the terminal's
/// foreground.
pub(crate) fn prompt(
    engine: &EngineInterface,
    call: &EvaluatedCall,
    command: &str,
    user: &str,
) -> Result<Password, LabeledError> {
    let no_terminal = Asked {
        question: format!("Password for {user}: "),
        what: "password",
        how: format!(
            "pipe it in: `input -s \"Password: \" | {command} ...`, or pass \
             `--password (input -s \"Password: \")`"
        ),
        typed: "type the account's password at the prompt",
    };
    hidden_prompt(engine, call, &no_terminal)
}

/// A secret asked for at the terminal: the question, what it is, how to give it without a
/// terminal, what to type.
pub(crate) struct Asked {
    pub question: String,
    pub what: &'static str,
    pub how: String,
    pub typed: &'static str,
}

/// Asks `asked.question` on the terminal, with echo off.
pub(crate) fn hidden_prompt(
    engine: &EngineInterface,
    call: &EvaluatedCall,
    asked: &Asked,
) -> Result<Password, LabeledError> {
    let no_terminal = || {
        LabeledError::new(format!(
            "No {} given, and no terminal to ask for it",
            asked.what
        ))
        .with_label(format!("needs a {}", asked.what), call.head)
        .with_help(asked.how.clone())
    };
    // Without a controlling terminal there is nobody to ask: fail before touching the
    // terminal's foreground process group.
    #[cfg(unix)]
    if std::fs::File::open("/dev/tty").is_err() {
        return Err(no_terminal());
    }
    let _foreground = engine.enter_foreground().map_err(|_| no_terminal())?;
    let text = rpassword::prompt_password(&asked.question).map_err(|_| no_terminal())?;
    let secret = Password::new(text);
    if secret.is_empty() {
        return Err(LabeledError::new(format!("The {} is empty", asked.what))
            .with_label("nothing was typed at the prompt", call.head)
            .with_help(asked.typed));
    }
    Ok(secret)
}
