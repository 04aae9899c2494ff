//! Moving saved secrets between the session file and the system keyring (`matrix session
//! move`): a session's tokens, or a saved MAS admin client's secret. Never in both places at
//! once, never lost: to the keyring, the item is written before the file drops the secret; to
//! the file, the file takes the secret before the item is deleted, and goes back to naming the
//! item if it cannot be deleted.

use super::keyring::{self, ItemContent};
use super::{Kept, SavedSessions, Secrets, SecretsAt, SessionStore, StoreError};

/// Where a named entry keeps a secret, with the label its keyring item gets.
type Slot<T> = for<'a> fn(&'a mut SavedSessions, &str) -> Option<(&'a mut Kept<T>, String)>;

/// The tokens of the saved session `name`.
fn session_slot<'a>(saved: &'a mut SavedSessions, name: &str) -> Option<(&'a mut Secrets, String)> {
    let entry = saved.sessions.get_mut(name)?;
    let label = keyring::label(name, entry.user_id.as_str());
    Some((&mut entry.secrets, label))
}

impl SessionStore {
    /// Moves the tokens of the saved session `name` (or the secret of the saved admin client
    /// `name`) to `to`. Returns `Ok(None)` when nothing has that name, `Ok(Some(false))` when
    /// they were there already.
    pub fn move_secrets(&self, name: &str, to: SecretsAt) -> Result<Option<bool>, StoreError> {
        if self.load()?.admin_clients.contains_key(name) {
            return match to {
                SecretsAt::Keyring => self.move_to_keyring(name, super::admin::admin_slot),
                SecretsAt::File => self.move_to_file(name, super::admin::admin_slot),
            };
        }
        match to {
            SecretsAt::Keyring => self.move_to_keyring(name, session_slot),
            SecretsAt::File => self.move_to_file(name, session_slot),
        }
    }

    fn move_to_keyring<T: ItemContent>(
        &self,
        name: &str,
        slot: Slot<T>,
    ) -> Result<Option<bool>, StoreError> {
        let keyring = self.keyring_for(Some(name))?;
        let mut written = None;
        let result = self.update(|saved| {
            let Some((kept, label)) = slot(saved, name) else {
                return Ok(None);
            };
            let Kept::File(secret) = &*kept else {
                return Ok(Some(false));
            };
            let key = keyring::new_key(name);
            keyring
                .write(&key, &label, secret)
                .map_err(|err| self.keyring_error(name, &err))?;
            written = Some(key.clone());
            *kept = Kept::Keyring { key };
            Ok::<_, StoreError>(Some(true))
        });
        if let (Err(_), Some(key)) = (&result, &written) {
            // The file still has the secret: the new item must not stay as a second copy.
            let _ = keyring.delete(key);
        }
        result
    }

    fn move_to_file<T: ItemContent>(
        &self,
        name: &str,
        slot: Slot<T>,
    ) -> Result<Option<bool>, StoreError> {
        let keyring = self.keyring_for(Some(name))?;
        // The key of the item whose secret the file took, if it took any.
        let mut taken = None;
        let found = self.update(|saved| {
            let Some((kept, _)) = slot(saved, name) else {
                return Ok(None);
            };
            let Kept::Keyring { key } = &*kept else {
                return Ok(Some(false));
            };
            let key = key.clone();
            let secret = keyring
                .read(&key)
                .map_err(|err| self.keyring_error(name, &err))?;
            *kept = Kept::File(secret);
            taken = Some(key);
            Ok::<_, StoreError>(Some(true))
        })?;
        let Some(key) = taken else {
            return Ok(found);
        };
        if let Err(err) = keyring.delete(&key) {
            // Never in both: the file goes back to naming the item, which still has the secret.
            self.update(|saved| {
                if let Some((kept, _)) = slot(saved, name)
                    && matches!(kept, Kept::File(_))
                {
                    *kept = Kept::Keyring { key: key.clone() };
                }
                Ok::<_, StoreError>(())
            })?;
            let mut error = self.keyring_error(name, &err);
            error.problem = format!(
                "the secrets of '{name}' were not moved: their keyring item could not be \
                 deleted ({})",
                err.detail
            );
            return Err(error);
        }
        Ok(Some(true))
    }
}
