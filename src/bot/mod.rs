//! The bot API: a saved session opened by name and used the way the Nushell plugin uses it,
//! with the same code: its tokens from the keyring or the session file, refreshed under the
//! store's lock; its device's crypto store with its key; a listener that decrypts, starts where
//! the last one stopped and moves on only as events are acked; answers that go where the event
//! is, encrypted where the room is. Blocking, errors as values, nothing of Nushell.
//!
//! ```no_run
//! use nu_plugin_matrix::bot::Bot;
//!
//! let bot = Bot::open("bot")?; // saved by `matrix login ... --save bot`
//! for heard in bot.listen()? {
//!     let heard = heard?;
//!     if heard.event.body() == Some("!ping") {
//!         bot.reply(&heard.event, "pong")?;
//!         bot.react(&heard.event, "👀")?;
//!     }
//!     heard.done()?;
//! }
//! # Ok::<(), nu_plugin_matrix::bot::Failure>(())
//! ```
//!
//! The plugin's commands are a skin over the same parts: [`Hub`] (what the sessions of a
//! process share), [`Active`] (a session in use, and its refresh), [`Listening`], sending,
//! files, [`Target`] and acks.

mod acks;
mod active;
mod answers;
mod attach;
mod crypto;
mod hub;
mod joining;
mod listen_crypto;
mod listening;
mod page_crypto;
mod room_watches;
mod sending;
mod target;

use std::sync::{Arc, Mutex, PoisonError};

pub use acks::{Ack, AckRefusal};
pub use active::{Active, Failure, in_words};
pub use attach::FileToSend;
pub use crypto::{not_saved, store_dir_of};
pub use hub::Hub;
pub use joining::Invitation;
pub use listening::{Heard, Listening, Plan};
pub use page_crypto::PageCrypto;
pub use sending::{Destination, Sent, txn_for};
pub use target::{Target, mentions_of};

use crate::client::ClientConfig;
use crate::e2ee::{Crypto, DEFAULT_KEY_GRACE, ShareWith};
use crate::error::{Error, InputError};
use crate::listen::{DEFAULT_WAIT, ENCRYPTED, ListenFilter, Start};
use crate::session::Session;

/// A saved session, ready to listen and answer; see the module's documentation. Its methods
/// take `&self`: one bot may answer from several threads.
pub struct Bot {
    hub: Hub,
    active: Mutex<Active>,
}

impl Bot {
    /// Saved session `name`, from the session store at its usual place (its tokens in the
    /// system keyring or the file, as it was saved).
    pub fn open(name: &str) -> Result<Self, Failure> {
        Self::open_in(&Hub::new(), name)
    }

    /// Saved session `name` of `hub`'s store, sharing `hub`'s connections and crypto.
    pub fn open_in(hub: &Hub, name: &str) -> Result<Self, Failure> {
        let store = hub.store()?;
        let saved = store.load()?;
        let Some(entry) = saved.sessions.get(name) else {
            let known: Vec<&str> = saved.sessions.keys().map(String::as_str).collect();
            return Err(Failure::Request(Error::Input(InputError::new(
                format!("no saved session is named '{name}'"),
                match known.is_empty() {
                    true => "save one: `matrix login ... --save <name>`".to_owned(),
                    false => format!("the saved sessions are: {}", known.join(", ")),
                },
            ))));
        };
        let session = store.open(name, entry)?;
        let active = Active {
            session,
            config: ClientConfig::default(),
            interrupt: Arc::new(|| false),
            e2ee_share: ShareWith::All,
            saved_as: Some(name.to_owned()),
        };
        Ok(Self::using(hub, active))
    }

    /// A session already in use (the plugin's commands start here).
    pub fn using(hub: &Hub, active: Active) -> Self {
        Self {
            hub: hub.clone(),
            active: Mutex::new(active),
        }
    }

    /// Whose devices get the room keys of what it sends encrypted (default: all of them).
    pub fn share_with(self, share: ShareWith) -> Self {
        self.with_active(|active| active.e2ee_share = share);
        self
    }

    /// The session as it is now (its tokens refreshed as they were).
    pub fn session(&self) -> Session {
        self.with_active(|active| active.session.clone())
    }

    /// What the sessions of this process share.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    fn with_active<T>(&self, op: impl FnOnce(&mut Active) -> T) -> T {
        op(&mut self.active.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Runs `op` with the session, refreshed first if need be (see [`Active::run`]).
    pub fn run<T>(
        &self,
        op: impl Fn(&crate::Client, &crate::AccessToken) -> Result<T, Error>,
    ) -> Result<T, Failure> {
        self.with_active(|active| active.run(&self.hub, op))
    }

    /// The device's crypto: its store opened (made the first time), for trust
    /// (`bootstrap`, `recover`, `status`, `verify_user`, ...).
    pub fn crypto(&self) -> Result<Arc<Crypto>, Failure> {
        self.with_active(|active| self.hub.crypto(active))
    }

    /// The plan of a bot's listener: messages from others, in every room it is in, decrypted,
    /// from where its last listener's acks got (from now, the first time), each event to ack;
    /// notes on stderr under the program's name.
    pub fn plan(&self) -> Result<Plan, Failure> {
        let active = self.with_active(|active| active.clone());
        let name = active.saved_as.clone();
        let speaker = match std::env::args().next() {
            Some(program) => program.rsplit('/').next().unwrap_or("bot").to_owned(),
            None => "bot".to_owned(),
        };
        let start = self.hub.saved_start(&active, &speaker)?;
        let filter = ListenFilter {
            not_senders: vec![active.session.user_id.as_str().to_owned()],
            ..ListenFilter::default()
        };
        Ok(Plan {
            filter: filter.with_encrypted(),
            start,
            wait: DEFAULT_WAIT,
            once: false,
            limit: None,
            ack: name.is_some(),
            keep_as: name,
            key_grace: DEFAULT_KEY_GRACE,
            speaker,
        })
    }

    /// Listens as [`Bot::plan`] says (the same as `listen_with(bot.plan()?)`).
    pub fn listen(&self) -> Result<Listening, Failure> {
        self.listen_with(self.plan()?)
    }

    /// Listens as `plan` says.
    pub fn listen_with(&self, plan: Plan) -> Result<Listening, Failure> {
        let active = self.with_active(|active| active.clone());
        Listening::new(&self.hub, active, plan)
    }
}

impl ListenFilter {
    /// The filter asking for encrypted events too, kept by their real type once decrypted
    /// (unless `m.room.encrypted` is a type it asks for: then they come as they are).
    pub fn with_encrypted(self) -> Self {
        Self {
            encrypted: !self.types_match(ENCRYPTED),
            ..self
        }
    }
}

impl Hub {
    /// Where a listener of `active`'s saved session starts: after the position its last
    /// listener kept, or now (said on stderr) when none was kept.
    pub fn saved_start(&self, active: &Active, speaker: &str) -> Result<Start, Failure> {
        let Some(name) = &active.saved_as else {
            return Ok(Start::Now);
        };
        let saved = self.store()?.load()?;
        let kept = saved.listened.get(name).filter(|kept| {
            kept.user_id == active.session.user_id.as_str()
                && kept.homeserver == active.session.homeserver
        });
        Ok(match kept {
            Some(kept) => Start::At(kept.position.clone()),
            None => {
                eprintln!("{speaker}: nothing kept for '{name}' yet: listening from now on");
                Start::Now
            }
        })
    }
}

impl Heard {
    /// The event is handled: for a listener with acks, its ack (see [`Ack::done`]); else
    /// nothing to do (the position moves as the next event is asked for).
    pub fn done(&self) -> Result<(), Failure> {
        match &self.ack {
            Some(ack) => Ok(ack.done()?),
            None => Ok(()),
        }
    }
}
