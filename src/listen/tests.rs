use std::sync::{Arc, Mutex};

use serde_json::json;

use super::*;
use crate::error::MatrixError;

fn event(id: &str) -> Event {
    Event {
        room_id: "!r:x".into(),
        event_id: Some(id.into()),
        sender: "@a:x".into(),
        kind: "m.room.message".into(),
        time: std::time::SystemTime::UNIX_EPOCH,
        content: json!({"body": id}),
        unsigned: json!({}),
        redacts: None,
        encrypted: false,
        verified: None,
        decrypt_error: None,
        authenticity: None,
        key_may_come: false,
    }
}

fn batch(ids: &[&str], next: &str) -> SyncBatch {
    SyncBatch {
        events: ids.iter().map(|id| event(id)).collect(),
        room_names: BTreeMap::new(),
        naming: BTreeMap::from([(
            "!r:x".to_owned(),
            serde_json::json!({"events": [{"type": "m.room.canonical_alias", "state_key": "", "content": {"alias": "#ops:x"}}]}),
        )]),
        next_batch: next.into(),
        crypto: CryptoChanges::default(),
        held_from: None,
    }
}

fn matrix(status: u16, errcode: ErrorCode, retry_after: Option<Duration>) -> Error {
    Error::Matrix(MatrixError {
        status,
        errcode,
        message: String::new(),
        retry_after,
        soft_logout: false,
    })
}

/// The `since` of each sync a scripted listener made.
type Asked = Arc<Mutex<Vec<Option<String>>>>;

/// A listener over scripted answers; records the `since` of each sync.
fn scripted(
    answers: Vec<Result<SyncBatch, Error>>,
    start: Start,
    once: bool,
) -> (Listener<Error>, Asked) {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let seen = asked.clone();
    let mut answers = answers.into_iter();
    let sync: SyncFn<Error> = Box::new(move |since, _wait| {
        seen.lock().unwrap().push(since.map(str::to_owned));
        answers
            .next()
            .unwrap_or_else(|| Err(matrix(401, ErrorCode::UnknownToken, None)))
    });
    (
        Listener::new(sync, Verdict::of, start, DEFAULT_WAIT, once),
        asked,
    )
}

fn ids(listener: &mut Listener<Error>, n: usize) -> Vec<String> {
    listener
        .take(n)
        .map(|event| event.expect("an event").event_id.unwrap())
        .collect()
}

#[test]
fn events_come_in_order_from_the_position_now() {
    let (mut listener, asked) = scripted(
        vec![
            Ok(batch(&[], "s1")),
            Ok(batch(&["a", "b"], "s2")),
            Ok(batch(&["c"], "s3")),
        ],
        Start::Now,
        false,
    );
    assert_eq!(ids(&mut listener, 1), ["a"]);
    assert_eq!(
        listener.position(),
        Some(&Position {
            since: "s1".into(),
            after: Some("a".into())
        })
    );
    assert_eq!(ids(&mut listener, 2), ["b", "c"]);
    // Past the whole of a sync: the next one's since.
    assert_eq!(listener.position().map(|at| at.since.as_str()), Some("s3"));
    assert_eq!(listener.room_name("!r:x").as_deref(), Some("#ops:x"));
    assert_eq!(
        *asked.lock().unwrap(),
        [None, Some("s1".into()), Some("s2".into())]
    );
}

#[test]
fn a_resumed_listener_skips_what_was_handed_out() {
    let start = Start::At(Position {
        since: "s1".into(),
        after: Some("b".into()),
    });
    let (mut listener, asked) = scripted(
        vec![Ok(batch(&[], "now")), Ok(batch(&["a", "b", "c"], "s2"))],
        start,
        true,
    );
    assert_eq!(ids(&mut listener, 5), ["c"]);
    assert_eq!(
        listener.next().map(|item| item.is_ok()),
        None,
        "once: ended"
    );
    assert_eq!(asked.lock().unwrap()[1].as_deref(), Some("s1"));
}

#[test]
fn passing_failures_are_retried_and_said_and_others_end_it() {
    let (listener, _) = scripted(
        vec![
            Ok(batch(&[], "s1")),
            Err(matrix(
                429,
                ErrorCode::LimitExceeded,
                Some(Duration::from_millis(5)),
            )),
            Err(matrix(
                502,
                ErrorCode::Unknown,
                Some(Duration::from_millis(5)),
            )),
            Ok(batch(&["a"], "s2")),
        ],
        Start::Now,
        false,
    );
    let notes = Arc::new(Mutex::new(Vec::new()));
    let said = notes.clone();
    let backs = Arc::new(Mutex::new(Vec::new()));
    let back = backs.clone();
    let mut listener = listener
        .on_retry(Box::new(move |err, pause, first| {
            said.lock().unwrap().push((err.to_string(), pause, first));
        }))
        .on_back(Box::new(move |after| back.lock().unwrap().push(after)));
    assert_eq!(ids(&mut listener, 1), ["a"]);
    let firsts: Vec<bool> = notes.lock().unwrap().iter().map(|note| note.2).collect();
    assert_eq!(firsts, [true, false], "the first of the run is told apart");
    // One "back" for the two failures in a row, as long as their pauses at least.
    let backs = backs.lock().unwrap().clone();
    assert_eq!(backs.len(), 1, "{backs:?}");
    assert!(backs[0] >= Duration::from_millis(10), "{backs:?}");
    // Then the scripted answers run out: a refused token ends it, as its last item.
    assert!(matches!(listener.next(), Some(Err(Error::Matrix(_)))));
    assert!(listener.next().is_none());
}

#[test]
fn priming_places_the_listener_or_says_why_not() {
    let (mut listener, asked) = scripted(vec![Ok(batch(&[], "s1"))], Start::Now, false);
    listener.prime().expect("placed");
    listener.prime().expect("once only");
    assert_eq!(asked.lock().unwrap().len(), 1);
    assert_eq!(listener.position().map(|at| at.since.as_str()), Some("s1"));
    let (mut refused, _) = scripted(Vec::new(), Start::Now, false);
    assert!(matches!(refused.prime(), Err(Error::Matrix(_))));
    assert!(refused.next().is_none());
}

#[test]
fn a_stop_ends_it_between_attempts() {
    let (listener, _) = scripted(vec![Ok(batch(&[], "s1"))], Start::Now, false);
    let mut listener = listener.stop_when(Arc::new(|| true));
    assert!(listener.next().is_none());
}

#[test]
fn a_request_cut_short_by_a_stop_is_neither_said_nor_retried() {
    let stopped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (stop, cut) = (stopped.clone(), stopped.clone());
    let mut answers = vec![Ok(batch(&[], "s1"))].into_iter();
    let sync: SyncFn<Error> = Box::new(move |_, _| {
        answers.next().unwrap_or_else(|| {
            // The stop comes while the request is in flight, and cuts it.
            cut.store(true, std::sync::atomic::Ordering::Relaxed);
            Err(matrix(502, ErrorCode::Unknown, None))
        })
    });
    let said = Arc::new(Mutex::new(0));
    let count = said.clone();
    let mut listener = Listener::new(sync, Verdict::of, Start::Now, DEFAULT_WAIT, false)
        .on_retry(Box::new(move |_, _, _| *count.lock().unwrap() += 1))
        .stop_when(Arc::new(move || {
            stop.load(std::sync::atomic::Ordering::Relaxed)
        }));
    assert!(listener.next().is_none());
    assert_eq!(*said.lock().unwrap(), 0, "nothing said on a normal stop");
}

#[test]
fn the_backoff_doubles_to_its_cap_and_starts_over() {
    let mut backoff = Backoff::default();
    let pauses: Vec<u64> = (0..7).map(|_| backoff.next_pause().as_secs()).collect();
    assert_eq!(pauses, [1, 2, 4, 8, 16, 30, 30]);
    backoff.reset();
    assert_eq!(backoff.next_pause(), Duration::from_secs(1));
}

#[test]
fn while_a_sync_holds_an_event_back_the_position_stays_just_before_it() {
    let held_at = Position {
        since: "s1".into(),
        after: Some("a".into()),
    };
    let mut holding = batch(&["a", "c"], "s2");
    holding.held_from = Some(held_at.clone());
    let mut still = batch(&["d"], "s3");
    still.held_from = Some(held_at.clone());
    let (mut listener, _) = scripted(
        vec![
            Ok(batch(&[], "s1")),
            Ok(holding),
            Ok(still),
            Ok(batch(&["b", "e"], "s4")),
        ],
        Start::Now,
        false,
    );
    assert_eq!(ids(&mut listener, 2), ["a", "c"]);
    assert_eq!(listener.position(), Some(&held_at));
    assert_eq!(ids(&mut listener, 1), ["d"]);
    assert_eq!(listener.position(), Some(&held_at));
    // Released (it comes first in the sync that lets it go): the position moves on.
    assert_eq!(ids(&mut listener, 2), ["b", "e"]);
    assert_eq!(listener.position().map(|at| at.since.as_str()), Some("s4"));
    assert_ne!(listener.position(), Some(&held_at));
}
