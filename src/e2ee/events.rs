//! A room event decrypted: what it really is, or why it cannot be read.

use matrix_sdk_common::deserialized_responses::{
    DeviceLinkProblem, EncryptionInfo, UnableToDecryptReason, VerificationLevel, VerificationState,
    WithheldCode,
};
use matrix_sdk_crypto::{OlmMachine, RoomEventDecryptionResult};
use ruma::RoomId;
use ruma::serde::Raw;
use serde_json::Value as JsonValue;

use super::decryption_settings;
use crate::client::Client;
use crate::listen::ENCRYPTED;
use crate::listen::{Event, ListenFilter};
use crate::secret::AccessToken;

/// What decrypting needs: the device's crypto, and the homeserver to look a missing key up on
/// (the key backup, key requests) with the session's token.
pub type Reach<'a> = (&'a super::Crypto, &'a Client, &'a AccessToken);

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
        /// When not verified: why its authenticity is not guaranteed, in words.
        authenticity: Option<String>,
    },
    /// Why it cannot be read, in words.
    Failed {
        /// The reason, in words a bot author can act on.
        why: String,
        /// Whether its key may still come (missing, or known only from a later message on):
        /// from a later sync, the key backup, or an answer to a key request. A withheld key, a
        /// malformed event or an unusable store will not heal by waiting.
        key_may_come: bool,
    },
}

impl Decrypted {
    pub(super) fn failed(why: &str) -> Self {
        Self::Failed {
            why: why.to_owned(),
            key_may_come: false,
        }
    }

    /// Whether it failed for a key that may still come.
    pub fn key_may_come(&self) -> bool {
        matches!(
            self,
            Self::Failed {
                key_may_come: true,
                ..
            }
        )
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
            let (verified, authenticity) = judged(machine, &decrypted.encryption_info).await;
            Decrypted::Event {
                kind: inner["type"].as_str().unwrap_or_default().to_owned(),
                content: inner["content"].clone(),
                verified,
                authenticity,
            }
        }
        Ok(RoomEventDecryptionResult::UnableToDecrypt(info)) => Decrypted::Failed {
            why: reason_in_words(&info.reason),
            // The crate's own judgement of whether waiting may help.
            key_may_come: info.reason.is_missing_room_key(),
        },
        Err(err) => Decrypted::failed(&format!("the crypto store could not be read ({err})")),
    }
}

/// Whether a decrypted event's sender device is verified, and if not why, as things stand now:
/// the crate judges a room key's sender once, when the key comes, so a person verified (or
/// whose identity changed) since then is judged here again from their device and identity as
/// the device now knows them. Keys that cannot be tied to a device keep the crate's judgement.
async fn judged(machine: &OlmMachine, info: &EncryptionInfo) -> (bool, Option<String>) {
    let state = &info.verification_state;
    let tied = matches!(
        state,
        VerificationState::Verified
            | VerificationState::Unverified(
                VerificationLevel::UnverifiedIdentity | VerificationLevel::VerificationViolation
            )
    );
    let device = match (&info.sender_device, tied) {
        (Some(device_id), true) => machine
            .get_device(&info.sender, device_id, None)
            .await
            .ok()
            .flatten(),
        _ => None,
    };
    let Some(device) = device else {
        return (
            matches!(state, VerificationState::Verified),
            authenticity_in_words(state),
        );
    };
    // A device the emoji verified stays trusted by itself: not once its owner's identity
    // changed since.
    let changed = machine
        .get_identity(&info.sender, None)
        .await
        .ok()
        .flatten()
        .is_some_and(|identity| identity.has_verification_violation());
    if device.is_verified() && !changed {
        return (true, None);
    }
    let level = match (changed, device.is_cross_signed_by_owner()) {
        (true, _) => VerificationLevel::VerificationViolation,
        (false, true) => VerificationLevel::UnverifiedIdentity,
        (false, false) => VerificationLevel::UnsignedDevice,
    };
    (
        false,
        authenticity_in_words(&VerificationState::Unverified(level)),
    )
}

/// Why a decrypted event's authenticity is not guaranteed, for a person: what Element's grey and
/// red shields say. `None` when its sender's device is verified.
fn authenticity_in_words(state: &VerificationState) -> Option<String> {
    let VerificationState::Unverified(level) = state else {
        return None;
    };
    Some(
        match level {
            VerificationLevel::None(DeviceLinkProblem::InsecureSource) => {
                "not guaranteed: its key did not come from the sender's device (the key backup, \
                 another device of this account, or the history an inviter shared)"
            }
            VerificationLevel::None(DeviceLinkProblem::MissingDevice) => {
                "not guaranteed: sent by a device that is unknown or was deleted"
            }
            VerificationLevel::UnsignedDevice => "sent by a device its owner has not verified",
            VerificationLevel::UnverifiedIdentity => "the sender's identity is not verified",
            VerificationLevel::VerificationViolation => {
                "the sender's identity changed since it was verified"
            }
            VerificationLevel::MismatchedSender => {
                "not guaranteed: the sending device does not belong to the sender"
            }
        }
        .to_owned(),
    )
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
                    "this device is not cross-signed by its owner, and the sender's client shares \
                     keys only with devices that are (\"exclude insecure devices\"). Run `matrix \
                     e2ee bootstrap` (or `matrix e2ee recover` on a new device): what is sent \
                     after that can be read"
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
        } => "missing room key: this device has not received it (sent before the device existed \
             or joined, not shared with it, or late); it is looked for in the key backup when \
             this device has access to it, and asked of this account's other verified devices"
            .to_owned(),
        UnableToDecryptReason::UnknownMegolmMessageIndex => {
            "missing room key: this device has the key only from a later message on; the earlier \
             part is looked for in the key backup when this device has access to it, and asked \
             of this account's other verified devices"
                .to_owned()
        }
        UnableToDecryptReason::MalformedEncryptedEvent => {
            "the encrypted event is malformed".to_owned()
        }
        UnableToDecryptReason::MismatchedIdentityKeys => {
            "the sender's device keys do not match the room key (unknown or changed device)"
                .to_owned()
        }
        UnableToDecryptReason::MegolmDecryptionFailure => {
            "the message does not decrypt with its room key (damaged, or not made with it)"
                .to_owned()
        }
        UnableToDecryptReason::PayloadDeserializationFailure => {
            "it decrypted to something that is not an event".to_owned()
        }
        UnableToDecryptReason::SenderIdentityNotTrusted(level) => {
            format!("the sender's device is not trusted ({level})")
        }
        other => format!("the event could not be decrypted ({other:?})"),
    }
}

impl Event {
    /// Whether it is an `m.room.encrypted` event not yet decrypted (nor marked).
    fn is_sealed(&self) -> bool {
        !self.encrypted && self.kind == ENCRYPTED
    }

    /// Whether it was redacted: its ciphertext is gone, there is nothing to decrypt.
    fn is_redacted(&self) -> bool {
        self.unsigned["redacted_because"].is_object()
    }

    /// Takes what it decrypted to, or why it could not be.
    fn open(&mut self, decrypted: Decrypted) {
        self.encrypted = true;
        match decrypted {
            Decrypted::Event {
                kind,
                content,
                verified,
                authenticity,
            } => {
                self.kind = kind;
                self.content = content;
                self.verified = Some(verified);
                self.authenticity = authenticity;
                self.decrypt_error = None;
                self.key_may_come = false;
            }
            Decrypted::Failed { why, key_may_come } => {
                self.decrypt_error = Some(why);
                self.key_may_come = key_may_come;
            }
        }
    }
}

/// Decrypts the sealed rows among `rows` that `in_room` picks, all of room `room_id`, with the
/// store's lock taken once.
fn decrypt_in_room(
    (crypto, client, token): Reach,
    room_id: &str,
    rows: &mut [Event],
    in_room: impl Fn(&Event) -> bool,
) {
    for row in rows
        .iter_mut()
        .filter(|row| row.is_sealed() && row.is_redacted())
    {
        row.encrypted = true;
    }
    let at: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].is_sealed() && in_room(&rows[i]))
        .collect();
    if at.is_empty() {
        return;
    }
    let raws: Vec<JsonValue> = at.iter().map(|&i| rows[i].as_json()).collect();
    let decrypted = crypto.decrypt_all(client, token, room_id, &raws);
    for (i, decrypted) in at.into_iter().zip(decrypted) {
        rows[i].open(decrypted);
    }
}

/// Decrypts the `m.room.encrypted` events among `events` (one batch per room), and drops those
/// whose real type `filter` does not listen for. Events that cannot be decrypted stay, with
/// their reason.
pub fn decrypt_events(reach: Reach, events: &mut Vec<Event>, filter: &ListenFilter) {
    let mut rooms: Vec<String> = Vec::new();
    for event in events.iter().filter(|event| event.is_sealed()) {
        if !rooms.contains(&event.room_id) {
            rooms.push(event.room_id.clone());
        }
    }
    for room_id in rooms {
        decrypt_in_room(reach, &room_id, events, |event| event.room_id == room_id);
    }
    // Kept: what came in the clear, what was not decrypted (an error, a redacted one), and
    // what decrypted to a type listened for.
    events.retain(|event| filter.keeps_opened(event.encrypted, &event.kind));
}

/// Decrypts the encrypted messages of a page of `room_id`, and the latest edits the server
/// bundled with them (`unsigned.m.relations.m.replace`, encrypted as well), so that a message
/// shows its edited text.
pub fn decrypt_messages(reach: Reach, room_id: &str, messages: &mut [Event]) {
    decrypt_in_room(reach, room_id, messages, |_| true);
    let edited: Vec<usize> = (0..messages.len())
        .filter(|&i| messages[i].unsigned["m.relations"]["m.replace"]["type"] == ENCRYPTED)
        .collect();
    if edited.is_empty() {
        return;
    }
    let raws: Vec<JsonValue> = edited
        .iter()
        .map(|&i| {
            let mut edit = messages[i].unsigned["m.relations"]["m.replace"].clone();
            edit["room_id"] = JsonValue::from(room_id);
            edit
        })
        .collect();
    let (crypto, client, token) = reach;
    let decrypted = crypto.decrypt_all(client, token, room_id, &raws);
    for (i, decrypted) in edited.into_iter().zip(decrypted) {
        if let Decrypted::Event { kind, content, .. } = decrypted {
            let edit = &mut messages[i].unsigned["m.relations"]["m.replace"];
            edit["type"] = JsonValue::from(kind);
            edit["content"] = content;
        }
    }
}

/// Marks the encrypted rows among `rows` as not decryptable, for `why`.
pub fn mark_sealed(rows: &mut [Event], why: &str) {
    for row in rows.iter_mut().filter(|row| row.is_sealed()) {
        row.open(Decrypted::failed(why));
    }
}
