use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{
    Category, Example, IntoPipelineData, LabeledError, PipelineData, Record, Signature, Span,
    Spanned, SyntaxShape, Type, Value,
};

use crate::client::LoginRequest;
use crate::ids::{UserArg, homeserver_url};
use crate::plugin::MatrixPlugin;
use crate::plugin::errors::{self, Blame};
use crate::plugin::token::{TYPE_NAME, TokenValue};
use crate::secret::Password;
use crate::session::Session;

/// The longest device ID or device name accepted, in bytes.
const MAX_DEVICE_BYTES: usize = 255;

/// `matrix login`: password login, returning a session record with a masked token.
pub struct Login;

impl PluginCommand for Login {
    type Plugin = MatrixPlugin;

    fn name(&self) -> &str {
        "matrix login"
    }

    fn description(&self) -> &str {
        "Log in to a Matrix homeserver with a password and get a session with a masked token."
    }

    fn extra_description(&self) -> &str {
        "The password comes from the pipeline (a string), else from --password, else from a \
         hidden prompt on the terminal. One trailing newline of a piped password is dropped. \
         A literal --password lands in your shell history: prefer `--password (input -s)`.\n\n\
         The record's access_token displays masked; commands of this plugin receive the real \
         token, and `matrix token reveal` shows it."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .input_output_types(vec![
                (Type::Nothing, session_type()),
                (Type::String, session_type()),
            ])
            .optional(
                "user",
                SyntaxShape::String,
                "The user: @bot:example.org, or a user name such as bot with --homeserver.",
            )
            .named(
                "homeserver",
                SyntaxShape::String,
                "Base URL of the homeserver, e.g. https://matrix.example.org (default: https:// and the user ID's server name).",
                Some('H'),
            )
            .named(
                "password",
                SyntaxShape::String,
                "The password. A literal lands in your history: use --password (input -s).",
                Some('p'),
            )
            .named(
                "device-id",
                SyntaxShape::String,
                "Log in as this device (reused if it exists) instead of a new one.",
                Some('d'),
            )
            .named(
                "device-name",
                SyntaxShape::String,
                "Display name for a new device.",
                None,
            )
            .category(Category::Network)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["access token", "sign in", "password", "bot"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: r#"input -s "Password: " | matrix login @bot:example.org --homeserver https://matrix.example.org"#,
                description: "Log in, typing the password hidden; the token displays masked",
                result: None,
            },
            Example {
                example: "matrix login bot -H https://matrix.example.org --password (input -s) --device-id BOT1 --device-name 'ops bot'",
                description: "Log in by user name as a chosen device",
                result: None,
            },
            Example {
                example: "let s = (matrix login @bot:example.org); $s.access_token | matrix token reveal",
                description: "Log in, asking for the password on the terminal, then show the real token",
                result: None,
            },
        ]
    }

    fn run(
        &self,
        plugin: &MatrixPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        input: PipelineData,
    ) -> Result<PipelineData, LabeledError> {
        let user: Option<Spanned<String>> = call.opt(0)?;
        let homeserver: Option<Spanned<String>> = call.get_flag("homeserver")?;
        let password_flag: Option<Spanned<String>> = call.get_flag("password")?;
        let device_id: Option<Spanned<String>> = call.get_flag("device-id")?;
        let device_name: Option<Spanned<String>> = call.get_flag("device-name")?;

        let Some(user) = user else {
            return Err(LabeledError::new("Which user should log in?")
                .with_label("no user given", call.head)
                .with_help("name the user: `matrix login @bot:example.org`"));
        };
        let user_arg = UserArg::parse(&user.item).map_err(|err| errors::input(err, user.span))?;
        let (base_url, homeserver_span, guessed) = match &homeserver {
            Some(flag) => (
                homeserver_url(&flag.item).map_err(|err| errors::input(err, flag.span))?,
                flag.span,
                false,
            ),
            None => match user_arg.server_name() {
                Some(server) => (format!("https://{server}"), user.span, true),
                None => {
                    return Err(LabeledError::new("Which homeserver?")
                        .with_label("a user name without a server", user.span)
                        .with_help(format!(
                            "give the full user ID (@{}:example.org) or the homeserver: \
                             `matrix login {} --homeserver https://matrix.example.org`",
                            user.item, user.item
                        )));
                }
            },
        };
        let device_id = device_id
            .map(|id| checked_device_text(id, "device ID"))
            .transpose()?;
        let device_name = device_name
            .map(|name| checked_device_text(name, "device name"))
            .transpose()?;

        let password = password(input, password_flag, engine, call, &user.item)?;

        let mut request = LoginRequest::password(user_arg, password);
        if let Some(id) = device_id {
            request = request.device_id(id);
        }
        if let Some(name) = device_name {
            request = request.device_name(name);
        }
        let blame = Blame {
            head: call.head,
            homeserver: homeserver_span,
            homeserver_guessed: guessed,
            user: user.span,
            user_text: user.item.clone(),
        };
        let client = plugin
            .client(&base_url)
            .map_err(|err| errors::request(err, &blame))?;
        let session = client
            .login(&request)
            .map_err(|err| errors::login(err, &blame))?;
        Ok(session_value(&session, call.head).into_pipeline_data())
    }
}

/// The record type `matrix login` returns.
fn session_type() -> Type {
    Type::Record(
        [
            ("user_id", Type::String),
            ("device_id", Type::String),
            ("home_server", Type::String),
            ("homeserver", Type::String),
            ("access_token", Type::Custom(TYPE_NAME.into())),
        ]
        .into_iter()
        .map(|(name, ty)| (name.to_owned(), ty))
        .collect(),
    )
}

/// A session as a record, its token as a token value.
pub(crate) fn session_value(session: &Session, span: Span) -> Value {
    let mut record = Record::new();
    record.push("user_id", Value::string(&session.user_id, span));
    record.push("device_id", Value::string(&session.device_id, span));
    record.push("home_server", Value::string(&session.home_server, span));
    record.push("homeserver", Value::string(&session.homeserver, span));
    record.push(
        "access_token",
        TokenValue::from_session(session).into_value(span),
    );
    Value::record(record, span)
}

fn checked_device_text(text: Spanned<String>, what: &str) -> Result<String, LabeledError> {
    let problem = if text.item.trim().is_empty() {
        Some(format!("the {what} is empty"))
    } else if text.item.len() > MAX_DEVICE_BYTES {
        Some(format!("the {what} is {} bytes long", text.item.len()))
    } else if text.item.chars().any(char::is_control) {
        Some(format!("the {what} contains a control character"))
    } else {
        None
    };
    match problem {
        Some(problem) => Err(LabeledError::new(format!("Invalid {what}"))
            .with_label(problem, text.span)
            .with_help(format!(
                "a {what} is a short line of text, at most {MAX_DEVICE_BYTES} bytes"
            ))),
        None => Ok(text.item),
    }
}

/// The password: from the pipeline, else `--password`, else a hidden prompt on the terminal.
fn password(
    input: PipelineData,
    flag: Option<Spanned<String>>,
    engine: &EngineInterface,
    call: &EvaluatedCall,
    user: &str,
) -> Result<Password, LabeledError> {
    let piped = piped_password(input)?;
    let (text, span) = match (piped, flag) {
        (Some(_), Some(flag)) => {
            return Err(LabeledError::new("The password was given twice")
                .with_label("a password also came from the pipeline", flag.span)
                .with_help("give it one way: on the pipeline or with --password, not both"));
        }
        (Some(piped), None) => piped,
        (None, Some(flag)) => (flag.item, flag.span),
        (None, None) => return prompt(engine, call, user),
    };
    let password = Password::new(text);
    if password.is_empty() {
        return Err(LabeledError::new("The password is empty")
            .with_label("empty password", span)
            .with_help("give the account's password"));
    }
    Ok(password)
}

/// A password piped in: a string, or a byte stream of text. Anything else is an error.
fn piped_password(input: PipelineData) -> Result<Option<(String, Span)>, LabeledError> {
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

/// Asks on the terminal, with echo off. Needs the plugin in the terminal's foreground.
fn prompt(
    engine: &EngineInterface,
    call: &EvaluatedCall,
    user: &str,
) -> Result<Password, LabeledError> {
    let no_terminal = || {
        LabeledError::new("No password given, and no terminal to ask for it")
            .with_label("needs a password", call.head)
            .with_help(format!(
                "pipe it in: `input -s \"Password: \" | matrix login {user} ...`, or pass \
                 `--password (input -s \"Password: \")`"
            ))
    };
    // Without a controlling terminal there is nobody to ask: fail before touching the
    // terminal's foreground process group.
    #[cfg(unix)]
    if std::fs::File::open("/dev/tty").is_err() {
        return Err(no_terminal());
    }
    let _foreground = engine.enter_foreground().map_err(|_| no_terminal())?;
    let text =
        rpassword::prompt_password(format!("Password for {user}: ")).map_err(|_| no_terminal())?;
    let password = Password::new(text);
    if password.is_empty() {
        return Err(LabeledError::new("The password is empty")
            .with_label("nothing was typed at the prompt", call.head)
            .with_help("type the account's password at the prompt"));
    }
    Ok(password)
}
