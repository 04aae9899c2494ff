use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{Category, Example, LabeledError, Signature, SyntaxShape, Type, Value};

use super::{Pipe, with_session, with_txn_id};
use crate::bot::txn_for;
use crate::plugin::MatrixPlugin;
use crate::plugin::sending::sent_value;
use crate::plugin::target::{Aimed, aim};
use crate::rooms::reaction_content;

/// The longest reaction key Synapse takes (its "Aggregation key is too long" past it).
const MAX_REACTION_KEY: usize = 500;

/// `matrix react`: reacts to an event.
pub struct React;

impl SimplePluginCommand for React {
    type Plugin = MatrixPlugin;

    completes_sessions_and!(rooms, 0);

    fn name(&self) -> &str {
        "matrix react"
    }

    fn description(&self) -> &str {
        "React to an event (an emoji, or any short text); returns the reaction's event ID."
    }

    fn extra_description(&self) -> &str {
        "The event is a row of `matrix listen` or `matrix messages` on the pipeline (then the \
         one argument is the key), or a room and an event ID (looked up first: an unknown \
         event is an error). An m.reaction with rel_type m.annotation; in an encrypted room it \
         is encrypted, the relation staying in the clear. The session comes from --session or \
         the saved default; --txn-id as `matrix send`."
    }

    fn signature(&self) -> Signature {
        with_session(Signature::build(self.name()), Type::record())
            .optional(
                "room",
                SyntaxShape::String,
                "The room (with a row on the pipeline: the key).",
            )
            .optional("event", SyntaxShape::String, "The event ID reacted to.")
            .optional(
                "key",
                SyntaxShape::String,
                "The reaction: an emoji, or any text.",
            )
            .pipe(with_txn_id)
            .category(Category::Network)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["reaction", "emoji", "annotation", "like"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "matrix listen --session bot | where body == '!deploy' | each { matrix react 👀 --session bot }",
                description: "The bot marks each !deploy it has seen with 👀",
                result: None,
            },
            Example {
                example: "let asked = (matrix send '#ops:example.org' 'deploy v2 now?'); matrix react $asked.room_id $asked.event_id 🚀 --session bot",
                description: "React to an event by its room and ID",
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
        let Aimed {
            target,
            argument,
            txn_id,
            mut active,
        } = aim(plugin, engine, call, input, &["the key"], |key| match key {
            None => Err(LabeledError::new("Which reaction?")
                .with_label("no key", call.head)
                .with_help("give the key last: an emoji such as 👍, or short text")),
            Some(key) if key.item.trim().is_empty() => {
                Err(LabeledError::new("The reaction key is empty")
                    .with_label("nothing to react with", key.span)
                    .with_help("give an emoji such as 👍, or short text"))
            }
            Some(key) if key.item.chars().count() > MAX_REACTION_KEY => {
                Err(LabeledError::new("The reaction key is too long")
                    .with_label(
                        format!(
                            "{} characters; a homeserver takes at most {MAX_REACTION_KEY}",
                            key.item.chars().count()
                        ),
                        key.span,
                    )
                    .with_help(
                        "react with an emoji such as 👍, or short text; send a message for more",
                    ))
            }
            Some(_) => Ok(()),
        })?;
        let key = argument.map(|key| key.item).unwrap_or_default();
        let content = reaction_content(target.answered(), &key);
        let txn_id = txn_for(txn_id, "m.reaction", &content);
        let sent = plugin.send_at(&mut active, &target.room, "m.reaction", &content, txn_id)?;
        Ok(sent_value(sent, call.head))
    }
}
