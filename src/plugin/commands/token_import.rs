use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{Category, Example, LabeledError, Signature, Spanned, SyntaxShape, Type, Value};

use super::Pipe;
use crate::ids::homeserver_url;
use crate::plugin::MatrixPlugin;
use crate::plugin::config::PluginConfig;
use crate::plugin::errors::{self, Blame};
use crate::plugin::session_store::{save_flag, save_if_asked};
use crate::plugin::token::{session_record, session_type};
use crate::secret::AccessToken;
use crate::session::Session;

/// `matrix token import`: wrap a token obtained elsewhere into a session.
pub struct TokenImport;

impl SimplePluginCommand for TokenImport {
    type Plugin = MatrixPlugin;

    fn name(&self) -> &str {
        "matrix token import"
    }

    fn description(&self) -> &str {
        "Turn an access token obtained elsewhere into a session, checked with the homeserver."
    }

    fn extra_description(&self) -> &str {
        "For tokens from Element's settings, `mas-cli manage issue-compatibility-token`, an old \
         vars.yml or a curl login. The token is checked with /whoami, which also tells the user \
         and device. Pipe the token in rather than typing it as an argument, which would land \
         in your shell history."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .input_output_types(vec![
                (Type::Nothing, session_type()),
                (Type::String, session_type()),
            ])
            .optional(
                "token",
                SyntaxShape::String,
                "The access token (or pipe it in).",
            )
            .required_named(
                "homeserver",
                SyntaxShape::String,
                "Base URL of the homeserver that issued it, e.g. https://matrix.example.org.",
                Some('H'),
            )
            .category(Category::Network)
            .pipe(super::with_save)
            .pipe(super::with_timeout)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["wrap", "existing token", "element", "mas"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "open --raw bot.token | matrix token import --homeserver https://matrix.example.org",
                description: "Wrap the token in a file",
                result: None,
            },
            Example {
                example: "input -s 'Token: ' | matrix token import -H https://matrix.example.org --save bot",
                description: "Paste a token from Element, hidden, and save the session as 'bot'",
                result: None,
            },
        ]
    }

    fn run(
        &self,
        plugin: &MatrixPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        input: &Value,
    ) -> Result<Value, LabeledError> {
        let argument: Option<Spanned<String>> = call.opt(0)?;
        let homeserver: Spanned<String> = call.get_flag("homeserver")?.ok_or_else(|| {
            LabeledError::new("Missing --homeserver").with_label("needs --homeserver", call.head)
        })?;
        let save = save_flag(plugin, engine, call)?;
        let (text, span) = match (input, argument) {
            // Labels go on the command, not on a piped token's span, which Nushell would print.
            (Value::String { val, .. }, None) => (val.clone(), call.head),
            (Value::Nothing { .. }, Some(arg)) => (arg.item, arg.span),
            (Value::Nothing { .. }, None) => {
                return Err(LabeledError::new("Which token?")
                    .with_label("no token given", call.head)
                    .with_help(
                        "pipe it in: `open --raw bot.token | matrix token import -H <url>`",
                    ));
            }
            (_, Some(arg)) => {
                return Err(LabeledError::new("The token was given twice")
                    .with_label("a token also came from the pipeline", arg.span)
                    .with_help("give it one way: on the pipeline or as the argument"));
            }
            (other, None) => {
                return Err(LabeledError::new("Expected the token as a string")
                    .with_label(format!("this is {}", other.get_type()), other.span()));
            }
        };
        let text = text.trim().to_owned();
        if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(LabeledError::new("This is not an access token")
                .with_label("empty, or contains spaces or line breaks", span)
                .with_help("an access token is one word, such as syt_... or mat_..."));
        }
        let base =
            homeserver_url(&homeserver.item).map_err(|err| errors::input(err, homeserver.span))?;
        let token = AccessToken::new(text);
        let mut blame = Blame::session(call.head, span, "");
        blame.homeserver = homeserver.span;
        let client = plugin
            .client(
                &base,
                &PluginConfig::for_call(engine, call)?.client,
                plugin.interrupt_of(engine),
            )
            .map_err(|err| errors::request(err, &blame))?;
        let me = client
            .whoami(&token)
            .map_err(|err| errors::token(err, &blame))?;
        let home_server = me.user_id.server_name().to_owned();
        let session = Session {
            user_id: me.user_id,
            device_id: me.device_id.unwrap_or_default(),
            home_server,
            homeserver: base,
            access_token: token,
            refresh_token: None,
            expires_at: None,
            oauth: None,
        };
        let saved_as = save_if_asked(plugin, save, &session)?;
        Ok(session_record(&session, saved_as.as_deref(), call.head))
    }
}
