//! The other person of the end-to-end encryption tests: matrix-sdk 0.18, the Rust SDK under
//! Element X, with its defaults (history shared on invite, key requests answered for the user's
//! own verified devices). One command per run; its device, store and sync position live in a
//! folder of its own, so that runs go on where the last one stopped.
//!
//! ```text
//! matrix-peer DIR login HOMESERVER USER PASSWORD [insecure-excluded]
//!                                      -> logs in, sets up cross-signing (as Element X does)
//! matrix-peer DIR login-as HOMESERVER USER PASSWORD RECOVERY_KEY
//!                                      -> logs in as a user who has cross-signing already, and
//!                                         recovers it with the recovery key (device signed)
//! matrix-peer DIR create-room [USER]   -> an encrypted room (history shared), USER invited;
//!                                         prints the room ID
//! matrix-peer DIR invite ROOM USER     -> invites USER, sharing the room's history first
//! matrix-peer DIR send ROOM TEXT       -> prints the event ID
//! matrix-peer DIR join ROOM            -> joins, importing the history the inviter shared
//! matrix-peer DIR read ROOM            -> the room's messages, newest first, one JSON line
//!                                         each: {"event_id", "body"} (body null when it
//!                                         could not be decrypted)
//! matrix-peer DIR serve SECONDS        -> syncs for that long: answers key requests, takes keys
//! matrix-peer DIR create-dm USER       -> an encrypted room marked as the DM with USER (who is
//!                                         invited); prints the room ID
//! matrix-peer DIR verify-answer USER SECONDS [unanswered]
//!                                      -> answers USER's next verification request (emoji);
//!                                         `unanswered`: hears it, never answers
//! matrix-peer DIR verify-request USER (room | to-device DEVICE) SECONDS
//!                                      -> asks USER for a verification (emoji)
//! matrix-peer DIR identity USER        -> {"verified", "master_key"}: USER's identity as the
//!                                         SDK sees it
//! matrix-peer DIR reset-identity PASSWORD
//!                                      -> new cross-signing keys (the account's identity changes)
//! ```
//!
//! The verification commands talk with the test over standard input and output: see
//! [`verify`].
//!
//! `insecure-excluded` is Element X's "exclude insecure devices" mode: room keys only for
//! devices their owner cross-signed (others get `m.room_key.withheld`), and messages only from
//! such devices. Nothing here reaches beyond the homeserver it is given (127.0.0.1 in the tests).

// matrix-sdk's sync future, spawned, needs a deeper trait search than the default.
#![recursion_limit = "256"]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use matrix_sdk::authentication::matrix::MatrixSession;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::room::MessagesOptions;
use matrix_sdk::ruma::api::client::room::create_room::v3::{Request as CreateRoom, RoomPreset};
use matrix_sdk::ruma::api::client::uiaa::{
    AuthData, MatrixUserIdentifier, Password, UserIdentifier,
};
use matrix_sdk::ruma::events::InitialStateEvent;
use matrix_sdk::ruma::events::room::encryption::RoomEncryptionEventContent;
use matrix_sdk::ruma::events::room::message::RoomMessageEventContent;
use matrix_sdk::ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use matrix_sdk::{Client, Room};
use matrix_sdk_crypto::{CollectStrategy, DecryptionSettings, TrustRequirement};

mod verify;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(err) = run(&args).await {
        eprintln!("matrix-peer: {err:#}");
        std::process::exit(1);
    }
    // Not waiting for the runtime's end: a read of standard input (a verification's answer)
    // may still be blocked, and the runtime would wait for it.
    std::process::exit(0);
}

async fn run(args: &[String]) -> Result<()> {
    let [dir, command, rest @ ..] = args else {
        bail!("usage: matrix-peer DIR COMMAND ARGS...");
    };
    let dir = PathBuf::from(dir);
    match (command.as_str(), rest) {
        ("login", [homeserver, user, password, mode @ ..]) => {
            let excluded = mode.first().map(String::as_str) == Some("insecure-excluded");
            let client = logged_in(&dir, homeserver, (user, password), excluded).await?;
            set_up_cross_signing(&client, password).await?;
        }
        ("login-as", [homeserver, user, password, recovery_key]) => {
            let client = logged_in(&dir, homeserver, (user, password), false).await?;
            client.encryption().recovery().recover(recovery_key).await?;
            client
                .encryption()
                .wait_for_e2ee_initialization_tasks()
                .await;
            client.sync_once(SyncSettings::default()).await?;
        }
        ("create-room", invitees) => {
            let client = restored(&dir).await?;
            let room = create_encrypted(&client, invitees, false).await?;
            println!("{}", room.room_id());
        }
        ("invite", [room, user]) => {
            let client = restored(&dir).await?;
            let room = joined(&client, room)?;
            room.sync_members().await?;
            room.invite_user_by_id(&user_id(user)?).await?;
        }
        ("send", [room, text]) => {
            let client = restored(&dir).await?;
            let room = joined(&client, room)?;
            room.sync_members().await?;
            let sent = room
                .send(RoomMessageEventContent::text_plain(text.as_str()))
                .await?;
            println!("{}", sent.response.event_id);
        }
        ("join", [room]) => {
            let client = restored(&dir).await?;
            client.join_room_by_id(&RoomId::parse(room)?).await?;
        }
        ("read", [room]) => {
            let client = restored(&dir).await?;
            let room = joined(&client, room)?;
            let page = room.messages(MessagesOptions::backward()).await?;
            for event in page.chunk {
                let event: serde_json::Value = event.raw().deserialize_as()?;
                if event["type"] != "m.room.message" && event["type"] != "m.room.encrypted" {
                    continue;
                }
                let row = serde_json::json!({
                    "event_id": event["event_id"],
                    "body": event["content"]["body"],
                });
                println!("{row}");
            }
        }
        ("serve", [seconds]) => {
            let client = restored(&dir).await?;
            let until = Instant::now() + Duration::from_secs(seconds.parse()?);
            while Instant::now() < until {
                let settings = SyncSettings::default().timeout(Duration::from_millis(500));
                client.sync_once(settings).await?;
            }
        }
        ("create-dm", [user]) => {
            let client = restored(&dir).await?;
            let room = create_encrypted(&client, &[user.clone()], true).await?;
            room.set_is_direct(true).await?;
            println!("{}", room.room_id());
        }
        ("verify-answer", [user, seconds, mode @ ..]) => {
            let client = restored_quietly(&dir).await?;
            let accept = mode.first().map(String::as_str) != Some("unanswered");
            verify::answer(&client, &user_id(user)?, seconds.parse()?, accept).await?;
        }
        ("verify-request", [user, way @ .., seconds]) => {
            let client = restored_quietly(&dir).await?;
            let way = match way {
                [room] if room == "room" => verify::Way::Room,
                [to_device, device] if to_device == "to-device" => {
                    verify::Way::ToDevice(device.clone())
                }
                _ => bail!("the way is `room` or `to-device DEVICE`"),
            };
            verify::request(&client, &user_id(user)?, way, seconds.parse()?).await?;
        }
        ("identity", [user]) => {
            let client = restored(&dir).await?;
            verify::identity(&client, &user_id(user)?).await?;
        }
        ("reset-identity", [password]) => {
            let client = restored(&dir).await?;
            reset_identity(&client, password).await?;
        }
        _ => bail!("unknown command or arguments: {command} {rest:?}"),
    }
    Ok(())
}

/// A new device of `user` in `dir` (its mode kept there), logged in and synced once.
async fn logged_in(
    dir: &Path,
    homeserver: &str,
    (user, password): (&str, &str),
    excluded: bool,
) -> Result<Client> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("mode"), if excluded { "excluded" } else { "all" })?;
    let client = new_client(dir, homeserver).await?;
    client
        .matrix_auth()
        .login_username(user, password)
        .initial_device_display_name("matrix-sdk peer")
        .await?;
    save(&client, dir, homeserver)?;
    client.sync_once(SyncSettings::default()).await?;
    Ok(client)
}

/// A client on the folder's store, in the folder's mode.
async fn new_client(dir: &Path, homeserver: &str) -> Result<Client> {
    let excluded = std::fs::read_to_string(dir.join("mode")).unwrap_or_default() == "excluded";
    let mut builder = Client::builder()
        .homeserver_url(homeserver)
        .sqlite_store(dir.join("store"), None);
    if excluded {
        builder = builder
            .with_room_key_recipient_strategy(CollectStrategy::IdentityBasedStrategy)
            .with_decryption_settings(DecryptionSettings {
                sender_device_trust_requirement: TrustRequirement::CrossSignedOrLegacy,
            });
    }
    Ok(builder.build().await?)
}

/// The client of the folder's session, caught up with one sync.
async fn restored(dir: &Path) -> Result<Client> {
    let client = restored_quietly(dir).await?;
    client.sync_once(SyncSettings::default()).await?;
    Ok(client)
}

/// The client of the folder's session, not synced yet (so that handlers added now see the
/// first sync's events).
async fn restored_quietly(dir: &Path) -> Result<Client> {
    let homeserver = std::fs::read_to_string(dir.join("homeserver"))
        .context("no session in this folder: run login first")?;
    let session: MatrixSession = serde_json::from_slice(&std::fs::read(dir.join("session.json"))?)?;
    let client = new_client(dir, &homeserver).await?;
    client.restore_session(session).await?;
    client
        .encryption()
        .wait_for_e2ee_initialization_tasks()
        .await;
    Ok(client)
}

/// An encrypted room (history shared with members), `invitees` invited; `direct`: as a DM.
async fn create_encrypted(client: &Client, invitees: &[String], direct: bool) -> Result<Room> {
    let mut request = CreateRoom::new();
    request.preset = Some(RoomPreset::PrivateChat);
    request.is_direct = direct;
    request.initial_state = vec![
        InitialStateEvent::with_empty_state_key(
            RoomEncryptionEventContent::with_recommended_defaults(),
        )
        .to_raw_any(),
    ];
    let room = client.create_room(request).await?;
    for user in invitees {
        room.invite_user_by_id(&user_id(user)?).await?;
    }
    Ok(room)
}

/// New cross-signing keys for the account, as Element X's "reset identity" makes them (the
/// password confirms it).
async fn reset_identity(client: &Client, password: &str) -> Result<()> {
    use matrix_sdk::encryption::CrossSigningResetAuthType;
    let Some(handle) = client.encryption().recovery().reset_identity().await? else {
        return Ok(());
    };
    let CrossSigningResetAuthType::Uiaa(uiaa) = handle.auth_type() else {
        bail!("the server asks for an approval this peer cannot give");
    };
    let user = client.user_id().context("not logged in")?.to_string();
    let mut answer = Password::new(
        UserIdentifier::Matrix(MatrixUserIdentifier::new(user)),
        password.to_owned(),
    );
    answer.session = uiaa.session.clone();
    handle.reset(Some(AuthData::Password(answer))).await?;
    Ok(())
}

fn save(client: &Client, dir: &Path, homeserver: &str) -> Result<()> {
    let session = client.matrix_auth().session().context("not logged in")?;
    std::fs::write(dir.join("session.json"), serde_json::to_vec(&session)?)?;
    std::fs::write(dir.join("homeserver"), homeserver)?;
    Ok(())
}

/// Cross-signing, as Element X sets it up at login: without a password first (an account with
/// no master key needs none), with it where the server asks.
async fn set_up_cross_signing(client: &Client, password: &str) -> Result<()> {
    if client
        .encryption()
        .bootstrap_cross_signing(None)
        .await
        .is_ok()
    {
        return Ok(());
    }
    let user = client.user_id().context("not logged in")?.to_string();
    let auth = AuthData::Password(Password::new(
        UserIdentifier::Matrix(MatrixUserIdentifier::new(user)),
        password.to_owned(),
    ));
    client
        .encryption()
        .bootstrap_cross_signing(Some(auth))
        .await?;
    Ok(())
}

fn joined(client: &Client, room: &str) -> Result<Room> {
    let room_id: OwnedRoomId = RoomId::parse(room)?;
    client
        .get_room(&room_id)
        .with_context(|| format!("not in room {room}"))
}

fn user_id(user: &str) -> Result<OwnedUserId> {
    Ok(UserId::parse(user)?)
}
