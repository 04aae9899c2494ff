//! The event an answer, an edit, a reaction or a redaction aims at: what of it an answer needs
//! (its room, ID, sender, thread, what it edits, whom it mentions), from an event heard, or
//! looked up by room and ID (one request, decrypted when encrypted), so that an unknown event is
//! an error, not a reaction to nothing.

use serde_json::Value as JsonValue;

use crate::e2ee::Decrypted;
use crate::listen::{ENCRYPTED, Event};
use crate::rooms::Shape;

use super::{Active, Failure, Hub};

/// The event aimed at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// Its room: an ID, or an alias for one given by the caller.
    pub room: String,
    /// Its ID.
    pub event_id: String,
    /// Who sent it, when known.
    pub sender: Option<String>,
    /// The root of its thread, if it is in one.
    pub thread: Option<String>,
    /// Its msgtype, when known.
    pub msgtype: Option<String>,
    /// For an edit: the event it edits (edits of an edit replace that one).
    pub edits: Option<String>,
    /// The users its text mentions (of an edit, its new text's), which an edit keeps.
    pub mentions: Vec<String>,
}

impl Target {
    /// An event heard; `None` for one with no ID (an invitation, a to-device request).
    pub fn of(event: &Event) -> Option<Self> {
        let event_id = event.event_id.clone()?;
        Some(Self::from_content(
            event.room_id.clone(),
            event_id,
            event.sender.clone(),
            &event.shape(),
            &event.content,
        ))
    }

    fn from_content(
        room: String,
        event_id: String,
        sender: String,
        shape: &Shape,
        content: &JsonValue,
    ) -> Self {
        Self {
            room,
            event_id,
            sender: Some(sender),
            thread: shape.thread.clone(),
            msgtype: shape.msgtype.clone(),
            edits: shape.edits.clone(),
            mentions: mentions_of(content),
        }
    }

    /// The event an answer (a reply, a reaction, a thread) goes to: for an edit, the message
    /// it edits, as Element answers it; else the event itself.
    pub fn answered(&self) -> &str {
        self.edits.as_deref().unwrap_or(&self.event_id)
    }

    /// The thread a message answering it goes in: its own, or (to start one) itself.
    pub fn thread_root(&self) -> &str {
        self.thread.as_deref().unwrap_or(self.answered())
    }
}

/// The users a message's text mentions: an edit's new text's (`m.new_content`), else its own.
pub fn mentions_of(content: &JsonValue) -> Vec<String> {
    let mentions = match content.get("m.new_content") {
        Some(new) => &new["m.mentions"],
        None => &content["m.mentions"],
    };
    mentions["user_ids"]
        .as_array()
        .map(|ids| {
            ids.iter()
                .filter_map(|id| id.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

impl Hub {
    /// The event `event_id` of `room` (an ID or alias), asked of the server: an encrypted one
    /// read with the device's keys when it has them (an edit keeps the original's msgtype), else
    /// as it came. Its `room` is the room's ID.
    pub fn look_up(
        &self,
        active: &mut Active,
        room: &str,
        event_id: &str,
    ) -> Result<Target, Failure> {
        let (room_id, event): (String, JsonValue) = active.run(self, |client, token| {
            let room_id = client.resolve_room(token, room)?;
            let event = client.event(token, &room_id, event_id)?;
            Ok((room_id, event))
        })?;
        let opened = (event["type"] == ENCRYPTED)
            .then(|| self.crypto(active).ok())
            .flatten()
            .and_then(|crypto| {
                let client = active.client(self).ok()?;
                let token = &active.session.access_token;
                match crypto
                    .decrypt_all(&client, token, &room_id, std::slice::from_ref(&event))
                    .pop()
                {
                    Some(Decrypted::Event { kind, content, .. }) => Some((kind, content)),
                    _ => None,
                }
            });
        let (kind, content) = opened.unwrap_or_else(|| {
            let kind = event["type"].as_str().unwrap_or_default().to_owned();
            (kind, event["content"].clone())
        });
        let shape = Shape::of(&kind, &content, &event["unsigned"], None);
        let sender = event["sender"].as_str().unwrap_or_default().to_owned();
        Ok(Target::from_content(
            room_id,
            event_id.to_owned(),
            sender,
            &shape,
            &content,
        ))
    }
}
