//! Helper of `scripts/bench` (not a libtest benchmark):
//!
//! - `keepalive floor <homeserver URL> <calls>` (token in `MATRIX_TOKEN`): the server's own
//!   floor for `GET /account/whoami` on a keep-alive connection in this process: a bare `ureq`
//!   agent (`raw`), the library's `Client::whoami` (`library`), and the same interruptible as
//!   the plugin runs it (`interruptible`). Prints one line each, `<name> <µs> <µs> …`, one
//!   number per call (after one warm-up call each), the three taking turns.
//! - `keepalive proxy <host:port>`: a loopback relay to the homeserver that prints its URL,
//!   then one line per connection it accepts, so that the script can count connections.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use nu_plugin_matrix::client::Interrupt;
use nu_plugin_matrix::{AccessToken, Client};

#[allow(dead_code)] // the tests read the count; here each accept is printed instead
#[path = "../tests/support/proxy.rs"]
mod proxy;

fn main() -> ExitCode {
    // `cargo bench` adds `--bench`; nothing here uses it.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["floor", url, calls] => match (calls.parse(), std::env::var("MATRIX_TOKEN")) {
            (Ok(calls), Ok(token)) => floor(url, calls, token),
            _ => usage(),
        },
        ["proxy", upstream] => {
            let relay = proxy::CountingProxy::start(upstream, |n| {
                println!("accepted {n}");
                let _ = std::io::stdout().flush();
            });
            println!("{}", relay.url);
            let _ = std::io::stdout().flush();
            loop {
                std::thread::park();
            }
        }
        _ => usage(),
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: keepalive floor <homeserver URL> <calls>  (MATRIX_TOKEN set)");
    eprintln!("       keepalive proxy <host:port>");
    ExitCode::FAILURE
}

fn floor(url: &str, calls: usize, token: String) -> ExitCode {
    match measure_floor(url, calls, token) {
        Ok(lines) => {
            for (name, micros) in lines {
                println!("{name} {}", join(&micros));
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Three ways of making the same call, each on its own keep-alive connection, taking turns
/// call by call so that drift in the server's speed touches all three alike.
fn measure_floor(
    url: &str,
    calls: usize,
    token: String,
) -> Result<Vec<(&'static str, Vec<u128>)>, String> {
    let endpoint = format!(
        "{}/_matrix/client/v3/account/whoami",
        url.trim_end_matches('/')
    );
    let bearer = format!("Bearer {token}");
    let agent = ureq::Agent::new_with_defaults();
    let raw = || -> Result<(), String> {
        let mut answer = agent
            .get(&endpoint)
            .header("Authorization", &bearer)
            .call()
            .map_err(|e| e.to_string())?;
        answer
            .body_mut()
            .read_to_string()
            .map(drop)
            .map_err(|e| e.to_string())
    };
    let token = AccessToken::new(token);
    let client = Client::new(url).map_err(|e| e.to_string())?;
    // As the plugin runs it: on a worker thread, so that Ctrl-C can stop the wait.
    let never: Interrupt = std::sync::Arc::new(|| false);
    let watched = Client::new(url)
        .map_err(|e| e.to_string())?
        .with_interrupt(never);
    let library = |client: &Client| client.whoami(&token).map(drop).map_err(|e| e.to_string());
    let mut lines = vec![
        ("raw", Vec::with_capacity(calls)),
        ("library", Vec::with_capacity(calls)),
        ("interruptible", Vec::with_capacity(calls)),
    ];
    // One warm-up call each opens the connections.
    for round in 0..=calls {
        let times = [
            time(&raw)?,
            time(&|| library(&client))?,
            time(&|| library(&watched))?,
        ];
        if round > 0 {
            for ((_, micros), t) in lines.iter_mut().zip(times) {
                micros.push(t);
            }
        }
    }
    Ok(lines)
}

fn time(call: &dyn Fn() -> Result<(), String>) -> Result<u128, String> {
    let start = Instant::now();
    call().map(|()| start.elapsed().as_micros())
}

fn join(micros: &[u128]) -> String {
    micros
        .iter()
        .map(u128::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}
