//! Where a device's crypto store lives, whose it is, and its lock.
//!
//! One folder per (homeserver, user, device): `$XDG_DATA_HOME/nu_plugin_matrix/crypto/<hash>`
//! (`~/.local/share/...` when unset), 0700. Its name is a hash of the three, so no value from a
//! server becomes a path. Beside the SQLite files: `key-id`, a hash of the store key, which
//! tells a store made under an earlier login of the same device ID (another key) from a
//! damaged one; and `lock`, the exclusive lock of the process working with the store, holding
//! that process's ID.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::error::{E2eeError, E2eeKind};
use crate::holder_lock::{self, LockFailure};
use crate::secret::Password;

/// The store's SQLite file, as matrix-sdk-sqlite names it.
const DATABASE: &str = "matrix-sdk-crypto.sqlite3";

/// How long a command waits for another process's lock on the same store.
pub const LOCK_WAIT: Duration = Duration::from_secs(20);

/// The crypto store folder of one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreDir {
    path: PathBuf,
}

impl StoreDir {
    /// The folder of `user_id`'s device `device_id` on `homeserver`, under `data` (the user's
    /// data folder, `nu_plugin_matrix/crypto` in it).
    pub fn of(data: &Path, homeserver: &str, user_id: &str, device_id: &str) -> Self {
        let mut hash = Sha256::new();
        for part in [homeserver, user_id, device_id] {
            hash.update(part.len().to_le_bytes());
            hash.update(part.as_bytes());
        }
        let name = hex::encode(&hash.finalize()[..16]);
        Self {
            path: data.join("nu_plugin_matrix").join("crypto").join(name),
        }
    }

    /// The user's data folder (`XDG_DATA_HOME`, else `~/.local/share`; the platform's
    /// elsewhere).
    pub fn data_home() -> Result<PathBuf, E2eeError> {
        dirs::data_dir().ok_or_else(|| E2eeError {
            kind: E2eeKind::Store,
            problem: "there is no data folder for the crypto store".into(),
            hint: "set HOME or XDG_DATA_HOME".into(),
            path: None,
        })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the store was made.
    pub fn exists(&self) -> bool {
        self.path.join("key-id").exists() || self.has_database()
    }

    /// The SQLite file of the store.
    fn database(&self) -> PathBuf {
        self.path.join(DATABASE)
    }

    /// Whether the store's database is there and holds something (a 0-byte file is a new,
    /// empty database to SQLite).
    pub(super) fn has_database(&self) -> bool {
        std::fs::metadata(self.database()).is_ok_and(|meta| meta.len() > 0)
    }

    /// Makes the database file (0600) if it is not there, so that SQLite (which gives its
    /// journal the database's mode) never makes it readable by others.
    pub(super) fn make_database(&self) -> Result<(), E2eeError> {
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(self.database())
        {
            Ok(_) => Ok(()),
            Err(err) if err.kind() == ErrorKind::AlreadyExists => Ok(()),
            Err(err) => Err(self.error(E2eeKind::Store, "cannot make the database", &err)),
        }
    }

    /// Every file of the store 0600 (stores made before their files were).
    pub(super) fn keep_private(&self) -> Result<(), E2eeError> {
        let entries = std::fs::read_dir(&self.path)
            .map_err(|err| self.error(E2eeKind::Store, "cannot read the folder", &err))?;
        for entry in entries.flatten() {
            // Regular files only: a link is not followed.
            if entry.file_type().is_ok_and(|kind| kind.is_file()) {
                let path = entry.path();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .map_err(|err| self.error(E2eeKind::Store, "cannot make it private", &err))?;
            }
        }
        Ok(())
    }

    /// Makes the folder (0700, its parents too) if it is not there.
    pub(super) fn create(&self) -> Result<(), E2eeError> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.path)
            .map_err(|err| self.error(E2eeKind::Store, "cannot make the folder", &err))
    }

    /// Whether the store was made with `key`: `Some(false)` when another key made it (an
    /// earlier login of the same device ID), `None` when no key made it yet.
    pub(super) fn made_with(&self, key: &Password) -> Result<Option<bool>, E2eeError> {
        match std::fs::read_to_string(self.path.join("key-id")) {
            Ok(id) => Ok(Some(id.trim() == key_id(key))),
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
            Err(err) => Err(self.error(E2eeKind::Store, "cannot read key-id", &err)),
        }
    }

    /// Notes that `key` made the store.
    /// Written anew (never through a link put in its place).
    pub(super) fn claim(&self, key: &Password) -> Result<(), E2eeError> {
        let path = self.path.join("key-id");
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(err) if err.kind() == ErrorKind::NotFound => {}
            Err(err) => return Err(self.error(E2eeKind::Store, "cannot replace key-id", &err)),
        }
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut file| file.write_all(key_id(key).as_bytes()))
            .map_err(|err| self.error(E2eeKind::Store, "cannot write key-id", &err))
    }

    /// Moves the store aside (`<folder>.set-aside-<unix seconds>`), never to be used again, and
    /// returns where it went.
    pub(super) fn set_aside(&self) -> Result<PathBuf, E2eeError> {
        let seconds = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let mut aside = self.path.clone().into_os_string();
        aside.push(format!(".set-aside-{seconds}"));
        let aside = PathBuf::from(aside);
        std::fs::rename(&self.path, &aside)
            .map_err(|err| self.error(E2eeKind::Store, "cannot set the old store aside", &err))?;
        Ok(aside)
    }

    /// Deletes the store (the device is gone: logged out or deleted). A store not there is fine.
    pub fn delete(&self) -> Result<(), E2eeError> {
        match std::fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(()),
            Err(err) => Err(self.error(E2eeKind::Store, "cannot delete the store", &err)),
        }
    }

    /// Takes the store's exclusive lock, waiting up to `wait` for another process to let it go.
    pub(super) fn lock(&self, wait: Duration) -> Result<StoreLock, E2eeError> {
        match holder_lock::take(&self.path.join("lock"), wait) {
            Ok(file) => Ok(StoreLock { _file: file }),
            Err(LockFailure::Held(holder)) => Err(E2eeError {
                kind: E2eeKind::Busy,
                problem: format!(
                    "{} has held the crypto store for more than {}s",
                    holder.map_or_else(
                        || "another process".to_owned(),
                        |pid| format!("process {pid}")
                    ),
                    wait.as_secs()
                ),
                hint: "it works with the same saved session; wait for it to finish, or stop \
                       it, and run the command again"
                    .into(),
                path: Some(self.path.clone()),
            }),
            Err(LockFailure::Io(err)) => {
                Err(self.error(E2eeKind::Store, "cannot lock the store", &err))
            }
        }
    }

    fn error(&self, kind: E2eeKind, what: &str, err: &std::io::Error) -> E2eeError {
        E2eeError {
            kind,
            problem: format!("{what} ({err})"),
            hint: "check the folder's owner and permissions; nothing in it was changed".into(),
            path: Some(self.path.clone()),
        }
    }
}

/// The error of a device whose store is gone, empty or without its account while the server
/// holds its keys: a new account would clash with them (the server refuses its one-time keys),
/// so the device cannot go on. Nothing is touched.
pub(super) fn device_lost(dir: &StoreDir, device_id: &str) -> E2eeError {
    E2eeError {
        kind: E2eeKind::DeviceLost,
        problem: format!(
            "the crypto store of device {device_id} is gone or empty, and the server holds the \
             device's keys, which only that store had: this device cannot be restored"
        ),
        hint: "log in again without --device-id, to a new device (`matrix login ... --save \
               <name>`), then `matrix e2ee recover` brings trust and history back (with the \
               recovery key), and `matrix devices delete` of the lost device stops others \
               encrypting for it. Nothing was changed"
            .into(),
        path: Some(dir.path.clone()),
    }
}

/// A store's lock, let go when dropped (and when the process ends).
#[derive(Debug)]
pub(super) struct StoreLock {
    _file: File,
}

/// The hash of a store key that `key-id` holds: it tells keys apart and reveals nothing.
fn key_id(key: &Password) -> String {
    let mut hash = Sha256::new();
    hash.update(b"nu_plugin_matrix crypto store key\0");
    hash.update(key.expose().as_bytes());
    hex::encode(&hash.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_folder_is_a_hash_of_server_user_and_device() {
        let data = Path::new("/data");
        let a = StoreDir::of(data, "https://hs", "@bot:hs", "DEV1");
        let b = StoreDir::of(data, "https://hs", "@bot:hs", "DEV2");
        assert_ne!(a, b);
        let name = a.path().file_name().and_then(|name| name.to_str());
        assert!(name.is_some_and(|name| name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit())));
        assert!(a.path().starts_with("/data/nu_plugin_matrix/crypto"));
        // Parts do not run into each other.
        assert_ne!(
            StoreDir::of(data, "https://hs", "@bot:hsD", "EV"),
            StoreDir::of(data, "https://hs", "@bot:hs", "DEV")
        );
    }

    #[test]
    fn a_second_lock_waits_then_names_the_holder() {
        let data = tempfile::tempdir().expect("temp dir");
        let dir = StoreDir::of(data.path(), "https://hs", "@bot:hs", "D");
        dir.create().expect("made");
        let held = dir.lock(Duration::ZERO).expect("locked");
        let err = dir.lock(Duration::from_millis(60)).expect_err("busy");
        assert_eq!(err.kind, E2eeKind::Busy);
        assert!(
            err.problem
                .contains(&format!("process {}", std::process::id()))
        );
        drop(held);
        dir.lock(Duration::ZERO).expect("free again");
    }

    #[test]
    fn a_store_knows_the_key_that_made_it() {
        let data = tempfile::tempdir().expect("temp dir");
        let dir = StoreDir::of(data.path(), "https://hs", "@bot:hs", "D");
        dir.create().expect("made");
        let key = Password::new("k1".into());
        assert_eq!(dir.made_with(&key).expect("read"), None);
        dir.claim(&key).expect("claimed");
        assert_eq!(dir.made_with(&key).expect("read"), Some(true));
        assert_eq!(
            dir.made_with(&Password::new("k2".into())).expect("read"),
            Some(false)
        );
        let aside = dir.set_aside().expect("set aside");
        assert!(aside.exists() && !dir.path().exists());
        dir.delete().expect("nothing to delete is fine");
    }
}
