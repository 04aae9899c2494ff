//! User IDs and homeserver URLs, checked before anything is sent.
//!
//! Spec: <https://spec.matrix.org/v1.16/appendices/#user-identifiers> and
//! <https://spec.matrix.org/v1.16/appendices/#server-name>.

use std::fmt;

use url::Url;

pub use crate::error::InputError;

/// The longest user ID the spec allows, in bytes.
pub const MAX_USER_ID_BYTES: usize = 255;

/// A full Matrix user ID, `@localpart:server.name`, checked once when parsed. Serialises as
/// its text; deserialising parses it again. `Debug` shows it as the quoted text.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UserId {
    full: String,
    colon: usize,
}

impl UserId {
    /// Parses `@localpart:server_name`. The localpart is checked against the spec's historical
    /// grammar (printable ASCII but `:`), because servers still hold IDs from before today's
    /// stricter one (`a-z 0-9 . _ = - / +`); non-ASCII is refused by both. The server name is
    /// checked as the spec defines it, and the whole ID is at most 255 bytes.
    pub fn parse(text: &str) -> Result<Self, InputError> {
        const HINT: &str = "write a user ID like @bot:example.org";
        let Some(rest) = text.strip_prefix('@') else {
            return Err(InputError::new(
                format!("'{text}' is not a user ID: it does not start with @"),
                HINT,
            ));
        };
        let Some((localpart, server_name)) = rest.split_once(':') else {
            return Err(InputError::new(
                format!("the user ID '{text}' has no server name after a colon"),
                HINT,
            ));
        };
        check_localpart(localpart)?;
        check_server_name(server_name)?;
        if text.len() > MAX_USER_ID_BYTES {
            return Err(InputError::new(
                format!("the user ID is {} bytes long", text.len()),
                format!("a user ID has at most {MAX_USER_ID_BYTES} bytes"),
            ));
        }
        Ok(Self {
            full: text.to_owned(),
            colon: localpart.len() + 1,
        })
    }

    /// The whole ID, `@bot:example.org`.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The part between `@` and the first colon: `bot`.
    pub fn localpart(&self) -> &str {
        &self.full[1..self.colon]
    }

    /// The part after the first colon: `example.org` (a port, if any, stays: `localhost:8448`).
    pub fn server_name(&self) -> &str {
        &self.full[self.colon + 1..]
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.full, f)
    }
}

impl PartialEq<str> for UserId {
    fn eq(&self, other: &str) -> bool {
        self.full == other
    }
}

impl serde::Serialize for UserId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.full)
    }
}

impl<'de> serde::Deserialize<'de> for UserId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(|err| serde::de::Error::custom(err.problem))
    }
}

/// Who logs in: a full user ID, or a bare user name (localpart) that the homeserver completes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserArg {
    /// `@bot:example.org`
    Full(UserId),
    /// `bot`
    Localpart(String),
}

impl UserArg {
    /// Parses either form: text starting with `@` must be a full user ID, anything else a user
    /// name.
    pub fn parse(text: &str) -> Result<Self, InputError> {
        if text.starts_with('@') {
            return UserId::parse(text).map(Self::Full);
        }
        if text.contains(':') {
            return Err(InputError::new(
                format!("'{text}' looks like a user ID without the leading @"),
                format!("write @{text}, or only the user name before the colon"),
            ));
        }
        if let Some((name, server)) = text.split_once('@') {
            return Err(InputError::new(
                format!("'{text}' looks like an e-mail address, not a Matrix user"),
                format!("a Matrix user ID is written @{name}:{server}"),
            ));
        }
        check_localpart(text)?;
        Ok(Self::Localpart(text.to_owned()))
    }

    /// The text sent as the `m.id.user` identifier.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Full(id) => id.as_str(),
            Self::Localpart(name) => name,
        }
    }

    /// The server name, when the user ID names one.
    pub fn server_name(&self) -> Option<&str> {
        match self {
            Self::Full(id) => Some(id.server_name()),
            Self::Localpart(_) => None,
        }
    }

    /// True when `user_id` (as a server answered it) is this user: the same user ID, or for a
    /// bare user name the same localpart. Letters are compared without case, as Synapse logs
    /// users in.
    ///
    /// ```
    /// use nu_plugin_matrix::{UserArg, UserId};
    /// let bot = UserId::parse("@bot:example.org")?;
    /// assert!(UserArg::parse("Bot")?.is(&bot));
    /// assert!(UserArg::parse("@bot:example.org")?.is(&bot));
    /// assert!(!UserArg::parse("@alice:example.org")?.is(&bot));
    /// # Ok::<(), nu_plugin_matrix::InputError>(())
    /// ```
    pub fn is(&self, user_id: &UserId) -> bool {
        match self {
            Self::Full(id) => id.as_str().eq_ignore_ascii_case(user_id.as_str()),
            Self::Localpart(name) => user_id.localpart().eq_ignore_ascii_case(name),
        }
    }
}

fn check_localpart(localpart: &str) -> Result<(), InputError> {
    if localpart.is_empty() {
        return Err(InputError::new(
            "the user name is empty",
            "write a user ID like @bot:example.org",
        ));
    }
    // The historical grammar: U+0021 to U+0039 and U+003B to U+007E.
    if let Some(bad) = localpart
        .chars()
        .find(|c| !c.is_ascii_graphic() || *c == ':')
    {
        return Err(InputError::new(
            format!(
                "the user name '{localpart}' contains {}",
                describe_char(bad)
            ),
            "user names are made of ASCII letters, digits and . _ = - / +",
        ));
    }
    if localpart.len() > MAX_USER_ID_BYTES {
        return Err(InputError::new(
            format!("the user name is {} bytes long", localpart.len()),
            format!("a user ID has at most {MAX_USER_ID_BYTES} bytes"),
        ));
    }
    Ok(())
}

fn describe_char(c: char) -> String {
    if c == ' ' {
        "a space".into()
    } else if c.is_whitespace() || c.is_control() {
        format!("the character U+{:04X}", u32::from(c))
    } else if !c.is_ascii() {
        format!("'{c}', which is not ASCII")
    } else {
        format!("'{c}'")
    }
}

/// Checks a server name: a DNS name, an IPv4 address or a bracketed IPv6 address, with an
/// optional port.
pub fn check_server_name(server_name: &str) -> Result<(), InputError> {
    const HINT: &str =
        "a server name is a host name with an optional port, like example.org or localhost:8448";
    if server_name.is_empty() {
        return Err(InputError::new("the server name is empty", HINT));
    }
    let (host, port) = split_host_port(server_name);
    let valid_port = |port: &str| {
        (1..=5).contains(&port.len())
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok()
    };
    if port.is_some_and(|port| !valid_port(port)) {
        return Err(InputError::new(
            format!("the server name '{server_name}' has an invalid port"),
            HINT,
        ));
    }
    let valid_host = if let Some(ipv6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        ipv6.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host.len() <= 255
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    };
    if !valid_host {
        return Err(InputError::new(
            format!("'{server_name}' is not a valid server name"),
            HINT,
        ));
    }
    Ok(())
}

/// Splits `host[:port]`, minding bracketed IPv6 literals.
fn split_host_port(server_name: &str) -> (&str, Option<&str>) {
    if server_name.starts_with('[') {
        return match server_name.find(']') {
            Some(end) => {
                let (host, rest) = server_name.split_at(end + 1);
                (host, rest.strip_prefix(':'))
            }
            None => (server_name, None),
        };
    }
    match server_name.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (server_name, None),
    }
}

/// Checks and normalises a homeserver base URL, e.g. `https://matrix.example.org` or
/// `https://example.org/matrix/`. The result has no trailing slash, so endpoint paths can be
/// appended to it.
pub fn homeserver_url(text: &str) -> Result<String, InputError> {
    const HINT: &str = "give the homeserver's base URL, like https://matrix.example.org";
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(InputError::new("the homeserver URL is empty", HINT));
    }
    if !trimmed.contains("://") {
        return Err(InputError::new(
            format!("'{trimmed}' has no scheme"),
            format!("write https://{trimmed}"),
        ));
    }
    let url = Url::parse(trimmed)
        .map_err(|err| InputError::new(format!("'{trimmed}' is not a valid URL: {err}"), HINT))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(InputError::new(
            format!("the scheme '{}' is not supported", url.scheme()),
            "a homeserver URL starts with https:// (or http:// for a local test server)",
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(InputError::new(format!("'{trimmed}' has no host"), HINT));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Never echo the text: it holds credentials.
        return Err(InputError::new(
            "the homeserver URL contains a user name or password",
            "remove the user@ part: credentials go in the login, not in the URL",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(InputError::new(
            format!("the homeserver URL '{trimmed}' has a query or fragment"),
            "remove everything from ? or # on",
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// Whether a homeserver URL may be used: https always; plain http only to this machine
/// (`localhost`, 127.0.0.0/8, `[::1]`), unless `allow_http` says any host.
pub fn http_allowed(url: &str, allow_http: bool) -> bool {
    let Ok(parsed) = Url::parse(url) else {
        return false;
    };
    if parsed.scheme() != "http" || allow_http {
        return true;
    }
    match parsed.host() {
        Some(url::Host::Domain(domain)) => domain == "localhost" || domain.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_user_id_splits_at_the_first_colon() {
        let id = UserId::parse("@bot:example.org").expect("valid");
        assert_eq!(id.localpart(), "bot");
        assert_eq!(id.server_name(), "example.org");
        let id = UserId::parse("@bot:localhost:8448").expect("valid with port");
        assert_eq!(id.server_name(), "localhost:8448");
        let id = UserId::parse("@bot:[::1]:8448").expect("valid ipv6");
        assert_eq!(id.server_name(), "[::1]:8448");
    }

    #[test]
    fn bad_user_ids_are_refused_with_a_reason() {
        for (text, needle) in [
            ("bot:example.org", "without the leading @"),
            ("@bot", "no server name"),
            ("@:example.org", "empty"),
            ("@bo t:example.org", "a space"),
            ("@bot:", "server name is empty"),
            ("@bot:exa mple.org", "not a valid server name"),
            ("@bot:example.org:99999999", "invalid port"),
            ("@bot:[zz]:1", "not a valid server name"),
            ("bo\tt", "U+0009"),
        ] {
            let err = UserArg::parse(text).expect_err(text);
            assert!(err.problem.contains(needle), "{text}: {err}");
        }
        let long = format!("@{}:example.org", "a".repeat(250));
        assert!(
            UserArg::parse(&long)
                .expect_err("too long")
                .problem
                .contains("bytes")
        );
    }

    /// The spec's grammar (appendices, "User Identifiers"), current and historical.
    #[test]
    fn user_ids_follow_the_spec_grammar() {
        for valid in [
            "@alice:example.org",
            "@a.b_c=d-e/f+g:example.org",
            "@0123456789:example.org",
            // Historical: upper case and other printable ASCII, still found on old servers.
            "@Alice!#$%&'*:example.org",
            "@bot@home:example.org",
            "@x:1.2.3.4:8448",
        ] {
            let id = UserId::parse(valid).unwrap_or_else(|err| panic!("{valid}: {err}"));
            assert_eq!(id, *valid);
        }
        for (invalid, needle) in [
            ("@é:example.org", "not ASCII"),
            ("@ü:example.org", "not ASCII"),
            ("@a\u{7f}:example.org", "U+007F"),
            ("@a\"b c:example.org", "a space"),
            ("@bot:exa_mple.org", "not a valid server name"),
            ("@bot:example.org:", "invalid port"),
        ] {
            let err = UserId::parse(invalid).expect_err(invalid);
            assert!(err.problem.contains(needle), "{invalid}: {err}");
        }
        let longest = format!("@{}:example.org", "a".repeat(MAX_USER_ID_BYTES - 13));
        assert_eq!(longest.len(), MAX_USER_ID_BYTES);
        assert!(UserId::parse(&longest).is_ok());
        assert!(UserId::parse(&format!("@a{}", &longest[1..])).is_err());
    }

    #[test]
    fn user_ids_round_trip_through_serde() {
        let id = UserId::parse("@bot:example.org").expect("valid");
        let json = serde_json::to_string(&id).expect("serialises");
        assert_eq!(json, "\"@bot:example.org\"");
        assert_eq!(serde_json::from_str::<UserId>(&json).expect("parses"), id);
        assert!(serde_json::from_str::<UserId>("\"bot\"").is_err());
    }

    #[test]
    fn an_email_address_is_not_a_user_name() {
        let err = UserArg::parse("bot@example.org").expect_err("e-mail");
        assert!(err.hint.contains("@bot:example.org"), "{err}");
    }

    #[test]
    fn localpart_alone_is_accepted() {
        assert_eq!(UserArg::parse("bot"), Ok(UserArg::Localpart("bot".into())));
        assert_eq!(UserArg::parse("bot").expect("valid").server_name(), None);
    }

    #[test]
    fn homeserver_urls_are_normalised() {
        assert_eq!(
            homeserver_url("https://matrix.example.org/").as_deref(),
            Ok("https://matrix.example.org")
        );
        assert_eq!(
            homeserver_url("http://127.0.0.1:8008").as_deref(),
            Ok("http://127.0.0.1:8008")
        );
        assert_eq!(
            homeserver_url("https://example.org/matrix/").as_deref(),
            Ok("https://example.org/matrix")
        );
    }

    #[test]
    fn plain_http_only_to_this_machine() {
        assert!(http_allowed("https://matrix.example.org", false));
        assert!(http_allowed("http://127.0.0.1:8008", false));
        assert!(http_allowed("http://127.1.2.3", false));
        assert!(http_allowed("http://localhost:8008", false));
        assert!(http_allowed("http://[::1]:8008", false));
        assert!(!http_allowed("http://matrix.example.org", false));
        assert!(!http_allowed("http://10.0.0.1", false));
        assert!(http_allowed("http://matrix.example.org", true));
    }

    #[test]
    fn bad_homeserver_urls_are_refused() {
        for (text, needle) in [
            ("matrix.example.org", "write https://matrix.example.org"),
            ("ftp://example.org", "scheme 'ftp'"),
            ("https://user:pw@example.org", "user name or password"),
            ("https://example.org/?a=b", "query or fragment"),
            ("https://example.org/#x", "query or fragment"),
            ("", "empty"),
            ("https://", "not a valid URL"),
        ] {
            let err = homeserver_url(text).expect_err(text);
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
        let err = homeserver_url("https://user:hunter2@example.org").expect_err("userinfo");
        assert!(!err.to_string().contains("hunter2"));
    }
}
