//! A page of a room's history as a bot reads it: its encrypted events decrypted by the
//! session's device, opened at the first one met (and caught up with the room keys sent to it
//! since its last sync, while no listener ran).

use std::sync::Arc;

use crate::client::Client;
use crate::e2ee::{self, Crypto};
use crate::error::{E2eeKind, Error};
use crate::listen::{ENCRYPTED, ListenFilter};
use crate::rooms::Event;

use super::{Active, Failure, Hub};

/// How a room's encrypted events are read.
pub struct PageCrypto(Sealed);

enum Sealed {
    /// None met yet: the device's crypto opens at the first.
    Later { hub: Hub, active: Box<Active> },
    /// With the device's crypto (and the session, to look missing keys up).
    Open(Arc<Crypto>, Box<Active>, Client),
    /// Not: why.
    Unavailable(String),
}

impl PageCrypto {
    /// Nothing opened until an encrypted event is met.
    pub fn new(hub: &Hub, active: Active) -> Self {
        Self(Sealed::Later {
            hub: hub.clone(),
            active: Box::new(active),
        })
    }

    /// Decrypts a page's encrypted messages. At the first, the device's crypto opens, and takes
    /// the room keys sent to it since its last sync (while no listener ran); a session that is
    /// not saved gets rows that say so, a store that cannot be used an error.
    pub fn open(
        &mut self,
        room_id: &str,
        messages: &mut Vec<Event>,
        wanted: &ListenFilter,
    ) -> Result<(), Failure> {
        let sealed = messages.iter().any(|message| message.kind == ENCRYPTED);
        if sealed && matches!(self.0, Sealed::Later { .. }) {
            let Sealed::Later { hub, mut active } =
                std::mem::replace(&mut self.0, Sealed::Unavailable(String::new()))
            else {
                return Ok(());
            };
            let opened = hub.crypto(&active).and_then(|crypto| {
                active.run(&hub, |client, token| crypto.catch_up(client, token))?;
                let client = active.client(&hub)?;
                Ok((crypto, client))
            });
            self.0 = match opened {
                Ok((crypto, client)) => Sealed::Open(crypto, active, client),
                Err(Failure::Request(Error::E2ee(err))) if err.kind == E2eeKind::NotSaved => {
                    Sealed::Unavailable(format!("{} ({})", err.problem, err.hint))
                }
                // The rows still come, each saying why it stays sealed; the way out on stderr.
                Err(Failure::Request(Error::E2ee(err))) if err.kind == E2eeKind::DeviceLost => {
                    eprintln!("matrix messages: {err}");
                    Sealed::Unavailable(err.problem)
                }
                Err(err) => return Err(err),
            };
        }
        match &self.0 {
            Sealed::Open(crypto, active, client) => {
                let reach = (&**crypto, client, &active.session.access_token);
                e2ee::decrypt_messages(reach, room_id, messages);
            }
            Sealed::Unavailable(why) => e2ee::mark_sealed(messages, why),
            Sealed::Later { .. } => {}
        }
        messages.retain(|message| wanted.keeps_opened(message.encrypted, &message.kind));
        Ok(())
    }
}
