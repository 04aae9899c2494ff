use std::collections::VecDeque;

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand, SimplePluginCommand};
use nu_protocol::{
    Category, Example, IntoPipelineData, LabeledError, ListStream, PipelineData, Record,
    ShellError, Signature, Span, Spanned, SyntaxShape, Type, Value,
};

use super::{Pipe, table_of, with_session};
use crate::client::Client;
use crate::error::{Error, ErrorCode};
use crate::plugin::MatrixPlugin;
use crate::plugin::active::{Active, Failure, failure};
use crate::plugin::errors::{self, Blame};
use crate::plugin::token::{date_value, text_or_nothing};
use crate::rooms::{MAX_PAGE, Message, OutgoingMessage, check_room, new_transaction_id};
use crate::secret::AccessToken;

/// `matrix rooms`: the joined rooms.
pub struct Rooms;

impl SimplePluginCommand for Rooms {
    type Plugin = MatrixPlugin;

    fn name(&self) -> &str {
        "matrix rooms"
    }

    fn description(&self) -> &str {
        "List the rooms the user has joined: ID, alias, name, members, encryption."
    }

    fn extra_description(&self) -> &str {
        "One request (a /sync filtered down to these fields), however many rooms there are."
    }

    fn signature(&self) -> Signature {
        with_session(
            Signature::build("matrix rooms"),
            table_of(&[
                ("room_id", Type::String),
                ("alias", Type::String),
                ("name", Type::String),
                ("members", Type::Int),
                ("encrypted", Type::Bool),
            ]),
        )
        .category(Category::Network)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["joined rooms", "channels", "list rooms"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "matrix rooms",
                description: "The default session's rooms",
                result: None,
            },
            Example {
                example: "matrix rooms --session bot | where not encrypted | get alias",
                description: "The aliases of the bot's unencrypted rooms",
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
        let mut active = Active::resolve(plugin, engine, call, input)?;
        let blame = active.blame();
        let rooms = active
            .run(plugin, |client, token| client.rooms(token))
            .map_err(|err| failure(err, &blame))?;
        let span = call.head;
        let rows = rooms
            .into_iter()
            .map(|room| {
                let mut record = Record::new();
                record.push("room_id", Value::string(room.room_id, span));
                record.push("alias", text_or_nothing(room.canonical_alias, span));
                record.push("name", text_or_nothing(room.name, span));
                record.push(
                    "members",
                    room.members.map_or_else(
                        || Value::nothing(span),
                        |n| Value::int(i64::try_from(n).unwrap_or(i64::MAX), span),
                    ),
                );
                record.push("encrypted", Value::bool(room.encrypted, span));
                Value::record(record, span)
            })
            .collect();
        Ok(Value::list(rows, span))
    }
}

/// `matrix join`: joins a room.
pub struct Join;

impl SimplePluginCommand for Join {
    type Plugin = MatrixPlugin;

    fn name(&self) -> &str {
        "matrix join"
    }

    fn description(&self) -> &str {
        "Join a room by ID or alias; returns its room ID."
    }

    fn signature(&self) -> Signature {
        with_session(Signature::build("matrix join"), Type::record())
            .pipe(with_room)
            .category(Category::Network)
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example {
            example: "matrix join '#ops:example.org' --session bot",
            description: "The bot joins #ops (quote the alias: # starts a comment)",
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
        let room = room_arg(call)?;
        let mut active = Active::resolve(plugin, engine, call, input)?;
        let blame = active.blame();
        let room_id = active
            .run(plugin, |client, token| client.join(token, &room.item))
            .map_err(|err| room_failure(err, &room, &blame))?;
        let mut record = Record::new();
        record.push("room_id", Value::string(room_id, call.head));
        Ok(Value::record(record, call.head))
    }
}

/// `matrix send`: sends a message.
pub struct Send;

impl PluginCommand for Send {
    type Plugin = MatrixPlugin;

    fn name(&self) -> &str {
        "matrix send"
    }

    fn description(&self) -> &str {
        "Send a message to a room; returns the event ID."
    }

    fn extra_description(&self) -> &str {
        "The message is the argument, or the string on the pipeline (then the session comes \
         from --session or the saved default). Each send has a transaction ID, so that a \
         request repeated after a lost answer is not sent twice; give your own with --txn-id \
         to make a script's retries safe too. End-to-end encrypted rooms are refused: this \
         plugin does not encrypt (yet), and would otherwise send in the clear."
    }

    fn signature(&self) -> Signature {
        with_session(Signature::build(self.name()), Type::record())
            .pipe(with_room)
            .optional("message", SyntaxShape::String, "The message text.")
            .switch(
                "notice",
                "Send as a notice (m.notice), as bots do: clients show it quieter.",
                Some('n'),
            )
            .switch(
                "markdown",
                "Render the text as Markdown (sent as HTML, with the text as fallback).",
                Some('m'),
            )
            .named(
                "txn-id",
                SyntaxShape::String,
                "The transaction ID: the same ID sends once (default: a fresh random one).",
                None,
            )
            .category(Category::Network)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["message", "notify", "post", "say", "chat"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "\"backup done\" | matrix send '#ops:example.org' --notice",
                description: "Notify a room from a script, with the saved default session",
                result: None,
            },
            Example {
                example: "matrix send '#ops:example.org' '**disk 91%** on `db1`' --markdown --session bot",
                description: "Send Markdown as the bot",
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
        let room = room_arg(call)?;
        let argument: Option<Spanned<String>> = call.opt(1)?;
        let txn_id: Option<Spanned<String>> = call.get_flag("txn-id")?;
        // A string on the pipeline is the message; anything else is the session.
        let (session_input, piped) = match input {
            PipelineData::Value(
                Value::String {
                    val, internal_span, ..
                },
                _,
            ) => (Value::nothing(call.head), Some((val, internal_span))),
            PipelineData::ByteStream(stream, _) => {
                let span = stream.span();
                let text = stream.into_string().map_err(|_| {
                    LabeledError::new("The piped message is not text")
                        .with_label("expected UTF-8 text", span)
                })?;
                (Value::nothing(call.head), Some((text, span)))
            }
            other => (other.into_value(call.head)?, None),
        };
        let (text, text_span) = match (piped, argument) {
            (Some(_), Some(argument)) => {
                return Err(LabeledError::new("The message was given twice")
                    .with_label("a message also came from the pipeline", argument.span)
                    .with_help("give it one way: as the argument or on the pipeline"));
            }
            (Some((text, span)), None) => (text.trim_end_matches(['\r', '\n']).to_owned(), span),
            (None, Some(argument)) => (argument.item, argument.span),
            (None, None) => {
                return Err(LabeledError::new("What should be sent?")
                    .with_label("no message", call.head)
                    .with_help(
                        "give the message as an argument, or pipe it in: \
                         `\"backup done\" | matrix send '#ops:example.org'`",
                    ));
            }
        };
        if text.trim().is_empty() {
            return Err(LabeledError::new("The message is empty")
                .with_label("nothing to send", text_span)
                .with_help("Matrix clients show empty messages as nothing at all"));
        }
        let message = if call.has_flag("markdown")? {
            OutgoingMessage::markdown(text)
        } else {
            OutgoingMessage::text(text)
        }
        .as_notice(call.has_flag("notice")?);
        let txn_id = txn_id.map_or_else(new_transaction_id, |id| id.item);

        let mut active = Active::resolve(plugin, engine, call, &session_input)?;
        let blame = active.blame();
        let room_id = active
            .run(plugin, |client, token| {
                client.resolve_room(token, &room.item)
            })
            .map_err(|err| room_failure(err, &room, &blame))?;
        let encrypted = active
            .run(plugin, |client, token| client.is_encrypted(token, &room_id))
            .map_err(|err| room_failure(err, &room, &blame))?;
        if encrypted {
            return Err(LabeledError::new("This room is end-to-end encrypted")
                .with_label("an encrypted room", room.span)
                .with_help(
                    "this plugin does not encrypt messages (yet), and sending in the clear to an \
                     encrypted room would be wrong: use an unencrypted room for notifications, or \
                     a client with encryption",
                )
                .with_code("matrix::encrypted_room"));
        }
        let event_id = active
            .run(plugin, |client, token| {
                client.send_message(token, &room_id, &message, &txn_id)
            })
            .map_err(|err| room_failure(err, &room, &blame))?;
        let span = call.head;
        let mut record = Record::new();
        record.push("event_id", Value::string(event_id, span));
        record.push("room_id", Value::string(room_id, span));
        record.push("txn_id", Value::string(txn_id, span));
        Ok(Value::record(record, span).into_pipeline_data())
    }
}

/// `matrix messages`: recent messages of a room.
pub struct Messages;

impl PluginCommand for Messages {
    type Plugin = MatrixPlugin;

    fn name(&self) -> &str {
        "matrix messages"
    }

    fn description(&self) -> &str {
        "Recent messages of a room, newest first: time, sender, type, body."
    }

    fn extra_description(&self) -> &str {
        "The rows stream in pages of up to 100, so `first 5` or a large --limit cost only what \
         is read. Encrypted messages show with msgtype m.room.encrypted and no body (this \
         plugin does not decrypt)."
    }

    fn signature(&self) -> Signature {
        with_session(
            Signature::build(self.name()),
            table_of(&[
                ("time", Type::Date),
                ("sender", Type::String),
                ("msgtype", Type::String),
                ("body", Type::String),
                ("event_id", Type::String),
            ]),
        )
        .pipe(with_room)
        .named(
            "limit",
            SyntaxShape::Int,
            "How many messages at most (default: 20).",
            Some('l'),
        )
        .category(Category::Network)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["history", "read", "timeline", "log"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "matrix messages '#ops:example.org' --limit 5",
                description: "The last five messages of #ops",
                result: None,
            },
            Example {
                example: "matrix messages '#ops:example.org' --limit 1000 | where sender == '@bot:example.org' | length",
                description: "How many of the last 1000 messages the bot sent",
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
        let room = room_arg(call)?;
        let limit: Option<Spanned<i64>> = call.get_flag("limit")?;
        let limit = match limit {
            Some(limit) if limit.item < 1 => {
                return Err(LabeledError::new("The limit must be at least 1")
                    .with_label("not a positive number", limit.span)
                    .with_help("e.g. --limit 20"));
            }
            Some(limit) => usize::try_from(limit.item).unwrap_or(usize::MAX),
            None => 20,
        };
        let input = input.into_value(call.head)?;
        let mut active = Active::resolve(plugin, engine, call, &input)?;
        let blame = active.blame();
        let room_id = active
            .run(plugin, |client, token| {
                client.resolve_room(token, &room.item)
            })
            .map_err(|err| room_failure(err, &room, &blame))?;
        let first = active
            .run(plugin, |client, token| {
                client.messages(token, &room_id, None, page_size(limit))
            })
            .map_err(|err| room_failure(err, &room, &blame))?;
        let client = plugin
            .client(
                &active.session.homeserver,
                &active.config,
                active.interrupt.clone(),
            )
            .map_err(|err| errors::request(err, &blame))?;
        let pages = Pages {
            client,
            token: active.session.access_token.clone(),
            room_id,
            room,
            blame,
            buffered: first.messages.into(),
            next: first.next,
            left: limit,
            span: call.head,
        };
        Ok(PipelineData::list_stream(
            ListStream::new(pages, call.head, engine.signals().clone()),
            None,
        ))
    }
}

fn page_size(left: usize) -> u32 {
    u32::try_from(left).unwrap_or(MAX_PAGE).min(MAX_PAGE)
}

/// The messages of a room, page by page, as rows.
struct Pages {
    client: Client,
    token: AccessToken,
    room_id: String,
    room: Spanned<String>,
    blame: Blame,
    buffered: VecDeque<Message>,
    next: Option<String>,
    left: usize,
    span: Span,
}

impl Iterator for Pages {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        if self.left == 0 {
            return None;
        }
        if self.buffered.is_empty() {
            let from = self.next.take()?;
            match self.client.messages(
                &self.token,
                &self.room_id,
                Some(&from),
                page_size(self.left),
            ) {
                Ok(page) => {
                    self.buffered = page.messages.into();
                    self.next = page.next;
                }
                Err(err) => {
                    self.left = 0;
                    let err = room_failure(Failure::Request(err), &self.room, &self.blame);
                    return Some(Value::error(
                        ShellError::LabeledError(Box::new(err)),
                        self.span,
                    ));
                }
            }
        }
        let message = self.buffered.pop_front()?;
        self.left -= 1;
        let span = self.span;
        let mut record = Record::new();
        record.push("time", date_value(message.time, span));
        record.push("sender", Value::string(message.sender, span));
        record.push(
            "msgtype",
            text_or_nothing(message.msgtype.or(Some(message.kind)), span),
        );
        record.push("body", text_or_nothing(message.body, span));
        record.push("event_id", Value::string(message.event_id, span));
        Some(Value::record(record, span))
    }
}

/// Adds the `room` argument.
fn with_room(signature: Signature) -> Signature {
    signature.required(
        "room",
        SyntaxShape::String,
        "The room: an alias (#ops:example.org) or a room ID (!abc:example.org).",
    )
}

/// The `room` argument, checked before anything is sent.
fn room_arg(call: &EvaluatedCall) -> Result<Spanned<String>, LabeledError> {
    let room: Spanned<String> = call.req(0)?;
    check_room(&room.item).map_err(|err| errors::input_of(err, room.span))?;
    Ok(room)
}

/// Errors about a room: unknown alias, not a member, not a room ID, else the usual.
fn room_failure(err: Failure, room: &Spanned<String>, blame: &Blame) -> LabeledError {
    match err {
        Failure::Request(Error::Input(err)) => errors::input(err, room.span),
        Failure::Request(Error::Matrix(err)) if err.errcode == ErrorCode::NotFound => {
            LabeledError::new(format!("No room {}", room.item))
                .with_label("unknown room or alias", room.span)
                .with_help(format!(
                    "check the alias or ID (`matrix rooms` lists the joined ones); the server \
                     said: {err}"
                ))
                .with_code("matrix::M_NOT_FOUND")
        }
        Failure::Request(Error::Matrix(err)) if err.errcode == ErrorCode::Forbidden => {
            LabeledError::new(format!("Not allowed in {}", room.item))
                .with_label("not a member, or not allowed", room.span)
                .with_help(format!(
                    "join it first (`matrix join`), or ask for an invite; the server said: {err}"
                ))
                .with_code("matrix::M_FORBIDDEN")
        }
        other => failure(other, blame),
    }
}
