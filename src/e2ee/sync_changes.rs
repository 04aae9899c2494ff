//! What a sync tells the device, taken in: its to-device events (room keys, Olm, verification
//! requests), changed device lists and one-time key counts given to the machine, what the
//! machine then asks sent, and where the device's syncs got kept in the store.

use matrix_sdk_common::deserialized_responses::ProcessedToDeviceEvent;
use matrix_sdk_crypto::{EncryptionSyncChanges, OlmMachine};
use ruma::api::client::sync::sync_events::DeviceLists;
use ruma::serde::Raw;
use ruma::{OneTimeKeyAlgorithm, UInt};
use serde_json::Value as JsonValue;

use super::{crypto_failed, decryption_settings, outgoing, trust, verify_io};
use crate::client::Client;
use crate::error::Error;
use crate::listen::CryptoChanges;
use crate::secret::AccessToken;

/// Where the device's syncs got, kept in the store: the `since` of a catch-up.
pub(super) const SINCE_KEY: &str = "nu_plugin_matrix.to_device_since";

/// A sync's changes into the machine (the lock held), then what it asks sent; then the sync's
/// end kept as where the device got.
pub(super) async fn take(
    machine: &OlmMachine,
    client: &Client,
    token: &AccessToken,
    changes: &CryptoChanges,
) -> Result<Vec<JsonValue>, Error> {
    let requests = receive_to_device(machine, client, token, changes).await?;
    machine
        .store()
        .set_custom_value(SINCE_KEY, changes.next_batch.clone().into_bytes())
        .await
        .map_err(crypto_failed)?;
    // Room keys that came go to the key backup, if one is on. A failed upload leaves them
    // waiting for the next sync: it must not stop the sync that brought them.
    let _ = trust::back_up(machine, client, token).await;
    Ok(requests)
}

/// A sync's changes into the machine (the lock held), then what it asks sent; the
/// verification requests among its to-device events.
pub(super) async fn receive_to_device(
    machine: &OlmMachine,
    client: &Client,
    token: &AccessToken,
    changes: &CryptoChanges,
) -> Result<Vec<JsonValue>, Error> {
    let to_device: Vec<_> = changes
        .to_device
        .iter()
        .filter_map(|event| Raw::from_json_string(event.to_string()).ok())
        .collect();
    let device_lists: DeviceLists =
        serde_json::from_value(changes.device_lists.clone()).unwrap_or_default();
    let counts: std::collections::BTreeMap<OneTimeKeyAlgorithm, UInt> =
        serde_json::from_value(changes.one_time_keys_count.clone()).unwrap_or_default();
    let fallback: Option<Vec<OneTimeKeyAlgorithm>> = changes
        .unused_fallback_key_types
        .clone()
        .and_then(|types| serde_json::from_value(types).ok());
    let sync = EncryptionSyncChanges {
        to_device_events: to_device,
        changed_devices: &device_lists,
        one_time_keys_counts: &counts,
        unused_fallback_keys: fallback.as_deref(),
        next_batch_token: Some(changes.next_batch.clone()).filter(|next| !next.is_empty()),
    };
    let (processed, _) = machine
        .receive_sync_changes(sync, &decryption_settings())
        .await
        .map_err(crypto_failed)?;
    outgoing::send_outgoing(machine, client, token).await?;
    Ok(processed
        .iter()
        .filter(|event| {
            matches!(
                event,
                ProcessedToDeviceEvent::Decrypted { .. } | ProcessedToDeviceEvent::PlainText(_)
            )
        })
        .filter_map(|event| event.to_raw().deserialize_as_unchecked::<JsonValue>().ok())
        .filter(|event| event["type"] == verify_io::REQUEST)
        .collect())
}
