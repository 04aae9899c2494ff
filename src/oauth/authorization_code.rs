//! The authorization code grant with PKCE (RFC 7636, spec v1.15): signing in in a browser on
//! this machine. The browser opens the server's authorization page; after the sign-in and the
//! consent, the server sends it back to a listener on `127.0.0.1` with a code, which is
//! exchanged once, with the PKCE verifier, for tokens.
//!
//! ```no_run
//! use std::time::Duration;
//! use nu_plugin_matrix::Client;
//! use nu_plugin_matrix::oauth::{API_SCOPE, OAuthClient};
//!
//! # fn main() -> Result<(), nu_plugin_matrix::Error> {
//! let client = Client::new("https://matrix.example.org")?;
//! let metadata = client.auth_metadata()?.expect("the server speaks OAuth 2.0");
//! # let client_id = String::new();
//! let sign_in = client.start_browser_sign_in(&metadata, &client_id, API_SCOPE)?;
//! println!("Sign in at: {}", sign_in.url());
//! let code = sign_in.wait_for_code(Duration::from_secs(300), &|| false)?;
//! let oauth = OAuthClient::new(&metadata, client_id);
//! let tokens = client.exchange_code(&oauth, &sign_in, &code)?;
//! # Ok(()) }
//! ```
//!
//! Spec: <https://spec.matrix.org/v1.18/client-server-api/#authorization-code-flow>

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::grant::{OAuthTokens, tokens_from};
use super::{AuthMetadata, OAuthClient};
use crate::answer::Fields;
use crate::client::Client;
use crate::error::{Error, OAuthError, SsoError};
use crate::http::Body;
use crate::loopback::{Loopback, NOT_THIS_SIGN_IN, Page, Params, Verdict};
use crate::secret::{AccessToken, random_hex};

/// The redirect URI registered for the browser sign-in. The browser is sent back to it with the
/// port of the listener added: servers accept any port on a loopback redirect (RFC 8252,
/// section 7.3), so one registration serves every sign-in.
pub const LOOPBACK_REDIRECT_URI: &str = "http://127.0.0.1/callback";

/// A browser sign-in under way: the page to open, and the listener the browser comes back to.
/// Holds the PKCE verifier, which `Debug` does not show.
pub struct BrowserSignIn {
    loopback: Loopback,
    url: String,
    state: String,
    verifier: AccessToken,
    redirect_uri: String,
}

impl fmt::Debug for BrowserSignIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrowserSignIn")
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// The S256 code challenge of a PKCE verifier: the unpadded base64url of its SHA-256.
fn code_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// 32 random bytes as unpadded base64url (43 characters, all allowed in a verifier).
fn new_verifier() -> Result<AccessToken, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(AccessToken::new(URL_SAFE_NO_PAD.encode(bytes)))
}

impl Client {
    /// Starts a browser sign-in for `scope` as the client `client_id` (registered with
    /// [`LOOPBACK_REDIRECT_URI`]): listens on `127.0.0.1`, and makes the authorization page's
    /// address with a fresh `state` and PKCE challenge.
    pub fn start_browser_sign_in(
        &self,
        metadata: &AuthMetadata,
        client_id: &str,
        scope: &str,
    ) -> Result<BrowserSignIn, Error> {
        let loopback = Loopback::bind()?;
        let no_randomness = |err: getrandom::Error| {
            Error::Sso(SsoError::Listen {
                detail: format!("no randomness for the sign-in: {err}"),
            })
        };
        let state = random_hex::<16>().map_err(no_randomness)?;
        let verifier = new_verifier().map_err(no_randomness)?;
        let redirect_uri = loopback.callback_url();
        let mut url = url::Url::parse(&metadata.authorization_endpoint).map_err(|err| {
            Error::Sso(SsoError::Listen {
                detail: format!("the authorization endpoint is not a URL: {err}"),
            })
        })?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("response_mode", "query")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("scope", scope)
            .append_pair("state", &state)
            .append_pair("code_challenge", &code_challenge(verifier.reveal()))
            .append_pair("code_challenge_method", "S256");
        Ok(BrowserSignIn {
            loopback,
            url: url.into(),
            state,
            verifier,
            redirect_uri,
        })
    }

    /// Exchanges the code the browser brought back for tokens (`grant_type=authorization_code`,
    /// with the verifier). A code works once: a second exchange is refused (`invalid_grant`).
    pub fn exchange_code(
        &self,
        oauth: &OAuthClient,
        sign_in: &BrowserSignIn,
        code: &AccessToken,
    ) -> Result<OAuthTokens, Error> {
        let form = Body::form([
            ("grant_type", "authorization_code"),
            ("code", code.reveal()),
            ("redirect_uri", sign_in.redirect_uri.as_str()),
            ("client_id", oauth.client_id.as_str()),
            ("code_verifier", sign_in.verifier.reveal()),
        ]);
        let secrets = [code.reveal(), sign_in.verifier.reveal()];
        let answer = self.post_oauth(&oauth.token_endpoint, form, &secrets)?;
        tokens_from(&Fields::new(&answer))
    }
}

impl BrowserSignIn {
    /// The authorization page to open in a browser on this machine.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where the browser comes back to: `http://127.0.0.1:<port>/callback`.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Waits for the browser to come back with this sign-in's `state` and a code, at most
    /// `timeout`, looking at `interrupted` meanwhile. A callback with another `state` is refused
    /// and waiting goes on; with this `state`, an `error` (`access_denied`, ...) is an
    /// [`Error::OAuth`], and neither code nor error is [`SsoError::NoCode`].
    pub fn wait_for_code(
        &self,
        timeout: Duration,
        interrupted: &dyn Fn() -> bool,
    ) -> Result<AccessToken, Error> {
        let state = self.state.clone();
        self.loopback
            .wait(
                timeout,
                interrupted,
                Arc::new(move |params| judge(params, &state)),
            )
            .and_then(|code| code)
    }
}

/// What a callback brings to a browser sign-in.
pub(crate) fn judge(params: &Params, state: &str) -> Verdict<Result<AccessToken, Error>> {
    if !params.matches("state", state) {
        return Verdict::Rejected(NOT_THIS_SIGN_IN);
    }
    let not_done = Page {
        status: 400,
        title: "Not signed in",
        text: "The sign-in did not finish. Look at the terminal.",
    };
    if let Some(error) = params.get("error") {
        let err = OAuthError {
            status: 0,
            error: error.to_owned(),
            description: params.get("error_description").map(str::to_owned),
        };
        return Verdict::Done(Err(Error::OAuth(err)), not_done);
    }
    match params.get("code").filter(|code| !code.is_empty()) {
        Some(code) => Verdict::Done(
            Ok(AccessToken::new(code.to_owned())),
            Page {
                status: 200,
                title: "Signed in",
                text: "The terminal has the sign-in. You can close this tab.",
            },
        ),
        None => Verdict::Done(Err(Error::Sso(SsoError::NoCode)), not_done),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loopback::{Arrival, read_request};

    #[test]
    fn the_challenge_is_rfc_7636s() {
        // RFC 7636, appendix B.
        assert_eq!(
            code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let verifier = new_verifier().expect("random");
        assert_eq!(verifier.reveal().len(), 43);
        assert_ne!(verifier.reveal(), new_verifier().expect("random").reveal());
    }

    #[test]
    fn the_page_carries_the_challenge_and_never_the_verifier() {
        let client = Client::new("https://hs.example").expect("a client");
        let metadata = AuthMetadata {
            issuer: "https://auth.example/".into(),
            authorization_endpoint: "https://auth.example/authorize".into(),
            token_endpoint: "https://auth.example/token".into(),
            registration_endpoint: "https://auth.example/register".into(),
            revocation_endpoint: "https://auth.example/revoke".into(),
            device_authorization_endpoint: None,
            account_management_uri: None,
            account_management_actions_supported: Vec::new(),
            grant_types_supported: Vec::new(),
        };
        let sign_in = client
            .start_browser_sign_in(&metadata, "c1", crate::oauth::API_SCOPE)
            .expect("listening");
        let url = url::Url::parse(sign_in.url()).expect("a URL");
        let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(
            query["code_challenge"],
            code_challenge(sign_in.verifier.reveal())
        );
        assert_eq!(query["state"], sign_in.state);
        assert_eq!(query["redirect_uri"], sign_in.redirect_uri());
        assert!(sign_in.redirect_uri().starts_with("http://127.0.0.1:"));
        let verifier = sign_in.verifier.reveal();
        assert!(!sign_in.url().contains(verifier));
        assert!(!format!("{sign_in:?}").contains(verifier));
    }

    fn verdict(target: &str) -> Verdict<Result<AccessToken, Error>> {
        match read_request(format!("GET {target} HTTP/1.1\r\n\r\n").as_bytes()) {
            Arrival::Callback(params) => judge(&params, "s1"),
            _ => panic!("not a callback"),
        }
    }

    #[test]
    fn only_this_state_ends_the_wait_with_a_code_or_an_error() {
        assert!(matches!(
            verdict("/callback?state=s2&code=c"),
            Verdict::Rejected(Page { status: 403, .. })
        ));
        assert!(matches!(verdict("/callback?code=c"), Verdict::Rejected(_)));
        match verdict("/callback?state=s1&code=c-1") {
            Verdict::Done(Ok(code), page) => {
                assert_eq!(code.reveal(), "c-1");
                assert_eq!(page.status, 200);
            }
            _ => panic!("a code"),
        }
        match verdict("/callback?state=s1&error=access_denied&error_description=no") {
            Verdict::Done(Err(Error::OAuth(err)), _) => {
                assert_eq!(err.error, "access_denied");
                assert_eq!(err.description.as_deref(), Some("no"));
            }
            _ => panic!("an error"),
        }
        assert!(matches!(
            verdict("/callback?state=s1&code="),
            Verdict::Done(Err(Error::Sso(SsoError::NoCode)), _)
        ));
    }
}
