//! The one row shape of a room event, shared by `matrix listen` and `matrix messages`: what it
//! is (type, msgtype, text), what it relates to, its media, its redaction, its encryption.
//! The `type` and `msgtype` columns never swap: `msgtype` is only ever the content's.

use nu_plugin::EvaluatedCall;
use nu_protocol::{LabeledError, Record, Span, Type, Value};
use serde_json::Value as JsonValue;

use crate::plugin::json;
use crate::plugin::token::{date_value, text_or_nothing};
use crate::rooms::{Event, Shape};

/// The columns of an event row, in order; `room` and `ack` are the listener's (it alone spans
/// rooms and acks).
pub(crate) fn event_columns(listener: bool) -> Vec<(&'static str, Type)> {
    let text = || maybe(Type::String);
    // A to-device verification request has no room.
    let room_id = if listener {
        maybe(Type::String)
    } else {
        Type::String
    };
    let mut columns = vec![("time", Type::Date), ("room_id", room_id)];
    if listener {
        columns.push(("room", text()));
    }
    columns.extend([
        ("sender", Type::String),
        ("type", Type::String),
        ("msgtype", text()),
        ("body", text()),
        ("formatted_body", text()),
        ("event_id", text()),
        ("reply_to", text()),
        ("thread", text()),
        ("relation", maybe(Type::record())),
        ("edits", text()),
        ("latest_edit", text()),
        ("url", text()),
        ("info", maybe(Type::record())),
        ("redacted", Type::Bool),
        ("redacts", text()),
        ("reason", text()),
        ("content", Type::record()),
        ("encrypted", Type::Bool),
        ("verified", maybe(Type::Bool)),
        ("decrypt_error", text()),
        ("authenticity", text()),
    ]);
    if listener {
        columns.push(("ack", maybe(Type::record())));
    }
    columns
}

/// A column that may hold nothing (an unnamed room's alias, a row's `reply_to`): declared so,
/// or `let x = (matrix rooms)` fails Nushell's check of the value against the declared type.
pub(crate) fn maybe(ty: Type) -> Type {
    Type::one_of([ty, Type::Nothing])
}

/// An event as a row's columns hold it.
pub(crate) struct EventRow {
    pub time: std::time::SystemTime,
    pub room_id: String,
    /// The listener's `room` column: `Some` (a name or nothing) for a listener's row.
    pub room: Option<Option<String>>,
    pub sender: String,
    pub kind: String,
    pub event_id: Option<String>,
    pub shape: Shape,
    pub content: JsonValue,
    pub encrypted: bool,
    pub verified: Option<bool>,
    pub decrypt_error: Option<String>,
    pub authenticity: Option<String>,
}

impl EventRow {
    /// The row of `event`; `room` is the listener's `room` column (`None` for a page's row).
    pub(crate) fn of(event: Event, room: Option<Option<String>>) -> Self {
        Self {
            time: event.time,
            shape: event.shape(),
            room_id: event.room_id,
            room,
            sender: event.sender,
            kind: event.kind,
            event_id: event.event_id,
            content: event.content,
            encrypted: event.encrypted,
            verified: event.verified,
            decrypt_error: event.decrypt_error,
            authenticity: event.authenticity,
        }
    }

    /// The record, in [`event_columns`]' order (the listener adds `ack`).
    pub(crate) fn into_record(self, span: Span) -> Record {
        let text = |text: Option<String>| text_or_nothing(text, span);
        let shape = self.shape;
        let mut record = Record::new();
        record.push("time", date_value(self.time, span));
        let room_id = Some(self.room_id).filter(|room_id| !room_id.is_empty());
        record.push("room_id", text(room_id));
        if let Some(room) = self.room {
            record.push("room", text(room));
        }
        record.push("sender", Value::string(self.sender, span));
        record.push("type", Value::string(self.kind, span));
        record.push("msgtype", text(shape.msgtype));
        record.push("body", text(shape.body));
        record.push("formatted_body", text(shape.formatted_body));
        record.push("event_id", text(self.event_id));
        record.push("reply_to", text(shape.reply_to));
        record.push("thread", text(shape.thread));
        let relation = shape.relation.map_or(Value::nothing(span), |relation| {
            let mut fields = Record::new();
            fields.push("rel_type", Value::string(relation.rel_type, span));
            fields.push("event_id", Value::string(relation.event_id, span));
            fields.push("key", text(relation.key));
            Value::record(fields, span)
        });
        record.push("relation", relation);
        record.push("edits", text(shape.edits));
        record.push("latest_edit", text(shape.latest_edit));
        record.push("url", text(shape.url));
        record.push(
            "info",
            shape
                .info
                .map_or(Value::nothing(span), |info| json::to_value(info, span)),
        );
        record.push("redacted", Value::bool(shape.redacted, span));
        record.push("redacts", text(shape.redacts));
        record.push("reason", text(shape.reason));
        record.push("content", json::to_value(self.content, span));
        push_encryption(
            &mut record,
            self.encrypted,
            self.verified,
            (self.decrypt_error, self.authenticity),
            span,
        );
        record
    }
}

/// The columns of a row that say how it came: `encrypted`, `verified` (when decrypted),
/// `decrypt_error` (when it could not be), and `authenticity` (why a decrypted one's sender is
/// not guaranteed).
pub(crate) fn push_encryption(
    record: &mut Record,
    encrypted: bool,
    verified: Option<bool>,
    (decrypt_error, authenticity): (Option<String>, Option<String>),
    span: Span,
) {
    record.push("encrypted", Value::bool(encrypted, span));
    record.push(
        "verified",
        verified.map_or(Value::nothing(span), |verified| Value::bool(verified, span)),
    );
    record.push("decrypt_error", text_or_nothing(decrypt_error, span));
    record.push("authenticity", text_or_nothing(authenticity, span));
}

/// A flag given as a string or a list of strings, each checked by `check`.
pub(crate) fn texts(
    call: &EvaluatedCall,
    name: &str,
    check: fn(&str) -> Result<(), String>,
) -> Result<Option<Vec<String>>, LabeledError> {
    let Some(value) = call.get_flag_value(name) else {
        return Ok(None);
    };
    let span = value.span();
    let items = match value {
        Value::List { vals, .. } => vals.into_owned(),
        single => vec![single],
    };
    if items.is_empty() {
        return Err(LabeledError::new(format!("--{name} is empty"))
            .with_label("give at least one", span)
            .with_help(format!("e.g. --{name} {}", example_of(name))));
    }
    let mut list = Vec::with_capacity(items.len());
    for item in items {
        let item_span = item.span();
        let text = match item {
            Value::String { val, .. } => val,
            other => {
                return Err(LabeledError::new(format!("--{name} takes text"))
                    .with_label(format!("this is {}", other.get_type()), item_span)
                    .with_help(format!("e.g. --{name} {}", example_of(name))));
            }
        };
        if let Err(problem) = check(&text) {
            return Err(LabeledError::new(problem)
                .with_label(format!("not for --{name}"), item_span)
                .with_help(format!("e.g. --{name} {}", example_of(name))));
        }
        list.push(text);
    }
    Ok(Some(list))
}

/// What a flag's value looks like, for help.
fn example_of(name: &str) -> &'static str {
    match name {
        "type" => "m.room.message (or [m.room.message m.reaction], or m.room.*)",
        _ => "@alice:example.org (or ['@alice:example.org' '@bob:example.org'])",
    }
}

/// An event type: a namespaced name (`m.room.message`, `com.example.*`), not a number.
pub(crate) fn check_event_type(text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("An event type is empty".to_owned());
    }
    // `*` alone: every type, as the spec's filters take it.
    if text == "*" {
        return Ok(());
    }
    if text.contains(char::is_whitespace) || !text.contains(|c: char| c.is_alphabetic()) {
        return Err(format!("'{text}' is not an event type"));
    }
    Ok(())
}

/// A user ID (a sender, a mention).
pub(crate) fn check_sender(text: &str) -> Result<(), String> {
    crate::ids::UserId::parse(text)
        .map(|_| ())
        .map_err(|err| crate::plugin::errors::capitalise(&err.problem))
}
