//! What a listener does with encryption: nothing until a sync shows some (a bot in plain rooms
//! never opens a store); then the crypto of the session's device takes each sync's to-device
//! events before its rows, decrypts its events, and holds those whose key has not come.

use std::sync::Arc;
use std::time::Duration;

use crate::e2ee::{self, Crypto, LateKeys};
use crate::error::{E2eeKind, Error};
use crate::listen::{ENCRYPTED, Event, ListenFilter, SyncBatch};

use super::crypto::has_store;
use super::{Active, Failure, Hub};

/// A listener's encryption; see the module's documentation.
pub(super) struct ListenCrypto {
    crypto: Option<Arc<Crypto>>,
    /// The events waiting for their room keys.
    late: LateKeys,
    /// Why there is none, once it was needed (an unsaved session): said once, and each
    /// encrypted event carries it.
    unavailable: Option<String>,
    /// Who says its notes on stderr.
    speaker: String,
}

impl ListenCrypto {
    /// Opened at once when the device already has a store (it took part in encryption before).
    /// An event whose key may still come is held up to `grace`.
    pub(super) fn new(
        hub: &Hub,
        active: &Active,
        grace: Duration,
        speaker: &str,
    ) -> Result<Self, Failure> {
        let made = active.saved_as.is_some() && has_store(&active.session);
        Ok(Self {
            crypto: if made {
                Some(hub.crypto(active)?)
            } else {
                None
            },
            unavailable: None,
            late: LateKeys::new(grace),
            speaker: speaker.to_owned(),
        })
    }

    /// How long the next sync may wait: not past the end of a held event's grace.
    pub(super) fn wait(&self, wait: Duration) -> Duration {
        self.late.wait(wait)
    }

    /// Takes a sync from `since`'s encryption: its to-device events into the machine (before
    /// any of its events is handed out), then decrypts its events; those whose key may still
    /// come are held, and those held before whose key came (or whose grace ended) join it.
    pub(super) fn take(
        &mut self,
        hub: &Hub,
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
            match hub.crypto(active) {
                Ok(crypto) => self.crypto = Some(crypto),
                Err(Failure::Request(Error::E2ee(err))) if err.kind == E2eeKind::NotSaved => {
                    eprintln!(
                        "{}: encrypted events come undecrypted: {} ({})",
                        self.speaker, err.problem, err.hint
                    );
                    self.unavailable = Some(format!("{} ({})", err.problem, err.hint));
                }
                Err(err) => return Err(err),
            }
        }
        if let Some(crypto) = &self.crypto {
            let requests = active.run(hub, |client, token| {
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
                let client = active.client(hub)?;
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

/// A verification request that came to-device, as an event: no room, no event ID.
fn to_device_request(event: &serde_json::Value) -> Option<Event> {
    let millis = event["content"]["timestamp"].as_u64().unwrap_or_default();
    Some(Event {
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
