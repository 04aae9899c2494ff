//! A session in use: its tokens, the settings of its requests, Ctrl-C, and the one place that
//! refreshes an expired token (a saved session under the store's lock, so that two processes
//! never spend one refresh token twice).

use std::time::Duration;

use crate::client::{Client, ClientConfig, Interrupt};
use crate::e2ee::ShareWith;
use crate::error::{Error, ErrorCode};
use crate::listen::Verdict;
use crate::secret::AccessToken;
use crate::session::{Refreshed, Session};
use crate::store::{ListenerLockError, StoreError, expired};

use super::Hub;

/// Refresh a token this long before it expires, rather than send it and have it refused.
const EXPIRY_MARGIN: Duration = Duration::from_secs(2);

/// A session in use.
#[derive(Clone)]
pub struct Active {
    /// The session: its user, device, homeserver and tokens.
    pub session: Session,
    /// Time-outs and the http policy.
    pub config: ClientConfig,
    /// Ctrl-C, or whatever should stop the requests and waits.
    pub interrupt: Interrupt,
    /// Whose devices get the room keys of what it sends encrypted.
    pub e2ee_share: ShareWith,
    /// The name of the saved session it is, whose entry a refresh updates.
    pub saved_as: Option<String>,
}

/// What can go wrong using a session.
#[derive(Debug)]
pub enum Failure {
    /// A request failed, or its input was refused.
    Request(Error),
    /// The session store could not be read or written.
    Store(StoreError),
    /// The session needs a refresh and has no refresh token.
    NoRefreshToken,
    /// The server refused the session's refresh token (spent, revoked, or the session ended);
    /// a saved session was kept and marked.
    RefreshRefused {
        /// What the server said.
        err: Box<Error>,
        /// The saved session marked `needs_login`.
        saved_as: Option<String>,
    },
    /// Another listener of the saved session keeps its position (its process, if known).
    ListenerRunning(Option<u32>),
    /// A file larger than the server takes: its size and the server's limit, in bytes.
    TooLarge {
        /// The file's size.
        size: u64,
        /// The most the server takes.
        limit: u64,
    },
    /// An ack refused (see [`super::AckRefusal`]).
    AckRefused(super::AckRefusal),
    /// The bytes at this `mxc://` URL are not the file the message describes (they do not
    /// decrypt with its key and hash).
    NotTheFile(String),
}

impl Failure {
    /// A refresh the server refused for good, as [`Failure::RefreshRefused`].
    fn refused_for(self, saved_as: Option<&str>) -> Self {
        let refused = match &self {
            Self::Request(Error::OAuth(err)) => err.error == "invalid_grant",
            Self::Request(Error::Matrix(err)) => err.errcode == ErrorCode::UnknownToken,
            _ => false,
        };
        match self {
            Self::Request(err) if refused => Self::RefreshRefused {
                err: Box::new(err),
                saved_as: saved_as.map(str::to_owned),
            },
            other => other,
        }
    }

    /// Whether a failed sync is worth another try.
    pub fn verdict(&self) -> Verdict {
        match self {
            Self::Request(err) => Verdict::of(err),
            _ => Verdict::Stop,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Request(err) => err.fmt(f),
            Self::Store(err) => err.fmt(f),
            Self::NoRefreshToken => {
                f.write_str("the session needs a refresh and has no refresh token: log in again")
            }
            Self::RefreshRefused { err, .. } => write!(
                f,
                "the server no longer accepts the session's refresh token: log in again ({err})"
            ),
            Self::ListenerRunning(pid) => {
                match pid {
                    Some(pid) => write!(f, "process {pid} listens to this saved session already")?,
                    None => f.write_str("another process listens to this saved session already")?,
                }
                f.write_str(
                    ": two listeners of one saved session would hand out every event twice; stop \
                     the running one, or give this one a saved session of its own (`matrix \
                     login ... --save <name>`)",
                )
            }
            Self::AckRefused(refusal) => refusal.fmt(f),
            Self::NotTheFile(mxc) => write!(
                f,
                "{mxc} does not decrypt: the bytes the server gave are not the file the message \
                 describes"
            ),
            Self::TooLarge { size, limit } => write!(
                f,
                "the file is {}: the server takes files up to {}",
                in_words(*size),
                in_words(*limit)
            ),
        }
    }
}

impl std::error::Error for Failure {}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Self::Request(err)
    }
}

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

impl From<super::AckRefusal> for Failure {
    fn from(refusal: super::AckRefusal) -> Self {
        Self::AckRefused(refusal)
    }
}

impl From<ListenerLockError> for Failure {
    fn from(err: ListenerLockError) -> Self {
        match err {
            ListenerLockError::Held(holder) => Self::ListenerRunning(holder),
            ListenerLockError::Store(err) => Self::Store(err),
        }
    }
}

impl Active {
    /// The pooled client of the session's homeserver, with its settings and Ctrl-C.
    pub fn client(&self, hub: &Hub) -> Result<Client, Error> {
        hub.client(
            &self.session.homeserver,
            &self.config,
            self.interrupt.clone(),
        )
    }

    /// Runs `op` with the session's token. An expired token with a refresh token at hand is
    /// refreshed first (once); the saved session, if any, is updated.
    pub fn run<T>(
        &mut self,
        hub: &Hub,
        op: impl Fn(&Client, &AccessToken) -> Result<T, Error>,
    ) -> Result<T, Failure> {
        let client = self.client(hub)?;
        let refreshable = self.session.refresh_token.is_some();
        if refreshable && expired(self.session.expires_at, EXPIRY_MARGIN) {
            self.refresh(hub)?;
            return Ok(op(&client, &self.session.access_token)?);
        }
        match op(&client, &self.session.access_token) {
            // Synapse marks an expired token `soft_logout`; behind an OAuth 2.0 server it does
            // not, and a refresh is the way to find out whether the session still lives.
            Err(Error::Matrix(err))
                if refreshable
                    && err.errcode == ErrorCode::UnknownToken
                    && (err.soft_logout || self.session.oauth.is_some()) =>
            {
                self.refresh(hub)?;
                Ok(op(&client, &self.session.access_token)?)
            }
            other => Ok(other?),
        }
    }

    /// Exchanges the refresh token, at most once per refresh token: a saved session is
    /// refreshed under the store's lock (a concurrent process that got there first leaves the
    /// new tokens, which are used instead), an unsaved one under the hub's own lock.
    pub fn refresh(&mut self, hub: &Hub) -> Result<(), Failure> {
        if self.session.refresh_token.is_none() {
            return Err(Failure::NoRefreshToken);
        }
        let client = self.client(hub)?;
        if let Some(name) = self.saved_as.clone() {
            self.session = refresh_saved(hub, &client, &name, &self.session)?;
            return Ok(());
        }
        let mut renewed = hub
            .renewed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Follow earlier refreshes of this session in this process.
        let mut session = self.session.clone();
        while let Some(next) = session
            .refresh_token
            .as_ref()
            .and_then(|token| renewed.get(token.reveal()))
        {
            session = next.clone();
        }
        if session.access_token == self.session.access_token {
            let next = renew(&client, &session).map_err(|failure| failure.refused_for(None))?;
            if let Some(old) = &session.refresh_token {
                renewed.insert(old.reveal().to_owned(), next.clone());
            }
            session = next;
        }
        self.session = session;
        Ok(())
    }
}

/// Saved session `name`'s tokens renewed under the store's lock: the ones another process left
/// if it refreshed `ours` first; a refusal marks the session `needs_login`.
fn refresh_saved(
    hub: &Hub,
    client: &Client,
    name: &str,
    ours: &Session,
) -> Result<Session, Failure> {
    let store = hub.store()?;
    // A refusal is kept apart from the store's own errors: the mark it leaves must be written.
    store.update(|saved| -> Result<Result<Session, Failure>, Failure> {
        let Some(entry) = saved.sessions.get_mut(name) else {
            // Removed meanwhile: refresh, but do not bring it back.
            return Ok(renew(client, ours));
        };
        let current = store.open(name, entry)?;
        if current.access_token != ours.access_token {
            return Ok(Ok(current));
        }
        Ok(match renew(client, &current) {
            Ok(renewed) => {
                // The keyring item is overwritten before the file: the old refresh token is
                // forgotten only once the new one is kept.
                store.renew(name, entry, &renewed)?;
                Ok(renewed)
            }
            Err(failure) => {
                let failure = failure.refused_for(Some(name));
                if matches!(failure, Failure::RefreshRefused { .. }) {
                    saved.needs_login.insert(name.to_owned());
                }
                Err(failure)
            }
        })
    })?
}

/// The session with the tokens of a refresh.
fn renew(client: &Client, session: &Session) -> Result<Session, Failure> {
    let refresh_token = session
        .refresh_token
        .as_ref()
        .ok_or(Failure::NoRefreshToken)?;
    // An OAuth 2.0 session refreshes at its server's token endpoint; others at /refresh.
    let Refreshed {
        access_token,
        refresh_token: new_refresh,
        expires_at,
    } = match &session.oauth {
        Some(oauth) => {
            let tokens = client.refresh_oauth(oauth, refresh_token)?;
            Refreshed {
                access_token: tokens.access_token,
                refresh_token: tokens.refresh_token,
                expires_at: tokens.expires_at,
            }
        }
        None => client.refresh(refresh_token)?,
    };
    Ok(Session {
        access_token,
        refresh_token: new_refresh.or_else(|| session.refresh_token.clone()),
        expires_at,
        ..session.clone()
    })
}

/// A size as people read it: `900 B`, `3.1 MB` (powers of 1,000, as Synapse's limits read).
pub fn in_words(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(in_words(900), "900 B");
        assert_eq!(in_words(2_000_000), "2.0 MB");
        assert_eq!(in_words(3_145_728), "3.1 MB");
    }
}
