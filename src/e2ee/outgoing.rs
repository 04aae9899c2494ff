//! The crypto machine's requests, sent through this crate's own client, and their answers
//! handed back to it: the machine is sans-IO, and this module is its I/O.
//!
//! Each request of [`AnyOutgoingRequest`] is one endpoint of the spec's end-to-end encryption
//! module (`/keys/upload`, `/keys/query`, `/keys/claim`, `/sendToDevice`,
//! `/keys/signatures/upload`, or a room event); its answer is read back into the type the machine
//! takes by ruma's own parser.

use std::time::Duration;

use matrix_sdk_crypto::OlmMachine;
use matrix_sdk_crypto::types::requests::{
    AnyIncomingResponse, AnyOutgoingRequest, ToDeviceRequest,
};
use ruma::api::IncomingResponse;
use ruma::api::client::keys::{claim_keys, get_keys, upload_keys, upload_signatures};
use ruma::api::client::message::send_message_event;
use ruma::api::client::to_device::send_event_to_device;
use ruma::events::MessageLikeEventContent;
use ruma::{OwnedTransactionId, TransactionId};
use serde_json::{Value as JsonValue, json};

use super::crypto_failed;
use crate::client::{Client, Method};
use crate::error::Error;
use crate::secret::AccessToken;

/// How long the server may take to ask other servers for keys.
const REMOTE_KEYS_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends every request the machine has waiting, and hands each answer back, until it has none.
/// A keys upload may be followed by another (more one-time keys), so the machine is asked again
/// a few times.
pub(super) async fn send_outgoing(
    machine: &OlmMachine,
    client: &Client,
    token: &AccessToken,
) -> Result<(), Error> {
    for _ in 0..4 {
        let mut requests = machine.outgoing_requests().await.map_err(crypto_failed)?;
        // A verification's room messages are sent by `verify_io`, encrypted where the room is.
        requests.retain(|request| !matches!(request.request(), AnyOutgoingRequest::RoomMessage(_)));
        if requests.is_empty() {
            return Ok(());
        }
        for request in requests {
            send_one(
                machine,
                client,
                token,
                request.request_id(),
                request.request(),
            )
            .await?;
        }
    }
    Ok(())
}

/// The server's refusal of keys it already holds for this device under other values ("One time
/// key … already exists"): the device's account is not the one the server knows, so it cannot
/// go on; [`Crypto::locked`](super::Crypto) names the store.
fn clashed(err: Error) -> Error {
    match err {
        Error::Matrix(refusal)
            if refusal.status == 400 && refusal.message.contains("already exists") =>
        {
            Error::E2ee(crate::error::E2eeError {
                kind: crate::error::E2eeKind::DeviceLost,
                problem: String::new(),
                hint: String::new(),
                path: None,
            })
        }
        other => other,
    }
}

/// Sends one request of the machine and hands its answer back.
pub(super) async fn send_one(
    machine: &OlmMachine,
    client: &Client,
    token: &AccessToken,
    request_id: &TransactionId,
    request: &AnyOutgoingRequest,
) -> Result<(), Error> {
    match request {
        AnyOutgoingRequest::KeysUpload(upload) => {
            let mut body = json!({});
            if let Some(keys) = &upload.device_keys {
                body["device_keys"] = json!(keys);
            }
            if !upload.one_time_keys.is_empty() {
                body["one_time_keys"] = json!(upload.one_time_keys);
            }
            if !upload.fallback_keys.is_empty() {
                body["fallback_keys"] = json!(upload.fallback_keys);
            }
            let answer = post(client, token, &["keys", "upload"], body).map_err(clashed)?;
            let answer = parse::<upload_keys::v3::Response>(answer)?;
            mark(
                machine,
                request_id,
                AnyIncomingResponse::KeysUpload(&answer),
            )
            .await
        }
        AnyOutgoingRequest::KeysQuery(query) => {
            let body = json!({
                "device_keys": query.device_keys,
                "timeout": query.timeout.unwrap_or(REMOTE_KEYS_TIMEOUT).as_millis() as u64,
            });
            let answer = post(client, token, &["keys", "query"], body)?;
            let answer = parse::<get_keys::v3::Response>(answer)?;
            mark(machine, request_id, AnyIncomingResponse::KeysQuery(&answer)).await
        }
        AnyOutgoingRequest::KeysClaim(claim) => {
            claim_sessions(machine, client, token, request_id, claim).await
        }
        AnyOutgoingRequest::ToDeviceRequest(to_device) => {
            send_to_device(machine, client, token, to_device).await
        }
        AnyOutgoingRequest::SignatureUpload(upload) => {
            let body = json!(upload.signed_keys);
            let answer = post(client, token, &["keys", "signatures", "upload"], body)?;
            let answer = parse::<upload_signatures::v3::Response>(answer)?;
            mark(
                machine,
                request_id,
                AnyIncomingResponse::SignatureUpload(&answer),
            )
            .await
        }
        AnyOutgoingRequest::RoomMessage(message) => {
            let event_type = message.content.event_type().to_string();
            let path = [
                "rooms",
                message.room_id.as_str(),
                "send",
                event_type.as_str(),
                message.txn_id.as_str(),
            ];
            let answer = client.call(
                Method::Put,
                &path,
                Some(token),
                Some(json!(message.content)),
                &[],
            )?;
            let answer = parse::<send_message_event::v3::Response>(json_of(answer))?;
            mark(
                machine,
                request_id,
                AnyIncomingResponse::RoomMessage(&answer),
            )
            .await
        }
    }
}

/// `POST /keys/claim`: one-time keys of devices the machine has no Olm session with.
pub(super) async fn claim_sessions(
    machine: &OlmMachine,
    client: &Client,
    token: &AccessToken,
    request_id: &TransactionId,
    claim: &claim_keys::v3::Request,
) -> Result<(), Error> {
    let body = json!({
        "one_time_keys": claim.one_time_keys,
        "timeout": claim.timeout.unwrap_or(REMOTE_KEYS_TIMEOUT).as_millis() as u64,
    });
    let answer = post(client, token, &["keys", "claim"], body)?;
    let answer = parse::<claim_keys::v3::Response>(answer)?;
    mark(machine, request_id, AnyIncomingResponse::KeysClaim(&answer)).await
}

/// `PUT /sendToDevice/{eventType}/{txnId}`: to-device messages (room keys, Olm-encrypted).
pub(super) async fn send_to_device(
    machine: &OlmMachine,
    client: &Client,
    token: &AccessToken,
    request: &ToDeviceRequest,
) -> Result<(), Error> {
    let event_type = request.event_type.to_string();
    let path = ["sendToDevice", event_type.as_str(), request.txn_id.as_str()];
    let body = json!({"messages": request.messages});
    let answer = client.call(Method::Put, &path, Some(token), Some(body), &[])?;
    let answer = parse::<send_event_to_device::v3::Response>(json_of(answer))?;
    let id: OwnedTransactionId = request.txn_id.clone();
    mark(machine, &id, AnyIncomingResponse::ToDevice(&answer)).await
}

fn post(
    client: &Client,
    token: &AccessToken,
    path: &[&str],
    body: JsonValue,
) -> Result<JsonValue, Error> {
    client
        .call(Method::Post, path, Some(token), Some(body), &[])
        .map(json_of)
}

fn json_of(answer: crate::answer::Answer) -> JsonValue {
    JsonValue::Object(answer.object)
}

/// A 2xx answer's JSON as the type the machine takes.
pub(super) fn parse<T: IncomingResponse>(answer: JsonValue) -> Result<T, Error> {
    let body = serde_json::to_vec(&answer).expect("JSON serialises");
    let response = http::Response::builder()
        .status(200)
        .body(body)
        .expect("a status and a body make a response");
    T::try_from_http_response(response).map_err(|err| {
        crypto_failed(format!(
            "the homeserver's answer was not what the crypto needs: {err}"
        ))
    })
}

pub(super) async fn mark(
    machine: &OlmMachine,
    request_id: &TransactionId,
    answer: AnyIncomingResponse<'_>,
) -> Result<(), Error> {
    machine
        .mark_request_as_sent(request_id, answer)
        .await
        .map_err(crypto_failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{E2eeKind, ErrorCode, MatrixError};

    fn refusal(status: u16, message: &str) -> Error {
        Error::Matrix(MatrixError {
            status,
            errcode: ErrorCode::from("M_INVALID_PARAM"),
            message: message.to_owned(),
            retry_after: None,
            soft_logout: false,
        })
    }

    #[test]
    fn keys_the_server_already_holds_mean_a_lost_device() {
        let clash = clashed(refusal(
            400,
            "One time key signed_curve25519:AAAAAQ already exists. Old key: … new key: …",
        ));
        assert!(matches!(clash, Error::E2ee(err) if err.kind == E2eeKind::DeviceLost));
        let other = clashed(refusal(400, "Invalid key"));
        assert!(matches!(other, Error::Matrix(_)));
    }
}
