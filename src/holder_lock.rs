//! An exclusive lock on a file (0600) that names the process holding it: taken within a wait,
//! let go when its file is dropped or its process ends. The crypto store's lock and a saved
//! session's listener lock are such files.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// Why the lock was not taken.
#[derive(Debug)]
pub(crate) enum LockFailure {
    /// Another process held it all the wait: its process ID, when it wrote one.
    Held(Option<u32>),
    /// The file could not be opened or locked.
    Io(std::io::Error),
}

/// Takes the lock of `path`, waiting up to `wait` for a holder to let go, and writes this
/// process's ID in it.
pub(crate) fn take(path: &Path, wait: Duration) -> Result<File, LockFailure> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(LockFailure::Io)?;
    let until = Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(25));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(LockFailure::Held(holder.trim().parse().ok()));
            }
            Err(std::fs::TryLockError::Error(err)) => return Err(LockFailure::Io(err)),
        }
    }
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = write!(file, "{}", std::process::id());
    Ok(file)
}
