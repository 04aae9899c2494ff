//! The Nushell plugin: commands that parse arguments, call the [`crate::Client`], and turn its
//! answers and errors into Nushell values and labelled errors.

mod acks;
mod active;
mod attach;
mod browser;
pub mod commands;
mod completion;
mod config;
mod e2ee;
mod errors;
mod examples;
mod homeserver;
mod json;
mod listen;
mod login_way;
mod mas_admin;
mod oauth;
mod oauth_browser;
mod oauth_device;
mod oauth_login;
mod password;
mod room_arg;
mod room_watches;
mod rows;
mod sending;
mod session_store;
mod sso;
mod target;
mod terminal;
mod token;
mod watchdog;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use nu_plugin::{EngineInterface, Plugin, PluginCommand};
use nu_protocol::{DynamicSuggestion, HandlerGuard, SignalAction};

pub use token::{TYPE_NAME as TOKEN_TYPE_NAME, TokenValue};

use crate::client::{Client, ClientConfig, Interrupt};
use crate::discovery::Discovery;
use crate::error::{Error, InputError};
use crate::rooms::RoomWatch;
use crate::session::Session;
use crate::store::{Keyring, SessionStore, StoreError};

/// The environment variable that points discovery at a loopback test server.
pub const DISCOVERY_ORIGIN_VAR: &str = "NU_PLUGIN_MATRIX_DISCOVERY_ORIGIN";

/// The plugin. It keeps one [`Client`] per homeserver for as long as the plugin process lives,
/// so calls in one Nushell session reuse their connections.
/// The plugin's state. Clones share it: a stream that outlives its command's call (`matrix
/// listen`) keeps one.
#[derive(Default, Clone)]
pub struct MatrixPlugin {
    clients: Arc<Mutex<HashMap<(String, ClientConfig), Client>>>,
    /// Keeps the Ctrl-C handler that stops the clients' requests in flight.
    on_interrupt: Arc<OnceLock<HandlerGuard>>,
    /// Sessions renewed by a refresh in this process, by the refresh token they replaced, so
    /// that an unsaved session refreshed by one call is not refreshed again by the next.
    renewed: Arc<Mutex<HashMap<String, Session>>>,
    /// In example mode ([`MatrixPlugin::for_examples`]): its own store, and no network.
    example_store: Option<SessionStore>,
    /// Joined rooms offered as completions, by session, with when they were asked for.
    completion_rooms: Arc<Mutex<HashMap<String, KeptRooms>>>,
    /// What `matrix send` knows of rooms, by homeserver and user (see `room_watches.rs`).
    room_watches: Arc<Mutex<HashMap<(String, String), RoomWatch>>>,
    /// The system keyring, connected on first use and kept (see `store/keyring.rs`).
    keyring: Keyring,
    /// Set when the Nushell that started the plugin is gone (see `watchdog.rs`).
    orphaned: Arc<AtomicBool>,
    /// The crypto of each device a command met encryption with (see `e2ee.rs`).
    cryptos: e2ee::OpenCryptos,
    /// The books of `matrix listen --ack` listeners (see `acks.rs`).
    ack_books: acks::AckBooks,
}

/// Stops the requests in flight of every client in the pool.
fn stop_all(clients: &Mutex<HashMap<(String, ClientConfig), Client>>) {
    let clients = clients.lock().unwrap_or_else(PoisonError::into_inner);
    for client in clients.values() {
        client.interrupt();
    }
}

/// Rooms offered as completions, and when they were asked for.
type KeptRooms = (Instant, Vec<DynamicSuggestion>);

impl MatrixPlugin {
    /// A plugin with no connections yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The client for `homeserver` (a base URL) with these settings, made on first use (its
    /// connections are kept), giving up when `interrupt` says so.
    pub(crate) fn client(
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

    /// Server discovery with these settings. The environment variable
    /// `NU_PLUGIN_MATRIX_DISCOVERY_ORIGIN` replaces `https://<hostname>` for the well-known
    /// lookup, for test servers on loopback addresses only.
    pub(crate) fn discovery(
        &self,
        config: &ClientConfig,
        interrupt: Interrupt,
    ) -> Result<Discovery, Error> {
        self.online()?;
        let discovery = Discovery::new(config)?
            .allow_http(config.allow_http)
            .with_interrupt(interrupt);
        match std::env::var(DISCOVERY_ORIGIN_VAR) {
            Ok(origin) => discovery.with_loopback_origin(&origin),
            Err(_) => Ok(discovery),
        }
    }
}

impl MatrixPlugin {
    /// The rooms kept for completions of the session `key`, and when they were asked for.
    pub(crate) fn kept_rooms(&self, key: &str) -> Option<(Instant, Vec<DynamicSuggestion>)> {
        let kept = self
            .completion_rooms
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        kept.get(key).cloned()
    }

    /// Keeps the rooms of the session `key` for completions.
    pub(crate) fn keep_rooms(&self, key: String, at: Instant, rooms: Vec<DynamicSuggestion>) {
        self.completion_rooms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, (at, rooms));
    }

    /// The session store at its usual place, with the system keyring (in example mode, the
    /// example store, which keeps everything in its file).
    pub(crate) fn store(&self) -> Result<SessionStore, StoreError> {
        match &self.example_store {
            Some(store) => Ok(store.clone()),
            None => Ok(SessionStore::default_location()?.with_keyring(self.keyring.clone())),
        }
    }

    /// Refuses requests to homeservers in example mode.
    fn online(&self) -> Result<(), Error> {
        match self.example_store {
            Some(_) => Err(Error::Input(InputError::new(
                "example mode sends no request to a homeserver",
                "run the example in a real Nushell with a real homeserver",
            ))),
            None => Ok(()),
        }
    }
}

impl MatrixPlugin {
    /// Stops every request in flight, on every client.
    pub(crate) fn stop_requests(&self) {
        stop_all(&self.clients);
    }

    /// Ctrl-C in Nushell, or Nushell gone (see `watchdog.rs`), as a check for the clients and
    /// every wait. On first use, also registers a handler that stops the requests in flight
    /// when Ctrl-C comes (see [`Client::with_interrupt`]).
    pub(crate) fn interrupt_of(&self, engine: &EngineInterface) -> Interrupt {
        if self.on_interrupt.get().is_none() {
            let clients = self.clients.clone();
            let handler = Box::new(move |action: SignalAction| {
                if matches!(action, SignalAction::Interrupt) {
                    stop_all(&clients);
                }
            });
            // Without a handler, requests still stop at their time-outs; nothing to report.
            if let Ok(guard) = engine.register_signal_handler(handler) {
                // A concurrent first call may have registered one too; either one will do.
                let _ = self.on_interrupt.set(guard);
            }
        }
        let signals = engine.signals().clone();
        let orphaned = self.orphaned.clone();
        Arc::new(move || signals.interrupted() || orphaned.load(Ordering::Relaxed))
    }
}

impl Plugin for MatrixPlugin {
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").into()
    }

    fn commands(&self) -> Vec<Box<dyn PluginCommand<Plugin = Self>>> {
        vec![
            Box::new(commands::MATRIX),
            Box::new(commands::Login),
            Box::new(commands::TOKEN),
            Box::new(commands::TokenReveal),
            Box::new(commands::TokenSave),
            Box::new(commands::TokenImport),
            Box::new(commands::TokenLoginToken),
            Box::new(commands::Whoami),
            Box::new(commands::Logout),
            Box::new(commands::Refresh),
            Box::new(commands::Devices),
            Box::new(commands::DevicesRename),
            Box::new(commands::DevicesDelete),
            Box::new(commands::SESSION),
            Box::new(commands::SessionSave),
            Box::new(commands::SessionList),
            Box::new(commands::SessionGet),
            Box::new(commands::SessionUse),
            Box::new(commands::SessionRemove),
            Box::new(commands::SessionMove),
            Box::new(commands::Discover),
            Box::new(commands::Flows),
            Box::new(commands::Config),
            Box::new(commands::Register),
            Box::new(commands::Api),
            Box::new(commands::Rooms),
            Box::new(commands::Join),
            Box::new(commands::SendMessage),
            Box::new(commands::React),
            Box::new(commands::Edit),
            Box::new(commands::Redact),
            Box::new(commands::Download),
            Box::new(commands::Messages),
            Box::new(commands::Listen),
            Box::new(commands::ListenAck),
            Box::new(commands::E2EE),
            Box::new(commands::E2eeStatus),
            Box::new(commands::E2eeBootstrap),
            Box::new(commands::E2eeRecover),
            Box::new(commands::E2eeVerify),
            Box::new(commands::E2eeWithdraw),
            Box::new(commands::ADMIN),
            Box::new(commands::AdminSession),
            Box::new(commands::AdminLoginAs),
            Box::new(commands::AdminToken),
            Box::new(commands::AdminTokens),
            Box::new(commands::AdminRevoke),
        ]
    }
}
