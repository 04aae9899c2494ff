//! The history an inviter shares (MSC4268, on by default in matrix-sdk 0.18): when they invite
//! this user, their client uploads the room keys of the room's earlier messages as an encrypted
//! file and sends its location in an `m.room_key_bundle` to-device message, which the crate
//! keeps. Once this user joined, the bundle of the one who invited them is downloaded,
//! decrypted and imported, as matrix-sdk does: only the inviter's, only from a device its owner
//! cross-signed (the crate's rule); the keys it brings show as from a forwarded source.

use matrix_sdk_crypto::types::requests::AnyOutgoingRequest;
use matrix_sdk_crypto::types::room_history::RoomKeyBundle;
use ruma::{RoomId, UserId};

use super::outgoing::send_one;
use super::{Crypto, crypto_failed, decrypt_attachment};
use crate::client::Client;
use crate::error::{Error, InputError};
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
        let (Ok(room_id), Ok(inviter)) = (RoomId::parse(room_id), UserId::parse(inviter)) else {
            return Err(Error::Input(InputError::new(
                format!("'{room_id}' or '{inviter}' is not a room or user ID"),
                "give a room ID (!…) and a user ID (@…)",
            )));
        };
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
            let (request_id, query) = machine.query_keys_for_users([inviter.as_ref()]);
            if !query.device_keys.is_empty() {
                let query = AnyOutgoingRequest::KeysQuery(query);
                send_one(machine, client, token, &request_id, &query).await?;
            }
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
