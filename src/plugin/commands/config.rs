use std::time::Duration;

use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{Category, Example, LabeledError, Record, Signature, Span, Type, Value};

use crate::client::ClientConfig;
use crate::e2ee::DEFAULT_KEY_GRACE;
use crate::plugin::MatrixPlugin;
use crate::plugin::config::{PluginConfig, device_name_or_default};
use crate::plugin::oauth_login::CLIENT_URI;
use crate::store::SecretsSetting;

/// The settings, in the order `matrix config` shows them.
const SETTINGS: [&str; 11] = [
    "homeserver",
    "timeout",
    "allow_http",
    "ca_file",
    "max_rate_limit_wait",
    "oauth_client_uri",
    "device_name",
    "secrets",
    "e2ee_share",
    "key_grace",
    "share_history",
];

/// `matrix config`: the plugin's settings in effect, their defaults, and where each came from.
pub struct Config;

impl SimplePluginCommand for Config {
    type Plugin = MatrixPlugin;

    fn name(&self) -> &str {
        "matrix config"
    }

    fn description(&self) -> &str {
        "The plugin's settings in effect ($env.config.plugins.matrix), with their defaults and where each came from."
    }

    fn extra_description(&self) -> &str {
        "A row per setting: `setting`, `value` (in effect), `default`, and `source`: \
         `$env.config.plugins.matrix` when set there, else `default`. Flags of a command (such as \
         --timeout or --homeserver) win over both. Set them with, e.g., \
         `$env.config.plugins.matrix = {timeout: 20sec}`; a bad value is an error naming it."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .input_output_types(vec![(Type::Nothing, Type::table())])
            .category(Category::Network)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["settings", "configuration", "defaults"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "(matrix config).setting",
                description: "The settings there are (each a key of $env.config.plugins.matrix)",
                result: Some(Value::test_list(
                    SETTINGS
                        .iter()
                        .map(|name| Value::test_string(*name))
                        .collect(),
                )),
            },
            Example {
                example: "matrix config | where source != default",
                description: "The settings changed from their defaults",
                result: None,
            },
        ]
    }

    fn run(
        &self,
        _plugin: &MatrixPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        _input: &Value,
    ) -> Result<Value, LabeledError> {
        let span = call.head;
        let config = PluginConfig::read(engine)?;
        let set: Vec<String> = match engine.get_plugin_config()? {
            Some(Value::Record { val, .. }) => val.columns().cloned().collect(),
            _ => Vec::new(),
        };
        let defaults = ClientConfig::default();
        let client = &config.client;
        let duration =
            |at: Duration| Value::duration(i64::try_from(at.as_nanos()).unwrap_or(i64::MAX), span);
        let text = |text: Option<String>| {
            text.map_or_else(|| Value::nothing(span), |text| Value::string(text, span))
        };
        let rows = [
            (
                "homeserver",
                text(config.homeserver.as_ref().map(|url| url.item.clone())),
                Value::string("(discovery from the user ID)", span),
            ),
            (
                "timeout",
                duration(client.timeout),
                duration(defaults.timeout),
            ),
            (
                "allow_http",
                Value::bool(client.allow_http, span),
                Value::bool(defaults.allow_http, span),
            ),
            (
                "ca_file",
                text(
                    client
                        .ca_file
                        .as_ref()
                        .map(|path| path.display().to_string()),
                ),
                Value::string("(the system's trusted roots)", span),
            ),
            (
                "max_rate_limit_wait",
                duration(client.max_rate_limit_wait),
                duration(defaults.max_rate_limit_wait),
            ),
            (
                "oauth_client_uri",
                Value::string(
                    config
                        .oauth_client_uri
                        .clone()
                        .unwrap_or_else(|| CLIENT_URI.into()),
                    span,
                ),
                Value::string(CLIENT_URI, span),
            ),
            (
                "device_name",
                Value::string(device_name_or_default(&config, None), span),
                Value::string(device_name_or_default(&PluginConfig::default(), None), span),
            ),
            (
                "secrets",
                Value::string(config.secrets.as_str(), span),
                Value::string(SecretsSetting::default().as_str(), span),
            ),
            (
                "e2ee_share",
                Value::string(
                    if config.e2ee_share_verified {
                        "verified"
                    } else {
                        "all"
                    },
                    span,
                ),
                Value::string("all", span),
            ),
            (
                "key_grace",
                duration(config.key_grace.unwrap_or(DEFAULT_KEY_GRACE)),
                duration(DEFAULT_KEY_GRACE),
            ),
            (
                "share_history",
                Value::bool(config.share_history, span),
                Value::bool(true, span),
            ),
        ];
        let rows = rows
            .into_iter()
            .map(|(setting, value, default)| row(setting, value, default, &set, span))
            .collect();
        Ok(Value::list(rows, span))
    }
}

fn row(setting: &str, value: Value, default: Value, set: &[String], span: Span) -> Value {
    let mut record = Record::new();
    record.push("setting", Value::string(setting, span));
    record.push("value", value);
    record.push("default", default);
    let source = if set.iter().any(|key| key == setting) {
        "$env.config.plugins.matrix"
    } else {
        "default"
    };
    record.push("source", Value::string(source, span));
    Value::record(record, span)
}
