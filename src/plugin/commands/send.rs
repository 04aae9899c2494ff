use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{
    Category, Example, IntoPipelineData, LabeledError, PipelineData, Record, Signature, Spanned,
    SyntaxShape, Type, Value,
};

use super::{Pipe, with_session};
use crate::plugin::MatrixPlugin;
use crate::plugin::active::Active;
use crate::plugin::room_arg::{room_arg, room_failure, with_room};
use crate::rooms::{OutgoingMessage, new_transaction_id};

/// `matrix send`: sends a message.
pub struct SendMessage;

impl PluginCommand for SendMessage {
    type Plugin = MatrixPlugin;

    completes_sessions_and!(rooms, 0);

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
         to make a script's retries safe too. In an end-to-end encrypted room the message is \
         encrypted (Megolm) for every device of the room's members (the e2ee_share setting: \
         all, or only verified ones); that needs a saved session, whose device keeps its keys \
         in a crypto store."
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
        let user_id = active.session.user_id.to_string();
        let device = plugin.device_hook(&active);
        let (room_id, encrypted) = active
            .run(plugin, |client, token| {
                plugin.room_to_send_to(client, token, &user_id, &room.item, device.clone())
            })
            .map_err(|err| room_failure(err, &room, &blame))?;
        let crypto = match encrypted {
            true => Some(
                plugin
                    .crypto(&active)
                    .map_err(|err| room_failure(err, &room, &blame))?,
            ),
            false => None,
        };
        let event_id = active
            .run(plugin, |client, token| match &crypto {
                Some(crypto) => crypto.send(
                    client,
                    token,
                    &room_id,
                    "m.room.message",
                    &message.content(),
                    &txn_id,
                ),
                None => client.send_message(token, &room_id, &message, &txn_id),
            })
            .map_err(|err| {
                plugin.forget_room(&active.session.homeserver, &user_id, &room_id);
                room_failure(err, &room, &blame)
            })?;
        let span = call.head;
        let mut record = Record::new();
        record.push("event_id", Value::string(event_id, span));
        record.push("room_id", Value::string(room_id, span));
        record.push("txn_id", Value::string(txn_id, span));
        Ok(Value::record(record, span).into_pipeline_data())
    }
}
