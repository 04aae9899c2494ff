//! Other people as this device knows them: their devices and whether each is verified, and
//! whose verified identity changed since (the crate's verification violation), with the way to
//! accept the change.

use matrix_sdk_crypto::{LocalTrust, OlmMachine};
use ruma::{OwnedUserId, UserId};

use super::verify_outcome::verification_refused;
use super::{Crypto, crypto_failed};
use crate::client::Client;
use crate::error::{E2eeError, E2eeKind, Error, InputError};
use crate::secret::AccessToken;

/// A device of another user, as this device judges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TheirDevice {
    /// Its device ID.
    pub device_id: String,
    /// The name its owner gave it, as its keys carry it.
    pub display_name: Option<String>,
    /// Whether it is verified: cross-signed by its owner, and the owner verified by this user.
    pub verified: bool,
    /// Whether its owner cross-signed it (whether or not this user verified the owner).
    pub cross_signed: bool,
}

impl Crypto {
    /// The devices of `user` (their keys asked for the server first), each judged.
    pub fn devices_of(
        &self,
        client: &Client,
        token: &AccessToken,
        user: &str,
    ) -> Result<Vec<TheirDevice>, Error> {
        let user = parse(user)?;
        self.locked(async |machine| {
            query_keys(machine, client, token, &user).await?;
            let devices = machine
                .get_user_devices(&user, None)
                .await
                .map_err(crypto_failed)?;
            // A device the emoji verified stays trusted by itself: not once its owner's
            // identity changed since.
            let changed = machine
                .get_identity(&user, None)
                .await
                .map_err(crypto_failed)?
                .is_some_and(|identity| identity.has_verification_violation());
            let mut found: Vec<TheirDevice> = devices
                .devices()
                .map(|device| TheirDevice {
                    device_id: device.device_id().to_string(),
                    display_name: device.display_name().map(str::to_owned),
                    verified: device.is_verified() && !changed,
                    cross_signed: device.is_cross_signed_by_owner(),
                })
                .collect();
            found.sort_by(|a, b| a.device_id.cmp(&b.device_id));
            Ok(found)
        })
    }

    /// The people this device verified whose identity has changed since (a new master key:
    /// their account was reset, or taken over). Their events are not `verified` until they
    /// are verified again, or the change is accepted ([`Crypto::accept_identity_change`]).
    pub fn changed_identities(&self) -> Result<Vec<String>, Error> {
        self.locked(async |machine| changed(machine).await)
    }

    /// Accepts the new identity of `user`, whose verified identity changed: it is then an
    /// identity like any never verified (their events `verified: false`, without the warning),
    /// until verified again with [`Crypto::verify_user`]. Refused for someone whose identity
    /// did not change: a signature given cannot be taken back from the server.
    pub fn accept_identity_change(
        &self,
        client: &Client,
        token: &AccessToken,
        user: &str,
    ) -> Result<(), Error> {
        let user = parse(user)?;
        self.locked(async |machine| {
            query_keys(machine, client, token, &user).await?;
            let identity = machine
                .get_identity(&user, None)
                .await
                .map_err(crypto_failed)?
                .and_then(|identity| identity.other());
            match identity {
                Some(identity) if identity.has_verification_violation() => {
                    identity
                        .withdraw_verification()
                        .await
                        .map_err(crypto_failed)?;
                    // The devices the emoji verified lose that trust too.
                    let devices = machine
                        .get_user_devices(&user, None)
                        .await
                        .map_err(crypto_failed)?;
                    for device in devices.devices().filter(|d| d.is_locally_trusted()) {
                        device
                            .set_local_trust(LocalTrust::Unset)
                            .await
                            .map_err(crypto_failed)?;
                    }
                    Ok(())
                }
                _ => Err(Error::E2ee(E2eeError {
                    kind: E2eeKind::Trust,
                    problem: format!("{user} has no verified identity that changed"),
                    hint: "only a changed identity can be accepted; `matrix e2ee status` lists \
                           them under identity_changed"
                        .into(),
                    path: None,
                })),
            }
        })
    }
}

pub(super) async fn changed(machine: &OlmMachine) -> Result<Vec<String>, Error> {
    let tracked = machine.tracked_users().await.map_err(crypto_failed)?;
    let mut users = Vec::new();
    for user in tracked {
        let identity = machine
            .get_identity(&user, None)
            .await
            .map_err(crypto_failed)?;
        if identity.is_some_and(|identity| identity.has_verification_violation()) {
            users.push(user.to_string());
        }
    }
    users.sort();
    Ok(users)
}

fn parse(user: &str) -> Result<OwnedUserId, Error> {
    UserId::parse(user).map_err(|_| {
        InputError::new(format!("'{user}' is not a user ID"), "use @name:server").into()
    })
}

/// This device can sign another user: it has the user-signing key (from `bootstrap` or
/// `recover`).
pub(super) async fn can_sign(machine: &OlmMachine) -> Result<(), Error> {
    if machine.cross_signing_status().await.has_user_signing {
        return Ok(());
    }
    Err(verification_refused(
        "this device cannot sign other users: the account's cross-signing keys are not on it"
            .to_owned(),
        "run `matrix e2ee bootstrap` first (or `matrix e2ee recover` with the recovery key, \
         when the account has cross-signing already); nothing was sent",
    ))
}

/// `user`'s cross-signing identity, their keys asked for first.
pub(super) async fn identity_of(
    machine: &OlmMachine,
    client: &Client,
    token: &AccessToken,
    user: &UserId,
) -> Result<matrix_sdk_crypto::OtherUserIdentity, Error> {
    query_keys(machine, client, token, user).await?;
    machine
        .get_identity(user, None)
        .await
        .map_err(crypto_failed)?
        .and_then(|identity| identity.other())
        .ok_or_else(|| {
            verification_refused(
                format!("{user} has no cross-signing identity"),
                "they set it up in their client (Element does at its first login, or under \
                 Settings > Encryption); nothing was sent",
            )
        })
}

/// `user` tracked, and their keys (devices, identity) asked for the server now.
pub(super) async fn query_keys(
    machine: &OlmMachine,
    client: &Client,
    token: &AccessToken,
    user: &UserId,
) -> Result<(), Error> {
    machine
        .update_tracked_users([user])
        .await
        .map_err(crypto_failed)?;
    super::history::query_devices(machine, client, token, user).await
}
