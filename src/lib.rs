//! Matrix access tokens from Rust and from Nushell.
//!
//! This crate is two things:
//!
//! - a small Matrix client library (the modules below, no Nushell types): log in with a
//!   password, ask who a token belongs to, with typed errors and secrets that never print;
//! - the Nushell plugin `nu_plugin_matrix` (module `plugin`, behind the default `plugin`
//!   feature; library users may turn it off with `default-features = false`).
//!
//! ```no_run
//! use nu_plugin_matrix::{Client, LoginRequest, Password, UserArg};
//!
//! let client = Client::new("https://matrix.example.org")?;
//! let request = LoginRequest::password(UserArg::parse("@bot:example.org")?, Password::new("…".into()));
//! let session = client.login(&request)?;
//! let me = client.whoami(&session.access_token)?;
//! assert_eq!(me.user_id, session.user_id);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// The layers, bottom up, and what each module owns: ARCHITECTURE.md.
pub mod admin;
mod answer;
pub mod api;
#[cfg(feature = "e2ee")]
pub mod bot;
pub mod client;
pub mod devices;
pub mod discovery;
#[cfg(feature = "e2ee")]
pub mod e2ee;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
mod holder_lock;
mod http;
pub mod ids;
pub mod listen;
pub mod login;
mod loopback;
pub mod mas_admin;
pub mod media;
pub mod oauth;
pub mod register;
pub mod rooms;
pub mod secret;
pub mod session;
pub mod sso;
pub mod store;
pub mod uia;
mod unix_ms;

#[cfg(feature = "plugin")]
pub mod plugin;

pub use client::{Client, ClientConfig, Method};
pub use discovery::{Discovered, Discovery, DiscoveryError};
pub use error::{
    E2eeError, E2eeKind, Error, ErrorCode, InputError, MasAdminError, MatrixError, OAuthError,
    SsoError, TransportError, TransportKind, UnexpectedResponse,
};
pub use ids::{UserArg, UserId};
pub use login::{IdentityProvider, LoginFlow, LoginRequest, LoginToken};
pub use oauth::AuthMetadata;
pub use secret::{AccessToken, Password};
pub use session::{Device, Refreshed, Session, WhoAmI};
pub use store::{Listened, SavedSessions, SessionStore, StoreError};
