use std::path::PathBuf;

use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{
    Category, Example, LabeledError, Record, Signature, Spanned, SyntaxShape, Type, Value,
};

use super::Pipe;
use crate::mas_admin::{ADMIN_SCOPE, MasAdmin};
use crate::plugin::MatrixPlugin;
use crate::plugin::config::PluginConfig;
use crate::plugin::errors::{self, Blame};
use crate::plugin::homeserver::{HomeserverLookup, resolve_homeserver};
use crate::plugin::mas_admin::refused_client;
use crate::plugin::password::{piped_secret, secret_file};
use crate::plugin::session_store::{check_keyring_to_save, save_name};
use crate::plugin::token::{AdminClientOf, TokenValue, date_or_nothing, text_or_nothing};
use crate::secret::Password;
use crate::store::{Kept, SavedAdminClient, SecretsSetting};

/// `matrix admin session`: an admin token for a MAS admin client (client credentials).
pub struct AdminSession;

impl SimplePluginCommand for AdminSession {
    type Plugin = MatrixPlugin;

    fn name(&self) -> &str {
        "matrix admin session"
    }

    fn description(&self) -> &str {
        "An admin session for scripts: a token for one of MAS's admin clients (the client credentials grant), no browser."
    }

    fn extra_description(&self) -> &str {
        "The client is one MAS's configuration lists under `clients:` (client_secret_basic) and \
         its policy names in `admin_clients`. Its secret comes from the pipeline or from \
         --client-secret-file, never from a flag of its own (it would land in the history). The \
         record's token (urn:mas:admin) lasts minutes; with --save, the client is kept in the \
         session file (0600, secret included) and every `matrix admin` command given \
         --session <name> gets a fresh token."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .input_output_types(vec![
                (Type::Nothing, Type::record()),
                (Type::String, Type::record()),
            ])
            .named(
                "client-id",
                SyntaxShape::String,
                "The admin client's ID (a ULID from MAS's configuration).",
                None,
            )
            .named(
                "client-secret-file",
                SyntaxShape::Filepath,
                "A file holding the client's secret (else the pipeline).",
                None,
            )
            .named(
                "homeserver",
                SyntaxShape::String,
                "Base URL of the homeserver (default: the configured one).",
                Some('H'),
            )
            .category(Category::Network)
            .pipe(super::with_save)
            .pipe(super::with_timeout)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["mas", "client credentials", "admin token", "automation"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example {
            example: "open --raw mas-admin-secret.txt | matrix admin session --client-id 01JADM1NC11ENT0000000000AB -H https://matrix.example.org --save mas-admin",
            description: "Keep MAS's admin client as the session 'mas-admin'; `matrix admin token bot --session mas-admin` then works from cron",
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
        let Some(client_id) = call.get_flag::<Spanned<String>>("client-id")? else {
            return Err(LabeledError::new("Which admin client?")
                .with_label("no --client-id", call.head)
                .with_help("give --client-id <the client's ULID from MAS's configuration>"));
        };
        let secret = client_secret(call, input)?;
        let save = save_name(plugin, call)?;
        let config = PluginConfig::for_call(engine, call)?;
        // `secrets: keyring` without a keyring fails here, before anything is asked of MAS.
        if let Some(name) = &save {
            check_keyring_to_save(plugin, name, config.secrets)?;
        }
        let flag: Option<Spanned<String>> = call.get_flag("homeserver")?;
        let (homeserver, homeserver_span, discovered) = resolve_homeserver(&HomeserverLookup {
            plugin,
            engine,
            call,
            config: &config,
            flag: flag.as_ref(),
            user: None,
            command: self.name(),
        })?;
        let blame = Blame {
            head: call.head,
            homeserver: homeserver_span,
            homeserver_guessed: discovered,
            user: client_id.span,
            user_text: client_id.item.clone(),
        };
        let client = plugin
            .client(&homeserver, &config.client, plugin.interrupt_of(engine))
            .map_err(|err| errors::request(err, &blame))?;
        let Some(metadata) = client
            .auth_metadata()
            .map_err(|err| errors::request(err, &blame))?
        else {
            return Err(
                LabeledError::new("This homeserver's accounts are not run by MAS")
                    .with_label("no OAuth 2.0 server", homeserver_span)
                    .with_help(
                        "admin clients are MAS's; on Synapse alone, use a server admin's session \
                     (`matrix login`) or its shared secret",
                    ),
            );
        };
        let tokens = client
            .client_credentials(&metadata, &client_id.item, &secret, ADMIN_SCOPE)
            .map_err(|err| refused_client(err, &blame))?;
        // The server name of the users, which also shows that the admin API answers.
        let admin = MasAdmin::new(&metadata, tokens.access_token.clone())
            .map_err(|err| errors::request(err, &blame))?;
        let home_server = client
            .mas_server_name(&admin)
            .map_err(|err| errors::request(err, &blame))?;
        if let Some(name) = &save {
            keep(
                plugin,
                name,
                config.secrets,
                SavedAdminClient {
                    homeserver: homeserver.clone(),
                    home_server: home_server.clone(),
                    issuer: metadata.issuer.clone(),
                    token_endpoint: metadata.token_endpoint.clone(),
                    client_id: client_id.item.clone(),
                    client_secret: Kept::File(secret),
                },
            )?;
        }
        let of = AdminClientOf {
            issuer: metadata.issuer.clone(),
            client_id: client_id.item.clone(),
            home_server: home_server.clone(),
        };
        let span = call.head;
        let mut record = Record::new();
        record.push("client_id", Value::string(&client_id.item, span));
        record.push("issuer", Value::string(&metadata.issuer, span));
        record.push("homeserver", Value::string(&homeserver, span));
        record.push("home_server", Value::string(&home_server, span));
        record.push(
            "access_token",
            TokenValue::admin_client(tokens.access_token, tokens.expires_at, &homeserver, of)
                .into_value(span),
        );
        record.push("expires_at", date_or_nothing(tokens.expires_at, span));
        record.push(
            "saved_as",
            text_or_nothing(save.map(|name| name.item), span),
        );
        Ok(Value::record(record, span))
    }
}

/// The client's secret: from the pipeline or `--client-secret-file`, exactly one.
fn client_secret(call: &EvaluatedCall, input: &Value) -> Result<Password, LabeledError> {
    let file: Option<Spanned<PathBuf>> = call.get_flag("client-secret-file")?;
    let secret = match (piped_secret(input), file) {
        (Some(_), Some(file)) => {
            return Err(LabeledError::new("The secret was given twice")
                .with_label("a secret also came from the pipeline", file.span)
                .with_help("give it one way: on the pipeline or with --client-secret-file"));
        }
        (Some(piped), None) => piped,
        (None, Some(file)) => secret_file(
            &file,
            "The secret file cannot be read",
            "give a file holding the client's secret",
        )?,
        (None, None) => {
            return Err(LabeledError::new("The client's secret is missing")
                .with_label("no secret given", call.head)
                .with_help(
                    "pipe it in (`open --raw secret.txt | matrix admin session ...`) or give \
                     --client-secret-file; there is no flag for the secret itself, which would \
                     land in the shell's history",
                ));
        }
    };
    if secret.is_empty() {
        return Err(LabeledError::new("The client's secret is empty")
            .with_label("empty secret", call.head)
            .with_help("give the secret from MAS's configuration"));
    }
    Ok(Password::new(secret))
}

/// Keeps the admin client under `name`, which no user's session may hold, its secret where
/// `secrets` says.
fn keep(
    plugin: &MatrixPlugin,
    name: &Spanned<String>,
    secrets: SecretsSetting,
    admin: SavedAdminClient,
) -> Result<(), LabeledError> {
    let kept = plugin
        .store()
        .and_then(|store| store.save_admin_client(&name.item, admin, secrets))
        .map_err(|err| errors::store(err, name.span))?;
    match kept {
        Some(_) => Ok(()),
        None => Err(
            LabeledError::new(format!("A user's session is saved as '{}'", name.item))
                .with_label("name taken", name.span)
                .with_help("save the admin client under another name"),
        ),
    }
}
