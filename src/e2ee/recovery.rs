//! A device that takes its user's trust back with the recovery key: secret storage opened,
//! the cross-signing keys imported, the device signed, the key backup's room keys imported.
//!
//! The requests: `GET /user/{userId}/account_data/{type}` (the default key, its description,
//! the three cross-signing keys, the backup key), `POST /keys/query`, `POST
//! /keys/signatures/upload`, `POST /keys/query` again, `GET /room_keys/version`, `GET
//! /room_keys/keys`.

use matrix_sdk_crypto::secret_storage::{AesHmacSha2EncryptedData, SecretStorageKey};
use matrix_sdk_crypto::store::types::BackupDecryptionKey;
use matrix_sdk_crypto::types::requests::AnyIncomingResponse;
use matrix_sdk_crypto::{CrossSigningKeyExport, OlmMachine};
use ruma::api::client::keys::upload_signatures;
use ruma::events::GlobalAccountDataEvent;
use ruma::events::secret::request::SecretName;
use ruma::events::secret_storage::key::SecretStorageKeyEventContent;
use ruma::{OwnedRoomId, TransactionId};
use serde_json::{Value as JsonValue, json};

use super::missing::backed_up_key;
use super::outgoing::{mark, parse, send_outgoing};
use super::trust::{own_master_key, trust_refused, turn_on_backup};
use super::{Crypto, MAX_RECOVERY_KEY_LEN, crypto_failed};
use crate::client::{Client, Method};
use crate::error::{Error, ErrorCode, InputError};
use crate::secret::{AccessToken, Password};

/// What [`Crypto::recover`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The public master key taken back.
    pub master_key: String,
    /// The key backup the room keys came from, if the account has one this key opens.
    pub backup_version: Option<String>,
    /// How many room keys the backup gave (new to this device).
    pub room_keys: usize,
}

impl Crypto {
    /// Takes the user's trust back on this device with the recovery key: secret storage read,
    /// the cross-signing keys imported, this device signed with them, the room keys of the key
    /// backup imported (so that messages from before this device existed decrypt), and this
    /// device backing up from now on. A key that does not open the secret storage (or is over
    /// [`MAX_RECOVERY_KEY_LEN`] characters) is an [`Error::Input`], and changes nothing.
    ///
    /// The requests: `GET /user/{userId}/account_data/{type}` (the default key, its
    /// description, the three cross-signing keys, the backup key), `POST /keys/query`,
    /// `POST /keys/signatures/upload`, `GET /room_keys/version`, `GET /room_keys/keys`.
    pub fn recover(
        &self,
        client: &Client,
        token: &AccessToken,
        recovery_key: &Password,
    ) -> Result<Recovered, Error> {
        let length = recovery_key.expose().chars().count();
        if length > MAX_RECOVERY_KEY_LEN {
            return Err(Error::Input(InputError::new(
                format!("{length} characters is too long for a recovery key"),
                "a recovery key has 48 characters, in 12 groups of 4, as `bootstrap` gave it",
            )));
        }
        self.locked(async |machine| {
            let storage = self.open_storage(client, token, recovery_key)?;
            let secret = |name: SecretName| self.get_secret(client, token, &storage, name);
            let export = CrossSigningKeyExport {
                master_key: secret(SecretName::CrossSigningMasterKey)?,
                self_signing_key: secret(SecretName::CrossSigningSelfSigningKey)?,
                user_signing_key: secret(SecretName::CrossSigningUserSigningKey)?,
            };
            // The device's own keys go up first (a fresh login's device has not sent them yet):
            // a signature of keys the server does not list would leave the device unseen.
            send_outgoing(machine, client, token).await?;
            self.query_own_keys(machine, client, token).await?;
            machine
                .import_cross_signing_keys(export)
                .await
                .map_err(|err| {
                    trust_refused(
                        format!(
                            "the cross-signing keys in secret storage are not the account's ({err})"
                        ),
                        "bootstrap again with --reset",
                    )
                })?;
            let device = machine
                .get_device(&self.user_id, &self.device_id, None)
                .await
                .map_err(crypto_failed)?
                .ok_or_else(|| crypto_failed("this device's keys are not on the server yet"))?;
            let signatures = device.verify().await.map_err(crypto_failed)?;
            let answer = client.call(
                Method::Post,
                &["keys", "signatures", "upload"],
                Some(token),
                Some(json!(signatures.signed_keys)),
                &[],
            )?;
            let answer =
                parse::<upload_signatures::v3::Response>(JsonValue::Object(answer.object))?;
            mark(
                machine,
                &TransactionId::new(),
                AnyIncomingResponse::SignatureUpload(&answer),
            )
            .await?;
            self.query_own_keys(machine, client, token).await?;
            let (backup_version, room_keys) = match secret(SecretName::RecoveryKey)? {
                Some(backup_key) => {
                    self.restore_backup(machine, client, token, &backup_key)
                        .await?
                }
                None => (None, 0),
            };
            let master_key = own_master_key(machine, &self.user_id).await?;
            Ok(Recovered {
                master_key,
                backup_version,
                room_keys,
            })
        })
    }

    /// The secret storage key the recovery key is, checked against the account's default
    /// key's description.
    fn open_storage(
        &self,
        client: &Client,
        token: &AccessToken,
        recovery_key: &Password,
    ) -> Result<SecretStorageKey, Error> {
        let default = self.get_account_data(client, token, "m.secret_storage.default_key")?;
        let Some(key_id) = default.as_ref().and_then(|content| content["key"].as_str()) else {
            return Err(trust_refused(
                format!("{} has no secret storage", self.user_id),
                "make it with `matrix e2ee bootstrap` (on a device that is to be trusted)",
            ));
        };
        let kind = format!("m.secret_storage.key.{key_id}");
        let description = self
            .get_account_data(client, token, &kind)?
            .ok_or_else(|| {
                trust_refused(
                    format!("the secret storage key {key_id} is not described"),
                    "bootstrap again with --reset",
                )
            })?;
        let event = json!({"type": kind, "content": description});
        let event: GlobalAccountDataEvent<SecretStorageKeyEventContent> =
            serde_json::from_value(event).map_err(crypto_failed)?;
        // A wrong key is the caller's input, as a too long one is.
        SecretStorageKey::from_account_data(recovery_key.expose(), event.content).map_err(|_| {
            Error::Input(InputError::new(
                "the recovery key does not open this account's secret storage",
                "check it (12 groups of 4 characters, as `matrix e2ee bootstrap` gave it); \
                 nothing was changed",
            ))
        })
    }

    /// A secret from secret storage, decrypted; `None` when the account has none of that name.
    fn get_secret(
        &self,
        client: &Client,
        token: &AccessToken,
        storage: &SecretStorageKey,
        name: SecretName,
    ) -> Result<Option<String>, Error> {
        let Some(content) = self.get_account_data(client, token, name.as_str())? else {
            return Ok(None);
        };
        let encrypted = &content["encrypted"][storage.key_id()];
        let data: AesHmacSha2EncryptedData =
            serde_json::from_value(encrypted.clone()).map_err(|_| {
                trust_refused(
                    format!("{name} is not encrypted under this key"),
                    "bootstrap again with --reset",
                )
            })?;
        let plain = storage.decrypt(&data, &name).map_err(|_| {
            trust_refused(
                format!("{name} does not decrypt with this key"),
                "bootstrap again with --reset",
            )
        })?;
        String::from_utf8(plain)
            .map(Some)
            .map_err(|_| crypto_failed(format!("{name} is not text")))
    }

    /// The room keys of the account's key backup, imported; and the backup on for this device.
    async fn restore_backup(
        &self,
        machine: &OlmMachine,
        client: &Client,
        token: &AccessToken,
        backup_key: &str,
    ) -> Result<(Option<String>, usize), Error> {
        let key = BackupDecryptionKey::from_base64(backup_key).map_err(crypto_failed)?;
        let info = match client.call(
            Method::Get,
            &["room_keys", "version"],
            Some(token),
            None,
            &[],
        ) {
            Ok(info) => JsonValue::Object(info.object),
            Err(Error::Matrix(err)) if err.errcode == ErrorCode::NotFound => return Ok((None, 0)),
            Err(err) => return Err(err),
        };
        let public = key.megolm_v1_public_key();
        if info["auth_data"]["public_key"].as_str() != Some(public.to_base64().as_str()) {
            // A backup made since with another key: not this one's to read.
            return Ok((None, 0));
        }
        let version = info["version"].as_str().unwrap_or_default().to_owned();
        let mut url = client.url_of(true, ["room_keys", "keys"]);
        url.query_pairs_mut().append_pair("version", &version);
        let all = client
            .call_url(Method::Get, url.as_str(), Some(token), None)?
            .parse(&[])?;
        let mut exported = Vec::new();
        for (room_id, room) in all
            .object
            .get("rooms")
            .and_then(JsonValue::as_object)
            .into_iter()
            .flatten()
        {
            let Ok(room_id) = OwnedRoomId::try_from(room_id.as_str()) else {
                continue;
            };
            for (session_id, data) in room["sessions"].as_object().into_iter().flatten() {
                exported.extend(backed_up_key(&key, &room_id, session_id, data));
            }
        }
        let imported = machine
            .store()
            .import_room_keys(exported, Some(&version), |_, _| {})
            .await
            .map_err(crypto_failed)?;
        turn_on_backup(machine, key, &version).await?;
        Ok((Some(version), imported.imported_count))
    }
}
