//! The Nushell plugin: commands that parse arguments, call the library (the [`crate::bot`] API
//! and the [`crate::Client`]), and turn its answers and errors into Nushell values and labelled
//! errors.

mod active;
mod browser;
pub mod commands;
mod completion;
mod config;
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
mod oauth_registry;
mod password;
mod room_arg;
mod rows;
mod sending;
mod session_store;
mod sso;
mod target;
mod terminal;
mod token;
mod watchdog;

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use nu_plugin::{EngineInterface, Plugin, PluginCommand};
use nu_protocol::{DynamicSuggestion, HandlerGuard, SignalAction};

pub use token::{TYPE_NAME as TOKEN_TYPE_NAME, TokenValue};

use crate::bot::Hub;
use crate::client::{ClientConfig, Interrupt};
use crate::discovery::Discovery;
use crate::error::Error;

/// The environment variable that points discovery at a loopback test server.
pub const DISCOVERY_ORIGIN_VAR: &str = "NU_PLUGIN_MATRIX_DISCOVERY_ORIGIN";

/// The plugin's state: the library's [`Hub`] (pooled clients, the session store and keyring,
/// crypto, room watches, ack books), which it derefs to, and what only Nushell needs. Clones
/// share it: a stream that outlives its command's call (`matrix listen`) keeps one.
#[derive(Default, Clone)]
pub struct MatrixPlugin {
    hub: Hub,
    /// Keeps the Ctrl-C handler that stops the clients' requests in flight.
    on_interrupt: Arc<OnceLock<HandlerGuard>>,
    /// Joined rooms offered as completions, by session, with when they were asked for.
    completion_rooms: Arc<Mutex<HashMap<String, KeptRooms>>>,
    /// Set when the Nushell that started the plugin is gone (see `watchdog.rs`).
    orphaned: Arc<AtomicBool>,
}

impl Deref for MatrixPlugin {
    type Target = Hub;

    fn deref(&self) -> &Hub {
        &self.hub
    }
}

/// Rooms offered as completions, and when they were asked for.
type KeptRooms = (Instant, Vec<DynamicSuggestion>);

impl MatrixPlugin {
    /// A plugin with no connections yet.
    pub fn new() -> Self {
        Self::default()
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
}

impl MatrixPlugin {
    /// Ctrl-C in Nushell, or Nushell gone (see `watchdog.rs`), as a check for the clients and
    /// every wait. On first use, also registers a handler that stops the requests in flight
    /// when Ctrl-C comes (see [`crate::Client::with_interrupt`]).
    pub(crate) fn interrupt_of(&self, engine: &EngineInterface) -> Interrupt {
        if self.on_interrupt.get().is_none() {
            let hub = self.hub.clone();
            let handler = Box::new(move |action: SignalAction| {
                if matches!(action, SignalAction::Interrupt) {
                    hub.stop_requests();
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
