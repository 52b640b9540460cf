//! The calls: the call table and what the agent and the network do to it — dialling,
//! answering, refusing, hanging up, hold, mute and DTMF (here), the SIP events of a call
//! (call_events.rs), transfers and conferences (transfer.rs) — with each call's media. A state
//! machine of its own: the phone lends it a [`Cx`] with the user agent to act through, the
//! timers, the desk its interactions live on and the queue its outputs go to.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use api::{
    CallId, CallState, CallView, Command, Event, Interaction, InteractionId, InteractionState,
};
use media::{DtmfDigit, LocalMedia, MediaEvent, MediaSession, Negotiated, SessionParams, Tone};
use sip::{EndReason, LegId, UserAgent};
use tracing::{debug, info, warn};

use crate::call::{Call, Phase};
use crate::config::{AudioFactory, MediaSettings};
use crate::error::EngineError;
use crate::interactions::Desk;
use crate::mixer::{Mixer, drain_media};
use crate::phone::Output;
use crate::registrations::Registrations;
use crate::timers::{TimerId, Timers};
use crate::tones::{PROGRESS_TONE, Tones};

/// The media clock's period.
pub(crate) const FRAME: Duration = Duration::from_millis(20);
/// Spare RTP ports the phone asks its driver to keep bound (a burst of INVITEs between two
/// top-ups must not find none).
const SPARE_PORTS: usize = 16;
/// DTLS datagrams kept for a call still dialing (a ClientHello, fragmented at most so).
const EARLY_DTLS: usize = 4;

/// What the calls borrow from the phone while they act: the user agent, the timers, the desk,
/// the accounts, the output queue and the time.
pub(crate) struct Cx<'a> {
    pub(crate) ua: &'a mut UserAgent,
    pub(crate) timers: &'a mut Timers,
    pub(crate) desk: &'a mut Desk,
    pub(crate) registrations: &'a Registrations,
    /// Locates dialled domains (RFC 3263) for calls placed without an account's proxy.
    pub(crate) resolver: &'a mut sip::Resolver,
    pub(crate) out: &'a mut VecDeque<Output>,
    pub(crate) now: Instant,
}

/// The call table and what belongs to the calls alone.
pub(crate) struct Calls {
    pub(crate) calls: BTreeMap<CallId, Call>,
    pub(crate) by_leg: HashMap<LegId, CallId>,
    /// Calls released by an unconfirmed transfer, by their leg: the PBX may still NOTIFY.
    pub(crate) released: HashMap<LegId, CallId>,
    /// Calls waiting for DNS to locate where their INVITE goes, by lookup.
    pub(crate) locating: HashMap<sip::LookupId, (CallId, sip::Invitation)>,
    /// Dialled domains' other targets, in order, for calls still dialing the first (RFC 3263
    /// §4.3: a timeout, transport error or 503 moves the INVITE on to the next).
    pub(crate) fallbacks: HashMap<CallId, (sip::Invitation, Vec<sip::Target>)>,
    /// Live calls by the local address of their RTP socket.
    pub(crate) by_media: HashMap<SocketAddr, CallId>,
    /// Ended calls, oldest first, for pruning.
    ended: VecDeque<CallId>,
    /// Calls not yet ended: what the per-input and per-frame walks go over (the ended ones
    /// kept for the views would otherwise be most of a lab's calls).
    live: BTreeSet<CallId>,
    /// Calls that came in ringing and may still be (those no longer ringing are dropped as
    /// the limit is checked and as the tones are worked out): the count `max_ringing` needs,
    /// and the ringtone's, without walking every call.
    ringing: BTreeSet<CallId>,
    /// Calls we placed that may still be being placed (those no longer are dropped as the
    /// tones are worked out): the calls whose ringback the tones look for.
    dialing: BTreeSet<CallId>,
    next_call: u64,
    pub(crate) free_ports: Vec<SocketAddr>,
    /// Calls whose media socket's address left the host, waiting for a socket on the address
    /// the media moved to ([`Calls::add_media_port`] moves them first).
    pub(crate) moving: VecDeque<CallId>,
    /// The address the media moved to when the one its sockets were bound to left the host
    /// (`None`: it never did); a socket elsewhere is closed and never lent again.
    pub(crate) media_ip: Option<std::net::IpAddr>,
    /// Spare sockets gathering ICE candidates for the next calls.
    pub(crate) ice_pool: HashMap<SocketAddr, media::Gatherer>,
    pub(crate) audio: Box<dyn AudioFactory>,
    pub(crate) media: MediaSettings,
    pub(crate) auto_answer: Option<Duration>,
    keep_ended: usize,
    pub(crate) limits: crate::config::Limits,
    pub(crate) rng: fastrand::Rng,
    /// Where SRTP keys come from.
    pub(crate) secure_random: crate::config::SecureRandom,
    /// The media tick's conference mix.
    mixer: Mixer,
    /// The last conference number handed out.
    pub(crate) next_conference: u64,
    /// The call-progress tones.
    pub(crate) tones: Tones,
    /// New calls per source address in the current second, and addresses refused as floods.
    floods: Floods,
    /// Call recording.
    pub(crate) recording: crate::config::RecordingSettings,
}

/// New calls counted per source IP address over one-second windows (issue 14's flood): an
/// address over [`crate::config::Limits::max_invites_per_source`] is refused for
/// [`crate::config::FLOOD_BLOCK`]. At most [`Floods::TRACKED`] addresses are kept: forgotten
/// first are those whose window has passed, then the oldest.
#[derive(Default)]
struct Floods {
    sources: HashMap<std::net::IpAddr, Source>,
}

struct Source {
    window: Instant,
    count: u32,
    blocked_until: Option<Instant>,
}

/// What [`Floods::note`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FloodVerdict {
    /// Within the rate.
    Fine,
    /// This call made the address a flood: refuse it and end what it has ringing.
    Started,
    /// The address is refused until then.
    Blocked(Instant),
}

impl Floods {
    const TRACKED: usize = 4096;

    fn note(&mut self, ip: std::net::IpAddr, now: Instant, per_second: u32) -> FloodVerdict {
        if per_second == 0 {
            return FloodVerdict::Fine;
        }
        if self.sources.len() >= Self::TRACKED && !self.sources.contains_key(&ip) {
            let second = std::time::Duration::from_secs(1);
            self.sources.retain(|_, s| {
                s.blocked_until.is_some_and(|until| until > now)
                    || now.saturating_duration_since(s.window) < second
            });
            if self.sources.len() >= Self::TRACKED
                && let Some(oldest) = self
                    .sources
                    .iter()
                    .min_by_key(|(_, s)| s.window)
                    .map(|(ip, _)| *ip)
            {
                self.sources.remove(&oldest);
            }
        }
        let source = self.sources.entry(ip).or_insert(Source {
            window: now,
            count: 0,
            blocked_until: None,
        });
        if let Some(until) = source.blocked_until {
            if until > now {
                return FloodVerdict::Blocked(until);
            }
            source.blocked_until = None;
        }
        if now.saturating_duration_since(source.window) >= std::time::Duration::from_secs(1) {
            source.window = now;
            source.count = 0;
        }
        source.count += 1;
        if source.count > per_second {
            let until = now + crate::config::FLOOD_BLOCK;
            source.blocked_until = Some(until);
            return FloodVerdict::Started;
        }
        FloodVerdict::Fine
    }
}

impl Calls {
    pub(crate) fn new(
        audio: Box<dyn AudioFactory>,
        media: MediaSettings,
        auto_answer: Option<Duration>,
        keep_ended: usize,
        limits: crate::config::Limits,
        rng: fastrand::Rng,
        secure_random: crate::config::SecureRandom,
    ) -> Self {
        let mut audio = audio;
        audio.processing(media.voice);
        Self {
            calls: BTreeMap::new(),
            by_leg: HashMap::new(),
            released: HashMap::new(),
            locating: HashMap::new(),
            fallbacks: HashMap::new(),
            by_media: HashMap::new(),
            ended: VecDeque::new(),
            live: BTreeSet::new(),
            ringing: BTreeSet::new(),
            dialing: BTreeSet::new(),
            next_call: 1,
            free_ports: Vec::new(),
            moving: VecDeque::new(),
            media_ip: None,
            ice_pool: HashMap::new(),
            audio,
            media,
            auto_answer,
            keep_ended,
            limits,
            rng,
            secure_random,
            mixer: Mixer::default(),
            next_conference: 0,
            tones: Tones::default(),
            floods: Floods::default(),
            recording: crate::config::RecordingSettings::default(),
        }
    }

    /// The calls, recorded as `recording` says.
    pub(crate) fn recorded(mut self, recording: crate::config::RecordingSettings) -> Self {
        self.recording = recording;
        self
    }

    /// How many more RTP sockets the driver should bind and hand in.
    pub(crate) fn media_ports_wanted(&self) -> usize {
        SPARE_PORTS.saturating_sub(self.free_ports.len()) + self.moving.len()
    }

    /// Calls not yet ended.
    pub(crate) fn active(&self) -> usize {
        self.live.len()
    }

    /// Calls not yet ended, by id.
    pub(crate) fn live_ids(&self) -> Vec<CallId> {
        self.live.iter().copied().collect()
    }

    /// Carries out a user's command.
    pub(crate) fn command(
        &mut self,
        cx: &mut Cx<'_>,
        command: Command,
    ) -> Result<CallView, EngineError> {
        match command {
            Command::Dial { to, account } => self.dial(cx, &to, account.as_deref()),
            Command::DialWith { to, headers } => self.dial_with(cx, &to, None, headers),
            Command::Answer { call } => self.answer(cx, call, true),
            Command::Reject { call, status } => self.reject(cx, call, status.unwrap_or(486)),
            Command::Hangup { call } => self.hangup(cx, call),
            Command::Hold { call } => self.hold(cx, call, true),
            Command::Resume { call } => self.hold(cx, call, false),
            Command::Mute { call, muted } => self.mute(cx, call, muted),
            Command::Record { call, action } => self.record(cx, call, action),
            Command::Dtmf { call, digits } => self.dtmf(cx, call, &digits),
            Command::Transfer {
                call,
                target,
                replaces,
            } => self.transfer(cx, call, target, replaces),
            Command::Consult { call, target } => self.consult(cx, call, &target),
            Command::Conference { call, target, with } => self.conference(cx, call, target, with),
        }
    }

    /// A timer of the calls' is due (armed for `at`); `false` when it is not theirs.
    pub(crate) fn on_timer(&mut self, cx: &mut Cx<'_>, at: Instant, timer: TimerId) -> bool {
        match timer {
            TimerId::MediaTick => self.run_media_clock(cx, at),
            TimerId::AutoAnswer(id) => {
                if let Err(e) = self.answer(cx, id, false) {
                    debug!(call = %id, error = %e, "auto-answer failed");
                }
            }
            TimerId::RingTimeout(id) => self.ring_timeout(cx, id),
            TimerId::NoAnswer(id) => self.no_answer(cx, id),
            TimerId::TransferGiveUp(id) => {
                self.transfer_failed(cx, id, "no outcome from the peer in time");
            }
            TimerId::TransferGrace(id) => self.transfer_grace_over(cx, id),
            TimerId::ReplacedCleanup(id) => {
                if self
                    .calls
                    .get(&id)
                    .is_some_and(|c| c.state() != CallState::Ended)
                {
                    let _ = self.hangup(cx, id);
                }
            }
            // `update_tones`, after every input, stops it.
            TimerId::ProgressTone => {}
            TimerId::Tones => self.update_tones(cx.now),
            TimerId::IcePool => self.ice_pool_timeout(cx),
            TimerId::Raise(_) => return false,
        }
        true
    }

    /// Applies a step to the interaction of a call, if it has one.
    pub(crate) fn interaction_step(
        &mut self,
        cx: &mut Cx<'_>,
        call: CallId,
        step: impl FnOnce(
            &mut Interaction,
            time::OffsetDateTime,
        ) -> Result<(), interaction::InteractionError>,
    ) {
        if let Some(id) = self.calls.get(&call).and_then(|c| c.interaction) {
            cx.desk.step(id, cx.now, cx.out, step);
        }
    }

    /// The live call of an interaction, if any, with its state.
    pub(crate) fn live_call_of(&self, id: InteractionId) -> Option<(CallId, CallState)> {
        self.live
            .iter()
            .filter_map(|c| self.calls.get(c))
            .filter(|c| c.interaction == Some(id))
            .map(|c| (c.id, c.state()))
            .next_back()
    }

    /// Tells the audio which tones to play when that changed. It looks at the calls that
    /// may be ringing or being placed, not at every call (with a lab's load up that walk, once
    /// a frame, was a few per cent of the CPU); at every live call only to know whether one
    /// is connected, when a busy, reorder or test tone would otherwise play.
    pub(crate) fn update_tones(&mut self, now: Instant) {
        let calls = &self.calls;
        let state = |id: &CallId| calls.get(id).map(Call::state);
        self.ringing
            .retain(|id| state(id) == Some(CallState::Ringing));
        self.dialing
            .retain(|id| state(id) == Some(CallState::Dialing));
        let alerting = self
            .dialing
            .iter()
            .filter_map(|id| calls.get(id))
            .any(|c| matches!(c.phase, Phase::Dialing { alerting: true, .. }));
        let live = &self.live;
        let talking = || {
            live.iter()
                .filter_map(|id| calls.get(id))
                .any(|c| c.state() == CallState::Connected)
        };
        self.tones.update(
            !self.ringing.is_empty(),
            alerting,
            talking,
            now,
            self.audio.as_mut(),
        );
    }

    /// The agent's action on an interaction that acts on its call: accept or reject the call
    /// ringing for it, or call its customer.
    pub(crate) fn interaction_command(
        &mut self,
        cx: &mut Cx<'_>,
        id: InteractionId,
        command: api::InteractionCommand,
    ) -> Result<(), EngineError> {
        let state = cx
            .desk
            .get(id)
            .map(|i| i.state)
            .ok_or(EngineError::NoSuchInteraction(id))?;
        let live_call = self.live_call_of(id);
        let at = cx.desk.wall(cx.now);
        match command {
            api::InteractionCommand::Accept => match live_call {
                Some((call, CallState::Ringing)) => {
                    self.answer(cx, call, true)?;
                }
                _ => cx.desk.change(id, cx.out, |i| i.accept(at))?,
            },
            api::InteractionCommand::Reject { status } => {
                let status = status.unwrap_or(cx.desk.callbacks.reject_status);
                match live_call {
                    Some((call, CallState::Ringing)) => {
                        self.reject(cx, call, status)?;
                    }
                    _ => cx.desk.change(id, cx.out, |i| i.reject(at, status))?,
                }
            }
            api::InteractionCommand::Call => self.call_customer(cx, id, state, live_call)?,
            // The desk's own: the phone gives them to it.
            _ => {}
        }
        Ok(())
    }

    /// Call: the customer number, dialled through the dial plan, as a new outbound call that
    /// the interaction follows. A preview leg still up is released first.
    pub(crate) fn call_customer(
        &mut self,
        cx: &mut Cx<'_>,
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
        let target = cx.desk.customer_uri(id, cx.registrations.first_domain())?;
        if let Some((previous, _)) = live_call {
            if let Some(call) = self.calls.get_mut(&previous) {
                call.interaction = None;
            }
            let _ = self.hangup(cx, previous);
        }
        let view = self.dial_with(cx, &target, None, Vec::new())?;
        if let Some(call) = self.calls.get_mut(&view.id) {
            call.interaction = Some(id);
        }
        let at = cx.desk.wall(cx.now);
        cx.desk.change(id, cx.out, |i| {
            i.call_id = Some(view.id.to_string());
            i.remote = Some(view.remote.clone());
            i.direction = interaction::Direction::Outbound;
            i.dial(at, &view.remote)
        })
    }

    // -----------------------------------------------------------------------------------------
    // Media
    // -----------------------------------------------------------------------------------------

    /// Opens the audio of a call just answered and starts its media, sending `pending`
    /// digits (asked for while it was being placed).
    pub(crate) fn start_media(&mut self, cx: &mut Cx<'_>, id: CallId, pending: &str) {
        // A stream keyed by DTLS opens its audio once the keys are there (as baresip's
        // wait_secure does): what the agent says, or a file plays, is not spent on a
        // handshake nobody can hear.
        let awaiting = self
            .calls
            .get(&id)
            .and_then(Call::media)
            .is_some_and(MediaSession::awaiting_keys);
        if !awaiting {
            self.open_audio(id);
        }
        self.send_pending_dtmf(id, pending);
        if !cx.timers.is_set(TimerId::MediaTick) {
            cx.timers.set(TimerId::MediaTick, cx.now + FRAME);
        }
        self.replay_early_dtls(cx, id);
    }

    /// Opens a call's audio, at its codec's rate.
    fn open_audio(&mut self, id: CallId) {
        let rate = self
            .calls
            .get(&id)
            .and_then(Call::media)
            .map_or(8000, |m| m.codec().sample_rate());
        let audio = self.audio.open(id, rate);
        if let Some(call) = self.calls.get_mut(&id) {
            let muted = call.muted;
            match call.live_mut() {
                Some(talk) => {
                    talk.audio = Some(audio);
                    if let Some(media) = talk.media.as_mut() {
                        media.set_muted(muted);
                    }
                }
                None => self.audio.close(id, audio),
            }
        }
    }

    /// Sends digits asked for while the call was being placed, now that it is answered.
    pub(crate) fn send_pending_dtmf(&mut self, id: CallId, pending: &str) {
        if pending.is_empty() {
            return;
        }
        if let (Some(media), Ok(parsed)) = (
            self.calls.get_mut(&id).and_then(Call::media_mut),
            DtmfDigit::parse_all(pending),
        ) {
            media.send_dtmf(&parsed);
        }
    }

    /// A datagram on a media port; `true` when it ended its call (so the tones may change).
    pub(crate) fn on_rtp(
        &mut self,
        cx: &mut Cx<'_>,
        local: SocketAddr,
        from: SocketAddr,
        bytes: &[u8],
    ) -> bool {
        let now = cx.now;
        // The RTP socket, or the RTCP socket on the port after it.
        let (id, rtcp) = match self.by_media.get(&local) {
            Some(id) => (*id, false),
            None => {
                let rtp = SocketAddr::new(local.ip(), local.port().wrapping_sub(1));
                match self.by_media.get(&rtp) {
                    Some(id) => (*id, true),
                    None => {
                        self.on_pool_datagram(cx, local, from, bytes);
                        return false;
                    }
                }
            }
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return false;
        };
        if let (Some(ice), Phase::Dialing { .. }) = (call.ice.as_mut(), &call.phase) {
            // Before the answer: the TURN server's answers (refreshes, permissions); the
            // peer's checks wait for the answer (they are retried).
            ice.handle(now, from, bytes);
            while ice.poll_inbound().is_some() {}
            Self::pump_call_ice(ice, cx.out);
            return false;
        }
        if media::is_dtls(bytes) && matches!(call.phase, Phase::Dialing { .. }) {
            // A DTLS client may start before its 200 reaches us: keep its first flight for
            // the stream the answer makes (else it waits a retransmission, a second or more).
            if call.early_dtls.len() < EARLY_DTLS {
                call.early_dtls.push((from, bytes.to_vec()));
            }
            return false;
        }
        let Some(talk) = call.live_mut() else {
            return false;
        };
        let Some(media) = talk.media.as_mut() else {
            return false;
        };
        if rtcp {
            media.handle_rtcp(now, bytes);
        } else {
            media.handle_packet(now, from, bytes);
            // A DTLS handshake's reply goes at once, not at the next tick.
            drain_media(media, talk.local.addr, cx.out);
        }
        self.media_events(cx, id)
    }

    /// Acts on what a call's media stream noticed: digits, reports (the view changes), DTLS
    /// keying done (the view changes) or failed (the call ends: it can carry nothing).
    /// `true` when the call ended.
    pub(crate) fn media_events(&mut self, cx: &mut Cx<'_>, id: CallId) -> bool {
        let Some(media) = self.calls.get_mut(&id).and_then(Call::media_mut) else {
            return false;
        };
        let mut digits = Vec::new();
        let mut changed = false;
        let mut failed = None;
        let (mut restart, mut reoffer) = (false, false);
        while let Some(event) = media.poll_event() {
            match event {
                // The pair stopped answering: the controlling side restarts ICE (one side, so
                // that the two re-offers do not cross) before consent expires.
                MediaEvent::IceDisconnected => restart = media.ice_controlling(),
                MediaEvent::IceRestarted => reoffer = true,
                MediaEvent::Dtmf(digit) => digits.push(digit),
                MediaEvent::Report | MediaEvent::Secured => changed = true,
                MediaEvent::EncryptionFailed(why) => {
                    failed = Some(format!("media encryption failed: {why}"));
                }
                MediaEvent::IceSelected(_) => changed = true,
                MediaEvent::IceFailed(why) => failed = Some(format!("media lost: ICE {why}")),
            }
        }
        for digit in digits {
            self.on_digit(cx, id, digit);
        }
        if restart {
            info!(call = %id, "ICE pair disconnected; restarting ICE");
            self.restart_call_ice(cx, id);
        }
        if reoffer {
            info!(call = %id, "ICE restarted: re-offering the new candidates");
            if let Err(e) = self.reoffer(cx, id, |_, _| {}) {
                warn!(call = %id, error = %e, "cannot re-offer after the ICE restart");
            }
        }
        if let Some(why) = failed {
            warn!(call = %id, %why, "the media cannot flow; hanging up");
            let _ = self.end_locally(cx, id, why);
            return true;
        }
        if changed {
            let silent = self
                .calls
                .get(&id)
                .and_then(Call::talk)
                .is_some_and(|t| t.audio.is_none() && t.media.is_some());
            let keyed = self
                .calls
                .get(&id)
                .and_then(Call::media)
                .is_some_and(|m| !m.awaiting_keys());
            if silent && keyed {
                self.open_audio(id);
            }
            self.emit_call(cx, id);
        }
        false
    }

    /// Feeds a new stream the DTLS datagrams that reached its port while the call was dialing.
    pub(crate) fn replay_early_dtls(&mut self, cx: &mut Cx<'_>, id: CallId) {
        let now = cx.now;
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let early = std::mem::take(&mut call.early_dtls);
        if early.is_empty() {
            return;
        }
        let Some(talk) = call.live_mut() else {
            return;
        };
        let Some(media) = talk.media.as_mut() else {
            return;
        };
        for (from, bytes) in early {
            media.handle_packet(now, from, &bytes);
        }
        drain_media(media, talk.local.addr, cx.out);
        self.media_events(cx, id);
    }

    /// The media clock's tick due at `tick`: every frame due by now (catching up five at
    /// most, then starting afresh from now), while any call has media.
    pub(crate) fn run_media_clock(&mut self, cx: &mut Cx<'_>, mut tick: Instant) {
        let now = cx.now;
        let mut catch_up = 0;
        while tick <= now {
            self.record_always(cx);
            let mut noticed = Vec::new();
            self.mixer
                .tick(&mut self.calls, &self.live, cx.now, cx.out, &mut noticed);
            for id in noticed {
                self.media_events(cx, id);
            }
            catch_up += 1;
            tick = if catch_up >= 5 {
                now + FRAME
            } else {
                tick + FRAME
            };
        }
        let any_media = self
            .live
            .iter()
            .filter_map(|c| self.calls.get(c))
            .any(|c| c.media().is_some());
        if any_media {
            cx.timers.set(TimerId::MediaTick, tick);
        }
    }

    /// Refuses calls still ringing when their preview timeout passes (the configured status,
    /// 480); their interactions are missed.
    pub(crate) fn ring_timeout(&mut self, cx: &mut Cx<'_>, id: CallId) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        if call.state() != CallState::Ringing {
            return;
        }
        let status = cx.desk.callbacks.timeout_status.unwrap_or(480);
        let _ = cx.ua.reject(cx.now, call.leg, status);
        self.end_call(cx, id, format!("preview timeout ({status})"));
    }

    /// Timer C ran out on a call nobody answered and the caller never cancelled: it ends
    /// 480, its interaction missed.
    pub(crate) fn no_answer(&mut self, cx: &mut Cx<'_>, id: CallId) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        if call.state() != CallState::Ringing {
            return;
        }
        let _ = cx.ua.reject(cx.now, call.leg, 480);
        let after = self.limits.ring_timeout.as_secs();
        self.end_call(cx, id, format!("not answered within {after} s (480)"));
    }

    /// Counts a new call from `ip` against the per-address rate.
    pub(crate) fn note_source(&mut self, ip: std::net::IpAddr, now: Instant) -> FloodVerdict {
        let per_second = self.limits.max_invites_per_source;
        self.floods.note(ip, now, per_second)
    }

    /// Ends every call ringing from `ip` (it turned out to be a flood): 503, their
    /// interactions missed.
    pub(crate) fn end_ringing_from(&mut self, cx: &mut Cx<'_>, ip: std::net::IpAddr) {
        let flooded: Vec<CallId> = self
            .calls
            .values()
            .filter(|c| c.state() == CallState::Ringing && c.source_ip == Some(ip))
            .map(|c| c.id)
            .collect();
        for id in flooded {
            if let Some(call) = self.calls.get(&id) {
                let _ = cx.ua.reject(cx.now, call.leg, 503);
            }
            self.end_call(cx, id, format!("{ip} flooded us with calls (503)"));
        }
    }

    /// Whether one more incoming call is over a limit: why, for the log, when it is.
    pub(crate) fn over_limit(&mut self) -> Option<String> {
        let calls = self.live.len();
        if calls >= self.limits.max_calls {
            return Some(format!("{calls} calls in progress (max_calls)"));
        }
        if calls < self.limits.max_ringing {
            // Fewer calls than may ring: no need to count the ringing ones.
            return None;
        }
        let calls = &self.calls;
        self.ringing.retain(|id| {
            calls
                .get(id)
                .is_some_and(|c| c.state() == CallState::Ringing)
        });
        let ringing = self.ringing.len();
        (ringing >= self.limits.max_ringing)
            .then(|| format!("{ringing} calls ringing (max_ringing)"))
    }

    // -----------------------------------------------------------------------------------------
    // Book-keeping
    // -----------------------------------------------------------------------------------------

    pub(crate) fn new_call_id(&mut self) -> CallId {
        let id = CallId(self.next_call);
        self.next_call += 1;
        id
    }

    pub(crate) fn insert_call(&mut self, leg: LegId, call: Call) {
        self.by_leg.insert(leg, call.id);
        if call.state() != CallState::Ended {
            self.live.insert(call.id);
        }
        match call.state() {
            CallState::Ringing => {
                self.ringing.insert(call.id);
            }
            CallState::Dialing => {
                self.dialing.insert(call.id);
            }
            _ => {}
        }
        self.calls.insert(call.id, call);
    }

    pub(crate) fn end_call(&mut self, cx: &mut Cx<'_>, id: CallId, reason: String) {
        self.finish_recording(cx, id);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.state() == CallState::Ended {
            return;
        }
        info!(call = %id, %reason, "call ended");
        let was_ringing = call.state() == CallState::Ringing;
        let never_answered = matches!(call.state(), CallState::Dialing | CallState::Ringing);
        call.conference = None;
        let why = reason.clone();
        self.live.remove(&id);
        self.ringing.remove(&id);
        self.dialing.remove(&id);
        let (local, talk) = match call.end(reason) {
            Phase::Dialing { local, .. } => (Some(local), None),
            Phase::Connected(talk) | Phase::Held(talk) | Phase::Early { talk, .. } => {
                (None, Some(talk))
            }
            Phase::Ringing { .. } | Phase::Ended { .. } => (None, None),
        };
        cx.timers.clear(TimerId::AutoAnswer(id));
        cx.timers.clear(TimerId::NoAnswer(id));
        cx.timers.clear(TimerId::RingTimeout(id));
        self.by_leg.remove(&call.leg);
        self.fallbacks.remove(&id);
        let local = match talk {
            Some(talk) => {
                let mut talk = *talk;
                if let Some(media) = talk.media.as_mut() {
                    media.bye();
                    media.release_ice();
                    drain_media(media, talk.local.addr, cx.out);
                }
                if let Some(audio) = talk.audio.take() {
                    self.audio.close(id, audio);
                }
                Some(talk.local)
            }
            None => local,
        };
        if let Some(mut ice) = call.ice.take() {
            ice.close();
            Self::pump_call_ice(&mut ice, cx.out);
        }
        if let Some(local) = local {
            self.by_media.remove(&local.addr);
            self.give_back_port(local.addr);
            self.refill_ice_pool(cx);
        }
        self.ended.push_back(id);
        self.emit_call(cx, id);
        if never_answered {
            let status = failure_status(&why);
            if !was_ringing {
                // Our own call failed: the agent hears why for a few seconds.
                let tone = match status {
                    486 | 600 | 603 => Some(Tone::Busy),
                    487 => None,
                    _ => Some(Tone::Reorder),
                };
                self.tones.play_until(tone, cx.now + PROGRESS_TONE);
                cx.timers.set(TimerId::ProgressTone, cx.now + PROGRESS_TONE);
            }
            self.report_to_referrer(cx, id, status, &why);
        }
        self.interaction_step(cx, id, |i, at| match i.state {
            api::InteractionState::Notified if was_ringing => i.miss(at, &why),
            api::InteractionState::Connected
            | api::InteractionState::Held
            | api::InteractionState::Dialing => i.end(at),
            _ => Ok(()),
        });
        self.prune_ended(cx);
    }

    /// Forgets the oldest ended calls beyond `keep_ended`, and with them their interactions
    /// once those are settled (they stay in the store when there is one).
    pub(crate) fn prune_ended(&mut self, cx: &mut Cx<'_>) {
        while self.ended.len() > self.keep_ended {
            let Some(id) = self.ended.pop_front() else {
                break;
            };
            self.live.remove(&id);
            let removed = self.calls.remove(&id);
            if let Some(call) = removed.as_ref() {
                self.released.remove(&call.leg);
            }
            if let Some(interaction) = removed.and_then(|c| c.interaction) {
                cx.desk.forget_if_settled(interaction);
            }
        }
    }

    /// Our side of a call's media under the encryption policy: our DTLS certificate's
    /// fingerprint, and SDES keys (one per suite) when the policy wants SRTP and the keys may
    /// cross this call's signalling (TLS, or the lab switch). With SDES keying, encryption
    /// mandatory and the signalling in the clear no key is offered, so the exchange is refused
    /// rather than keyed where anyone can read it; DTLS keys never cross the signalling.
    pub(crate) fn protect(
        &mut self,
        local: LocalMedia,
        secure_signalling: bool,
        account: Option<&crate::account::Resolved>,
    ) -> LocalMedia {
        let (encryption, keying) = self.policy(account);
        if encryption == media::Encryption::Off {
            return local;
        }
        let local = local.with_dtls(
            keying,
            self.media
                .dtls_identity
                .as_ref()
                .map(|identity| identity.fingerprint().clone()),
        );
        if keying == media::Keying::Dtls && local.fingerprint.is_some() {
            return local.encrypted(encryption, Vec::new());
        }
        if !secure_signalling && !self.media.sdes_over_plain_sip {
            return local.encrypted(encryption, Vec::new());
        }
        let mut filled = true;
        let keys = media::fresh_keys_for(&self.media.srtp_suites, |bytes| {
            filled &= (self.secure_random)(bytes);
        });
        if !filled {
            // No key is better than a predictable one: optional calls go plain, mandatory
            // ones are refused.
            tracing::warn!("the system's random number generator failed; no SRTP keys");
            return local.encrypted(encryption, Vec::new());
        }
        local.encrypted(encryption, keys)
    }

    /// The encryption policy and keying of a call as `account`'s (its own, where it sets
    /// them), else the phone's `[media]` ones.
    pub(crate) fn policy(
        &self,
        account: Option<&crate::account::Resolved>,
    ) -> (media::Encryption, media::Keying) {
        (
            account
                .and_then(|a| a.encryption)
                .unwrap_or(self.media.encryption),
            account.and_then(|a| a.keying).unwrap_or(self.media.keying),
        )
    }

    /// A call's media stream, with random SSRC, sequence and timestamp (RFC 3550 §5.1).
    pub(crate) fn new_media(
        &mut self,
        cx: &mut Cx<'_>,
        id: CallId,
        agreed: Negotiated,
        we_offered: bool,
    ) -> Result<MediaSession, media::CodecError> {
        let (epoch, wall) = cx.desk.epoch();
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
            dtls_identity: self.media.dtls_identity.clone(),
            srtp_suites: self.media.srtp_suites.clone(),
            silence_suppression: self.media.silence_suppression,
        };
        let mut media = MediaSession::new(agreed, params)?;
        if let Some(ice) = self.calls.get_mut(&id).and_then(|c| c.ice.take())
            && let Err(e) = media.attach_ice(cx.now, *ice, we_offered)
        {
            warn!(call = %id, error = %e, "no ICE: the stream latches as without it");
        }
        Ok(media)
    }

    pub(crate) fn view(&self, id: CallId) -> Result<CallView, EngineError> {
        self.calls
            .get(&id)
            .map(Call::view)
            .ok_or(EngineError::NoSuchCall(id))
    }

    pub(crate) fn emit_call(&mut self, cx: &mut Cx<'_>, id: CallId) {
        if let Some(call) = self.calls.get(&id) {
            cx.out
                .push_back(Output::Event(Box::new(Event::Call { call: call.view() })));
        }
    }
}

/// The URI inside a `From`/`To` value: `"Ann" <sip:ann@x>;tag=1` gives `sip:ann@x`.
pub(crate) fn uri_of(address: &str) -> String {
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

pub(crate) fn describe_end(reason: &EndReason) -> String {
    reason.to_string()
}

pub(crate) fn failure_status(why: &str) -> u16 {
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
