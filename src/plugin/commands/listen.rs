use std::time::Duration;

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{
    Category, Example, LabeledError, ListStream, PipelineData, Signature, Spanned, SyntaxShape,
};

use super::{limit_flag, table_of, with_session};
use crate::bot::Plan;
use crate::e2ee::DEFAULT_KEY_GRACE;
use crate::listen::{DEFAULT_WAIT, ListenFilter, Position, Start};
use crate::plugin::MatrixPlugin;
use crate::plugin::active::Active;
use crate::plugin::active::failure;
use crate::plugin::config::{MAX_KEY_GRACE, PluginConfig};
use crate::plugin::errors;
use crate::plugin::listen::Stream;
use crate::plugin::room_arg::room_failure;
use crate::plugin::rows::{check_event_type, check_sender, event_columns, texts};
use crate::rooms::check_room;

/// The longest long-poll `--wait` takes.
const MAX_WAIT: Duration = Duration::from_secs(300);

/// `matrix listen`: the rooms' events as a live stream.
pub struct Listen;

impl PluginCommand for Listen {
    type Plugin = MatrixPlugin;

    completes_sessions_and!(rooms, _);

    fn name(&self) -> &str {
        "matrix listen"
    }

    fn description(&self) -> &str {
        "The events of the user's rooms as they come, one row each: a bot is a pipeline."
    }

    fn extra_description(&self) -> &str {
        "Columns: time, room_id, room (alias or name), sender, type, msgtype, body, \
         formatted_body, event_id, reply_to, thread, relation, edits, latest_edit, url, info, \
         redacted, redacts, reason, content, encrypted, verified, decrypt_error, authenticity, ack (see \
         `matrix messages` for what each holds). The server filters (by rooms, --type, --sender), and holds each /sync up to \
         --wait while nothing happens: an idle listener costs one request per wait. The \
         session's own events are left out unless --own. A failed request (a server restart, \
         no network, 5xx, 429) is retried with a growing pause (1 s to 30 s), said on stderr; \
         a refused token ends the stream with an error (after a refresh, when the session has \
         a refresh token). With --since saved, a saved session goes on after the last event \
         it handed to the pipeline: at most once (rows Nushell read ahead, up to 100, count as \
         handed out). With --since saved --ack, after the last row of the longest run that \
         `matrix listen ack` marked done: at least once (a row not acked comes again; ack every \
         row, the ones a handler skips too; an answer to a row repeated is sent once, under a \
         transaction ID derived from the row and the answer). One listener per saved session \
         with --since saved: a second is refused. Ctrl-C ends it. Events of end-to-end encrypted rooms are decrypted by the \
         saved session's device (its keys in a crypto store, made when it first meets \
         encryption) and filtered by their real type: encrypted is true, verified says \
         whether the sender's device is cross-signed by its owner. One that cannot be \
         decrypted because its room key has not come is held (up to --key-grace, 10 s by \
         default) while later rows flow: its key is looked for in the key backup and asked of \
         the account's other verified devices, and it comes decrypted once the key does. One \
         that still cannot be decrypted comes all the same, as m.room.encrypted with \
         decrypt_error saying why, and the stream goes on; if its key comes later (within the \
         hour), it comes again, decrypted, with the same event_id."
    }

    fn signature(&self) -> Signature {
        with_session(
            Signature::build(self.name()),
            table_of(&event_columns(true)),
        )
        .rest(
            "rooms",
            SyntaxShape::String,
            "Only these rooms: aliases (#ops:example.org) or IDs (default: every joined room).",
        )
        .named(
            "type",
            // The list first: with the string first, an inline list is parsed as one string.
            SyntaxShape::OneOf(vec![
                SyntaxShape::List(Box::new(SyntaxShape::String)),
                SyntaxShape::String,
            ]),
            "Event types, `*` wildcards allowed (default: m.room.message).",
            None,
        )
        .named(
            "sender",
            // The list first: with the string first, an inline list is parsed as one string.
            SyntaxShape::OneOf(vec![
                SyntaxShape::List(Box::new(SyntaxShape::String)),
                SyntaxShape::String,
            ]),
            "Only events of these users.",
            None,
        )
        .switch("own", "Also the session's own events (a bot answering itself loops).", None)
        .switch(
            "invites",
            "Also invitations to rooms (those pending first), as rows of type `invite`: pipe one to `matrix join`.",
            None,
        )
        .switch(
            "verifications",
            "Also verification requests of people (Verify in Element), as rows of type `m.key.verification.request`: pipe one to `matrix e2ee verify` at a terminal.",
            None,
        )
        .named(
            "since",
            SyntaxShape::String,
            "Where to start: now (default), saved (after the last event this saved session handed out), or a sync token.",
            None,
        )
        .switch("once", "One sync, then the end: what is new (for cron, with --since saved).", None)
        .switch(
            "ack",
            "With --since saved: keep the position after the rows marked done with `matrix listen ack` (at-least-once), not after the rows handed out.",
            None,
        )
        .named("limit", SyntaxShape::Int, "End after this many events.", None)
        .named(
            "key-grace",
            SyntaxShape::Duration,
            "How long an encrypted event whose room key has not come is held, while later ones flow, before it comes with its decrypt_error (default: the key_grace setting, else 10sec; 0sec: never held).",
            None,
        )
        .named(
            "wait",
            SyntaxShape::Duration,
            "How long the server holds a request while nothing happens (default: 30sec).",
            None,
        )
        .category(Category::Network)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["sync", "bot", "stream", "events", "watch", "follow"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "matrix listen --session bot | where msgtype == 'm.text' and body == '!ping' | each {|m| try { 'pong' | matrix send $m.room_id --notice --session bot } catch {|e| print -e $e.msg } }",
                description: "A bot that answers !ping with pong until Ctrl-C, in plain and encrypted rooms alike (an encrypted DM's rows come decrypted, the pong goes encrypted), and goes on when an answer fails",
                result: None,
            },
            Example {
                example: "matrix listen --invites --session bot | each {|e| try { if $e.type == invite { $e | matrix join --session bot } } catch {|err| print -e $err.msg } }",
                description: "A bot that joins every room it is invited to (messages come in the same stream: see examples/bot.nu)",
                result: None,
            },
            Example {
                example: "matrix listen '#ops:example.org' --limit 3 | select sender body",
                description: "The next three messages of #ops",
                result: None,
            },
            Example {
                example: "matrix listen --session bot --since saved --once | select time room sender body",
                description: "What came since the last run (for cron): each message once",
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
        let rooms: Vec<Spanned<String>> = call.rest(0)?;
        for room in &rooms {
            check_room(&room.item).map_err(|err| errors::input_of(err, room.span))?;
        }
        let types = texts(call, "type", check_event_type)?
            .unwrap_or_else(|| vec!["m.room.message".to_owned()]);
        let senders = texts(call, "sender", check_sender)?.unwrap_or_default();
        let limit = limit_flag(call)?;
        let wait = wait_of(call)?;
        let since: Option<Spanned<String>> = call.get_flag("since")?;
        let input = input.into_value(call.head)?;
        let mut active = Active::resolve(plugin, engine, call, &input)?;
        let blame = active.blame();
        let mut room_ids = Vec::with_capacity(rooms.len());
        for room in &rooms {
            let id = active
                .run(plugin, |client, token| {
                    client.resolve_room(token, &room.item)
                })
                .map_err(|err| room_failure(err, room, &blame))?;
            room_ids.push(id);
        }
        let (start, keep_as) = start_of(plugin, &active, since.clone())?;
        let ack = call.has_flag("ack")?;
        if ack && keep_as.is_none() {
            let span = call
                .get_flag_value("ack")
                .map_or(call.head, |flag| flag.span());
            return Err(LabeledError::new("--ack needs --since saved")
                .with_label("acks move a saved session's position", span)
                .with_help(
                    "listen with --since saved --session <name>: the position kept is then the \
                     one after the rows `matrix listen ack` marked done",
                ));
        }
        let own = call.has_flag("own")?;
        let filter = ListenFilter {
            rooms: room_ids,
            types,
            senders,
            not_senders: if own {
                Vec::new()
            } else {
                vec![active.session.user_id.as_str().to_owned()]
            },
            invites: call.has_flag("invites")?,
            verifications: call.has_flag("verifications")?,
            encrypted: false,
        };
        // Encrypted events are asked for too, and filtered by their real type once decrypted
        // (unless they are what is asked for, as they are).
        let filter = filter.with_encrypted();
        let plan = Plan {
            filter,
            start,
            wait,
            once: call.has_flag("once")?,
            limit,
            keep_as,
            ack,
            key_grace: key_grace_of(call, engine)?,
            speaker: "matrix listen".to_owned(),
        };
        let stream = Stream::new(plugin, active, plan)?;
        Ok(PipelineData::list_stream(
            ListStream::new(stream, call.head, engine.signals().clone()),
            None,
        ))
    }
}

/// `--wait`: positive, at most [`MAX_WAIT`].
fn wait_of(call: &EvaluatedCall) -> Result<Duration, LabeledError> {
    let Some(wait) = call.get_flag::<Spanned<i64>>("wait")? else {
        return Ok(DEFAULT_WAIT);
    };
    match u64::try_from(wait.item) {
        Ok(nanos) if nanos > 0 && Duration::from_nanos(nanos) <= MAX_WAIT => {
            Ok(Duration::from_nanos(nanos))
        }
        _ => Err(LabeledError::new("The wait is out of range")
            .with_label("between 1ms and 5min", wait.span)
            .with_help("e.g. --wait 30sec (how long the server holds a quiet request)")),
    }
}

/// How long an event waits for its room key: `--key-grace`, else the `key_grace` setting, else
/// the default.
fn key_grace_of(call: &EvaluatedCall, engine: &EngineInterface) -> Result<Duration, LabeledError> {
    let Some(grace) = call.get_flag::<Spanned<i64>>("key-grace")? else {
        let config = PluginConfig::read(engine)?;
        return Ok(config.key_grace.unwrap_or(DEFAULT_KEY_GRACE));
    };
    match u64::try_from(grace.item) {
        Ok(nanos) if Duration::from_nanos(nanos) <= MAX_KEY_GRACE => {
            Ok(Duration::from_nanos(nanos))
        }
        _ => Err(LabeledError::new("The key grace is out of range")
            .with_label("between 0sec and 10min", grace.span)
            .with_help(
                "e.g. --key-grace 10sec: how long an encrypted event whose room key has not \
                 come is held before it comes with its decrypt_error",
            )),
    }
}

/// Where the stream starts, and the saved session whose position it keeps.
fn start_of(
    plugin: &MatrixPlugin,
    active: &Active,
    since: Option<Spanned<String>>,
) -> Result<(Start, Option<String>), LabeledError> {
    let Some(since) = since else {
        return Ok((Start::Now, None));
    };
    match since.item.as_str() {
        "now" => Ok((Start::Now, None)),
        "saved" => {
            let Some(name) = active.saved_as.clone() else {
                return Err(LabeledError::new("--since saved needs a saved session")
                    .with_label("this session is not saved", since.span)
                    .with_help(
                        "save it (`matrix session save <name>`) and listen with --session <name>",
                    ));
            };
            let start = plugin
                .saved_start(active, "matrix listen")
                .map_err(|err| failure(err, &active.blame()))?;
            Ok((start, Some(name)))
        }
        token if !token.trim().is_empty() && !token.contains(char::is_whitespace) => Ok((
            Start::At(Position {
                since: token.to_owned(),
                after: None,
            }),
            None,
        )),
        _ => Err(LabeledError::new("Not a place to start")
            .with_label("not now, saved or a sync token", since.span)
            .with_help("--since now, --since saved (a saved session), or a sync token")),
    }
}
