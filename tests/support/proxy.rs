//! A TCP relay on 127.0.0.1 that counts the connections it accepts, to check connection reuse
//! directly instead of inferring it from timing. Shared by the tests and `benches/keepalive.rs`.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

/// Relays every connection to `upstream` byte for byte and counts them.
pub struct CountingProxy {
    /// `http://127.0.0.1:<port>` of the relay.
    pub url: String,
    accepted: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
    sent: Arc<Mutex<Vec<u8>>>,
}

impl CountingProxy {
    /// Starts relaying to `upstream` (`host:port`); `on_accept` runs once per new connection.
    pub fn start(upstream: &str, on_accept: impl Fn(usize) + Send + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let bytes = sent.clone();
        let upstream = upstream.to_owned();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                on_accept(n);
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                relay(client, server, seen.clone(), bytes.clone());
            }
        });
        Self {
            url,
            accepted,
            requests,
            sent,
        }
    }

    #[allow(dead_code)] // the benchmark does not look at bodies
    /// Every value the clients sent for `field` so far, in JSON bodies (`"field":"value"`) or
    /// forms (`field=value`), in order. For checks on secrets: print counts, never values.
    pub fn presented(&self, field: &str) -> Vec<String> {
        let sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
        let text = String::from_utf8_lossy(&sent);
        let mut values = Vec::new();
        for (at, _) in text.match_indices(field) {
            let rest = &text[at + field.len()..];
            let value = if let Some(json) = rest.strip_prefix('"') {
                let json = json.trim_start_matches([':', ' ']);
                json.strip_prefix('"')
                    .and_then(|inner| inner.split('"').next())
            } else if let Some(form) = rest.strip_prefix('=') {
                form.split(['&', '\r', '\n', ' ']).next()
            } else {
                None
            };
            if let Some(value) = value.filter(|value| !value.is_empty()) {
                values.push(value.to_owned());
            }
        }
        values
    }

    /// The requests relayed so far, as `METHOD /path` (no query), in order. A request's head
    /// starts a read of its own (the clients wait for each answer), so each is seen.
    pub fn requests(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A way to read [`CountingProxy::requests`] from another thread.
    #[allow(dead_code)] // the benchmark does not wait on requests
    pub fn clone_requests(&self) -> impl Fn() -> Vec<String> + Send + 'static {
        let requests = self.requests.clone();
        move || {
            requests
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        }
    }

    /// How many connections were accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Copies both ways on two threads; each side's end of stream is passed on as a half close.
fn relay(
    client: TcpStream,
    server: TcpStream,
    requests: Arc<Mutex<Vec<String>>>,
    sent: Arc<Mutex<Vec<u8>>>,
) {
    let pairs = [
        (
            client.try_clone(),
            server.try_clone(),
            Some((requests, sent)),
        ),
        (server.try_clone(), client.try_clone(), None),
    ];
    for (from, to, requests) in pairs {
        if let (Ok(mut from), Ok(mut to)) = (from, to) {
            thread::spawn(move || {
                let mut buffer = [0u8; 16 * 1024];
                loop {
                    match from.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if let Some((requests, sent)) = &requests {
                                record(&buffer[..n], requests);
                                sent.lock()
                                    .unwrap_or_else(PoisonError::into_inner)
                                    .extend_from_slice(&buffer[..n]);
                            }
                            if to.write_all(&buffer[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = to.shutdown(Shutdown::Write);
            });
        }
    }
}

/// Keeps the request line that starts `bytes`, if it starts with one.
fn record(bytes: &[u8], requests: &Mutex<Vec<String>>) {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(2048)]);
    let mut words = head.lines().next().unwrap_or_default().split(' ');
    if let (Some(method @ ("GET" | "PUT" | "POST" | "DELETE")), Some(target)) =
        (words.next(), words.next())
    {
        let path = target.split('?').next().unwrap_or_default();
        requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(format!("{method} {path}"));
    }
}
