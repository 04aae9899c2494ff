//! The I/O of a verification: the syncs that bring the other side's events (to-device, and the
//! room's when the verification is in a room), those events handed to the machine, and the
//! machine's answers sent: to-device as they are, in a room encrypted where the room is, as
//! Element sends them.

use std::time::Duration;

use matrix_sdk_crypto::OlmMachine;
use matrix_sdk_crypto::types::requests::{
    AnyIncomingResponse, AnyOutgoingRequest, OutgoingVerificationRequest, RoomMessageRequest,
};
use ruma::api::client::message::send_message_event;
use ruma::events::room::message::{MessageType, RoomMessageEventContent};
use ruma::events::{AnyMessageLikeEvent, AnyMessageLikeEventContent, MessageLikeEventContent};
use ruma::{OwnedEventId, RoomId, UserId};
use serde_json::{Value as JsonValue, json};

use super::{Crypto, SINCE_KEY, crypto_failed, events, outgoing, take, track_senders};
use crate::client::{Client, Method};
use crate::error::Error;
use crate::listen::{CryptoChanges, ENCRYPTED};
use crate::rooms::{next_batch, quiet_sync_filter};
use crate::secret::AccessToken;

/// The event types a verification's room events come as (encrypted, or not).
const TIMELINE_TYPES: [&str; 3] = ["m.room.message", ENCRYPTED, "m.key.verification.*"];

/// Where the syncs of a verification got, and which rooms they read.
#[derive(Debug)]
pub(super) struct FlowSync {
    since: Option<String>,
    /// The room of an in-room verification; `None`: every joined room (waiting for a request).
    room: Option<String>,
}

impl FlowSync {
    pub(super) fn new(room: Option<String>) -> Self {
        Self { since: None, room }
    }

    /// One `/sync` (held up to `wait`): its to-device events and device lists given to the
    /// machine, then its room events that are part of a verification (decrypted first).
    pub(super) fn step(
        &mut self,
        crypto: &Crypto,
        client: &Client,
        token: &AccessToken,
        wait: Duration,
    ) -> Result<(), Error> {
        let mut timeline = json!({"types": TIMELINE_TYPES, "limit": 20});
        if self.since.is_none() {
            // The first: only what is pending, not the rooms' past.
            timeline["limit"] = json!(0);
        }
        let mut room = json!({"timeline": timeline, "state": {"types": []}});
        if let Some(id) = &self.room {
            room["rooms"] = json!([id]);
        }
        let filter = quiet_sync_filter(room).to_string();
        let millis = wait.as_millis().to_string();
        let since = match &self.since {
            Some(since) => Some(since.clone()),
            None => crypto.locked(async |machine| stored_since(machine).await)?,
        };
        let mut query = vec![("filter", filter.as_str()), ("timeout", millis.as_str())];
        if let Some(since) = &since {
            query.push(("since", since.as_str()));
        }
        let answer = client.get_held(token, &["sync"], &query, wait)?;
        let next = next_batch(&answer)?;
        let changes = CryptoChanges::from_sync(&answer.object, &next);
        let joined = answer
            .object
            .get("rooms")
            .map(|rooms| rooms["join"].clone());
        self.since = Some(next);
        crypto.locked(async |machine| {
            take(machine, client, token, &changes).await?;

            let Some(JsonValue::Object(rooms)) = &joined else {
                return Ok(());
            };
            for (room_id, room) in rooms {
                let Ok(room_id) = RoomId::parse(room_id) else {
                    continue;
                };
                let events = room["timeline"]["events"].as_array();
                let events = events.map_or(&[][..], Vec::as_slice);
                track_senders(machine, client, token, events).await;
                for event in events {
                    hand_over(machine, &room_id, event).await?;
                }
            }
            Ok(())
        })
    }
}

async fn stored_since(machine: &OlmMachine) -> Result<Option<String>, Error> {
    Ok(machine
        .store()
        .get_custom_value(SINCE_KEY)
        .await
        .map_err(crypto_failed)?
        .and_then(|bytes| String::from_utf8(bytes).ok()))
}

/// A room event given to the machine when it is part of a verification: decrypted first when
/// it came encrypted.
pub(super) async fn hand_over(
    machine: &OlmMachine,
    room_id: &RoomId,
    event: &JsonValue,
) -> Result<(), Error> {
    let mut event = event.clone();
    if event["type"] == ENCRYPTED {
        let events::Decrypted::Event { kind, content, .. } =
            events::decrypt(machine, room_id, &event).await
        else {
            return Ok(());
        };
        event["type"] = json!(kind);
        event["content"] = content;
    }
    if !is_verification(&event) {
        return Ok(());
    }
    event["room_id"] = json!(room_id);
    let Ok(event) = serde_json::from_value::<AnyMessageLikeEvent>(event) else {
        return Ok(());
    };
    machine
        .receive_verification_event(&event)
        .await
        .map_err(crypto_failed)
}

/// Whether a room event (decrypted) is a step of a verification: a request (an
/// `m.room.message` of msgtype `m.key.verification.request`) or an `m.key.verification.*`.
pub fn is_verification(event: &JsonValue) -> bool {
    let kind = event["type"].as_str().unwrap_or_default();
    kind.starts_with("m.key.verification.")
        || (kind == "m.room.message" && event["content"]["msgtype"] == REQUEST)
}

/// The type (to-device) and msgtype (in a room) of a verification request.
pub const REQUEST: &str = "m.key.verification.request";

/// Sends what a verification step gave: to-device messages at once, room messages encrypted
/// when the room is (the store's lock taken for each, not held across).
pub(super) fn send_all(
    crypto: &Crypto,
    client: &Client,
    token: &AccessToken,
    requests: Vec<OutgoingVerificationRequest>,
) -> Result<(), Error> {
    for request in requests {
        match request {
            OutgoingVerificationRequest::ToDevice(to_device) => crypto.locked(async |machine| {
                outgoing::send_to_device(machine, client, token, &to_device).await
            })?,
            OutgoingVerificationRequest::InRoom(message) => {
                send_in_room(crypto, client, token, &message)?;
            }
        }
    }
    Ok(())
}

/// The room messages the machine queued on its own (answers to the other side's events).
pub(super) async fn queued_room_messages(
    machine: &OlmMachine,
) -> Result<Vec<OutgoingVerificationRequest>, Error> {
    let requests = machine.outgoing_requests().await.map_err(crypto_failed)?;
    Ok(requests
        .into_iter()
        .filter_map(|request| match request.request() {
            AnyOutgoingRequest::RoomMessage(message) => {
                Some(OutgoingVerificationRequest::InRoom(message.clone()))
            }
            _ => None,
        })
        .collect())
}

/// One room message of a verification, encrypted when the room is, then marked as sent.
fn send_in_room(
    crypto: &Crypto,
    client: &Client,
    token: &AccessToken,
    message: &RoomMessageRequest,
) -> Result<OwnedEventId, Error> {
    let event_type = message.content.event_type().to_string();
    let content = serde_json::to_value(&message.content).map_err(crypto_failed)?;
    let room = message.room_id.as_str();
    let txn_id = message.txn_id.as_str();
    let event_id = match client.is_encrypted(token, room)? {
        true => crypto.send(client, token, room, &event_type, &content, txn_id)?,
        false => client.send_event(token, room, &event_type, &content, txn_id)?,
    };
    let event_id = OwnedEventId::try_from(event_id.as_str())
        .map_err(|_| crypto_failed("the homeserver gave an event ID that is not one"))?;
    let answer = send_message_event::v3::Response::new(event_id.clone());
    crypto.locked(async |machine| {
        outgoing::mark(
            machine,
            &message.txn_id,
            AnyIncomingResponse::RoomMessage(&answer),
        )
        .await
    })?;
    Ok(event_id)
}

/// Sends a request (`msgtype` from the crate) into `room`, encrypted where the room is; its
/// event ID, which is the verification's flow ID.
pub(super) fn send_request(
    crypto: &Crypto,
    client: &Client,
    token: &AccessToken,
    room: &RoomId,
    msgtype: MessageType,
) -> Result<OwnedEventId, Error> {
    let message = RoomMessageRequest {
        room_id: room.to_owned(),
        txn_id: ruma::TransactionId::new(),
        content: Box::new(AnyMessageLikeEventContent::RoomMessage(
            RoomMessageEventContent::new(msgtype),
        )),
    };
    send_in_room(crypto, client, token, &message)
}

/// The cancel of a verification `flow` with `code`, for the other side: into the room, or to
/// their device.
pub(super) fn send_cancel(
    crypto: &Crypto,
    client: &Client,
    token: &AccessToken,
    target: (&UserId, Option<&str>, Option<&RoomId>),
    flow: &str,
    (code, reason): (&str, &str),
) -> Result<(), Error> {
    let (user, device, room) = target;
    match room {
        Some(room) => {
            let content = json!({
                "code": code,
                "reason": reason,
                "m.relates_to": {"rel_type": "m.reference", "event_id": flow},
            });
            let txn_id = crate::rooms::new_transaction_id();
            match client.is_encrypted(token, room.as_str())? {
                true => crypto.send(
                    client,
                    token,
                    room.as_str(),
                    "m.key.verification.cancel",
                    &content,
                    &txn_id,
                ),
                false => client.send_event(
                    token,
                    room.as_str(),
                    "m.key.verification.cancel",
                    &content,
                    &txn_id,
                ),
            }
            .map(drop)
        }
        None => {
            let device = device.unwrap_or("*");
            let body = json!({"messages": {user.as_str(): {device: {
                "transaction_id": flow, "code": code, "reason": reason,
            }}}});
            let txn_id = crate::rooms::new_transaction_id();
            let path = ["sendToDevice", "m.key.verification.cancel", txn_id.as_str()];
            client
                .call(Method::Put, &path, Some(token), Some(body), &[])
                .map(drop)
        }
    }
}

/// The encrypted room this user shares with `user` alone: a room `m.direct` names for them
/// first, then any joined room whose members are the two of them. `None`: there is none.
pub(super) fn direct_room(
    client: &Client,
    token: &AccessToken,
    me: &UserId,
    user: &UserId,
) -> Result<Option<String>, Error> {
    let direct = client
        .request_at(
            token,
            Method::Get,
            &["user", me.as_str(), "account_data", "m.direct"],
            &[],
            None,
        )
        .ok()
        .and_then(|answer| answer.json().ok());
    let named: Vec<String> = direct
        .as_ref()
        .and_then(|direct| direct[user.as_str()].as_array())
        .map(|rooms| {
            rooms
                .iter()
                .filter_map(|room| room.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let joined: Vec<String> = client
        .request_at(token, Method::Get, &["joined_rooms"], &[], None)?
        .json()?["joined_rooms"]
        .as_array()
        .map(|rooms| {
            rooms
                .iter()
                .filter_map(|room| room.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let candidates = named
        .iter()
        .filter(|room| joined.contains(room))
        .chain(joined.iter().filter(|room| !named.contains(room)))
        .take(MOST_ROOMS_LOOKED_AT);
    for room in candidates {
        let members = super::sending::room_members(client, token, room)?;
        let mut users: Vec<&str> = members.iter().map(|user| user.as_str()).collect();
        users.sort_unstable();
        users.dedup();
        let two = users.len() == 2 && users.contains(&me.as_str());
        if two && users.contains(&user.as_str()) && client.is_encrypted(token, room)? {
            return Ok(Some(room.clone()));
        }
    }
    Ok(None)
}

/// Whether anything in `room` refers to the request `flow` (an answer, a cancel): one
/// `GET /rooms/{roomId}/relations/{eventId}` (the references of encrypted events are in clear).
pub(super) fn has_answers(
    client: &Client,
    token: &AccessToken,
    room: &RoomId,
    flow: &str,
) -> Result<bool, Error> {
    let path = [
        "_matrix",
        "client",
        "v1",
        "rooms",
        room.as_str(),
        "relations",
        flow,
    ];
    let mut url = client.url_of(false, path);
    url.query_pairs_mut().append_pair("limit", "1");
    let raw = client.call_url(Method::Get, url.as_str(), Some(token), None)?;
    Ok(raw.parse(&[])?.object["chunk"]
        .as_array()
        .is_some_and(|events| !events.is_empty()))
}

/// The most joined rooms looked at for a direct room: a bot in more finds its DMs by `m.direct`.
const MOST_ROOMS_LOOKED_AT: usize = 100;

/// A new encrypted direct room with `user` (invited), kept in `m.direct` as Element keeps it.
pub(super) fn new_direct_room(
    client: &Client,
    token: &AccessToken,
    me: &UserId,
    user: &UserId,
) -> Result<String, Error> {
    let body = json!({
        "preset": "trusted_private_chat",
        "is_direct": true,
        "invite": [user],
        "initial_state": [{
            "type": "m.room.encryption",
            "state_key": "",
            "content": {"algorithm": "m.megolm.v1.aes-sha2"},
        }],
    });
    let room = client
        .request_at(token, Method::Post, &["createRoom"], &[], Some(body))?
        .field("room_id")?;
    let path = ["user", me.as_str(), "account_data", "m.direct"];
    let mut direct = client
        .request_at(token, Method::Get, &path, &[], None)
        .ok()
        .and_then(|answer| answer.json().ok())
        .filter(JsonValue::is_object)
        .unwrap_or_else(|| json!({}));
    let rooms = direct[user.as_str()]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut rooms = rooms;
    rooms.push(json!(room));
    direct[user.as_str()] = json!(rooms);
    client.request_at(token, Method::Put, &path, &[], Some(direct))?;
    Ok(room)
}
