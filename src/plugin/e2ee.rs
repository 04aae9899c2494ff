//! The device's end-to-end encryption as commands meet it: the crypto of a saved session, opened
//! on first need (the store key from the session store, the store from the user's data folder)
//! and kept for the life of the plugin process; for `matrix listen`, opened only once a sync
//! shows something encrypted, so that a bot in plain rooms never opens a store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nu_protocol::{Record, Span, Value};

use crate::client::Client;
use crate::e2ee::{self, Crypto, LateKeys, ShareWith, StoreDir};
use crate::error::{E2eeError, E2eeKind, Error};
use crate::listen::{ENCRYPTED, ListenFilter, SyncBatch};
use crate::plugin::MatrixPlugin;
use crate::plugin::active::{Active, Failure};
use crate::plugin::token::text_or_nothing;
use crate::rooms::DeviceHook;
use crate::secret::AccessToken;
use crate::session::Session;

/// The crypto of each device this process opened, by its store's folder.
pub(crate) type OpenCryptos = Arc<Mutex<HashMap<std::path::PathBuf, Arc<Crypto>>>>;

/// Whether a session's device has a crypto store (it took part in encryption before).
fn has_store(session: &Session) -> bool {
    store_dir_of(session).is_ok_and(|dir| dir.exists())
}

/// The columns of a row that say how it came: `encrypted`, `verified` (when decrypted),
/// `decrypt_error` (when it could not be), and `authenticity` (why a decrypted one's sender is
/// not guaranteed).
pub(crate) fn push_encryption(
    record: &mut Record,
    encrypted: bool,
    verified: Option<bool>,
    (decrypt_error, authenticity): (Option<String>, Option<String>),
    span: Span,
) {
    record.push("encrypted", Value::bool(encrypted, span));
    record.push(
        "verified",
        verified.map_or(Value::nothing(span), |verified| Value::bool(verified, span)),
    );
    record.push("decrypt_error", text_or_nothing(decrypt_error, span));
    record.push("authenticity", text_or_nothing(authenticity, span));
}

/// The store folder of a session's device.
pub(crate) fn store_dir_of(session: &Session) -> Result<StoreDir, E2eeError> {
    Ok(StoreDir::of(
        &StoreDir::data_home()?,
        &session.homeserver,
        session.user_id.as_str(),
        &session.device_id,
    ))
}

impl MatrixPlugin {
    /// The crypto of `active`'s device: opened once per process, its store made the first time.
    /// Only a saved session has one (its store key is kept with its tokens).
    pub(crate) fn crypto(&self, active: &Active) -> Result<Arc<Crypto>, Failure> {
        let Some(name) = active.saved_as.as_deref() else {
            return Err(Failure::Request(Error::E2ee(not_saved())));
        };
        let client = active.client(self).map_err(Failure::Request)?;
        let token = &active.session.access_token;
        self.crypto_of(&active.session, name, active.e2ee_share, &client, token)
    }

    /// The crypto of saved session `name` (`session`, its device), as [`MatrixPlugin::crypto`].
    /// `client` and `token` ask the server whether it holds the device's keys when the store
    /// is new or gone.
    fn crypto_of(
        &self,
        session: &Session,
        name: &str,
        share: ShareWith,
        client: &Client,
        token: &AccessToken,
    ) -> Result<Arc<Crypto>, Failure> {
        let dir = store_dir_of(session).map_err(Error::E2ee)?;
        let mut open = self.cryptos.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(crypto) = open.get(dir.path()) {
            return Ok(crypto.clone());
        }
        let store = self.store()?;
        let key = store.crypto_store_key(
            name,
            session.user_id.as_str(),
            &session.device_id,
            e2ee::new_store_key,
        )?;
        let device = (session.user_id.as_str(), session.device_id.as_str());
        let crypto = Crypto::open(dir.clone(), &key, device, share, client, token)?;
        let crypto = Arc::new(crypto);
        open.insert(dir.path().to_owned(), crypto.clone());
        Ok(crypto)
    }

    /// What `matrix send`'s room watch does with the to-device events its syncs bring: a
    /// saved session's device that has a crypto store takes them (its syncs are the device's
    /// syncs, and the server hands each to-device event out once); `None` for a session that is
    /// not saved, which has no store.
    pub(crate) fn device_hook(&self, active: &Active) -> Option<DeviceHook> {
        let name = active.saved_as.clone()?;
        let (plugin, session, share) = (self.clone(), active.session.clone(), active.e2ee_share);
        Some(Arc::new(move |client, token, changes| {
            if !has_store(&session) {
                return true;
            }
            let taken = plugin
                .crypto_of(&session, &name, share, client, token)
                .and_then(|crypto| Ok(crypto.receive(client, token, changes).map(drop)?));
            match &taken {
                // A device whose keys are lost takes nothing, ever: the command's own use of
                // its crypto says so, with the way out.
                Err(Failure::Request(Error::E2ee(err))) if err.kind == E2eeKind::DeviceLost => {
                    return true;
                }
                Err(err) => eprintln!(
                    "matrix: the device could not take its to-device events: {}",
                    describe(err)
                ),
                Ok(()) => {}
            }
            taken.is_ok()
        }))
    }

    /// Deletes the crypto store of a device that is gone (logged out or deleted), if this
    /// machine has one, and forgets its open crypto; a store that cannot be deleted is said on
    /// stderr (the device is gone all the same).
    pub(crate) fn drop_store(&self, homeserver: &str, user_id: &str, device_id: &str) {
        let Ok(data) = StoreDir::data_home() else {
            return;
        };
        let dir = StoreDir::of(&data, homeserver, user_id, device_id);
        self.cryptos
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(dir.path());
        if let Err(err) = dir.delete() {
            eprintln!("matrix: the crypto store of device {device_id} is left: {err}");
        }
    }
}

/// The error of a session that is not saved meeting encryption.
pub(crate) fn not_saved() -> E2eeError {
    E2eeError {
        kind: E2eeKind::NotSaved,
        problem: "end-to-end encryption keeps the device's keys in a crypto store, which only a \
                  saved session has"
            .into(),
        hint: "save the session and use it by name: `matrix login ... --save bot`, or \
               `$session | matrix session save bot`, then `--session bot`"
            .into(),
        path: None,
    }
}

/// What a listener does with encryption: nothing until a sync shows some; then the crypto of
/// the session's device takes each sync's to-device events and decrypts its events.
pub(crate) struct ListenCrypto {
    crypto: Option<Arc<Crypto>>,
    /// The events waiting for their room keys.
    late: LateKeys,
    /// Why there is none, once it was needed (an unsaved session): said once, and each
    /// encrypted event carries it.
    unavailable: Option<String>,
}

impl ListenCrypto {
    /// Opened at once when the device already has a store (it took part in encryption before).
    /// An event whose key may still come is held up to `grace`.
    pub(crate) fn new(
        plugin: &MatrixPlugin,
        active: &Active,
        grace: Duration,
    ) -> Result<Self, Failure> {
        let made = active.saved_as.is_some() && has_store(&active.session);
        Ok(Self {
            crypto: if made {
                Some(plugin.crypto(active)?)
            } else {
                None
            },
            unavailable: None,
            late: LateKeys::new(grace),
        })
    }

    /// How long the next sync may wait: not past the end of a held event's grace.
    pub(crate) fn wait(&self, wait: Duration) -> Duration {
        self.late.wait(wait)
    }

    /// Takes a sync from `since`'s encryption: its to-device events into the machine (before
    /// any of its events is handed out), then decrypts its events; those whose key may still
    /// come are held, and those held before whose key came (or whose grace ended) join it.
    pub(crate) fn take(
        &mut self,
        plugin: &MatrixPlugin,
        active: &mut Active,
        since: Option<&str>,
        batch: &mut SyncBatch,
        filter: &ListenFilter,
    ) -> Result<(), Failure> {
        // Changed device lists alone do not open it: a device with no store tracks nobody's
        // devices yet.
        let needed = !batch.crypto.to_device.is_empty()
            || !batch.crypto.encrypted_rooms.is_empty()
            || batch.events.iter().any(|event| event.kind == ENCRYPTED);
        if self.crypto.is_none() && self.unavailable.is_none() && needed {
            match plugin.crypto(active) {
                Ok(crypto) => self.crypto = Some(crypto),
                Err(Failure::Request(Error::E2ee(err))) if err.kind == E2eeKind::NotSaved => {
                    eprintln!(
                        "matrix listen: encrypted events come undecrypted: {} ({})",
                        err.problem, err.hint
                    );
                    self.unavailable = Some(format!("{} ({})", err.problem, err.hint));
                }
                Err(err) => return Err(err),
            }
        }
        if let Some(crypto) = &self.crypto {
            let requests = active.run(plugin, |client, token| {
                crypto.receive(client, token, &batch.crypto)
            })?;
            if filter.verifications {
                // Before the sync's room events, as invitations are.
                let heard = requests.iter().filter_map(to_device_request);
                batch.events.splice(0..0, heard.collect::<Vec<_>>());
            }
        }
        // `--type m.room.encrypted` asks for the events as they came.
        if filter.encrypted {
            if let Some(crypto) = &self.crypto {
                let client = active.client(plugin)?;
                let reach = (&**crypto, &client, &active.session.access_token);
                e2ee::decrypt_events(reach, &mut batch.events, filter);
                self.late.sort(reach, since, batch, filter);
            } else if let Some(why) = &self.unavailable {
                e2ee::mark_sealed(&mut batch.events, why);
            }
        }
        if filter.verifications {
            for event in &mut batch.events {
                if event.kind == "m.room.message" && e2ee::is_verification(&event.as_json()) {
                    event.kind = e2ee::VERIFICATION_REQUEST.to_owned();
                }
            }
        }
        Ok(())
    }
}

/// A verification request that came to-device, as a row's event: no room, no event ID.
fn to_device_request(event: &serde_json::Value) -> Option<crate::listen::Event> {
    let millis = event["content"]["timestamp"].as_u64().unwrap_or_default();
    Some(crate::listen::Event {
        room_id: String::new(),
        event_id: None,
        sender: event["sender"].as_str()?.to_owned(),
        kind: e2ee::VERIFICATION_REQUEST.to_owned(),
        time: std::time::UNIX_EPOCH + Duration::from_millis(millis),
        content: event["content"].clone(),
        unsigned: serde_json::Value::Null,
        redacts: None,
        encrypted: false,
        verified: None,
        decrypt_error: None,
        authenticity: None,
        key_may_come: false,
    })
}

/// A failure in a few words, for a note.
pub(crate) fn describe(failure: &Failure) -> String {
    match failure {
        Failure::Request(err) => err.to_string(),
        Failure::Store(err) => err.to_string(),
        _ => "the session could not be used".to_owned(),
    }
}
