use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{
    Category, Example, LabeledError, Record, Signature, Span, Spanned, SyntaxShape, Type, Value,
};

use super::Pipe;
use crate::ids::homeserver_url;
use crate::login::LoginFlow;
use crate::oauth::AuthMetadata;
use crate::plugin::MatrixPlugin;
use crate::plugin::config::PluginConfig;
use crate::plugin::errors::{self, Blame};
use crate::plugin::token::text_or_nothing;

/// `matrix flows`: the login types a homeserver offers.
pub struct Flows;

impl SimplePluginCommand for Flows {
    type Plugin = MatrixPlugin;

    fn name(&self) -> &str {
        "matrix flows"
    }

    fn description(&self) -> &str {
        "List the ways a homeserver lets you log in (password, SSO and its identity providers, OAuth 2.0, ...)."
    }

    fn extra_description(&self) -> &str {
        "One row per login type of GET /_matrix/client/v3/login, and first, when the server's \
         logins are run by an OAuth 2.0 server (such as matrix-authentication-service), a row \
         of type oauth2 with its issuer and account page (/_matrix/client/v1/auth_metadata). \
         oauth_aware_preferred: the server would rather clients log in with OAuth 2.0."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .input_output_type(Type::Nothing, Type::table())
            .optional(
                "server",
                SyntaxShape::String,
                "A homeserver URL, server name or user ID (default: the configured homeserver, else the default session's).",
            )
            .category(Category::Network)
            .pipe(super::with_timeout)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["login types", "sso", "identity providers", "oidc"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "matrix flows example.org",
                description: "How users of example.org can log in",
                result: None,
            },
            Example {
                example: "matrix flows https://matrix.example.org | where type == m.login.sso | get identity_providers",
                description: "The SSO identity providers of a homeserver",
                result: None,
            },
        ]
    }

    fn run(
        &self,
        plugin: &MatrixPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        _input: &Value,
    ) -> Result<Value, LabeledError> {
        let target: Option<Spanned<String>> = call.opt(0)?;
        let config = PluginConfig::for_call(engine, call)?;
        let span = target.as_ref().map_or(call.head, |t| t.span);
        let blame = Blame::session(call.head, span, target.as_ref().map_or("", |t| &t.item));
        let homeserver = match &target {
            Some(t) if t.item.contains("://") => {
                homeserver_url(&t.item).map_err(|err| errors::input(err, t.span))?
            }
            Some(t) => {
                plugin
                    .discovery(&config.client, plugin.interrupt_of(engine))
                    .and_then(|discovery| discovery.discover(&t.item))
                    .map_err(|err| errors::request(err, &blame))?
                    .homeserver
            }
            None => match config.homeserver {
                Some(default) => default.item,
                None => default_session_homeserver(plugin, call)?,
            },
        };
        let client = plugin
            .client(&homeserver, &config.client, plugin.interrupt_of(engine))
            .map_err(|err| errors::request(err, &blame))?;
        let flows = client
            .login_flows()
            .map_err(|err| errors::request(err, &blame))?;
        let oauth = client
            .auth_metadata()
            .map_err(|err| errors::request(err, &blame))?;
        Ok(flows_table(oauth.as_ref(), &flows, call.head))
    }
}

fn default_session_homeserver(
    plugin: &MatrixPlugin,
    call: &EvaluatedCall,
) -> Result<String, LabeledError> {
    let saved = plugin
        .store()
        .and_then(|store| store.load())
        .map_err(|err| errors::store(err, call.head))?;
    match saved.default_session() {
        Some((_, session)) => Ok(session.homeserver.clone()),
        None => Err(LabeledError::new("Which homeserver?")
            .with_label("no server given", call.head)
            .with_help(
                "name one: `matrix flows example.org` or `matrix flows https://matrix.example.org`",
            )),
    }
}

/// Flows as a table: `type`, `identity_providers` and `oauth_aware_preferred` (for SSO), and
/// first, when the server speaks OAuth 2.0, a row of type `oauth2` with its `issuer` and
/// `account_page`.
fn flows_table(oauth: Option<&AuthMetadata>, flows: &[LoginFlow], span: Span) -> Value {
    let row = |kind: &str, providers: Vec<Value>, preferred: bool, oauth: Option<&AuthMetadata>| {
        let mut row = Record::new();
        row.push("type", Value::string(kind, span));
        row.push("identity_providers", Value::list(providers, span));
        row.push("oauth_aware_preferred", Value::bool(preferred, span));
        row.push(
            "issuer",
            text_or_nothing(oauth.map(|metadata| metadata.issuer.as_str()), span),
        );
        row.push(
            "account_page",
            text_or_nothing(
                oauth.and_then(|metadata| metadata.account_management_uri.as_deref()),
                span,
            ),
        );
        Value::record(row, span)
    };
    let oauth_row = oauth.map(|metadata| row("oauth2", Vec::new(), false, Some(metadata)));
    let rows = oauth_row.into_iter().chain(flows.iter().map(|flow| {
        let providers = flow
            .identity_providers
            .iter()
            .map(|idp| {
                let mut provider = Record::new();
                provider.push("id", Value::string(&idp.id, span));
                provider.push("name", Value::string(&idp.name, span));
                provider.push("brand", text_or_nothing(idp.brand.as_deref(), span));
                Value::record(provider, span)
            })
            .collect();
        row(&flow.kind, providers, flow.oauth_aware_preferred, None)
    }));
    Value::list(rows.collect(), span)
}
