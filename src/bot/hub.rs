//! What the sessions of one process share: a pooled [`Client`] per homeserver and settings (its
//! connections kept alive between calls), the session store with the system keyring, the crypto
//! of each device opened, the room watches of senders, the ack books of listeners, and the
//! sessions refreshed here. Clones share all of it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::client::{Client, ClientConfig, Interrupt};
use crate::error::{Error, InputError};
use crate::rooms::RoomWatch;
use crate::session::Session;
use crate::store::{Keyring, SessionStore, StoreError};

use super::acks::AckBooks;
use super::crypto::OpenCryptos;

/// The state the sessions of one process share; see the module's documentation.
#[derive(Default, Clone)]
pub struct Hub {
    clients: Arc<Mutex<HashMap<(String, ClientConfig), Client>>>,
    /// Sessions renewed by a refresh in this process, by the refresh token they replaced, so
    /// that an unsaved session refreshed by one call is not refreshed again by the next.
    pub(super) renewed: Arc<Mutex<HashMap<String, Session>>>,
    /// A store of its own (else the one at its usual place).
    store: Option<SessionStore>,
    /// Why no request may go out, when none may.
    offline: Option<InputError>,
    /// What senders know of rooms, by homeserver and user (see `room_watches.rs`).
    pub(super) room_watches: Arc<Mutex<HashMap<(String, String), RoomWatch>>>,
    /// The system keyring, connected on first use and kept (see `store/keyring.rs`).
    keyring: Keyring,
    /// The crypto of each device met with encryption (see `crypto.rs`).
    pub(super) cryptos: OpenCryptos,
    /// The books of listeners with acks (see `acks.rs`).
    pub(super) ack_books: AckBooks,
}

impl Hub {
    /// A hub with no connections yet, using the session store at its usual place.
    pub fn new() -> Self {
        Self::default()
    }

    /// A hub whose sessions are those of `store` (which keeps its own keyring, if any).
    pub fn with_store(store: SessionStore) -> Self {
        Self {
            store: Some(store),
            ..Self::default()
        }
    }

    /// The same hub refusing every request to a homeserver, for `why`.
    pub fn offline(self, why: InputError) -> Self {
        Self {
            offline: Some(why),
            ..self
        }
    }

    /// The session store: its own, or the one at its usual place with the system keyring.
    pub fn store(&self) -> Result<SessionStore, StoreError> {
        match &self.store {
            Some(store) => Ok(store.clone()),
            None => Ok(SessionStore::default_location()?.with_keyring(self.keyring.clone())),
        }
    }

    /// The client for `homeserver` (a base URL) with these settings, made on first use (its
    /// connections are kept), giving up when `interrupt` says so.
    pub fn client(
        &self,
        homeserver: &str,
        config: &ClientConfig,
        interrupt: Interrupt,
    ) -> Result<Client, Error> {
        Ok(self
            .pooled_client(homeserver, config)?
            .with_interrupt(interrupt))
    }

    fn pooled_client(&self, homeserver: &str, config: &ClientConfig) -> Result<Client, Error> {
        self.online()?;
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (homeserver.to_owned(), config.clone());
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let client = Client::with_config(homeserver, config)?;
        clients.insert(key, client.clone());
        Ok(client)
    }

    /// Refuses requests when the hub is offline.
    pub fn online(&self) -> Result<(), Error> {
        match &self.offline {
            Some(why) => Err(Error::Input(why.clone())),
            None => Ok(()),
        }
    }

    /// Stops the requests in flight of every client in the pool (Ctrl-C).
    pub fn stop_requests(&self) {
        let clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        for client in clients.values() {
            client.interrupt();
        }
    }
}
