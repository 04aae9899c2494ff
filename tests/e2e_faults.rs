//! Faults a real homeserver does not produce, from fault-injecting loopback servers: silence,
//! truncation, huge bodies, unknown errors, rate limits, redirects to elsewhere.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::{FaultServer, http, nu, nu_with};

const LOGIN_OK: &str = r#"{"user_id": "@bot:localhost", "access_token": "syt_Ym90_faultfaultfault_0000", "device_id": "DEV"}"#;

/// A server that answers the login with `first` once, and with a successful login afterwards.
fn rate_limited_once(first: String) -> (FaultServer, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let server = FaultServer::with_handler(move |_| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            first.clone()
        } else {
            http("200 OK", "application/json", LOGIN_OK)
        }
    });
    (server, count)
}

fn limited(headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn a_server_that_never_answers_times_out_as_the_flag_or_config_says() {
    let silent = FaultServer::with_handler(|_| {
        std::thread::sleep(Duration::from_secs(120));
        String::new()
    });
    for script in [
        format!(
            "'pw' | matrix login @bot:localhost -H {} --timeout 1sec",
            silent.url
        ),
        format!(
            "$env.config.plugins.matrix = {{timeout: 1sec}}; 'pw' | matrix login @bot:localhost -H {}",
            silent.url
        ),
    ] {
        let started = Instant::now();
        let run = nu(&script);
        let took = started.elapsed();
        assert!(!run.success);
        assert!(run.stderr.contains("no answer in time"), "{}", run.stderr);
        assert!(took < Duration::from_secs(15), "took {took:?}");
    }
    let run = nu("matrix discover example.org --timeout 0sec");
    assert!(
        run.stderr_folded().contains("Invalid --timeout"),
        "{}",
        run.stderr
    );
}

#[test]
fn truncated_and_huge_answers_are_errors_not_crashes() {
    // The connection closes before the promised body is complete.
    let cut = FaultServer::start(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\nConnection: close\r\n\r\n{\"user_id\": \"@bot:loc"
            .to_owned(),
    );
    let run = nu(&format!(
        "'pw' | matrix login @bot:localhost -H {}",
        cut.url
    ));
    assert!(!run.success);
    // The read fails at the early end of the body (the connection closed): no partial body is
    // taken for an answer.
    let text = run.stderr_folded();
    assert!(text.contains("was cut short"), "{text}");
    assert!(text.contains("Peer disconnected"), "{text}");

    // Complete, but the JSON itself is cut off.
    let broken = FaultServer::answering("200 OK", "application/json", "{\"user_id\": \"@bot:loc");
    let run = nu(&format!(
        "'pw' | matrix login @bot:localhost -H {}",
        broken.url
    ));
    assert!(run.stderr.contains("body is not JSON"), "{}", run.stderr);

    // Five megabytes: the read stops at the 1 MiB bound.
    let huge = FaultServer::answering("200 OK", "application/json", &"a".repeat(5 * 1024 * 1024));
    let run = nu(&format!(
        "'pw' | matrix login @bot:localhost -H {}",
        huge.url
    ));
    assert!(
        run.stderr
            .contains("the answer is larger than 1048576 bytes"),
        "{}",
        run.stderr
    );
}

#[test]
fn unknown_errcodes_are_shown_as_the_server_sent_them() {
    let server = FaultServer::answering(
        "400 Bad Request",
        "application/json",
        r#"{"errcode": "M_BRAND_NEW_THING", "error": "Something the spec has not seen yet"}"#,
    );
    let run = nu(&format!(
        "'pw' | matrix login @bot:localhost -H {}",
        server.url
    ));
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(text.contains("M_BRAND_NEW_THING"), "{text}");
    assert!(
        text.contains("Something the spec has not seen yet"),
        "{text}"
    );
}

#[test]
fn a_short_rate_limit_is_waited_out_once() {
    let cases = [
        (
            "Retry-After: 1\r\n",
            r#"{"errcode": "M_LIMIT_EXCEEDED", "error": "Too many"}"#,
            1000,
        ),
        // MAS sends no hint at all: one retry after a short pause.
        ("", r#"{"errcode": "M_LIMIT_EXCEEDED"}"#, 900),
    ];
    for (headers, body, at_least_ms) in cases {
        let (server, count) = rate_limited_once(limited(headers, body));
        let started = Instant::now();
        let run = nu(&format!(
            "'pw' | matrix login @bot:localhost -H {} | get user_id",
            server.url
        ));
        assert!(run.success, "{body}: {}", run.stderr);
        assert_eq!(run.stdout.trim(), "@bot:localhost");
        assert_eq!(count.load(Ordering::SeqCst), 2, "{body}: one retry");
        assert!(
            started.elapsed() >= Duration::from_millis(at_least_ms),
            "{body}: waited"
        );
    }
}

/// Synapse's own rate limit on logins (`retry_after_ms` in an `M_LIMIT_EXCEEDED` answer): the
/// second login within two seconds is refused, waited out, and made again, for real.
#[test]
fn synapses_login_rate_limit_is_waited_out_once() {
    let hs = support::start_synapse_with(
        "synapse-rate-limited",
        &[(
            "SYNAPSE_RC_LOGIN_ADDRESS",
            "{per_second: 0.5, burst_count: 1}",
        )],
    );
    let user_id = hs.register(&support::unique_user("limited"), "pw-Limited-1");
    let relay = support::proxy::CountingProxy::start(hs.url.trim_start_matches("http://"), |_| {});
    let started = Instant::now();
    let run = support::nu_pw(
        &format!(
            "$env.PW | matrix login {user_id} -H {url} | ignore
            $env.PW | matrix login {user_id} -H {url} | matrix whoami | get user_id",
            url = relay.url
        ),
        "pw-Limited-1",
    );
    assert!(run.success, "{}", run.stderr);
    assert_eq!(
        run.stdout.trim(),
        user_id,
        "the login after the wait is real"
    );
    let logins = relay
        .requests()
        .iter()
        .filter(|request| *request == "POST /_matrix/client/v3/login")
        .count();
    assert_eq!(
        logins,
        3,
        "one, refused, and the one retry: {:?}",
        relay.requests()
    );
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "Synapse's wait was waited out: {:?}",
        started.elapsed()
    );
}

#[test]
fn a_long_rate_limit_says_how_long_to_wait() {
    let (server, count) = rate_limited_once(limited(
        "Retry-After: 120\r\n",
        r#"{"errcode": "M_LIMIT_EXCEEDED", "error": "Too many"}"#,
    ));
    let started = Instant::now();
    let run = nu(&format!(
        "'pw' | matrix login @bot:localhost -H {}",
        server.url
    ));
    assert!(!run.success);
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(count.load(Ordering::SeqCst), 1, "no retry");
    assert!(run.stderr_folded().contains("wait 120 s"), "{}", run.stderr);

    // The cap is configurable: with 0sec nothing is waited for.
    let (server, count) = rate_limited_once(limited(
        "Retry-After: 1\r\n",
        r#"{"errcode": "M_LIMIT_EXCEEDED"}"#,
    ));
    let run = nu(&format!(
        "$env.config.plugins.matrix = {{max_rate_limit_wait: 0sec}}; 'pw' | matrix login @bot:localhost -H {}",
        server.url
    ));
    assert!(!run.success);
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert!(run.stderr_folded().contains("wait 1 s"), "{}", run.stderr);
}

#[test]
fn redirects_never_carry_the_password_or_token_anywhere() {
    let elsewhere_hits = Arc::new(AtomicUsize::new(0));
    let hits = elsewhere_hits.clone();
    let elsewhere = FaultServer::with_handler(move |_| {
        hits.fetch_add(1, Ordering::SeqCst);
        http("200 OK", "application/json", LOGIN_OK)
    });
    let target = elsewhere.url.clone();
    let redirecting = FaultServer::with_handler(move |path| {
        format!(
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: {target}{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
    });
    let run = nu_with(
        &format!(
            "$env.PW | matrix login @bot:localhost -H {}",
            redirecting.url
        ),
        |command| {
            command.env("PW", "pw-never-forwarded");
        },
    );
    assert!(!run.success);
    assert!(
        run.stderr.contains("answered with a redirect (HTTP 307)"),
        "{}",
        run.stderr
    );
    let run = nu_with(
        &format!("$env.TOKEN | matrix token import -H {}", redirecting.url),
        |command| {
            command.env("TOKEN", "syt_Ym90_nevernevernever_0000");
        },
    );
    assert!(!run.success);
    assert!(!run.all().contains("nevernever"), "{}", run.all());
    assert_eq!(
        elsewhere_hits.load(Ordering::SeqCst),
        0,
        "nothing reached the other origin"
    );
}

/// Runs `script` in the real nu, sends it SIGINT (Ctrl-C) after `delay`, and returns its
/// standard error once it has ended; fails if it does not end within 10 s of the signal.
fn interrupted_after(script: &str, delay: Duration) -> String {
    let nu = support::Running::start(script, |_| {});
    std::thread::sleep(delay);
    nu.interrupt();
    let run = nu.finish(Duration::from_secs(10));
    assert!(!run.success, "{script}");
    run.stderr
}

#[test]
fn ctrl_c_interrupts_a_wait_for_a_silent_server() {
    let silent = FaultServer::with_handler(|_| {
        std::thread::sleep(Duration::from_secs(120));
        String::new()
    });
    let script = format!("'pw' | matrix login @bot:localhost -H {}", silent.url);
    let stderr = interrupted_after(&script, Duration::from_millis(1500));
    assert!(stderr.contains("Interrupted"), "{stderr}");
}

/// A request on a kept-alive connection goes out on the calling thread; Ctrl-C must stop it
/// all the same (the plugin's signal handler shuts the connections down).
#[test]
fn ctrl_c_interrupts_a_wait_on_a_kept_alive_connection() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            counted.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || answer_once_then_hang(stream));
        }
    });
    let script = format!("matrix flows {url} | ignore; matrix flows {url}");
    let stderr = interrupted_after(&script, Duration::from_millis(1500));
    assert!(stderr.contains("Interrupted"), "{stderr}");
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "the second request used the kept-alive connection"
    );
}

/// Answers the first request on the connection (keeping it open), then reads the second and
/// never answers it.
fn answer_once_then_hang(mut stream: std::net::TcpStream) {
    use std::io::{Read, Write};
    if support::read_head(&mut stream).is_none() {
        return;
    }
    let body = r#"{"flows": [{"type": "m.login.password"}]}"#;
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(answer.as_bytes()).is_err() || support::read_head(&mut stream).is_none() {
        return;
    }
    // Hold the connection, silent, until the client goes away.
    while matches!(stream.read(&mut [0u8; 256]), Ok(n) if n > 0) {}
}

#[test]
fn broken_oauth_metadata_is_named_not_ignored() {
    // A server that answers auth_metadata without a token endpoint: `matrix flows` says what is
    // missing, pointing at the server, instead of showing a half-usable OAuth row.
    let metadata = r#"{"issuer": "http://127.0.0.1:1/", "authorization_endpoint": "http://127.0.0.1:1/a",
        "registration_endpoint": "http://127.0.0.1:1/r", "revocation_endpoint": "http://127.0.0.1:1/v",
        "response_types_supported": ["code"], "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"]}"#;
    let server = FaultServer::routes(vec![
        (
            "/_matrix/client/v3/login",
            support::http(
                "200 OK",
                "application/json",
                r#"{"flows": [{"type": "m.login.sso"}]}"#,
            ),
        ),
        (
            "/_matrix/client/v1/auth_metadata",
            support::http("200 OK", "application/json", metadata),
        ),
    ]);
    let run = support::nu(&format!("matrix flows {}", server.url));
    assert!(!run.success);
    let text = run.stderr_folded();
    assert!(
        text.contains("the server metadata has no `token_endpoint`"),
        "{text}"
    );
}
