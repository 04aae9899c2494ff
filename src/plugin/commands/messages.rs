use std::collections::VecDeque;

use nu_plugin::{EngineInterface, EvaluatedCall, PluginCommand};
use nu_protocol::{
    Category, Example, LabeledError, ListStream, PipelineData, ShellError, Signature, Span,
    Spanned, SyntaxShape, Value,
};

use super::{Pipe, limit_flag, table_of, with_session};
use crate::bot::PageCrypto;
use crate::client::Client;
use crate::listen::{ENCRYPTED, ListenFilter};
use crate::plugin::MatrixPlugin;
use crate::plugin::active::{Active, Failure};
use crate::plugin::errors::{self, Blame};
use crate::plugin::room_arg::{room_arg, room_failure, with_room};
use crate::plugin::rows::{EventRow, check_event_type, event_columns, texts};
use crate::rooms::{Event, MAX_PAGE};
use crate::secret::AccessToken;

/// `matrix messages`: recent messages of a room.
pub struct Messages;

impl PluginCommand for Messages {
    type Plugin = MatrixPlugin;

    completes_sessions_and!(rooms, 0);

    fn name(&self) -> &str {
        "matrix messages"
    }

    fn description(&self) -> &str {
        "Recent messages of a room, newest first."
    }

    fn extra_description(&self) -> &str {
        "Columns: time, room_id, sender, type, msgtype (m.text, m.notice, m.image, ...; \
         never the event type), body (an edit's new text; a message's latest edit, when the \
         server gives it), formatted_body (HTML), event_id, reply_to (the event replied to), \
         thread (its thread's root), relation (rel_type, event_id, key: reactions, edits, \
         threads), edits (the event an edit replaces), latest_edit, url (mxc:// of media), \
         info (its size, type), redacted (and reason), redacts (the event a redaction removes), reason, \
         content, encrypted, verified, decrypt_error, authenticity. `matrix listen` gives the same, with \
         room and ack. By default the rows are messages (m.room.message); --type asks for \
         others: m.reaction, m.room.redaction, m.room.* or *. The rows stream in pages: the first of up to 100 (the first rows come at once), then \
         of up to 1000 (the most Synapse gives), no larger than --limit; 10,000 messages take \
         11 requests, and the pages already read are not kept. Messages of an end-to-end \
         encrypted room are decrypted with the room keys the saved session's device has \
         (encrypted: true; verified: whether the sender's device is cross-signed by its \
         owner; authenticity: why not, e.g. a key from the key backup); a missing key is looked \
         for in the key backup (one request per session) and asked of the account's other \
         verified devices (a later run reads what they answered); one it still has no key \
         for keeps msgtype m.room.encrypted, no body, and says why in decrypt_error."
    }

    fn signature(&self) -> Signature {
        with_session(
            Signature::build(self.name()),
            table_of(&event_columns(false)),
        )
        .pipe(with_room)
        .named(
            "limit",
            SyntaxShape::Int,
            "How many messages at most (default: 20).",
            Some('l'),
        )
        .named(
            "type",
            // The list first: with the string first, an inline list is parsed as one string.
            SyntaxShape::OneOf(vec![
                SyntaxShape::List(Box::new(SyntaxShape::String)),
                SyntaxShape::String,
            ]),
            "Event types, `*` wildcards allowed (default: m.room.message).",
            None,
        )
        .category(Category::Network)
    }

    fn search_terms(&self) -> Vec<&str> {
        vec!["history", "read", "timeline", "log"]
    }

    fn examples(&self) -> Vec<Example<'_>> {
        vec![
            Example {
                example: "matrix messages '#ops:example.org' --limit 5",
                description: "The last five messages of #ops",
                result: None,
            },
            Example {
                example: "matrix messages '#ops:example.org' --limit 1000 | where sender == '@bot:example.org' | length",
                description: "How many of the last 1000 messages the bot sent",
                result: None,
            },
            Example {
                example: "matrix messages '#ops:example.org' --type m.reaction --limit 100 | where relation.key == '👍' | length",
                description: "How many thumbs-up the last 100 reactions gave",
                result: None,
            },
        ]
    }

    fn run(
        &self,
        plugin: &MatrixPlugin,
        engine: &EngineInterface,
        call: &EvaluatedCall,
        input: PipelineData,
    ) -> Result<PipelineData, LabeledError> {
        let room = room_arg(call)?;
        let limit =
            limit_flag(call)?.map_or(20, |limit| usize::try_from(limit).unwrap_or(usize::MAX));
        let types = texts(call, "type", check_event_type)?
            .unwrap_or_else(|| vec!["m.room.message".to_owned()]);
        let wanted = ListenFilter {
            types,
            ..ListenFilter::default()
        };
        // Encrypted events are asked for too, and kept by their real type once decrypted.
        let mut types = wanted.types.clone();
        if !wanted.types_match(ENCRYPTED) {
            types.push(ENCRYPTED.to_owned());
        }
        let input = input.into_value(call.head)?;
        let mut active = Active::resolve(plugin, engine, call, &input)?;
        let blame = active.blame();
        let room_id = active
            .run(plugin, |client, token| {
                client.resolve_room(token, &room.item)
            })
            .map_err(|err| room_failure(err, &room, &blame))?;
        let first = active
            .run(plugin, |client, token| {
                client.events_page(token, &room_id, &types, None, page_size(limit, FIRST_PAGE))
            })
            .map_err(|err| room_failure(err, &room, &blame))?;
        let client = active
            .client(plugin)
            .map_err(|err| errors::request(err, &blame))?;
        let mut first = first;
        let scanned = first.messages.len();
        let token = active.session.access_token.clone();
        let mut crypto = PageCrypto::new(plugin, active.inner);
        crypto
            .open(&room_id, &mut first.messages, &wanted)
            .map_err(|err| room_failure(err, &room, &blame))?;
        let sparse = first.messages.len() < scanned;
        let pages = Pages {
            crypto,
            wanted,
            types,
            client,
            token,
            room_id,
            room,
            blame,
            buffered: first.messages.into(),
            next: first.next,
            left: limit,
            scanned,
            sparse,
            span: call.head,
        };
        Ok(PipelineData::list_stream(
            ListStream::new(pages, call.head, engine.signals().clone()),
            None,
        ))
    }
}

/// The first page: small, so that the first rows come at once (Synapse takes about 2 s for a
/// page of 1,000); the next ones as large as the server gives.
const FIRST_PAGE: u32 = 100;

/// How many events `--limit`'s search for matching ones reads at most: a room whose encrypted
/// events are mostly of other types is not read to its beginning for a few rows.
const MAX_SCAN: usize = 20_000;

fn page_size(left: usize, largest: u32) -> u32 {
    u32::try_from(left).unwrap_or(largest).min(largest)
}

/// The messages of a room, page by page, as rows.
struct Pages {
    crypto: PageCrypto,
    /// The types asked for; the types asked of the server (with encrypted events).
    wanted: ListenFilter,
    types: Vec<String>,
    client: Client,
    token: AccessToken,
    room_id: String,
    room: Spanned<String>,
    blame: Blame,
    buffered: VecDeque<Event>,
    next: Option<String>,
    left: usize,
    /// Events read from the room so far (matching or not).
    scanned: usize,
    /// Whether pages keep fewer rows than they bring (encrypted events of other types, which
    /// the server cannot filter out): then pages are asked as large as they come.
    sparse: bool,
    span: Span,
}

impl Pages {
    /// The error row that ends the stream.
    fn failed(&mut self, err: Failure) -> Value {
        self.left = 0;
        let err = room_failure(err, &self.room, &self.blame);
        Value::error(ShellError::LabeledError(Box::new(err)), self.span)
    }
}

impl Iterator for Pages {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        if self.left == 0 {
            return None;
        }
        // A page may keep nothing (its encrypted events of other types): the next one is read,
        // until rows come, history ends, or MAX_SCAN events were read.
        while self.buffered.is_empty() {
            let from = self.next.take()?;
            if self.scanned >= MAX_SCAN {
                eprintln!(
                    "matrix messages: read {} events of {} for {} more matching rows, and \
                     stopped there; the room's history goes on (the server cannot filter its \
                     encrypted events by type)",
                    self.scanned, self.room.item, self.left
                );
                return None;
            }
            let size = match self.sparse {
                true => MAX_PAGE,
                false => page_size(self.left, MAX_PAGE),
            };
            let page =
                self.client
                    .events_page(&self.token, &self.room_id, &self.types, Some(&from), size);
            let mut page = match page {
                Ok(page) => page,
                Err(err) => return Some(self.failed(Failure::Request(err))),
            };
            let brought = page.messages.len();
            self.scanned += brought;
            if let Err(err) = self
                .crypto
                .open(&self.room_id, &mut page.messages, &self.wanted)
            {
                return Some(self.failed(err));
            }
            self.sparse = page.messages.len() < brought;
            self.buffered = page.messages.into();
            // An empty page is the end, whatever token it gives.
            self.next = page.next.filter(|_| brought > 0);
        }
        let message = self.buffered.pop_front()?;
        self.left -= 1;
        let record = EventRow::of(message, None).into_record(self.span);
        Some(Value::record(record, self.span))
    }
}
