use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{
    Category, Example, LabeledError, Record, Signature, Spanned, SyntaxShape, Type, Value,
};

use super::with_session;
use crate::error::ErrorCode;
use crate::plugin::MatrixPlugin;
use crate::plugin::active::{Active, failure};

/// `matrix devices rename <id> <name>`.
pub struct DevicesRename;

impl SimplePluginCommand for DevicesRename {
    type Plugin = MatrixPlugin;

    completes_sessions_and!(devices, 0);

    fn name(&self) -> &str {
        "matrix devices rename"
    }

    fn description(&self) -> &str {
        "Set the display name of one of the user's devices."
    }

    fn signature(&self) -> Signature {
        with_session(Signature::build(self.name()), Type::record())
            .required("device_id", SyntaxShape::String, "The device to rename.")
            .required("name", SyntaxShape::String, "Its new display name.")
            .category(Category::Network)
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example {
            example: "matrix devices rename BOT1 'ops bot (prod)'",
            description: "Rename the device BOT1 of the default session's user",
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
        let device: Spanned<String> = call.req(0)?;
        let name: Spanned<String> = call.req(1)?;
        let mut active = Active::resolve(plugin, engine, call, input)?;
        let blame = active.blame();
        active
            .run(plugin, |client, token| {
                client.rename_device(token, &device.item, &name.item)
            })
            .map_err(|err| match err {
                crate::plugin::active::Failure::Request(crate::Error::Matrix(err))
                    if err.errcode == ErrorCode::NotFound =>
                {
                    LabeledError::new(format!("No device {} for {}", device.item, blame.user_text))
                        .with_label("unknown device", device.span)
                        .with_help("`matrix devices` lists the user's devices")
                }
                other => failure(other, &blame),
            })?;
        let span = call.head;
        let mut record = Record::new();
        record.push("device_id", Value::string(device.item, span));
        record.push("display_name", Value::string(name.item, span));
        Ok(Value::record(record, span))
    }
}
