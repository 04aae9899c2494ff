use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{
    Category, Example, IntoPipelineData, LabeledError, PipelineData, Record, Signature, Span,
    Spanned, SyntaxShape, Type, Value,
};

use super::Pipe;
use crate::error::ErrorCode;
use crate::oauth::{ACTION_DEVICE_DELETE, ACTION_DEVICES_LIST};
use crate::plugin::MatrixPlugin;
use crate::plugin::active::{Active, failure};
use crate::plugin::errors;
use crate::plugin::oauth::{Instead, oauth_instead};
use crate::plugin::password::{password_from, session_or_password};
use crate::plugin::session_store::forget;

/// `matrix devices delete <id>...`: deletes devices, confirming with the password.
pub struct DevicesDelete;

impl PluginCommand for DevicesDelete {
    type Plugin = MatrixPlugin;

    completes_sessions_and!(devices, _);

    fn name(&self) -> &str {
        "matrix devices delete"
    }

    fn description(&self) -> &str {
        "Delete devices of the user (their tokens stop working), confirming with the password."
    }

    fn extra_description(&self) -> &str {
        "The devices are named as arguments, or piped in as a list of device IDs or a table \
         with a device_id column (such as `matrix devices` gives); an empty list (a filter \
         that matched nothing) deletes nothing and asks for nothing. The homeserver asks for the \
         account's password to delete devices. It comes from the pipeline as a string (then \
         the session comes from --session or the default), from --password, or from a hidden \
         prompt. A wrong password deletes nothing."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .input_output_types(vec![
                (Type::Nothing, Type::record()),
                (Type::String, Type::record()),
                (Type::record(), Type::record()),
                (Type::Custom(crate::plugin::token::TYPE_NAME.into()), Type::record()),
                (Type::List(Box::new(Type::String)), Type::record()),
                (Type::table(), Type::record()),
            ])
            .rest("device_ids", SyntaxShape::String, "The devices to delete.")
            .named(
                "session",
                SyntaxShape::String,
                "Use this saved session (default: the pipeline's, else the saved default).",
                None,
            )
            .named(
                "password",
                SyntaxShape::String,
                "The account's password. A literal lands in your history: use --password (input -s).",
                Some('p'),
            )
            .category(Category::Network)
            .pipe(super::with_timeout)
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "input -s | matrix devices delete OLDDEV1 OLDDEV2",
                description: "Delete two devices of the default session's user, typing the password hidden",
                result: None,
            },
            Example {
                example: "matrix devices | where not current and last_seen != null and last_seen < ((date now) - 90day) | matrix devices delete",
                description: "Delete the devices not seen for three months (asks for the password)",
                result: None,
            },
        ]
    }

    fn run(
        &self,
        plugin: &MatrixPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        input: PipelineData,
    ) -> Result<PipelineData, LabeledError> {
        let mut ids: Vec<String> = call
            .rest::<Spanned<String>>(0)?
            .into_iter()
            .map(|id| id.item)
            .collect();
        // A string on the pipeline is the password, a list names devices; either way the
        // session comes from --session or the default. Anything else is the session.
        let mut rows_piped = false;
        let (session_input, piped) = match input {
            PipelineData::Value(Value::List { .. }, _) | PipelineData::ListStream(..) => {
                rows_piped = true;
                ids.extend(device_ids_of(input.into_value(call.head)?)?);
                (Value::nothing(call.head), None)
            }
            // One row of `matrix devices` (`first`, `get 0`): a device, not a session, which
            // would have an access_token.
            PipelineData::Value(Value::Record { ref val, .. }, _)
                if val.get("device_id").is_some() && val.get("access_token").is_none() =>
            {
                let row = input.into_value(call.head)?;
                let span = row.span();
                ids.extend(device_ids_of(Value::list(vec![row], span))?);
                (Value::nothing(call.head), None)
            }
            other => session_or_password(other, call.head)?,
        };
        // A filter that matched no device (`matrix devices | where ... | matrix devices
        // delete` in a cron job) deletes nothing: no password is asked, no request sent.
        if ids.is_empty() && rows_piped {
            return Ok(deleted_record(&[], &[], call.head).into_pipeline_data());
        }
        if ids.is_empty() {
            return Err(LabeledError::new("Which devices?")
                .with_label("no device IDs given", call.head)
                .with_help(
                    "name them (`matrix devices delete DEVICEID ...`) or pipe them in \
                     (`matrix devices | where ... | matrix devices delete`)",
                ));
        }
        let mut active = Active::resolve(plugin, engine, call, &session_input)?;
        let blame = active.blame();
        let flag: Option<Spanned<String>> = call.get_flag("password")?;
        // An OAuth 2.0 session has no password to confirm with: its server sends to the account
        // page instead (said below), so none is asked for.
        let password = if active.session.oauth.is_some() && piped.is_none() && flag.is_none() {
            None
        } else {
            Some(password_from(
                piped,
                flag,
                engine,
                call,
                "matrix devices delete",
                active.session.user_id.as_str(),
            )?)
        };
        let device_ids = ids;
        let user_id = active.session.user_id.clone();
        active
            .run(plugin, |client, token| {
                client.delete_devices(token, &device_ids, &user_id, password.as_ref())
            })
            .map_err(|err| match err {
                crate::plugin::active::Failure::Request(crate::Error::Matrix(err))
                    if err.errcode == ErrorCode::Forbidden =>
                {
                    LabeledError::new("Wrong password: no device was deleted")
                        .with_label("the password did not confirm this", call.head)
                        .with_help(format!("the server said: {err}"))
                }
                other => {
                    // One device has a page of its own; several are deleted from the list.
                    let (action, device_id) = match device_ids.as_slice() {
                        [one] => (ACTION_DEVICE_DELETE, Some(one.as_str())),
                        _ => (ACTION_DEVICES_LIST, None),
                    };
                    let instead = Instead {
                        what: "Deleting devices",
                        action: Some(action),
                        otherwise: "delete them in a client that logs in with OAuth 2.0",
                        device_id,
                        span: call.head,
                    };
                    oauth_instead(plugin, &active, &other, instead)
                        .unwrap_or_else(|| failure(other, &blame))
                }
            })?;
        let session = &active.session;
        for device_id in &device_ids {
            plugin.drop_store(&session.homeserver, session.user_id.as_str(), device_id);
        }
        let removed = forget(plugin, |s| {
            s.user_id == session.user_id
                && s.homeserver == session.homeserver
                && device_ids.contains(&s.device_id)
        })
        .map_err(|err| errors::store(err, call.head))?;
        Ok(deleted_record(&device_ids, &removed, call.head).into_pipeline_data())
    }
}

/// What `matrix devices delete` gives: the devices deleted, and the saved sessions forgotten
/// with them.
fn deleted_record(device_ids: &[String], removed: &[String], span: Span) -> Value {
    let strings = |texts: &[String]| {
        Value::list(
            texts.iter().map(|text| Value::string(text, span)).collect(),
            span,
        )
    };
    let mut record = Record::new();
    record.push("deleted", strings(device_ids));
    record.push("removed_sessions", strings(removed));
    Value::record(record, span)
}

/// Device IDs from a piped list: strings, or records with a `device_id` column.
fn device_ids_of(list: Value) -> Result<Vec<String>, LabeledError> {
    let span = list.span();
    let items = list.into_list().map_err(LabeledError::from)?;
    items
        .into_iter()
        .map(|item| match &item {
            Value::String { val, .. } => Ok(val.clone()),
            Value::Record { val, .. } => match val.get("device_id") {
                Some(Value::String { val, .. }) => Ok(val.clone()),
                _ => Err(LabeledError::new("A piped row has no device_id")
                    .with_label("expected a device_id column", item.span())),
            },
            other => Err(LabeledError::new("Expected device IDs")
                .with_label(format!("got {}", other.get_type()), span)
                .with_help("pipe a list of device IDs, or the rows of `matrix devices`")),
        })
        .collect()
}
