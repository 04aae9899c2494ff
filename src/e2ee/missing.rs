//! Room keys this device lacks, looked for where matrix-sdk looks: in the key backup (one
//! `GET /room_keys/keys/{roomId}/{sessionId}` per missing session, never per event, and once per
//! process), and from the account's other devices (the crate's key requests, queued by a failed
//! decryption and sent here with the machine's other requests).
//!
//! A key from the backup is imported as the crate imports backed-up keys: what it decrypts
//! shows as not verified, its authenticity not guaranteed (Element's grey shield).

use std::collections::HashSet;

use matrix_sdk_crypto::OlmMachine;
use matrix_sdk_crypto::olm::ExportedRoomKey;
use matrix_sdk_crypto::store::types::BackupDecryptionKey;
use ruma::RoomId;
use ruma::api::client::backup::EncryptedSessionData;
use serde_json::Value as JsonValue;

use super::crypto_failed;
use crate::client::{Client, Method};
use crate::error::{Error, ErrorCode};
use crate::secret::AccessToken;

/// The sessions of `room_id` among `events` (encrypted events whose key is missing) that the
/// backup was not asked for yet by this process, looked up there; how many keys were imported.
/// `asked` remembers what was asked, found or not. Without backup access (no backup key in the
/// store), nothing is asked.
pub(super) async fn from_backup(
    machine: &OlmMachine,
    client: &Client,
    token: &AccessToken,
    room_id: &RoomId,
    events: &[&JsonValue],
    asked: &mut HashSet<(String, String)>,
) -> Result<usize, Error> {
    let mut sessions: Vec<String> = Vec::new();
    for event in events {
        let Some(session) = event["content"]["session_id"].as_str() else {
            continue;
        };
        let key = (room_id.as_str().to_owned(), session.to_owned());
        if !asked.contains(&key) && !sessions.iter().any(|known| known == session) {
            sessions.push(session.to_owned());
        }
    }
    if sessions.is_empty() {
        return Ok(0);
    }
    let keys = machine
        .backup_machine()
        .get_backup_keys()
        .await
        .map_err(crypto_failed)?;
    let (Some(key), Some(version)) = (keys.decryption_key, keys.backup_version) else {
        return Ok(0);
    };
    let mut found = Vec::new();
    for session in sessions {
        asked.insert((room_id.as_str().to_owned(), session.clone()));
        if let Some(room_key) = one_session(client, token, &key, &version, room_id, &session)? {
            found.push(room_key);
        }
    }
    if found.is_empty() {
        return Ok(0);
    }
    let imported = machine
        .store()
        .import_room_keys(found, Some(&version), |_, _| {})
        .await
        .map_err(crypto_failed)?;
    Ok(imported.imported_count)
}

/// One session's key from backup `version`, decrypted with `key`; `None` when the backup does
/// not hold it (or holds something this key does not open).
fn one_session(
    client: &Client,
    token: &AccessToken,
    key: &BackupDecryptionKey,
    version: &str,
    room_id: &RoomId,
    session: &str,
) -> Result<Option<ExportedRoomKey>, Error> {
    let mut url = client.url_of(true, ["room_keys", "keys", room_id.as_str(), session]);
    url.query_pairs_mut().append_pair("version", version);
    let answer = match client.call_url(Method::Get, url.as_str(), Some(token), None) {
        Ok(raw) => raw.parse(&[])?,
        Err(Error::Matrix(err)) if err.errcode == ErrorCode::NotFound => return Ok(None),
        Err(err) => return Err(err),
    };
    Ok(backed_up_key(
        key,
        room_id,
        session,
        &JsonValue::Object(answer.object),
    ))
}

/// The room key of one session as the backup holds it (`{session_data, ...}`), decrypted with
/// `key`; `None` when it is not one, or `key` does not open it.
pub(super) fn backed_up_key(
    key: &BackupDecryptionKey,
    room_id: &RoomId,
    session: &str,
    backed_up: &JsonValue,
) -> Option<ExportedRoomKey> {
    let data =
        serde_json::from_value::<EncryptedSessionData>(backed_up["session_data"].clone()).ok()?;
    let room_key = key.decrypt_session_data(data).ok()?;
    Some(ExportedRoomKey::from_backed_up_room_key(
        room_id.to_owned(),
        session.to_owned(),
        room_key,
    ))
}
