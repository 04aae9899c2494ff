//! The event a command answers, edits, reacts to or redacts: a row of `matrix listen` or
//! `matrix messages` on the pipeline (its `room_id`, `event_id`, `sender`, `thread`), or a
//! room and an event ID given as arguments, which the library looks up first (one request), so
//! that an unknown event is an error that points at it, not a reaction to nothing.

use nu_plugin::{EngineInterface, EvaluatedCall};
use nu_protocol::{LabeledError, Span, Spanned, Value};

use crate::bot::{self, mentions_of};
use crate::error::{Error, ErrorCode};
use crate::plugin::MatrixPlugin;
use crate::plugin::active::{Active, Failure};
use crate::plugin::errors;
use crate::plugin::room_arg::room_failure;
use crate::rooms::check_room;

/// The event acted on: what the library knows of it, and where it was given.
pub(crate) struct Target {
    /// Its room: the row's `room_id`, or the argument (an ID or alias).
    pub room: Spanned<String>,
    /// Its ID.
    pub event_id: Spanned<String>,
    /// Who sent it, its thread, what it edits, whom it mentions (once known).
    pub about: bot::Target,
    /// It came as a row (and needs no lookup).
    pub from_row: bool,
}

/// The target and the other arguments: with a row on the pipeline, every positional argument
/// is one of `rest`; else the first two are the room and the event.
fn target_and_rest(
    call: &EvaluatedCall,
    input: &Value,
    rest: &[&str],
) -> Result<(Target, Vec<Spanned<String>>), LabeledError> {
    let mut given = Vec::with_capacity(call.positional.len());
    for value in &call.positional {
        let span = value.span();
        match value {
            Value::String { val, .. } => given.push(Spanned {
                item: val.clone(),
                span,
            }),
            Value::Nothing { .. } => {}
            other => {
                return Err(LabeledError::new("Expected text")
                    .with_label(format!("this is {}", other.get_type()), span));
            }
        }
    }
    if let Some(target) = row_target(input)? {
        if given.len() > rest.len() {
            return Err(LabeledError::new("Too many arguments")
                .with_label(
                    "the room and the event come from the row on the pipeline",
                    given[rest.len()].span,
                )
                .with_help(format!("give only {}", rest.join(" and "))));
        }
        return Ok((target, given));
    }
    let first_span = given.first().map_or(call.head, |arg| arg.span);
    let mut given = given.into_iter();
    let (Some(room), Some(event_id)) = (given.next(), given.next()) else {
        return Err(LabeledError::new("Which event?")
            .with_label("no room and event", first_span)
            .with_help(
                "pipe a row of `matrix listen` or `matrix messages`, or give the room and the \
                 event ID before the rest",
            ));
    };
    check_room(&room.item).map_err(|err| errors::input_of(err, room.span))?;
    Ok((Target::by_id(room, event_id)?, given.collect()))
}

/// What `matrix react`, `edit` and `redact` start from: the event looked up, the argument
/// after it (checked by `check` before anything is sent), the transaction ID, the session.
pub(crate) struct Aimed {
    pub target: Target,
    pub argument: Option<Spanned<String>>,
    /// `--txn-id`, when given (else the answer's own: [`crate::rooms::answer_transaction_id`]).
    pub txn_id: Option<String>,
    pub active: Active,
}

/// The event and the one argument `rest` names (none if empty), checked, then the session,
/// then the event looked up.
pub(crate) fn aim(
    plugin: &MatrixPlugin,
    engine: &EngineInterface,
    call: &EvaluatedCall,
    input: &Value,
    rest: &[&str],
    check: impl Fn(Option<&Spanned<String>>) -> Result<(), LabeledError>,
) -> Result<Aimed, LabeledError> {
    let (mut target, given) = target_and_rest(call, input, rest)?;
    let argument = given.into_iter().next();
    check(argument.as_ref())?;
    let txn_id = call.get_flag::<String>("txn-id")?;
    let session = target.session_input(input, call.head);
    let mut active = Active::resolve(plugin, engine, call, &session)?;
    target.look_up(plugin, &mut active)?;
    Ok(Aimed {
        target,
        argument,
        txn_id,
        active,
    })
}

/// The target in a row of `matrix listen` or `matrix messages` on the pipeline, if one is
/// there (a record with an `event_id`).
pub(crate) fn row_target(input: &Value) -> Result<Option<Target>, LabeledError> {
    let Value::Record { val, .. } = input else {
        return Ok(None);
    };
    let Some(event_id) = val.get("event_id") else {
        return Ok(None);
    };
    let span = input.span();
    let text = |field: &str| {
        val.get(field)
            .and_then(|value| value.as_str().ok())
            .map(str::to_owned)
    };
    let (Some(room_id), Ok(id)) = (text("room_id"), event_id.as_str()) else {
        return Err(LabeledError::new("This row names no event")
            .with_label("needs room_id and event_id", span)
            .with_help(
                "pipe a row of `matrix listen` or `matrix messages` (an invitation's row has no \
                 event)",
            ));
    };
    let event_id = Spanned {
        item: id.to_owned(),
        span,
    };
    check_event_id(&event_id)?;
    let about = bot::Target {
        room: room_id.clone(),
        event_id: event_id.item.clone(),
        sender: text("sender"),
        thread: text("thread"),
        msgtype: text("msgtype"),
        edits: text("edits"),
        mentions: val
            .get("content")
            .and_then(|content| crate::plugin::json::from_value(content).ok())
            .map(|content| mentions_of(&content))
            .unwrap_or_default(),
    };
    Ok(Some(Target {
        room: Spanned {
            item: room_id,
            span,
        },
        event_id,
        about,
        from_row: true,
    }))
}

/// An event ID: `$…`, checked before anything is sent.
fn check_event_id(event_id: &Spanned<String>) -> Result<(), LabeledError> {
    let id = &event_id.item;
    if id.starts_with('$') && id.len() > 1 && id.len() <= 255 && !id.contains(char::is_whitespace) {
        return Ok(());
    }
    Err(LabeledError::new(format!("'{id}' is not an event ID"))
        .with_label("expected $…", event_id.span)
        .with_help("the event_id column of `matrix listen` and `matrix messages` has them"))
}

impl Target {
    /// The event `event_id` of `room`, given as arguments (checked, not yet looked up).
    pub(crate) fn by_id(
        room: Spanned<String>,
        event_id: Spanned<String>,
    ) -> Result<Self, LabeledError> {
        check_event_id(&event_id)?;
        let about = bot::Target {
            room: room.item.clone(),
            event_id: event_id.item.clone(),
            ..bot::Target::default()
        };
        Ok(Self {
            room,
            event_id,
            about,
            from_row: false,
        })
    }

    /// Fills in what a row would have said (sender, thread, msgtype), from the server, for a
    /// target given by ID: an unknown event is an error pointing at it.
    pub(crate) fn look_up(
        &mut self,
        plugin: &MatrixPlugin,
        active: &mut Active,
    ) -> Result<(), LabeledError> {
        if self.from_row {
            return Ok(());
        }
        let blame = active.blame();
        let (room, event_id) = (&self.room, &self.event_id);
        let about =
            plugin
                .look_up(active, &room.item, &event_id.item)
                .map_err(|err| match err {
                    Failure::Request(Error::Matrix(err)) if err.errcode == ErrorCode::NotFound => {
                        LabeledError::new(format!("No event {} in {}", event_id.item, room.item))
                            .with_label("unknown event", event_id.span)
                            .with_help(format!(
                                "check the event ID (the event_id column of `matrix messages`) and \
                             the room; the server said: {err}"
                            ))
                            .with_code("matrix::M_NOT_FOUND")
                    }
                    other => room_failure(other, room, &blame),
                })?;
        self.about = about;
        Ok(())
    }

    /// What `Active::resolve` is given: nothing for a row (a row is not a session: the
    /// session comes from --session or the saved default), else the pipeline.
    pub(crate) fn session_input(&self, input: &Value, head: Span) -> Value {
        if self.from_row {
            Value::nothing(head)
        } else {
            input.clone()
        }
    }

    /// The event an answer (a reply, a reaction, a thread) goes to (see
    /// [`bot::Target::answered`]).
    pub(crate) fn answered(&self) -> &str {
        self.about.answered()
    }
}
