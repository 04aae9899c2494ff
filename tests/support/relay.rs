//! A fault-injecting relay on 127.0.0.1 in front of a real server: it answers the requests a
//! judge picks with a fault of the test's, and passes every other request to the server as it
//! is, one request a connection (it asks the server to close after each answer, so that no
//! request slips past the judge on a kept-alive connection).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;

/// What the judge is given: the request's method and path (with its query).
pub type Judge = dyn Fn(&str, &str) -> Option<String> + Send + Sync;

/// A relay in front of `upstream` (`host:port`).
pub struct FaultRelay {
    /// `http://127.0.0.1:<port>` of the relay.
    pub url: String,
}

impl FaultRelay {
    /// Starts relaying to `upstream`; `judge` returns a raw HTTP answer for the requests it
    /// fakes, `None` for the ones the server answers.
    pub fn start(
        upstream: &str,
        judge: impl Fn(&str, &str) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let judge: Arc<Judge> = Arc::new(judge);
        let upstream = upstream.to_owned();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (judge, upstream) = (judge.clone(), upstream.clone());
                thread::spawn(move || {
                    let _ = serve(client, &upstream, &*judge);
                });
            }
        });
        Self { url }
    }
}

/// One request of `client`: faked, or passed on and its answer passed back.
fn serve(client: TcpStream, upstream: &str, judge: &Judge) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = String::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
        let end = line == "\r\n";
        // The server is asked to close after its answer; the client's own wish is dropped.
        if !line.to_ascii_lowercase().starts_with("connection:") && !end {
            head.push_str(&line);
        }
        if end {
            break;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut words = head.split(' ');
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let mut client = client;
    if let Some(fault) = judge(method, path) {
        client.write_all(fault.as_bytes())?;
        return Ok(());
    }
    let mut server = TcpStream::connect(upstream)?;
    server.write_all(head.as_bytes())?;
    server.write_all(b"Connection: close\r\n\r\n")?;
    server.write_all(&body)?;
    std::io::copy(&mut server, &mut client)?;
    Ok(())
}
