use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{
    Category, Example, IntoPipelineData, LabeledError, PipelineData, Signature, Span, Spanned,
    SyntaxShape, Type,
};

use super::Pipe;
use crate::client::LoginRequest;
use crate::error::Error;
use crate::ids::{UserArg, homeserver_url};
use crate::plugin::MatrixPlugin;
use crate::plugin::config::PluginConfig;
use crate::plugin::errors::{self, Blame};
use crate::plugin::password::password;
use crate::plugin::session_store::{save_flag, save_if_asked};
use crate::plugin::token::{TYPE_NAME, session_record};

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
            .switch(
                "refresh",
                "Ask for a refresh token; the access token then expires and is renewed.",
                Some('r'),
            )
            .category(Category::Network)
            .pipe(super::with_save)
            .pipe(super::with_timeout)
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
                example: "input -s | matrix login @bot:example.org --refresh --save bot",
                description: "Log in with a refresh token and save the session as 'bot'; later commands use it when given no session",
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
        let refresh = call.has_flag("refresh")?;
        let save = save_flag(plugin, call)?;

        let Some(user) = user else {
            return Err(LabeledError::new("Which user should log in?")
                .with_label("no user given", call.head)
                .with_help("name the user: `matrix login @bot:example.org`"));
        };
        let user_arg = UserArg::parse(&user.item).map_err(|err| errors::input(err, user.span))?;
        let config = PluginConfig::for_call(engine, call)?;
        let (base_url, homeserver_span, discovered) = resolve_homeserver(
            plugin,
            engine,
            call,
            &config,
            homeserver.as_ref(),
            &user_arg,
            &user,
            "matrix login",
        )?;
        let device_id = device_id
            .map(|id| checked_device_text(id, "device ID"))
            .transpose()?;
        let device_name = device_name
            .map(|name| checked_device_text(name, "device name"))
            .transpose()?;

        let password = password(
            input,
            password_flag,
            engine,
            call,
            &format!("matrix login {}", user.item),
            &user.item,
        )?;

        let mut request = LoginRequest::password(user_arg, password).refresh_token(refresh);
        if let Some(id) = device_id {
            request = request.device_id(id);
        }
        if let Some(name) = device_name {
            request = request.device_name(name);
        }
        let blame = Blame {
            head: call.head,
            homeserver: homeserver_span,
            homeserver_guessed: discovered,
            user: user.span,
            user_text: user.item.clone(),
        };
        let client = plugin
            .client(&base_url, &config.client, plugin.interrupt_of(engine))
            .map_err(|err| errors::request(err, &blame))?;
        let session = match client.login(&request) {
            Ok(session) => session,
            // The login type may be unknown here: find out what the server offers instead.
            Err(Error::Matrix(err))
                if err.errcode == "M_UNRECOGNIZED"
                    || (err.status == 400 && err.errcode == "M_UNKNOWN") =>
            {
                return Err(errors::no_password_login(client.login_flows(), err, &blame));
            }
            Err(err) => return Err(errors::login(err, &blame)),
        };
        let saved_as = save_if_asked(plugin, save, &session)?;
        Ok(session_record(&session, saved_as.as_deref(), call.head).into_pipeline_data())
    }
}

/// Where to send a user's request: `--homeserver`, else the configured default, else the
/// homeserver that discovery finds from the user ID's server name. Returns the base URL, the
/// span to blame for it, and whether discovery found it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn resolve_homeserver(
    plugin: &MatrixPlugin,
    engine: &EngineInterface,
    call: &EvaluatedCall,
    config: &PluginConfig,
    flag: Option<&Spanned<String>>,
    user_arg: &UserArg,
    user: &Spanned<String>,
    command: &str,
) -> Result<(String, Span, bool), LabeledError> {
    match (flag, &config.homeserver) {
        (Some(flag), _) => Ok((
            homeserver_url(&flag.item).map_err(|err| errors::input(err, flag.span))?,
            flag.span,
            false,
        )),
        (None, Some(default)) => Ok((default.item.clone(), user.span, false)),
        (None, None) => match user_arg.server_name() {
            Some(server) => {
                let blame = Blame::session(call.head, user.span, &user.item);
                let found = plugin
                    .discovery(&config.client, plugin.interrupt_of(engine))
                    .and_then(|discovery| discovery.discover(server))
                    .map_err(|err| errors::request(err, &blame))?;
                Ok((found.homeserver, user.span, true))
            }
            None => Err(LabeledError::new("Which homeserver?")
                .with_label("a user name without a server", user.span)
                .with_help(format!(
                    "give the full user ID (@{}:example.org) or the homeserver: \
                     `{command} {} --homeserver https://matrix.example.org`",
                    user.item, user.item
                ))),
        },
    }
}

/// The record type `matrix login` returns (with --refresh it also has `refresh_token` and
/// `expires_at`).
pub(crate) fn session_type() -> Type {
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
