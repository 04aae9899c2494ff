use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{Category, Example, LabeledError, Record, Signature, Type, Value};

use super::with_session;
use crate::error::{E2eeKind, Error};
use crate::plugin::MatrixPlugin;
use crate::plugin::active::{Active, Failure, failure};

/// `matrix e2ee status`: the session's device as end-to-end encryption sees it.
pub struct E2eeStatus;

impl SimplePluginCommand for E2eeStatus {
    type Plugin = MatrixPlugin;

    completes_saved_sessions!(Flag);

    fn name(&self) -> &str {
        "matrix e2ee status"
    }

    fn description(&self) -> &str {
        "The saved session's device as end-to-end encryption sees it: its keys, its store, the \
         one-time keys on the server, the users it tracks, its cross-signing."
    }

    fn extra_description(&self) -> &str {
        "Fields: user_id, device_id, ed25519 (the fingerprint Element shows as the session key), \
         curve25519, store (its folder), store_state (opened; or locked, when another process \
         held it longer than the wait, and then the error says which), one_time_keys (unclaimed \
         on the server), tracked_users, cross_signing (master, self_signing, user_signing: \
         whether this device has each private key; signed: whether the owner's self-signing \
         key signed this device), backup (version, room_keys, backed_up: the key backup this \
         device sends its room keys to, after `matrix e2ee bootstrap` or `recover`; null \
         without one), identity_changed (the people this user verified, with `matrix e2ee \
         verify`, whose identity changed since: a new master key, from an account reset or a \
         take-over; their events are not verified until they are verified again, or the \
         change is accepted with `matrix e2ee withdraw`). The first run makes the device's \
         crypto store and uploads its keys."
    }

    fn signature(&self) -> Signature {
        with_session(Signature::build(self.name()), Type::record()).category(Category::Network)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["encryption", "fingerprint", "keys", "olm", "device"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example {
            example: "matrix e2ee status --session bot | get ed25519",
            description: "The bot device's fingerprint, to compare with what Element shows",
            result: None,
        }]
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
        let span = call.head;
        let status = plugin.run_crypto(&mut active, |crypto, client, token| {
            crypto.status(client, token)
        });
        let status = match status {
            Ok(status) => status,
            // Another process holds the store: that is the state to show.
            Err(Failure::Request(Error::E2ee(err))) if err.kind == E2eeKind::Busy => {
                let mut record = Record::new();
                record.push(
                    "user_id",
                    Value::string(active.session.user_id.as_str(), span),
                );
                record.push("device_id", Value::string(&active.session.device_id, span));
                let store = err.path.map(|path| path.display().to_string());
                record.push(
                    "store",
                    store.map_or(Value::nothing(span), |path| Value::string(path, span)),
                );
                record.push(
                    "store_state",
                    Value::string(format!("locked: {}", err.problem), span),
                );
                return Ok(Value::record(record, span));
            }
            Err(err) => return Err(failure(err, &blame)),
        };
        let text = |text: &str| Value::string(text, span);
        let mut cross_signing = Record::new();
        cross_signing.push("master", Value::bool(status.has_master_key, span));
        cross_signing.push(
            "self_signing",
            Value::bool(status.has_self_signing_key, span),
        );
        cross_signing.push(
            "user_signing",
            Value::bool(status.has_user_signing_key, span),
        );
        cross_signing.push("signed", Value::bool(status.signed_by_owner, span));
        let mut record = Record::new();
        record.push("user_id", text(active.session.user_id.as_str()));
        record.push("device_id", text(&active.session.device_id));
        record.push("ed25519", text(&status.ed25519));
        record.push("curve25519", text(&status.curve25519));
        record.push("store", text(&status.store.display().to_string()));
        record.push("store_state", text("opened"));
        record.push(
            "one_time_keys",
            Value::int(
                i64::try_from(status.one_time_keys_on_server).unwrap_or(i64::MAX),
                span,
            ),
        );
        record.push(
            "tracked_users",
            Value::list(
                status.tracked_users.iter().map(|user| text(user)).collect(),
                span,
            ),
        );
        record.push("cross_signing", Value::record(cross_signing, span));
        let count = |n: usize| Value::int(i64::try_from(n).unwrap_or(i64::MAX), span);
        let backup = status.backup.map_or(Value::nothing(span), |backup| {
            let mut record = Record::new();
            record.push("version", text(&backup.version));
            record.push("room_keys", count(backup.room_keys));
            record.push("backed_up", count(backup.backed_up));
            Value::record(record, span)
        });
        record.push("backup", backup);
        record.push(
            "identity_changed",
            Value::list(
                status
                    .identity_changed
                    .iter()
                    .map(|user| text(user))
                    .collect(),
                span,
            ),
        );
        Ok(Value::record(record, span))
    }
}
