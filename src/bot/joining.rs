//! Joining a room, as a bot with a device does it: to an encrypted room its device's keys go up
//! first (so whoever invited encrypts their next message for it), and the room keys of the
//! history the inviter shared (MSC4268) are imported once it is in.

use super::{Active, Failure, Hub};

/// An invitation heard: who invited, and whether the room is encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// Who invited.
    pub inviter: String,
    /// Whether the room is end-to-end encrypted.
    pub encrypted: bool,
}

impl Hub {
    /// Joins `room` (an ID or alias; `invitation` when it came as one); its room ID. A failure
    /// after the join (keys, history) leaves it joined, and is said on stderr.
    pub fn join(
        &self,
        active: &mut Active,
        room: &str,
        invitation: Option<&Invitation>,
    ) -> Result<String, Failure> {
        let saved = active.saved_as.is_some();
        let invited_to_encrypted = invitation.is_some_and(|invitation| invitation.encrypted);
        // A session that is not saved has no device keys.
        if invited_to_encrypted && saved {
            self.run_crypto(active, |crypto, client, token| {
                crypto.publish_keys(client, token)
            })?;
        }
        let room_id = active.run(self, |client, token| client.join(token, room))?;
        // Joined by name or ID: whether the room is encrypted shows only now (one request); the
        // device's keys go up at once, so that the members' next messages are encrypted for it.
        let encrypted = invited_to_encrypted
            || (saved
                && active
                    .run(self, |client, token| client.is_encrypted(token, &room_id))
                    .unwrap_or(false));
        if saved && encrypted {
            if !invited_to_encrypted {
                let published = self.run_crypto(active, |crypto, client, token| {
                    crypto.publish_keys(client, token)
                });
                if let Err(err) = published {
                    eprintln!(
                        "matrix join: the device's keys were not published ({err}); messages \
                         sent before they are may not be readable here"
                    );
                }
            }
            let inviter = invitation
                .filter(|invitation| invitation.encrypted)
                .map(|invitation| invitation.inviter.as_str());
            self.import_history(active, &room_id, inviter);
        }
        Ok(room_id)
    }

    /// The room keys of the history the inviter shared (MSC4268), imported once the room is
    /// joined: the inviter given, else asked of the server. A failure is said on stderr.
    fn import_history(&self, active: &mut Active, room_id: &str, inviter: Option<&str>) {
        let me = active.session.user_id.as_str().to_owned();
        let imported = self.crypto(active).and_then(|crypto| {
            let inviter = match inviter {
                Some(inviter) => Some(inviter.to_owned()),
                None => active.run(self, |client, token| client.inviter(token, room_id, &me))?,
            };
            let Some(inviter) = inviter else {
                return Ok(None);
            };
            active.run(self, |client, token| {
                crypto.import_history(client, token, room_id, &inviter)
            })
        });
        if let Err(err) = imported {
            eprintln!(
                "matrix join: the room's earlier messages shared by the inviter were not \
                 imported ({err}); they may stay unreadable"
            );
        }
    }
}
