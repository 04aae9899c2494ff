//! A room event decrypted: what it really is, or why it cannot be read.

use matrix_sdk_common::deserialized_responses::{
    UnableToDecryptReason, VerificationState, WithheldCode,
};
use matrix_sdk_crypto::{OlmMachine, RoomEventDecryptionResult};
use ruma::RoomId;
use ruma::serde::Raw;
use serde_json::Value as JsonValue;

use super::decryption_settings;
use crate::listen::ENCRYPTED;
use crate::listen::{Event, ListenFilter};
use crate::rooms::Message;

/// An `m.room.encrypted` event, decrypted or not.
#[derive(Debug, Clone, PartialEq)]
pub enum Decrypted {
    /// The event inside: its real type and content.
    Event {
        /// The real event type, e.g. `m.room.message`.
        kind: String,
        /// Its content.
        content: JsonValue,
        /// Whether the sender's device is cross-signed by its owner (and that owner verified).
        verified: bool,
    },
    /// Why it cannot be read, in words.
    Failed(String),
}

impl Decrypted {
    pub(super) fn failed(why: &str) -> Self {
        Self::Failed(why.to_owned())
    }
}

/// Decrypts one event of `room_id` with `machine`.
pub(super) async fn decrypt(
    machine: &OlmMachine,
    room_id: &RoomId,
    event: &JsonValue,
) -> Decrypted {
    let Ok(raw) = Raw::from_json_string(event.to_string()) else {
        return Decrypted::failed("the event is not an encrypted event");
    };
    match machine
        .try_decrypt_room_event(&raw, room_id, &decryption_settings())
        .await
    {
        Ok(RoomEventDecryptionResult::Decrypted(decrypted)) => {
            let Ok(inner) = decrypted.event.deserialize_as_unchecked::<JsonValue>() else {
                return Decrypted::failed("the decrypted event is not JSON");
            };
            Decrypted::Event {
                kind: inner["type"].as_str().unwrap_or_default().to_owned(),
                content: inner["content"].clone(),
                verified: matches!(
                    decrypted.encryption_info.verification_state,
                    VerificationState::Verified
                ),
            }
        }
        Ok(RoomEventDecryptionResult::UnableToDecrypt(info)) => {
            Decrypted::Failed(reason_in_words(&info.reason))
        }
        Err(err) => Decrypted::Failed(format!("the crypto store could not be read ({err})")),
    }
}

/// Why an event cannot be decrypted, for a person.
fn reason_in_words(reason: &UnableToDecryptReason) -> String {
    match reason {
        UnableToDecryptReason::MissingMegolmSession {
            withheld_code: Some(code),
        } => {
            let why = match code {
                WithheldCode::Blacklisted => "this device is blocked by the sender",
                WithheldCode::Unverified => {
                    "this device is not verified, and the sender shares only with verified devices"
                }
                WithheldCode::Unauthorised => "this device may not have it",
                WithheldCode::Unavailable => "the sender's device no longer has it",
                WithheldCode::NoOlm => {
                    "the sender could not make an encrypted channel to this device"
                }
                _ => "the sender withheld it",
            };
            format!("the sender withheld the room key: {why}")
        }
        UnableToDecryptReason::MissingMegolmSession {
            withheld_code: None,
        } => "missing room key: it never reached this device (sent before the device existed, \
             or not shared with it)"
            .to_owned(),
        UnableToDecryptReason::UnknownMegolmMessageIndex => {
            "missing room key: this device has the key only from a later message on".to_owned()
        }
        UnableToDecryptReason::MalformedEncryptedEvent => {
            "the encrypted event is malformed".to_owned()
        }
        UnableToDecryptReason::MismatchedIdentityKeys => {
            "the sender's device keys do not match the room key (unknown or changed device)"
                .to_owned()
        }
        UnableToDecryptReason::SenderIdentityNotTrusted(level) => {
            format!("the sender's device is not trusted ({level})")
        }
        other => format!("the event could not be decrypted ({other:?})"),
    }
}

/// Decrypts the `m.room.encrypted` events among `events` (one batch per room, the lock taken
/// once each), and drops those whose real type `filter` does not listen for. Events that cannot
/// be decrypted stay, with their reason.
pub fn decrypt_events(crypto: &super::Crypto, events: &mut Vec<Event>, filter: &ListenFilter) {
    let mut rooms: Vec<&str> = Vec::new();
    for event in events
        .iter()
        .filter(|event| is_sealed(&event.kind, event.encrypted))
    {
        if !rooms.contains(&event.room_id.as_str()) {
            rooms.push(&event.room_id);
        }
    }
    let rooms: Vec<String> = rooms.into_iter().map(str::to_owned).collect();
    for room_id in rooms {
        let at: Vec<usize> = (0..events.len())
            .filter(|&i| {
                events[i].room_id == room_id && is_sealed(&events[i].kind, events[i].encrypted)
            })
            .collect();
        let raws: Vec<JsonValue> = at.iter().map(|&i| events[i].as_json()).collect();
        for (i, decrypted) in at.into_iter().zip(crypto.decrypt_all(&room_id, &raws)) {
            open_event(&mut events[i], decrypted);
        }
    }
    events.retain(|event| {
        !event.encrypted || event.decrypt_error.is_some() || filter.types_match(&event.kind)
    });
}

/// Marks the `m.room.encrypted` events among `events` as not decryptable, for `why`.
pub fn mark_sealed(events: &mut [Event], why: &str) {
    for event in events
        .iter_mut()
        .filter(|event| is_sealed(&event.kind, event.encrypted))
    {
        open_event(event, Decrypted::failed(why));
    }
}

/// Decrypts the encrypted messages of a page of `room_id`.
pub fn decrypt_messages(crypto: &super::Crypto, room_id: &str, messages: &mut [Message]) {
    let at: Vec<usize> = (0..messages.len())
        .filter(|&i| is_sealed(&messages[i].kind, messages[i].encrypted))
        .collect();
    if at.is_empty() {
        return;
    }
    let raws: Vec<JsonValue> = at
        .iter()
        .map(|&i| {
            let message = &messages[i];
            serde_json::json!({
                "type": message.kind,
                "room_id": room_id,
                "event_id": message.event_id,
                "sender": message.sender,
                "origin_server_ts": crate::unix_ms::from_time(message.time),
                "content": message.content,
            })
        })
        .collect();
    for (i, decrypted) in at.into_iter().zip(crypto.decrypt_all(room_id, &raws)) {
        open_message(&mut messages[i], decrypted);
    }
}

/// Marks the encrypted messages among `messages` as not decryptable, for `why`.
pub fn mark_sealed_messages(messages: &mut [Message], why: &str) {
    for message in messages
        .iter_mut()
        .filter(|message| is_sealed(&message.kind, message.encrypted))
    {
        open_message(message, Decrypted::failed(why));
    }
}

fn is_sealed(kind: &str, encrypted: bool) -> bool {
    !encrypted && kind == ENCRYPTED
}

fn open_event(event: &mut Event, decrypted: Decrypted) {
    event.encrypted = true;
    match decrypted {
        Decrypted::Event {
            kind,
            content,
            verified,
        } => {
            event.kind = kind;
            event.content = content;
            event.verified = Some(verified);
        }
        Decrypted::Failed(why) => event.decrypt_error = Some(why),
    }
}

fn open_message(message: &mut Message, decrypted: Decrypted) {
    message.encrypted = true;
    match decrypted {
        Decrypted::Event {
            kind,
            content,
            verified,
        } => {
            message.msgtype = content["msgtype"].as_str().map(str::to_owned);
            message.body = content["body"].as_str().map(str::to_owned);
            message.kind = kind;
            message.content = content;
            message.verified = Some(verified);
        }
        Decrypted::Failed(why) => message.decrypt_error = Some(why),
    }
}
