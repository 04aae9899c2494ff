//! The system's secret store, where saved sessions may keep their tokens instead of the file:
//! the Secret Service on Linux and the BSDs (GNOME Keyring, KWallet, KeePassXC), the login
//! Keychain on macOS, through the `keyring-core` crate and its store for each platform.
//!
//! One item per saved session holds its access and refresh tokens (a small JSON object), and one
//! per saved MAS admin client its client secret. Items
//! have the service `nu_plugin_matrix` and, as their user, a key that the session file keeps as
//! the session's reference: the session's name and a random suffix, so that two session files
//! (two config folders) never share an item. The Secret Service shows each item under a label
//! that names the session and its user.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::Duration;

use keyring_core::Error as KeyringCoreError;
use keyring_core::api::CredentialStore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::secret::{AccessToken, Password, unique_hex};

/// The service of every item this program makes.
pub const SERVICE: &str = "nu_plugin_matrix";

/// How long connecting to the system's store may take before it counts as absent.
pub const CONNECT_BOUND: Duration = Duration::from_secs(3);

/// A session's tokens: what a keyring item holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    /// The access token.
    pub access_token: AccessToken,
    /// The refresh token, if the session has one.
    pub refresh_token: Option<AccessToken>,
    /// The key of the device's crypto store (end-to-end encryption), once it has one.
    pub crypto_store_key: Option<Password>,
}

/// What an item can hold: its secret is this thing as a small JSON object.
pub trait ItemContent: Sized {
    /// What the item holds, in a few words, for errors.
    const WHAT: &'static str;
    /// The item's secret.
    fn to_secret(&self) -> Zeroizing<Vec<u8>>;
    /// The thing from an item's secret; `None` when it holds something else.
    fn from_secret(secret: &[u8]) -> Option<Self>;
}

/// The tokens as an item's secret.
#[derive(Serialize, Deserialize)]
struct TokensSecret {
    access_token: Zeroizing<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<Zeroizing<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crypto_store_key: Option<Zeroizing<String>>,
}

impl ItemContent for Tokens {
    const WHAT: &'static str = "a session's tokens";

    fn to_secret(&self) -> Zeroizing<Vec<u8>> {
        let secret = TokensSecret {
            access_token: Zeroizing::new(self.access_token.reveal().to_owned()),
            refresh_token: self
                .refresh_token
                .as_ref()
                .map(|token| Zeroizing::new(token.reveal().to_owned())),
            crypto_store_key: self
                .crypto_store_key
                .as_ref()
                .map(|key| Zeroizing::new(key.expose().to_owned())),
        };
        Zeroizing::new(serde_json::to_vec(&secret).expect("plain data serialises"))
    }

    fn from_secret(secret: &[u8]) -> Option<Self> {
        let secret: TokensSecret = serde_json::from_slice(secret).ok()?;
        Some(Self {
            access_token: AccessToken::new(secret.access_token.to_string()),
            refresh_token: secret
                .refresh_token
                .map(|token| AccessToken::new(token.to_string())),
            crypto_store_key: secret
                .crypto_store_key
                .map(|key| Password::new(key.to_string())),
        })
    }
}

/// A MAS admin client's secret as an item's secret.
#[derive(Serialize, Deserialize)]
struct ClientSecret {
    client_secret: Zeroizing<String>,
}

impl ItemContent for Password {
    const WHAT: &'static str = "an admin client's secret";

    fn to_secret(&self) -> Zeroizing<Vec<u8>> {
        let secret = ClientSecret {
            client_secret: Zeroizing::new(self.expose().to_owned()),
        };
        Zeroizing::new(serde_json::to_vec(&secret).expect("plain data serialises"))
    }

    fn from_secret(secret: &[u8]) -> Option<Self> {
        let secret: ClientSecret = serde_json::from_slice(secret).ok()?;
        Some(Password::new(secret.client_secret.to_string()))
    }
}

/// What went wrong with the system's store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyringFailure {
    /// No store answered: no Secret Service on the session bus, no session bus, or no answer
    /// within the bound.
    Unavailable,
    /// The store is locked, and unlocking it was refused or could not be asked for.
    Locked,
    /// The item is not there (deleted by hand, or the file came from another machine).
    Missing,
    /// The item holds something other than what it should (a session's tokens, a secret).
    Damaged,
    /// Anything else the store reported.
    Failed,
}

/// A failure of the system's store, with the store's own words (never a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyringError {
    /// Which kind of failure.
    pub failure: KeyringFailure,
    /// What the store said.
    pub detail: String,
}

impl std::fmt::Display for KeyringError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for KeyringError {}

impl From<KeyringCoreError> for KeyringError {
    fn from(err: KeyringCoreError) -> Self {
        let failure = match &err {
            KeyringCoreError::NoEntry => KeyringFailure::Missing,
            KeyringCoreError::NoStorageAccess(_) => KeyringFailure::Locked,
            KeyringCoreError::NoDefaultStore => KeyringFailure::Unavailable,
            KeyringCoreError::BadEncoding(_) | KeyringCoreError::BadDataFormat(..) => {
                KeyringFailure::Damaged
            }
            _ => KeyringFailure::Failed,
        };
        // The variants that carry bytes would print them: they may be a secret.
        let detail = match &err {
            KeyringCoreError::BadEncoding(_) | KeyringCoreError::BadDataFormat(..) => {
                "the item's secret is not in the expected format".to_owned()
            }
            KeyringCoreError::Ambiguous(_) => "more than one item matches".to_owned(),
            other => other.to_string(),
        };
        Self { failure, detail }
    }
}

/// The system's secret store, connected on first use and kept for the life of the process.
/// Clones share the connection.
#[derive(Clone, Default)]
pub struct Keyring {
    store: Arc<Mutex<Option<Arc<CredentialStore>>>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyring")
    }
}

impl Keyring {
    /// A handle on the platform's store; nothing is connected yet.
    pub fn system() -> Self {
        Self::default()
    }

    /// Connects, if not yet connected, within [`CONNECT_BOUND`]. A failure is not kept: the
    /// next call tries again (a keyring daemon may have started meanwhile).
    pub fn connect(&self) -> Result<(), KeyringError> {
        self.store().map(drop)
    }

    fn store(&self) -> Result<Arc<CredentialStore>, KeyringError> {
        let mut slot = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(store) = slot.as_ref() {
            return Ok(store.clone());
        }
        // A bus that never answers would hang the caller: connect on a thread of its own.
        let (sender, receiver) = mpsc::channel();
        std::thread::Builder::new()
            .name("keyring connect".into())
            .spawn(move || {
                let _ = sender.send(platform_store());
            })
            .map_err(|err| KeyringError {
                failure: KeyringFailure::Failed,
                detail: format!("no thread to connect with: {err}"),
            })?;
        let store = match receiver.recv_timeout(CONNECT_BOUND) {
            Ok(Ok(store)) => store,
            Ok(Err(err)) => {
                return Err(KeyringError {
                    failure: KeyringFailure::Unavailable,
                    detail: err.to_string(),
                });
            }
            Err(_) => {
                return Err(KeyringError {
                    failure: KeyringFailure::Unavailable,
                    detail: format!("no answer within {} s", CONNECT_BOUND.as_secs()),
                });
            }
        };
        *slot = Some(store.clone());
        Ok(store)
    }

    fn entry(&self, key: &str, label: Option<&str>) -> Result<keyring_core::Entry, KeyringError> {
        let store = self.store()?;
        let mut modifiers = HashMap::new();
        if let Some(label) = label.filter(|_| LABELS) {
            modifiers.insert("label", label);
        }
        let built = store.build(SERVICE, key, Some(&modifiers));
        built.map_err(|err| self.forget_on_failure(err.into()))
    }

    /// A store whose connection broke (the daemon restarted) is dropped, so that the next call
    /// connects anew.
    fn forget_on_failure(&self, err: KeyringError) -> KeyringError {
        if err.failure == KeyringFailure::Failed {
            *self.store.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
        err
    }

    /// What the item under `key` holds: a session's tokens, or an admin client's secret.
    pub fn read<T: ItemContent>(&self, key: &str) -> Result<T, KeyringError> {
        let entry = self.entry(key, None)?;
        let bytes = Zeroizing::new(
            entry
                .get_secret()
                .map_err(|err| self.forget_on_failure(err.into()))?,
        );
        T::from_secret(&bytes).ok_or_else(|| KeyringError {
            failure: KeyringFailure::Damaged,
            detail: format!("the item's secret is not {}", T::WHAT),
        })
    }

    /// Writes `content` under `key`: a new item named `label`, or the existing item's secret
    /// replaced in one step.
    pub fn write<T: ItemContent>(
        &self,
        key: &str,
        label: &str,
        content: &T,
    ) -> Result<(), KeyringError> {
        let entry = self.entry(key, Some(label))?;
        entry
            .set_secret(&content.to_secret())
            .map_err(|err| self.forget_on_failure(err.into()))
    }

    /// Deletes the item under `key`; an item already gone is no failure.
    pub fn delete(&self, key: &str) -> Result<(), KeyringError> {
        match self.entry(key, None)?.delete_credential() {
            Ok(()) | Err(KeyringCoreError::NoEntry) => Ok(()),
            Err(err) => Err(self.forget_on_failure(err.into())),
        }
    }
}

/// A new key for a session's item: its name and 8 random bytes in hex.
pub fn new_key(name: &str) -> String {
    format!("{name} {}", unique_hex::<8>())
}

/// The label a person sees in their keyring app.
pub fn label(name: &str, user_id: &str) -> String {
    format!("Matrix session '{name}' of {user_id} (nu_plugin_matrix)")
}

/// The label of a saved MAS admin client's item.
pub fn admin_label(name: &str, client_id: &str) -> String {
    format!("MAS admin client '{name}' ({client_id}, nu_plugin_matrix)")
}

/// Whether the platform's store takes a label (the Secret Service does; the Keychain names an
/// item by its service and account).
const LABELS: bool = cfg!(not(target_os = "macos"));

#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
fn platform_store() -> Result<Arc<CredentialStore>, KeyringCoreError> {
    let store: Arc<CredentialStore> = zbus_secret_service_keyring_store::Store::new()?;
    Ok(store)
}

#[cfg(target_os = "macos")]
fn platform_store() -> Result<Arc<CredentialStore>, KeyringCoreError> {
    let store: Arc<CredentialStore> = apple_native_keyring_store::keychain::Store::new()?;
    Ok(store)
}

#[cfg(not(any(
    target_os = "macos",
    all(
        unix,
        not(any(target_os = "macos", target_os = "ios", target_os = "android"))
    )
)))]
fn platform_store() -> Result<Arc<CredentialStore>, KeyringCoreError> {
    Err(KeyringCoreError::NoDefaultStore)
}
