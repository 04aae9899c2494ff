//! What a bot says: messages, answers to an event heard (a reply, in its thread, a reaction, an
//! edit, a redaction, a file), and the files of events. Each goes to the event's own room,
//! encrypted where the room is, with the transaction ID of an answer derived from what it
//! answers (a bot handed the same event again after a crash answers it once).

use serde_json::Value as JsonValue;

use crate::e2ee::decrypt_attachment;
use crate::error::{Error, InputError};
use crate::listen::Event;
use crate::media::{MAX_DOWNLOAD_BYTES, Mxc};
use crate::rooms::{
    OutgoingMessage, derived_transaction_id, edit_content, new_transaction_id, reaction_content,
};

use super::{Bot, Failure, FileToSend, Invitation, Sent, Target, txn_for};

impl Target {
    /// `message` placed as an answer to this event: a reply (mentioning its sender unless that
    /// is `own`) when `reply`; in its thread when it is in one, or when `in_thread` (starting
    /// one).
    pub fn place(
        &self,
        message: OutgoingMessage,
        own: &str,
        reply: bool,
        in_thread: bool,
    ) -> OutgoingMessage {
        let mut message = message;
        if reply {
            message = message.replying_to(self.answered(), self.sender.as_deref(), own);
        }
        // A reply to a message in a thread stays there.
        if self.thread.is_some() || in_thread {
            message = message.in_thread(self.thread_root(), self.answered());
        }
        message
    }
}

/// The target of an event heard, or why it has none.
fn aimed(event: &Event) -> Result<Target, Failure> {
    Target::of(event).ok_or_else(|| {
        Failure::Request(Error::Input(InputError::new(
            "this event has no ID to answer (an invitation, or a request sent to the device)",
            "answer a room event: a row with an event_id",
        )))
    })
}

impl Bot {
    /// Joins the room of an invitation heard (an event of kind `invite`, from a listener whose
    /// filter has `invites`); its room ID.
    pub fn join(&self, invitation: &Event) -> Result<String, Failure> {
        let invited = Invitation {
            inviter: invitation.sender.clone(),
            encrypted: invitation.encrypted,
        };
        self.with_active(|active| self.hub.join(active, &invitation.room_id, Some(&invited)))
    }

    /// Sends `message` to `room` (an ID or alias).
    pub fn send(&self, room: &str, message: &OutgoingMessage) -> Result<Sent, Failure> {
        let content = message.content();
        let txn_id = txn_for(None, "m.room.message", &content);
        self.send_event(room, "m.room.message", &content, txn_id)
    }

    /// Sends an event of `event_type` with `content` to `room`, encrypted where the room is.
    pub fn send_event(
        &self,
        room: &str,
        event_type: &str,
        content: &JsonValue,
        txn_id: String,
    ) -> Result<Sent, Failure> {
        self.with_active(|active| {
            self.hub
                .send_to_room(active, room, event_type, content, txn_id)
        })
    }

    /// Answers `event` with `message`, placed as `reply` and `in_thread` say (see
    /// [`Target::place`]).
    pub fn answer(
        &self,
        event: &Event,
        message: OutgoingMessage,
        reply: bool,
        in_thread: bool,
    ) -> Result<Sent, Failure> {
        let target = aimed(event)?;
        let own = self.session().user_id.as_str().to_owned();
        let content = target.place(message, &own, reply, in_thread).content();
        let txn_id = txn_for(None, "m.room.message", &content);
        self.send_event(&target.room, "m.room.message", &content, txn_id)
    }

    /// Replies to `event` with `text` (in its thread, if it is in one).
    pub fn reply(&self, event: &Event, text: &str) -> Result<Sent, Failure> {
        self.reply_with(event, OutgoingMessage::text(text))
    }

    /// Replies to `event` with `message` (a notice, Markdown, mentions: see
    /// [`OutgoingMessage`]), in its thread if it is in one.
    pub fn reply_with(&self, event: &Event, message: OutgoingMessage) -> Result<Sent, Failure> {
        self.answer(event, message, true, false)
    }

    /// Answers `event` with `text` in its thread (starting one on it if need be).
    pub fn reply_in_thread(&self, event: &Event, text: &str) -> Result<Sent, Failure> {
        self.answer(event, OutgoingMessage::text(text), false, true)
    }

    /// Reacts to `event` with `key` (an emoji, or short text).
    pub fn react(&self, event: &Event, key: &str) -> Result<Sent, Failure> {
        let target = aimed(event)?;
        let content = reaction_content(target.answered(), key);
        let txn_id = txn_for(None, "m.reaction", &content);
        self.send_event(&target.room, "m.reaction", &content, txn_id)
    }

    /// Replaces the text of `event` (a message the bot sent) with `text`.
    pub fn edit(&self, event: &Event, text: &str) -> Result<Sent, Failure> {
        let target = aimed(event)?;
        let notice = target.msgtype.as_deref() == Some("m.notice");
        let mut new = OutgoingMessage::text(text).as_notice(notice);
        for user_id in &target.mentions {
            new.mention(user_id);
        }
        let content = edit_content(target.answered(), &new);
        let txn_id = txn_for(None, "m.room.message", &content);
        self.send_event(&target.room, "m.room.message", &content, txn_id)
    }

    /// Redacts `event`, for `reason` if given.
    pub fn redact(&self, event: &Event, reason: Option<&str>) -> Result<Sent, Failure> {
        let target = aimed(event)?;
        let txn_id = derived_transaction_id(
            "m.room.redaction",
            &serde_json::json!({"redacts": target.event_id, "reason": reason}),
        );
        let redaction = self.run(|client, token| {
            client.redact(token, &target.room, &target.event_id, reason, &txn_id)
        })?;
        Ok(Sent {
            event_id: redaction,
            room_id: target.room,
            txn_id,
        })
    }

    /// Sends the file `name` (its `bytes`) to `room`, with a caption if given.
    pub fn send_file(
        &self,
        room: &str,
        name: &str,
        bytes: Vec<u8>,
        caption: Option<&str>,
    ) -> Result<Sent, Failure> {
        let file = FileToSend {
            bytes,
            name: name.to_owned(),
            placed: JsonValue::Null,
        };
        self.upload(room, file, caption, new_transaction_id())
    }

    /// Answers `event` with the file `name` (its `bytes`), as a reply.
    pub fn reply_with_file(
        &self,
        event: &Event,
        name: &str,
        bytes: Vec<u8>,
    ) -> Result<Sent, Failure> {
        let target = aimed(event)?;
        let own = self.session().user_id.as_str().to_owned();
        let placed = target
            .place(OutgoingMessage::text(""), &own, true, false)
            .content();
        let file = FileToSend {
            bytes,
            name: name.to_owned(),
            placed,
        };
        let txn_id = file.answer_txn_id().unwrap_or_else(new_transaction_id);
        self.upload(&target.room, file, None, txn_id)
    }

    fn upload(
        &self,
        room: &str,
        file: FileToSend,
        caption: Option<&str>,
        txn_id: String,
    ) -> Result<Sent, Failure> {
        let caption = caption.map(str::to_owned);
        self.with_active(|active| {
            let destination = self.hub.destination(active, room)?;
            self.hub
                .send_file(active, destination, file, caption, txn_id)
        })
    }

    /// The file of `event` (an image, a file, ...), decrypted if it came encrypted.
    pub fn download(&self, event: &Event) -> Result<Vec<u8>, Failure> {
        let url = event.content["url"]
            .as_str()
            .or_else(|| event.content["file"]["url"].as_str())
            .ok_or_else(|| {
                Failure::Request(Error::Input(InputError::new(
                    "this event has no file",
                    "download the event of an image or a file (its content has a url)",
                )))
            })?;
        let file = Some(&event.content["file"]).filter(|file| file.is_object());
        self.with_active(|active| self.hub.download(active, url, file))
    }
}

impl super::Hub {
    /// The file at `url` (`mxc://`), decrypted with `file` (an encrypted attachment's object)
    /// when given.
    pub fn download(
        &self,
        active: &mut super::Active,
        url: &str,
        file: Option<&JsonValue>,
    ) -> Result<Vec<u8>, Failure> {
        let mxc = Mxc::parse(url)?;
        let downloaded = active.run(self, |client, token| {
            client.download(token, &mxc, MAX_DOWNLOAD_BYTES)
        })?;
        match file {
            Some(file) => decrypt_attachment(&downloaded.bytes, file)
                .ok_or(Failure::NotTheFile(mxc.to_string())),
            None => Ok(downloaded.bytes),
        }
    }
}
