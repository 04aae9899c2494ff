//! Saved MAS admin clients' secrets: in the session file, or in the system keyring where the
//! `secrets` setting puts sessions' tokens, one item per client, with the same order of steps
//! (an item is written before the file names it, and deleted only once the file no longer does).

use super::keyring;
use super::{
    Kept, SavedAdminClient, SavedSessions, SecretsAt, SecretsSetting, SessionStore, StoreError,
};
use crate::secret::Password;

impl SessionStore {
    /// Saves the admin client `admin` (its secret given in the file form) as `name`, its secret
    /// where `setting` says, replacing an admin client of that name. It becomes the default when
    /// there is none. `Ok(None)` when a user's session has that name: nothing is saved.
    pub fn save_admin_client(
        &self,
        name: &str,
        mut admin: SavedAdminClient,
        setting: SecretsSetting,
    ) -> Result<Option<SecretsAt>, StoreError> {
        let mut written = None;
        if let Kept::File(secret) = &admin.client_secret {
            let label = keyring::admin_label(name, &admin.client_id);
            written = self.write_new_item(name, &label, secret, setting)?;
            if let Some((_, key)) = &written {
                admin.client_secret = Kept::Keyring { key: key.clone() };
            }
        }
        let at = admin.client_secret.at();
        let result = self.update(|saved| {
            if saved.sessions.contains_key(name) {
                return Ok(None);
            }
            let old = saved.admin_clients.insert(name.to_owned(), admin);
            // As for sessions: the first one saved becomes the default.
            saved.take_default(name, false);
            Ok::<_, StoreError>(Some(old))
        });
        match result {
            Ok(Some(old)) => {
                // The replaced client's item: its secret is no longer named by the file.
                if let Some(old) = old {
                    self.drop_admin_secret_quietly(&old);
                }
                Ok(Some(at))
            }
            Ok(None) | Err(_) => {
                if let Some((keyring, key)) = &written {
                    let _ = keyring.delete(key);
                }
                result.map(|_| None)
            }
        }
    }

    /// The secret of the saved admin client `name`, read from the keyring if it is there.
    pub fn open_admin_client(
        &self,
        name: &str,
        admin: &SavedAdminClient,
    ) -> Result<Password, StoreError> {
        match &admin.client_secret {
            Kept::File(secret) => Ok(secret.clone()),
            Kept::Keyring { key } => self
                .keyring_for(Some(name))?
                .read(key)
                .map_err(|err| self.keyring_error(name, &err)),
        }
    }

    /// Deletes the keyring item of the admin client `name`, if it has one (an item already gone
    /// is fine). For use inside [`SessionStore::update`], before the entry is removed.
    pub fn drop_admin_secret(
        &self,
        name: &str,
        admin: &SavedAdminClient,
    ) -> Result<(), StoreError> {
        self.drop_kept(name, &admin.client_secret)
    }

    /// Deletes the keyring item of a replaced admin client, if it has one; a failure leaves an
    /// item no entry names, and nothing more is done about it.
    pub fn drop_admin_secret_quietly(&self, admin: &SavedAdminClient) {
        self.drop_kept_quietly(&admin.client_secret);
    }
}

/// The secret of the saved admin client `name`, for moves.
pub(super) fn admin_slot<'a>(
    saved: &'a mut SavedSessions,
    name: &str,
) -> Option<(&'a mut Kept<Password>, String)> {
    let admin = saved.admin_clients.get_mut(name)?;
    let label = keyring::admin_label(name, &admin.client_id);
    Some((&mut admin.client_secret, label))
}
