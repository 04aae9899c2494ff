//! Sending from a command: the library's sending (see [`crate::bot`]) with its errors pointing at
//! the room argument, and the record the commands return.

use nu_protocol::{LabeledError, Record, Span, Spanned, Value};
use serde_json::Value as JsonValue;

use crate::bot::{Destination, FileToSend, Sent, in_words};
use crate::plugin::MatrixPlugin;
use crate::plugin::active::{Active, Failure};
use crate::plugin::room_arg::room_failure;

/// The record the commands return for an event sent.
pub(crate) fn sent_value(sent: Sent, span: Span) -> Value {
    let mut record = Record::new();
    record.push("event_id", Value::string(sent.event_id, span));
    record.push("room_id", Value::string(sent.room_id, span));
    record.push("txn_id", Value::string(sent.txn_id, span));
    Value::record(record, span)
}

impl MatrixPlugin {
    /// Sends an event of `event_type` with `content` to `room` (an ID or alias), encrypted
    /// where the room is; errors point at `room`.
    pub(crate) fn send_at(
        &self,
        active: &mut Active,
        room: &Spanned<String>,
        event_type: &str,
        content: &JsonValue,
        txn_id: String,
    ) -> Result<Sent, LabeledError> {
        let blame = active.blame();
        self.send_to_room(active, &room.item, event_type, content, txn_id)
            .map_err(|err| room_failure(err, room, &blame))
    }

    /// Where an event to `room` goes; errors point at `room`.
    pub(crate) fn destination_of(
        &self,
        active: &mut Active,
        room: &Spanned<String>,
    ) -> Result<Destination, LabeledError> {
        let blame = active.blame();
        self.destination(active, &room.item)
            .map_err(|err| room_failure(err, room, &blame))
    }

    /// Uploads `file` (named by `name`, at which a too-large file points) and sends its message
    /// to `destination`; other errors point at `room`.
    pub(crate) fn send_file_at(
        &self,
        active: &mut Active,
        (room, name): (&Spanned<String>, Span),
        destination: Destination,
        file: FileToSend,
        (caption, txn_id): (Option<String>, String),
    ) -> Result<Sent, LabeledError> {
        let blame = active.blame();
        let file_name = file.name.clone();
        self.send_file(active, destination, file, caption, txn_id)
            .map_err(|err| match err {
                Failure::TooLarge { size, limit } => LabeledError::new(format!(
                    "{file_name} is {}: the server takes files up to {}",
                    in_words(size),
                    in_words(limit)
                ))
                .with_label("too large for this server", name)
                .with_help(
                    "send a smaller file (or a link to it); the server's admin sets the limit \
                     (max_upload_size in Synapse)",
                ),
                other => room_failure(other, room, &blame),
            })
    }
}
