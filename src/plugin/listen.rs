//! The stream of `matrix listen`: the library's [`Listener`] with the session's refreshes, notes
//! on standard error while it retries, rows for Nushell, and the position of a saved session
//! kept in the session store.
//!
//! A row counts as delivered once it is handed to Nushell: the stream writer asks for the next
//! row only after it wrote the last one, so the position kept is the one before the row in
//! hand (a row taken from the listener while the stream was dropped is not counted). It is written under the store's lock at most once a second while rows flow, and
//! whenever the stream ends or is dropped.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use nu_protocol::{LabeledError, Record, ShellError, Span, Value};

use crate::error::Error;
use crate::listen::{Event, ListenFilter, Listener, Position, Start, SyncFn, Verdict};
use crate::plugin::MatrixPlugin;
use crate::plugin::acks::AckBook;
use crate::plugin::active::{Active, Failure, failure};
use crate::plugin::e2ee::ListenCrypto;
use crate::plugin::errors::Blame;
use crate::plugin::rows::EventRow;
use crate::store::{Listened, ListenerLock, ListenerLockError};

/// How often the position is written while rows flow.
const SAVE_EVERY: Duration = Duration::from_secs(1);

/// What a `matrix listen` stream needs besides its listener.
pub(crate) struct Stream {
    listener: Listener<Failure>,
    plugin: MatrixPlugin,
    /// The saved session whose position is kept (`--since saved`), with whose it is.
    keep: Option<Kept>,
    /// The position after the rows handed to Nushell.
    delivered: Option<Position>,
    /// `--ack`: the listener's ID and book (the position moves with acks, not rows).
    acks: Option<(String, Arc<Mutex<AckBook>>)>,
    /// `--limit`: rows left.
    left: Option<u64>,
    blame: Blame,
    span: Span,
    /// `--since saved`: the session's one listener, let go once the position is kept at the
    /// stream's end.
    lock: Option<ListenerLock>,
}

/// Where the position of a saved session goes.
struct Kept {
    name: String,
    user_id: String,
    homeserver: String,
    written: Option<Position>,
    at: Instant,
}

impl Failure {
    /// Whether a failed sync is worth another try.
    fn verdict(&self) -> Verdict {
        match self {
            Self::Request(err) => Verdict::of(err),
            _ => Verdict::Stop,
        }
    }
}

/// How a stream starts and ends.
pub(crate) struct Plan {
    pub filter: ListenFilter,
    pub start: Start,
    pub wait: Duration,
    pub once: bool,
    pub limit: Option<u64>,
    /// `--since saved`: keep the position under this saved session's name.
    pub keep_as: Option<String>,
    /// `--ack`: keep it after the rows the pipeline acked (`matrix listen ack`), not the rows
    /// handed out.
    pub ack: bool,
    /// `--key-grace`: how long an encrypted event whose room key has not come is held.
    pub key_grace: Duration,
}

impl Stream {
    /// The stream of `active`'s events, placed (its first sync made): a refused token is an
    /// error here, not a row.
    pub(crate) fn new(
        plugin: &MatrixPlugin,
        active: Active,
        plan: Plan,
    ) -> Result<Self, LabeledError> {
        let blame = active.blame();
        let span = active.head;
        let lock = match &plan.keep_as {
            Some(name) => Some(listener_lock(plugin, name, span)?),
            None => None,
        };
        // Ctrl-C, or the Nushell that started the plugin gone (the plugin's watchdog).
        let interrupt = active.interrupt.clone();
        let book = match (&plan.keep_as, plan.ack) {
            (Some(name), true) => Some(AckBook::new(
                name.clone(),
                active.session.user_id.as_str().to_owned(),
                active.session.homeserver.clone(),
            )),
            _ => None,
        };
        let keep = plan.keep_as.filter(|_| !plan.ack).map(|name| Kept {
            name,
            user_id: active.session.user_id.as_str().to_owned(),
            homeserver: active.session.homeserver.clone(),
            written: None,
            at: Instant::now(),
        });
        let (shared, filter) = (plugin.clone(), plan.filter);
        let host = host_of(&active.session.homeserver);
        let mut active = active;
        // A listener of one sync has no later sync to wait for a key in.
        let grace = if plan.once {
            Duration::ZERO
        } else {
            plan.key_grace
        };
        let mut crypto =
            ListenCrypto::new(plugin, &active, grace).map_err(|err| failure(err, &blame))?;
        let sync: SyncFn<Failure> = Box::new(move |since, wait| {
            let wait = crypto.wait(wait);
            let mut batch = active.run(&shared, |client, token| {
                client.sync_events(token, &filter, since, wait)
            })?;
            crypto.take(&shared, &mut active, since, &mut batch, &filter)?;
            Ok(batch)
        });
        // One line when requests start failing, one when they work again.
        let mut listener = Listener::new(sync, Failure::verdict, plan.start, plan.wait, plan.once)
            .on_retry(Box::new(move |failure, pause, first| {
                if first {
                    eprintln!(
                        "matrix listen: {}; retrying in {}",
                        outage(failure, &host),
                        seconds(pause)
                    );
                }
            }))
            .on_back(Box::new(|after| {
                eprintln!("matrix listen: back after {}", seconds(after));
            }))
            .stop_when(interrupt);
        if let Err(err) = listener.prime() {
            return Err(failure(err, &blame));
        }
        let acks = book.map(|book| plugin.open_ack_book(book));
        Ok(Self {
            listener,
            plugin: plugin.clone(),
            keep,
            delivered: None,
            acks,
            left: plan.limit,
            blame,
            span,
            lock,
        })
    }

    /// Writes the delivered position of a kept session: when `now`, or when due.
    fn keep_position(&mut self, now: bool) {
        let (Some(kept), Some(position)) = (self.keep.as_mut(), self.delivered.as_ref()) else {
            return;
        };
        if kept.written.as_ref() == Some(position) || (!now && kept.at.elapsed() < SAVE_EVERY) {
            return;
        }
        let listened = Listened {
            user_id: kept.user_id.clone(),
            homeserver: kept.homeserver.clone(),
            position: position.clone(),
        };
        let written = self.plugin.store().and_then(|store| {
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
            Err(err) => eprintln!("matrix listen: the position was not kept: {err}"),
        }
    }

    /// With `--ack`: where the listener got is kept when no row it handed out waits for its ack.
    fn caught_up(&self) {
        if let Some((_, book)) = &self.acks {
            book.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .caught_up(self.listener.position());
        }
    }

    fn row(&self, event: Event, ack: Option<u64>) -> Value {
        let span = self.span;
        let room = self.listener.room_name(&event.room_id);
        let mut record = EventRow {
            time: event.time,
            shape: event.shape(),
            room_id: event.room_id,
            room: Some(room),
            sender: event.sender,
            kind: event.kind,
            event_id: event.event_id,
            content: event.content,
            encrypted: event.encrypted,
            verified: event.verified,
            decrypt_error: event.decrypt_error,
            authenticity: event.authenticity,
        }
        .into_record(span);
        let ack = match (&self.acks, ack) {
            (Some((id, _)), Some(seq)) => {
                let mut ack = Record::new();
                ack.push("listener", Value::string(id, span));
                ack.push(
                    "seq",
                    Value::int(i64::try_from(seq).unwrap_or(i64::MAX), span),
                );
                Value::record(ack, span)
            }
            _ => Value::nothing(span),
        };
        record.push("ack", ack);
        Value::record(record, span)
    }
}

impl Iterator for Stream {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        // Asked again: the row in hand, if any, was written to Nushell.
        self.delivered = self.listener.position().cloned();
        self.caught_up();
        if self.left == Some(0) {
            self.keep_position(true);
            self.lock = None;
            return None;
        }
        self.keep_position(false);
        match self.listener.next() {
            Some(Ok(event)) => {
                self.left = self.left.map(|left| left - 1);
                let seq = self.acks.as_ref().and_then(|(_, book)| {
                    let after = self.listener.position()?.clone();
                    Some(
                        book.lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .hand_out(after),
                    )
                });
                Some(self.row(event, seq))
            }
            None | Some(Err(Failure::Request(Error::Interrupted { .. }))) => {
                self.delivered = self.listener.position().cloned();
                self.caught_up();
                self.keep_position(true);
                self.lock = None;
                None
            }
            Some(Err(err)) => {
                self.keep_position(true);
                let err: LabeledError = failure(err, &self.blame);
                Some(Value::error(
                    ShellError::LabeledError(Box::new(err)),
                    self.span,
                ))
            }
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.keep_position(true);
        self.caught_up();
        if let Some((_, book)) = &self.acks {
            self.plugin.end_ack_book(book);
        }
    }
}

/// How long a listener waits for the lock of its saved session: long enough for the plugin
/// process of a listener just killed to end (a bot restarted at once by its supervisor).
const LISTENER_LOCK_WAIT: Duration = Duration::from_secs(3);

/// The lock of saved session `name`'s one listener: a second is refused, naming the first.
fn listener_lock(
    plugin: &MatrixPlugin,
    name: &str,
    span: Span,
) -> Result<ListenerLock, LabeledError> {
    let store = plugin
        .store()
        .map_err(|err| crate::plugin::errors::store(err, span))?;
    store
        .listener_lock(name, LISTENER_LOCK_WAIT)
        .map_err(|err| match err {
            ListenerLockError::Held(holder) => {
                let holder = holder.map_or_else(
                    || "another process".to_owned(),
                    |pid| format!("process {pid}"),
                );
                LabeledError::new(format!("A listener of saved session {name} is running"))
                    .with_label(format!("{holder} listens with --since saved"), span)
                    .with_help(
                        "two listeners of one saved session would hand out every event twice: stop \
                     the running one, or give this one a saved session of its own (`matrix login \
                     ... --save <name>`), or listen without --since saved",
                    )
                    .with_code("matrix::listener_running")
            }
            ListenerLockError::Store(err) => crate::plugin::errors::store(err, span),
        })
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
