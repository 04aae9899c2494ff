//! A listener as a bot uses it: the [`Listener`] with the session's refreshes, its encryption
//! (see `listen_crypto.rs`), notes on standard error while it retries, and the position of a
//! saved session kept in the session store: after each event handed out, or, with acks, after
//! the longest run of events acked (see `acks.rs`).
//!
//! An event counts as handled once the next one is asked for, so the position kept is the one
//! before the event in hand. It is written under the store's lock at most once a second while
//! events flow, and whenever the stream ends or is dropped.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::listen::{Event, ListenFilter, Listener, Position, Start, SyncFn};
use crate::store::{Listened, ListenerLock};

use super::acks::{Ack, AckBook};
use super::listen_crypto::ListenCrypto;
use super::{Active, Failure, Hub};

/// How often the position is written while events flow.
const SAVE_EVERY: Duration = Duration::from_secs(1);

/// How long a listener waits for the lock of its saved session: long enough for the process of
/// a listener just killed to end (a bot restarted at once by its supervisor).
const LISTENER_LOCK_WAIT: Duration = Duration::from_secs(3);

/// How a listener starts and ends.
#[derive(Debug, Clone)]
pub struct Plan {
    /// What to listen for (the server filters by it).
    pub filter: ListenFilter,
    /// Where to start.
    pub start: Start,
    /// How long the server may hold a sync when nothing is new.
    pub wait: Duration,
    /// One sync, then the end.
    pub once: bool,
    /// At most this many events.
    pub limit: Option<u64>,
    /// Keep the position under this saved session's name (`--since saved`).
    pub keep_as: Option<String>,
    /// Keep it after the events acked, not the events handed out.
    pub ack: bool,
    /// How long an encrypted event whose room key has not come is held.
    pub key_grace: Duration,
    /// Who says the listener's notes on stderr (`matrix listen`, a bot's name).
    pub speaker: String,
}

/// An event heard, with what the listener knows around it.
#[derive(Debug)]
pub struct Heard {
    /// The event, decrypted if it came encrypted (or with why it could not be).
    pub event: Event,
    /// The name of its room, as the listener's syncs tell it.
    pub room_name: Option<String>,
    /// Its ack, for a listener with acks.
    pub ack: Option<Ack>,
}

/// The events of a session, one by one; see the module's documentation.
pub struct Listening {
    listener: Listener<Failure>,
    hub: Hub,
    /// The saved session whose position is kept (without acks).
    keep: Option<Kept>,
    /// The position after the events handed out.
    delivered: Option<Position>,
    /// With acks: the listener's ID and book (the position moves with acks, not events).
    acks: Option<(String, Arc<Mutex<AckBook>>)>,
    /// Events left.
    left: Option<u64>,
    /// The session's one listener, let go once the position is kept at the stream's end.
    lock: Option<ListenerLock>,
}

/// Where the position of a saved session goes.
struct Kept {
    speaker: String,
    name: String,
    user_id: String,
    homeserver: String,
    written: Option<Position>,
    at: Instant,
}

impl Listening {
    /// The events of `active`'s session, placed (its first sync made): a refused token is an
    /// error here, not an event.
    pub fn new(hub: &Hub, active: Active, plan: Plan) -> Result<Self, Failure> {
        let lock = match &plan.keep_as {
            Some(name) => Some(hub.store()?.listener_lock(name, LISTENER_LOCK_WAIT)?),
            None => None,
        };
        let interrupt = active.interrupt.clone();
        let (user_id, homeserver) = (
            active.session.user_id.as_str().to_owned(),
            active.session.homeserver.clone(),
        );
        let book = match (&plan.keep_as, plan.ack) {
            (Some(name), true) => Some(AckBook::new(
                name.clone(),
                (user_id.clone(), homeserver.clone()),
                plan.speaker.clone(),
            )),
            _ => None,
        };
        let keep = plan.keep_as.filter(|_| !plan.ack).map(|name| Kept {
            speaker: plan.speaker.clone(),
            name,
            user_id,
            homeserver,
            written: None,
            at: Instant::now(),
        });
        let (shared, filter) = (hub.clone(), plan.filter);
        let host = host_of(&active.session.homeserver);
        let speaker = plan.speaker.clone();
        let mut active = active;
        // A listener of one sync has no later sync to wait for a key in.
        let grace = if plan.once {
            Duration::ZERO
        } else {
            plan.key_grace
        };
        let mut crypto = ListenCrypto::new(hub, &active, grace, &plan.speaker)?;
        let sync: SyncFn<Failure> = Box::new(move |since, wait| {
            let wait = crypto.wait(wait);
            let mut batch = active.run(&shared, |client, token| {
                client.sync_events(token, &filter, since, wait)
            })?;
            crypto.take(&shared, &mut active, since, &mut batch, &filter)?;
            Ok(batch)
        });
        // One line when requests start failing, one when they work again.
        let (retrying, back) = (speaker.clone(), speaker.clone());
        let mut listener = Listener::new(sync, Failure::verdict, plan.start, plan.wait, plan.once)
            .on_retry(Box::new(move |failure, pause, first| {
                if first {
                    eprintln!(
                        "{retrying}: {}; retrying in {}",
                        outage(failure, &host),
                        seconds(pause)
                    );
                }
            }))
            .on_back(Box::new(move |after| {
                eprintln!("{back}: back after {}", seconds(after));
            }))
            .stop_when(interrupt);
        listener.prime()?;
        let acks = book.map(|book| hub.open_ack_book(book));
        Ok(Self {
            listener,
            hub: hub.clone(),
            keep,
            delivered: None,
            acks,
            left: plan.limit,
            lock,
        })
    }

    /// Where the listener got: the position after the last event handed out.
    pub fn position(&self) -> Option<&Position> {
        self.listener.position()
    }

    /// Writes the delivered position of a kept session: when `now`, or when due.
    fn keep_position(&mut self, now: bool) {
        let (Some(kept), Some(position)) = (self.keep.as_mut(), self.delivered.as_ref()) else {
            return;
        };
        // The first position is written at once (see `acks.rs`).
        let due = now || kept.written.is_none() || kept.at.elapsed() >= SAVE_EVERY;
        if kept.written.as_ref() == Some(position) || !due {
            return;
        }
        let listened = Listened {
            user_id: kept.user_id.clone(),
            homeserver: kept.homeserver.clone(),
            position: position.clone(),
        };
        let written = self.hub.store().and_then(|store| {
            store.update(|saved| {
                if saved.sessions.contains_key(&kept.name) {
                    saved.listened.insert(kept.name.clone(), listened);
                }
                Ok::<_, crate::store::StoreError>(())
            })
        });
        match written {
            Ok(()) => {
                kept.written = Some(position.clone());
                kept.at = Instant::now();
            }
            Err(err) => eprintln!("{}: the position was not kept: {err}", kept.speaker),
        }
    }

    /// With acks: where the listener got is kept when no event it handed out waits for its ack.
    fn caught_up(&self) {
        if let Some((_, book)) = &self.acks {
            book.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .caught_up(self.listener.position());
        }
    }

    /// The stream ends: the position is kept, the session's listener lock let go.
    fn end(&mut self) {
        self.delivered = self.listener.position().cloned();
        self.caught_up();
        self.keep_position(true);
        self.lock = None;
    }
}

impl Iterator for Listening {
    type Item = Result<Heard, Failure>;

    fn next(&mut self) -> Option<Self::Item> {
        // Asked again: the event in hand, if any, was handled.
        self.delivered = self.listener.position().cloned();
        self.caught_up();
        if self.left == Some(0) {
            self.end();
            return None;
        }
        self.keep_position(false);
        match self.listener.next() {
            Some(Ok(event)) => {
                self.left = self.left.map(|left| left - 1);
                let ack = self.acks.as_ref().and_then(|(id, book)| {
                    let after = self.listener.position()?.clone();
                    let seq = book
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .hand_out(after);
                    Some(Ack::new(&self.hub, id, seq))
                });
                let room_name = self.listener.room_name(&event.room_id);
                Some(Ok(Heard {
                    event,
                    room_name,
                    ack,
                }))
            }
            None | Some(Err(Failure::Request(Error::Interrupted { .. }))) => {
                self.end();
                None
            }
            Some(Err(err)) => {
                self.keep_position(true);
                Some(Err(err))
            }
        }
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.keep_position(true);
        self.caught_up();
        if let Some((_, book)) = &self.acks {
            self.hub.end_ack_book(book);
        }
    }
}

/// The host (and port) of a homeserver's URL, for notes.
fn host_of(homeserver: &str) -> String {
    url::Url::parse(homeserver)
        .ok()
        .and_then(|url| {
            let host = url.host_str()?.to_owned();
            Some(match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
        })
        .unwrap_or_else(|| homeserver.to_owned())
}

/// What went wrong with the homeserver at `host`, in a few words: no URL, filter or token.
fn outage(failure: &Failure, host: &str) -> String {
    match failure {
        Failure::Request(Error::Transport(err)) => {
            format!("lost the connection to {host} ({})", err.kind)
        }
        Failure::Request(Error::Matrix(err)) if err.status == 429 => {
            format!("{host} asks to slow down (rate-limited)")
        }
        Failure::Request(Error::Matrix(err)) => {
            format!("{host} is failing (HTTP {} {})", err.status, err.errcode)
        }
        Failure::Request(Error::UnexpectedResponse(err)) => {
            format!("{host} is failing (HTTP {})", err.status)
        }
        _ => format!("the session could not be used with {host}"),
    }
}

/// A pause as people write it: `1s`, `1.5s`, `30s`.
fn seconds(pause: Duration) -> String {
    let tenths = (pause.as_millis() + 50) / 100;
    match tenths % 10 {
        0 => format!("{}s", tenths / 10),
        rest => format!("{}.{rest}s", tenths / 10),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_read_as_seconds() {
        assert_eq!(seconds(Duration::from_secs(4)), "4s");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5s");
        assert_eq!(seconds(Duration::from_millis(40)), "0s");
        assert_eq!(seconds(Duration::from_millis(999)), "1s");
    }
}
