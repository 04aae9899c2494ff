//! The user's devices: list, rename, delete (the spec's "Device management" section).
//!
//! Spec: <https://spec.matrix.org/v1.16/client-server-api/#device-management>

use serde_json::{Value as JsonValue, json};

use crate::answer::{Answer, Fields};
use crate::client::{Client, Method};
use crate::error::Error;
use crate::ids::UserId;
use crate::secret::{AccessToken, Password};
use crate::session::Device;
use crate::uia::Stages;
use crate::unix_ms;

impl Client {
    /// `GET /_matrix/client/v3/devices`: the user's devices.
    ///
    /// Spec: <https://spec.matrix.org/v1.16/client-server-api/#get_matrixclientv3devices>
    pub fn devices(&self, token: &AccessToken) -> Result<Vec<Device>, Error> {
        let answer = self.call(Method::Get, &["devices"], Some(token), None, &[])?;
        devices_from(&answer)
    }

    /// `PUT /_matrix/client/v3/devices/{deviceId}`: sets a device's display name.
    ///
    /// Spec: <https://spec.matrix.org/v1.16/client-server-api/#put_matrixclientv3devicesdeviceid>
    pub fn rename_device(
        &self,
        token: &AccessToken,
        device_id: &str,
        display_name: &str,
    ) -> Result<(), Error> {
        let body = json!({"display_name": display_name});
        self.call(
            Method::Put,
            &["devices", device_id],
            Some(token),
            Some(body),
            &[],
        )
        .map(drop)
    }

    /// `POST /_matrix/client/v3/delete_devices`: deletes devices (and logs out their tokens).
    ///
    /// The server asks for user-interactive authentication; this answers its password stage
    /// with `user_id` and `password`. Without a password, or when the server offers no password
    /// stage, the result is [`Error::AuthRequired`]. A wrong password is a Matrix error
    /// (`M_FORBIDDEN`) and deletes nothing.
    ///
    /// Spec: <https://spec.matrix.org/v1.16/client-server-api/#post_matrixclientv3delete_devices>
    pub fn delete_devices(
        &self,
        token: &AccessToken,
        device_ids: &[String],
        user_id: &UserId,
        password: Option<&Password>,
    ) -> Result<(), Error> {
        let body = json!({"devices": device_ids});
        self.with_auth(
            &["delete_devices"],
            Some(token),
            body,
            &Stages::password(user_id, password),
            &[],
        )
        .map(drop)
    }
}

/// The devices of a `GET /devices` answer.
pub(crate) fn devices_from(answer: &Answer) -> Result<Vec<Device>, Error> {
    let Some(JsonValue::Array(list)) = answer.object.get("devices") else {
        return Err(answer.unexpected("the field `devices` is missing or not a list"));
    };
    let mut devices = Vec::with_capacity(list.len());
    for item in list {
        let JsonValue::Object(object) = item else {
            return Err(answer.unexpected("a device is not an object"));
        };
        let entry = Answer {
            object: object.clone(),
            ..answer.without_object()
        };
        let fields = Fields::new(&entry);
        devices.push(Device {
            device_id: fields.string("device_id")?,
            display_name: fields.optional_string("display_name")?,
            last_seen_ip: fields.optional_string("last_seen_ip")?,
            last_seen: fields.optional_u64("last_seen_ts")?.map(unix_ms::to_time),
        });
    }
    Ok(devices)
}
