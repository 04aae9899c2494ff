use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{
    Category, Example, LabeledError, Record, Signature, Spanned, SyntaxShape, Type, Value,
};

use super::Pipe;
use crate::plugin::MatrixPlugin;
use crate::plugin::config::PluginConfig;
use crate::plugin::errors::{self, Blame};
use crate::plugin::oauth::oauth_record;
use crate::plugin::token::text_or_nothing;

/// `matrix discover`: the homeserver of a server name or user ID.
pub struct Discover;

impl SimplePluginCommand for Discover {
    type Plugin = MatrixPlugin;

    fn name(&self) -> &str {
        "matrix discover"
    }

    fn description(&self) -> &str {
        "Find the homeserver of a server name or user ID, as Matrix clients do (.well-known)."
    }

    fn extra_description(&self) -> &str {
        "Follows the spec's client discovery: https://<host>/.well-known/matrix/client names \
         the homeserver (a 404 there means the server name itself is the homeserver), and the \
         homeserver is checked with /_matrix/client/versions. `source` says which applied. \
         `oauth2` says whether the homeserver's logins are run by an OAuth 2.0 server (such as \
         matrix-authentication-service), with its issuer and account page \
         (/_matrix/client/v1/auth_metadata)."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .input_output_type(Type::Nothing, Type::record())
            .required(
                "server",
                SyntaxShape::String,
                "A server name (example.org) or user ID (@bot:example.org).",
            )
            .category(Category::Network)
            .pipe(super::with_timeout)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["well-known", "delegation", "homeserver url", "versions"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "matrix discover example.org",
                description: "Where example.org's homeserver is, and which spec versions it speaks",
                result: None,
            },
            Example {
                example: "matrix discover @bot:example.org | get homeserver",
                description: "The homeserver URL of a user",
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
        let server: Spanned<String> = call.req(0)?;
        let config = PluginConfig::for_call(engine, call)?;
        let blame = Blame::session(call.head, server.span, &server.item);
        let found = plugin
            .discovery(&config.client, plugin.interrupt_of(engine))
            .and_then(|discovery| discovery.discover(&server.item))
            .map_err(|err| errors::request(err, &blame))?;
        let span = call.head;
        let mut record = Record::new();
        record.push("server_name", Value::string(found.server_name, span));
        record.push("homeserver", Value::string(&found.homeserver, span));
        record.push(
            "identity_server",
            text_or_nothing(found.identity_server, span),
        );
        record.push(
            "versions",
            Value::list(
                found
                    .versions
                    .into_iter()
                    .map(|v| Value::string(v, span))
                    .collect(),
                span,
            ),
        );
        record.push("source", Value::string(found.source.as_str(), span));
        let oauth = plugin
            .client(
                &found.homeserver,
                &config.client,
                plugin.interrupt_of(engine),
            )
            .and_then(|client| client.auth_metadata())
            .map_err(|err| errors::request(err, &blame))?;
        record.push("oauth2", oauth_record(oauth.as_ref(), span));
        Ok(Value::record(record, span))
    }
}
