use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{Category, Example, LabeledError, Signature, Spanned, SyntaxShape, Value};

use super::with_session;
use crate::plugin::MatrixPlugin;
use crate::plugin::mas_admin::default_name;
use crate::plugin::mas_admin::{Caller, TokenRequest, issue, valid_for};
use crate::plugin::token::session_type;

/// `matrix admin token <user>`: a personal access token for a user, from MAS's admin API.
pub struct AdminToken;

impl SimplePluginCommand for AdminToken {
    type Plugin = MatrixPlugin;

    completes_saved_sessions!(Flag);

    fn name(&self) -> &str {
        "matrix admin token"
    }

    fn description(&self) -> &str {
        "Issue a personal access token for a user through MAS's admin API (servers run by matrix-authentication-service)."
    }

    fn extra_description(&self) -> &str {
        "Takes an admin session (from `matrix login <admin> --oauth --admin`, or an admin \
         client's from `matrix admin session`) from the pipeline, --session or the saved default, and asks MAS for a personal session of the user: a named \
         token (mpt_…) for the client API with a fresh device, that works until --valid-for \
         passes or `matrix admin revoke` revokes it. Returns a session record, with the \
         personal_session_id that revoking takes. Nothing is asked of the user."
    }

    fn signature(&self) -> Signature {
        with_session(Signature::build(self.name()), session_type())
            .required(
                "user",
                SyntaxShape::String,
                "The user: @bot:example.org or bot.",
            )
            .named(
                "name",
                SyntaxShape::String,
                "The token's name in lists (default: nu_plugin_matrix and the date).",
                None,
            )
            .named(
                "valid-for",
                SyntaxShape::Duration,
                "How long the token works (default: until it is revoked).",
                None,
            )
            .named(
                "scope",
                SyntaxShape::String,
                "The scopes, space-separated (default: the client API with a fresh device).",
                None,
            )
            .category(Category::Network)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["mas", "personal access token", "bot", "mpt"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example {
            example: "matrix admin token @bot:example.org --name 'ops bot' --session admin | matrix session save bot",
            description: "A token for @bot from the saved MAS admin session, saved as the session 'bot'",
            result: None,
        }]
    }

    fn run(
        &self,
        plugin: &MatrixPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        input: &Value,
    ) -> Result<Value, LabeledError> {
        let user: Spanned<String> = call.req(0)?;
        let name: Option<Spanned<String>> = call.get_flag("name")?;
        let scope: Option<Spanned<String>> = call.get_flag("scope")?;
        for text in [&name, &scope].into_iter().flatten() {
            if text.item.trim().is_empty() {
                return Err(LabeledError::new("An empty value")
                    .with_label("empty", text.span)
                    .with_help("give some text, or leave the flag out"));
            }
        }
        let request = TokenRequest {
            name: name.map_or_else(default_name, |name| name.item),
            valid_for: valid_for(call)?,
            scope: scope.map(|scope| scope.item),
        };
        let mut caller = Caller::resolve(plugin, engine, call, input)?;
        issue(plugin, &mut caller, &user, request, call.head)
    }
}
