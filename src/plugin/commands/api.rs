use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{Category, Example, LabeledError, Signature, Spanned, SyntaxShape, Type, Value};

use super::with_session;
use crate::client::Method;
use crate::error::{Error, ErrorCode};
use crate::plugin::MatrixPlugin;
use crate::plugin::active::{Active, Failure, failure};
use crate::plugin::completion::{self, SessionArg};
use crate::plugin::config::PluginConfig;
use crate::plugin::json;
use crate::plugin::room_arg::room_failure;
use crate::rooms::new_transaction_id;

/// `matrix api`: any endpoint, with the session's token.
pub struct Api;

impl SimplePluginCommand for Api {
    type Plugin = MatrixPlugin;

    /// `--session`: the saved sessions; `--method` and the path: the methods and common paths.
    #[allow(deprecated)] // Nushell marks plugin completions experimental
    fn get_dynamic_completion(
        &self,
        plugin: &MatrixPlugin,
        _engine: &nu_plugin::EngineInterface,
        _call: nu_plugin::DynamicCompletionCall,
        arg_type: nu_protocol::engine::ArgType,
        _experimental: nu_protocol::engine::ExperimentalMarker,
    ) -> Option<Vec<nu_protocol::DynamicSuggestion>> {
        completion::saved_sessions(plugin, &arg_type, SessionArg::Flag)
            .or_else(|| completion::api(&arg_type))
    }

    fn name(&self) -> &str {
        "matrix api"
    }

    fn description(&self) -> &str {
        "Call any endpoint of the homeserver with the session's token; the JSON answer comes back as data."
    }

    fn extra_description(&self) -> &str {
        "The path is relative to /_matrix/client/v3/ (`account/whoami`), or absolute when it \
         starts with / (`/_synapse/admin/v2/users/@bot:example.org`). Write room IDs and aliases \
         as they are: each segment of the path is percent-encoded here (a `%` is sent as %25); \
         an alias in rooms/<room>/... is resolved to the room's ID first (those endpoints take \
         IDs only). \
         The method is GET, or POST when --data is given. Errors are the same as everywhere \
         else, and a short rate limit is waited out once. The token never shows. An event \
         sent to an end-to-end encrypted room (PUT rooms/<room>/send/<type>/<txn>, or a POST \
         without the transaction ID, however the path is spelled) is encrypted as `matrix \
         send` encrypts (a saved session's device), unless --plaintext says it is meant in the \
         clear (state events are never encrypted, and go as they are)."
    }

    fn signature(&self) -> Signature {
        with_session(Signature::build(self.name()), Type::Any)
            .required(
                "path",
                SyntaxShape::String,
                "The endpoint: account/whoami, rooms/!id:example.org/state, /_synapse/admin/...",
            )
            .named(
                "method",
                SyntaxShape::String,
                "GET, POST, PUT or DELETE (default: GET, or POST with --data).",
                Some('X'),
            )
            .named(
                "data",
                SyntaxShape::Any,
                "The request body: a record (sent as JSON) or a JSON string.",
                Some('d'),
            )
            .named(
                "query",
                SyntaxShape::record(),
                "Query parameters, e.g. {limit: 10}.",
                Some('q'),
            )
            .switch(
                "raw",
                "Return the body as text instead of parsing it as JSON.",
                None,
            )
            .switch(
                "plaintext",
                "Send an event to an end-to-end encrypted room in the clear (encrypted without it).",
                None,
            )
            .category(Category::Network)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["http", "request", "endpoint", "admin api", "curl"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "matrix api account/whoami",
                description: "Who the default session is",
                result: None,
            },
            Example {
                example: "matrix api createRoom --data {name: 'Ops', room_alias_name: 'ops'} | get room_id",
                description: "Create a room (POST, since there is data)",
                result: None,
            },
            Example {
                example: "matrix api '/_synapse/admin/v2/users' --query {limit: 5} --session admin | get users",
                description: "A Synapse admin endpoint, with an admin's saved session",
                result: None,
            },
            Example {
                example: "matrix api 'directory/room/#ops:example.org' | get room_id",
                description: "Resolve a room alias (the # is encoded for you)",
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
        let path: Spanned<String> = call.req(0)?;
        let method_flag: Option<Spanned<String>> = call.get_flag("method")?;
        let data: Option<Value> = call.get_flag("data")?;
        let query: Option<Value> = call.get_flag("query")?;
        let raw = call.has_flag("raw")?;
        let plaintext = call.has_flag("plaintext")?;

        let body = data.as_ref().map(body_of).transpose()?;
        let method = match &method_flag {
            Some(flag) => Method::parse(&flag.item).ok_or_else(|| {
                LabeledError::new(format!("Unknown method '{}'", flag.item))
                    .with_label("not an HTTP method here", flag.span)
                    .with_help("use GET, POST, PUT or DELETE")
            })?,
            None if body.is_some() => Method::Post,
            None => Method::Get,
        };
        if method == Method::Get
            && let Some(data) = &data
        {
            return Err(LabeledError::new("A GET request has no body")
                .with_label("--data with GET", data.span())
                .with_help("drop --data, or give --method POST or PUT"));
        }
        let query = match &query {
            Some(Value::Record { val, .. }) => val
                .iter()
                .map(|(key, value)| query_text(value).map(|text| (key.clone(), text)))
                .collect::<Result<Vec<_>, _>>()?,
            _ => Vec::new(),
        };

        let mut active = Active::resolve(plugin, engine, call, input)?;
        let blame = active.blame();
        // Decided on the URL as it will go out: however the path spells a send or an alias.
        let path_failed = |err| match err {
            Error::Input(err) => crate::plugin::errors::input(err, path.span),
            other => failure(Failure::Request(other), &blame),
        };
        let client = active.client(plugin).map_err(path_failed)?;
        let sent = client
            .event_send_of(method, &path.item)
            .map_err(path_failed)?;
        let alias = client
            .alias_in_rooms_path(&path.item)
            .map_err(path_failed)?;
        let invited = client.invite_of(method, &path.item).map_err(path_failed)?;
        let invitee = body
            .as_ref()
            .and_then(|body| body["user_id"].as_str())
            .map(str::to_owned);
        if let (Some(room), Some(invitee)) = (invited, invitee)
            && PluginConfig::read(engine)?.share_history
        {
            share_history_with(plugin, &mut active, &room, &invitee);
        }
        if let Some(sent) = sent.filter(|_| !plaintext) {
            let user_id = active.session.user_id.to_string();
            let device = plugin.device_hook(&active);
            let room_failed = |err| {
                let room = Spanned {
                    item: sent.room.clone(),
                    span: path.span,
                };
                room_failure(err, &room, &blame)
            };
            let (room_id, encrypted) = active
                .run(plugin, |client, token| {
                    plugin.room_to_send_to(client, token, &user_id, &sent.room, device.clone())
                })
                .map_err(room_failed)?;
            if encrypted {
                // Sent as `matrix send` sends: encrypted, as `m.room.encrypted`, under the
                // path's transaction ID (a fresh one for a POST without).
                let crypto = plugin.crypto(&active).map_err(room_failed)?;
                let content = body.clone().unwrap_or_else(|| serde_json::json!({}));
                let txn_id = sent.txn_id.clone().unwrap_or_else(new_transaction_id);
                let event_id = active
                    .run(plugin, |client, token| {
                        crypto.send(client, token, &room_id, &sent.event_type, &content, &txn_id)
                    })
                    .map_err(room_failed)?;
                return Ok(json::to_value(
                    serde_json::json!({"event_id": event_id}),
                    call.head,
                ));
            }
        }
        // A room alias where the endpoint takes a room ID: resolved first.
        let path_sent = match alias {
            Some(alias) => {
                let room = Spanned {
                    item: alias.alias().to_owned(),
                    span: path.span,
                };
                let room_id = active
                    .run(plugin, |client, token| {
                        client.resolve_room(token, &room.item)
                    })
                    .map_err(|err| room_failure(err, &room, &blame))?;
                alias.with_room_id(&room_id)
            }
            None => path.item.clone(),
        };
        let answer = active
            .run(plugin, |client, token| {
                client.request(token, method, &path_sent, &query, body.clone())
            })
            .map_err(|err| match err {
                Failure::Request(Error::Input(err)) => crate::plugin::errors::input(err, path.span),
                Failure::Request(Error::Matrix(err)) if err.errcode == ErrorCode::Unrecognized => {
                    LabeledError::new("The homeserver does not know this endpoint")
                        .with_label(format!("{} {}", err.status, err.errcode), path.span)
                        .with_help(format!(
                            "check the path and the method; paths without a leading / are \
                             under /_matrix/client/v3/. The server said: {err}"
                        ))
                        .with_code("matrix::M_UNRECOGNIZED")
                }
                Failure::Request(Error::Matrix(err)) if err.status == 404 => {
                    LabeledError::new("Not found")
                        .with_label(format!("{} {}", err.status, err.errcode), path.span)
                        .with_help(format!("the server said: {err}"))
                        .with_code(format!("matrix::{}", err.errcode))
                }
                other => failure(other, &blame),
            })?;
        let span = call.head;
        if raw {
            return Ok(match String::from_utf8(answer.body) {
                Ok(text) => Value::string(text, span),
                Err(bytes) => Value::binary(bytes.into_bytes(), span),
            });
        }
        let parsed = answer.json().map_err(|_| {
            LabeledError::new("The answer is not JSON")
                .with_label("not JSON", path.span)
                .with_help("add --raw to get the body as text")
        })?;
        Ok(json::to_value(parsed, span))
    }
}

/// The request body from `--data`: a record or list as JSON, or a string that holds JSON.
/// Before `invitee` is invited to `room` of an encrypted room: the room's history shared with
/// them as matrix-sdk shares it (the `share_history` setting, on by default; a saved session's
/// device). A failure is said on stderr and the invitation goes on.
fn share_history_with(plugin: &MatrixPlugin, active: &mut Active, room: &str, invitee: &str) {
    if active.saved_as.is_none() {
        return;
    }
    let user_id = active.session.user_id.to_string();
    let device = plugin.device_hook(active);
    let shared = active
        .run(plugin, |client, token| {
            plugin.room_to_send_to(client, token, &user_id, room, device.clone())
        })
        .and_then(|(room_id, encrypted)| {
            if !encrypted {
                return Ok(0);
            }
            plugin.run_crypto(active, |crypto, client, token| {
                crypto.share_history(client, token, &room_id, invitee)
            })
        });
    if let Err(err) = shared {
        eprintln!(
            "matrix api: the room's history was not shared with {invitee} ({}); the invitation \
             goes on",
            err
        );
    }
}

fn body_of(data: &Value) -> Result<serde_json::Value, LabeledError> {
    match data {
        Value::String { val, .. } => serde_json::from_str(val).map_err(|err| {
            LabeledError::new("--data is not JSON")
                .with_label(format!("not JSON: {err}"), data.span())
                .with_help("give a record (`--data {name: 'Ops'}`) or a JSON string")
        }),
        other => json::from_value(other),
    }
}

/// A query parameter's text: strings, numbers and booleans.
fn query_text(value: &Value) -> Result<String, LabeledError> {
    match value {
        Value::String { val, .. } => Ok(val.clone()),
        Value::Int { val, .. } => Ok(val.to_string()),
        Value::Float { val, .. } => Ok(val.to_string()),
        Value::Bool { val, .. } => Ok(val.to_string()),
        other => Err(
            LabeledError::new("A query parameter must be text or a number")
                .with_label(format!("this is {}", other.get_type()), other.span())
                .with_help("e.g. --query {limit: 10, dir: b}"),
        ),
    }
}
