//! A browser for the user: opening a page where one can appear, and saying on the terminal what
//! to open and how long the plugin waits. The plugin's stdout is Nushell's protocol channel, so
//! everything goes to stderr, which is the terminal's.

use std::io::Write;
use std::time::Duration;

/// How long a browser sign-in has by default.
pub(crate) const DEFAULT_WAIT: Duration = Duration::from_secs(300);

/// Whether a browser was opened.
pub(crate) enum Opened {
    NotAsked,
    Yes,
    /// No browser could be opened, and why.
    No(String),
}

/// Opens the URL in the user's browser, detached, with its output closed (a browser that
/// wrote to the plugin's stdout would break the connection to Nushell). Only where a browser
/// can show up: on Linux and the BSDs, that needs a graphical session.
pub(crate) fn open_browser(url: &str) -> Opened {
    let graphical = cfg!(any(target_os = "macos", windows))
        || ["DISPLAY", "WAYLAND_DISPLAY"]
            .iter()
            .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()));
    if !graphical {
        return Opened::No("no graphical session (DISPLAY is not set)".to_owned());
    }
    match open::that_detached(url) {
        Ok(()) => Opened::Yes,
        Err(err) => Opened::No(err.to_string()),
    }
}

/// Says on the terminal what is going on and what to do: `heading`, the page to open, and
/// `waiting` (how long, and how to stop).
pub(crate) fn tell(heading: &str, url: &str, opened: &Opened, waiting: &str) {
    let mut stderr = std::io::stderr().lock();
    let how = match opened {
        Opened::Yes => "Your browser should open this page; if it does not, open it yourself:",
        Opened::NotAsked | Opened::No(_) => {
            "Open this page in a browser on this machine and sign in:"
        }
    };
    let _ = writeln!(stderr, "{heading}");
    if let Opened::No(why) = opened {
        let _ = writeln!(stderr, "(Could not open a browser: {why}.)");
    }
    let _ = writeln!(stderr, "{how}\n\n  {url}\n\n{waiting}");
    let _ = stderr.flush();
}

/// A duration as people write it: `5min`, `90sec`.
pub(crate) fn human(wait: Duration) -> String {
    let secs = wait.as_secs();
    if secs >= 60 && secs.is_multiple_of(60) {
        format!("{}min", secs / 60)
    } else {
        format!("{secs}sec")
    }
}

/// Opens an account page the user must visit (where a browser can appear), and says where it is,
/// for an error's help.
pub(crate) fn account_page(url: &str) -> String {
    match open_browser(url) {
        Opened::Yes => format!("the page opened in your browser; if it did not, open {url}"),
        Opened::NotAsked | Opened::No(_) => format!("open {url}"),
    }
}
