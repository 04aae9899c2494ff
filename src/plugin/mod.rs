//! The Nushell plugin: commands that parse arguments, call the [`crate::Client`], and turn its
//! answers and errors into Nushell values and labelled errors.

mod active;
pub mod commands;
mod errors;
mod password;
mod session_store;
mod token;

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use nu_plugin::{Plugin, PluginCommand};

pub use token::{TYPE_NAME as TOKEN_TYPE_NAME, TokenValue};

use crate::client::{Client, ClientConfig};
use crate::error::Error;
use crate::session::Session;
use crate::store::{SessionStore, StoreError};

/// The plugin. It keeps one [`Client`] per homeserver for as long as the plugin process lives,
/// so calls in one Nushell session reuse their connections.
#[derive(Default)]
pub struct MatrixPlugin {
    clients: Mutex<HashMap<String, Client>>,
    /// Sessions renewed by a refresh in this process, by the refresh token they replaced, so
    /// that an unsaved session refreshed by one call is not refreshed again by the next.
    renewed: Mutex<HashMap<String, Session>>,
}

impl MatrixPlugin {
    /// A plugin with no connections yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The client for `homeserver` (a base URL), made on first use.
    pub(crate) fn client(&self, homeserver: &str) -> Result<Client, Error> {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = clients.get(homeserver) {
            return Ok(client.clone());
        }
        let client = Client::with_config(homeserver, &ClientConfig::default())?;
        clients.insert(homeserver.to_owned(), client.clone());
        Ok(client)
    }
}

impl MatrixPlugin {
    /// The session store at its usual place.
    pub(crate) fn store(&self) -> Result<SessionStore, StoreError> {
        SessionStore::default_location()
    }
}

impl Plugin for MatrixPlugin {
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").into()
    }

    fn commands(&self) -> Vec<Box<dyn PluginCommand<Plugin = Self>>> {
        vec![
            Box::new(commands::Matrix),
            Box::new(commands::Login),
            Box::new(commands::Token),
            Box::new(commands::TokenReveal),
            Box::new(commands::TokenImport),
            Box::new(commands::Whoami),
            Box::new(commands::Logout),
            Box::new(commands::Refresh),
            Box::new(commands::Devices),
            Box::new(commands::DevicesRename),
            Box::new(commands::DevicesDelete),
            Box::new(commands::SessionCommand),
            Box::new(commands::SessionSave),
            Box::new(commands::SessionList),
            Box::new(commands::SessionGet),
            Box::new(commands::SessionUse),
            Box::new(commands::SessionRemove),
        ]
    }
}
