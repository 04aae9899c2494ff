//! The watchdog: the plugin ends when the Nushell that started it is gone.
//!
//! A Nushell that is killed (SIGKILL, SIGTERM, SIGHUP, its terminal closed) tells its plugin
//! nothing, and the plugin's calls in flight would go on in an orphaned process: a sign-in
//! waiting for its device code or its browser (and saving a session nobody asked for any
//! more), a password prompt, a rate limit's wait, a listener's long-poll. One thread per plugin
//! process sees the plugin's parent change. It marks the plugin orphaned, which every command's
//! interrupt check reads as Ctrl-C, and stops the requests in flight, so that each wait ends as
//! it does at Ctrl-C (a listener keeps its position); a moment later it ends the process, which
//! closes whatever is left: connections, loopback listeners, a prompt on the terminal.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::MatrixPlugin;

/// How often the watchdog looks whether Nushell is still there.
const WATCH_EVERY: Duration = Duration::from_millis(200);

/// How long the waits get to end by themselves before the process ends.
const GRACE: Duration = Duration::from_millis(300);

impl MatrixPlugin {
    /// Starts the watchdog of this plugin process (once, before serving Nushell).
    pub fn watch_for_orphaning(&self) {
        let plugin = self.clone();
        let parent = std::os::unix::process::parent_id();
        let started = std::thread::Builder::new()
            .name("orphan watchdog".into())
            .spawn(move || {
                while std::os::unix::process::parent_id() == parent {
                    std::thread::sleep(WATCH_EVERY);
                }
                plugin.orphaned.store(true, Ordering::Relaxed);
                plugin.stop_requests();
                std::thread::sleep(GRACE);
                std::process::exit(0);
            });
        // Without the thread, Nushell still ends the plugin whenever it can; nothing to report.
        drop(started);
    }
}
