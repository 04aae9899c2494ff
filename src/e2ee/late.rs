//! Events whose room key has not come yet, as a listener meets them: held a while (the grace),
//! not handed out, while the rows after them flow on; handed out decrypted once the key comes
//! (a later sync's to-device events, the key backup, an answer to a key request), or with their
//! `decrypt_error` when the grace ends. One whose key comes after that is handed out again,
//! decrypted, with the same event ID.
//!
//! Holding never weakens delivery: while an event is held, the position a listener keeps is
//! the one just before it ([`LateKeys::held_from`]), so a listener killed meanwhile and started
//! again from its kept position meets the event again (and the rows after it: at least once).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::events::{Reach, decrypt_events};
use crate::listen::{Event, ListenFilter, Position, SyncBatch};

/// How long an event whose key is missing is held by default.
pub const DEFAULT_KEY_GRACE: Duration = Duration::from_secs(10);

/// How many events given up on are remembered, to be handed out again if their key comes.
const REMEMBERED: usize = 1_000;

/// How long an event given up on is remembered.
const REMEMBER_FOR: Duration = Duration::from_secs(60 * 60);

/// A listener's events waiting for their keys; see the module.
#[derive(Debug)]
pub struct LateKeys {
    grace: Duration,
    held: Vec<Held>,
    given_up: VecDeque<(Event, Instant)>,
}

#[derive(Debug)]
struct Held {
    event: Event,
    /// Where a listener stands just before it.
    from: Position,
    until: Instant,
}

impl LateKeys {
    /// Holds each event up to `grace` (zero: never holds; a listener of one sync).
    pub fn new(grace: Duration) -> Self {
        Self {
            grace,
            held: Vec::new(),
            given_up: VecDeque::new(),
        }
    }

    /// How long the next sync may wait: not past the end of the first grace.
    pub fn wait(&self, wait: Duration) -> Duration {
        let now = Instant::now();
        self.held
            .iter()
            .map(|held| held.until.saturating_duration_since(now))
            .fold(wait, Duration::min)
    }

    /// Where a listener stands just before the first event still held: the position to keep.
    pub fn held_from(&self) -> Option<Position> {
        self.held.first().map(|held| held.from.clone())
    }

    /// Sorts a decrypted sync from `since` (`batch`, its events already through
    /// [`decrypt_events`]): the events held before whose key came, or whose grace ended, go
    /// first; then its own, but for those whose key may still come, which are held; and events
    /// given up on whose key came with this sync are handed out again. `batch.held_from` says
    /// where the first event still held stands.
    pub fn sort(
        &mut self,
        reach: Reach,
        since: Option<&str>,
        batch: &mut SyncBatch,
        filter: &ListenFilter,
    ) {
        let now = Instant::now();
        let mut out = Vec::new();
        if !self.held.is_empty() {
            let held: Vec<Held> = std::mem::take(&mut self.held);
            let mut events: Vec<Event> = held.iter().map(|held| sealed(&held.event)).collect();
            decrypt_events(reach, &mut events, filter);
            for mut held in held {
                let Some(at) = events
                    .iter()
                    .position(|e| e.event_id == held.event.event_id)
                else {
                    // Decrypted to a type not listened for: handled, nothing to hand out.
                    continue;
                };
                let event = events.remove(at);
                if !event.key_may_come {
                    out.push(event);
                } else if held.until <= now {
                    self.give_up(event.clone(), now);
                    out.push(event);
                } else {
                    held.event = event;
                    self.held.push(held);
                }
            }
        }
        if !batch.crypto.to_device.is_empty() && !self.given_up.is_empty() {
            out.extend(self.healed(reach, filter));
        }
        let mut kept = Vec::with_capacity(batch.events.len());
        let mut before: Option<String> = None;
        for event in std::mem::take(&mut batch.events) {
            match since {
                Some(since) if event.key_may_come && !self.grace.is_zero() => {
                    self.held.push(Held {
                        from: Position {
                            since: since.to_owned(),
                            after: before.clone(),
                        },
                        event,
                        until: now + self.grace,
                    });
                }
                _ => {
                    if event.key_may_come {
                        self.give_up(event.clone(), now);
                    }
                    before = event.event_id.clone().or(before);
                    kept.push(event);
                }
            }
        }
        out.extend(kept);
        batch.events = out;
        batch.held_from = self.held_from();
    }

    /// The events given up on that decrypt now (their key came late): handed out again.
    fn healed(&mut self, reach: Reach, filter: &ListenFilter) -> Vec<Event> {
        let mut events: Vec<Event> = self.given_up.iter().map(|(e, _)| sealed(e)).collect();
        decrypt_events(reach, &mut events, filter);
        let opened: Vec<Event> = events
            .into_iter()
            .filter(|event| event.decrypt_error.is_none())
            .collect();
        self.given_up
            .retain(|(gone, _)| !opened.iter().any(|e| e.event_id == gone.event_id));
        opened
    }

    fn give_up(&mut self, event: Event, now: Instant) {
        while self.given_up.len() >= REMEMBERED
            || self
                .given_up
                .front()
                .is_some_and(|(_, at)| now.duration_since(*at) > REMEMBER_FOR)
        {
            self.given_up.pop_front();
        }
        self.given_up.push_back((event, now));
    }
}

/// An event that could not be decrypted, as it came: to be decrypted again.
fn sealed(event: &Event) -> Event {
    let mut event = event.clone();
    event.encrypted = false;
    event.decrypt_error = None;
    event.key_may_come = false;
    event
}
