//! A file sent as a message. Its size is checked against the server's upload limit before
//! anything is uploaded; its kind (`m.image`, `m.audio`, `m.video`, `m.file`) comes from its MIME
//! type (by its name), an image's width and height from its header. In an encrypted room the
//! bytes are encrypted before the upload and the key goes in the encrypted event (the spec's
//! `file` object): the server never sees the file.

use std::sync::Arc;

use serde_json::json;

use crate::e2ee::encrypt_attachment;
use crate::rooms::{OutgoingFile, derived_transaction_id};

use super::sending::{Destination, Sent};
use super::{Active, Failure, Hub};

/// A file to send: its bytes, its name (what clients show and save it as), and where it goes
/// in the conversation (the content of a message placed as a reply or in a thread: its
/// `m.relates_to` and `m.mentions` are the file's).
pub struct FileToSend {
    /// The file's bytes (as they are: encrypted before the upload where the room is).
    pub bytes: Vec<u8>,
    /// Its name, without folders: `report.pdf`.
    pub name: String,
    /// The content of a message placed where the file goes (`Null`: nowhere in particular).
    pub placed: serde_json::Value,
}

impl FileToSend {
    /// The transaction ID of a file answering an event: the same file, the same answer (its
    /// upload's URL is new each time, so the file's hash stands for it); `None` for a file that
    /// answers nothing.
    pub fn answer_txn_id(&self) -> Option<String> {
        use sha2::Digest;
        let relates = self.placed.get("m.relates_to")?;
        let sha256 = hex::encode(sha2::Sha256::digest(&self.bytes));
        let file = json!({"m.relates_to": relates, "name": self.name, "sha256": sha256});
        Some(derived_transaction_id("m.room.message file", &file))
    }
}

impl Hub {
    /// Uploads `file` (encrypted if the room is) and sends its message to `destination`.
    pub fn send_file(
        &self,
        active: &mut Active,
        destination: Destination,
        file: FileToSend,
        caption: Option<String>,
        txn_id: String,
    ) -> Result<Sent, Failure> {
        let size = u64::try_from(file.bytes.len()).unwrap_or(u64::MAX);
        // A server that says nothing of its limit (or cannot be asked) gets the upload, and
        // refuses it if it must.
        let limit = active
            .run(self, |client, token| client.media_config(token))
            .ok()
            .and_then(|config| config.upload_size);
        if let Some(limit) = limit.filter(|limit| size > *limit) {
            return Err(Failure::TooLarge { size, limit });
        }
        let mimetype = mime_guess::from_path(&file.name)
            .first_or_octet_stream()
            .essence_str()
            .to_owned();
        let dimensions = mimetype
            .starts_with("image/")
            .then(|| imagesize::blob_size(&file.bytes).ok())
            .flatten()
            .and_then(|dim| {
                Some((
                    u64::try_from(dim.width).ok()?,
                    u64::try_from(dim.height).ok()?,
                ))
            });
        let outgoing = OutgoingFile {
            filename: file.name.clone(),
            caption,
            mimetype: mimetype.clone(),
            size,
            dimensions,
        };
        let mut content = if destination.crypto.is_some() {
            let (sealed, mut info) = encrypt_attachment(&file.bytes);
            let sealed: Arc<[u8]> = Arc::from(sealed);
            let mxc = active.run(self, |client, token| {
                client.upload(token, sealed.clone(), "application/octet-stream", None)
            })?;
            info["url"] = json!(mxc);
            info["mimetype"] = json!(mimetype);
            outgoing.content(None, Some(info))
        } else {
            let bytes: Arc<[u8]> = Arc::from(file.bytes);
            let mxc = active.run(self, |client, token| {
                client.upload(token, bytes.clone(), &mimetype, Some(&file.name))
            })?;
            outgoing.content(Some(&mxc), None)
        };
        for key in ["m.relates_to", "m.mentions"] {
            if let Some(value) = file.placed.get(key) {
                content[key] = value.clone();
            }
        }
        self.send_to(active, destination, "m.room.message", &content, txn_id)
    }
}
