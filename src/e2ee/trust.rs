//! A trusted device: the user's cross-signing keys made and uploaded, the device signed with
//! them, the private keys kept in secret storage (SSSS, `m.secret_storage.v1.aes-hmac-sha2`)
//! under a new recovery key, and a server-side key backup
//! (`m.megolm_backup.v1.curve25519-aes-sha2`) whose key is kept there too. The crypto crate
//! makes the keys and signatures; this module sends them, in the order the crate gives.
//!
//! The requests, in order: `POST /keys/query` (the user's own, for a master key already
//! there), `POST /keys/upload` (the device's keys, if not yet), `POST /keys/device_signing/
//! upload` (with user-interactive auth when the account already has a master key),
//! `POST /keys/signatures/upload`, `PUT /user/{userId}/account_data/{type}` five times (the
//! secret storage key, the default key, the three cross-signing keys; a sixth for the backup
//! key), `POST /room_keys/version`, `PUT /room_keys/keys` (the room keys the device has).

use matrix_sdk_crypto::OlmMachine;
use matrix_sdk_crypto::secret_storage::SecretStorageKey;
use matrix_sdk_crypto::store::types::BackupDecryptionKey;
use matrix_sdk_crypto::types::requests::AnyIncomingResponse;
use ruma::TransactionId;
use ruma::api::client::backup::add_backup_keys;
use ruma::api::client::keys::{get_keys, upload_signatures, upload_signing_keys};
use ruma::events::secret::request::SecretName;
use serde_json::{Value as JsonValue, json};

use super::outgoing::{mark, parse, send_one};
use super::{Crypto, crypto_failed};
use crate::client::{Client, Method};
use crate::error::{E2eeError, E2eeKind, Error, ErrorCode};
use crate::ids::UserId;
use crate::secret::{AccessToken, Password};
use crate::uia::Stages;

/// What [`Crypto::bootstrap`] made.
#[derive(Debug)]
pub struct Bootstrapped {
    /// The recovery key (base58, in groups of four): it opens the secret storage.
    pub recovery_key: Password,
    /// The public master key (ed25519, unpadded base64): the user's identity.
    pub master_key: String,
    /// The key backup's version.
    pub backup_version: String,
}

/// The backup algorithm.
const MEGOLM_BACKUP_V1: &str = "m.megolm_backup.v1.curve25519-aes-sha2";

impl Crypto {
    /// Makes the device trusted (see the module): cross-signing keys made and uploaded, the
    /// device signed, secret storage under a new recovery key, a key backup. An account that
    /// already has a master key is refused unless `reset`; then the upload asks for the
    /// user's `password` (user-interactive auth).
    pub fn bootstrap(
        &self,
        client: &Client,
        token: &AccessToken,
        reset: bool,
        password: Option<&Password>,
    ) -> Result<Bootstrapped, Error> {
        let user_id = UserId::parse(self.user_id.as_str())?;
        self.locked(async |machine| {
            let known = self.own_keys(client, token)?;
            let has_master = known
                .object
                .get("master_keys")
                .and_then(|keys| keys.get(self.user_id.as_str()))
                .is_some();
            if has_master && !reset {
                return Err(trust_refused(
                    format!("{} already has cross-signing keys", self.user_id),
                    "to keep them, give this device the recovery key with `matrix e2ee \
                     recover`; to replace them (every device and user that trusted the old ones \
                     must trust the new), bootstrap with --reset",
                ));
            }
            // The keys this device had, put back if the new ones are not taken (a wrong
            // password): nothing changes then.
            let before = machine
                .export_cross_signing_keys()
                .await
                .map_err(crypto_failed)?;
            let requests = machine
                .bootstrap_cross_signing(reset)
                .await
                .map_err(crypto_failed)?;
            if let Some(upload) = &requests.upload_keys_req {
                send_one(
                    machine,
                    client,
                    token,
                    upload.request_id(),
                    upload.request(),
                )
                .await?;
            }
            let keys = &requests.upload_signing_keys_req;
            let body = json!({
                "master_key": keys.master_key,
                "self_signing_key": keys.self_signing_key,
                "user_signing_key": keys.user_signing_key,
            });
            let stages = Stages::password(&user_id, password);
            let taken = client.with_auth(
                &["keys", "device_signing", "upload"],
                Some(token),
                body,
                &stages,
                &[],
            );
            if let Err(err) = taken {
                if let Some(before) = before {
                    // The machine takes the old keys back once it knows the identity the
                    // server still has.
                    self.query_own_keys(machine, client, token).await?;
                    machine
                        .import_cross_signing_keys(before)
                        .await
                        .map_err(crypto_failed)?;
                }
                return Err(err);
            }
            let id = TransactionId::new();
            let uploaded = upload_signing_keys::v3::Response::new();
            mark(
                machine,
                &id,
                AnyIncomingResponse::SigningKeysUpload(&uploaded),
            )
            .await?;
            let signed = json!(requests.upload_signatures_req.signed_keys);
            let answer = client.call(
                Method::Post,
                &["keys", "signatures", "upload"],
                Some(token),
                Some(signed),
                &[],
            )?;
            let answer =
                parse::<upload_signatures::v3::Response>(JsonValue::Object(answer.object))?;
            mark(machine, &id, AnyIncomingResponse::SignatureUpload(&answer)).await?;
            // The device's keys as the server now has them: signed.
            self.query_own_keys(machine, client, token).await?;

            let storage = SecretStorageKey::new();
            self.put_account_data(
                client,
                token,
                &storage.event_type().to_string(),
                json!(storage.event_content()),
            )?;
            self.put_account_data(
                client,
                token,
                "m.secret_storage.default_key",
                json!({"key": storage.key_id()}),
            )?;
            let export = machine
                .export_cross_signing_keys()
                .await
                .map_err(crypto_failed)?
                .ok_or_else(|| crypto_failed("the cross-signing keys were not kept"))?;
            for (name, seed) in [
                (SecretName::CrossSigningMasterKey, &export.master_key),
                (
                    SecretName::CrossSigningSelfSigningKey,
                    &export.self_signing_key,
                ),
                (
                    SecretName::CrossSigningUserSigningKey,
                    &export.user_signing_key,
                ),
            ] {
                let seed = seed
                    .as_deref()
                    .ok_or_else(|| crypto_failed("a cross-signing key is missing"))?;
                self.put_secret(client, token, &storage, name, seed.as_bytes())?;
            }
            let backup_version = self.new_backup(machine, client, token, &storage).await?;
            let master_key = own_master_key(machine, &self.user_id).await?;
            Ok(Bootstrapped {
                recovery_key: Password::new(storage.to_base58()),
                master_key,
                backup_version,
            })
        })
    }

    /// A new key backup: its version made with the auth data signed by the device and the
    /// master key, its decryption key kept in the store and in secret storage, and the room
    /// keys the device has backed up.
    async fn new_backup(
        &self,
        machine: &OlmMachine,
        client: &Client,
        token: &AccessToken,
        storage: &SecretStorageKey,
    ) -> Result<String, Error> {
        let key = BackupDecryptionKey::new();
        let public = key.megolm_v1_public_key();
        let mut auth_data = json!({"public_key": public.to_base64()});
        let canonical = ruma::canonical_json::to_canonical_value(&auth_data)
            .map_err(crypto_failed)?
            .to_string();
        let signatures = machine.sign(&canonical).await.map_err(crypto_failed)?;
        auth_data["signatures"] = json!(signatures);
        let made = client.call(
            Method::Post,
            &["room_keys", "version"],
            Some(token),
            Some(json!({"algorithm": MEGOLM_BACKUP_V1, "auth_data": auth_data})),
            &[],
        )?;
        let version = made
            .object
            .get("version")
            .and_then(JsonValue::as_str)
            .map(str::to_owned)
            .ok_or_else(|| made.unexpected("the field `version` is missing"))?;
        self.put_secret(
            client,
            token,
            storage,
            SecretName::RecoveryKey,
            key.to_base64().as_bytes(),
        )?;
        // A new backup holds nothing yet: every room key is marked not backed up (an earlier
        // backup's marks would keep them out of it), then sent.
        machine
            .backup_machine()
            .disable_backup()
            .await
            .map_err(crypto_failed)?;
        turn_on_backup(machine, key, &version).await?;
        back_up(machine, client, token).await?;
        Ok(version)
    }

    /// `POST /keys/query` for the user's own keys.
    fn own_keys(
        &self,
        client: &Client,
        token: &AccessToken,
    ) -> Result<crate::answer::Answer, Error> {
        let query = json!({"device_keys": {self.user_id.as_str(): []}});
        client.call(
            Method::Post,
            &["keys", "query"],
            Some(token),
            Some(query),
            &[],
        )
    }

    /// [`Crypto::own_keys`], the answer handed to the machine.
    pub(super) async fn query_own_keys(
        &self,
        machine: &OlmMachine,
        client: &Client,
        token: &AccessToken,
    ) -> Result<(), Error> {
        let known = self.own_keys(client, token)?;
        let known = parse::<get_keys::v3::Response>(JsonValue::Object(known.object))?;
        mark(
            machine,
            &TransactionId::new(),
            AnyIncomingResponse::KeysQuery(&known),
        )
        .await
    }

    /// `PUT /user/{userId}/account_data/{type}`.
    fn put_account_data(
        &self,
        client: &Client,
        token: &AccessToken,
        kind: &str,
        content: JsonValue,
    ) -> Result<(), Error> {
        let path = ["user", self.user_id.as_str(), "account_data", kind];
        client.call(Method::Put, &path, Some(token), Some(content), &[])?;
        Ok(())
    }

    /// A secret, encrypted under the secret storage key, in account data of its name.
    fn put_secret(
        &self,
        client: &Client,
        token: &AccessToken,
        storage: &SecretStorageKey,
        name: SecretName,
        secret: &[u8],
    ) -> Result<(), Error> {
        let encrypted = storage.encrypt(secret.to_vec(), &name);
        let content = json!({"encrypted": {storage.key_id(): encrypted}});
        self.put_account_data(client, token, name.as_str(), content)
    }
}

/// Sends the room keys waiting for the backup (`PUT /room_keys/keys?version=`), batch by batch,
/// when a backup is on.
pub(super) async fn back_up(
    machine: &OlmMachine,
    client: &Client,
    token: &AccessToken,
) -> Result<(), Error> {
    for _ in 0..100 {
        let Some((id, request)) = machine
            .backup_machine()
            .backup()
            .await
            .map_err(crypto_failed)?
        else {
            return Ok(());
        };
        let mut url = client.url_of(true, ["room_keys", "keys"]);
        url.query_pairs_mut()
            .append_pair("version", &request.version);
        let body = json!({"rooms": request.rooms});
        let answer = client.call_url(Method::Put, url.as_str(), Some(token), Some(body))?;
        let answer = answer.parse(&[])?;
        let answer = parse::<add_backup_keys::v3::Response>(JsonValue::Object(answer.object))?;
        mark(machine, &id, AnyIncomingResponse::KeysBackup(&answer)).await?;
    }
    Ok(())
}

impl Crypto {
    /// `GET /user/{userId}/account_data/{type}`; `None` when the account has none.
    pub(super) fn get_account_data(
        &self,
        client: &Client,
        token: &AccessToken,
        kind: &str,
    ) -> Result<Option<JsonValue>, Error> {
        let path = ["user", self.user_id.as_str(), "account_data", kind];
        match client.call(Method::Get, &path, Some(token), None, &[]) {
            Ok(content) => Ok(Some(JsonValue::Object(content.object))),
            Err(Error::Matrix(err)) if err.errcode == ErrorCode::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }
}

/// The backup of `version` on for this device: its key kept in the store, and every room key
/// the device gets from now on sent to it.
pub(super) async fn turn_on_backup(
    machine: &OlmMachine,
    key: BackupDecryptionKey,
    version: &str,
) -> Result<(), Error> {
    let public = key.megolm_v1_public_key();
    public.set_version(version.to_owned());
    let backups = machine.backup_machine();
    backups
        .save_decryption_key(Some(key), Some(version.to_owned()))
        .await
        .map_err(crypto_failed)?;
    backups
        .enable_backup_v1(public)
        .await
        .map_err(crypto_failed)
}

/// The user's public master key, as the machine knows it.
pub(super) async fn own_master_key(
    machine: &OlmMachine,
    user_id: &ruma::UserId,
) -> Result<String, Error> {
    Ok(machine
        .get_identity(user_id, None)
        .await
        .map_err(crypto_failed)?
        .and_then(|identity| identity.own())
        .and_then(|own| own.master_key().get_first_key().map(|key| key.to_base64()))
        .unwrap_or_default())
}

pub(super) fn trust_refused(problem: String, hint: &str) -> Error {
    Error::E2ee(E2eeError {
        kind: E2eeKind::Trust,
        problem,
        hint: hint.to_owned(),
        path: None,
    })
}
