//! The stream of `matrix listen`: the library's [`Listening`] (refreshes, decryption, the saved
//! position and acks), its events as rows for Nushell, its errors as labelled ones.
//!
//! A row counts as delivered once it is handed to Nushell: the stream writer asks for the next
//! row only after it wrote the last one, which is when the library counts an event handled.

use nu_protocol::{LabeledError, Record, ShellError, Span, Value};

use crate::bot::{Failure, Heard, Listening, Plan};
use crate::plugin::MatrixPlugin;
use crate::plugin::active::{Active, failure};
use crate::plugin::errors::Blame;
use crate::plugin::rows::EventRow;

/// A `matrix listen` stream.
pub(crate) struct Stream {
    listening: Listening,
    blame: Blame,
    span: Span,
}

impl Stream {
    /// The stream of `active`'s events, placed (its first sync made): a refused token is an
    /// error here, not a row.
    pub(crate) fn new(
        plugin: &MatrixPlugin,
        active: Active,
        plan: Plan,
    ) -> Result<Self, LabeledError> {
        let blame = active.blame();
        let span = active.head;
        let name = plan.keep_as.clone().unwrap_or_default();
        let listening = Listening::new(plugin, active.inner, plan).map_err(|err| match err {
            Failure::ListenerRunning(holder) => listener_running(&name, holder, span),
            other => failure(other, &blame),
        })?;
        Ok(Self {
            listening,
            blame,
            span,
        })
    }

    fn row(&self, heard: Heard) -> Value {
        let span = self.span;
        let Heard {
            event,
            room_name,
            ack,
        } = heard;
        let mut record = EventRow::of(event, Some(room_name)).into_record(span);
        let ack = match ack {
            Some(ack) => {
                let mut fields = Record::new();
                fields.push("listener", Value::string(ack.listener, span));
                fields.push(
                    "seq",
                    Value::int(i64::try_from(ack.seq).unwrap_or(i64::MAX), span),
                );
                Value::record(fields, span)
            }
            None => Value::nothing(span),
        };
        record.push("ack", ack);
        Value::record(record, span)
    }
}

impl Iterator for Stream {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        match self.listening.next()? {
            Ok(heard) => Some(self.row(heard)),
            Err(err) => {
                let err: LabeledError = failure(err, &self.blame);
                Some(Value::error(
                    ShellError::LabeledError(Box::new(err)),
                    self.span,
                ))
            }
        }
    }
}

/// A second listener of saved session `name` refused, naming the first.
fn listener_running(name: &str, holder: Option<u32>, span: Span) -> LabeledError {
    let holder = holder.map_or_else(
        || "another process".to_owned(),
        |pid| format!("process {pid}"),
    );
    LabeledError::new(format!("A listener of saved session {name} is running"))
        .with_label(format!("{holder} listens with --since saved"), span)
        .with_help(
            "two listeners of one saved session would hand out every event twice: stop the \
             running one, or give this one a saved session of its own (`matrix login ... --save \
             <name>`), or listen without --since saved",
        )
        .with_code("matrix::listener_running")
}
