//! What the device is, for `matrix e2ee status`.

use std::path::PathBuf;

use serde_json::Value as JsonValue;

use super::{Crypto, crypto_failed, outgoing};
use crate::client::{Client, Method};
use crate::error::Error;
use crate::secret::AccessToken;

impl Crypto {
    /// What the device is: its keys, its store, the one-time keys on the server, the users it
    /// tracks, its cross-signing, and whose verified identity changed. What the server has
    /// waiting for the device (changed device lists, to-device events) is taken first, so that
    /// a changed identity shows at once.
    pub fn status(&self, client: &Client, token: &AccessToken) -> Result<Status, Error> {
        self.catch_up(client, token)?;
        let keys = self.locked(async |machine| {
            outgoing::send_outgoing(machine, client, token).await?;
            let identity = machine.identity_keys();
            let tracked = machine.tracked_users().await.map_err(crypto_failed)?;
            let cross_signing = machine.cross_signing_status().await;
            let own = machine
                .get_device(&self.user_id, &self.device_id, None)
                .await
                .map_err(crypto_failed)?;
            let backups = machine.backup_machine();
            let backup = match backups.enabled().await {
                true => {
                    let keys = backups.get_backup_keys().await.map_err(crypto_failed)?;
                    let counts = backups.room_key_counts().await.map_err(crypto_failed)?;
                    Some(Backup {
                        version: keys.backup_version.unwrap_or_default(),
                        room_keys: counts.total,
                        backed_up: counts.backed_up,
                    })
                }
                false => None,
            };
            let mut tracked: Vec<String> = tracked.iter().map(ToString::to_string).collect();
            tracked.sort();
            let identity_changed = super::identities::changed(machine).await?;
            Ok(Status {
                ed25519: identity.ed25519.to_base64(),
                curve25519: identity.curve25519.to_base64(),
                store: self.dir.path().to_owned(),
                one_time_keys_on_server: 0,
                tracked_users: tracked,
                has_master_key: cross_signing.has_master,
                has_self_signing_key: cross_signing.has_self_signing,
                has_user_signing_key: cross_signing.has_user_signing,
                signed_by_owner: own.is_some_and(|device| device.is_cross_signed_by_owner()),
                backup,
                identity_changed,
            })
        })?;
        let counts = client.call(
            Method::Post,
            &["keys", "upload"],
            Some(token),
            Some(serde_json::json!({})),
            &[],
        )?;
        let on_server = counts.object["one_time_key_counts"]
            .as_object()
            .map_or(0, |counts| {
                counts.values().filter_map(JsonValue::as_u64).sum()
            });
        Ok(Status {
            one_time_keys_on_server: on_server,
            ..keys
        })
    }
}

/// What [`Crypto::status`] tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The device's Ed25519 fingerprint key (unpadded base64).
    pub ed25519: String,
    /// The device's Curve25519 identity key (unpadded base64).
    pub curve25519: String,
    /// The store's folder.
    pub store: PathBuf,
    /// The device's one-time keys the server holds, not yet claimed.
    pub one_time_keys_on_server: u64,
    /// The users whose devices the machine tracks.
    pub tracked_users: Vec<String>,
    /// Whether this device has the user's master cross-signing key.
    pub has_master_key: bool,
    /// Whether it has the self-signing key.
    pub has_self_signing_key: bool,
    /// Whether it has the user-signing key.
    pub has_user_signing_key: bool,
    /// Whether the user's self-signing key signed this device.
    pub signed_by_owner: bool,
    /// The key backup this device sends its room keys to, if one is on.
    pub backup: Option<Backup>,
    /// The people this user verified whose identity changed since (see
    /// [`Crypto::changed_identities`]).
    pub identity_changed: Vec<String>,
}

/// A key backup as [`Status`] tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// Its version on the server.
    pub version: String,
    /// The room keys this device has.
    pub room_keys: usize,
    /// How many of them are backed up.
    pub backed_up: usize,
}
