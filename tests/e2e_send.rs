//! `matrix send` in a run of messages: one request each after the first to a room, and a room
//! that turns encrypted meanwhile gets encrypted messages from then on, never one in the clear.
//! Counted at a relay in front of the real Synapse.

mod support;

use support::proxy::CountingProxy;
use support::{scratch, synapse, unique_user};

#[test]
fn a_run_of_sends_costs_one_request_each_and_a_room_turned_encrypted_gets_ciphertext() {
    let hs = synapse();
    let relay = CountingProxy::start(hs.url.trim_start_matches("http://"), |_| {});
    let localpart = unique_user("runner");
    let user_id = hs.register(&localpart, "pw-runner-42");
    let config = scratch(&format!("send-{localpart}"));
    // A token imported at the relay (a login would follow Synapse's `well_known` past it).
    let token = hs.login(&user_id, "pw-runner-42");
    let login = support::nu_cfg(
        &format!(
            "$env.PW | matrix token import -H {} --save me | ignore",
            relay.url
        ),
        &config,
        &token,
    );
    assert!(login.success, "{}", login.stderr);
    let alias_name = unique_user("run");
    let before = relay.requests().len();
    // One nu session, one plugin process: five sends by alias, then the room turns encrypted
    // (its state event sent by the user, as a client would), then one more send. It waits for
    // the test's go (a file) once the room watch has heard the change: its next long-poll began
    // after the state event, which it makes only once it took the answer that carried it.
    let go = config.join("go");
    let waiter = {
        let (relay_requests, go) = (relay.clone_requests(), go.clone());
        std::thread::spawn(move || {
            let started = std::time::Instant::now();
            loop {
                let requests = relay_requests();
                let heard = requests
                    .iter()
                    .position(|r| r.ends_with("/state/m.room.encryption"))
                    .is_some_and(|at| {
                        requests[at..]
                            .iter()
                            .any(|r| r == "GET /_matrix/client/v3/sync")
                    });
                if heard {
                    std::fs::write(&go, "").expect("the go file");
                    return true;
                }
                if started.elapsed() > std::time::Duration::from_secs(60) {
                    return false;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        })
    };
    let go_path = go.display();
    let run = support::nu_cfg(
        &format!(
            "let room = (matrix api createRoom --data {{room_alias_name: '{alias_name}'}} | get room_id)
             for n in 1..4 {{ matrix send '#{alias_name}:localhost' $'message ($n)' | ignore }}
             matrix api $'rooms/($room)/send/m.room.message/api-5' -X PUT -d {{msgtype: m.text, body: 'message 5'}} | ignore
             matrix api $'rooms/($room)/state/m.room.encryption' --method PUT --data {{algorithm: m.megolm.v1.aes-sha2}} | ignore
             while not ('{go_path}' | path exists) {{ sleep 20ms }}
             try {{ matrix send '#{alias_name}:localhost' 'secret plans'; print 'SENT' }} catch {{|e| print $e.msg }}
             try {{ matrix api $'rooms/($room)/send/m.room.message/api-6' -X PUT -d {{msgtype: m.text, body: 'api plans'}}; print 'API SENT' }} catch {{|e| print $e.msg }}
             matrix api $'rooms/($room)/send/m.room.message/api-7' -X PUT -d {{msgtype: m.notice, body: 'meant'}} --plaintext | ignore
             print (matrix messages $room | select body encrypted | to json -r)"
        ),
        &config,
        "",
    );
    assert!(
        waiter.join().expect("the waiter"),
        "the room watch never heard the change"
    );
    assert!(run.success, "{}", run.stderr);
    assert!(run.stdout.contains("SENT\nAPI SENT"), "{}", run.stdout);
    // In the clear only where it was meant: before the room turned encrypted, and with
    // --plaintext; the two sends after it went encrypted, and the session's device reads them.
    let plain = |body: &str| format!(r#"{{"body":"{body}","encrypted":false}}"#);
    let sealed = |body: &str| format!(r#"{{"body":"{body}","encrypted":true}}"#);
    let expected = format!(
        "[{},{},{},{},{},{},{},{}]",
        plain("meant"),
        sealed("api plans"),
        sealed("secret plans"),
        plain("message 5"),
        plain("message 4"),
        plain("message 3"),
        plain("message 2"),
        plain("message 1")
    );
    assert!(run.stdout.contains(&expected), "{}", run.stdout);

    let requests = relay.requests()[before..].to_vec();
    let count = |pattern: &str| requests.iter().filter(|r| r.contains(pattern)).count();
    // The alias is asked once, the room's encryption never on its own: the watch's first
    // /sync placed it, and its long-poll heard the change.
    assert_eq!(
        count("GET /_matrix/client/v3/directory/room/"),
        1,
        "{requests:#?}"
    );
    assert_eq!(count("/state/m.room.encryption"), 1, "{requests:#?}");
    // matrix api's checks cost nothing more: the send watch knew the room. The two sends after
    // the change went as m.room.encrypted.
    assert_eq!(count("/send/m.room.message/"), 6, "{requests:#?}");
    assert_eq!(count("/send/m.room.encrypted/"), 2, "{requests:#?}");
    // The only room GETs are matrix messages' pages, and the members an encrypted send
    // shares its room key with (asked each time: who is in the room now).
    assert_eq!(count("/members"), 2, "{requests:#?}");
    assert_eq!(
        count("GET /_matrix/client/v3/rooms/"),
        count("/messages") + count("/members"),
        "{requests:#?}"
    );
    // The watch syncs when something it follows changes, not once a send: here it placed
    // itself and heard the encryption (a held long-poll may end once more); matrix messages'
    // device made one catch-up sync, and a second to see it had all.
    let syncs = count("GET /_matrix/client/v3/sync");
    assert!(
        (4..9).contains(&syncs),
        "fewer syncs than sends: {requests:#?}"
    );
}
