//! `$env.config.plugins.matrix`: defaults for the plugin's commands. Flags win over it.
//!
//! ```nu
//! $env.config.plugins.matrix = {
//!     homeserver: "https://matrix.example.org" # used when a login names no --homeserver
//!     timeout: 20sec                           # how long to wait for an answer
//!     allow_http: false                        # plain http to hosts other than this machine
//!     ca_file: ~/ca.pem                        # trust these CAs instead of the system's
//!     max_rate_limit_wait: 10sec               # wait out a 429 this long at most, once
//!     oauth_client_uri: "https://example.org/" # the page OAuth 2.0 consent screens link to
//!     device_name: "ops bots"                  # the name of the devices logins make
//!     secrets: auto                            # where saved tokens go: auto, keyring, file
//!     e2ee_share: all                          # room keys to: all devices, or verified ones
//!     key_grace: 10sec                         # how long a listener holds an event whose
//!                                              # room key has not come (0sec: never)
//!     share_history: true                      # an invitation shares the room's history
//! }
//! ```

use std::time::Duration;

use nu_plugin::{EngineInterface, EvaluatedCall};
use nu_protocol::{LabeledError, Span, Spanned, Value};

use crate::client::ClientConfig;
use crate::ids::homeserver_url;
use crate::store::SecretsSetting;

/// The plugin's configuration, checked.
#[derive(Debug, Clone)]
pub(crate) struct PluginConfig {
    /// A default homeserver base URL, with the span of its value.
    pub homeserver: Option<Spanned<String>>,
    /// Time-outs and the http policy for clients.
    pub client: ClientConfig,
    /// The https page this program names when it registers as an OAuth 2.0 client.
    pub oauth_client_uri: Option<String>,
    /// The name of the devices logins make, when `--device-name` gives none.
    pub device_name: Option<String>,
    /// Where saved sessions' tokens go.
    pub secrets: SecretsSetting,
    /// Whose devices get the room keys of encrypted messages sent: all, or only cross-signed.
    pub e2ee_share_verified: bool,
    /// How long `matrix listen` holds an encrypted event whose room key has not come; `None`:
    /// the default ([`crate::e2ee::DEFAULT_KEY_GRACE`]).
    pub key_grace: Option<Duration>,
    /// Whether `matrix api`'s invitations to an encrypted room share its history first.
    pub share_history: bool,
}

impl Default for PluginConfig {
    fn default() -> Self {
        Self {
            homeserver: None,
            client: ClientConfig::default(),
            oauth_client_uri: None,
            device_name: None,
            secrets: SecretsSetting::default(),
            e2ee_share_verified: false,
            key_grace: None,
            share_history: true,
        }
    }
}

/// The longest a listener holds an event waiting for its room key (`key_grace`, `--key-grace`).
pub(crate) const MAX_KEY_GRACE: Duration = Duration::from_secs(600);

/// The longest device ID or device name accepted, in bytes: one rule for `--device-id`,
/// `--device-name` and the `device_name` setting.
pub(crate) const MAX_DEVICE_BYTES: usize = 255;

/// The name of a device a login makes: `--device-name`, else the configured `device_name`, else
/// `nu_plugin_matrix on <host name>` (cut to [`MAX_DEVICE_BYTES`] at a character boundary).
pub(crate) fn device_name_or_default(config: &PluginConfig, given: Option<String>) -> String {
    given
        .or_else(|| config.device_name.clone())
        .unwrap_or_else(|| {
            let mut name = format!(
                "nu_plugin_matrix on {}",
                gethostname::gethostname().to_string_lossy()
            );
            let mut end = name.len().min(MAX_DEVICE_BYTES);
            while !name.is_char_boundary(end) {
                end -= 1;
            }
            name.truncate(end);
            name
        })
}

const KEYS: &str = "homeserver, timeout, allow_http, ca_file, max_rate_limit_wait, \
    oauth_client_uri, device_name, secrets, e2ee_share, key_grace, share_history";

impl PluginConfig {
    /// Reads `$env.config.plugins.matrix`. A bad value is an error naming its key.
    pub fn read(engine: &EngineInterface) -> Result<Self, LabeledError> {
        match engine.get_plugin_config()? {
            None => Ok(Self::default()),
            // The current folder costs an engine call: asked only for a relative `ca_file`.
            Some(value) => Self::from_value(&value, &|| {
                engine.get_current_dir().map_err(LabeledError::from)
            }),
        }
    }

    /// `cwd` gives the folder that a relative `ca_file` is relative to.
    fn from_value(
        value: &Value,
        cwd: &dyn Fn() -> Result<String, LabeledError>,
    ) -> Result<Self, LabeledError> {
        let Value::Record { val: record, .. } = value else {
            return Err(bad(
                "",
                value.span(),
                format!("is {}, not a record", value.get_type()),
                format!("set it to a record with any of: {KEYS}"),
            ));
        };
        let mut config = Self::default();
        for (key, value) in record.iter() {
            let span = value.span();
            match key.as_str() {
                "homeserver" => {
                    let Value::String { val, .. } = value else {
                        return Err(bad(
                            key,
                            span,
                            format!("is {}, not a string", value.get_type()),
                            "give a URL such as https://matrix.example.org".into(),
                        ));
                    };
                    let url =
                        homeserver_url(val).map_err(|err| bad(key, span, err.problem, err.hint))?;
                    config.homeserver = Some(Spanned { item: url, span });
                }
                "timeout" => {
                    let timeout = duration(value).ok_or_else(|| {
                        bad(
                            key,
                            span,
                            describe_duration(value),
                            "give a duration such as 20sec".into(),
                        )
                    })?;
                    config.client.set_timeout(timeout);
                }
                "max_rate_limit_wait" => {
                    config.client.max_rate_limit_wait = match value {
                        Value::Duration { val: 0, .. } => Duration::ZERO,
                        other => duration(other).ok_or_else(|| {
                            bad(
                                key,
                                span,
                                describe_duration(other),
                                "give a duration such as 10sec (0sec: never wait)".into(),
                            )
                        })?,
                    };
                }
                "share_history" => {
                    config.share_history = value.as_bool().map_err(|_| {
                        bad(
                            key,
                            span,
                            format!("is {}, not true or false", value.get_type()),
                            "true: an invitation to an encrypted room shares the room keys of \
                             its history with the invitee first (as Element X does); false: \
                             never"
                                .into(),
                        )
                    })?;
                }
                "key_grace" => {
                    config.key_grace = Some(match value {
                        Value::Duration { val: 0, .. } => Duration::ZERO,
                        other => duration(other)
                            .filter(|grace| *grace <= MAX_KEY_GRACE)
                            .ok_or_else(|| {
                                let what = match duration(other) {
                                    Some(_) => "is more than 10min".to_owned(),
                                    None => describe_duration(other),
                                };
                                bad(
                                    key,
                                    span,
                                    what,
                                    "give a duration up to 10min such as 10sec (0sec: hand an \
                                     undecryptable event out at once)"
                                        .into(),
                                )
                            })?,
                    });
                }
                "ca_file" => {
                    let Value::String { val, .. } = value else {
                        return Err(bad(
                            key,
                            span,
                            format!("is {}, not a path", value.get_type()),
                            "give the path of a PEM file of CA certificates".into(),
                        ));
                    };
                    // `~/` is the home folder; a relative path is relative to the current one.
                    let path = match (val.strip_prefix("~/"), dirs::home_dir()) {
                        (Some(rest), Some(home)) => home.join(rest),
                        _ if std::path::Path::new(val).is_absolute() => val.into(),
                        _ => std::path::Path::new(&cwd()?).join(val),
                    };
                    if !path.is_file() {
                        return Err(bad(
                            key,
                            span,
                            format!("names no file ({})", path.display()),
                            "give the path of a PEM file of CA certificates".into(),
                        ));
                    }
                    config.client.ca_file = Some(path);
                }
                "allow_http" => {
                    let Value::Bool { val, .. } = value else {
                        return Err(bad(
                            key,
                            span,
                            format!("is {}, not a bool", value.get_type()),
                            "give true or false".into(),
                        ));
                    };
                    config.client.allow_http = *val;
                }
                "oauth_client_uri" => {
                    let page = match value {
                        Value::String { val, .. } => url::Url::parse(val)
                            .ok()
                            .filter(|url| url.scheme() == "https" && url.host().is_some()),
                        _ => None,
                    };
                    let Some(page) = page else {
                        return Err(bad(
                            key,
                            span,
                            "is not an https address".into(),
                            "give the https page about this program that OAuth 2.0 consent \
                             screens link to, e.g. https://example.org/matrix-bots"
                                .into(),
                        ));
                    };
                    config.oauth_client_uri = Some(page.into());
                }
                "device_name" => {
                    let name = match value {
                        Value::String { val, .. } => Some(val.trim())
                            .filter(|name| !name.is_empty() && name.len() <= MAX_DEVICE_BYTES)
                            .filter(|name| !name.chars().any(char::is_control)),
                        _ => None,
                    };
                    let Some(name) = name else {
                        return Err(bad(
                            key,
                            span,
                            "is not a short line of text".into(),
                            format!(
                                "give a name of at most {MAX_DEVICE_BYTES} bytes, e.g. \"ops bots\""
                            ),
                        ));
                    };
                    config.device_name = Some(name.to_owned());
                }
                "secrets" => {
                    config.secrets = match value.as_str() {
                        Ok("auto") => SecretsSetting::Auto,
                        Ok("keyring") => SecretsSetting::Keyring,
                        Ok("file") => SecretsSetting::File,
                        _ => {
                            return Err(bad(
                                key,
                                span,
                                "is not auto, keyring or file".into(),
                                "auto: the system keyring when one answers, else the session \
                                 file; keyring: the keyring or an error; file: the session file"
                                    .into(),
                            ));
                        }
                    };
                }
                "e2ee_share" => {
                    config.e2ee_share_verified = match value.as_str() {
                        Ok("all") => false,
                        Ok("verified") => true,
                        _ => {
                            return Err(bad(
                                key,
                                span,
                                "is not all or verified".into(),
                                "all: every device of the room's members gets the room keys \
                                 (as Element does); verified: only devices their owner \
                                 cross-signed"
                                    .into(),
                            ));
                        }
                    };
                }
                _ => {
                    return Err(bad(
                        key,
                        span,
                        "is not a setting of this plugin".into(),
                        format!("the settings are: {KEYS}"),
                    ));
                }
            }
        }
        Ok(config)
    }

    /// The configuration with the command's `--timeout`, if given, applied over it.
    pub fn for_call(engine: &EngineInterface, call: &EvaluatedCall) -> Result<Self, LabeledError> {
        let mut config = Self::read(engine)?;
        if let Some(value) = call.get_flag_value("timeout") {
            let timeout = duration(&value).ok_or_else(|| {
                LabeledError::new("Invalid --timeout")
                    .with_label(describe_duration(&value), value.span())
                    .with_help("give a positive duration such as 20sec")
            })?;
            config.client.set_timeout(timeout);
        }
        Ok(config)
    }
}

/// A positive duration value.
pub(crate) fn duration(value: &Value) -> Option<Duration> {
    match value {
        Value::Duration { val, .. } => u64::try_from(*val)
            .ok()
            .filter(|nanos| *nanos > 0)
            .map(Duration::from_nanos),
        _ => None,
    }
}

fn describe_duration(value: &Value) -> String {
    match value {
        Value::Duration { .. } => "is not positive".into(),
        other => format!("is {}, not a duration", other.get_type()),
    }
}

fn bad(key: &str, span: Span, problem: String, hint: String) -> LabeledError {
    let path = if key.is_empty() {
        "$env.config.plugins.matrix".to_owned()
    } else {
        format!("$env.config.plugins.matrix.{key}")
    };
    LabeledError::new(format!("Invalid setting {path}"))
        .with_label(format!("{path} {problem}"), span)
        .with_help(hint)
}

#[cfg(test)]
mod tests {
    use nu_protocol::record;

    use super::*;

    fn read(value: Value) -> Result<PluginConfig, String> {
        PluginConfig::from_value(&value, &|| Ok("/".to_owned())).map_err(|err| {
            format!(
                "{} | {}",
                err.msg,
                err.labels
                    .iter()
                    .map(|l| l.text.clone())
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        })
    }

    #[test]
    fn settings_are_read() {
        let span = Span::test_data();
        let config = read(Value::test_record(record! {
            "homeserver" => Value::string("https://matrix.example.org/", span),
            "timeout" => Value::duration(5_000_000_000, span),
            "allow_http" => Value::bool(true, span),
            "oauth_client_uri" => Value::string("https://example.org/bots", span),
            "device_name" => Value::string(" ops bots ", span),
        }))
        .expect("valid");
        assert_eq!(config.device_name.as_deref(), Some("ops bots"));
        assert_eq!(
            device_name_or_default(&config, Some("given".into())),
            "given"
        );
        assert_eq!(device_name_or_default(&config, None), "ops bots");
        assert!(
            device_name_or_default(&PluginConfig::default(), None)
                .starts_with("nu_plugin_matrix on ")
        );
        assert_eq!(
            config.oauth_client_uri.as_deref(),
            Some("https://example.org/bots")
        );
        assert_eq!(
            config.homeserver.map(|h| h.item).as_deref(),
            Some("https://matrix.example.org")
        );
        assert_eq!(config.client.timeout, Duration::from_secs(5));
        assert_eq!(config.client.connect_timeout, Duration::from_secs(5));
        assert!(config.client.allow_http);
        // The longest name --device-name takes is the longest the setting takes.
        let longest = "n".repeat(MAX_DEVICE_BYTES);
        let config = read(Value::test_record(
            record! {"device_name" => Value::string(&longest, span)},
        ))
        .expect("valid");
        assert_eq!(config.device_name, Some(longest));
    }

    #[test]
    fn bad_settings_name_their_key() {
        let span = Span::test_data();
        for (value, needle) in [
            (
                record! {"homeserver" => Value::int(1, span)},
                "plugins.matrix.homeserver is int",
            ),
            (
                record! {"homeserver" => Value::string("matrix.example.org", span)},
                "plugins.matrix.homeserver",
            ),
            (
                record! {"timeout" => Value::int(5, span)},
                "plugins.matrix.timeout is int",
            ),
            (
                record! {"timeout" => Value::duration(-1, span)},
                "plugins.matrix.timeout is not positive",
            ),
            (
                record! {"allow_http" => Value::string("yes", span)},
                "plugins.matrix.allow_http is string",
            ),
            (
                record! {"oauth_client_uri" => Value::string("http://example.org/", span)},
                "plugins.matrix.oauth_client_uri is not an https address",
            ),
            (
                record! {"device_name" => Value::string("", span)},
                "plugins.matrix.device_name is not a short line of text",
            ),
            (
                record! {"device_name" => Value::string("n".repeat(MAX_DEVICE_BYTES + 1), span)},
                "plugins.matrix.device_name is not a short line of text",
            ),
            (
                record! {"e2ee_share" => Value::string("everyone", span)},
                "plugins.matrix.e2ee_share is not all or verified",
            ),
            (
                record! {"secrets" => Value::string("vault", span)},
                "plugins.matrix.secrets is not auto, keyring or file",
            ),
            (
                record! {"key_grace" => Value::duration(3_600_000_000_000, span)},
                "plugins.matrix.key_grace is more than 10min",
            ),
            (
                record! {"key_grace" => Value::int(10, span)},
                "plugins.matrix.key_grace is int",
            ),
            (
                record! {"share_history" => Value::string("yes", span)},
                "plugins.matrix.share_history is string, not true or false",
            ),
            (
                record! {"secrets" => Value::bool(true, span)},
                "plugins.matrix.secrets is not auto, keyring or file",
            ),
            (
                record! {"homeservr" => Value::string("x", span)},
                "plugins.matrix.homeservr is not a setting",
            ),
        ] {
            let err = read(Value::test_record(value)).expect_err(needle);
            assert!(err.contains(needle), "{err}");
        }
        assert!(
            read(Value::test_int(3))
                .expect_err("not a record")
                .contains("not a record")
        );
    }
}
