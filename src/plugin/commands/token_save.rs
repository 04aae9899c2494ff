use std::io::Write;
use std::path::{Path, PathBuf};

use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{
    Category, Example, LabeledError, Record, Signature, Spanned, SyntaxShape, Type, Value,
};

use crate::plugin::MatrixPlugin;
use crate::plugin::token::{TYPE_NAME, TokenValue};

/// `matrix token save <file>`: a secret written to a file only its owner can read.
pub struct TokenSave;

impl SimplePluginCommand for TokenSave {
    type Plugin = MatrixPlugin;

    fn name(&self) -> &str {
        "matrix token save"
    }

    fn description(&self) -> &str {
        "Write a token, password or recovery key to a new file that only you can read (0600)."
    }

    fn extra_description(&self) -> &str {
        "For the secrets that must leave Nushell: the recovery key `matrix e2ee bootstrap` \
         gave, to take to the bot's next machine; the password `matrix register` made; a token \
         for a bridge's config. The file is made with mode 0600 before anything is written to \
         it (Nushell's `save` follows your umask: 0644 for most), and replaced only with \
         --force. What was in it comes back with `open <file>`, ready to pipe to `matrix e2ee \
         recover` or `matrix login`. Returns the file's path."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .input_output_types(vec![(Type::Custom(TYPE_NAME.into()), Type::record())])
            .required(
                "file",
                SyntaxShape::Filepath,
                "The file to make (relative to the current folder).",
            )
            .switch("force", "Replace the file if it is there.", Some('f'))
            .category(Category::Network)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec![
            "write",
            "file",
            "secret",
            "recovery key",
            "password",
            "0600",
        ]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "matrix e2ee bootstrap --session bot | get recovery_key | matrix token save recovery-key.txt",
                description: "Keep the bot's recovery key in a file only you can read",
                result: None,
            },
            Example {
                example: "(matrix session get bot).access_token | matrix token save --force bot.token",
                description: "The bot's token for a bridge's config, replacing the old file",
                result: None,
            },
        ]
    }

    fn run(
        &self,
        _plugin: &MatrixPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        input: &Value,
    ) -> Result<Value, LabeledError> {
        let file: Spanned<PathBuf> = call.req(0)?;
        let Some(secret) = TokenValue::from_value(input) else {
            return Err(
                LabeledError::new("Expected a token, password or recovery key")
                    .with_label(
                        format!("this is {}, not a secret value", input.get_type()),
                        call.head,
                    )
                    .with_help(
                        "pipe a value `matrix login`, `matrix register` or `matrix e2ee bootstrap` \
                     returned (e.g. `$made.password | matrix token save bot-password.txt`)",
                    ),
            );
        };
        let path = if file.item.is_absolute() {
            file.item.clone()
        } else {
            PathBuf::from(engine.get_current_dir()?).join(&file.item)
        };
        let mut text = secret.token().reveal().to_owned();
        text.push('\n');
        write_private(&path, text.as_bytes(), call.has_flag("force")?).map_err(|problem| {
            LabeledError::new(format!("{} was not written", file.item.display()))
                .with_label(problem.label, file.span)
                .with_help(problem.help)
        })?;
        let mut record = Record::new();
        record.push("path", Value::string(path.display().to_string(), call.head));
        Ok(Value::record(record, call.head))
    }
}

/// Why a file was not written.
struct Problem {
    label: String,
    help: String,
}

/// Writes `bytes` to `path` through a new 0600 file beside it, renamed into place: over a file
/// already there only when `force`.
fn write_private(path: &Path, bytes: &[u8], force: bool) -> Result<(), Problem> {
    let folder = path
        .parent()
        .filter(|folder| !folder.as_os_str().is_empty());
    let folder = folder.unwrap_or(Path::new("."));
    let io = |err: std::io::Error| Problem {
        label: err.to_string(),
        help: "check that the folder exists and that you may write in it".into(),
    };
    // tempfile makes the file with mode 0600 (O_EXCL) before anything is written to it.
    let mut temp = tempfile::Builder::new()
        .prefix(".matrix-secret.")
        .tempfile_in(folder)
        .map_err(io)?;
    temp.write_all(bytes).map_err(io)?;
    temp.as_file().sync_all().map_err(io)?;
    let persisted = if force {
        temp.persist(path).map(drop)
    } else {
        temp.persist_noclobber(path).map(drop)
    };
    persisted.map_err(|err| match err.error.kind() {
        std::io::ErrorKind::AlreadyExists => Problem {
            label: "this file is there already; nothing was written".into(),
            help: "name another file, or give --force to replace it".into(),
        },
        _ => io(err.error),
    })
}
