//! The person's side of an emoji (SAS) verification, as Element X's SDK runs it. The test
//! talks to it over the process's standard streams, a JSON line each way:
//!
//! - out `{"listening": true}` once its first sync is done (a request sent after this is seen);
//! - out `{"emoji": [{"symbol", "description"}...], "decimals": [a, b, c]}` when the short
//!   authentication string is ready; then a line in: `confirm`, `mismatch` or `cancel`;
//! - out `{"outcome": "done", "verified": bool}` (whether the SDK now sees the other user's
//!   identity verified), `{"outcome": "cancelled", "code": "...", "by_me": bool}`, or
//!   `{"outcome": "none"}` when nothing came in time.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use matrix_sdk::Client;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::encryption::verification::{
    SasState, SasVerification, Verification, VerificationRequest, VerificationRequestState,
};
use matrix_sdk::ruma::events::key::verification::request::ToDeviceKeyVerificationRequestEvent;
use matrix_sdk::ruma::events::room::message::{MessageType, OriginalSyncRoomMessageEvent};
use matrix_sdk::ruma::{OwnedUserId, UserId};
use serde_json::json;
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, timeout_at};

/// Where the other side's request goes.
pub enum Way {
    /// Into the DM room (the SDK finds it, or makes one).
    Room,
    /// To one device of the user, over to-device messages.
    ToDevice(String),
}

/// Waits up to `seconds` for a request from `user`, accepts it, and runs the SAS the other side
/// starts (or starts it, when the other side waits). `accept` false: the request is left
/// unanswered, and its end said (a person who never answers).
pub async fn answer(client: &Client, user: &UserId, seconds: u64, accept: bool) -> Result<()> {
    let (heard, mut requests) = mpsc::unbounded_channel::<(OwnedUserId, String)>();
    let to_device = heard.clone();
    client.add_event_handler(move |event: ToDeviceKeyVerificationRequestEvent| {
        let heard = to_device.clone();
        async move {
            let _ = heard.send((event.sender, event.content.transaction_id.to_string()));
        }
    });
    client.add_event_handler(move |event: OriginalSyncRoomMessageEvent| {
        let heard = heard.clone();
        async move {
            if let MessageType::VerificationRequest(_) = &event.content.msgtype {
                let _ = heard.send((event.sender, event.event_id.to_string()));
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let _syncing = keep_syncing(client).await?;
    let request = loop {
        match timeout_at(deadline, requests.recv()).await {
            Ok(Some((sender, flow))) if sender == user => {
                if let Some(request) = client
                    .encryption()
                    .get_verification_request(&sender, &flow)
                    .await
                {
                    break request;
                }
            }
            Ok(Some(_)) => {}
            _ => return say(json!({"outcome": "none"})),
        }
    };
    if !accept {
        while Instant::now() < deadline && !request.is_cancelled() {
            sleep(Duration::from_millis(100)).await;
        }
        return outcome_of_request(&request);
    }
    request.accept().await?;
    let sas = match wait_for_sas(&request, deadline, Duration::from_secs(3)).await? {
        Some(sas) => sas,
        None => return outcome_of_request(&request),
    };
    run_sas(client, &sas, user, deadline).await
}

/// Requests a verification of `user` (the `way` given), and runs the SAS once it is accepted.
pub async fn request(client: &Client, user: &UserId, way: Way, seconds: u64) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let _syncing = keep_syncing(client).await?;
    let request = match way {
        Way::Room => {
            let identity = client
                .encryption()
                .request_user_identity(user)
                .await?
                .context("the user has no cross-signing identity")?;
            identity.request_verification().await?
        }
        Way::ToDevice(device) => {
            let device = client
                .encryption()
                .get_device(user, device.as_str().into())
                .await?
                .context("no such device")?;
            device.request_verification().await?
        }
    };
    loop {
        match request.state() {
            VerificationRequestState::Ready { .. } => break,
            VerificationRequestState::Cancelled(_) | VerificationRequestState::Done => {
                return outcome_of_request(&request);
            }
            _ if Instant::now() > deadline => return say(json!({"outcome": "none"})),
            _ => sleep(Duration::from_millis(100)).await,
        }
    }
    let sas = request.start_sas().await?.context("SAS could not start")?;
    run_sas(client, &sas, user, deadline).await
}

/// Whether the SDK sees `user`'s identity verified.
pub async fn identity(client: &Client, user: &UserId) -> Result<()> {
    let identity = client
        .encryption()
        .request_user_identity(user)
        .await?
        .context("the user has no cross-signing identity")?;
    say(json!({
        "verified": identity.is_verified(),
        "master_key": identity.master_key().get_first_key().map(|key| key.to_base64()),
    }))
}

/// Syncs in the background from now on, once a first sync is done; stops when dropped.
async fn keep_syncing(client: &Client) -> Result<AbortOnDrop> {
    client.sync_once(SyncSettings::default()).await?;
    say(json!({"listening": true}))?;
    let client = client.clone();
    Ok(AbortOnDrop(tokio::spawn(async move {
        let settings = SyncSettings::default().timeout(Duration::from_millis(500));
        let _ = client.sync(settings).await;
    })))
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The SAS the request turned into: the other side's start (accepted), or, after `patience`
/// without one, one started here.
async fn wait_for_sas(
    request: &VerificationRequest,
    deadline: Instant,
    patience: Duration,
) -> Result<Option<SasVerification>> {
    let ready_at = Instant::now();
    loop {
        match request.state() {
            VerificationRequestState::Transitioned {
                verification: Verification::SasV1(sas),
                ..
            } => {
                sas.accept().await?;
                return Ok(Some(sas));
            }
            VerificationRequestState::Cancelled(_) | VerificationRequestState::Done => {
                return Ok(None);
            }
            VerificationRequestState::Ready { .. } if ready_at.elapsed() > patience => {
                return Ok(request.start_sas().await?);
            }
            _ if Instant::now() > deadline => bail!("no SAS began in time"),
            _ => sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The emoji shown, the test's answer taken, the outcome said.
async fn run_sas(
    client: &Client,
    sas: &SasVerification,
    user: &UserId,
    deadline: Instant,
) -> Result<()> {
    loop {
        match sas.state() {
            SasState::KeysExchanged { .. } => break,
            SasState::Cancelled(info) => return cancelled(&info),
            _ if Instant::now() > deadline => bail!("the keys were not exchanged in time"),
            _ => sleep(Duration::from_millis(100)).await,
        }
    }
    let emoji: Vec<_> = sas
        .emoji()
        .context("no emoji")?
        .iter()
        .map(|emoji| json!({"symbol": emoji.symbol, "description": emoji.description}))
        .collect();
    let (a, b, c) = sas.decimals().context("no decimals")?;
    say(json!({"emoji": emoji, "decimals": [a, b, c]}))?;
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let answer = loop {
        tokio::select! {
            line = lines.next_line() => break line?.unwrap_or_default(),
            () = sleep(Duration::from_millis(100)) => {
                if let SasState::Cancelled(info) = sas.state() {
                    return cancelled(&info);
                }
            }
        }
    };
    match answer.trim() {
        "confirm" => sas.confirm().await?,
        "mismatch" => sas.mismatch().await?,
        "cancel" => sas.cancel().await?,
        other => bail!("unknown answer {other:?}"),
    }
    loop {
        match sas.state() {
            SasState::Done { .. } => {
                // The signature the SDK made is uploaded by its sync loop, then known.
                let until = Instant::now() + Duration::from_secs(10);
                let mut verified = false;
                while !verified && Instant::now() < until {
                    verified = client
                        .encryption()
                        .get_user_identity(user)
                        .await?
                        .is_some_and(|identity| identity.is_verified());
                    sleep(Duration::from_millis(200)).await;
                }
                return say(json!({"outcome": "done", "verified": verified}));
            }
            SasState::Cancelled(info) => return cancelled(&info),
            _ if Instant::now() > deadline => bail!("the verification did not end in time"),
            _ => sleep(Duration::from_millis(100)).await,
        }
    }
}

fn outcome_of_request(request: &VerificationRequest) -> Result<()> {
    match request.state() {
        VerificationRequestState::Cancelled(info) => cancelled(&info),
        _ => say(json!({"outcome": "none"})),
    }
}

fn cancelled(info: &matrix_sdk::encryption::verification::CancelInfo) -> Result<()> {
    say(json!({
        "outcome": "cancelled",
        "code": info.cancel_code().as_str(),
        "by_me": info.cancelled_by_us(),
    }))
}

fn say(line: serde_json::Value) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}
