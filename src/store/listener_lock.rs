//! One listener per saved session: `matrix listen --since saved` holds an exclusive lock on
//! `listeners/<hash of the session's name>.lock` beside the session file for as long as its
//! stream lives (the kernel lets go of it when the process dies). A second listener of the same
//! session would hand out every event a second time, and race the first for the kept position:
//! it is refused, naming the process that holds the lock.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};

use sha2::{Digest, Sha256};

use super::{SessionStore, StoreError};

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
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|err| failed(format!("the listener's lock cannot be opened: {err}")))?;
        let until = std::time::Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < until => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    let mut holder = String::new();
                    let _ = file.read_to_string(&mut holder);
                    return Err(ListenerLockError::Held(holder.trim().parse().ok()));
                }
                Err(std::fs::TryLockError::Error(err)) => {
                    return Err(failed(format!(
                        "the listener's lock cannot be taken: {err}"
                    )));
                }
            }
        }
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "{}", std::process::id());
        Ok(ListenerLock { _file: file })
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
