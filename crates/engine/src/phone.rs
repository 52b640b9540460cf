//! The phone: SIP user agent + media sessions + the call table, driven sans-IO.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use api::{
    AgentState, AgentStatus, CallDirection, CallId, CallState, CallView, Command, Event,
    Interaction, InteractionCommand, InteractionId, InteractionState, SipStats, StatusView,
};
use bytes::Bytes;
use media::{
    Codec, Direction, DtmfDigit, LocalMedia, MediaEvent, MediaSession, Negotiated, SessionParams,
    Tone, answer_offer, build_offer, read_answer,
};
use sip::{Dest, EndReason, Invitation, LegId, UserAgent};
use tracing::{debug, info, warn};

use crate::call::Call;
use crate::config::{
    AccountSettings, AudioFactory, CallbackSettings, DtmfMode, MediaSettings, PhoneConfig,
};
use crate::error::EngineError;
use crate::interactions::Desk;
use crate::mixer::{Mixer, drain_media};
use crate::registrations::Registrations;
use crate::timers::{TimerId, Timers};
use crate::tones::{PROGRESS_TONE, TEST_TONE, Tones};

/// The media clock's period.
const FRAME: Duration = Duration::from_millis(20);
/// Spare RTP ports the phone asks its driver to keep bound (a burst of INVITEs between two
/// top-ups must not find none).
const SPARE_PORTS: usize = 16;

/// Which local socket a datagram leaves from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    /// The SIP socket of this transport.
    Sip,
    /// The RTP socket bound at this address.
    Media(SocketAddr),
}

/// Something the driver hands in.
#[derive(Debug)]
pub enum Input<'a> {
    /// A SIP datagram arrived.
    Sip {
        /// When.
        now: Instant,
        /// From where, over which transport.
        source: Dest,
        /// Its bytes.
        bytes: &'a [u8],
    },
    /// A SIP message arrived, framed from a stream by the driver.
    SipMessage {
        /// When.
        now: Instant,
        /// From where.
        source: Dest,
        /// The message.
        message: Box<sip::Message>,
    },
    /// A datagram arrived on an RTP socket.
    Rtp {
        /// When.
        now: Instant,
        /// The socket it arrived on.
        local: SocketAddr,
        /// From where.
        from: SocketAddr,
        /// Its bytes.
        bytes: &'a [u8],
    },
    /// Time passed.
    Timeout(Instant),
}

/// Something the driver must do.
#[derive(Debug)]
pub enum Output {
    /// Send a SIP message.
    Sip(sip::Transmit),
    /// Send an RTP packet from a media socket.
    Rtp {
        /// The socket to send from.
        local: SocketAddr,
        /// Where to.
        to: SocketAddr,
        /// The packet.
        bytes: Vec<u8>,
    },
    /// Tell the desktop / API / store (boxed: events are rare next to RTP, and large).
    Event(Box<Event>),
    /// Nothing to do until then (or new input).
    Timeout(Instant),
}

/// One softphone: accounts, calls, media.
pub struct Phone {
    pub(crate) ua: UserAgent,
    pub(crate) ua_deadline: Option<Instant>,
    pub(crate) registrations: Registrations,
    pub(crate) calls: BTreeMap<CallId, Call>,
    pub(crate) by_leg: HashMap<LegId, CallId>,
    /// Calls released by an unconfirmed transfer, by their leg: the PBX may still NOTIFY.
    pub(crate) released: HashMap<LegId, CallId>,
    /// Live calls by the local address of their RTP socket.
    pub(crate) by_media: HashMap<SocketAddr, CallId>,
    /// Every deadline the phone has (the user agent keeps its own).
    pub(crate) timers: Timers,
    /// Ended calls, oldest first, for pruning.
    pub(crate) ended: VecDeque<CallId>,
    pub(crate) next_call: u64,
    pub(crate) free_ports: Vec<SocketAddr>,
    pub(crate) ports_known: usize,
    pub(crate) audio: Box<dyn AudioFactory>,
    pub(crate) media: MediaSettings,
    pub(crate) auto_answer: Option<Duration>,
    pub(crate) keep_ended: usize,
    pub(crate) rng: fastrand::Rng,
    pub(crate) out: VecDeque<Output>,
    pub(crate) now: Instant,
    /// The media tick's conference mix.
    pub(crate) mixer: Mixer,
    /// The interactions, the agent's state and the callback settings.
    pub(crate) desk: Desk,
    /// The last conference number handed out.
    pub(crate) next_conference: u64,
    /// The call-progress tones.
    pub(crate) tones: Tones,
}

impl std::fmt::Debug for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Phone")
            .field("calls", &self.calls.len())
            .finish_non_exhaustive()
    }
}

impl Phone {
    /// A phone; nothing is sent until [`Phone::start`].
    #[must_use]
    pub fn new(config: PhoneConfig, now: Instant) -> Self {
        let mut rng = fastrand::Rng::with_seed(config.seed);
        let ua = UserAgent::new(config.ua, rng.u64(..), now);
        Self {
            ua,
            ua_deadline: None,
            registrations: Registrations::new(config.accounts),
            calls: BTreeMap::new(),
            by_leg: HashMap::new(),
            by_media: HashMap::new(),
            released: HashMap::new(),
            timers: Timers::default(),
            ended: VecDeque::new(),
            next_call: 1,
            free_ports: Vec::new(),
            ports_known: 0,
            audio: config.audio,
            media: config.media,
            auto_answer: config.auto_answer,
            keep_ended: config.keep_ended,
            rng,
            out: VecDeque::new(),
            now,
            mixer: Mixer::default(),
            desk: Desk::new(config.callbacks, (now, config.wall_clock)),
            tones: Tones::default(),
            next_conference: 0,
        }
    }

    /// Tells the phone where SIP is received on a transport.
    pub fn set_sip_addr(&mut self, transport: sip::Transport, addr: SocketAddr) {
        self.ua.set_local_addr(transport, addr);
    }

    /// Hands the phone a bound RTP socket's address to use for a future call; its RTCP socket
    /// must be bound on the next port (RFC 3550 §11).
    pub fn add_media_port(&mut self, addr: SocketAddr) {
        self.free_ports.push(addr);
        self.ports_known += 1;
    }

    /// How many more RTP sockets the driver should bind and hand in.
    #[must_use]
    pub fn media_ports_wanted(&self) -> usize {
        SPARE_PORTS.saturating_sub(self.free_ports.len())
    }

    /// Registers the accounts that ask for it.
    pub fn start(&mut self, now: Instant) {
        self.now = now;
        self.registrations.start(&mut self.ua, now, &mut self.out);
        self.pump();
    }

    /// Hangs up every call and un-registers every account.
    pub fn shutdown(&mut self, now: Instant) {
        self.now = now;
        let live: Vec<CallId> = self
            .calls
            .values()
            .filter(|c| c.state != CallState::Ended)
            .map(|c| c.id)
            .collect();
        for call in live {
            let _ = self.hangup(call);
        }
        self.ua.unregister_all(now);
        self.pump();
    }

    /// Whether an un-REGISTER or any REGISTER is still in flight.
    #[must_use]
    pub fn busy_registering(&self) -> bool {
        self.ua.registering()
    }

    /// Feeds an input.
    pub fn handle_input(&mut self, input: Input<'_>) {
        match input {
            Input::Sip { now, source, bytes } => {
                self.now = now;
                self.ua.handle_datagram(now, source, bytes);
            }
            Input::SipMessage {
                now,
                source,
                message,
            } => {
                self.now = now;
                self.ua.handle_message(now, source, *message);
            }
            Input::Rtp {
                now,
                local,
                from,
                bytes,
            } => {
                self.now = now;
                self.on_rtp(local, from, bytes);
            }
            Input::Timeout(now) => {
                self.now = now;
                self.ua.handle_timeout(now);
                while let Some((at, timer)) = self.timers.pop_due_at(now) {
                    self.on_timer(at, timer);
                }
            }
        }
        self.pump();
        self.update_tones();
    }

    /// The next output. Drain until `Output::Timeout` after every input.
    pub fn poll_output(&mut self) -> Output {
        if let Some(output) = self.out.pop_front() {
            return output;
        }
        let deadline = self
            .ua_deadline
            .unwrap_or(self.now + Duration::from_secs(3600));
        Output::Timeout(self.timers.next().map_or(deadline, |at| at.min(deadline)))
    }

    /// A timer of the phone's is due (armed for `at`).
    fn on_timer(&mut self, at: Instant, timer: TimerId) {
        match timer {
            TimerId::MediaTick => self.run_media_clock(at),
            TimerId::AutoAnswer(id) => {
                if let Err(e) = self.answer(id, false) {
                    debug!(call = %id, error = %e, "auto-answer failed");
                }
            }
            TimerId::RingTimeout(id) => self.ring_timeout(id),
            TimerId::Raise(id) => self.desk.raise(id, self.now, &mut self.out),
            TimerId::TransferGiveUp(id) => {
                self.transfer_failed(id, "no outcome from the peer in time");
            }
            TimerId::TransferGrace(id) => self.transfer_grace_over(id),
            TimerId::ReplacedCleanup(id) => {
                if self
                    .calls
                    .get(&id)
                    .is_some_and(|c| c.state != CallState::Ended)
                {
                    let _ = self.hangup(id);
                }
            }
            // `update_tones`, after every input, stops it.
            TimerId::ProgressTone => {}
        }
    }

    /// Carries out a user's command.
    pub fn command(&mut self, now: Instant, command: Command) -> Result<CallView, EngineError> {
        self.now = now;
        let result = match command {
            Command::Dial { to, account } => self.dial(&to, account.as_deref()),
            Command::DialWith { to, headers } => self.dial_with(&to, None, headers),
            Command::Answer { call } => self.answer(call, true),
            Command::Reject { call, status } => self.reject(call, status.unwrap_or(486)),
            Command::Hangup { call } => self.hangup(call),
            Command::Hold { call } => self.hold(call, true),
            Command::Resume { call } => self.hold(call, false),
            Command::Mute { call, muted } => self.mute(call, muted),
            Command::Dtmf { call, digits } => self.dtmf(call, &digits),
            Command::Transfer {
                call,
                target,
                replaces,
            } => self.transfer(call, target, replaces),
            Command::Consult { call, target } => self.consult(call, &target),
            Command::Conference { call, target, with } => self.conference(call, target, with),
        };
        self.pump();
        self.update_tones();
        result
    }

    /// A call, if the phone remembers it.
    #[must_use]
    pub fn call(&self, id: CallId) -> Option<CallView> {
        self.calls.get(&id).map(Call::view)
    }

    /// Every call the phone remembers, oldest first.
    #[must_use]
    pub fn calls(&self) -> Vec<CallView> {
        self.calls.values().map(Call::view).collect()
    }

    /// Calls not yet ended.
    #[must_use]
    pub fn active_calls(&self) -> usize {
        self.calls
            .values()
            .filter(|c| c.state != CallState::Ended)
            .count()
    }

    /// The status view.
    #[must_use]
    pub fn status(&self, listen: Vec<String>) -> StatusView {
        let stats = self.ua.stats();
        StatusView {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            listen,
            active_calls: self.active_calls(),
            agent: self.desk.agent,
            registrations: self.registrations.views(),
            sip: SipStats {
                malformed_dropped: stats.malformed_dropped,
                bad_requests: stats.bad_requests,
                retransmissions: stats.retransmissions,
            },
            audio: {
                let mut audio = self.audio.status();
                let name = |t: Option<Tone>| t.map(|t| format!("{t:?}").to_lowercase());
                let (headset, ring) = self.tones.playing();
                audio.tone = name(headset);
                audio.ring = name(ring);
                audio
            },
        }
    }

    /// The first event of every new listener: everything at once.
    #[must_use]
    pub fn snapshot(&self, listen: Vec<String>) -> Event {
        Event::Snapshot {
            status: self.status(listen),
            calls: self.calls(),
            interactions: self.interactions(),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Commands
    // -----------------------------------------------------------------------------------------

    fn dial(&mut self, to: &str, account: Option<&str>) -> Result<CallView, EngineError> {
        self.dial_with(to, account, Vec::new())
    }

    /// A bare number or user dialled at the first account's domain; a SIP URI as it is.
    pub(crate) fn dial_target(&self, to: &str) -> Result<String, EngineError> {
        let target = to.trim();
        if target.contains(':') {
            return Ok(target.to_owned());
        }
        let domain = self.registrations.first_domain().ok_or_else(|| {
            EngineError::Invalid(format!(
                "{to:?} is not a SIP URI and no account gives a domain to dial it at"
            ))
        })?;
        Ok(format!("sip:{target}@{domain}"))
    }

    /// Places a call with extra INVITE headers (Replaces, Referred-By for a transfer).
    pub(crate) fn dial_with(
        &mut self,
        to: &str,
        account: Option<&str>,
        headers: Vec<(String, String)>,
    ) -> Result<CallView, EngineError> {
        let account_index = match account {
            Some(name) => Some(
                self.registrations
                    .index_of(name)
                    .ok_or_else(|| EngineError::Invalid(format!("no account named {name:?}")))?,
            ),
            None => (!self.registrations.is_empty()).then_some(0),
        };
        let mut target = to.trim().to_owned();
        if !target.contains(':') {
            // A bare number or user: dial it at the account's domain.
            let domain = account_index
                .and_then(|i| self.registrations.settings(i))
                .and_then(|a| a.sip.aor.split('@').nth(1))
                .map(str::to_owned)
                .ok_or_else(|| {
                    EngineError::Invalid(format!(
                        "{to:?} is not a SIP URI and no account gives a domain to dial it at"
                    ))
                })?;
            target = format!("sip:{target}@{domain}");
        }
        let port = self.free_ports.pop().ok_or(EngineError::NoMediaPort)?;
        let codecs = account_index
            .and_then(|i| self.registrations.settings(i))
            .map(|a| a.codecs.clone())
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| self.media.codecs.clone());
        let local = LocalMedia::with_codecs(port, self.rng.u64(1..u64::from(u32::MAX)), codecs);
        let offer = build_offer(&local);
        let invitation = Invitation {
            target: target.clone(),
            account: account_index.and_then(|i| self.registrations.sip_id(i)),
            dest: None,
            sdp: Some(Bytes::from(offer)),
            headers,
        };
        let leg = match self.ua.invite(self.now, invitation) {
            Ok(leg) => leg,
            Err(e) => {
                self.free_ports.push(port);
                return Err(EngineError::Invalid(e.to_string()));
            }
        };
        let id = self.new_call_id();
        let call = Call {
            id,
            leg,
            direction: CallDirection::Outbound,
            state: CallState::Dialing,
            remote: target,
            sip_call_id: self.ua.call_id(leg).unwrap_or_default().to_owned(),
            local: Some(local),
            offer: None,
            media: None,
            audio: None,
            end_reason: None,
            dtmf_received: String::new(),
            pending_dtmf: String::new(),
            muted: false,
            alerting: false,
            interaction: None,
            dtmf: account_index
                .and_then(|i| self.registrations.settings(i))
                .map_or(DtmfMode::Auto, |a| a.dtmf),
            transfer: None,
            conference: None,
            consultation_of: None,
            referred_from: None,
            remote_hold: false,
            captured: Vec::new(),
            decoded: Vec::new(),
        };
        info!(call = %id, remote = %call.remote, "dialing");
        self.by_media.insert(port, id);
        self.insert_call(leg, call);
        self.emit_call(id);
        self.view(id)
    }

    /// Answers a ringing call. When the agent answers (`call_waiting`), the call being talked
    /// on is put on hold first; auto-answer (labs, load tests) and a replacing call do not.
    pub(crate) fn answer(
        &mut self,
        id: CallId,
        call_waiting: bool,
    ) -> Result<CallView, EngineError> {
        let call = self.calls.get_mut(&id).ok_or(EngineError::NoSuchCall(id))?;
        if call.state != CallState::Ringing {
            return Err(EngineError::WrongState {
                call: id,
                state: call.state_name(),
                action: "answer",
            });
        }
        self.timers.clear(TimerId::AutoAnswer(id));
        let leg = call.leg;
        // Call waiting: taking this call puts the one being talked on on hold.
        let talking: Vec<CallId> = self
            .calls
            .values()
            .filter(|c| call_waiting && c.id != id)
            .filter(|c| c.state == CallState::Connected && c.conference.is_none())
            .map(|c| c.id)
            .collect();
        for other in talking {
            if let Err(e) = self.hold(other, true) {
                debug!(call = %other, error = %e, "cannot hold for call waiting");
            }
        }
        let Some(port) = self.free_ports.pop() else {
            let _ = self.ua.reject(self.now, leg, 503);
            return Err(EngineError::NoMediaPort);
        };
        let local = LocalMedia::with_codecs(
            port,
            self.rng.u64(1..u64::from(u32::MAX)),
            self.media.codecs.clone(),
        );
        let offer = self.calls.get_mut(&id).and_then(|c| c.offer.take());
        let answered = offer.map(|offer| {
            answer_offer(&offer, &local).and_then(|(answer, agreed)| {
                self.new_media(id, agreed)
                    .map(|media| (answer, media))
                    .map_err(|_| media::SdpError::NoCommonCodec)
            })
        });
        let call = self.calls.get_mut(&id).ok_or(EngineError::NoSuchCall(id))?;
        let sdp = match answered {
            Some(answered) => match answered {
                Ok((answer, media)) => {
                    call.media = Some(media);
                    answer
                }
                Err(e) => {
                    warn!(call = %id, error = %e, "cannot answer the offer");
                    self.free_ports.push(port);
                    let _ = self.ua.reject(self.now, leg, 488);
                    return Err(EngineError::Invalid(format!("cannot answer: {e}")));
                }
            },
            // Late offer (RFC 3261 §13.2.1): offer in the 200, answer in the ACK.
            None => build_offer(&local),
        };
        call.local = Some(local);
        self.by_media.insert(port, id);
        self.ua
            .answer(self.now, leg, Some(Bytes::from(sdp)))
            .map_err(|e| EngineError::from_sip(id, e))?;
        let call = self.calls.get_mut(&id).ok_or(EngineError::NoSuchCall(id))?;
        call.state = CallState::Connected;
        if call.media.is_some() {
            self.start_media(id);
        }
        info!(call = %id, "answered");
        self.emit_call(id);
        self.interaction_step(id, |i, at| i.accept(at));
        self.view(id)
    }

    fn reject(&mut self, id: CallId, status: u16) -> Result<CallView, EngineError> {
        let call = self.calls.get(&id).ok_or(EngineError::NoSuchCall(id))?;
        if call.state != CallState::Ringing {
            return Err(EngineError::WrongState {
                call: id,
                state: call.state_name(),
                action: "reject",
            });
        }
        if !(400..=699).contains(&status) {
            return Err(EngineError::Invalid(format!(
                "reject status must be 400-699, not {status}"
            )));
        }
        self.ua
            .reject(self.now, call.leg, status)
            .map_err(|e| EngineError::from_sip(id, e))?;
        self.interaction_step(id, |i, at| i.reject(at, status));
        self.pump();
        self.view(id)
    }

    fn hangup(&mut self, id: CallId) -> Result<CallView, EngineError> {
        self.end_locally(id, "hung up locally".to_owned())?;
        self.view(id)
    }

    /// Ends a call from our side (BYE, CANCEL or a refusal), for `reason`.
    pub(crate) fn end_locally(&mut self, id: CallId, reason: String) -> Result<(), EngineError> {
        let call = self.calls.get(&id).ok_or(EngineError::NoSuchCall(id))?;
        if call.state == CallState::Ended {
            return Err(EngineError::WrongState {
                call: id,
                state: call.state_name(),
                action: "hang up",
            });
        }
        let leg = call.leg;
        self.ua
            .hangup(self.now, leg)
            .map_err(|e| EngineError::from_sip(id, e))?;
        // A CANCEL waits for its 487, but the user's call is over now.
        self.end_call(id, reason);
        Ok(())
    }

    pub(crate) fn hold(&mut self, id: CallId, hold: bool) -> Result<CallView, EngineError> {
        let call = self.calls.get_mut(&id).ok_or(EngineError::NoSuchCall(id))?;
        let wanted = if hold {
            CallState::Connected
        } else {
            CallState::Held
        };
        if call.state != wanted {
            return Err(EngineError::WrongState {
                call: id,
                state: call.state_name(),
                action: if hold { "hold" } else { "resume" },
            });
        }
        let remote_hold = call.remote_hold;
        let local = call.local.as_mut().ok_or(EngineError::NoSuchCall(id))?;
        local.version += 1;
        // RFC 3264 §8.4: when the peer holds us too, neither side sends: inactive.
        local.direction = match (hold, remote_hold) {
            (true, false) => Direction::SendOnly,
            (true, true) => Direction::Inactive,
            (false, false) => Direction::SendRecv,
            (false, true) => Direction::RecvOnly,
        };
        let offer = build_offer(local);
        let leg = call.leg;
        self.ua
            .reinvite(self.now, leg, Some(Bytes::from(offer)))
            .map_err(|e| EngineError::from_sip(id, e))?;
        self.view(id)
    }

    fn mute(&mut self, id: CallId, muted: bool) -> Result<CallView, EngineError> {
        let call = self.calls.get_mut(&id).ok_or(EngineError::NoSuchCall(id))?;
        if call.state == CallState::Ended {
            return Err(EngineError::WrongState {
                call: id,
                state: call.state_name(),
                action: "mute",
            });
        }
        call.muted = muted;
        if let Some(media) = call.media.as_mut() {
            media.set_muted(muted);
        }
        self.emit_call(id);
        self.view(id)
    }

    fn dtmf(&mut self, id: CallId, digits: &str) -> Result<CallView, EngineError> {
        let parsed =
            DtmfDigit::parse_all(digits).map_err(|e| EngineError::Invalid(e.to_string()))?;
        if parsed.is_empty() {
            return Err(EngineError::Invalid("no digits to send".to_owned()));
        }
        let call = self.calls.get_mut(&id).ok_or(EngineError::NoSuchCall(id))?;
        match call.state {
            CallState::Connected | CallState::Held => {}
            CallState::Dialing => {
                call.pending_dtmf.push_str(digits);
                return self.view(id);
            }
            _ => {
                return Err(EngineError::WrongState {
                    call: id,
                    state: call.state_name(),
                    action: "send DTMF",
                });
            }
        }
        let mode = call.dtmf;
        let in_band = call
            .media
            .as_ref()
            .is_some_and(MediaSession::telephone_event_agreed);
        if mode == DtmfMode::Rfc4733 && !in_band {
            return Err(EngineError::Invalid(
                "the peer did not agree to RFC 4733 telephone-event, and this account sends DTMF only that way (dtmf = \"rfc4733\")".to_owned(),
            ));
        }
        self.interaction_step(id, |i, at| i.dtmf(at, digits));
        let Some(call) = self.calls.get_mut(&id) else {
            return Err(EngineError::NoSuchCall(id));
        };
        let sent_in_band = mode != DtmfMode::Info
            && call
                .media
                .as_mut()
                .is_some_and(|media| media.send_dtmf(&parsed));
        if !sent_in_band {
            // No telephone-event agreed: SIP INFO with application/dtmf-relay.
            let leg = call.leg;
            for digit in parsed {
                self.ua
                    .send_dtmf_info(self.now, leg, digit.as_char())
                    .map_err(|e| EngineError::from_sip(id, e))?;
            }
        }
        self.view(id)
    }

    // -----------------------------------------------------------------------------------------
    // SIP events
    // -----------------------------------------------------------------------------------------

    /// Drains the user agent and reacts to what it says.
    pub(crate) fn pump(&mut self) {
        loop {
            match self.ua.poll_output() {
                sip::Output::Transmit(t) => self.out.push_back(Output::Sip(t)),
                sip::Output::Event(event) => self.on_sip_event(event),
                sip::Output::Timeout(at) => {
                    self.ua_deadline = Some(at);
                    break;
                }
            }
        }
    }

    fn on_sip_event(&mut self, event: sip::Event) {
        match event {
            sip::Event::IncomingCall {
                leg,
                invite,
                source,
                replaces,
            } => self.on_incoming(leg, &invite, source, replaces),
            sip::Event::Progress { leg, status, .. } => {
                if let Some(id) = self.by_leg.get(&leg).copied() {
                    if status == 180
                        && let Some(call) = self.calls.get_mut(&id)
                    {
                        call.alerting = true;
                    }
                    let reason = if status == 180 { "Ringing" } else { "Trying" };
                    self.report_to_referrer(id, status, reason);
                }
            }
            sip::Event::Confirmed { .. } => {}
            sip::Event::ReferAnswered { leg, status } => self.on_refer_answered(leg, status),
            sip::Event::TransferProgress { leg, status, done } => {
                self.on_transfer_progress(leg, status, done);
            }
            sip::Event::ReferReceived {
                leg,
                target,
                replaces,
                referred_by,
            } => self.on_refer_received(leg, target, replaces, referred_by),
            sip::Event::RemoteControl { leg, event } => self.on_remote_control(leg, &event),
            sip::Event::Answered { leg, sdp } => self.on_answered(leg, sdp),
            sip::Event::ReInvite { leg, sdp } => self.on_reinvite(leg, sdp),
            sip::Event::ReInviteDone { leg, result } => self.on_reinvite_done(leg, result),
            sip::Event::DtmfInfo { leg, digit } => {
                if let (Some(id), Ok(digit)) =
                    (self.by_leg.get(&leg).copied(), DtmfDigit::from_char(digit))
                {
                    self.on_digit(id, digit);
                }
            }
            // Other INFO packages carry nothing the phone acts on.
            sip::Event::Info { .. } => {}
            sip::Event::Ended { leg, reason } => {
                if let Some(id) = self.by_leg.remove(&leg) {
                    let transferred =
                        reason == EndReason::RemoteBye && self.transfer_completed_by_peer(id);
                    if !transferred {
                        self.end_call(id, describe_end(&reason));
                    }
                }
            }
            sip::Event::Registered { .. }
            | sip::Event::RegistrationFailed { .. }
            | sip::Event::Unregistered { .. } => {
                self.registrations
                    .on_sip_event(&mut self.ua, self.now, &event, &mut self.out);
            }
        }
    }

    fn on_incoming(
        &mut self,
        leg: LegId,
        invite: &sip::IncomingInvite,
        source: Dest,
        replaces: Option<LegId>,
    ) {
        let offer = invite
            .offer
            .as_ref()
            .map(|b| String::from_utf8_lossy(b).into_owned());
        let id = self.new_call_id();
        let remote = self.ua.remote_uri(leg).map(uri_of).unwrap_or_default();
        info!(call = %id, %source, %remote, "incoming call");
        let (interaction, ready) = self.desk.open(invite, id, &remote, self.now, &mut self.out);
        let requested = invite
            .auto_answer
            .filter(|_| self.desk.callbacks.honour_auto_answer);
        let answer_at = self
            .auto_answer
            .or(requested)
            .filter(|_| ready)
            .map(|delay| self.now + delay);
        let call = Call {
            id,
            leg,
            direction: CallDirection::Inbound,
            state: CallState::Ringing,
            remote,
            sip_call_id: self.ua.call_id(leg).unwrap_or_default().to_owned(),
            local: None,
            offer,
            media: None,
            audio: None,
            end_reason: None,
            dtmf_received: String::new(),
            pending_dtmf: String::new(),
            muted: false,
            alerting: false,
            interaction: Some(interaction),
            // An incoming call is taken as the first account's.
            dtmf: self
                .registrations
                .first()
                .map_or(DtmfMode::Auto, |a| a.dtmf),
            transfer: None,
            conference: None,
            consultation_of: None,
            referred_from: None,
            remote_hold: false,
            captured: Vec::new(),
            decoded: Vec::new(),
        };
        self.insert_call(leg, call);
        if let Some(old) = replaces.and_then(|l| self.by_leg.get(&l).copied()) {
            // RFC 3891: the caller takes the old call's place (an attended transfer completing
            // here): answer at once, end the old call, and keep its interaction going.
            info!(call = %id, replaced = %old, "replacing a call");
            let interaction = self.calls.get_mut(&old).and_then(|c| c.interaction.take());
            if let Some(interaction) = interaction {
                let fresh = self
                    .calls
                    .get_mut(&id)
                    .and_then(|c| c.interaction.replace(interaction));
                if let Some(fresh) = fresh {
                    self.desk.forget(fresh);
                }
            }
            let _ = self.hangup(old);
            if let Err(e) = self.answer(id, false) {
                warn!(call = %id, error = %e, "cannot answer the replacing call");
            }
            return;
        }
        if !ready {
            // Not Ready: refuse with the configured status; the interaction is missed.
            let status = self.desk.callbacks.not_ready_status;
            let _ = self.ua.reject(self.now, leg, status);
            self.end_call(id, format!("agent not ready ({status})"));
            return;
        }
        if let Some(at) = answer_at.filter(|at| *at > self.now) {
            self.timers.set(TimerId::AutoAnswer(id), at);
        }
        if self.desk.callbacks.timeout_status.is_some() {
            let timeout = self
                .desk
                .get(interaction)
                .and_then(|i| i.callback.preview_timeout)
                .or(self.desk.callbacks.preview_timeout);
            if let Some(timeout) = timeout {
                self.timers
                    .set(TimerId::RingTimeout(id), self.now + timeout);
            }
        }
        if answer_at != Some(self.now) {
            let allow = [("Allow-Events".to_owned(), "talk, hold".to_owned())];
            let _ = self.ua.ring(self.now, leg, &allow);
        }
        self.emit_call(id);
        if answer_at == Some(self.now)
            && let Err(e) = self.answer(id, false)
        {
            debug!(call = %id, error = %e, "auto-answer failed");
        }
    }

    fn on_answered(&mut self, leg: LegId, sdp: Option<Bytes>) {
        let Some(id) = self.by_leg.get(&leg).copied() else {
            return;
        };
        let agreed = sdp
            .as_deref()
            .map(|s| read_answer(&String::from_utf8_lossy(s)));
        match agreed {
            Some(Ok(agreed)) => {
                let media = match self.new_media(id, agreed) {
                    Ok(media) => media,
                    Err(e) => {
                        let _ = self.ua.hangup(self.now, leg);
                        self.end_call(id, format!("cannot start the codec: {e}"));
                        return;
                    }
                };
                if let Some(call) = self.calls.get_mut(&id) {
                    call.media = Some(media);
                    call.state = CallState::Connected;
                }
                self.start_media(id);
                info!(call = %id, "connected");
                self.emit_call(id);
                self.interaction_step(id, |i, at| i.connect(at));
                self.report_to_referrer(id, 200, "OK");
            }
            Some(Err(e)) => {
                warn!(call = %id, error = %e, "unusable answer; hanging up");
                let _ = self.ua.hangup(self.now, leg);
                self.end_call(id, format!("media negotiation failed: {e}"));
            }
            None => {
                warn!(call = %id, "answer without SDP; hanging up");
                let _ = self.ua.hangup(self.now, leg);
                self.end_call(id, "the answer carried no SDP".to_owned());
            }
        }
    }

    fn on_reinvite(&mut self, leg: LegId, sdp: Option<Bytes>) {
        let Some(id) = self.by_leg.get(&leg).copied() else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let we_hold = call.state == CallState::Held;
        let Some(local) = call.local.as_mut() else {
            let _ = self.ua.reject_reinvite(self.now, leg, 488);
            return;
        };
        local.version += 1;
        // Answer with what we want (RFC 3264 §6.1: the answer narrows the offer's direction):
        // whether the peer holds us or not is the offer's to say.
        local.direction = if we_hold {
            Direction::SendOnly
        } else {
            Direction::SendRecv
        };
        let result = match &sdp {
            Some(offer) => answer_offer(&String::from_utf8_lossy(offer), local),
            // An offer-less re-INVITE: we offer in the 200 (answer comes in the ACK).
            None => Ok((
                build_offer(local),
                Negotiated {
                    codec: call.media.as_ref().map_or(Codec::Pcmu, MediaSession::codec),
                    payload_type: 0,
                    remote: call.media.as_ref().and_then(MediaSession::remote),
                    remote_rtcp: None,
                    rtcp_mux: false,
                    dtmf_payload_type: None,
                    dtmf_rate: 8000,
                    direction: local.direction,
                    peer_uses_fec: false,
                    max_bitrate: None,
                },
            )),
        };
        match result {
            Ok((answer, agreed)) => {
                if sdp.is_some() {
                    // The peer's offer decides whether it holds us (we may not send).
                    call.remote_hold = !agreed.direction.sends();
                }
                if sdp.is_some()
                    && let Some(media) = call.media.as_mut()
                    && let Err(e) = media.update(agreed)
                {
                    warn!(call = %id, error = %e, "cannot switch codec");
                }
                let _ = self
                    .ua
                    .accept_reinvite(self.now, leg, Some(Bytes::from(answer)));
            }
            Err(e) => {
                debug!(call = %id, error = %e, "refusing re-INVITE");
                let _ = self.ua.reject_reinvite(self.now, leg, 488);
            }
        }
    }

    fn on_reinvite_done(&mut self, leg: LegId, result: Result<Option<Bytes>, u16>) {
        let Some(id) = self.by_leg.get(&leg).copied() else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        // We asked to hold (sendonly, or inactive when the peer holds us too) or to resume.
        let holding = call
            .local
            .as_ref()
            .is_some_and(|l| matches!(l.direction, Direction::SendOnly | Direction::Inactive));
        let remote_hold = call.remote_hold;
        match result {
            Ok(Some(sdp)) => {
                if let (Ok(agreed), Some(media)) = (
                    read_answer(&String::from_utf8_lossy(&sdp)),
                    call.media.as_mut(),
                ) && let Err(e) = media.update(agreed)
                {
                    warn!(call = %id, error = %e, "cannot switch codec");
                }
                call.state = if holding {
                    CallState::Held
                } else {
                    CallState::Connected
                };
                if holding {
                    self.interaction_step(id, |i, at| i.hold(at));
                } else {
                    self.interaction_step(id, |i, at| i.resume(at));
                }
            }
            Ok(None) => {}
            Err(status) => {
                warn!(call = %id, status, "re-INVITE refused");
                if let Some(local) = call.local.as_mut() {
                    // Back to what is in force.
                    local.direction = match (holding, remote_hold) {
                        (true, false) => Direction::SendRecv,
                        (true, true) => Direction::RecvOnly,
                        (false, false) => Direction::SendOnly,
                        (false, true) => Direction::Inactive,
                    };
                }
            }
        }
        self.emit_call(id);
        self.send_pending_refer(id);
    }

    /// `NOTIFY Event: talk` answers a ringing call or resumes a held one; `hold` holds.
    fn on_remote_control(&mut self, leg: LegId, event: &str) {
        let Some(id) = self.by_leg.get(&leg).copied() else {
            return;
        };
        let state = self.calls.get(&id).map(|c| c.state);
        let result = match (event, state) {
            ("talk", Some(CallState::Ringing)) => self.answer(id, true),
            ("talk", Some(CallState::Held)) => self.hold(id, false),
            ("hold", Some(CallState::Connected)) => self.hold(id, true),
            _ => return,
        };
        info!(call = %id, event, "remote control");
        if let Err(e) = result {
            debug!(call = %id, error = %e, "remote control refused");
        }
    }

    fn on_digit(&mut self, id: CallId, digit: DtmfDigit) {
        if let Some(call) = self.calls.get_mut(&id) {
            call.dtmf_received.push(digit.as_char());
        }
        self.out.push_back(Output::Event(Box::new(Event::Dtmf {
            call: id,
            digit: digit.to_string(),
        })));
    }

    // -----------------------------------------------------------------------------------------
    // Media
    // -----------------------------------------------------------------------------------------

    fn start_media(&mut self, id: CallId) {
        let rate = self
            .calls
            .get(&id)
            .and_then(|c| c.media.as_ref())
            .map_or(8000, |m| m.codec().clock_rate());
        let audio = self.audio.open(id, rate);
        if let Some(call) = self.calls.get_mut(&id) {
            call.audio = Some(audio);
            if let Some(media) = call.media.as_mut() {
                media.set_muted(call.muted);
                if !call.pending_dtmf.is_empty() {
                    let digits = std::mem::take(&mut call.pending_dtmf);
                    if let Ok(parsed) = DtmfDigit::parse_all(&digits) {
                        media.send_dtmf(&parsed);
                    }
                }
            }
        }
        if !self.timers.is_set(TimerId::MediaTick) {
            self.timers.set(TimerId::MediaTick, self.now + FRAME);
        }
    }

    fn on_rtp(&mut self, local: SocketAddr, from: SocketAddr, bytes: &[u8]) {
        let now = self.now;
        // The RTP socket, or the RTCP socket on the port after it.
        let (id, rtcp) = match self.by_media.get(&local) {
            Some(id) => (*id, false),
            None => {
                let rtp = SocketAddr::new(local.ip(), local.port().wrapping_sub(1));
                match self.by_media.get(&rtp) {
                    Some(id) => (*id, true),
                    None => return,
                }
            }
        };
        let Some(media) = self.calls.get_mut(&id).and_then(|c| c.media.as_mut()) else {
            return;
        };
        if rtcp {
            media.handle_rtcp(now, bytes);
        } else {
            media.handle_packet(now, from, bytes);
        }
        let mut digits = Vec::new();
        let mut reported = false;
        while let Some(event) = media.poll_event() {
            match event {
                MediaEvent::Dtmf(digit) => digits.push(digit),
                MediaEvent::Report => reported = true,
            }
        }
        for digit in digits {
            self.on_digit(id, digit);
        }
        if reported {
            self.emit_call(id);
        }
    }

    /// The media clock's tick due at `tick`: every frame due by now (catching up five at
    /// most, then starting afresh from now), while any call has media.
    fn run_media_clock(&mut self, mut tick: Instant) {
        let now = self.now;
        let mut catch_up = 0;
        while tick <= now {
            self.mixer.tick(&mut self.calls, self.now, &mut self.out);
            catch_up += 1;
            tick = if catch_up >= 5 {
                now + FRAME
            } else {
                tick + FRAME
            };
        }
        let any_media = self
            .calls
            .values()
            .any(|c| c.state != CallState::Ended && c.media.is_some());
        if any_media {
            self.timers.set(TimerId::MediaTick, tick);
        }
    }

    /// Refuses calls still ringing when their preview timeout passes (the configured status,
    /// 480); their interactions are missed.
    fn ring_timeout(&mut self, id: CallId) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        if call.state != CallState::Ringing {
            return;
        }
        let status = self.desk.callbacks.timeout_status.unwrap_or(480);
        let _ = self.ua.reject(self.now, call.leg, status);
        self.end_call(id, format!("preview timeout ({status})"));
    }

    // -----------------------------------------------------------------------------------------
    // Book-keeping
    // -----------------------------------------------------------------------------------------

    fn new_call_id(&mut self) -> CallId {
        let id = CallId(self.next_call);
        self.next_call += 1;
        id
    }

    fn insert_call(&mut self, leg: LegId, call: Call) {
        self.by_leg.insert(leg, call.id);
        self.calls.insert(call.id, call);
    }

    pub(crate) fn end_call(&mut self, id: CallId, reason: String) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.state == CallState::Ended {
            return;
        }
        info!(call = %id, %reason, "call ended");
        let was_ringing = call.state == CallState::Ringing;
        let never_answered = matches!(call.state, CallState::Dialing | CallState::Ringing);
        call.conference = None;
        call.state = CallState::Ended;
        call.end_reason = Some(reason);
        self.timers.clear(TimerId::AutoAnswer(id));
        self.by_leg.remove(&call.leg);
        if let (Some(media), Some(local)) = (call.media.as_mut(), call.local.as_ref()) {
            media.bye();
            drain_media(media, local.addr, &mut self.out);
        }
        if let Some(local) = call.local.as_ref() {
            self.by_media.remove(&local.addr);
            self.free_ports.push(local.addr);
        }
        self.ended.push_back(id);
        let why = call.end_reason.clone().unwrap_or_default();
        if let Some(audio) = call.audio.take() {
            self.audio.close(id, audio);
        }
        self.emit_call(id);
        if never_answered {
            let status = failure_status(&why);
            if !was_ringing {
                // Our own call failed: the agent hears why for a few seconds.
                let tone = match status {
                    486 | 600 | 603 => Some(Tone::Busy),
                    487 => None,
                    _ => Some(Tone::Reorder),
                };
                self.tones.play_until(tone, self.now + PROGRESS_TONE);
                self.timers
                    .set(TimerId::ProgressTone, self.now + PROGRESS_TONE);
            }
            self.report_to_referrer(id, status, &why);
        }
        self.interaction_step(id, |i, at| match i.state {
            api::InteractionState::Notified if was_ringing => i.miss(at, &why),
            api::InteractionState::Connected
            | api::InteractionState::Held
            | api::InteractionState::Dialing => i.end(at),
            _ => Ok(()),
        });
        self.prune_ended();
    }

    /// Forgets the oldest ended calls beyond `keep_ended`, and with them their interactions
    /// once those are settled (they stay in the store when there is one).
    fn prune_ended(&mut self) {
        while self.ended.len() > self.keep_ended {
            let Some(id) = self.ended.pop_front() else {
                break;
            };
            let removed = self.calls.remove(&id);
            if let Some(call) = removed.as_ref() {
                self.released.remove(&call.leg);
            }
            if let Some(interaction) = removed.and_then(|c| c.interaction) {
                self.desk.forget_if_settled(interaction);
            }
        }
    }

    /// A call's media stream, with random SSRC, sequence and timestamp (RFC 3550 §5.1).
    fn new_media(
        &mut self,
        id: CallId,
        agreed: Negotiated,
    ) -> Result<MediaSession, media::CodecError> {
        let (epoch, wall) = self.desk.epoch();
        let since_unix = wall - time::OffsetDateTime::UNIX_EPOCH;
        let params = SessionParams {
            ssrc: self.rng.u32(..),
            seq: self.rng.u16(..),
            timestamp: self.rng.u32(..),
            cname: format!("{id}-{:08x}@recall", self.rng.u32(..)),
            opus: self.media.opus,
            jitter_min: self.media.jitter_min,
            jitter_max: self.media.jitter_max,
            wall: Duration::try_from(since_unix).unwrap_or_default(),
            epoch,
        };
        MediaSession::new(agreed, params)
    }

    pub(crate) fn view(&self, id: CallId) -> Result<CallView, EngineError> {
        self.call(id).ok_or(EngineError::NoSuchCall(id))
    }

    pub(crate) fn emit_call(&mut self, id: CallId) {
        if let Some(call) = self.calls.get(&id) {
            self.out
                .push_back(Output::Event(Box::new(Event::Call { call: call.view() })));
        }
    }
}

/// The URI inside a `From`/`To` value: `"Ann" <sip:ann@x>;tag=1` gives `sip:ann@x`.
fn uri_of(address: &str) -> String {
    match (address.find('<'), address.rfind('>')) {
        (Some(open), Some(close)) if open < close => address[open + 1..close].to_owned(),
        _ => address
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned(),
    }
}

fn describe_end(reason: &EndReason) -> String {
    reason.to_string()
}

/// The SIP status an ended call's reason names (`busy (486 Busy Here)`), for reporting it to
/// whoever referred us; 408 for a timeout, 487 when we gave up.
impl Phone {
    /// Applies a step to the interaction of a call, if it has one.
    pub(crate) fn interaction_step(
        &mut self,
        call: CallId,
        step: impl FnOnce(
            &mut Interaction,
            time::OffsetDateTime,
        ) -> Result<(), interaction::InteractionError>,
    ) {
        if let Some(id) = self.calls.get(&call).and_then(|c| c.interaction) {
            self.desk.step(id, self.now, &mut self.out, step);
        }
    }

    /// An interaction, if the phone remembers it.
    #[must_use]
    pub fn interaction(&self, id: InteractionId) -> Option<Interaction> {
        self.desk.get(id).cloned()
    }

    /// Every interaction the phone remembers, oldest first.
    #[must_use]
    pub fn interactions(&self) -> Vec<Interaction> {
        self.desk.all().cloned().collect()
    }

    /// Brings back interactions from the store after a start: ids continue after the highest,
    /// what was live when the process stopped is recovered (missed or ended), and reschedules
    /// not raised before the stop are armed again.
    pub fn restore_interactions(&mut self, now: Instant, stored: Vec<Interaction>) {
        self.now = now;
        for (at, id) in self.desk.restore(now, stored, &mut self.out) {
            self.schedule(at, id);
        }
    }

    /// Arms the local scheduler to raise `id`'s callback again at the wall-clock time `at`.
    fn schedule(&mut self, at: time::OffsetDateTime, id: InteractionId) {
        let wait = self.desk.until(at, self.now);
        self.timers.set(TimerId::Raise(id), self.now + wait);
    }

    /// Replaces the directory's contacts (after a change through the API or at start).
    pub fn set_contacts(&mut self, contacts: Vec<interaction::Contact>) {
        self.desk.set_contacts(contacts);
    }

    /// Changes how callbacks are handled from now on.
    pub fn set_callback_settings(&mut self, callbacks: CallbackSettings) {
        self.desk.callbacks = callbacks;
    }

    /// Sets the agent's state per channel (`None` leaves a channel as it is).
    pub fn set_agent_state(
        &mut self,
        now: Instant,
        voice: Option<AgentState>,
        web_callback: Option<AgentState>,
    ) -> AgentStatus {
        self.now = now;
        self.desk.set_agent(voice, web_callback, &mut self.out)
    }

    /// Carries out the agent's action on an interaction.
    pub fn interaction_command(
        &mut self,
        now: Instant,
        id: InteractionId,
        command: InteractionCommand,
    ) -> Result<Interaction, EngineError> {
        self.now = now;
        let state = self
            .desk
            .get(id)
            .map(|i| i.state)
            .ok_or(EngineError::NoSuchInteraction(id))?;
        let live_call = self
            .calls
            .values()
            .filter(|c| c.interaction == Some(id) && c.state != CallState::Ended)
            .map(|c| (c.id, c.state))
            .next_back();
        let at = self.desk.wall(now);
        let out = &mut self.out;
        match command {
            InteractionCommand::Accept => match live_call {
                Some((call, CallState::Ringing)) => {
                    self.answer(call, true)?;
                }
                _ => self.desk.change(id, out, |i| i.accept(at))?,
            },
            InteractionCommand::Reject { status } => {
                let status = status.unwrap_or(self.desk.callbacks.reject_status);
                match live_call {
                    Some((call, CallState::Ringing)) => {
                        self.reject(call, status)?;
                    }
                    _ => self.desk.change(id, out, |i| i.reject(at, status))?,
                }
            }
            InteractionCommand::Call => self.call_customer(id, state, live_call)?,
            InteractionCommand::Done => {
                let mandatory = self.desk.callbacks.disposition_mandatory;
                self.desk.change(id, out, |i| i.done(at, mandatory))?;
            }
            InteractionCommand::Disposition { code } => {
                let allowed = self.desk.callbacks.dispositions.clone();
                self.desk
                    .change(id, out, |i| i.set_disposition(at, &code, &allowed))?;
            }
            InteractionCommand::Note { text } => {
                self.desk.change(id, out, |i| i.set_note(at, &text))?;
            }
            InteractionCommand::Reschedule { request } => {
                let when = request.at;
                self.desk.change(id, out, |i| i.reschedule(at, request))?;
                self.schedule(when, id);
            }
        }
        self.pump();
        self.update_tones();
        self.interaction(id)
            .ok_or(EngineError::NoSuchInteraction(id))
    }

    /// Call: the customer number, dialled through the dial plan, as a new outbound call that
    /// the interaction follows. A preview leg still up is released first.
    fn call_customer(
        &mut self,
        id: InteractionId,
        state: InteractionState,
        live_call: Option<(CallId, CallState)>,
    ) -> Result<(), EngineError> {
        if !matches!(
            state,
            InteractionState::Previewing | InteractionState::Ended
        ) {
            return Err(interaction::InteractionError::InvalidTransition {
                state,
                action: "call",
            }
            .into());
        }
        let target = self
            .desk
            .customer_uri(id, self.registrations.first_domain())?;
        if let Some((previous, _)) = live_call {
            if let Some(call) = self.calls.get_mut(&previous) {
                call.interaction = None;
            }
            let _ = self.hangup(previous);
        }
        let view = self.dial_with(&target, None, Vec::new())?;
        if let Some(call) = self.calls.get_mut(&view.id) {
            call.interaction = Some(id);
        }
        let at = self.desk.wall(self.now);
        self.desk.change(id, &mut self.out, |i| {
            i.call_id = Some(view.id.to_string());
            i.remote = Some(view.remote.clone());
            i.direction = interaction::Direction::Outbound;
            i.dial(at, &view.remote)
        })
    }
}

impl Phone {
    // Settings changed while the phone runs (the desktop's Settings window).

    /// Puts new settings in force. Media and callback settings apply to calls from now on;
    /// an account whose settings did not change keeps its registration, a changed or new one
    /// registers afresh, and one no longer listed is un-registered — unless a new account
    /// has its address-of-record, whose REGISTER then takes its binding over. Calls in
    /// progress carry on as they were.
    pub fn reconfigure(
        &mut self,
        now: Instant,
        accounts: Vec<AccountSettings>,
        media: MediaSettings,
        callbacks: CallbackSettings,
    ) {
        self.now = now;
        self.media = media;
        self.desk.callbacks = callbacks;
        self.registrations
            .reconfigure(&mut self.ua, now, accounts, &mut self.out);
        self.pump();
    }

    /// REGISTERs once as `account` (not one of the phone's accounts) and reports the outcome
    /// as [`Event::RegistrationTest`]. The binding is then removed again, unless one of the
    /// phone's accounts has the same address-of-record (its own refreshes keep it).
    pub fn test_registration(&mut self, now: Instant, account: AccountSettings) {
        self.now = now;
        self.registrations.test(&mut self.ua, now, account);
        self.pump();
    }

    /// Plays the test tone on the headset for two seconds.
    ///
    /// # Errors
    /// While a call is connected (the tone would be in the agent's ear over the customer).
    pub fn test_tone(&mut self, now: Instant) -> Result<(), EngineError> {
        self.now = now;
        if self.active_calls() > 0 {
            return Err(EngineError::Invalid(
                "the test tone plays only between calls".to_owned(),
            ));
        }
        self.tones.play_until(Some(Tone::Test), now + TEST_TONE);
        self.timers.set(TimerId::ProgressTone, now + TEST_TONE);
        self.update_tones();
        Ok(())
    }
}

impl Phone {
    /// Tells the audio which tones to play when that changed.
    pub(crate) fn update_tones(&mut self) {
        self.tones
            .update(&self.calls, self.now, self.audio.as_mut());
    }

    /// The tones playing now: (headset, ring device).
    #[must_use]
    pub fn tones(&self) -> (Option<Tone>, Option<Tone>) {
        self.tones.playing()
    }
}

fn failure_status(why: &str) -> u16 {
    why.split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u16>().ok())
        .find(|n| (300..700).contains(n))
        .unwrap_or(if why.contains("time") { 408 } else { 487 })
}

#[cfg(test)]
mod tests {
    use super::uri_of;

    #[test]
    fn the_remote_is_the_bare_uri() {
        for (address, uri) in [
            (
                "\"sipp\" <sip:sipp@127.0.0.1:5070>",
                "sip:sipp@127.0.0.1:5070",
            ),
            ("<sip:a@b;transport=tcp>", "sip:a@b;transport=tcp"),
            ("sip:caller@example.net", "sip:caller@example.net"),
        ] {
            assert_eq!(uri_of(address), uri);
        }
    }
}
