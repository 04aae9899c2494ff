use nu_plugin::{EngineInterface, EvaluatedCall, SimplePluginCommand};
use nu_protocol::{Category, Example, LabeledError, Signature, Spanned, SyntaxShape, Type, Value};

use crate::bot::AckRefusal;
use crate::plugin::MatrixPlugin;

/// `matrix listen ack`: marks a row of `matrix listen --since saved --ack` done.
pub struct ListenAck;

impl SimplePluginCommand for ListenAck {
    type Plugin = MatrixPlugin;

    completes_saved_sessions!(Flag);

    fn name(&self) -> &str {
        "matrix listen ack"
    }

    fn description(&self) -> &str {
        "Mark a row of `matrix listen --since saved --ack` done, and pass it on."
    }

    fn extra_description(&self) -> &str {
        "The saved position of the listener's session moves to after the longest run of rows \
         done from the start: rows done out of order (par-each) never move it past one that is \
         not. It is written at most once a second while acks come, and when the stream ends; \
         rows not acked when a run ends (a crash, a kill) come again in the next run. Ack every \
         row: one a `where` drops before `each` is never acked, holds the position back, and \
         comes again in every run with all after it (filter inside `each`, or with the \
         listener's --type, --sender and rooms). The row \
         must come from a listener in this Nushell (its `ack` column); --session, when given, \
         must be the listener's."
    }

    fn signature(&self) -> Signature {
        Signature::build(self.name())
            .input_output_types(vec![(Type::record(), Type::record())])
            .named(
                "session",
                SyntaxShape::String,
                "The saved session the row's listener keeps (checked, not needed).",
                Some('s'),
            )
            .category(Category::Network)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["acknowledge", "commit", "done", "at least once", "offset"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![Example {
            example: "matrix listen --session bot --since saved --ack | each {|m| print $m.body; $m | matrix listen ack | ignore }",
            description: "A bot that loses nothing to a crash: a message counts as handled once acked",
            result: None,
        }]
    }

    fn run(
        &self,
        plugin: &MatrixPlugin,
        _engine: &EngineInterface,
        call: &EvaluatedCall,
        input: &Value,
    ) -> Result<Value, LabeledError> {
        let session: Option<Spanned<String>> = call.get_flag("session")?;
        let span = input.span();
        let ack = match input {
            Value::Record { val, .. } => val.get("ack"),
            _ => {
                return Err(LabeledError::new("Expected a row of matrix listen")
                    .with_label(format!("got {}", input.get_type()), span)
                    .with_help("pipe a row of `matrix listen --since saved --ack`"));
            }
        };
        let (id, seq) =
            match ack {
                Some(Value::Record { val, .. }) => (
                    val.get("listener").and_then(|id| id.as_str().ok()),
                    val.get("seq").and_then(|seq| seq.as_int().ok()),
                ),
                Some(Value::Nothing { .. }) => {
                    return Err(LabeledError::new("This row comes from a listener without --ack")
                    .with_label("its ack is empty", span)
                    .with_help(
                        "listen with --since saved --ack: then each row carries its place, and \
                         the saved position moves when the row is acked",
                    ));
                }
                _ => (None, None),
            };
        let (Some(id), Some(seq)) = (id, seq.and_then(|seq| u64::try_from(seq).ok())) else {
            return Err(LabeledError::new("This row has no place to ack")
                .with_label("no ack column with a listener and a seq", span)
                .with_help("pipe the rows of `matrix listen --since saved --ack` as they come"));
        };
        let session_name = session.as_ref().map(|name| name.item.as_str());
        match plugin.ack(id, seq, session_name) {
            Ok(()) => Ok(input.clone()),
            Err(AckRefusal::Gone) => Err(LabeledError::new("The listener of this row has ended")
                .with_label("not a listener of this plugin process", span)
                .with_help(
                    "its plugin process is gone (a restart, or the row came from another \
                     Nushell): rows it did not get an ack for come again in its session's next run",
                )),
            Err(AckRefusal::OtherSession(theirs)) => {
                let at = session.as_ref().map_or(span, |name| name.span);
                Err(
                    LabeledError::new("This row is from another session's listener")
                        .with_label(format!("the row's listener keeps '{theirs}'"), at)
                        .with_help(format!(
                            "ack it with --session {theirs}, or without --session"
                        )),
                )
            }
            Err(AckRefusal::Unknown) => Err(LabeledError::new("This row was never handed out")
                .with_label("its seq is beyond what its listener gave", span)
                .with_help("pipe the rows of `matrix listen --since saved --ack` as they are")),
        }
    }
}
