//! The room watches of senders, one per user and homeserver, kept while the
//! process lives (see [`RoomWatch`]): a run of messages to a room costs one request each.

use std::sync::PoisonError;

use super::Hub;
use crate::client::Client;
use crate::error::Error;
use crate::listen::DEFAULT_WAIT;
use crate::rooms::{DeviceHook, RoomWatch};
use crate::secret::AccessToken;

impl Hub {
    /// The room ID of `room` (an ID or alias) and whether it is encrypted: from the user's
    /// live room watch, else asked of the server while a new watch starts.
    /// A new watch's syncs hand the device's to-device events to `device` (see
    /// [`Hub::device_hook`]).
    pub fn room_to_send_to(
        &self,
        client: &Client,
        token: &AccessToken,
        user_id: &str,
        room: &str,
        device: Option<DeviceHook>,
    ) -> Result<(String, bool), Error> {
        let key = (client.homeserver().to_owned(), user_id.to_owned());
        let live = {
            let watches = self
                .room_watches
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            watches.get(&key).filter(|watch| watch.is_live()).cloned()
        };
        if let Some(watch) = live {
            let room_id = watch.resolve(client, token, room)?;
            let encrypted = watch.is_encrypted(client, token, &room_id)?;
            return Ok((room_id, encrypted));
        }
        let (watch, room_id, encrypted) =
            RoomWatch::start(client, token, room, DEFAULT_WAIT, device)?;
        let encrypted = match encrypted {
            Some(encrypted) => encrypted,
            // Not in the room's sync (not joined): the server's own answer says why.
            None => watch.is_encrypted(client, token, &room_id)?,
        };
        self.room_watches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, watch);
        Ok((room_id, encrypted))
    }

    /// Forgets what the user's room watch knows of `room_id` (a send to it failed).
    pub fn forget_room(&self, homeserver: &str, user_id: &str, room_id: &str) {
        let watches = self
            .room_watches
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(watch) = watches.get(&(homeserver.to_owned(), user_id.to_owned())) {
            watch.forget(room_id);
        }
    }
}
