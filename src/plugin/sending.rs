//! Sending an event to a room, as `matrix send`, `matrix react` and `matrix edit` do: the room
//! ID and its encryption from the session's room watch, the event encrypted for the room's
//! members where the room is encrypted (relations stay in the clear), the same transaction-ID
//! rule for all. And the record they return.

use std::sync::Arc;

use nu_protocol::{LabeledError, Record, Span, Spanned, Value};
use serde_json::Value as JsonValue;

use crate::e2ee::Crypto;
use crate::plugin::MatrixPlugin;
use crate::plugin::active::Active;
use crate::plugin::room_arg::room_failure;
use crate::rooms::{answer_transaction_id, new_transaction_id};

/// An event sent: its ID, its room's ID, the transaction ID used.
pub(crate) struct Sent {
    pub event_id: String,
    pub room_id: String,
    pub txn_id: String,
}

impl Sent {
    /// The record the commands return.
    pub(crate) fn into_value(self, span: Span) -> Value {
        let mut record = Record::new();
        record.push("event_id", Value::string(self.event_id, span));
        record.push("room_id", Value::string(self.room_id, span));
        record.push("txn_id", Value::string(self.txn_id, span));
        Value::record(record, span)
    }
}

/// Where an event goes: the room's ID, and the device's crypto when the room is encrypted.
pub(crate) struct Destination {
    pub room_id: String,
    pub crypto: Option<Arc<Crypto>>,
}

/// The transaction ID of a send: `--txn-id`'s; else, for an answer (a content that relates to
/// an event), one derived from it, so that the same answer sent again is sent once; else a fresh
/// one.
pub(crate) fn txn_for(explicit: Option<String>, event_type: &str, content: &JsonValue) -> String {
    explicit
        .or_else(|| answer_transaction_id(event_type, content))
        .unwrap_or_else(new_transaction_id)
}

impl MatrixPlugin {
    /// Sends an event of `event_type` with `content` to `room` (an ID or alias), encrypted
    /// where the room is; errors point at `room`.
    pub(crate) fn send_to_room(
        &self,
        active: &mut Active,
        room: &Spanned<String>,
        event_type: &str,
        content: &JsonValue,
        txn_id: String,
    ) -> Result<Sent, LabeledError> {
        let destination = self.destination(active, room)?;
        self.send_to(active, room, destination, event_type, content, txn_id)
    }

    /// The room ID of `room` and whether it is encrypted (from the session's room watch), with
    /// the device's crypto opened if so.
    pub(crate) fn destination(
        &self,
        active: &mut Active,
        room: &Spanned<String>,
    ) -> Result<Destination, LabeledError> {
        let blame = active.blame();
        let user_id = active.session.user_id.to_string();
        let device = self.device_hook(active);
        let (room_id, encrypted) = active
            .run(self, |client, token| {
                self.room_to_send_to(client, token, &user_id, &room.item, device.clone())
            })
            .map_err(|err| room_failure(err, room, &blame))?;
        let crypto = match encrypted {
            true => Some(
                self.crypto(active)
                    .map_err(|err| room_failure(err, room, &blame))?,
            ),
            false => None,
        };
        Ok(Destination { room_id, crypto })
    }

    /// Sends the event to `destination` (of `room`, which errors point at).
    pub(crate) fn send_to(
        &self,
        active: &mut Active,
        room: &Spanned<String>,
        destination: Destination,
        event_type: &str,
        content: &JsonValue,
        txn_id: String,
    ) -> Result<Sent, LabeledError> {
        let blame = active.blame();
        let Destination { room_id, crypto } = destination;
        let event_id = active
            .run(self, |client, token| match &crypto {
                Some(crypto) => crypto.send(client, token, &room_id, event_type, content, &txn_id),
                None => client.send_event(token, &room_id, event_type, content, &txn_id),
            })
            .map_err(|err| {
                let user_id = active.session.user_id.as_str();
                self.forget_room(&active.session.homeserver, user_id, &room_id);
                room_failure(err, room, &blame)
            })?;
        Ok(Sent {
            event_id,
            room_id,
            txn_id,
        })
    }
}
