//! The history an inviter shares (MSC4268, on by default in matrix-sdk 0.18): when they invite
//! this user, their client uploads the room keys of the room's earlier messages as an encrypted
//! file and sends its location in an `m.room_key_bundle` to-device message, which the crate
//! keeps. Once this user joined, the bundle of the one who invited them is downloaded,
//! decrypted and imported, as matrix-sdk does: only the inviter's, only from a device its owner
//! cross-signed (the crate's rule); the keys it brings show as from a forwarded source.
//!
//! The other way, as matrix-sdk does by default: before this user invites someone, the room
//! keys this device holds for the room's history are shared with the invitee's cross-signed
//! devices the same way, when the room's history visibility lets new members read it
//! (`shared` or `world_readable`) and this user has cross-signing.

use std::sync::Arc;

use matrix_sdk_crypto::CollectStrategy;
use matrix_sdk_crypto::OlmMachine;
use matrix_sdk_crypto::types::events::room_key_bundle::RoomKeyBundleContent;
use matrix_sdk_crypto::types::requests::AnyOutgoingRequest;
use matrix_sdk_crypto::types::room_history::RoomKeyBundle;
use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};

use super::outgoing::{claim_sessions, send_one, send_to_device};
use super::{Crypto, ShareWith, crypto_failed, decrypt_attachment, encrypt_attachment};
use crate::client::{Client, Method};
use crate::error::{Error, ErrorCode, InputError};
use crate::media::Mxc;
use crate::secret::AccessToken;

/// The largest bundle downloaded: a room's keys (about 500 bytes each) for years of history.
const MAX_BUNDLE_BYTES: u64 = 64 * 1024 * 1024;

impl Crypto {
    /// Imports the room keys `inviter` shared with this user for `room_id` when inviting them
    /// (the room keys sent to the device since its last sync are taken first); how many keys
    /// the bundle held, `None` when there was none. A bundle that cannot be downloaded or read
    /// is an error; one from a device its owner did not cross-sign is ignored by the crate.
    pub fn import_history(
        &self,
        client: &Client,
        token: &AccessToken,
        room_id: &str,
        inviter: &str,
    ) -> Result<Option<usize>, Error> {
        let (room_id, inviter) = room_and_user(room_id, inviter)?;
        self.catch_up(client, token)?;
        self.locked(async |machine| {
            let Some(info) = machine
                .store()
                .get_received_room_key_bundle_data(&room_id, &inviter)
                .await
                .map_err(crypto_failed)?
            else {
                return Ok(None);
            };
            // The inviter's devices as they are now: the crate judges the sending device.
            query_devices(machine, client, token, &inviter).await?;
            let file = serde_json::to_value(&info.bundle_data.file).map_err(crypto_failed)?;
            let mxc = Mxc::parse(file["url"].as_str().unwrap_or_default())?;
            let sealed = client.download(token, &mxc, MAX_BUNDLE_BYTES)?;
            let plain = decrypt_attachment(&sealed.bytes, &file)
                .ok_or_else(|| crypto_failed("the history bundle does not decrypt"))?;
            let bundle: RoomKeyBundle = serde_json::from_slice(&plain)
                .map_err(|err| crypto_failed(format!("the history bundle is not one ({err})")))?;
            let shared = bundle.room_keys.len();
            machine
                .store()
                .receive_room_key_bundle(&info, bundle, |_, _| {})
                .await
                .map_err(crypto_failed)?;
            Ok(Some(shared))
        })
    }
}

/// A room ID and a user ID, parsed.
fn room_and_user(room_id: &str, user_id: &str) -> Result<(OwnedRoomId, OwnedUserId), Error> {
    match (RoomId::parse(room_id), UserId::parse(user_id)) {
        (Ok(room_id), Ok(user_id)) => Ok((room_id, user_id)),
        _ => Err(Error::Input(InputError::new(
            format!("'{room_id}' or '{user_id}' is not a room or user ID"),
            "give a room ID (!…) and a user ID (@…)",
        ))),
    }
}

/// `user_id`'s devices as they are now (`POST /keys/query`, unless the machine has them fresh):
/// the crate judges a bundle's sender, and shares a bundle, by them.
pub(super) async fn query_devices(
    machine: &OlmMachine,
    client: &Client,
    token: &AccessToken,
    user_id: &UserId,
) -> Result<(), Error> {
    let (request_id, query) = machine.query_keys_for_users([user_id]);
    if query.device_keys.is_empty() {
        return Ok(());
    }
    let query = AnyOutgoingRequest::KeysQuery(query);
    send_one(machine, client, token, &request_id, &query).await
}

/// Whether a room's history visibility lets a member read what was said before they joined:
/// `shared` (the spec's default when the room says nothing) or `world_readable`.
pub fn history_is_shared(visibility: Option<&str>) -> bool {
    !matches!(visibility, Some("joined" | "invited"))
}

impl Crypto {
    /// Shares the room keys of `room_id`'s history that this device holds with `invitee`'s
    /// devices their owner cross-signed, before they are invited (MSC4268, as matrix-sdk does):
    /// the keys uploaded as an encrypted file, its location sent to each device in an
    /// `m.room_key_bundle` to-device message. How many keys were shared; none when the room's
    /// history visibility is `joined` or `invited`, when this user has no cross-signing (the
    /// invitee could not tell whose keys they are), or when the device holds none.
    pub fn share_history(
        &self,
        client: &Client,
        token: &AccessToken,
        room_id: &str,
        invitee: &str,
    ) -> Result<usize, Error> {
        let (room_id, invitee) = room_and_user(room_id, invitee)?;
        let visibility = match client.call(
            Method::Get,
            &[
                "rooms",
                room_id.as_str(),
                "state",
                "m.room.history_visibility",
                "",
            ],
            Some(token),
            None,
            &[],
        ) {
            Ok(answer) => answer
                .object
                .get("history_visibility")
                .and_then(|value| value.as_str())
                .map(str::to_owned),
            Err(Error::Matrix(err)) if err.errcode == ErrorCode::NotFound => None,
            Err(err) => return Err(err),
        };
        if !history_is_shared(visibility.as_deref()) {
            return Ok(0);
        }
        let share = self.share;
        self.locked(async |machine| {
            let own = machine
                .get_identity(machine.user_id(), None)
                .await
                .map_err(crypto_failed)?;
            if own.is_none() {
                return Ok(0);
            }
            let bundle = machine
                .store()
                .build_room_key_bundle(&room_id)
                .await
                .map_err(crypto_failed)?;
            if bundle.is_empty() {
                return Ok(0);
            }
            let shared = bundle.room_keys.len();
            let json = serde_json::to_vec(&bundle).map_err(crypto_failed)?;
            let (sealed, mut file) = encrypt_attachment(&json);
            let mxc = client.upload(token, Arc::from(sealed), "application/octet-stream", None)?;
            file["url"] = serde_json::Value::from(mxc);
            let file = serde_json::from_value(file).map_err(crypto_failed)?;
            // The invitee's devices as they are now, and an Olm channel to each.
            query_devices(machine, client, token, &invitee).await?;
            if let Some((request_id, claim)) = machine
                .get_missing_sessions([invitee.as_ref()].into_iter())
                .await
                .map_err(crypto_failed)?
            {
                claim_sessions(machine, client, token, &request_id, &claim).await?;
            }
            let strategy = match share {
                ShareWith::All => CollectStrategy::IdentityBasedStrategy,
                ShareWith::Verified => CollectStrategy::OnlyTrustedDevices,
            };
            let content = RoomKeyBundleContent {
                room_id: room_id.clone(),
                file,
            };
            let requests = machine
                .share_room_key_bundle_data(&invitee, &strategy, content)
                .await
                .map_err(crypto_failed)?;
            for request in &requests {
                send_to_device(machine, client, token, request).await?;
            }
            Ok(shared)
        })
    }
}
