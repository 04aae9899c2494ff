//! End-to-end encryption: the device's own keys, Olm sessions and Megolm room keys, through the
//! Matrix crypto crates (`matrix-sdk-crypto`, on a `matrix-sdk-sqlite` store), driven sans-IO:
//! the machine says what to send, [`outgoing`] sends it through this crate's [`Client`], and the
//! answers go back to the machine.
//!
//! [`Crypto`] is the one type of it. It owns a current-thread tokio runtime (the crate is async
//! and uses tokio's timers) and the [`OlmMachine`], and its surface is sync. Every step takes
//! the store's lock ([`store_dir`]) for its length only, so that two processes with the same
//! session (a bot's listener and a cron job's send) take turns; a process that finds the store
//! changed by the other since it last held it loads the machine again from the store (the
//! crate's store generation), so that neither works from stale keys or loses one-time keys.

mod attachments;
mod events;
mod history;
mod identities;
mod late;
mod missing;
mod outgoing;
mod recovery;
mod sending;
mod signed;
mod status;
pub mod store_dir;
mod sync_changes;
mod trust;
mod verify;
mod verify_io;
mod verify_outcome;

use std::sync::{Arc, Mutex, PoisonError};

use matrix_sdk_crypto::{DecryptionSettings, OlmMachine, TrustRequirement};
use matrix_sdk_sqlite::SqliteCryptoStore;
use ruma::{OwnedDeviceId, OwnedUserId, RoomId, UserId};
use serde_json::Value as JsonValue;
use tokio::runtime::Runtime;

pub use attachments::{decrypt_attachment, encrypt_attachment};
pub use events::{Decrypted, Reach, decrypt_events, decrypt_messages, mark_sealed};
pub use identities::TheirDevice;
pub use late::{DEFAULT_KEY_GRACE, LateKeys};
pub use recovery::Recovered;
pub use signed::cross_signed;
pub use status::Status;
pub use store_dir::StoreDir;
pub use trust::Bootstrapped;
pub use verify::{
    Cancelled, DEFAULT_VERIFY_TIMEOUT, HeardRequest, Progress, ShortAuth, VerifiedUser, Verifying,
    Waiting,
};
pub use verify_io::{REQUEST as VERIFICATION_REQUEST, is_verification};

use crate::client::Client;
use crate::error::{E2eeError, E2eeKind, Error, InputError};
use crate::listen::CryptoChanges;
use crate::secret::{AccessToken, Password};
use sync_changes::{SINCE_KEY, receive_to_device, take};

/// Whose devices get the room keys of the messages this device sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ShareWith {
    /// Every device of every member, as Element does by default.
    #[default]
    All,
    /// Only devices their owner has cross-signed.
    Verified,
}

/// The longest recovery key taken, in characters: a recovery key is 59 (48 base58 characters in
/// 12 groups of 4), a passphrase rarely more than a few dozen. Anything longer is refused before
/// any work is done with it (decoding base58 takes time that grows with the square of its length).
pub const MAX_RECOVERY_KEY_LEN: usize = 1024;

/// A new random store key: 32 bytes, as base64.
pub fn new_store_key() -> Password {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut()).expect("the system has randomness");
    Password::new(base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        bytes.as_ref(),
    ))
}

/// One device's end-to-end encryption: see the module.
pub struct Crypto {
    runtime: Runtime,
    dir: StoreDir,
    /// The store and the machine: `None` only once dropped (see the `Drop`).
    store: Option<Arc<SqliteCryptoStore>>,
    machine: Mutex<Option<OlmMachine>>,
    /// The store generation this process last wrote, as the crate keeps it.
    generation: tokio::sync::Mutex<Option<u64>>,
    user_id: OwnedUserId,
    device_id: OwnedDeviceId,
    share: ShareWith,
    /// The sessions (room, session ID) already looked for in the key backup by this process.
    backup_asked: tokio::sync::Mutex<std::collections::HashSet<(String, String)>>,
}

impl std::fmt::Debug for Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crypto")
            .field("store", &self.dir.path())
            .field("user_id", &self.user_id)
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

impl Drop for Crypto {
    fn drop(&mut self) {
        // The store's connection pool and the machine end inside the runtime they need (a
        // pool dropped outside it panics).
        let _inside = self.runtime.enter();
        let machine = self
            .machine
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop((machine, self.store.take()));
    }
}

impl Crypto {
    /// Opens the crypto store of `user_id`'s device `device_id` in `dir` with `key`, and the
    /// machine on it. A store's state is decided by opening it with the key:
    /// - it opens: it is used (whatever `key-id` says; a damaged `key-id` is written again);
    /// - it does not, and `key-id` names another key (an earlier login that used the same
    ///   device ID): it is set aside, never used, and the error says where;
    /// - it does not otherwise: the command fails with the folder's name, the store untouched;
    /// - it is not there, empty, or holds no device account: a new account is made only when
    ///   the server holds no keys for this device (one `POST /keys/query` of this device);
    ///   when it does, the device's keys are lost with its store, and the error says so and
    ///   how to go on ([`E2eeKind::DeviceLost`]), nothing touched. A device never forks.
    pub fn open(
        dir: StoreDir,
        key: &Password,
        device: (&str, &str),
        share: ShareWith,
        client: &Client,
        token: &AccessToken,
    ) -> Result<Self, Error> {
        let (user_id, device_id) = device;
        let user_id = UserId::parse(user_id).map_err(|_| {
            InputError::new(format!("'{user_id}' is not a user ID"), "use @name:server")
        })?;
        let device_id = OwnedDeviceId::from(device_id);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|err| {
                store_failed(&dir, format!("cannot start the crypto's runtime ({err})"))
            })?;
        let server_has_keys = || keys_on_server(client, token, &user_id, &device_id);
        let lost = |dir: &StoreDir| Error::E2ee(store_dir::device_lost(dir, device_id.as_str()));
        // Nothing here to open: a new device, or a store deleted or emptied.
        if !dir.has_database() && server_has_keys()? {
            return Err(lost(&dir));
        }
        dir.create()?;
        let _lock = dir.lock(store_dir::LOCK_WAIT)?;
        dir.make_database()?;
        let store_key = store_key_bytes(key);
        let made_by_another = dir.made_with(key).ok() == Some(Some(false));
        let opened = runtime.block_on(async {
            let store = match SqliteCryptoStore::open_with_key(dir.path(), Some(&store_key)).await {
                Ok(store) => store,
                // Proven unusable with this key, and made under another.
                Err(_) if made_by_another => return Err(set_aside(&dir, &device_id)),
                Err(err) => {
                    return Err(store_failed(
                        &dir,
                        format!("cannot open the crypto store ({err})"),
                    ));
                }
            };
            let account = matrix_sdk_crypto::store::CryptoStore::load_account(&store)
                .await
                .map_err(|err| store_failed(&dir, format!("cannot read the store ({err})")))?;
            if account.is_none() && server_has_keys()? {
                return Err(lost(&dir));
            }
            let store = Arc::new(store);
            let machine = load_machine(&dir, &user_id, &device_id, &store).await?;
            let generation = tokio::sync::Mutex::new(None);
            machine
                .initialize_crypto_store_generation(&generation)
                .await
                .map_err(|err| store_failed(&dir, format!("cannot write the store ({err})")))?;
            // Here, so that a failure drops the store within the runtime it needs.
            dir.claim(key)?;
            dir.keep_private()?;
            Ok::<_, Error>((store, machine, generation))
        })?;
        let (store, machine, generation) = opened;
        Ok(Self {
            runtime,
            dir,
            store: Some(store),
            machine: Mutex::new(Some(machine)),
            generation,
            user_id,
            device_id,
            share,
            backup_asked: tokio::sync::Mutex::default(),
        })
    }

    /// Runs `step` with the machine, the store's lock held: the machine is loaded again first
    /// when another process changed the store since this one last held it.
    fn locked<T>(
        &self,
        step: impl AsyncFnOnce(&OlmMachine) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let _lock = self.dir.lock(store_dir::LOCK_WAIT)?;
        self.runtime
            .block_on(async {
                let machine = self.current_machine().await?;
                step(&machine).await
            })
            .map_err(|err| match err {
                Error::E2ee(lost) if lost.kind == E2eeKind::DeviceLost => {
                    Error::E2ee(store_dir::device_lost(&self.dir, self.device_id.as_str()))
                }
                other => other,
            })
    }

    async fn current_machine(&self) -> Result<OlmMachine, Error> {
        let machine = self
            .machine
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .expect("the machine is there until the crypto is dropped");
        let (changed, _) = machine
            .maintain_crypto_store_generation(&self.generation)
            .await
            .map_err(|err| store_failed(&self.dir, format!("cannot read the store ({err})")))?;
        if !changed {
            return Ok(machine);
        }
        let store = self
            .store
            .as_ref()
            .expect("the store is there until dropped");
        let fresh = load_machine(&self.dir, &self.user_id, &self.device_id, store).await?;
        *self.machine.lock().unwrap_or_else(PoisonError::into_inner) = Some(fresh.clone());
        Ok(fresh)
    }

    /// Takes what a sync told the device: to-device messages (room keys, Olm), changed device
    /// lists, the one-time key count; then sends what the machine asks (more one-time keys, key
    /// queries). Done before any event of that sync is handed out, so that a position kept
    /// after those events never skips a room key.
    ///
    /// Returns the verification requests that came to-device (decrypted when they came
    /// encrypted), as events: `matrix listen --verifications` hands them out.
    pub fn receive(
        &self,
        client: &Client,
        token: &AccessToken,
        changes: &CryptoChanges,
    ) -> Result<Vec<JsonValue>, Error> {
        self.locked(async |machine| take(machine, client, token, changes).await)
    }

    /// Sends what the device has to send now: its identity and one-time keys, the first time.
    /// Done before joining an encrypted room, so that the members' clients find the device's
    /// keys when the join makes them look, and encrypt the next message for it.
    pub fn publish_keys(&self, client: &Client, token: &AccessToken) -> Result<(), Error> {
        self.locked(async |machine| outgoing::send_outgoing(machine, client, token).await)
    }

    /// Takes the to-device events waiting for the device, with syncs of its own from where its
    /// last sync (of any process) ended: room keys sent since then reach the store, so that
    /// `matrix messages` can read what came while no listener ran. At most a few syncs (the
    /// server hands out up to 100 to-device events each).
    pub fn catch_up(&self, client: &Client, token: &AccessToken) -> Result<(), Error> {
        self.locked(async |machine| {
            for _ in 0..10 {
                let since = machine
                    .store()
                    .get_custom_value(SINCE_KEY)
                    .await
                    .map_err(crypto_failed)?
                    .and_then(|bytes| String::from_utf8(bytes).ok());
                let changes = client.sync_device(token, since.as_deref())?;
                take(machine, client, token, &changes).await?;
                if since.is_some() && changes.to_device.is_empty() {
                    break;
                }
            }
            Ok(())
        })
    }

    /// Decrypts the `m.room.encrypted` events of `room_id`, with the store's lock held once.
    /// A key that is missing is looked for as matrix-sdk looks: in the key backup when this
    /// device has backup access (once per session), then the events it opens are decrypted
    /// again; and asked of the account's other devices (the crate's key requests, sent here;
    /// an answer comes in a later sync). Neither lookup failing stops the reading.
    pub fn decrypt_all(
        &self,
        client: &Client,
        token: &AccessToken,
        room_id: &str,
        events: &[JsonValue],
    ) -> Vec<Decrypted> {
        let Ok(room_id) = RoomId::parse(room_id) else {
            return events
                .iter()
                .map(|_| Decrypted::failed("the room ID is not valid"))
                .collect();
        };
        let result = self.locked(async |machine| {
            track_senders(machine, client, token, events).await;
            // Concurrently: the store's reads run on its own threads meanwhile.
            let mut decrypted: Vec<Decrypted> = futures_util::future::join_all(
                events
                    .iter()
                    .map(|event| events::decrypt(machine, &room_id, event)),
            )
            .await;
            let missing: Vec<usize> = (0..events.len())
                .filter(|&at| decrypted[at].key_may_come())
                .collect();
            if missing.is_empty() {
                return Ok(decrypted);
            }
            let lacking: Vec<&JsonValue> = missing.iter().map(|&at| &events[at]).collect();
            let imported = {
                let mut asked = self.backup_asked.lock().await;
                missing::from_backup(machine, client, token, &room_id, &lacking, &mut asked).await
            };
            if imported.is_ok_and(|count| count > 0) {
                for &at in &missing {
                    decrypted[at] = events::decrypt(machine, &room_id, &events[at]).await;
                }
            }
            // The key requests the failures queued (the crate asks each key once).
            let _ = outgoing::send_outgoing(machine, client, token).await;
            Ok(decrypted)
        });
        match result {
            Ok(decrypted) => decrypted,
            Err(err) => events
                .iter()
                .map(|_| Decrypted::failed(&format!("the crypto store could not be used: {err}")))
                .collect(),
        }
    }
}

/// The senders of `events` tracked, their device keys asked for the first time (one `POST
/// /keys/query` for those new to the device): the crate judges a sender's device, and so
/// `verified` and `authenticity`, only from keys it has. A failure leaves the judgement to what
/// the device knows.
pub(super) async fn track_senders(
    machine: &OlmMachine,
    client: &Client,
    token: &AccessToken,
    events: &[JsonValue],
) {
    let mut senders: Vec<OwnedUserId> = Vec::new();
    for event in events {
        if let Some(Ok(sender)) = event["sender"].as_str().map(UserId::parse)
            && !senders.contains(&sender)
        {
            senders.push(sender);
        }
    }
    let Ok(tracked) = machine.tracked_users().await else {
        return;
    };
    let new: Vec<&UserId> = senders
        .iter()
        .filter(|sender| !tracked.contains(*sender))
        .map(|sender| sender.as_ref())
        .collect();
    if new.is_empty() || machine.update_tracked_users(new).await.is_err() {
        return;
    }
    let _ = outgoing::send_outgoing(machine, client, token).await;
}

/// Whether the server holds keys for `user_id`'s device `device_id` (one `POST /keys/query`).
fn keys_on_server(
    client: &Client,
    token: &AccessToken,
    user_id: &UserId,
    device_id: &OwnedDeviceId,
) -> Result<bool, Error> {
    let answer = client.call(
        crate::client::Method::Post,
        &["keys", "query"],
        Some(token),
        Some(serde_json::json!({"device_keys": {user_id.as_str(): [device_id.as_str()]}})),
        &[],
    )?;
    Ok(answer
        .object
        .get("device_keys")
        .is_some_and(|keys| keys[user_id.as_str()][device_id.as_str()].is_object()))
}

/// A store made under another key, moved aside: the error that says where.
fn set_aside(dir: &StoreDir, device_id: &OwnedDeviceId) -> Error {
    let aside = match dir.set_aside() {
        Ok(aside) => aside,
        Err(err) => return Error::E2ee(err),
    };
    Error::E2ee(E2eeError {
        kind: E2eeKind::Store,
        problem: format!(
            "the crypto store of device {device_id} was made under another key (by an earlier \
             login that used this device ID) and does not open with this session's; it was set \
             aside, unused, at {}",
            aside.display()
        ),
        hint: "the keys the server holds for this device belong to that store: log in again \
               without --device-id, to a new device, then `matrix e2ee recover` brings trust \
               and history back"
            .into(),
        path: None,
    })
}

/// The device's machine, loaded from its store.
async fn load_machine(
    dir: &StoreDir,
    user_id: &UserId,
    device_id: &OwnedDeviceId,
    store: &Arc<SqliteCryptoStore>,
) -> Result<OlmMachine, Error> {
    OlmMachine::with_store(user_id, device_id, store.clone(), None)
        .await
        .map_err(|err| store_failed(dir, format!("cannot load the device's keys ({err})")))
}

fn decryption_settings() -> DecryptionSettings {
    DecryptionSettings {
        sender_device_trust_requirement: TrustRequirement::Untrusted,
    }
}

/// The store key's 32 bytes from its text (any text: hashed to 32 bytes).
fn store_key_bytes(key: &Password) -> zeroize::Zeroizing<[u8; 32]> {
    use sha2::{Digest, Sha256};
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    bytes.copy_from_slice(&Sha256::digest(key.expose().as_bytes()));
    bytes
}

fn store_failed(dir: &StoreDir, problem: String) -> Error {
    Error::E2ee(E2eeError {
        kind: E2eeKind::Store,
        problem,
        hint: "the store may be damaged or from another program; it was left as it is. To go on \
               without it, log in again to a new device (without --device-id): the server holds \
               this device's keys, which only this store has"
            .into(),
        path: Some(dir.path().to_owned()),
    })
}

pub(crate) fn crypto_failed(err: impl std::fmt::Display) -> Error {
    Error::E2ee(E2eeError {
        kind: E2eeKind::Crypto,
        problem: format!("end-to-end encryption failed: {err}"),
        hint: "run the command again; if it fails again, report it".into(),
        path: None,
    })
}
