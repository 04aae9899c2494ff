//! Processes as `/proc` shows them: a nu run's plugin process, and whether it is gone.

use std::time::{Duration, Instant};

/// The parent and the command name (at most 15 characters) of a live process.
fn stat(pid: u32) -> Option<(u32, String, char)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`: the name may hold spaces and parentheses.
    let (head, rest) = text.rsplit_once(')')?;
    let name = head.split_once('(')?.1.to_owned();
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let parent = fields.next()?.parse().ok()?;
    Some((parent, name, state))
}

/// The processes below `pid`, with their names.
pub fn descendants(pid: u32) -> Vec<(u32, String)> {
    let all: Vec<(u32, u32, String)> = std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|child| stat(child).map(|(parent, name, _)| (child, parent, name)))
        .collect();
    let mut found = Vec::new();
    let mut parents = vec![pid];
    while let Some(parent) = parents.pop() {
        for (child, of, name) in &all {
            if *of == parent {
                found.push((*child, name.clone()));
                parents.push(*child);
            }
        }
    }
    found
}

/// The first process named `name` (as `/proc` cuts names: 15 characters) below `pid`, once one
/// is there; fails after `within`.
pub fn descendant_named(pid: u32, name: &str, within: Duration) -> u32 {
    let short: String = name.chars().take(15).collect();
    let started = Instant::now();
    loop {
        if let Some((child, _)) = descendants(pid).into_iter().find(|(_, n)| *n == short) {
            return child;
        }
        assert!(
            started.elapsed() < within,
            "no {name} below {pid} within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `pid` is gone (or a zombie nobody reaped) within `within`.
pub fn gone_within(pid: u32, within: Duration) -> bool {
    let started = Instant::now();
    loop {
        match stat(pid) {
            None | Some((_, _, 'Z')) => return true,
            Some(_) if started.elapsed() >= within => return false,
            Some(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Sends `pid` a signal by name (`TERM`, `KILL`, `HUP`).
pub fn signal(pid: u32, name: &str) {
    let sent = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -{name} {pid}");
}
