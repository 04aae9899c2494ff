//! The errors of input refused before anything was sent, and of the ways in: server discovery
//! and single sign-on.

use std::fmt;
use std::time::Duration;

use super::TransportKind;

/// Why a user ID, user name, homeserver URL or other input was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// What is wrong, in a sentence fragment: "the user ID has no server name".
    pub problem: String,
    /// What to write instead.
    pub hint: String,
}

impl InputError {
    /// A refusal: what is wrong, and what to write instead.
    pub fn new(problem: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            problem: problem.into(),
            hint: hint.into(),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.problem, self.hint)
    }
}

impl std::error::Error for InputError {}

/// The spec's two failure outcomes of server discovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// FAIL_PROMPT: nothing usable was found; ask the user for the homeserver.
    FailPrompt,
    /// FAIL_ERROR: the server delegates, but to something broken; do not go on.
    FailError,
}

/// Why server discovery failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryError {
    /// Which failure the spec calls it.
    pub outcome: Outcome,
    /// The server name discovery started from.
    pub server_name: String,
    /// The URL whose answer failed.
    pub url: String,
    /// What was wrong.
    pub problem: String,
    /// When the URL got no HTTP answer at all: what kind of failure that was.
    pub transport: Option<TransportKind>,
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "discovery of {} failed at {}: {}",
            self.server_name, self.url, self.problem
        )
    }
}

/// Why a single sign-on did not bring a login token back.
#[derive(Debug)]
#[non_exhaustive]
pub enum SsoError {
    /// No listener could be opened on 127.0.0.1.
    Listen {
        /// What the system said.
        detail: String,
    },
    /// The browser did not come back in time.
    TimedOut {
        /// How long was waited.
        waited: Duration,
        /// Requests that came without the right nonce or `state` (not from this sign-in).
        rejected: usize,
    },
    /// The OAuth 2.0 server sent the browser back with this sign-in's `state` but with neither
    /// a code nor an error.
    NoCode,
}

impl fmt::Display for SsoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Listen { detail } => {
                write!(f, "could not listen on 127.0.0.1 for the sign-in: {detail}")
            }
            Self::TimedOut { waited, rejected } => {
                write!(
                    f,
                    "the browser sign-in did not come back within {} s",
                    waited.as_secs()
                )?;
                if *rejected > 0 {
                    write!(
                        f,
                        " ({rejected} request(s) that did not belong to this sign-in refused)"
                    )?;
                }
                Ok(())
            }
            Self::NoCode => write!(
                f,
                "the OAuth 2.0 server sent the browser back without a code or an error"
            ),
        }
    }
}

impl std::error::Error for SsoError {}
