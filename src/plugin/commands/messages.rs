use std::collections::VecDeque;
use std::sync::Arc;

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{
    Category, Example, LabeledError, ListStream, PipelineData, Record, ShellError, Signature, Span,
    Spanned, SyntaxShape, Type, Value,
};

use super::{Pipe, limit_flag, table_of, with_session};
use crate::client::Client;
use crate::e2ee::{self, Crypto};
use crate::error::{E2eeKind, Error};
use crate::listen::ENCRYPTED;
use crate::plugin::MatrixPlugin;
use crate::plugin::active::{Active, Failure};
use crate::plugin::e2ee::push_encryption;
use crate::plugin::errors::{self, Blame};
use crate::plugin::room_arg::{room_arg, room_failure, with_room};
use crate::plugin::token::{date_value, text_or_nothing};
use crate::rooms::{MAX_PAGE, Message};
use crate::secret::AccessToken;

/// `matrix messages`: recent messages of a room.
pub struct Messages;

impl PluginCommand for Messages {
    type Plugin = MatrixPlugin;

    completes_sessions_and!(rooms, 0);

    fn name(&self) -> &str {
        "matrix messages"
    }

    fn description(&self) -> &str {
        "Recent messages of a room, newest first."
    }

    fn extra_description(&self) -> &str {
        "Columns: time, sender, msgtype, body, event_id, encrypted, verified, decrypt_error. \
         The rows stream in pages: the first of up to 100 (the first rows come at once), then \
         of up to 1000 (the most Synapse gives), no larger than --limit; 10,000 messages take \
         11 requests, and the pages already read are not kept. Messages of an end-to-end \
         encrypted room are decrypted with the room keys the saved session's device has \
         (encrypted: true; verified: whether the sender's device is cross-signed by its \
         owner); one it has no key for keeps msgtype m.room.encrypted, no body, and says why \
         in decrypt_error."
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
                ("encrypted", Type::Bool),
                ("verified", Type::Bool),
                ("decrypt_error", Type::String),
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
        let limit =
            limit_flag(call)?.map_or(20, |limit| usize::try_from(limit).unwrap_or(usize::MAX));
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
                client.messages(token, &room_id, None, page_size(limit, FIRST_PAGE))
            })
            .map_err(|err| room_failure(err, &room, &blame))?;
        let client = active
            .client(plugin)
            .map_err(|err| errors::request(err, &blame))?;
        let mut first = first;
        let token = active.session.access_token.clone();
        let mut crypto = Sealed::Later {
            plugin: plugin.clone(),
            active: Box::new(active),
        };
        crypto
            .open(&room_id, &mut first.messages)
            .map_err(|err| room_failure(err, &room, &blame))?;
        let pages = Pages {
            crypto,
            client,
            token,
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

/// How a room's encrypted messages are read.
enum Sealed {
    /// None met yet: the device's crypto opens at the first.
    Later {
        plugin: MatrixPlugin,
        active: Box<Active>,
    },
    /// With the device's crypto.
    Open(Arc<Crypto>),
    /// Not: why.
    Unavailable(String),
}

impl Sealed {
    /// Decrypts a page's encrypted messages. At the first, the device's crypto opens, and takes
    /// the room keys sent to it since its last sync (while no listener ran); a session that is
    /// not saved gets rows that say so, a store that cannot be used an error.
    fn open(&mut self, room_id: &str, messages: &mut [Message]) -> Result<(), Failure> {
        let sealed = messages.iter().any(|message| message.kind == ENCRYPTED);
        if sealed && let Self::Later { plugin, active } = self {
            let opened = plugin.crypto(active).and_then(|crypto| {
                active.run(plugin, |client, token| crypto.catch_up(client, token))?;
                Ok(crypto)
            });
            *self = match opened {
                Ok(crypto) => Self::Open(crypto),
                Err(Failure::Request(Error::E2ee(err))) if err.kind == E2eeKind::NotSaved => {
                    Self::Unavailable(format!("{} ({})", err.problem, err.hint))
                }
                Err(err) => return Err(err),
            };
        }
        match self {
            Self::Open(crypto) => e2ee::decrypt_messages(crypto, room_id, messages),
            Self::Unavailable(why) => e2ee::mark_sealed(messages, why),
            Self::Later { .. } => {}
        }
        Ok(())
    }
}

/// The first page: small, so that the first rows come at once (Synapse takes about 2 s for a
/// page of 1,000); the next ones as large as the server gives.
const FIRST_PAGE: u32 = 100;

fn page_size(left: usize, largest: u32) -> u32 {
    u32::try_from(left).unwrap_or(largest).min(largest)
}

/// The messages of a room, page by page, as rows.
struct Pages {
    crypto: Sealed,
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

impl Pages {
    /// The error row that ends the stream.
    fn failed(&mut self, err: Failure) -> Value {
        self.left = 0;
        let err = room_failure(err, &self.room, &self.blame);
        Value::error(ShellError::LabeledError(Box::new(err)), self.span)
    }
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
                page_size(self.left, MAX_PAGE),
            ) {
                Ok(mut page) => match self.crypto.open(&self.room_id, &mut page.messages) {
                    Ok(()) => {
                        self.buffered = page.messages.into();
                        self.next = page.next;
                    }
                    Err(err) => return Some(self.failed(err)),
                },
                Err(err) => return Some(self.failed(Failure::Request(err))),
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
        push_encryption(
            &mut record,
            message.encrypted,
            message.verified,
            message.decrypt_error,
            span,
        );
        Some(Value::record(record, span))
    }
}
