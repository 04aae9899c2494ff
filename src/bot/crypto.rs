//! The device's end-to-end encryption as a session meets it: the crypto of a saved session,
//! opened on first need (the store key from the session store, the store from the user's data
//! folder) and kept for the life of the process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::client::Client;
use crate::e2ee::{self, Crypto, ShareWith, StoreDir};
use crate::error::{E2eeError, E2eeKind, Error};
use crate::rooms::DeviceHook;
use crate::secret::AccessToken;
use crate::session::Session;

use super::{Active, Failure, Hub};

/// The crypto of each device this process opened, by its store's folder.
pub(super) type OpenCryptos = Arc<Mutex<HashMap<std::path::PathBuf, Arc<Crypto>>>>;

/// Whether a session's device has a crypto store (it took part in encryption before).
pub(super) fn has_store(session: &Session) -> bool {
    store_dir_of(session).is_ok_and(|dir| dir.exists())
}

/// The store folder of a session's device.
pub fn store_dir_of(session: &Session) -> Result<StoreDir, E2eeError> {
    Ok(StoreDir::of(
        &StoreDir::data_home()?,
        &session.homeserver,
        session.user_id.as_str(),
        &session.device_id,
    ))
}

impl Hub {
    /// The crypto of `active`'s device: opened once per process, its store made the first time.
    /// Only a saved session has one (its store key is kept with its tokens).
    pub fn crypto(&self, active: &Active) -> Result<Arc<Crypto>, Failure> {
        let Some(name) = active.saved_as.as_deref() else {
            return Err(Failure::Request(Error::E2ee(not_saved())));
        };
        let client = active.client(self).map_err(Failure::Request)?;
        let token = &active.session.access_token;
        self.crypto_of(&active.session, name, active.e2ee_share, &client, token)
    }

    /// Runs `op` with the crypto of `active`'s device (see [`Hub::crypto`]) and the session's
    /// token, refreshed first if need be (see [`Active::run`]).
    pub fn run_crypto<T>(
        &self,
        active: &mut Active,
        op: impl Fn(&Crypto, &Client, &AccessToken) -> Result<T, Error>,
    ) -> Result<T, Failure> {
        let crypto = self.crypto(active)?;
        active.run(self, |client, token| op(&crypto, client, token))
    }

    /// The crypto of saved session `name` (`session`, its device), as [`Hub::crypto`].
    /// `client` and `token` ask the server whether it holds the device's keys when the store
    /// is new or gone.
    fn crypto_of(
        &self,
        session: &Session,
        name: &str,
        share: ShareWith,
        client: &Client,
        token: &AccessToken,
    ) -> Result<Arc<Crypto>, Failure> {
        let dir = store_dir_of(session).map_err(Error::E2ee)?;
        let mut open = self.cryptos.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(crypto) = open.get(dir.path()) {
            return Ok(crypto.clone());
        }
        let store = self.store()?;
        let key = store.crypto_store_key(
            name,
            session.user_id.as_str(),
            &session.device_id,
            e2ee::new_store_key,
        )?;
        let device = (session.user_id.as_str(), session.device_id.as_str());
        let crypto = Crypto::open(dir.clone(), &key, device, share, client, token)?;
        let crypto = Arc::new(crypto);
        open.insert(dir.path().to_owned(), crypto.clone());
        Ok(crypto)
    }

    /// What a room watch does with the to-device events its syncs bring: a saved session's
    /// device that has a crypto store takes them (its syncs are the device's syncs, and the
    /// server hands each to-device event out once); `None` for a session that is not saved,
    /// which has no store.
    pub fn device_hook(&self, active: &Active) -> Option<DeviceHook> {
        let name = active.saved_as.clone()?;
        let (hub, session, share) = (self.clone(), active.session.clone(), active.e2ee_share);
        Some(Arc::new(move |client, token, changes| {
            if !has_store(&session) {
                return true;
            }
            let taken = hub
                .crypto_of(&session, &name, share, client, token)
                .and_then(|crypto| Ok(crypto.receive(client, token, changes).map(drop)?));
            match &taken {
                // A device whose keys are lost takes nothing, ever: the session's own use of
                // its crypto says so, with the way out.
                Err(Failure::Request(Error::E2ee(err))) if err.kind == E2eeKind::DeviceLost => {
                    return true;
                }
                Err(err) => {
                    eprintln!("matrix: the device could not take its to-device events: {err}")
                }
                Ok(()) => {}
            }
            taken.is_ok()
        }))
    }

    /// Deletes the crypto store of a device that is gone (logged out or deleted), if this
    /// machine has one, and forgets its open crypto; a store that cannot be deleted is said on
    /// stderr (the device is gone all the same).
    pub fn drop_store(&self, homeserver: &str, user_id: &str, device_id: &str) {
        let Ok(data) = StoreDir::data_home() else {
            return;
        };
        let dir = StoreDir::of(&data, homeserver, user_id, device_id);
        self.cryptos
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(dir.path());
        if let Err(err) = dir.delete() {
            eprintln!("matrix: the crypto store of device {device_id} is left: {err}");
        }
    }
}

/// The error of a session that is not saved meeting encryption.
pub fn not_saved() -> E2eeError {
    E2eeError {
        kind: E2eeKind::NotSaved,
        problem: "end-to-end encryption keeps the device's keys in a crypto store, which only a \
                  saved session has"
            .into(),
        hint: "save the session and use it by name: `matrix login ... --save bot`, or \
               `$session | matrix session save bot`, then `--session bot`"
            .into(),
        path: None,
    }
}
