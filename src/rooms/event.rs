//! A room event as the library hands it out, the same for a listener's events and a page of a
//! room's history: what the server sent, and what decryption made of it.

use std::time::SystemTime;

use serde_json::{Value as JsonValue, json};

use super::Shape;
use crate::unix_ms;

/// The type of an encrypted room event.
pub const ENCRYPTED: &str = "m.room.encrypted";

/// A room event (of a listener, or of a page of history), or an invitation a listener heard
/// (`kind` `invite`).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `!abc:example.org`
    pub room_id: String,
    /// `$event:example.org`; `None` for an invitation (its state comes stripped).
    pub event_id: Option<String>,
    /// Who sent it (for an invitation: who invited).
    pub sender: String,
    /// The event type, e.g. `m.room.message`; `invite` for an invitation.
    pub kind: String,
    /// When the sender's server received it (an invitation: when it was heard).
    pub time: SystemTime,
    /// The event's content.
    pub content: JsonValue,
    /// The event's `unsigned`: how it was redacted, its latest edit.
    pub unsigned: JsonValue,
    /// A redaction's top-level `redacts` (rooms before version 11).
    pub redacts: Option<String>,
    /// Whether it came encrypted (`kind` and `content` are then what it decrypted to).
    pub encrypted: bool,
    /// For a decrypted event: whether the sender's device is verified by its owner.
    pub verified: Option<bool>,
    /// For an encrypted event that could not be decrypted: why, in words (its `kind` stays
    /// `m.room.encrypted`).
    pub decrypt_error: Option<String>,
    /// For a decrypted event whose sender is not verified: why its authenticity is not
    /// guaranteed, in words (a key from the key backup, a device its owner did not sign).
    pub authenticity: Option<String>,
    /// For an encrypted event that could not be decrypted: whether its key may still come
    /// (a listener holds it a while, see [`crate::e2ee::LateKeys`]).
    pub key_may_come: bool,
}

impl Event {
    /// An event of `room_id` as the server sent it (in a timeline or a page of history);
    /// `None` when it lacks an ID, a sender or a type.
    pub fn of_room(room_id: &str, event: &JsonValue) -> Option<Self> {
        Some(Self {
            room_id: room_id.to_owned(),
            event_id: Some(event["event_id"].as_str()?.to_owned()),
            sender: event["sender"].as_str()?.to_owned(),
            kind: event["type"].as_str()?.to_owned(),
            time: unix_ms::to_time(event["origin_server_ts"].as_u64().unwrap_or(0)),
            content: event["content"].clone(),
            unsigned: event["unsigned"].clone(),
            redacts: event["redacts"].as_str().map(str::to_owned),
            encrypted: false,
            verified: None,
            decrypt_error: None,
            authenticity: None,
            key_may_come: false,
        })
    }

    /// A message's text (its `body`), if it is a message.
    pub fn body(&self) -> Option<&str> {
        match self.kind.as_str() {
            "m.room.message" => self.content["body"].as_str(),
            _ => None,
        }
    }

    /// What it is: text, relations, media, redaction.
    pub fn shape(&self) -> Shape {
        Shape::of(
            &self.kind,
            &self.content,
            &self.unsigned,
            self.redacts.as_deref(),
        )
    }

    /// The event as the server sent it (the fields decryption reads).
    pub fn as_json(&self) -> JsonValue {
        json!({
            "type": self.kind,
            "room_id": self.room_id,
            "event_id": self.event_id,
            "sender": self.sender,
            "origin_server_ts": unix_ms::from_time(self.time),
            "content": self.content,
        })
    }
}
