//! Emoji verification (SAS, the spec's `m.sas.v1`) between this user and another person, by
//! the crypto crate's verification machine, driven sans-IO over this crate's transport
//! ([`verify_io`](super::verify_io)).
//!
//! One [`Verifying`] is one verification, started one of three ways: this user asks a person
//! in their direct room ([`Crypto::verify_user`], as the spec says users verify each other), a
//! person's request is waited for ([`Crypto::wait_for_request`]), or a request already heard
//! (a row of `matrix listen`) is answered ([`Crypto::answer_request`]). [`Verifying::step`]
//! moves it on; the caller shows the emoji of [`Progress::Compare`] to a person and calls
//! [`Verifying::confirm`] or [`Verifying::mismatch`] with their answer. Nothing here ever
//! confirms on its own. On success the crate signs the other user's master key with this
//! user's user-signing key, and uploads the signature.

use std::time::{Duration, Instant};

use matrix_sdk_crypto::{
    OlmMachine, Sas, SasState, Verification, VerificationRequest, VerificationRequestState,
};
use ruma::events::key::verification::cancel::CancelCode;
use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};

use super::identities::{can_sign, identity_of};
use super::verify_io::{self, FlowSync};
pub use super::verify_outcome::{
    Cancelled, HeardRequest, Progress, ShortAuth, VerifiedUser, Waiting, reason_of,
};
use super::verify_outcome::{
    cancelled_by_us, cancelled_of, lost, not_a_request, verification_refused,
};
use super::{Crypto, crypto_failed, outgoing};
use crate::client::Client;
use crate::error::{Error, InputError};
use crate::secret::AccessToken;

/// How long a verification waits for the other person, by default: the spec's ten minutes
/// for a request to be accepted.
pub const DEFAULT_VERIFY_TIMEOUT: Duration = Duration::from_secs(600);

/// How long this side waits, after accepting a request, for the other side to start the
/// emoji comparison before starting it itself.
const WAIT_FOR_THEIR_START: Duration = Duration::from_secs(10);

/// One verification in progress: see the module.
pub struct Verifying<'a> {
    crypto: &'a Crypto,
    client: &'a Client,
    token: &'a AccessToken,
    user: OwnedUserId,
    flow: String,
    room: Option<OwnedRoomId>,
    sync: FlowSync,
    deadline: Instant,
    ready_at: Option<Instant>,
}

impl std::fmt::Debug for Verifying<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifying")
            .field("user", &self.user)
            .field("flow", &self.flow)
            .field("room", &self.room)
            .finish_non_exhaustive()
    }
}

impl Crypto {
    /// Asks `user` for an emoji verification in the encrypted direct room with them (`m.direct`
    /// first, then a joined room of the two of them; a new one, with `user` invited, when there
    /// is none). Refused before anything is sent when this device cannot sign other users
    /// (no `bootstrap` or `recover`), or `user` has no cross-signing identity.
    pub fn verify_user<'a>(
        &'a self,
        client: &'a Client,
        token: &'a AccessToken,
        user: &str,
        timeout: Duration,
    ) -> Result<Verifying<'a>, Error> {
        let user = self.other_person(user)?;
        let identity = self.locked(async |machine| {
            can_sign(machine).await?;
            identity_of(machine, client, token, &user).await
        })?;
        let me = self.user_id.clone();
        let room = match verify_io::direct_room(client, token, &me, &user)? {
            Some(room) => room,
            None => verify_io::new_direct_room(client, token, &me, &user)?,
        };
        let room = RoomId::parse(&room).map_err(|_| crypto_failed("not a room ID"))?;
        let content = identity.verification_request_content(None);
        let event_id = verify_io::send_request(self, client, token, &room, content)?;
        self.locked(async |machine| {
            let identity = identity_of(machine, client, token, &user).await?;
            identity.request_verification(&room, &event_id, None);
            Ok(())
        })?;
        Ok(Verifying {
            crypto: self,
            client,
            token,
            user,
            flow: event_id.to_string(),
            room: Some(room.clone()),
            sync: FlowSync::new(Some(room.to_string())),
            deadline: Instant::now() + timeout,
            ready_at: None,
        })
    }

    /// Waits up to `timeout` for a request from `user` (in a room, or to-device), syncing;
    /// `interrupted` is asked between syncs. A request that came shortly before, and is still
    /// open, is taken too. `Ok(None)`: none came.
    pub fn wait_for_request<'a>(
        &'a self,
        client: &'a Client,
        token: &'a AccessToken,
        user: &str,
        timeout: Duration,
        interrupted: &mut dyn FnMut() -> bool,
    ) -> Result<Option<Verifying<'a>>, Error> {
        let user = self.other_person(user)?;
        self.locked(async |machine| {
            can_sign(machine).await?;
            identity_of(machine, client, token, &user).await.map(drop)
        })?;
        let deadline = Instant::now() + timeout;
        let mut sync = FlowSync::new(None);
        while Instant::now() < deadline && !interrupted() {
            let wait = deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_secs(1));
            sync.step(self, client, token, wait)?;
            let open = self.locked(async |machine| Ok(open_request(machine, &user)))?;
            if let Some(request) = open {
                let room = request.room_id().map(ToOwned::to_owned);
                let flow = request.flow_id().as_str().to_owned();
                let mut verifying = Verifying {
                    crypto: self,
                    client,
                    token,
                    user,
                    flow,
                    sync: FlowSync::new(room.as_ref().map(ToString::to_string)),
                    room,
                    deadline,
                    ready_at: None,
                };
                verifying.accept(request)?;
                return Ok(Some(verifying));
            }
        }
        Ok(None)
    }

    /// Answers a request heard elsewhere (see [`HeardRequest`]): accepted, and its
    /// verification returned. Refused when it is no longer open (answered, cancelled, or older
    /// than the spec's ten minutes).
    pub fn answer_request<'a>(
        &'a self,
        client: &'a Client,
        token: &'a AccessToken,
        heard: &HeardRequest,
        timeout: Duration,
    ) -> Result<Verifying<'a>, Error> {
        let user = self.other_person(&heard.sender)?;
        let flow = heard
            .flow_id()
            .ok_or_else(|| not_a_request("it has no event ID or transaction ID"))?
            .to_owned();
        let room = match &heard.room_id {
            Some(room) => Some(
                RoomId::parse(room).map_err(|_| not_a_request("its room_id is not a room ID"))?,
            ),
            None => None,
        };
        // A request this process did not hear, in a room, may have been answered since: the
        // room's events that refer to it say (ready, start, cancel, done).
        let answered = match &room {
            Some(room) => verify_io::has_answers(client, token, room, &flow)?,
            None => false,
        };
        let request = self.locked(async |machine| {
            can_sign(machine).await?;
            identity_of(machine, client, token, &user).await?;
            if machine.get_verification_request(&user, &flow).is_none() && !answered {
                hear_again(machine, client, token, heard, room.as_deref()).await?;
            }
            Ok(machine.get_verification_request(&user, &flow))
        })?;
        let request = request.filter(is_open).ok_or_else(|| {
            verification_refused(
                format!("the request of {user} is no longer open"),
                "it was answered, cancelled, or is older than ten minutes: ask them to \
                     start it again, or run `matrix e2ee verify --from` and let them",
            )
        })?;
        let mut verifying = Verifying {
            crypto: self,
            client,
            token,
            user,
            flow,
            sync: FlowSync::new(room.as_ref().map(ToString::to_string)),
            room,
            deadline: Instant::now() + timeout,
            ready_at: None,
        };
        verifying.accept(request)?;
        Ok(verifying)
    }

    /// `user` parsed, and not this user (their own devices are verified by `recover`).
    fn other_person(&self, user: &str) -> Result<OwnedUserId, Error> {
        let user = UserId::parse(user).map_err(|_| {
            InputError::new(format!("'{user}' is not a user ID"), "use @name:server")
        })?;
        if user == self.user_id {
            return Err(verification_refused(
                format!("{user} is this session's own user"),
                "a new device of the bot gets its trust from `matrix e2ee recover` with the \
                 recovery key",
            ));
        }
        Ok(user)
    }
}

impl Verifying<'_> {
    /// The person verified.
    pub fn user(&self) -> &str {
        self.user.as_str()
    }

    /// The room of an in-room verification; `None`: to-device.
    pub fn room(&self) -> Option<&str> {
        self.room.as_ref().map(|room| room.as_str())
    }

    /// One step: a sync held up to `wait` for the other side's events, what they need answered
    /// (a start accepted, a SAS started when the other side waits), and where it stands.
    /// Past the timeout it is cancelled with `m.timeout`.
    pub fn step(&mut self, wait: Duration) -> Result<Progress, Error> {
        if Instant::now() >= self.deadline {
            return self.cancel_with(CancelCode::Timeout);
        }
        self.sync.step(self.crypto, self.client, self.token, wait)?;
        let (progress, to_send) = self.crypto.locked(async |machine| {
            let Some(request) = machine.get_verification_request(&self.user, &self.flow) else {
                return Ok((Progress::Cancelled(lost()), Vec::new()));
            };
            let mut to_send = Vec::new();
            let progress = match request.state() {
                VerificationRequestState::Created { .. }
                | VerificationRequestState::Requested { .. } => Progress::Waiting(Waiting::Accept),
                VerificationRequestState::Ready { .. } => {
                    let ready_at = *self.ready_at.get_or_insert_with(Instant::now);
                    let our_turn =
                        request.we_started() || ready_at.elapsed() >= WAIT_FOR_THEIR_START;
                    if our_turn
                        && let Some((_, start)) =
                            request.start_sas().await.map_err(crypto_failed)?
                    {
                        to_send.push(start);
                    }
                    Progress::Waiting(Waiting::Keys)
                }
                VerificationRequestState::Transitioned {
                    verification: Verification::SasV1(sas),
                    ..
                } => {
                    if !sas.we_started()
                        && !sas.has_been_accepted()
                        && let Some(accept) = sas.accept()
                    {
                        to_send.push(accept);
                    }
                    progress_of(machine, &sas).await?
                }
                // Another method (QR, in a build with it).
                VerificationRequestState::Transitioned { .. } => Progress::Waiting(Waiting::Keys),
                VerificationRequestState::Done => self.done(machine).await?,
                VerificationRequestState::Cancelled(info) => {
                    Progress::Cancelled(cancelled_of(&info))
                }
            };
            // What the other side's events queued: a signature of their identity once done.
            outgoing::send_outgoing(machine, self.client, self.token).await?;
            if let Progress::Done(_) = progress {
                // Their keys asked for again: the device learns of its own signature on them
                // only from the server, and judges their events by it.
                identity_of(machine, self.client, self.token, &self.user).await?;
            }
            to_send.extend(verify_io::queued_room_messages(machine).await?);
            Ok((progress, to_send))
        })?;
        verify_io::send_all(self.crypto, self.client, self.token, to_send)?;
        Ok(progress)
    }

    /// The person says the emoji match: this side's MAC sent; done when the other side's has
    /// come (then the other user's master key is signed and the signature uploaded).
    pub fn confirm(&mut self) -> Result<(), Error> {
        let (to_send, signature) = self.crypto.locked(async |machine| {
            let sas = self.sas(machine)?;
            sas.confirm().await.map_err(crypto_failed)
        })?;
        verify_io::send_all(self.crypto, self.client, self.token, to_send)?;
        if let Some(signature) = signature {
            self.crypto.locked(async |machine| {
                let request =
                    matrix_sdk_crypto::types::requests::AnyOutgoingRequest::SignatureUpload(
                        signature,
                    );
                outgoing::send_one(
                    machine,
                    self.client,
                    self.token,
                    &ruma::TransactionId::new(),
                    &request,
                )
                .await
            })?;
        }
        Ok(())
    }

    /// The person says the emoji differ: cancelled with `m.mismatched_sas`, nothing signed.
    pub fn mismatch(&mut self) -> Result<Cancelled, Error> {
        match self.cancel_with(CancelCode::MismatchedSas)? {
            Progress::Cancelled(cancelled) => Ok(cancelled),
            _ => Ok(cancelled_by_us(CancelCode::MismatchedSas)),
        }
    }

    /// The person stops it (Ctrl-C): cancelled with `m.user`.
    pub fn cancel(&mut self) -> Result<Cancelled, Error> {
        match self.cancel_with(CancelCode::User)? {
            Progress::Cancelled(cancelled) => Ok(cancelled),
            _ => Ok(cancelled_by_us(CancelCode::User)),
        }
    }

    fn cancel_with(&mut self, code: CancelCode) -> Result<Progress, Error> {
        let other_device = self.crypto.locked(async |machine| {
            let request = machine.get_verification_request(&self.user, &self.flow);
            let device = request
                .as_ref()
                .and_then(VerificationRequest::other_device_id);
            match request.as_ref().and_then(|request| match request.state() {
                VerificationRequestState::Transitioned {
                    verification: Verification::SasV1(sas),
                    ..
                } => Some(sas),
                _ => None,
            }) {
                // The crate's own cancel of a SAS (any code), sent as it gives it.
                Some(sas) => Ok((device, sas.cancel_with_code(code.clone()))),
                None => {
                    // A request's cancel: made here, the crate's takes only `m.user`.
                    if let Some(request) = &request {
                        let _ = request.cancel();
                    }
                    Ok((device, None))
                }
            }
        })?;
        let (device, crate_cancel) = other_device;
        match crate_cancel {
            Some(cancel) => {
                verify_io::send_all(self.crypto, self.client, self.token, vec![cancel])?
            }
            None => verify_io::send_cancel(
                self.crypto,
                self.client,
                self.token,
                (
                    &self.user,
                    device.as_ref().map(|d| d.as_str()),
                    self.room.as_deref(),
                ),
                &self.flow,
                (code.as_str(), reason_of(&code)),
            )?,
        }
        Ok(Progress::Cancelled(cancelled_by_us(code)))
    }

    /// An incoming request accepted (its `ready` sent).
    fn accept(&mut self, request: VerificationRequest) -> Result<(), Error> {
        let ready: Vec<_> = request.accept().into_iter().collect();
        verify_io::send_all(self.crypto, self.client, self.token, ready)
    }

    fn sas(&self, machine: &OlmMachine) -> Result<Sas, Error> {
        match machine.get_verification(&self.user, &self.flow) {
            Some(Verification::SasV1(sas)) => Ok(*sas),
            _ => Err(verification_refused(
                "there are no emoji to confirm yet".to_owned(),
                "wait for the emoji",
            )),
        }
    }

    async fn done(&self, machine: &OlmMachine) -> Result<Progress, Error> {
        done(machine, &self.user).await
    }
}

/// Where a SAS stands, as [`Progress`].
async fn progress_of(machine: &OlmMachine, sas: &Sas) -> Result<Progress, Error> {
    Ok(match sas.state() {
        SasState::Created { .. } | SasState::Started { .. } | SasState::Accepted { .. } => {
            Progress::Waiting(Waiting::Keys)
        }
        SasState::KeysExchanged { .. } => match (sas.emoji(), sas.decimals()) {
            (Some(emoji), Some((a, b, c))) => Progress::Compare(ShortAuth {
                emoji: emoji
                    .iter()
                    .map(|emoji| (emoji.symbol.to_owned(), emoji.description.to_owned()))
                    .collect(),
                decimals: [a, b, c],
            }),
            _ => Progress::Waiting(Waiting::Keys),
        },
        SasState::Confirmed => Progress::Waiting(Waiting::TheirConfirmation),
        SasState::Done { .. } => done(machine, sas.other_user_id()).await?,
        SasState::Cancelled(info) => Progress::Cancelled(cancelled_of(&info)),
    })
}

/// `user` verified: their master key as the device knows it.
async fn done(machine: &OlmMachine, user: &UserId) -> Result<Progress, Error> {
    let identity = machine
        .get_identity(user, None)
        .await
        .map_err(crypto_failed)?;
    let master_key = identity
        .and_then(|identity| identity.other())
        .and_then(|other| {
            other
                .master_key()
                .get_first_key()
                .map(|key| key.to_base64())
        })
        .unwrap_or_default();
    Ok(Progress::Done(VerifiedUser {
        user_id: user.to_string(),
        master_key,
    }))
}

/// The open request of `user` to this device (not ours, not answered or cancelled or timed
/// out), the newest.
fn open_request(machine: &OlmMachine, user: &UserId) -> Option<VerificationRequest> {
    machine
        .get_verification_requests(user)
        .into_iter()
        .filter(|request| !request.we_started() && is_open(request))
        .last()
}

fn is_open(request: &VerificationRequest) -> bool {
    matches!(request.state(), VerificationRequestState::Requested { .. }) && !request.timed_out()
}

/// A heard request given to the machine again (this process did not hear it): the sender's
/// device keys asked for first, as the crate needs them to take it.
async fn hear_again(
    machine: &OlmMachine,
    client: &Client,
    token: &AccessToken,
    heard: &HeardRequest,
    room: Option<&RoomId>,
) -> Result<(), Error> {
    match room {
        Some(room) => verify_io::hand_over(machine, room, &heard.event).await,
        None => {
            let changes = crate::listen::CryptoChanges {
                to_device: vec![heard.event.clone()],
                next_batch: String::new(),
                ..Default::default()
            };
            super::receive_to_device(machine, client, token, &changes)
                .await
                .map(drop)
        }
    }
}
