//! The operator at the terminal, for what only a person may do (compare emoji): lines shown on
//! the terminal, and keys read one at a time with echo, line editing and signals off, so that
//! Ctrl-C comes as a key the command answers (a cancel sent to the other side) instead of a
//! signal that would end the plugin with the other side left waiting. The terminal's mode is
//! put back when the [`Operator`] is dropped.

use std::fs::File;
use std::io::{Read, Write};

use nu_plugin::{EngineInterface, EvaluatedCall};
use nu_protocol::LabeledError;
use rustix::termios::{
    LocalModes, OptionalActions, SpecialCodeIndex, Termios, tcgetattr, tcsetattr,
};

/// A key the operator pressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    Yes,
    No,
    /// Ctrl-C (or Ctrl-D, or Escape).
    Stop,
    Other,
}

/// The terminal of the operator: see the module.
pub(crate) struct Operator {
    tty: File,
    saved: Termios,
    /// Nushell's foreground, held while the terminal is ours.
    _foreground: Box<dyn std::any::Any>,
}

impl Operator {
    /// The controlling terminal, made the plugin's: refused with `what_instead` when there is
    /// none (a script run by cron, a service).
    pub(crate) fn open(
        engine: &EngineInterface,
        call: &EvaluatedCall,
        what_instead: &str,
    ) -> Result<Self, LabeledError> {
        let no_terminal = || {
            LabeledError::new("This needs a person at a terminal")
                .with_label("no terminal to show the emoji on", call.head)
                .with_help(what_instead.to_owned())
        };
        let tty = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .map_err(|_| no_terminal())?;
        let saved = tcgetattr(&tty).map_err(|_| no_terminal())?;
        let foreground = engine.enter_foreground().map_err(|_| no_terminal())?;
        let mut keys = saved.clone();
        keys.local_modes
            .remove(LocalModes::ICANON | LocalModes::ECHO | LocalModes::ISIG);
        // A read waits at most a tenth of a second, so that the other side is heard meanwhile.
        keys.special_codes[SpecialCodeIndex::VMIN] = 0;
        keys.special_codes[SpecialCodeIndex::VTIME] = 1;
        tcsetattr(&tty, OptionalActions::Now, &keys).map_err(|_| no_terminal())?;
        Ok(Self {
            tty,
            saved,
            _foreground: Box::new(foreground),
        })
    }

    /// Shows `text` (lines end with `\n`).
    pub(crate) fn say(&mut self, text: &str) {
        let _ = self.tty.write_all(text.replace('\n', "\r\n").as_bytes());
        let _ = self.tty.flush();
    }

    /// The key pressed within a tenth of a second, if any.
    pub(crate) fn key(&mut self) -> Option<Key> {
        let mut byte = [0u8; 1];
        match self.tty.read(&mut byte) {
            Ok(1) => Some(match byte[0] {
                b'y' | b'Y' => Key::Yes,
                b'n' | b'N' => Key::No,
                0x03 | 0x04 | 0x1b => Key::Stop,
                _ => Key::Other,
            }),
            _ => None,
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = tcsetattr(&self.tty, OptionalActions::Now, &self.saved);
    }
}
