use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{
    Category, Example, LabeledError, Record, Signature, Spanned, SyntaxShape, Type, Value,
};

use crate::plugin::MatrixPlugin;
use crate::plugin::errors;
use crate::plugin::session_store::{store_of, unknown};
use crate::store::SecretsAt;

/// `matrix session move [name] --to keyring|file [--all]`.
pub struct SessionMove;

impl SimplePluginCommand for SessionMove {
    type Plugin = MatrixPlugin;

    completes_saved_sessions!(First);

    fn name(&self) -> &str {
        "matrix session move"
    }

    fn description(&self) -> &str {
        "Move saved sessions' tokens to the system keyring or to the session file."
    }

    fn extra_description(&self) -> &str {
        "The tokens are never left in both places, and never lost: to the keyring, the item is \
         written before the file drops the tokens; to the file, the file takes the tokens \
         before the item is deleted, and goes back as it was if the item cannot be deleted. \
         A saved MAS admin client's secret moves the same way (--all moves them too)."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .input_output_type(Type::Nothing, Type::table())
            .optional("name", SyntaxShape::String, "The saved session.")
            .named(
                "to",
                SyntaxShape::String,
                "Where the tokens go: keyring or file.",
                None,
            )
            .switch("all", "Move every saved session's tokens.", None)
            .category(Category::Network)
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "matrix session move bot --to keyring",
                description: "Keep the tokens of the saved session 'bot' in the system keyring",
                result: None,
            },
            Example {
                example: "matrix session move --all --to file",
                description: "Bring every saved session's tokens back into the session file",
                result: None,
            },
        ]
    }

    fn run(
        &self,
        plugin: &MatrixPlugin,
        _engine: &EngineInterface,
        call: &EvaluatedCall,
        _input: &Value,
    ) -> Result<Value, LabeledError> {
        let span = call.head;
        let to = destination(call)?;
        let name: Option<Spanned<String>> = call.opt(0)?;
        let all = call.has_flag("all")?;
        let name = match (name, all) {
            (Some(name), true) => {
                return Err(LabeledError::new("A name and --all")
                    .with_label("a name given with --all", name.span)
                    .with_help("give one session's name, or --all for every session"));
            }
            (None, false) => {
                return Err(LabeledError::new("Which session?")
                    .with_label("no name given", span)
                    .with_help("name a saved session, or give --all"));
            }
            (name, _) => name,
        };
        let store = store_of(plugin, span)?;
        let saved = store.load().map_err(|err| errors::store(err, span))?;
        let names: Vec<Spanned<String>> = match name {
            Some(name) => {
                if !saved.sessions.contains_key(&name.item)
                    && !saved.admin_clients.contains_key(&name.item)
                {
                    return Err(unknown(&name, &saved));
                }
                vec![name]
            }
            // Saved MAS admin clients' secrets move with the sessions' tokens.
            None => saved
                .sessions
                .keys()
                .chain(saved.admin_clients.keys())
                .map(|name| Spanned {
                    item: name.clone(),
                    span,
                })
                .collect(),
        };
        let mut rows = Vec::with_capacity(names.len());
        for name in names {
            // One session at a time: a failure stops here, and the sessions moved before it
            // stay moved (`matrix session list` shows where each one is).
            let moved = store
                .move_secrets(&name.item, to)
                .map_err(|err| errors::store(err, name.span))?;
            let Some(moved) = moved else {
                continue; // removed meanwhile
            };
            let mut row = Record::new();
            row.push("name", Value::string(&name.item, span));
            row.push("store", Value::string(to.as_str(), span));
            row.push("moved", Value::bool(moved, span));
            rows.push(Value::record(row, span));
        }
        Ok(Value::list(rows, span))
    }
}

/// `--to`: where the tokens go.
fn destination(call: &EvaluatedCall) -> Result<SecretsAt, LabeledError> {
    let to: Option<Spanned<String>> = call.get_flag("to")?;
    let Some(to) = to else {
        return Err(LabeledError::new("Missing --to")
            .with_label("needs --to keyring or --to file", call.head)
            .with_help("say where the tokens go: --to keyring, or --to file"));
    };
    match to.item.as_str() {
        "keyring" => Ok(SecretsAt::Keyring),
        "file" => Ok(SecretsAt::File),
        _ => Err(LabeledError::new("Invalid --to")
            .with_label("not keyring or file", to.span)
            .with_help("the tokens go to the system keyring (--to keyring) or to the session file (--to file)")),
    }
}
