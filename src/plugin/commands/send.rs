use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{
    Category, Example, IntoPipelineData, LabeledError, PipelineData, Signature, Span, Spanned,
    SyntaxShape, Type, Value,
};

use super::{Pipe, with_session, with_txn_id};
use crate::bot::{FileToSend, txn_for};
use crate::plugin::MatrixPlugin;
use crate::plugin::active::Active;
use crate::plugin::errors;
use crate::plugin::rows::{check_sender, texts};
use crate::plugin::sending::sent_value;
use crate::plugin::target::{Target, row_target};
use crate::rooms::{
    MAX_EVENT_BYTES, OutgoingMessage, check_event_size, check_room, new_transaction_id,
};

/// `matrix send`: sends a message.
pub struct SendMessage;

impl PluginCommand for SendMessage {
    type Plugin = MatrixPlugin;

    completes_sessions_and!(rooms, 0);

    fn name(&self) -> &str {
        "matrix send"
    }

    fn description(&self) -> &str {
        "Send a message to a room, or an answer to a row; returns the event ID."
    }

    fn extra_description(&self) -> &str {
        "The message is the argument, or the string on the pipeline (then the session comes \
         from --session or the saved default). With --reply or --in-thread, a row of `matrix \
         listen` or `matrix messages` is on the pipeline: the room and the event answered come \
         from it, and the one argument is the message (a reply to a message in a thread stays \
         in the thread). --reply-to and --thread do the same with event IDs, looked up first. \
         A reply mentions the sender answered (m.mentions), --mention adds users; no one else \
         is notified. Each send has a transaction ID, so that a request repeated after a lost \
         answer is not sent twice; give your own with --txn-id to make a script's retries \
         safe too. In an end-to-end encrypted room the message is encrypted (Megolm) for \
         every device of the room's members (the e2ee_share setting: all, or only verified \
         ones); that needs a saved session, whose device keeps its keys in a crypto store."
    }

    fn signature(&self) -> Signature {
        with_session(Signature::build(self.name()), Type::record())
            .optional(
                "room",
                SyntaxShape::String,
                "The room: an alias (#ops:example.org) or a room ID (with --reply or \
                 --in-thread: the message, the room coming from the row).",
            )
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
            .switch(
                "reply",
                "Reply to the row on the pipeline (in its thread, if it is in one).",
                None,
            )
            .switch(
                "in-thread",
                "Answer in the thread of the row on the pipeline (started at the row if none).",
                None,
            )
            .named(
                "reply-to",
                SyntaxShape::String,
                "Reply to this event of the room.",
                None,
            )
            .named(
                "thread",
                SyntaxShape::String,
                "Send in the thread of this event of the room.",
                None,
            )
            .named(
                "file",
                SyntaxShape::String,
                "Send the bytes on the pipeline as a file of this name (an image, audio or video by its type); the message, if any, is its caption.",
                Some('f'),
            )
            .named(
                "mention",
                // The list first: with the string first, an inline list is parsed as one string.
                SyntaxShape::OneOf(vec![
                    SyntaxShape::List(Box::new(SyntaxShape::String)),
                    SyntaxShape::String,
                ]),
                "Users to notify (m.mentions).",
                None,
            )
            .pipe(with_txn_id)
            .category(Category::Network)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec![
            "message", "notify", "post", "say", "chat", "reply", "thread",
        ]
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
            Example {
                example: "matrix listen --session bot | where body == '!ping' | each { matrix send pong --reply --session bot }",
                description: "Answer each !ping with a reply (inside the thread, when the !ping is in one)",
                result: None,
            },
            Example {
                example: "open --raw report.pdf | matrix send '#ops:example.org' --file report.pdf --session bot",
                description: "Send a file (in an encrypted room, encrypted before it is uploaded)",
                result: None,
            },
            Example {
                example: "matrix send '#ops:example.org' 'db1 is down' --mention ['@alice:example.org']",
                description: "Notify Alice, and only her",
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
        let first: Option<Spanned<String>> = call.opt(0)?;
        let second: Option<Spanned<String>> = call.opt(1)?;
        let txn_id: Option<Spanned<String>> = call.get_flag("txn-id")?;
        let answering = call.has_flag("reply")? || call.has_flag("in-thread")?;
        if let Some(name) = call.get_flag::<Spanned<String>>("file")? {
            return send_file(plugin, engine, call, input, name, (first, second));
        }
        let (session_input, piped) = split_input(input, call.head)?;
        let (room, target, argument) = if answering {
            let target = row_target(&session_input)?.ok_or_else(|| no_row(call))?;
            if let Some(extra) = &second {
                return Err(LabeledError::new("Too many arguments")
                    .with_label("the room comes from the row on the pipeline", extra.span)
                    .with_help("give only the message: `$row | matrix send pong --reply`"));
            }
            (target.room.clone(), Some(target), first)
        } else {
            let Some(room) = first else {
                return Err(LabeledError::new("Which room?")
                    .with_label("no room", call.head)
                    .with_help(
                        "give the room first (`matrix send '#ops:example.org' hello`), or pipe \
                         a row of `matrix listen` and answer it with --reply",
                    ));
            };
            check_room(&room.item).map_err(|err| errors::input_of(err, room.span))?;
            (room, None, second)
        };
        let text = message_text(call, piped, argument)?;
        let text_span = text.span;
        let mut message = if call.has_flag("markdown")? {
            OutgoingMessage::markdown(text.item)
        } else {
            OutgoingMessage::text(text.item)
        }
        .as_notice(call.has_flag("notice")?);
        if let Err(size) = check_event_size(&message.content()) {
            return Err(LabeledError::new("The message is too long")
                .with_label(
                    format!("{size} bytes as an event; the limit is {MAX_EVENT_BYTES}"),
                    text_span,
                )
                .with_help(
                    "send a long text as a file: `$text | matrix send <room> --file notes.txt`",
                ));
        }
        for user_id in texts(call, "mention", check_sender)?.unwrap_or_default() {
            message.mention(&user_id);
        }

        // A row is not a session: the session comes from --session or the saved default.
        let session_input = match target {
            Some(_) => Value::nothing(call.head),
            None => session_input,
        };
        let mut active = Active::resolve(plugin, engine, call, &session_input)?;
        let message = place(plugin, &mut active, call, &room, target, message)?;
        let content = message.content();
        let txn_id = txn_for(txn_id.map(|id| id.item), "m.room.message", &content);
        let sent = plugin.send_at(&mut active, &room, "m.room.message", &content, txn_id)?;
        Ok(sent_value(sent, call.head).into_pipeline_data())
    }
}

/// `matrix send <room> [caption] --file <name>`, the file's bytes on the pipeline.
fn send_file(
    plugin: &MatrixPlugin,
    engine: &EngineInterface,
    call: &EvaluatedCall,
    input: PipelineData,
    name: Spanned<String>,
    (room, caption): (Option<Spanned<String>>, Option<Spanned<String>>),
) -> Result<PipelineData, LabeledError> {
    // Switches carry no value to point at: the label goes on the command.
    let answer_by_id = "a file answers an event named by ID: `--reply-to <event>` or `--thread \
                        <event>` (`--reply-to $row.event_id`)";
    let text_apart = "send the file, then the text as a message of its own";
    for (flag, why, help) in [
        (
            "reply",
            "the pipeline holds the file's bytes, not a row to answer",
            answer_by_id,
        ),
        (
            "in-thread",
            "the pipeline holds the file's bytes, not a row to answer",
            answer_by_id,
        ),
        ("markdown", "a file has no text to format", text_apart),
        (
            "notice",
            "a notice is a text message; a file is a message of its own kind",
            text_apart,
        ),
    ] {
        if call.has_flag(flag)? {
            return Err(LabeledError::new(format!("--{flag} with --file"))
                .with_label(why, call.head)
                .with_help(help));
        }
    }
    if name.item.trim().is_empty() || name.item.contains(['/', '\\']) {
        return Err(LabeledError::new("Not a file name")
            .with_label("a name such as report.pdf, without folders", name.span)
            .with_help("the name is what clients show and save the file as"));
    }
    let Some(room) = room else {
        return Err(LabeledError::new("Which room?")
            .with_label("no room", call.head)
            .with_help(
                "`open --raw report.pdf | matrix send '#ops:example.org' --file report.pdf`",
            ));
    };
    check_room(&room.item).map_err(|err| errors::input_of(err, room.span))?;
    let no_file = |span: Span| {
        LabeledError::new("--file needs the file on the pipeline")
            .with_label("no bytes to send", span)
            .with_help("`open --raw report.pdf | matrix send '#ops:example.org' --file report.pdf`")
    };
    let bytes = match input {
        PipelineData::ByteStream(stream, _) => stream.into_bytes()?,
        PipelineData::Value(Value::Binary { val, .. }, _) => val.into_owned(),
        PipelineData::Value(Value::String { val, .. }, _) => val.into_bytes(),
        _ => return Err(no_file(name.span)),
    };
    if bytes.is_empty() {
        return Err(LabeledError::new(format!("{} is empty", name.item))
            .with_label("no bytes on the pipeline", name.span)
            .with_help("a file of 0 bytes is nothing to send; check what `open --raw` read"));
    }
    let txn_id: Option<String> = call.get_flag("txn-id")?;
    let mut active = Active::resolve(plugin, engine, call, &Value::nothing(call.head))?;
    // --reply-to and --thread place the file as they place a text: its relation and mentions.
    let placed = place(
        plugin,
        &mut active,
        call,
        &room,
        None,
        OutgoingMessage::text(""),
    )?;
    let placed = placed.content();
    // A file answering an event: the same file, the same answer (its upload's URL is new each
    // time, so the file's hash stands for it).
    let file = FileToSend {
        bytes,
        name: name.item,
        placed,
    };
    let txn_id = txn_id
        .or_else(|| file.answer_txn_id())
        .unwrap_or_else(new_transaction_id);
    let destination = plugin.destination_of(&mut active, &room)?;
    let caption = caption.map(|caption| caption.item);
    let sent = plugin.send_file_at(
        &mut active,
        (&room, name.span),
        destination,
        file,
        (caption, txn_id),
    )?;
    Ok(sent_value(sent, call.head).into_pipeline_data())
}

/// The pipeline's input: a string (or text stream) is the message, anything else the session
/// or a row.
fn split_input(
    input: PipelineData,
    head: Span,
) -> Result<(Value, Option<(String, Span)>), LabeledError> {
    Ok(match input {
        PipelineData::Value(
            Value::String {
                val, internal_span, ..
            },
            _,
        ) => (Value::nothing(head), Some((val, internal_span))),
        PipelineData::ByteStream(stream, _) => {
            let span = stream.span();
            let text = stream.into_string().map_err(|_| {
                LabeledError::new("The piped message is not text")
                    .with_label("expected UTF-8 text", span)
            })?;
            (Value::nothing(head), Some((text, span)))
        }
        other => (other.into_value(head)?, None),
    })
}

/// The message's text: the argument or the pipeline's, not both, not empty.
fn message_text(
    call: &EvaluatedCall,
    piped: Option<(String, Span)>,
    argument: Option<Spanned<String>>,
) -> Result<Spanned<String>, LabeledError> {
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
    Ok(Spanned {
        item: text,
        span: text_span,
    })
}

/// `--reply` or `--in-thread` without a row on the pipeline.
fn no_row(call: &EvaluatedCall) -> LabeledError {
    let flag = if call.has_flag("reply").unwrap_or(false) {
        "reply"
    } else {
        "in-thread"
    };
    let span = call
        .get_flag_value(flag)
        .map_or(call.head, |value| value.span());
    LabeledError::new(format!("--{flag} needs a row on the pipeline"))
        .with_label(
            "no row of `matrix listen` or `matrix messages` to answer",
            span,
        )
        .with_help(
            "pipe the row: `matrix listen | each { matrix send pong --reply }`, or name the \
             event: --reply-to <event_id> (--thread <event_id>)",
        )
}

/// The message placed: a reply, in a thread, both, or neither, as the flags and the row say.
fn place(
    plugin: &MatrixPlugin,
    active: &mut Active,
    call: &EvaluatedCall,
    room: &Spanned<String>,
    row: Option<Target>,
    message: OutgoingMessage,
) -> Result<OutgoingMessage, LabeledError> {
    let own = active.session.user_id.to_string();
    let by_id = |flag: &str, active: &mut Active| -> Result<Option<Target>, LabeledError> {
        let Some(event_id) = call.get_flag::<Spanned<String>>(flag)? else {
            return Ok(None);
        };
        if row.is_some() {
            return Err(LabeledError::new(format!("--{flag} with a row"))
                .with_label(
                    "the row on the pipeline already names the event",
                    event_id.span,
                )
                .with_help("answer the row (--reply, --in-thread) or name an event, not both"));
        }
        let mut target = Target::by_id(room.clone(), event_id)?;
        target.look_up(plugin, active)?;
        Ok(Some(target))
    };
    let reply_to = by_id("reply-to", active)?;
    let thread = by_id("thread", active)?;
    let (reply, in_thread) = (call.has_flag("reply")?, call.has_flag("in-thread")?);
    let mut message = message;
    if let Some(row) = &row {
        // A reply to a message in a thread stays there; --in-thread starts one if need be.
        message = row.about.place(message, &own, reply, in_thread);
    }
    if let Some(target) = &reply_to {
        // A reply to a message in a thread stays there, unless --thread names another.
        message = match &thread {
            None => target.about.place(message, &own, true, false),
            Some(_) => message.replying_to(target.answered(), target.about.sender.as_deref(), &own),
        };
    }
    if let Some(target) = &thread {
        message = target.about.place(message, &own, false, true);
    }
    Ok(message)
}
