//! A listener with acks (`matrix listen --since saved --ack`, [`super::Listening`] with
//! acks): the saved position moves when the caller says an event is done ([`Ack::done`],
//! `matrix listen ack`), not when the event is handed out, so that a crash loses nothing.
//!
//! Each event of such a listener comes with its [`Ack`]: the listener's ID and the event's seq.
//! The listener notes, for each seq, the position after that event; an ack marks its seq done, and the position to keep is the one
//! after the longest run of rows done from the start (rows done out of order, under `par-each`,
//! never move it past one not done). It is written under the session file's lock at most once
//! a second while acks come (a thread writes what is left a second later), and when the stream
//! ends; a write lost to a crash only means repeats.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use super::Hub;
use crate::listen::Position;
use crate::store::{Listened, StoreError};

/// How often the kept position is written while acks come.
const WRITE_EVERY: Duration = Duration::from_secs(1);

/// How long a row may stay unacked while later ones are acked before the listener says that
/// the gap will replay (rows done out of order under `par-each` close theirs within it).
const GAP_WARNING: Duration = Duration::from_secs(5);

/// How long a listener's book is kept after its stream ended, for the acks of rows still in the
/// pipeline.
const FORGET_AFTER: Duration = Duration::from_secs(300);

/// The listeners with acks of this process, by ID.
pub type AckBooks = Arc<Mutex<HashMap<String, Arc<Mutex<AckBook>>>>>;

/// What one ack-mode listener has handed out and what of it is done.
pub struct AckBook {
    /// The saved session whose position it keeps, and whose it is.
    pub name: String,
    user_id: String,
    homeserver: String,
    /// The position after each row handed out and not yet passed by the kept one.
    after: BTreeMap<u64, Position>,
    /// Rows done beyond the first not done.
    done_ahead: BTreeSet<u64>,
    /// The first seq not yet done.
    next: u64,
    /// The next seq to hand out.
    handed: u64,
    /// The position to keep: after the longest run of rows done from the start.
    kept: Option<Position>,
    written: Option<Position>,
    at: Instant,
    /// Whether the stream ended (then a write of what is left is all that remains).
    pub ended: bool,
    /// Since when a row handed out waits for its ack while later ones are done.
    gap_since: Option<Instant>,
    /// Whether the gap was said on stderr (once per listener).
    gap_said: bool,
    /// Who says its notes on stderr.
    speaker: String,
}

/// The ack of one event handed out by a listener with acks: say [`Ack::done`] once the event
/// is handled, in any order; the saved position never passes an event not done.
#[derive(Clone)]
pub struct Ack {
    hub: Hub,
    /// The listener's ID (unique in the process).
    pub listener: String,
    /// The event's place among those the listener handed out, from 0.
    pub seq: u64,
}

impl Ack {
    pub(super) fn new(hub: &Hub, listener: &str, seq: u64) -> Self {
        Self {
            hub: hub.clone(),
            listener: listener.to_owned(),
            seq,
        }
    }

    /// The event is handled: the saved position may move past it.
    pub fn done(&self) -> Result<(), AckRefusal> {
        self.hub.ack(&self.listener, self.seq, None)
    }
}

impl std::fmt::Debug for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ack({} #{})", self.listener, self.seq)
    }
}

/// Why an ack was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckRefusal {
    /// The row's listener is not (or no longer) in this process.
    Gone,
    /// The row's listener keeps another saved session's position.
    OtherSession(String),
    /// The seq was never handed out by that listener.
    Unknown,
}

impl std::fmt::Display for AckRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Gone => f.write_str("the event's listener has ended (or is in another process)"),
            Self::OtherSession(name) => {
                write!(
                    f,
                    "the event's listener keeps saved session '{name}''s position"
                )
            }
            Self::Unknown => f.write_str("the event was never handed out by its listener"),
        }
    }
}

impl std::error::Error for AckRefusal {}

impl AckBook {
    pub fn new(name: String, (user_id, homeserver): (String, String), speaker: String) -> Self {
        Self {
            name,
            user_id,
            homeserver,
            after: BTreeMap::new(),
            done_ahead: BTreeSet::new(),
            next: 0,
            handed: 0,
            kept: None,
            written: None,
            at: Instant::now(),
            ended: false,
            gap_since: None,
            gap_said: false,
            speaker,
        }
    }

    /// Notes a row handed out, with the position after it; its seq.
    pub fn hand_out(&mut self, after: Position) -> u64 {
        let seq = self.handed;
        self.handed += 1;
        self.after.insert(seq, after);
        seq
    }

    /// Marks `seq` done; the kept position moves over the run of done rows it completes.
    fn done(&mut self, seq: u64) -> Result<(), AckRefusal> {
        if seq >= self.handed {
            return Err(AckRefusal::Unknown);
        }
        if seq < self.next || self.done_ahead.contains(&seq) {
            return Ok(()); // done before: an ack twice is no harm
        }
        self.done_ahead.insert(seq);
        while self.done_ahead.remove(&self.next) {
            if let Some(after) = self.after.remove(&self.next) {
                self.kept = Some(after);
            }
            self.next += 1;
        }
        self.gap_since = match self.done_ahead.is_empty() {
            true => None,
            false => self.gap_since.or_else(|| Some(Instant::now())),
        };
        Ok(())
    }

    /// Rows handed out and not acked.
    fn unacked(&self) -> u64 {
        self.handed - self.next - self.done_ahead.len() as u64
    }

    /// Says on stderr, once, that a row has waited for its ack for a while as later ones were
    /// acked: every run will hand it and what follows out again.
    fn say_gap(&mut self) {
        let long = self
            .gap_since
            .is_some_and(|since| since.elapsed() >= GAP_WARNING);
        if self.gap_said || !long {
            return;
        }
        self.gap_said = true;
        eprintln!(
            "{}: a row handed out is still not acked while later rows are: the kept \
             position stays before it, so each run hands it and what follows out again. Ack \
             every row, the ones a `where` drops too (filter inside `each`), or filter with the \
             listener's flags (--type, --sender, rooms)",
            self.speaker
        );
    }

    /// The listener got to `position` with every row it handed out done (or none handed out):
    /// that is the position to keep, so that a listener that hands out nothing still keeps
    /// where it got (a bot restarted before anyone wrote to it loses nothing sent meanwhile).
    pub fn caught_up(&mut self, position: Option<&Position>) {
        if self.next == self.handed
            && let Some(position) = position
        {
            self.kept = Some(position.clone());
        }
    }

    /// Writes the kept position when it moved: `now`, or when a second passed since the last.
    fn write(&mut self, hub: &Hub, now: bool) {
        let Some(kept) = self.kept.clone() else {
            return;
        };
        // The first position is written at once: a bot killed in its first second keeps
        // where it started.
        let due = now || self.written.is_none() || self.at.elapsed() >= WRITE_EVERY;
        if self.written.as_ref() == Some(&kept) || !due {
            return;
        }
        let listened = Listened {
            user_id: self.user_id.clone(),
            homeserver: self.homeserver.clone(),
            position: kept.clone(),
        };
        let name = self.name.clone();
        let written = hub.store().and_then(|store| {
            store.update(|saved| {
                if saved.sessions.contains_key(&name) {
                    saved.listened.insert(name.clone(), listened);
                }
                Ok::<_, StoreError>(())
            })
        });
        match written {
            Ok(()) => {
                self.written = Some(kept);
                self.at = Instant::now();
            }
            Err(err) => eprintln!("{}: the acked position was not kept: {err}", self.speaker),
        }
    }
}

impl Hub {
    /// Opens the book of a new ack-mode listener; its ID for the rows. A thread writes what
    /// acks leave unwritten, a second after, for as long as the process lives.
    pub fn open_ack_book(&self, book: AckBook) -> (String, Arc<Mutex<AckBook>>) {
        let id = crate::secret::unique_hex::<8>();
        let book = Arc::new(Mutex::new(book));
        self.ack_books
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.clone(), book.clone());
        let (hub, writer) = (self.clone(), book.clone());
        let _ = thread::Builder::new()
            .name("ack-writer".to_owned())
            .spawn(move || {
                loop {
                    thread::sleep(WRITE_EVERY / 4);
                    let mut book = writer.lock().unwrap_or_else(PoisonError::into_inner);
                    book.say_gap();
                    book.write(&hub, false);
                    // Long after its stream ended, with all written: forgotten.
                    if book.ended && book.written == book.kept && book.at.elapsed() > FORGET_AFTER {
                        drop(book);
                        hub.ack_books
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .retain(|_, kept| !Arc::ptr_eq(kept, &writer));
                        return;
                    }
                }
            });
        (id, book)
    }

    /// `matrix listen ack`: marks row `seq` of listener `id` done, for the saved session
    /// `session` when the command names one.
    pub fn ack(&self, id: &str, seq: u64, session: Option<&str>) -> Result<(), AckRefusal> {
        let book = self
            .ack_books
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
            .ok_or(AckRefusal::Gone)?;
        let mut book = book.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(session) = session
            && session != book.name
        {
            return Err(AckRefusal::OtherSession(book.name.clone()));
        }
        book.done(seq)?;
        // Once the stream ended, the acks left are those of rows Nushell read ahead: each is
        // written at once (the process may end right after the pipeline).
        let now = book.ended;
        book.write(self, now);
        Ok(())
    }

    /// The stream of a book ended: what is kept is written now.
    pub fn end_ack_book(&self, book: &Mutex<AckBook>) {
        let mut book = book.lock().unwrap_or_else(PoisonError::into_inner);
        book.ended = true;
        book.write(self, true);
        let unacked = book.unacked();
        if unacked > 0 && !book.done_ahead.is_empty() {
            eprintln!(
                "{}: {unacked} rows handed out were never acked: the next run hands \
                 them out again, from the first of them (see `help matrix listen ack`)",
                book.speaker
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(n: u64) -> Position {
        Position {
            since: "s".into(),
            after: Some(format!("$e{n}")),
        }
    }

    #[test]
    fn the_kept_position_never_passes_a_row_not_done() {
        let mut book = AckBook::new(
            "bot".into(),
            ("@bot:x".into(), "https://x".into()),
            "test".into(),
        );
        for n in 0..5 {
            assert_eq!(book.hand_out(at(n)), n);
        }
        book.done(1).ok();
        book.done(2).ok();
        assert_eq!(book.kept, None, "row 0 is not done");
        book.done(0).ok();
        assert_eq!(book.kept, Some(at(2)));
        book.done(4).ok();
        assert_eq!(book.kept, Some(at(2)), "row 3 is not done");
        book.done(3).ok();
        assert_eq!(book.kept, Some(at(4)));
        assert!(book.done(3).is_ok(), "twice is no harm");
        assert!(matches!(book.done(9), Err(AckRefusal::Unknown)));
        assert!(book.after.is_empty() && book.done_ahead.is_empty());
    }

    #[test]
    fn a_gap_is_noticed_and_closes() {
        let mut book = AckBook::new(
            "bot".into(),
            ("@bot:x".into(), "https://x".into()),
            "test".into(),
        );
        for n in 0..3 {
            book.hand_out(at(n));
        }
        book.done(1).ok();
        assert!(book.gap_since.is_some(), "row 0 waits while row 1 is done");
        assert_eq!(book.unacked(), 2);
        book.done(0).ok();
        assert!(book.gap_since.is_none());
        assert_eq!(book.unacked(), 1);
    }

    #[test]
    fn a_listener_with_nothing_outstanding_keeps_where_it_got() {
        let mut book = AckBook::new(
            "bot".into(),
            ("@bot:x".into(), "https://x".into()),
            "test".into(),
        );
        book.caught_up(Some(&at(0)));
        assert_eq!(book.kept, Some(at(0)), "nothing handed out: where it got");
        book.hand_out(at(1));
        book.caught_up(Some(&at(2)));
        assert_eq!(book.kept, Some(at(0)), "row 1 is not done");
        book.done(0).ok();
        assert_eq!(book.kept, Some(at(1)));
        book.caught_up(Some(&at(2)));
        assert_eq!(book.kept, Some(at(2)), "all done: where it got");
    }
}
