//! Listening: the events of the user's rooms as they come, from `/sync` long-polls filtered on
//! the server, as an iterator that stays up through server restarts and network failures.
//!
//! A [`Listener`] hands out events one by one and knows its [`Position`]: the `since` of the
//! sync whose events it is handing out and the last event of it handed out. Keep the position
//! after handling an event, and a listener started there later hands out what came after it:
//! each event at least once across a crash, exactly once when the position is kept after each.

mod sync;

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use crate::rooms::{CryptoChanges, ENCRYPTED, Event};
pub use sync::{ListenFilter, SyncBatch};

use crate::client::Client;
use crate::error::{Error, ErrorCode};
use crate::http::{Interrupt, POLL};
use crate::rooms::RoomNaming;
use crate::secret::AccessToken;

/// How long the server holds a `/sync` when nothing is new, by default.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// The longest pause between attempts after failures.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Where a listener is in the event stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The `since` of the sync whose events come next.
    pub since: String,
    /// The last event of that sync already handed out, if any: a listener started here skips
    /// up to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// Where a listener starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// With the events that come after it starts.
    Now,
    /// After a position kept from an earlier listener.
    At(Position),
}

/// What to do after a failed sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Try again: after the server's hint if it gave one, else after the backoff.
    Retry(Option<Duration>),
    /// Give up: the error ends the stream.
    Stop,
}

impl Verdict {
    /// Failures that pass (no connection, a time-out, a 5xx, a rate limit, a proxy's error
    /// page) are retried; a refused token, a refusal and bad input stop the listener.
    pub fn of(err: &Error) -> Self {
        match err {
            Error::Transport(_) => Self::Retry(None),
            Error::Matrix(err) if err.errcode == ErrorCode::LimitExceeded || err.status == 429 => {
                Self::Retry(err.retry_after)
            }
            Error::Matrix(err) if err.status >= 500 => Self::Retry(None),
            Error::UnexpectedResponse(err) if err.status >= 500 || err.status == 429 => {
                Self::Retry(None)
            }
            _ => Self::Stop,
        }
    }
}

/// Pauses between failed attempts: 1 s, doubling up to [`MAX_BACKOFF`], back to 1 s after a
/// success.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            next: Duration::from_secs(1),
        }
    }
}

impl Backoff {
    /// The next pause.
    pub fn next_pause(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(MAX_BACKOFF);
        pause
    }

    /// After a success.
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

/// One `/sync` as a listener needs it: from `since` (none: the starting position), held up to
/// the wait.
pub type SyncFn<E> = Box<dyn FnMut(Option<&str>, Duration) -> Result<SyncBatch, E> + Send>;

/// Called before each pause after a failure, with the failure, the pause, and whether it is the
/// first failure of a run (since the last sync that worked).
pub type OnRetry<E> = Box<dyn FnMut(&E, Duration, bool) + Send>;

/// Called when a sync succeeds after failures, with how long since the first of them.
pub type OnBack = Box<dyn FnMut(Duration) + Send>;

/// The events of the user's rooms, one by one; see the module's documentation. Failures that
/// pass are retried with a backoff ([`Verdict::of`]); any other ends it, as its last item.
pub struct Listener<E> {
    sync: SyncFn<E>,
    classify: fn(&E) -> Verdict,
    start: Option<Position>,
    position: Option<Position>,
    pending: VecDeque<Event>,
    next_batch: Option<String>,
    /// Where the listener stood just before an event its syncs hold back (see
    /// [`SyncBatch::held_from`]).
    held_from: Option<Position>,
    /// Names of the rooms the user is invited to.
    room_names: BTreeMap<String, String>,
    /// What names each joined room, kept up to date by every sync.
    namings: BTreeMap<String, RoomNaming>,
    wait: Duration,
    once: bool,
    synced: bool,
    ended: bool,
    backoff: Backoff,
    on_retry: Option<OnRetry<E>>,
    on_back: Option<OnBack>,
    /// When the failures in a row began.
    failing_since: Option<Instant>,
    stop: Option<Interrupt>,
}

impl<E> Listener<E> {
    /// A listener that syncs with `sync` and judges its failures with `classify`. `once`: one
    /// sync after the start (not held), then the end.
    pub fn new(
        sync: SyncFn<E>,
        classify: fn(&E) -> Verdict,
        start: Start,
        wait: Duration,
        once: bool,
    ) -> Self {
        Self {
            sync,
            classify,
            start: match start {
                Start::Now => None,
                Start::At(position) => Some(position),
            },
            position: None,
            pending: VecDeque::new(),
            next_batch: None,
            held_from: None,
            room_names: BTreeMap::new(),
            namings: BTreeMap::new(),
            wait,
            once,
            synced: false,
            ended: false,
            backoff: Backoff::default(),
            on_retry: None,
            on_back: None,
            failing_since: None,
            stop: None,
        }
    }

    /// Calls `on_retry` before each pause after a failure (to say so).
    pub fn on_retry(mut self, on_retry: OnRetry<E>) -> Self {
        self.on_retry = Some(on_retry);
        self
    }

    /// Calls `on_back` when a sync succeeds after failures (to say the connection is back).
    pub fn on_back(mut self, on_back: OnBack) -> Self {
        self.on_back = Some(on_back);
        self
    }

    /// Ends the listener, between attempts too, once `stop` says so (Ctrl-C).
    pub fn stop_when(mut self, stop: Interrupt) -> Self {
        self.stop = Some(stop);
        self
    }

    /// Where the listener is: after the events handed out so far (`None` before the first
    /// sync); while its syncs hold an event back (waiting for its room key), just before that
    /// event, so that a listener started from a kept position meets it again.
    pub fn position(&self) -> Option<&Position> {
        self.held_from.as_ref().or(self.position.as_ref())
    }

    /// The alias, else the name, of a room, else the name its heroes give it, as the syncs
    /// so far tell it.
    pub fn room_name(&self, room_id: &str) -> Option<String> {
        match self.namings.get(room_id) {
            Some(naming) => naming.name(),
            None => self.room_names.get(room_id).cloned(),
        }
    }

    /// Makes the first sync now, if none was made (it places a listener that starts now, and
    /// learns the rooms' names), so that a refused token or an unknown room is an error before
    /// any event. Failures that pass are retried as always.
    pub fn prime(&mut self) -> Result<(), E> {
        if self.position.is_some() || self.ended {
            return Ok(());
        }
        match self.fill() {
            Ok(()) => Ok(()),
            Err(failure) => {
                self.ended = true;
                failure.map_or(Ok(()), Err)
            }
        }
    }

    /// The next sync's events into `pending`; `Err` when it ends the listener.
    fn fill(&mut self) -> Result<(), Option<E>> {
        loop {
            if self.stop.as_ref().is_some_and(|stop| stop()) {
                return Err(None);
            }
            let since = self.position.as_ref().map(|at| at.since.clone());
            let wait = if self.once || since.is_none() {
                Duration::ZERO
            } else {
                self.wait
            };
            let asked = Instant::now();
            let err = match (self.sync)(since.as_deref(), wait) {
                Ok(batch) => {
                    self.backoff.reset();
                    if let Some(since) = self.failing_since.take()
                        && let Some(on_back) = self.on_back.as_mut()
                    {
                        on_back(since.elapsed());
                    }
                    self.absorb(batch);
                    return Ok(());
                }
                Err(err) => err,
            };
            // A request cut short by a stop is no failure to report or retry.
            if self.stop.as_ref().is_some_and(|stop| stop()) {
                return Err(None);
            }
            let pause = match (self.classify)(&err) {
                Verdict::Stop => return Err(Some(err)),
                Verdict::Retry(hint) => hint.unwrap_or_else(|| self.backoff.next_pause()),
            };
            let first = self.failing_since.is_none();
            // The outage began no later than the request that failed was made.
            self.failing_since.get_or_insert(asked);
            if let Some(on_retry) = self.on_retry.as_mut() {
                on_retry(&err, pause, first);
            }
            let until = Instant::now() + pause;
            while let Some(left) = until.checked_duration_since(Instant::now()) {
                if self.stop.as_ref().is_some_and(|stop| stop()) {
                    return Err(None);
                }
                std::thread::sleep(left.min(POLL));
            }
        }
    }

    /// Takes a sync's answer: the first places the listener, the others bring events.
    fn absorb(&mut self, batch: SyncBatch) {
        self.room_names.extend(batch.room_names);
        self.held_from = batch.held_from;
        for (room_id, news) in &batch.naming {
            self.namings
                .entry(room_id.clone())
                .or_default()
                .absorb(news);
        }
        let Some(position) = self.position.clone() else {
            self.position = Some(match self.start.take() {
                Some(start) => start,
                // Starting now: the invitations still pending come first.
                None => {
                    self.pending = batch.events.into();
                    Position {
                        since: batch.next_batch,
                        after: None,
                    }
                }
            });
            return;
        };
        self.synced = true;
        let mut events = batch.events;
        // Resuming inside a sync: what was handed out before is skipped.
        if let Some(after) = &position.after
            && let Some(at) = events
                .iter()
                .position(|event| event.event_id.as_ref() == Some(after))
        {
            events.drain(..=at);
        }
        self.pending = events.into();
        self.next_batch = Some(batch.next_batch);
        self.settle();
    }

    /// With no event left of a sync, the position moves past it.
    fn settle(&mut self) {
        if self.pending.is_empty()
            && let Some(next) = self.next_batch.take()
        {
            self.position = Some(Position {
                since: next,
                after: None,
            });
        }
    }
}

impl<E> Iterator for Listener<E> {
    type Item = Result<Event, E>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.ended {
                return None;
            }
            if let Some(event) = self.pending.pop_front() {
                if let Some(position) = self.position.as_mut() {
                    position.after = event.event_id.clone().or(position.after.take());
                }
                self.settle();
                return Some(Ok(event));
            }
            if self.once && self.synced {
                self.ended = true;
                return None;
            }
            if let Err(failure) = self.fill() {
                self.ended = true;
                return failure.map(Err);
            }
        }
    }
}

impl Client {
    /// A listener for `filter` on this client with `token`, starting at `start`, whose syncs
    /// the server holds up to `wait` ([`DEFAULT_WAIT`]). With `once`, it ends after one sync.
    /// Ctrl-C: see [`Client::with_interrupt`].
    pub fn listen(
        &self,
        token: AccessToken,
        filter: ListenFilter,
        start: Start,
        wait: Duration,
        once: bool,
    ) -> Listener<Error> {
        let client = self.clone();
        let sync: SyncFn<Error> =
            Box::new(move |since, wait| client.sync_events(&token, &filter, since, wait));
        Listener::new(sync, Verdict::of, start, wait, once)
    }
}

#[cfg(test)]
mod tests;
