//! One listener per saved session: `matrix listen --since saved` holds an exclusive lock on
//! `listeners/<hash of the session's name>.lock` beside the session file for as long as its
//! stream lives (the kernel lets go of it when the process dies). A second listener of the same
//! session would hand out every event a second time, and race the first for the kept position:
//! it is refused, naming the process that holds the lock.

use std::fs::{DirBuilder, File};
use std::os::unix::fs::DirBuilderExt;

use sha2::{Digest, Sha256};

use super::{SessionStore, StoreError};
use crate::holder_lock::{self, LockFailure};

/// The lock of a saved session's listener, let go when dropped.
#[derive(Debug)]
pub struct ListenerLock {
    _file: File,
}

/// Why a listener's lock was not taken.
#[derive(Debug)]
pub enum ListenerLockError {
    /// Another listener of the session holds it: its process ID, when it wrote one.
    Held(Option<u32>),
    /// The lock file could not be used.
    Store(StoreError),
}

impl SessionStore {
    /// Takes the lock of saved session `name`'s listener, waiting up to `wait` for a holder to
    /// let go (the plugin process of a listener just killed ends a moment after its shell).
    pub fn listener_lock(
        &self,
        name: &str,
        wait: std::time::Duration,
    ) -> Result<ListenerLock, ListenerLockError> {
        let folder = self.folder().join("listeners");
        let failed = |problem: String| {
            ListenerLockError::Store(StoreError {
                path: folder.clone(),
                problem,
                hint: "check the permissions of the config folder".into(),
            })
        };
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&folder)
            .map_err(|err| failed(format!("the listeners' folder cannot be made: {err}")))?;
        let mut hash = Sha256::new();
        hash.update(name.as_bytes());
        let path = folder.join(format!("{}.lock", hex::encode(&hash.finalize()[..16])));
        match holder_lock::take(&path, wait) {
            Ok(file) => Ok(ListenerLock { _file: file }),
            Err(LockFailure::Held(holder)) => Err(ListenerLockError::Held(holder)),
            Err(LockFailure::Io(err)) => Err(failed(format!(
                "the listener's lock cannot be taken: {err}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_listener_of_a_session_is_refused_until_the_first_ends() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SessionStore::new(dir.path().join("sessions.json"));
        let now = std::time::Duration::ZERO;
        let first = store.listener_lock("bot", now).expect("free");
        match store.listener_lock("bot", std::time::Duration::from_millis(100)) {
            Err(ListenerLockError::Held(Some(pid))) => assert_eq!(pid, std::process::id()),
            other => panic!("not refused: {other:?}"),
        }
        store
            .listener_lock("other", now)
            .expect("another session's is its own");
        drop(first);
        store.listener_lock("bot", now).expect("free again");
        // No session name becomes a path.
        let names: Vec<String> = std::fs::read_dir(dir.path().join("listeners"))
            .expect("folder")
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|name| !name.contains("bot")), "{names:?}");
    }
}
