//! Sending to an encrypted room: the room key shared with its members' devices, the content
//! encrypted, and the event sent as `m.room.encrypted`.

use matrix_sdk_crypto::{CollectStrategy, EncryptionSettings};
use ruma::serde::Raw;
use ruma::{OwnedUserId, RoomId, UserId};
use serde_json::Value as JsonValue;

use super::{Crypto, ShareWith, crypto_failed, outgoing};
use crate::client::{Client, Method};
use crate::error::{Error, InputError};
use crate::secret::AccessToken;

impl Crypto {
    /// Encrypts `content` of `event_type` for `room_id`: learns the devices of the room's
    /// members (joined and invited), makes Olm sessions with those it has none with, shares the
    /// room key with them over to-device, and returns the `m.room.encrypted` content to send.
    pub fn encrypt(
        &self,
        client: &Client,
        token: &AccessToken,
        room_id: &str,
        event_type: &str,
        content: &JsonValue,
    ) -> Result<JsonValue, Error> {
        let room = RoomId::parse(room_id).map_err(|_| {
            InputError::new(format!("'{room_id}' is not a room ID"), "use !id:server")
        })?;
        let members = room_members(client, token, room_id)?;
        let content = Raw::from_json_string(content.to_string()).map_err(|err| {
            crypto_failed(format!("the message is not an event's content ({err})"))
        })?;
        let share = self.share;
        self.locked(async |machine| {
            let mut users: Vec<&UserId> = members.iter().map(AsRef::as_ref).collect();
            machine
                .update_tracked_users(users.iter().copied())
                .await
                .map_err(crypto_failed)?;
            outgoing::send_outgoing(machine, client, token).await?;
            if share == ShareWith::Verified {
                // People whose verified identity changed get nothing until verified again (or
                // the change accepted); the crate's strategy would refuse to send instead.
                let changed = super::identities::changed(machine).await?;
                users.retain(|user| !changed.iter().any(|them| them == user.as_str()));
            }
            if let Some((id, claim)) = machine
                .get_missing_sessions(users.iter().copied())
                .await
                .map_err(crypto_failed)?
            {
                outgoing::claim_sessions(machine, client, token, &id, &claim).await?;
            }
            let settings = EncryptionSettings {
                sharing_strategy: match share {
                    ShareWith::All => CollectStrategy::AllDevices,
                    ShareWith::Verified => CollectStrategy::IdentityBasedStrategy,
                },
                ..EncryptionSettings::default()
            };
            let shares = machine
                .share_room_key(&room, users.iter().copied(), settings)
                .await
                .map_err(crypto_failed)?;
            for request in shares {
                outgoing::send_to_device(machine, client, token, &request).await?;
            }
            let encrypted = machine
                .encrypt_room_event_raw(&room, event_type, &content)
                .await
                .map_err(crypto_failed)?;
            serde_json::to_value(&encrypted.content).map_err(crypto_failed)
        })
    }

    /// Sends `content` of `event_type` to the encrypted room `room_id`: encrypted
    /// ([`Crypto::encrypt`]), then `PUT` as `m.room.encrypted` with `transaction_id` (the rule of
    /// [`Client::send_message`]: a repeat with the same ID is not a second message). Returns the
    /// event ID.
    pub fn send(
        &self,
        client: &Client,
        token: &AccessToken,
        room_id: &str,
        event_type: &str,
        content: &JsonValue,
        transaction_id: &str,
    ) -> Result<String, Error> {
        let sealed = self.encrypt(client, token, room_id, event_type, content)?;
        client.send_event(
            token,
            room_id,
            crate::listen::ENCRYPTED,
            &sealed,
            transaction_id,
        )
    }
}

/// The users who get a room's keys: its joined and invited members.
pub(super) fn room_members(
    client: &Client,
    token: &AccessToken,
    room_id: &str,
) -> Result<Vec<OwnedUserId>, Error> {
    let answer = client.request_at(
        token,
        Method::Get,
        &["rooms", room_id, "members"],
        &[("not_membership".to_owned(), "leave".to_owned())],
        None,
    )?;
    let chunk = answer.json()?;
    Ok(chunk["chunk"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter(|event| {
            matches!(
                event["content"]["membership"].as_str(),
                Some("join" | "invite")
            )
        })
        .filter_map(|event| event["state_key"].as_str())
        .filter_map(|user| UserId::parse(user).ok())
        .collect())
}
