use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{Category, Example, LabeledError, Signature, SyntaxShape, Type, Value};

use super::{Pipe, with_session, with_txn_id};
use crate::bot::txn_for;
use crate::plugin::MatrixPlugin;
use crate::plugin::sending::sent_value;
use crate::plugin::target::{Aimed, aim};
use crate::rooms::{OutgoingMessage, edit_content};

/// `matrix edit`: replaces the text of a message the user sent.
pub struct Edit;

impl SimplePluginCommand for Edit {
    type Plugin = MatrixPlugin;

    completes_sessions_and!(rooms, 0);

    fn name(&self) -> &str {
        "matrix edit"
    }

    fn description(&self) -> &str {
        "Replace the text of a message the user sent; returns the edit's event ID."
    }

    fn extra_description(&self) -> &str {
        "The message is a row of `matrix listen --own` or `matrix messages` on the pipeline \
         (then the one argument is the new text), or a room and an event ID (looked up \
         first). Only the sender's edits count (clients ignore the others'), so another \
         user's message is refused. Sent as an m.replace with the new content in \
         m.new_content and `* new text` for clients without edits; a notice stays a notice. \
         Rows show an edit with its new text and the event it edits (the edits column)."
    }

    fn signature(&self) -> Signature {
        with_session(Signature::build(self.name()), Type::record())
            .optional(
                "room",
                SyntaxShape::String,
                "The room (with a row on the pipeline: the new text).",
            )
            .optional("event", SyntaxShape::String, "The event ID of the message.")
            .optional("text", SyntaxShape::String, "The new text.")
            .switch(
                "markdown",
                "Render the text as Markdown (sent as HTML, with the text as fallback).",
                Some('m'),
            )
            .pipe(with_txn_id)
            .category(Category::Network)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["replace", "correct", "update", "change"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "let sent = (matrix send '#ops:example.org' 'deploying…' --session bot); matrix edit $sent.room_id $sent.event_id 'deployed ✅' --session bot",
                description: "A status message the bot updates in place",
                result: None,
            },
            Example {
                example: "matrix messages '#ops:example.org' --session bot | where sender == '@bot:example.org' | first | matrix edit '**fixed**' --markdown --session bot",
                description: "Correct the bot's last message, in Markdown",
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
        } = aim(
            plugin,
            engine,
            call,
            input,
            &["the new text"],
            |text| match text {
                None => Err(LabeledError::new("What is the new text?")
                    .with_label("no text", call.head)
                    .with_help("give the new text last")),
                Some(text) if text.item.trim().is_empty() => {
                    Err(LabeledError::new("The new text is empty")
                        .with_label("nothing to show", text.span)
                        .with_help("to remove a message, use `matrix redact`"))
                }
                Some(_) => Ok(()),
            },
        )?;
        let text = argument.map(|text| text.item).unwrap_or_default();
        let own = active.session.user_id.to_string();
        if let Some(sender) = target
            .about
            .sender
            .as_deref()
            .filter(|sender| *sender != own)
        {
            return Err(LabeledError::new(format!(
                "{} was sent by {sender}",
                target.event_id.item
            ))
            .with_label("not the session's message", target.event_id.span)
            .with_help(format!(
                "only the sender's edits count; {own} can edit its own messages"
            )));
        }
        let mut new = if call.has_flag("markdown")? {
            OutgoingMessage::markdown(text)
        } else {
            OutgoingMessage::text(text)
        }
        .as_notice(target.about.msgtype.as_deref() == Some("m.notice"));
        // The new text mentions whom the old one did (a reply's sender stays mentioned).
        for user_id in &target.about.mentions {
            new.mention(user_id);
        }
        // An edit replaces the original message, never another edit.
        let original = target
            .about
            .edits
            .as_deref()
            .unwrap_or(&target.event_id.item);
        let content = edit_content(original, &new);
        let txn_id = txn_for(txn_id, "m.room.message", &content);
        let sent = plugin.send_at(
            &mut active,
            &target.room,
            "m.room.message",
            &content,
            txn_id,
        )?;
        Ok(sent_value(sent, call.head))
    }
}
