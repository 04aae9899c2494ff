//! The key of a saved session's crypto store (end-to-end encryption): made once, kept with the
//! session's tokens (in the file or their keyring item), and carried over to a new login of the
//! same device.

use super::keyring::{self, Tokens};
use super::saved::Secrets;
use super::{SessionStore, StoreError};
use crate::secret::Password;
use crate::session::Session;

impl SessionStore {
    /// The key of the crypto store of saved session `name`, which must still be the session of
    /// `user_id`'s device `device_id`: made the first time (random), and kept with the tokens
    /// (in the file or the keyring item), so that it moves and goes with them.
    pub fn crypto_store_key(
        &self,
        name: &str,
        user_id: &str,
        device_id: &str,
        new_key: impl FnOnce() -> Password,
    ) -> Result<Password, StoreError> {
        self.update(|saved| {
            let entry = match saved.sessions.get_mut(name) {
                Some(entry)
                    if entry.user_id.as_str() == user_id && entry.device_id == device_id =>
                {
                    entry
                }
                _ => {
                    return Err(StoreError {
                        path: self.path.clone(),
                        problem: format!(
                            "saved session '{name}' is no longer the session of device \
                             {device_id}"
                        ),
                        hint: "it was replaced or removed while this command ran; run the \
                               command again"
                            .into(),
                    });
                }
            };
            match &mut entry.secrets {
                Secrets::File(tokens) => {
                    Ok(tokens.crypto_store_key.get_or_insert_with(new_key).clone())
                }
                Secrets::Keyring { key } => {
                    let keyring = self.keyring_for(Some(name))?;
                    let mut tokens: Tokens = keyring
                        .read(key)
                        .map_err(|err| self.keyring_error(name, &err))?;
                    if let Some(known) = &tokens.crypto_store_key {
                        return Ok(known.clone());
                    }
                    let made = new_key();
                    tokens.crypto_store_key = Some(made.clone());
                    let label = keyring::label(name, user_id);
                    keyring
                        .write(key, &label, &tokens)
                        .map_err(|err| self.keyring_error(name, &err))?;
                    Ok(made)
                }
            }
        })
    }

    /// The crypto store key of the saved session `name` when it is `session`'s device (same
    /// homeserver, user and device ID).
    pub(super) fn crypto_key_of_device(&self, name: &str, session: &Session) -> Option<Password> {
        let saved = self.load().ok()?;
        let old = saved.sessions.get(name)?;
        if old.user_id != session.user_id
            || old.homeserver != session.homeserver
            || old.device_id != session.device_id
        {
            return None;
        }
        match &old.secrets {
            Secrets::File(tokens) => tokens.crypto_store_key.clone(),
            Secrets::Keyring { key } => {
                self.keyring
                    .as_ref()?
                    .read::<Tokens>(key)
                    .ok()?
                    .crypto_store_key
            }
        }
    }
}
