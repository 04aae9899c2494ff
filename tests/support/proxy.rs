//! A TCP relay on 127.0.0.1 that counts the connections it accepts, to check connection reuse
//! directly instead of inferring it from timing. Shared by the tests and `benches/keepalive.rs`.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

/// Relays every connection to `upstream` byte for byte and counts them.
pub struct CountingProxy {
    /// `http://127.0.0.1:<port>` of the relay.
    pub url: String,
    accepted: Arc<AtomicUsize>,
}

impl CountingProxy {
    /// Starts relaying to `upstream` (`host:port`); `on_accept` runs once per new connection.
    pub fn start(upstream: &str, on_accept: impl Fn(usize) + Send + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
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
                relay(client, server);
            }
        });
        Self { url, accepted }
    }

    /// How many connections were accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Copies both ways on two threads; each side's end of stream is passed on as a half close.
fn relay(client: TcpStream, server: TcpStream) {
    let pairs = [
        (client.try_clone(), server.try_clone()),
        (server.try_clone(), client.try_clone()),
    ];
    for pair in pairs {
        if let (Ok(mut from), Ok(mut to)) = pair {
            thread::spawn(move || {
                let mut buffer = [0u8; 16 * 1024];
                loop {
                    match from.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
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
