//! What a room event is, read from its type, content and `unsigned`: its text, the event it
//! answers, edits, reacts to or removes, its media, and whether it was redacted. Pure code: the
//! same reading for a listener's events and a page of messages, encrypted or not (relations
//! stay in the clear, and the crypto crate puts them back into the decrypted content).

use serde_json::Value as JsonValue;

/// A relation of an event to another (`m.relates_to`), as the spec's relationship types have it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// `m.annotation` (a reaction), `m.replace` (an edit), `m.thread`, `m.reference`, ...
    pub rel_type: String,
    /// The event related to.
    pub event_id: String,
    /// A reaction's key (an emoji, or any text).
    pub key: Option<String>,
}

/// An event's meaning, as a careful client reads it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Shape {
    /// `m.text`, `m.notice`, `m.image`, ...: only ever the content's `msgtype`.
    pub msgtype: Option<String>,
    /// The plain text: for an edit, the new text (`m.new_content`), not the `* ` fallback; for
    /// a message shown with its latest edit, that edit's text.
    pub body: Option<String>,
    /// The HTML rendering, when the text has one (`org.matrix.custom.html`).
    pub formatted_body: Option<String>,
    /// The event this one replies to. A thread's fallback (`is_falling_back`) is no reply.
    pub reply_to: Option<String>,
    /// The root of the thread this event is in.
    pub thread: Option<String>,
    /// Its relation, of whatever type.
    pub relation: Option<Relation>,
    /// For an edit (`m.replace`): the event it replaces.
    pub edits: Option<String>,
    /// For a message the server gave with its latest edit (`unsigned.m.relations`): that edit.
    pub latest_edit: Option<String>,
    /// The `mxc://` URL of an image, file, audio or video (of its encrypted file, if so).
    pub url: Option<String>,
    /// The media's `info`: size, MIME type, dimensions.
    pub info: Option<JsonValue>,
    /// Whether the event was redacted (its content removed).
    pub redacted: bool,
    /// For a redaction (`m.room.redaction`): the event it removes.
    pub redacts: Option<String>,
    /// Why: a redaction's reason, or the reason a redacted event was removed.
    pub reason: Option<String>,
}

impl Shape {
    /// The shape of an event of type `kind` with `content` and `unsigned`; `redacts` is the
    /// top-level field of a redaction in rooms before version 11.
    pub fn of(
        kind: &str,
        content: &JsonValue,
        unsigned: &JsonValue,
        redacts: Option<&str>,
    ) -> Self {
        let relates = &content["m.relates_to"];
        let relation = relates["rel_type"].as_str().and_then(|rel_type| {
            Some(Relation {
                rel_type: rel_type.to_owned(),
                event_id: relates["event_id"].as_str()?.to_owned(),
                key: relates["key"].as_str().map(str::to_owned),
            })
        });
        let related = |rel_type: &str| {
            relation
                .as_ref()
                .filter(|relation| relation.rel_type == rel_type)
                .map(|relation| relation.event_id.clone())
        };
        let falling_back = relates["is_falling_back"] == true;
        let reply_to = relates["m.in_reply_to"]["event_id"]
            .as_str()
            .filter(|_| !(falling_back && related("m.thread").is_some()))
            .map(str::to_owned);
        let edits = related("m.replace");
        let latest = &unsigned["m.relations"]["m.replace"];
        let latest_edit = latest["event_id"].as_str().map(str::to_owned);
        // The text shown: an edit's new content; a message's latest edit, when the server gave
        // it decrypted or in the clear.
        let new_content = &latest["content"]["m.new_content"];
        let shown = match (&edits, new_content.is_object()) {
            (Some(_), _) if content["m.new_content"].is_object() => &content["m.new_content"],
            (None, true) => new_content,
            _ => content,
        };
        let text = |field: &str| shown[field].as_str().map(str::to_owned);
        let because = &unsigned["redacted_because"];
        let redacted = because.is_object();
        let reason = if redacted {
            because["content"]["reason"].as_str()
        } else {
            content["reason"].as_str().filter(|_| kind == REDACTION)
        };
        let redacts = (kind == REDACTION)
            .then(|| content["redacts"].as_str().or(redacts))
            .flatten();
        let url = content["url"]
            .as_str()
            .or_else(|| content["file"]["url"].as_str());
        Self {
            msgtype: text("msgtype"),
            body: text("body"),
            formatted_body: text("formatted_body"),
            reply_to,
            thread: related("m.thread"),
            edits,
            latest_edit,
            url: url.map(str::to_owned),
            info: content.get("info").filter(|info| info.is_object()).cloned(),
            redacted,
            redacts: redacts.map(str::to_owned),
            reason: reason.map(str::to_owned),
            relation,
        }
    }
}

/// The type of a redaction.
pub const REDACTION: &str = "m.room.redaction";

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_edit_shows_its_new_text_and_what_it_replaces() {
        let content = json!({
            "msgtype": "m.text", "body": "* hello again",
            "m.new_content": {"msgtype": "m.text", "body": "hello again"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$a"},
        });
        let shape = Shape::of("m.room.message", &content, &json!({}), None);
        assert_eq!(shape.body.as_deref(), Some("hello again"));
        assert_eq!(shape.edits.as_deref(), Some("$a"));
        assert_eq!(shape.relation.unwrap().rel_type, "m.replace");
        assert_eq!(shape.reply_to, None);
    }

    #[test]
    fn a_thread_fallback_is_no_reply_but_a_reply_in_a_thread_is() {
        let fallback = json!({"body": "x", "m.relates_to": {
            "rel_type": "m.thread", "event_id": "$root",
            "is_falling_back": true, "m.in_reply_to": {"event_id": "$last"},
        }});
        let shape = Shape::of("m.room.message", &fallback, &json!({}), None);
        assert_eq!(shape.thread.as_deref(), Some("$root"));
        assert_eq!(shape.reply_to, None);
        let mut reply = fallback.clone();
        reply["m.relates_to"]["is_falling_back"] = json!(false);
        let shape = Shape::of("m.room.message", &reply, &json!({}), None);
        assert_eq!(shape.reply_to.as_deref(), Some("$last"));
        let plain = json!({"body": "y", "m.relates_to": {"m.in_reply_to": {"event_id": "$q"}}});
        let shape = Shape::of("m.room.message", &plain, &json!({}), None);
        assert_eq!(shape.reply_to.as_deref(), Some("$q"));
        assert_eq!(shape.relation, None);
    }

    #[test]
    fn reactions_redactions_and_media() {
        let reaction =
            json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": "$m", "key": "👍"}});
        let shape = Shape::of("m.reaction", &reaction, &json!({}), None);
        let relation = shape.relation.unwrap();
        assert_eq!(
            (relation.event_id.as_str(), relation.key.as_deref()),
            ("$m", Some("👍"))
        );
        assert_eq!((shape.msgtype, shape.body), (None, None));

        let old = Shape::of(
            REDACTION,
            &json!({"reason": "spam"}),
            &json!({}),
            Some("$m"),
        );
        assert_eq!(old.redacts.as_deref(), Some("$m"));
        assert_eq!(old.reason.as_deref(), Some("spam"));
        let v11 = Shape::of(REDACTION, &json!({"redacts": "$n"}), &json!({}), None);
        assert_eq!(v11.redacts.as_deref(), Some("$n"));

        let gone = json!({"redacted_because": {"content": {"reason": "oops"}}});
        let shape = Shape::of("m.room.message", &json!({}), &gone, None);
        assert!(shape.redacted);
        assert_eq!(shape.reason.as_deref(), Some("oops"));
        assert_eq!(shape.msgtype, None);

        let image = json!({"msgtype": "m.image", "body": "a.png", "file": {"url": "mxc://x/y"},
                           "info": {"mimetype": "image/png", "size": 3}});
        let shape = Shape::of("m.room.message", &image, &json!({}), None);
        assert_eq!(shape.url.as_deref(), Some("mxc://x/y"));
        assert_eq!(shape.info.unwrap()["size"], 3);
    }

    #[test]
    fn a_message_shows_its_latest_edit() {
        let unsigned = json!({"m.relations": {"m.replace": {
            "event_id": "$e",
            "content": {"m.new_content": {"msgtype": "m.text", "body": "fixed"}},
        }}});
        let content = json!({"msgtype": "m.text", "body": "fixd"});
        let shape = Shape::of("m.room.message", &content, &unsigned, None);
        assert_eq!(shape.body.as_deref(), Some("fixed"));
        assert_eq!(shape.latest_edit.as_deref(), Some("$e"));
        assert_eq!(shape.edits, None);
    }
}
