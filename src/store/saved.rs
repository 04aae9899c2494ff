//! One saved session, where its tokens are, and the store's work with the keyring: saving,
//! opening, renewing and forgetting a session's tokens (moving them is `moves.rs`, the key of its
//! crypto store `crypto_key.rs`).
//!
//! The order of each step keeps the tokens somewhere at every moment: a keyring item is written
//! before the file names it, and deleted only after the file no longer needs it.

use std::time::SystemTime;

use super::keyring::{self, ItemContent, Keyring, KeyringError, KeyringFailure, Tokens};
use super::{SessionStore, StoreError};
use crate::ids::UserId;
use crate::session::{OAuthClient, Session};

/// A saved session as the file has it: all of it, and its tokens or where they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedSession {
    /// The full user ID.
    pub user_id: UserId,
    /// The session's device.
    pub device_id: String,
    /// The server name.
    pub home_server: String,
    /// The homeserver's base URL.
    pub homeserver: String,
    /// When the access token expires.
    pub expires_at: Option<SystemTime>,
    /// For a session of an OAuth 2.0 login: what refresh and revocation need.
    pub oauth: Option<OAuthClient>,
    /// The tokens, or where they are.
    pub secrets: Secrets,
}

/// A secret of a saved entry (a session's tokens, an admin client's secret), or where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept<T> {
    /// In the session file.
    File(T),
    /// In the system keyring, in the item of this key.
    Keyring {
        /// The item's key (its user attribute).
        key: String,
    },
}

impl<T> Kept<T> {
    /// Where it is.
    pub fn at(&self) -> SecretsAt {
        match self {
            Self::File(_) => SecretsAt::File,
            Self::Keyring { .. } => SecretsAt::Keyring,
        }
    }
}

/// A saved session's tokens, or where they are.
pub type Secrets = Kept<Tokens>;

/// Where a session's tokens are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretsAt {
    /// The session file.
    File,
    /// The system keyring.
    Keyring,
}

impl SecretsAt {
    /// `file` or `keyring`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Keyring => "keyring",
        }
    }
}

/// Where newly saved tokens go (the `secrets` setting).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SecretsSetting {
    /// The keyring when one answers (and takes the item), else the file.
    #[default]
    Auto,
    /// The keyring; without one, saving is an error.
    Keyring,
    /// The file.
    File,
}

impl SecretsSetting {
    /// `auto`, `keyring` or `file`, as the setting is written.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Keyring => "keyring",
            Self::File => "file",
        }
    }
}

impl SavedSession {
    /// `session`, with its tokens at `secrets`.
    pub fn new(session: &Session, secrets: Secrets) -> Self {
        Self {
            user_id: session.user_id.clone(),
            device_id: session.device_id.clone(),
            home_server: session.home_server.clone(),
            homeserver: session.homeserver.clone(),
            expires_at: session.expires_at,
            oauth: session.oauth.clone(),
            secrets,
        }
    }

    /// `session`, its tokens in the file.
    pub fn in_file(session: &Session) -> Self {
        Self::new(session, Secrets::File(tokens_of(session)))
    }

    /// Where its tokens are.
    pub fn secrets_at(&self) -> SecretsAt {
        self.secrets.at()
    }

    /// The session with these tokens.
    pub fn with_tokens(&self, tokens: Tokens) -> Session {
        Session {
            user_id: self.user_id.clone(),
            device_id: self.device_id.clone(),
            home_server: self.home_server.clone(),
            homeserver: self.homeserver.clone(),
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            expires_at: self.expires_at,
            oauth: self.oauth.clone(),
        }
    }
}

/// A session's tokens.
fn tokens_of(session: &Session) -> Tokens {
    Tokens {
        access_token: session.access_token.clone(),
        refresh_token: session.refresh_token.clone(),
        crypto_store_key: None,
    }
}

/// What a save did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Saved {
    /// Whether the session is now the default.
    pub is_default: bool,
    /// Where its tokens went.
    pub at: SecretsAt,
}

impl SessionStore {
    /// Where tokens saved with `setting` would go now, or why they cannot: for a check before
    /// a login, so that the login's token is not made only to be lost.
    pub fn place(&self, setting: SecretsSetting) -> Result<SecretsAt, StoreError> {
        match (setting, &self.keyring) {
            (SecretsSetting::File, _) | (SecretsSetting::Auto, None) => Ok(SecretsAt::File),
            (SecretsSetting::Auto, Some(keyring)) => Ok(match keyring.connect() {
                Ok(()) => SecretsAt::Keyring,
                Err(_) => SecretsAt::File,
            }),
            (SecretsSetting::Keyring, _) => {
                self.keyring_for(None)?
                    .connect()
                    .map_err(|err| self.no_keyring_to_save(&err))?;
                Ok(SecretsAt::Keyring)
            }
        }
    }

    /// Saves `session` as `name`, replacing a session of that name, its tokens where `setting`
    /// says. It becomes the default when `make_default` is set or no default exists. With
    /// `Auto`, a keyring that refuses the item leaves the tokens in the file.
    pub fn save(
        &self,
        name: &str,
        session: &Session,
        setting: SecretsSetting,
        make_default: bool,
    ) -> Result<Saved, StoreError> {
        let label = keyring::label(name, session.user_id.as_str());
        // A new login of the same device (`--device-id`) keeps its crypto store's key.
        let tokens = Tokens {
            crypto_store_key: self.crypto_key_of_device(name, session),
            ..tokens_of(session)
        };
        let written = self.write_new_item(name, &label, &tokens, setting)?;
        let at = if written.is_some() {
            SecretsAt::Keyring
        } else {
            SecretsAt::File
        };
        let secrets = match &written {
            Some((_, key)) => Secrets::Keyring { key: key.clone() },
            None => Secrets::File(tokens),
        };
        let entry = SavedSession::new(session, secrets);
        let result = self.update(|saved| {
            let old = saved.sessions.insert(name.to_owned(), entry);
            saved.needs_login.remove(name);
            Ok::<_, StoreError>((saved.take_default(name, make_default), old))
        });
        let (is_default, old) = match result {
            Ok(done) => done,
            Err(err) => {
                if let Some((keyring, key)) = &written {
                    let _ = keyring.delete(key);
                }
                return Err(err);
            }
        };
        // The replaced session's item: its tokens are no longer saved anywhere else.
        if let Some(old) = old {
            self.drop_secrets_quietly(&old);
        }
        Ok(Saved { is_default, at })
    }

    /// The saved session `name` with its tokens, read from the keyring if they are there.
    pub fn open(&self, name: &str, entry: &SavedSession) -> Result<Session, StoreError> {
        match &entry.secrets {
            Secrets::File(tokens) => Ok(entry.with_tokens(tokens.clone())),
            Secrets::Keyring { key } => {
                let tokens = self
                    .keyring_for(Some(name))?
                    .read(key)
                    .map_err(|err| self.keyring_error(name, &err))?;
                Ok(entry.with_tokens(tokens))
            }
        }
    }

    /// As [`SessionStore::open`], but `None` when the session is broken: its keyring item is
    /// gone or holds no tokens. A keyring that is locked or does not answer is still an error.
    pub fn open_unless_broken(
        &self,
        name: &str,
        entry: &SavedSession,
    ) -> Result<Option<Session>, StoreError> {
        let Secrets::Keyring { key } = &entry.secrets else {
            return self.open(name, entry).map(Some);
        };
        match self.keyring_for(Some(name))?.read(key) {
            Ok(tokens) => Ok(Some(entry.with_tokens(tokens))),
            Err(err)
                if matches!(
                    err.failure,
                    KeyringFailure::Missing | KeyringFailure::Damaged
                ) =>
            {
                Ok(None)
            }
            Err(err) => Err(self.keyring_error(name, &err)),
        }
    }

    /// Puts `session`'s new tokens (a refresh) into the saved entry `name`, where its tokens
    /// are: the keyring item is overwritten in one step, so the old refresh token is forgotten
    /// only once the new one is kept. For use inside [`SessionStore::update`].
    pub fn renew(
        &self,
        name: &str,
        entry: &mut SavedSession,
        session: &Session,
    ) -> Result<(), StoreError> {
        // The crypto store's key stays with the device, whatever its tokens become.
        let secrets = match &entry.secrets {
            Secrets::File(old) => Secrets::File(Tokens {
                crypto_store_key: old.crypto_store_key.clone(),
                ..tokens_of(session)
            }),
            Secrets::Keyring { key } => {
                let label = keyring::label(name, session.user_id.as_str());
                let keyring = self.keyring_for(Some(name))?;
                let crypto_store_key = match keyring.read::<Tokens>(key) {
                    Ok(old) => old.crypto_store_key,
                    Err(_) => None,
                };
                let tokens = Tokens {
                    crypto_store_key,
                    ..tokens_of(session)
                };
                keyring
                    .write(key, &label, &tokens)
                    .map_err(|err| self.keyring_error(name, &err))?;
                entry.secrets.clone()
            }
        };
        *entry = SavedSession::new(session, secrets);
        Ok(())
    }

    /// Deletes the keyring item of `entry`, if it has one (an item already gone is fine). For
    /// use inside [`SessionStore::update`], before the entry is removed.
    pub fn drop_secrets(&self, name: &str, entry: &SavedSession) -> Result<(), StoreError> {
        self.drop_kept(name, &entry.secrets)
    }

    /// Deletes the keyring item of an entry whose tokens are dead or saved elsewhere; a failure
    /// leaves an item no entry names, and nothing more is done about it.
    pub fn drop_secrets_quietly(&self, entry: &SavedSession) {
        self.drop_kept_quietly(&entry.secrets);
    }

    /// Deletes the keyring item of the entry `name`'s secret, if it is in one.
    pub(super) fn drop_kept<T>(&self, name: &str, kept: &Kept<T>) -> Result<(), StoreError> {
        match kept {
            Kept::File(_) => Ok(()),
            Kept::Keyring { key } => self
                .keyring_for(Some(name))?
                .delete(key)
                .map_err(|err| self.keyring_error(name, &err)),
        }
    }

    /// As [`SessionStore::drop_kept`], a failure ignored.
    pub(super) fn drop_kept_quietly<T>(&self, kept: &Kept<T>) {
        if let (Kept::Keyring { key }, Some(keyring)) = (kept, &self.keyring) {
            let _ = keyring.delete(key);
        }
    }

    /// Writes `content` into a new keyring item for the entry `name` when `setting` puts it in
    /// the keyring, and returns the keyring and the item's key; `None` when it goes into the
    /// file (where `Auto` also puts it when the keyring refuses the item).
    pub(super) fn write_new_item<T: ItemContent>(
        &self,
        name: &str,
        label: &str,
        content: &T,
        setting: SecretsSetting,
    ) -> Result<Option<(&Keyring, String)>, StoreError> {
        if self.place(setting)? == SecretsAt::File {
            return Ok(None);
        }
        let keyring = self.keyring_for(Some(name))?;
        let key = keyring::new_key(name);
        match keyring.write(&key, label, content) {
            Ok(()) => Ok(Some((keyring, key))),
            Err(_) if setting == SecretsSetting::Auto => Ok(None),
            Err(err) => Err(self.no_keyring_to_save(&err)),
        }
    }

    pub(super) fn keyring_for(&self, name: Option<&str>) -> Result<&Keyring, StoreError> {
        self.keyring.as_ref().ok_or_else(|| StoreError {
            path: self.path.clone(),
            problem: match name {
                Some(name) => format!(
                    "the tokens of saved session '{name}' are in the system keyring, and this \
                     program was given none"
                ),
                None => "this program was given no system keyring".to_owned(),
            },
            hint: "give the store a keyring (SessionStore::with_keyring)".into(),
        })
    }

    pub(super) fn no_keyring_to_save(&self, err: &KeyringError) -> StoreError {
        StoreError {
            path: self.path.clone(),
            problem: format!(
                "the setting secrets: keyring asks for the system keyring, which cannot take \
                 the tokens ({err})"
            ),
            hint: "start a keyring (on Linux a Secret Service, such as GNOME Keyring, in this \
                   desktop session), or set $env.config.plugins.matrix.secrets to \"file\" or \
                   \"auto\""
                .into(),
        }
    }

    pub(super) fn keyring_error(&self, name: &str, err: &KeyringError) -> StoreError {
        let kept = "the session is kept as it is";
        let broken = format!(
            "it was deleted outside this plugin, or the session file came from another \
             machine. The entry is kept: log in again and save under its name (`matrix login \
             ... --save {name}`), or remove it (`matrix session remove {name}`)"
        );
        let (problem, hint) = match err.failure {
            KeyringFailure::Unavailable => (
                format!(
                    "the system keyring, which holds the tokens of saved session '{name}', does \
                     not answer ({err})"
                ),
                format!(
                    "start it (on Linux, the Secret Service of your desktop session, such as \
                     GNOME Keyring) and run the command again; {kept}"
                ),
            ),
            KeyringFailure::Locked => (
                format!(
                    "the system keyring, which holds the tokens of saved session '{name}', is \
                     locked ({err})"
                ),
                format!("unlock it and run the command again; {kept}"),
            ),
            KeyringFailure::Missing => (
                format!(
                    "saved session '{name}' is broken: the system keyring has no item with its \
                     tokens"
                ),
                broken,
            ),
            KeyringFailure::Damaged => (
                format!(
                    "saved session '{name}' is broken: its item in the system keyring holds no \
                     tokens ({err})"
                ),
                broken,
            ),
            KeyringFailure::Failed => (
                format!(
                    "the system keyring failed with the tokens of saved session '{name}' ({err})"
                ),
                format!("run the command again; {kept}"),
            ),
        };
        StoreError {
            path: self.path.clone(),
            problem,
            hint,
        }
    }
}
