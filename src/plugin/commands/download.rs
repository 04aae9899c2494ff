use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{
    Category, Example, LabeledError, Signature, Span, Spanned, SyntaxShape, Type, Value,
};
use serde_json::Value as JsonValue;

use super::with_session;
use crate::error::Error;
use crate::media::Mxc;
use crate::plugin::MatrixPlugin;
use crate::plugin::active::{Active, Failure, failure};
use crate::plugin::errors;
use crate::plugin::json;

/// `matrix download`: a file of a message, as binary.
pub struct Download;

impl SimplePluginCommand for Download {
    type Plugin = MatrixPlugin;

    completes_saved_sessions!(Flag);

    fn name(&self) -> &str {
        "matrix download"
    }

    fn description(&self) -> &str {
        "The file of a message (an image, a file, ...) as binary: pipe it to `save`."
    }

    fn extra_description(&self) -> &str {
        "The file is a row of `matrix listen` or `matrix messages` with media on the pipeline \
         (its url; in an encrypted room the file is decrypted with the key its event carries, \
         and its hash checked), or an mxc:// URL. Through the authenticated media API (the \
         session's token), or the legacy one on a server without it. The session comes from \
         --session or the saved default."
    }

    fn signature(&self) -> Signature {
        with_session(Signature::build(self.name()), Type::Binary)
            .optional(
                "mxc",
                SyntaxShape::String,
                "The mxc:// URL (or pipe a row).",
            )
            .category(Category::Network)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["media", "attachment", "image", "file", "save"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example {
            example: "matrix messages '#ops:example.org' --session bot | where msgtype == 'm.file' | first | matrix download --session bot | save --raw -f saved.pdf",
            description: "Save the last file sent to #ops",
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
        let argument: Option<Spanned<String>> = call.opt(0)?;
        let (url, file, span, session_input) = match (argument, input) {
            (Some(url), Value::Nothing { .. }) => (url.item, None, url.span, input.clone()),
            (Some(url), _) if !is_row(input) => (url.item, None, url.span, input.clone()),
            (None, Value::Record { val, .. }) if is_row(input) => {
                let content = val.get("content").map(json::from_value).transpose()?;
                let file = content.as_ref().map(|content| content["file"].clone());
                let url = val.get("url").and_then(|url| url.as_str().ok());
                let Some(url) = url else {
                    return Err(no_media(input.span()));
                };
                // An encrypted attachment's `file` must be its object: anything else there is
                // never taken for a plain file (its bytes would be ciphertext).
                let file = match file {
                    Some(JsonValue::Null) | None => None,
                    Some(file) if file.is_object() => Some(file),
                    Some(_) => {
                        return Err(LabeledError::new("The row's file is not readable")
                            .with_label(
                                "content.file is not an encrypted file's object",
                                input.span(),
                            )
                            .with_help(
                                "the sender's client sent a malformed attachment; its bytes \
                                 cannot be decrypted",
                            ));
                    }
                };
                (
                    url.to_owned(),
                    file,
                    input.span(),
                    Value::nothing(call.head),
                )
            }
            (Some(url), _) => {
                return Err(LabeledError::new("The file was given twice")
                    .with_label("a row also came from the pipeline", url.span)
                    .with_help("give the mxc:// URL or pipe the row, not both"));
            }
            (None, _) => return Err(no_media(call.head)),
        };
        let mxc = Mxc::parse(&url).map_err(|err| errors::input_of(err, span))?;
        let mut active = Active::resolve(plugin, engine, call, &session_input)?;
        let blame = active.blame();
        // Decrypted with the message's key and hash when it came encrypted.
        let bytes = plugin
            .download(&mut active, &url, file.as_ref())
            .map_err(|err| match err {
                Failure::Request(Error::Matrix(err)) if err.status == 404 => {
                    LabeledError::new(format!("No such file: {mxc}"))
                        .with_label("the server has no file by this URL", span)
                        .with_help(format!(
                            "it may have been deleted, or never existed on {}; the server said: \
                             {err}",
                            mxc.server
                        ))
                        .with_code(format!("matrix::{}", err.errcode))
                }
                Failure::Request(Error::Matrix(err)) if matches!(err.status, 502 | 504) => {
                    LabeledError::new(format!("{} could not be reached for the file", mxc.server))
                        .with_label(format!("a file of {}", mxc.server), span)
                        .with_help(format!(
                            "the homeserver asked {} for it and got no answer; try again later; \
                             the server said: {err}",
                            mxc.server
                        ))
                        .with_code(format!("matrix::{}", err.errcode))
                }
                Failure::NotTheFile(_) => LabeledError::new(format!("{mxc} does not decrypt"))
                    .with_label("not the file this message describes", span)
                    .with_help(
                        "the bytes the server gave do not match the hash and key of the \
                         message: the file was changed or replaced",
                    ),
                other => failure(other, &blame),
            })?;

        Ok(Value::binary(bytes, call.head))
    }
}

/// Whether the input is a row of `matrix listen` or `matrix messages` (it has an `event_id`).
fn is_row(input: &Value) -> bool {
    matches!(input, Value::Record { val, .. } if val.get("event_id").is_some())
}

fn no_media(span: Span) -> LabeledError {
    LabeledError::new("Which file?")
        .with_label("no row with media, and no mxc:// URL", span)
        .with_help(
            "pipe a row whose url is set (msgtype m.image, m.file, ...), or give the mxc:// URL",
        )
}
