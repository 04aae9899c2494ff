//! Secrets: passwords and tokens.
//!
//! Both types keep their text in memory that is wiped when they are dropped, and neither can be
//! printed by accident: `Debug` shows a redacted or masked form, there is no `Display`, and
//! neither implements `Serialize`. The plaintext is reachable only through the explicit
//! [`Password::expose`] and [`AccessToken::reveal`].

use std::fmt;

use zeroize::Zeroizing;

/// A password, wiped from memory on drop. `Debug` prints `Password(<redacted>)`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wraps a password. The string is moved in, so no other copy is left behind by this call.
    pub fn new(password: String) -> Self {
        Self(Zeroizing::new(password))
    }

    /// The plaintext, for sending it to the homeserver.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the password is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// An access token (or any bearer secret: refresh tokens, login tokens), wiped from memory on drop.
///
/// `Debug` prints the masked form (see [`mask_token`]), so a session can be logged safely.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(Zeroizing<String>);

impl AccessToken {
    /// Wraps a token. The string is moved in.
    pub fn new(token: String) -> Self {
        Self(Zeroizing::new(token))
    }

    /// The plaintext token. Call it only where the token must leave the program: an
    /// `Authorization` header, or a user's explicit request to see it.
    pub fn reveal(&self) -> &str {
        &self.0
    }

    /// The masked form, safe to show: see [`mask_token`].
    pub fn masked(&self) -> String {
        mask_token(&self.0)
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccessToken({})", self.masked())
    }
}

/// `N` random bytes from the system, as hex: nonces and transaction IDs.
pub(crate) fn random_hex<const N: usize>() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// `N` random bytes as hex, for names that must not repeat but need no secrecy (transaction
/// IDs, keyring item keys): without randomness, the clock's nanoseconds (up to 16 bytes) still
/// make values that do not repeat in practice.
pub(crate) fn unique_hex<const N: usize>() -> String {
    random_hex::<N>().unwrap_or_else(|_| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
            .to_le_bytes();
        hex::encode(&nanos[..N.min(nanos.len())])
    })
}

/// Tokens shorter than this show no tail at all when masked.
const MIN_LEN_FOR_TAIL: usize = 20;
/// How many trailing characters a masked token keeps.
const TAIL_LEN: usize = 4;

/// Masks a token for display: the recognisable prefix (`syt_`, `syr_`, `mat_`, ...) is kept, the
/// middle becomes `…`, and for tokens of at least 20 characters the last 4 are kept, so that two
/// tokens can be told apart. `syt_Ym90_xYzzyXYZZYxyzzy_a1B2` masks to `syt_…a1B2`.
///
/// ```
/// use nu_plugin_matrix::secret::mask_token;
/// assert_eq!(mask_token("syt_Ym90_xYzzyXYZZYxyzzy_a1B2"), "syt_…a1B2");
/// assert_eq!(mask_token("short"), "…");
/// ```
pub fn mask_token(token: &str) -> String {
    let prefix = token_prefix(token);
    let rest = &token[prefix.len()..];
    let chars = token.chars().count();
    let mut masked = String::with_capacity(prefix.len() + 3 + TAIL_LEN * 4);
    masked.push_str(prefix);
    masked.push('…');
    if chars >= MIN_LEN_FOR_TAIL {
        let tail_start = rest
            .char_indices()
            .rev()
            .nth(TAIL_LEN - 1)
            .map_or(0, |(index, _)| index);
        masked.push_str(&rest[tail_start..]);
    }
    masked
}

/// The prefix servers put on their tokens: two to four lowercase ASCII letters and an underscore
/// (Synapse's `syt_`, MAS's `mat_`, `mct_`, ...). Empty when there is none.
fn token_prefix(token: &str) -> &str {
    let Some(underscore) = token.find('_') else {
        return "";
    };
    let letters = &token[..underscore];
    if (2..=4).contains(&letters.len()) && letters.bytes().all(|b| b.is_ascii_lowercase()) {
        &token[..=underscore]
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synapse_token_keeps_prefix_and_last_four() {
        let token = "syt_Ym90_QnVhbGtYaWdqbXVzeFhYSw_2Zh4kA";
        assert_eq!(mask_token(token), "syt_…h4kA");
    }

    #[test]
    fn mas_tokens_keep_their_prefixes() {
        assert_eq!(
            mask_token("mat_abcdefghijklmnopqrstuvwxyz1234"),
            "mat_…1234"
        );
        assert_eq!(
            mask_token("mct_abcdefghijklmnopqrstuvwxyz9876"),
            "mct_…9876"
        );
    }

    #[test]
    fn unknown_format_keeps_only_the_tail() {
        assert_eq!(mask_token("MDAxOGxvY2F0aW9uIGxvY2FsaG9zdAowMDEz"), "…MDEz");
        assert_eq!(mask_token("UPPER_abcdefghijklmnopqrstuvw"), "…tuvw");
    }

    #[test]
    fn short_tokens_show_nothing_but_the_prefix() {
        assert_eq!(mask_token("syt_short"), "syt_…");
        assert_eq!(mask_token(""), "…");
        assert_eq!(mask_token("abc"), "…");
    }

    #[test]
    fn multibyte_tails_are_cut_on_char_boundaries() {
        let token = "ééééééééééééééééééééééé";
        assert_eq!(mask_token(token), "…éééé");
    }

    #[test]
    fn never_more_than_four_secret_characters() {
        for token in [
            "syt_Ym90_QnVhbGtYaWdqbXVzeFhYSw_2Zh4kA",
            "abcdefghijklmnopqrstuvwxyz",
        ] {
            let masked = mask_token(token);
            let prefix = token_prefix(token);
            let shown = masked.trim_start_matches(prefix).trim_start_matches('…');
            assert!(shown.chars().count() <= 4, "{masked}");
        }
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let password = Password::new("hunter2-correct-horse".into());
        assert_eq!(format!("{password:?}"), "Password(<redacted>)");
        let token = AccessToken::new("syt_Ym90_QnVhbGtYaWdqbXVzeFhYSw_2Zh4kA".into());
        let debug = format!("{token:?}");
        assert_eq!(debug, "AccessToken(syt_…h4kA)");
        assert!(!debug.contains("QnVhbGtY"));
    }
}
