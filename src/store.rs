//! Saved sessions: one JSON file in the user's config folder, and their tokens in it or in the
//! system's keyring.
//!
//! The file is `$XDG_CONFIG_HOME/nu_plugin_matrix/sessions.json` (`~/.config/...` when
//! `XDG_CONFIG_HOME` is unset; the platform's config folder elsewhere). It may hold tokens in
//! plain text, so it is created with mode 0600 from the start (its folder 0700), every write
//! replaces it atomically (a new 0600 file, then a rename), and writers take an exclusive lock on
//! a lock file beside it, so that concurrent pipelines never lose each other's changes. A file
//! that cannot be read or parsed is reported, naming it, and never overwritten.
//!
//! A session saved to the keyring (`saved`, `keyring`) keeps everything but its tokens in the
//! file, and the key of the keyring item that holds them.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::listen::Position;
use crate::secret::Password;

mod admin;
mod crypto_key;
mod file;
pub mod keyring;
mod listener_lock;
mod moves;
mod saved;

use file::{FORMAT_VERSION, StoredFile};
pub use keyring::{Keyring, KeyringError, KeyringFailure, Tokens};
pub use listener_lock::{ListenerLock, ListenerLockError};
pub use saved::{Kept, Saved, SavedSession, Secrets, SecretsAt, SecretsSetting};

/// Why the session file could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    /// The file (or folder) concerned.
    pub path: PathBuf,
    /// What went wrong.
    pub problem: String,
    /// What to do about it.
    pub hint: String,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} ({})",
            self.path.display(),
            self.problem,
            self.hint
        )
    }
}

impl std::error::Error for StoreError {}

/// The saved sessions, by name, and which one is the default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SavedSessions {
    /// The name of the default session.
    pub default: Option<String>,
    /// The sessions, by name.
    pub sessions: BTreeMap<String, SavedSession>,
    /// This program's OAuth 2.0 `client_id` at each server it registered with, by issuer, so
    /// that it registers once per server.
    pub oauth_clients: BTreeMap<String, String>,
    /// The saved sessions whose refresh token their server refused: kept, so that nothing the
    /// user had is lost, but marked until a new login is saved under the name.
    pub needs_login: BTreeSet<String>,
    /// MAS admin clients (the client credentials grant), by name: what gets them a fresh admin
    /// token, secret included.
    pub admin_clients: BTreeMap<String, SavedAdminClient>,
    /// Where `matrix listen --since saved` goes on, by the name of the saved session whose
    /// listener handed its events out.
    pub listened: BTreeMap<String, Listened>,
}

/// How far a saved session's listener got, and whose session it was (a position means
/// nothing to another user's or server's sync).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listened {
    /// The session's user.
    pub user_id: String,
    /// The session's homeserver.
    pub homeserver: String,
    /// Past the events handed out.
    pub position: Position,
}

/// A MAS admin client, saved: enough to ask for a fresh `urn:mas:admin` token. `Debug` does not
/// show the secret, which is in the file or in the system keyring (as a session's tokens are).
#[derive(Debug, Clone)]
pub struct SavedAdminClient {
    /// The homeserver's base URL.
    pub homeserver: String,
    /// The server name of its users.
    pub home_server: String,
    /// MAS's issuer.
    pub issuer: String,
    /// Its token endpoint.
    pub token_endpoint: String,
    /// The client's ID.
    pub client_id: String,
    /// The client's secret, or where it is ([`SessionStore::open_admin_client`] reads it).
    pub client_secret: Kept<Password>,
}

impl PartialEq for SavedAdminClient {
    fn eq(&self, other: &Self) -> bool {
        self.stored() == other.stored()
    }
}

impl Eq for SavedAdminClient {}

impl SavedSessions {
    /// Makes `name` the default when `force` is set or the default names no saved session or
    /// admin client (the first one saved becomes it). Returns whether `name` is the default.
    pub(crate) fn take_default(&mut self, name: &str, force: bool) -> bool {
        let missing = self.default.as_ref().is_none_or(|default| {
            !self.sessions.contains_key(default) && !self.admin_clients.contains_key(default)
        });
        if force || missing {
            self.default = Some(name.to_owned());
        }
        self.default.as_deref() == Some(name)
    }

    /// The default session, with its name.
    pub fn default_session(&self) -> Option<(&str, &SavedSession)> {
        let name = self.default.as_deref()?;
        self.sessions.get(name).map(|session| (name, session))
    }
}

/// The session file, and the keyring its sessions' tokens may be in.
#[derive(Debug, Clone)]
pub struct SessionStore {
    path: PathBuf,
    keyring: Option<Keyring>,
}

impl SessionStore {
    /// A store at this path, with no keyring: every session's tokens are in the file.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            keyring: None,
        }
    }

    /// The same store, with `keyring` for the sessions whose tokens are in one.
    pub fn with_keyring(mut self, keyring: Keyring) -> Self {
        self.keyring = Some(keyring);
        self
    }

    /// The store at its usual place: `nu_plugin_matrix/sessions.json` in the config folder.
    pub fn default_location() -> Result<Self, StoreError> {
        let Some(config) = dirs::config_dir() else {
            return Err(StoreError {
                path: PathBuf::from("~/.config"),
                problem: "no config folder could be found (HOME is not set)".into(),
                hint: "set HOME or XDG_CONFIG_HOME".into(),
            });
        };
        Ok(Self::new(
            config.join("nu_plugin_matrix").join("sessions.json"),
        ))
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the saved sessions. A missing file is an empty store. Tokens kept in the keyring
    /// are not read: [`SessionStore::open`] reads one session's.
    pub fn load(&self) -> Result<SavedSessions, StoreError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(err) if err.kind() == ErrorKind::NotFound => return Ok(SavedSessions::default()),
            Err(err) => {
                return Err(self.error(format!("cannot be read: {err}"), "check its permissions"));
            }
        };
        let file: StoredFile = serde_json::from_slice(&bytes).map_err(|err| {
            // serde's message could quote a value (a token): say only where it broke.
            self.error(
                format!(
                    "is not a valid session file (broken at line {}, column {})",
                    err.line(),
                    err.column()
                ),
                "fix or remove the file; it is left as it is",
            )
        })?;
        if !(1..=FORMAT_VERSION).contains(&file.version) {
            return Err(self.error(
                format!(
                    "has format version {}, this plugin reads 1 to {FORMAT_VERSION}",
                    file.version
                ),
                "use the plugin version that wrote it, or remove the file",
            ));
        }
        file.into_saved()
            .map_err(|problem| self.error(problem, "fix or remove the file; it is left as it is"))
    }

    /// Changes the saved sessions under an exclusive lock: reads them, lets `change` edit them,
    /// and writes them back if they changed. `change` may make network calls (a refresh), and
    /// other writers wait meanwhile. An error from `change` leaves the file as it was.
    pub fn update<T, E: From<StoreError>>(
        &self,
        change: impl FnOnce(&mut SavedSessions) -> Result<T, E>,
    ) -> Result<T, E> {
        let folder = self.folder();
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(folder)
            .map_err(|err| {
                self.error(
                    format!("its folder cannot be created: {err}"),
                    "check the permissions of the config folder",
                )
            })?;
        let lock = self.lock()?;
        let mut sessions = self.load()?;
        let before = sessions.clone();
        let result = change(&mut sessions)?;
        if sessions != before {
            self.write(&sessions)?;
        }
        drop(lock);
        Ok(result)
    }

    fn folder(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// An exclusive lock on `<file>.lock`, held until the returned file is dropped.
    fn lock(&self) -> Result<File, StoreError> {
        let mut name = self.path.file_name().unwrap_or_default().to_owned();
        name.push(".lock");
        let path = self.path.with_file_name(name);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|err| StoreError {
                path: path.clone(),
                problem: format!("the lock file cannot be opened: {err}"),
                hint: "check the permissions of the config folder".into(),
            })?;
        file.lock().map_err(|err| StoreError {
            path,
            problem: format!("the lock cannot be taken: {err}"),
            hint: "is the config folder on a file system without locks?".into(),
        })?;
        Ok(file)
    }

    /// Writes a new 0600 file beside the old one and renames it over.
    fn write(&self, sessions: &SavedSessions) -> Result<(), StoreError> {
        let file = StoredFile::of(sessions);
        let mut bytes =
            Zeroizing::new(serde_json::to_vec_pretty(&file).expect("plain data serialises"));
        bytes.push(b'\n');
        let write_error = |err: std::io::Error| {
            self.error(
                format!("cannot be written: {err}"),
                "check the free space and the permissions of the config folder",
            )
        };
        // tempfile creates the file with mode 0600 (O_EXCL), before anything is written to it.
        let mut temp = tempfile::Builder::new()
            .prefix(".sessions.")
            .suffix(".tmp")
            .tempfile_in(self.folder())
            .map_err(write_error)?;
        temp.write_all(&bytes).map_err(write_error)?;
        temp.as_file().sync_all().map_err(write_error)?;
        temp.persist(&self.path)
            .map_err(|err| write_error(err.error))?;
        Ok(())
    }

    fn error(&self, problem: String, hint: &str) -> StoreError {
        StoreError {
            path: self.path.clone(),
            problem: format!("the session file {problem}"),
            hint: hint.into(),
        }
    }
}

/// True when `at` has passed, or will within `margin`.
pub fn expired(at: Option<SystemTime>, margin: Duration) -> bool {
    at.is_some_and(|at| at <= SystemTime::now() + margin)
}

#[cfg(test)]
mod tests;
