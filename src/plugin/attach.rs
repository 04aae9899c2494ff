//! `matrix send --file`: a file from the pipeline sent as a message. Its size is checked
//! against the server's upload limit before anything is uploaded; its kind (`m.image`, `m.audio`,
//! `m.video`, `m.file`) comes from its MIME type (by its name), an image's width and height
//! from its header. In an encrypted room the bytes are encrypted before the upload and the key
//! goes in the encrypted event (the spec's `file` object): the server never sees the file.

use std::sync::Arc;

use nu_protocol::{LabeledError, Spanned};
use serde_json::json;

use crate::e2ee::encrypt_attachment;
use crate::plugin::MatrixPlugin;
use crate::plugin::active::{Active, failure};
use crate::plugin::sending::{Destination, Sent};
use crate::rooms::OutgoingFile;

/// A file from the pipeline: its bytes, the name `--file` gave it, and where it goes in the
/// conversation (the content of a message placed as a reply or in a thread: its `m.relates_to`
/// and `m.mentions` are the file's).
pub(crate) struct PipedFile {
    pub bytes: Vec<u8>,
    pub name: Spanned<String>,
    pub placed: serde_json::Value,
}

impl MatrixPlugin {
    /// Uploads `file` (encrypted if the room is) and sends its message to `destination`.
    pub(crate) fn send_file(
        &self,
        active: &mut Active,
        room: &Spanned<String>,
        destination: Destination,
        file: PipedFile,
        caption: Option<String>,
        txn_id: String,
    ) -> Result<Sent, LabeledError> {
        let blame = active.blame();
        let size = u64::try_from(file.bytes.len()).unwrap_or(u64::MAX);
        // A server that says nothing of its limit (or cannot be asked) gets the upload, and
        // refuses it if it must.
        let limit = active
            .run(self, |client, token| client.media_config(token))
            .ok()
            .and_then(|config| config.upload_size);
        if let Some(limit) = limit.filter(|limit| size > *limit) {
            return Err(LabeledError::new(format!(
                "{} is {}: the server takes files up to {}",
                file.name.item,
                in_words(size),
                in_words(limit)
            ))
            .with_label("too large for this server", file.name.span)
            .with_help(
                "send a smaller file (or a link to it); the server's admin sets the limit \
                 (max_upload_size in Synapse)",
            ));
        }
        let mimetype = mime_guess::from_path(&file.name.item)
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
            filename: file.name.item.clone(),
            caption,
            mimetype: mimetype.clone(),
            size,
            dimensions,
        };
        let content = if destination.crypto.is_some() {
            let (sealed, mut info) = encrypt_attachment(&file.bytes);
            let mxc = active
                .run(self, |client, token| {
                    client.upload(
                        token,
                        Arc::from(sealed.clone()),
                        "application/octet-stream",
                        None,
                    )
                })
                .map_err(|err| failure(err, &blame))?;
            info["url"] = json!(mxc);
            info["mimetype"] = json!(mimetype);
            outgoing.content(None, Some(info))
        } else {
            let bytes: Arc<[u8]> = Arc::from(file.bytes);
            let mxc = active
                .run(self, |client, token| {
                    client.upload(token, bytes.clone(), &mimetype, Some(&file.name.item))
                })
                .map_err(|err| failure(err, &blame))?;
            outgoing.content(Some(&mxc), None)
        };
        let mut content = content;
        for key in ["m.relates_to", "m.mentions"] {
            if let Some(value) = file.placed.get(key) {
                content[key] = value.clone();
            }
        }
        self.send_to(
            active,
            room,
            destination,
            "m.room.message",
            &content,
            txn_id,
        )
    }
}

/// A size as people read it: `900 B`, `3.1 MB` (powers of 1,000, as Synapse's limits read).
fn in_words(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(in_words(900), "900 B");
        assert_eq!(in_words(2_000_000), "2.0 MB");
        assert_eq!(in_words(3_145_728), "3.1 MB");
    }
}
