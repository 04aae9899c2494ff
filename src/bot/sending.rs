//! Sending an event to a room: the room ID and its encryption from the session's room watch, the
//! event encrypted for the room's members where the room is encrypted (relations stay in the
//! clear), the same transaction-ID rule for every kind of event.

use std::sync::Arc;

use serde_json::Value as JsonValue;

use crate::e2ee::Crypto;
use crate::rooms::{answer_transaction_id, new_transaction_id};

use super::{Active, Failure, Hub};

/// An event sent: its ID, its room's ID, the transaction ID used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The event's ID.
    pub event_id: String,
    /// Its room's ID.
    pub room_id: String,
    /// The transaction ID it was sent with (the same answer sent again has the same).
    pub txn_id: String,
}

/// Where an event goes: the room's ID, and the device's crypto when the room is encrypted.
pub struct Destination {
    /// The room's ID.
    pub room_id: String,
    /// The device's crypto, for an encrypted room.
    pub crypto: Option<Arc<Crypto>>,
}

/// The transaction ID of a send: `explicit`; else, for an answer (a content that relates to an
/// event), one derived from it, so that the same answer sent again is sent once; else a fresh
/// one.
pub fn txn_for(explicit: Option<String>, event_type: &str, content: &JsonValue) -> String {
    explicit
        .or_else(|| answer_transaction_id(event_type, content))
        .unwrap_or_else(new_transaction_id)
}

impl Hub {
    /// Sends an event of `event_type` with `content` to `room` (an ID or alias), encrypted
    /// where the room is.
    pub fn send_to_room(
        &self,
        active: &mut Active,
        room: &str,
        event_type: &str,
        content: &JsonValue,
        txn_id: String,
    ) -> Result<Sent, Failure> {
        let destination = self.destination(active, room)?;
        self.send_to(active, destination, event_type, content, txn_id)
    }

    /// The room ID of `room` and whether it is encrypted (from the session's room watch), with
    /// the device's crypto opened if so.
    pub fn destination(&self, active: &mut Active, room: &str) -> Result<Destination, Failure> {
        let user_id = active.session.user_id.to_string();
        let device = self.device_hook(active);
        let (room_id, encrypted) = active.run(self, |client, token| {
            self.room_to_send_to(client, token, &user_id, room, device.clone())
        })?;
        let crypto = match encrypted {
            true => Some(self.crypto(active)?),
            false => None,
        };
        Ok(Destination { room_id, crypto })
    }

    /// Sends the event to `destination`.
    pub fn send_to(
        &self,
        active: &mut Active,
        destination: Destination,
        event_type: &str,
        content: &JsonValue,
        txn_id: String,
    ) -> Result<Sent, Failure> {
        let Destination { room_id, crypto } = destination;
        let event_id = active
            .run(self, |client, token| match &crypto {
                Some(crypto) => crypto.send(client, token, &room_id, event_type, content, &txn_id),
                None => client.send_event(token, &room_id, event_type, content, &txn_id),
            })
            .inspect_err(|_| {
                let user_id = active.session.user_id.as_str();
                self.forget_room(&active.session.homeserver, user_id, &room_id);
            })?;
        Ok(Sent {
            event_id,
            room_id,
            txn_id,
        })
    }
}
