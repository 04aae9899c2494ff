use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{
    Category, Example, LabeledError, Record, Signature, Spanned, SyntaxShape, Type, Value,
};

use super::{table_of, with_session};
use crate::error::Error;
use crate::plugin::MatrixPlugin;
use crate::plugin::active::{Active, Failure, failure};
use crate::plugin::rows::maybe;
use crate::plugin::token::{date_or_nothing, text_or_nothing};

/// `matrix devices`: the user's devices as a table.
pub struct Devices;

impl SimplePluginCommand for Devices {
    type Plugin = MatrixPlugin;

    completes_saved_sessions!(Flag);

    fn name(&self) -> &str {
        "matrix devices"
    }

    fn description(&self) -> &str {
        "List the devices (sessions) of the user, most recently seen first; or another user's."
    }

    fn extra_description(&self) -> &str {
        "Columns: device_id, display_name, last_seen_ip, last_seen, current (the device of this \
         session), verified (cross-signed by the user: its keys signed by the user's \
         self-signing key, signed by the master key, each signature checked; false for a \
         device without keys, which never used encryption). Two requests: /devices and \
         /keys/query. With a user (`matrix devices @admin:example.org`): that user's devices \
         as the saved session's device knows them (their keys asked for the server), and \
         verified means cross-signed by their owner and the owner verified by this user \
         (`matrix e2ee verify`): what the `verified` of their events says. Another user's \
         display_name is what their keys carry; last_seen and last_seen_ip are theirs alone \
         (nothing)."
    }

    fn signature(&self) -> Signature {
        with_session(
            Signature::build(self.name()).optional(
                "user",
                SyntaxShape::String,
                "Another user whose devices to list (@name:server); needs a saved session.",
            ),
            table_of(&[
                ("device_id", Type::String),
                ("display_name", maybe(Type::String)),
                ("last_seen_ip", maybe(Type::String)),
                ("last_seen", maybe(Type::Date)),
                ("current", Type::Bool),
                ("verified", Type::Bool),
            ]),
        )
        .category(Category::Network)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["sessions", "logins", "list devices"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "matrix devices",
                description: "The devices of the default session's user",
                result: None,
            },
            Example {
                example: "matrix devices @admin:example.org --session bot | where not verified",
                description: "The devices of @admin the bot does not trust",
                result: None,
            },
            Example {
                example: "matrix devices --session bot | where last_seen < ((date now) - 90day)",
                description: "Devices of the bot not seen for three months",
                result: None,
            },
        ]
    }

    fn run(
        &self,
        plugin: &MatrixPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        input: &Value,
    ) -> Result<Value, LabeledError> {
        let mut active = Active::resolve(plugin, engine, call, input)?;
        let blame = active.blame();
        let user: Option<Spanned<String>> = call.opt(0)?;
        if let Some(user) = user.filter(|user| user.item != active.session.user_id.as_str()) {
            return their_devices(plugin, &mut active, &user, call);
        }
        let mut devices = active
            .run(plugin, |client, token| client.devices(token))
            .map_err(|err| failure(err, &blame))?;
        let user_id = active.session.user_id.to_string();
        let signed = active
            .run(plugin, |client, token| {
                client.cross_signed_devices(token, &user_id)
            })
            .map_err(|err| failure(err, &blame))?;
        devices.sort_by_key(|device| std::cmp::Reverse(device.last_seen));
        let span = call.head;
        let rows = devices
            .into_iter()
            .map(|device| {
                let mut row = Record::new();
                let current = device.device_id == active.session.device_id;
                let verified = signed.get(&device.device_id).copied().unwrap_or(false);
                row.push("device_id", Value::string(device.device_id, span));
                row.push("display_name", text_or_nothing(device.display_name, span));
                row.push("last_seen_ip", text_or_nothing(device.last_seen_ip, span));
                row.push("last_seen", date_or_nothing(device.last_seen, span));
                row.push("current", Value::bool(current, span));
                row.push("verified", Value::bool(verified, span));
                Value::record(row, span)
            })
            .collect();
        Ok(Value::list(rows, span))
    }
}

/// Another user's devices, as the session's device judges them.
fn their_devices(
    plugin: &MatrixPlugin,
    active: &mut Active,
    user: &Spanned<String>,
    call: &EvaluatedCall,
) -> Result<Value, LabeledError> {
    let blame = active.blame();
    let devices = plugin
        .run_crypto(active, |crypto, client, token| {
            crypto.devices_of(client, token, &user.item)
        })
        .map_err(|err| match err {
            Failure::Request(Error::Input(input)) => LabeledError::new(input.problem.clone())
                .with_label("not a user ID", user.span)
                .with_help(input.hint),
            other => failure(other, &blame),
        })?;
    let span = call.head;
    let rows = devices
        .into_iter()
        .map(|device| {
            let mut row = Record::new();
            row.push("device_id", Value::string(device.device_id, span));
            row.push("display_name", text_or_nothing(device.display_name, span));
            row.push("last_seen_ip", Value::nothing(span));
            row.push("last_seen", Value::nothing(span));
            row.push("current", Value::bool(false, span));
            row.push("verified", Value::bool(device.verified, span));
            Value::record(row, span)
        })
        .collect();
    Ok(Value::list(rows, span))
}
