//! The contents a bot sends: a message (plain, Markdown, a notice), placed as a reply or in a
//! thread, with its intentional mentions; an edit of one; a reaction to one. Pure code: what
//! goes on the wire is [`Client::send_event`](crate::client::Client) with these contents.
//!
//! As the spec has them: a reply is `m.relates_to.m.in_reply_to` (no quoted fallback, which
//! spec v1.13 dropped), and mentions the replied-to sender in `m.mentions`; a message in a
//! thread is `rel_type: m.thread` with the root, plus `m.in_reply_to` of the event it answers
//! (`is_falling_back: true` when it is no real reply, for clients without threads); an edit is
//! `m.replace` with the new content in `m.new_content` and `* ` before the fallback text; a
//! reaction is `m.annotation` with its key. Every message carries `m.mentions`, so clients
//! notify only whom it names.

use serde_json::{Value as JsonValue, json};

/// A message to send: plain text, optionally with HTML and as a notice (what bots send).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutgoingMessage {
    /// The plain-text body.
    pub body: String,
    /// An HTML rendering (`org.matrix.custom.html`).
    pub html: Option<String>,
    /// `m.notice` instead of `m.text`.
    pub notice: bool,
    /// The event it replies to.
    pub reply_to: Option<String>,
    /// The thread it goes in.
    pub thread: Option<Thread>,
    /// The users it mentions (`m.mentions.user_ids`): they are notified, no one else is.
    pub mentions: Vec<String>,
}

/// A thread a message goes in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    /// The thread's root event.
    pub root: String,
    /// The latest event of the thread the sender knows of: the reply fallback of a message
    /// that replies to nothing in particular (the root itself will do).
    pub latest: String,
}

impl OutgoingMessage {
    /// A plain-text message.
    pub fn text(body: impl Into<String>) -> Self {
        Self {
            body: body.into(),
            ..Self::default()
        }
    }

    /// A message written in Markdown: the body stays the Markdown text (what clients without
    /// HTML show), and the HTML rendering goes along. Raw HTML in the text is shown as text,
    /// not passed on.
    pub fn markdown(text: impl Into<String>) -> Self {
        use pulldown_cmark::{Event, Options, Parser, html};
        let body = text.into();
        let parser = Parser::new_ext(
            &body,
            Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES,
        )
        .map(|event| match event {
            Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
            other => other,
        });
        let mut rendered = String::new();
        html::push_html(&mut rendered, parser);
        Self {
            html: Some(rendered.trim_end().to_owned()),
            body,
            ..Self::default()
        }
    }

    /// The same message as a notice (`m.notice`: what bots send, no notification loops).
    pub fn as_notice(mut self, notice: bool) -> Self {
        self.notice = notice;
        self
    }

    /// The same message as a reply to `event_id`, sent by `sender` (mentioned, unless it is
    /// `own`, the user sending).
    pub fn replying_to(mut self, event_id: &str, sender: Option<&str>, own: &str) -> Self {
        self.reply_to = Some(event_id.to_owned());
        if let Some(sender) = sender.filter(|sender| *sender != own) {
            self.mention(sender);
        }
        self
    }

    /// The same message in the thread of `root`, after `latest` (the root will do).
    pub fn in_thread(mut self, root: &str, latest: &str) -> Self {
        self.thread = Some(Thread {
            root: root.to_owned(),
            latest: latest.to_owned(),
        });
        self
    }

    /// Mentions `user_id` (once).
    pub fn mention(&mut self, user_id: &str) {
        if !self.mentions.iter().any(|known| known == user_id) {
            self.mentions.push(user_id.to_owned());
        }
    }

    /// The text part of the content: msgtype, body, HTML, mentions.
    fn text_content(&self) -> JsonValue {
        let mut content = json!({
            "msgtype": if self.notice { "m.notice" } else { "m.text" },
            "body": self.body,
            "m.mentions": mentions(&self.mentions),
        });
        if let Some(html) = &self.html {
            content["format"] = json!("org.matrix.custom.html");
            content["formatted_body"] = json!(html);
        }
        content
    }

    /// The event content.
    pub fn content(&self) -> JsonValue {
        let mut content = self.text_content();
        let relates = match (&self.thread, &self.reply_to) {
            (Some(thread), reply_to) => Some(json!({
                "rel_type": "m.thread",
                "event_id": thread.root,
                "is_falling_back": reply_to.is_none(),
                "m.in_reply_to": {"event_id": reply_to.as_ref().unwrap_or(&thread.latest)},
            })),
            (None, Some(reply_to)) => Some(json!({"m.in_reply_to": {"event_id": reply_to}})),
            (None, None) => None,
        };
        if let Some(relates) = relates {
            content["m.relates_to"] = relates;
        }
        content
    }
}

/// A file to send as a message: `m.image`, `m.audio`, `m.video` or `m.file` by its MIME type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingFile {
    /// Its name (what clients show and save it as).
    pub filename: String,
    /// A caption (the `body`, the name then in `filename`), if any.
    pub caption: Option<String>,
    /// Its MIME type.
    pub mimetype: String,
    /// Its size in bytes (of the plain file).
    pub size: u64,
    /// Width and height, for an image whose header says.
    pub dimensions: Option<(u64, u64)>,
}

impl OutgoingFile {
    /// The msgtype its MIME type makes it.
    pub fn msgtype(&self) -> &'static str {
        match self.mimetype.split('/').next() {
            Some("image") => "m.image",
            Some("audio") => "m.audio",
            Some("video") => "m.video",
            _ => "m.file",
        }
    }

    /// The content of its message, the file being at `mxc` (uploaded as it is), or described
    /// by `file` (an encrypted attachment: the spec's `file` object, its `url` in it).
    pub fn content(&self, mxc: Option<&str>, file: Option<JsonValue>) -> JsonValue {
        let mut info = json!({"mimetype": self.mimetype, "size": self.size});
        if let Some((w, h)) = self.dimensions {
            info["w"] = json!(w);
            info["h"] = json!(h);
        }
        let mut content = json!({
            "msgtype": self.msgtype(),
            "body": self.caption.as_deref().unwrap_or(&self.filename),
            "info": info,
            "m.mentions": {},
        });
        if self.caption.is_some() {
            content["filename"] = json!(self.filename);
        }
        if let Some(mxc) = mxc {
            content["url"] = json!(mxc);
        }
        if let Some(file) = file {
            content["file"] = file;
        }
        content
    }
}

/// `m.mentions` naming `user_ids` (an empty one names no one).
fn mentions(user_ids: &[String]) -> JsonValue {
    if user_ids.is_empty() {
        json!({})
    } else {
        json!({"user_ids": user_ids})
    }
}

/// The content of an `m.room.message` that replaces the text of `event_id` by `new`'s: the
/// new content in `m.new_content`, a `* ` fallback for clients without edits. Its own
/// `m.mentions` is empty (mentions are notified once, with the first text); the new content
/// keeps the message's.
pub fn edit_content(event_id: &str, new: &OutgoingMessage) -> JsonValue {
    let new_content = new.text_content();
    let mut content = new_content.clone();
    content["body"] = json!(format!("* {}", new.body));
    if let Some(html) = &new.html {
        content["formatted_body"] = json!(format!("* {html}"));
    }
    content["m.mentions"] = json!({});
    content["m.new_content"] = new_content;
    content["m.relates_to"] = json!({"rel_type": "m.replace", "event_id": event_id});
    content
}

/// The content of an `m.reaction` to `event_id` with `key` (an emoji, or any text).
pub fn reaction_content(event_id: &str, key: &str) -> JsonValue {
    json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_renders_to_html_and_keeps_the_text_as_body() {
        let message =
            OutgoingMessage::markdown("**backup** done <script>x</script>").as_notice(true);
        let content = message.content();
        assert_eq!(content["msgtype"], "m.notice");
        assert_eq!(content["body"], "**backup** done <script>x</script>");
        assert_eq!(content["format"], "org.matrix.custom.html");
        let html = content["formatted_body"].as_str().unwrap();
        assert!(html.contains("<strong>backup</strong>"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        let plain = OutgoingMessage::text("hi").content();
        assert_eq!(
            plain,
            json!({"msgtype": "m.text", "body": "hi", "m.mentions": {}})
        );
    }

    #[test]
    fn a_reply_mentions_its_sender_but_not_oneself() {
        let reply = OutgoingMessage::text("pong").replying_to("$p", Some("@a:x"), "@bot:x");
        let content = reply.content();
        assert_eq!(
            content["m.relates_to"],
            json!({"m.in_reply_to": {"event_id": "$p"}})
        );
        assert_eq!(content["m.mentions"], json!({"user_ids": ["@a:x"]}));
        let own = OutgoingMessage::text("x").replying_to("$p", Some("@bot:x"), "@bot:x");
        assert_eq!(own.content()["m.mentions"], json!({}));
    }

    #[test]
    fn a_thread_message_falls_back_unless_it_replies() {
        let plain = OutgoingMessage::text("x").in_thread("$root", "$last");
        assert_eq!(
            plain.content()["m.relates_to"],
            json!({"rel_type": "m.thread", "event_id": "$root", "is_falling_back": true,
                   "m.in_reply_to": {"event_id": "$last"}})
        );
        let reply = plain.replying_to("$q", None, "@bot:x");
        let relates = &reply.content()["m.relates_to"];
        assert_eq!(relates["is_falling_back"], false);
        assert_eq!(relates["m.in_reply_to"]["event_id"], "$q");
    }

    #[test]
    fn a_file_is_sent_as_its_kind() {
        let image = OutgoingFile {
            filename: "dot.png".into(),
            caption: None,
            mimetype: "image/png".into(),
            size: 67,
            dimensions: Some((1, 2)),
        };
        let content = image.content(Some("mxc://x/y"), None);
        assert_eq!(content["msgtype"], "m.image");
        assert_eq!(content["body"], "dot.png");
        assert_eq!(content["url"], "mxc://x/y");
        assert_eq!(
            content["info"],
            json!({"mimetype": "image/png", "size": 67, "w": 1, "h": 2})
        );
        let report = OutgoingFile {
            caption: Some("the report".into()),
            mimetype: "application/pdf".into(),
            dimensions: None,
            filename: "r.pdf".into(),
            ..image
        };
        let content = report.content(None, Some(json!({"url": "mxc://x/z", "v": "v2"})));
        assert_eq!(content["msgtype"], "m.file");
        assert_eq!(
            (&content["body"], &content["filename"]),
            (&json!("the report"), &json!("r.pdf"))
        );
        assert_eq!(content["file"]["url"], "mxc://x/z");
        assert!(content.get("url").is_none());
    }

    #[test]
    fn an_edit_carries_the_new_content_and_a_fallback() {
        let content = edit_content("$m", &OutgoingMessage::markdown("**new**"));
        assert_eq!(content["body"], "* **new**");
        assert_eq!(content["m.new_content"]["body"], "**new**");
        assert_eq!(
            content["m.new_content"]["formatted_body"],
            "<p><strong>new</strong></p>"
        );
        assert_eq!(content["m.relates_to"]["rel_type"], "m.replace");
        assert!(content["m.new_content"].get("m.relates_to").is_none());
        let reaction = reaction_content("$m", "👍");
        assert_eq!(reaction["m.relates_to"]["key"], "👍");
    }
}
