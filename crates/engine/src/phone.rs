//! The phone: a thin router over small state machines — the user agent (sip), the accounts
//! (registrations.rs), the calls with their media (calls.rs, call_events.rs, transfer.rs) and
//! the desk of interactions (interactions.rs) — with one timer table, driven sans-IO.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use api::{
    AgentState, AgentStatus, CallId, CallView, Command, Event, Interaction, InteractionCommand,
    InteractionId, SipStats, StatusView,
};
use media::Tone;
use sip::{Dest, UserAgent};

use crate::call::Call;
use crate::calls::{Calls, Cx};
use crate::config::{CallbackSettings, MediaSettings, PhoneConfig};
use crate::error::EngineError;
use crate::interactions::Desk;
use crate::registrations::Registrations;
use crate::request::{Reply, Request};
use crate::timers::{TimerId, Timers};
use crate::tones::TEST_TONE;

/// Up to this many calls up, the tones are worked out after every input (see `update_tones`).
const TONES_EVERY_INPUT: usize = 16;

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
    /// The DNS answer to an [`Output::Resolve`] question.
    Resolved {
        /// When.
        now: Instant,
        /// The question.
        query: sip::Query,
        /// What DNS said.
        answer: sip::Answer,
    },
    /// The transport could not reach a destination (a refused or broken connection).
    TransportError {
        /// When.
        now: Instant,
        /// Where to.
        dest: Dest,
        /// What the transport said (a refused connection, an untrusted certificate).
        detail: String,
    },
    /// The host's network changed (an address came or went): ICE restarts on the calls.
    NetworkChanged {
        /// When.
        now: Instant,
        /// The address the media moves to, when the one its sockets were bound to has left
        /// the host: the calls on it move to sockets on this one, which the driver binds
        /// next ([`Phone::media_ports_wanted`] counts them).
        media_ip: Option<std::net::IpAddr>,
    },
    /// A request from the agent, the control API or the driver; answered by the value
    /// [`Phone::handle_input`] returns.
    Command {
        /// When.
        now: Instant,
        /// What (boxed: requests are rare next to datagrams, and some are large).
        request: Box<Request>,
    },
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
    /// Ask DNS this question; the answer comes back as [`Input::Resolved`].
    Resolve(sip::Query),
    /// Messages to this TLS server must check its certificate so (before the first is sent).
    TlsPeer(crate::TlsPeer),
    /// Open, write or close a call's recording.
    Recording(crate::recording::RecordingOutput),
    /// Nothing to do until then (or new input).
    Timeout(Instant),
}

/// One softphone: accounts, calls, media, interactions.
pub struct Phone {
    ua: UserAgent,
    ua_deadline: Option<Instant>,
    /// Every deadline the phone has (the user agent keeps its own).
    timers: Timers,
    out: VecDeque<Output>,
    now: Instant,
    registrations: Registrations,
    /// The colleagues the Team Communicator watches.
    presence: crate::presence::Presence,
    /// Locates servers by name (RFC 3263): its questions go out as [`Output::Resolve`].
    resolver: sip::Resolver,
    /// Learns the public address of the SIP UDP socket and keeps its NAT mapping alive.
    stun: Option<sip::stun::StunClient>,
    /// STUN keep-alives on the UDP flows to registrars (RFC 5626 §4.4.2).
    flows: Vec<sip::stun::StunClient>,
    udp_keepalive: Option<Duration>,
    /// Keep-alives of flows no longer kept: (sent, answered).
    flow_counts: (u64, u64),
    /// The interactions, the agent's state and the callback settings.
    desk: Desk,
    calls: Calls,
}

impl std::fmt::Debug for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Phone")
            .field("calls", &self.calls.calls.len())
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
            timers: Timers::default(),
            out: VecDeque::new(),
            now,
            registrations: Registrations::new(config.accounts),
            presence: crate::presence::Presence::new(config.presence),
            resolver: sip::Resolver::new(rng.u64(..)),
            flows: Vec::new(),
            udp_keepalive: config.udp_keepalive,
            flow_counts: (0, 0),
            stun: config
                .stun
                .map(|(server, every)| sip::stun::StunClient::new(server, every, rng.u64(..), now)),
            desk: Desk::new(config.callbacks, (now, config.wall_clock)),
            calls: Calls::new(
                config.audio,
                config.media,
                config.auto_answer,
                config.keep_ended,
                config.limits,
                rng,
                config.secure_random,
            )
            .recorded(config.recording),
        }
    }

    /// The calls, and what they borrow from the phone to act.
    fn split(&mut self) -> (&mut Calls, Cx<'_>) {
        (
            &mut self.calls,
            Cx {
                ua: &mut self.ua,
                timers: &mut self.timers,
                desk: &mut self.desk,
                registrations: &self.registrations,
                resolver: &mut self.resolver,
                out: &mut self.out,
                now: self.now,
            },
        )
    }

    /// Tells the phone where SIP is received on a transport.
    fn listen_on(&mut self, transport: sip::Transport, addr: SocketAddr) {
        self.ua.set_local_addr(transport, addr);
    }

    /// Hands the phone a bound RTP socket's address to use for a future call; its RTCP socket
    /// must be bound on the next port (RFC 3550 §11).
    fn lend_media_port(&mut self, now: Instant, addr: SocketAddr) {
        self.now = now;
        let (calls, mut cx) = self.split();
        calls.add_media_port(&mut cx, addr);
    }

    /// The TURN server, when a datagram for `to` is to go down the connection to it (it is
    /// reached over TCP or TLS, [`media::IceServers::over_turn_stream`]): the driver sends
    /// what [`Output::Rtp`] carries down that socket's connection to the server, and hands
    /// back what the server says as [`Input::Rtp`] from `to`.
    #[must_use]
    pub fn turn_over_stream(&self, to: SocketAddr, bytes: &[u8]) -> Option<&media::TurnServer> {
        self.calls.media.ice.as_ref()?.over_turn_stream(to, bytes)
    }

    /// How many more RTP sockets the driver should bind and hand in.
    #[must_use]
    pub fn media_ports_wanted(&self) -> usize {
        self.calls.media_ports_wanted()
    }

    /// Registers the accounts that ask for it.
    fn register_accounts(&mut self, now: Instant) {
        self.now = now;
        self.registrations
            .start(&mut self.ua, &mut self.resolver, now, &mut self.out);
        self.watch_colleagues();
        self.pump();
    }

    /// Subscribes to the colleagues not yet watched, through the first account once it is in
    /// the user agent (one located by DNS gets there later: this runs again when it registers).
    fn watch_colleagues(&mut self) {
        let account = self.registrations.first_id();
        if account.is_some() || !self.registrations.any() {
            self.presence.watch(&mut self.ua, self.now, account);
        }
    }

    /// Hangs up every call and un-registers every account.
    fn hang_up_and_unregister(&mut self, now: Instant) {
        self.now = now;
        for call in self.calls.live_ids() {
            let (calls, mut cx) = self.split();
            let _ = calls.command(&mut cx, Command::Hangup { call });
        }
        self.registrations.unsubscribe_all(&mut self.ua, now);
        self.presence.unwatch(&mut self.ua, now);
        self.ua.unregister_all(now);
        self.pump();
    }

    /// Whether an un-REGISTER or any REGISTER is still in flight.
    #[must_use]
    pub fn busy_registering(&self) -> bool {
        self.ua.registering()
    }

    /// Feeds an input: the network's, time's, or a request. A request is answered (`Some`:
    /// what it came to, or why it was refused); network and timer inputs are only taken.
    pub fn handle_input(&mut self, input: Input<'_>) -> Option<Result<Reply, EngineError>> {
        // Media changes no call's state unless it ended one (its encryption failed): the
        // tones, which look at every call, are left alone for the rest of the RTP.
        let mut tones_unchanged = false;
        match input {
            Input::Command { now, request } => return Some(self.request(now, *request)),
            Input::Sip { now, source, bytes } => {
                self.now = now;
                if sip::stun::is_stun(bytes) {
                    self.on_stun(now, source.addr, bytes);
                } else {
                    self.ua.handle_datagram(now, source, bytes);
                }
                // A REGISTER's answer may have made or ended a flow to keep alive.
                self.keep_flows(now);
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
                let (calls, mut cx) = self.split();
                tones_unchanged = !calls.on_rtp(&mut cx, local, from, bytes);
            }
            Input::Resolved { now, query, answer } => {
                self.now = now;
                self.resolver.handle_answer(now, &query, answer);
            }
            Input::NetworkChanged { now, media_ip } => {
                self.now = now;
                let (calls, mut cx) = self.split();
                calls.network_changed(&mut cx, media_ip);
            }
            Input::TransportError { now, dest, detail } => {
                self.now = now;
                self.ua.handle_transport_error(now, dest, &detail);
            }
            Input::Timeout(now) => {
                self.now = now;
                self.resolver.expire(now);
                self.keep_flows(now);
                for stun in self.stun.iter_mut().chain(self.flows.iter_mut()) {
                    if let Some(bytes) = stun.poll_transmit(now) {
                        let dest = Dest {
                            transport: sip::Transport::Udp,
                            addr: stun.server(),
                        };
                        self.out
                            .push_back(Output::Sip(sip::Transmit { dest, bytes }));
                    }
                }
                self.ua.handle_timeout(now);
                while let Some((at, timer)) = self.timers.pop_due_at(now) {
                    let (calls, mut cx) = self.split();
                    if !calls.on_timer(&mut cx, at, timer)
                        && let TimerId::Raise(id) = timer
                    {
                        self.desk.raise(id, now, &mut self.out);
                    }
                }
            }
        }
        self.pump();
        if !tones_unchanged {
            self.update_tones();
        }
        None
    }

    /// Carries out a request.
    fn request(&mut self, now: Instant, request: Request) -> Result<Reply, EngineError> {
        match request {
            Request::Listen { transport, addr } => self.listen_on(transport, addr),
            Request::MediaPort(addr) => self.lend_media_port(now, addr),
            Request::Start => self.register_accounts(now),
            Request::Shutdown => self.hang_up_and_unregister(now),
            Request::Call(command) => {
                return self
                    .call_command(now, command)
                    .map(|view| Reply::Call(Box::new(view)));
            }
            Request::Interaction { id, command } => {
                return self
                    .interaction_action(now, id, command)
                    .map(|i| Reply::Interaction(Box::new(i)));
            }
            Request::Agent {
                voice,
                web_callback,
            } => return Ok(Reply::Agent(self.agent_state(now, voice, web_callback))),
            Request::Reconfigure {
                accounts,
                media,
                callbacks,
            } => self.apply_settings(now, accounts, *media, callbacks),
            Request::TestRegistration(account) => self.probe_registration(now, account),
            Request::TestTone => self.play_test_tone(now)?,
            Request::SetContacts(contacts) => self.use_contacts(contacts),
            Request::SetCallbackSettings(callbacks) => self.use_callback_settings(callbacks),
            Request::Restore(stored) => self.restore(now, stored),
            Request::RaiseTeamCallback(origin) => {
                let id = self.desk.raise_team(&origin, now, &mut self.out);
                self.pump();
                return self
                    .interaction(id)
                    .map(|raised| Reply::Interaction(Box::new(raised)))
                    .ok_or(EngineError::NoSuchInteraction(id));
            }
            Request::Headset(button) => return self.headset_press(now, button),
        }
        Ok(Reply::Done)
    }

    /// A STUN datagram on the SIP socket: the STUN server's answer, or a registrar's answer
    /// to a flow keep-alive. A public address that differs from the one in use goes into Via
    /// and Contact (and registers again). With a STUN server configured, its answer is the
    /// one that counts: a registrar's only keeps the flow alive (two sources that disagree
    /// would otherwise have the address, and the registration, flap between them).
    fn on_stun(&mut self, now: Instant, source: SocketAddr, bytes: &[u8]) {
        let from_server = self.stun.as_ref().is_some_and(|s| s.server() == source);
        let client = self
            .stun
            .iter_mut()
            .chain(self.flows.iter_mut())
            .find(|c| c.server() == source);
        let Some(public) = client.and_then(|c| c.handle(bytes)) else {
            return;
        };
        if self.stun.is_some() && !from_server {
            return;
        }
        tracing::info!(%public, from = %source, "STUN: the public address of the SIP socket");
        if self.ua.udp_address(public.is_ipv4()) != Some(public) {
            self.ua.set_public_addr(now, public);
        }
    }

    /// The UDP flows to keep alive are those of the registered accounts: a new one is first
    /// asked one interval after its REGISTER (which itself refreshed the mapping).
    fn keep_flows(&mut self, now: Instant) {
        let Some(every) = self.udp_keepalive else {
            return;
        };
        let wanted = self.ua.registered_udp_flows();
        let mut gone = (0, 0);
        self.flows.retain(|f| {
            let keep = wanted.iter().any(|d| d.addr == f.server());
            if !keep {
                let (sent, answered) = f.counts();
                gone = (gone.0 + sent, gone.1 + answered);
            }
            keep
        });
        self.flow_counts = (self.flow_counts.0 + gone.0, self.flow_counts.1 + gone.1);
        for dest in wanted {
            if !self.flows.iter().any(|f| f.server() == dest.addr) {
                let seed = self.calls.rng.u64(..);
                self.flows.push(sip::stun::StunClient::new(
                    dest.addr,
                    every,
                    seed,
                    now + every,
                ));
            }
        }
    }

    /// The next output. Drain until `Output::Timeout` after every input.
    pub fn poll_output(&mut self) -> Output {
        if let Some(output) = self.out.pop_front() {
            return output;
        }
        let deadline = self
            .ua_deadline
            .unwrap_or(self.now + Duration::from_secs(3600));
        let deadline = self
            .stun
            .iter()
            .chain(self.flows.iter())
            .fold(deadline, |deadline, stun| deadline.min(stun.deadline()));
        Output::Timeout(self.timers.next().map_or(deadline, |at| at.min(deadline)))
    }

    /// Drains the user agent (registration events to the accounts, the rest to the calls)
    /// and the resolver (questions out, located servers to whoever asked).
    fn pump(&mut self) {
        loop {
            self.pump_ua();
            let mut more = false;
            while let Some(query) = self.resolver.poll_query() {
                self.out.push_back(Output::Resolve(query));
            }
            while let Some((lookup, result)) = self.resolver.poll_resolved() {
                more = true;
                if self.calls.locating.contains_key(&lookup) {
                    let (calls, mut cx) = self.split();
                    calls.on_located(&mut cx, lookup, result);
                    continue;
                }
                self.registrations.on_located(
                    &mut self.ua,
                    self.now,
                    lookup,
                    result,
                    &mut self.out,
                );
            }
            if !more {
                return;
            }
        }
    }

    fn pump_ua(&mut self) {
        loop {
            match self.ua.poll_output() {
                sip::Output::Transmit(t) => self.out.push_back(Output::Sip(t)),
                sip::Output::Event(event) => {
                    if self.presence.on_sip_event(&event, &mut self.out) {
                        continue;
                    }
                    let registered = matches!(event, sip::Event::Registered { .. });
                    if !self.registrations.on_sip_event(
                        &mut self.ua,
                        self.now,
                        &event,
                        &mut self.out,
                    ) {
                        let (calls, mut cx) = self.split();
                        calls.on_sip_event(&mut cx, event);
                    }
                    if registered {
                        self.watch_colleagues();
                    }
                }
                sip::Output::Timeout(at) => {
                    self.ua_deadline = Some(at);
                    break;
                }
            }
        }
    }

    /// Carries out a user's command.
    fn call_command(&mut self, now: Instant, command: Command) -> Result<CallView, EngineError> {
        self.now = now;
        let (calls, mut cx) = self.split();
        let result = calls.command(&mut cx, command);
        self.pump();
        self.update_tones();
        // As things stand once the user agent has said what came of it.
        result.map(|view| self.call(view.id).unwrap_or(view))
    }

    /// A call, if the phone remembers it.
    #[must_use]
    pub fn call(&self, id: CallId) -> Option<CallView> {
        self.calls.calls.get(&id).map(Call::view)
    }

    /// Every call the phone remembers, oldest first.
    #[must_use]
    pub fn calls(&self) -> Vec<CallView> {
        self.calls.calls.values().map(Call::view).collect()
    }

    /// Calls not yet ended.
    #[must_use]
    pub fn active_calls(&self) -> usize {
        self.calls.active()
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
            presence: self.presence.views(),
            store: None,
            store_pending: 0,
            sip: SipStats {
                malformed_dropped: stats.malformed_dropped,
                bad_requests: stats.bad_requests,
                retransmissions: stats.retransmissions,
                keepalives_sent: self.flow_counts.0
                    + self.flows.iter().map(|f| f.counts().0).sum::<u64>(),
                keepalives_answered: self.flow_counts.1
                    + self.flows.iter().map(|f| f.counts().1).sum::<u64>(),
            },
            audio: {
                let mut audio = self.calls.audio.status();
                let name = |t: Option<Tone>| t.map(|t| format!("{t:?}").to_lowercase());
                let (headset, ring) = self.calls.tones.playing();
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

    // Interactions.

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
    fn restore(&mut self, now: Instant, stored: Vec<Interaction>) {
        self.now = now;
        for (at, id) in self.desk.restore(now, stored, &mut self.out) {
            let wait = self.desk.until(at, now);
            self.timers.set(TimerId::Raise(id), now + wait);
        }
    }

    /// Replaces the directory's contacts (after a change through the API or at start).
    fn use_contacts(&mut self, contacts: Vec<interaction::Contact>) {
        self.desk.set_contacts(contacts);
    }

    /// Changes how callbacks are handled from now on.
    fn use_callback_settings(&mut self, callbacks: CallbackSettings) {
        self.desk.callbacks = callbacks;
    }

    /// Sets the agent's state per channel (`None` leaves a channel as it is).
    fn agent_state(
        &mut self,
        now: Instant,
        voice: Option<AgentState>,
        web_callback: Option<AgentState>,
    ) -> AgentStatus {
        self.now = now;
        self.desk.set_agent(voice, web_callback, &mut self.out)
    }

    /// Carries out the agent's action on an interaction.
    fn interaction_action(
        &mut self,
        now: Instant,
        id: InteractionId,
        command: InteractionCommand,
    ) -> Result<Interaction, EngineError> {
        self.now = now;
        let at = self.desk.wall(now);
        let callbacks = &self.desk.callbacks;
        let (mandatory, allowed) = (
            callbacks.disposition_mandatory,
            callbacks.dispositions.clone(),
        );
        let result = match command {
            // What acts on the interaction's call goes to the calls.
            InteractionCommand::Accept
            | InteractionCommand::Reject { .. }
            | InteractionCommand::Call => {
                let (calls, mut cx) = self.split();
                calls.interaction_command(&mut cx, id, command)
            }
            InteractionCommand::Done => self
                .desk
                .change(id, &mut self.out, |i| i.done(at, mandatory)),
            InteractionCommand::Disposition { code } => self.desk.change(id, &mut self.out, |i| {
                i.set_disposition(at, &code, &allowed)
            }),
            InteractionCommand::Note { text } => self
                .desk
                .change(id, &mut self.out, |i| i.set_note(at, &text)),
            InteractionCommand::Reschedule { request } => {
                let (when, personal) = (request.at, request.personal);
                let changed = self
                    .desk
                    .change(id, &mut self.out, |i| i.reschedule(at, request));
                // Back to the queue (not personal): the server's queue or the team's store
                // raises it, not this agent's timer.
                if changed.is_ok() && personal {
                    let wait = self.desk.until(when, now);
                    self.timers.set(TimerId::Raise(id), now + wait);
                }
                changed
            }
        };
        self.pump();
        self.update_tones();
        result?;
        self.interaction(id)
            .ok_or(EngineError::NoSuchInteraction(id))
    }

    // Settings changed while the phone runs (the desktop's Settings window).

    /// Puts new settings in force. Media and callback settings apply to calls from now on;
    /// an account whose settings did not change keeps its registration, a changed or new one
    /// registers afresh, and one no longer listed is un-registered — unless a new account
    /// has its address-of-record, whose REGISTER then takes its binding over. Calls in
    /// progress carry on as they were.
    fn apply_settings(
        &mut self,
        now: Instant,
        accounts: Vec<api::Account>,
        media: MediaSettings,
        callbacks: CallbackSettings,
    ) {
        self.now = now;
        // The run's DTLS certificate outlives a settings change (one certificate per run); a
        // change that first turns encryption on brings one.
        let identity = self.calls.media.dtls_identity.take();
        let ice_changed = self.calls.media.ice != media.ice;
        if self.calls.media.voice != media.voice {
            self.calls.audio.processing(media.voice);
        }
        self.calls.media = media;
        if identity.is_some() {
            self.calls.media.dtls_identity = identity;
        }
        if ice_changed {
            // Candidates gathered from the old servers are let go; the new ones are asked.
            let (calls, mut cx) = self.split();
            calls.restart_ice_pool(&mut cx);
        }
        self.desk.callbacks = callbacks;
        self.registrations.reconfigure(
            &mut self.ua,
            &mut self.resolver,
            now,
            accounts,
            &mut self.out,
        );
        self.pump();
    }

    /// REGISTERs once as `account` (not one of the phone's accounts) and reports the outcome
    /// as [`Event::RegistrationTest`]. The binding is then removed again, unless one of the
    /// phone's accounts has the same address-of-record (its own refreshes keep it).
    fn probe_registration(&mut self, now: Instant, account: api::Account) {
        self.now = now;
        self.registrations.test(
            &mut self.ua,
            &mut self.resolver,
            now,
            account,
            &mut self.out,
        );
        self.pump();
    }

    /// Plays the test tone on the headset for two seconds.
    ///
    /// # Errors
    /// While a call is connected (the tone would be in the agent's ear over the customer).
    fn play_test_tone(&mut self, now: Instant) -> Result<(), EngineError> {
        self.now = now;
        if self.active_calls() > 0 {
            return Err(EngineError::CallInProgress);
        }
        self.calls
            .tones
            .play_until(Some(Tone::Test), now + TEST_TONE);
        self.timers.set(TimerId::ProgressTone, now + TEST_TONE);
        self.update_tones();
        Ok(())
    }

    /// Tells the audio which tones to play when that changed.
    /// What a headset button does now: the call ringing in is answered or refused (through its
    /// interaction when it is a callback, as the toast's buttons do), the call in hand hung
    /// up, muted or held; when idle, Redial calls the last number dialled.
    fn headset_press(
        &mut self,
        now: Instant,
        button: headset::Button,
    ) -> Result<Reply, EngineError> {
        use api::CallState as S;
        let views = self.calls();
        let ringing = views.iter().find(|c| c.state == S::Ringing);
        let current = views
            .iter()
            .rev()
            .find(|c| matches!(c.state, S::Connected | S::Held | S::Dialing));
        let state = headset::CallState {
            ringing: ringing.is_some(),
            in_call: current.is_some(),
        };
        let Some(action) = headset::Headset::action(button, state) else {
            tracing::debug!(?button, "headset: nothing to do");
            return Ok(Reply::Done);
        };
        tracing::info!(?button, ?action, "headset");
        let notified = |call: &CallView| {
            call.interaction_id.filter(|id| {
                self.desk
                    .get(*id)
                    .is_some_and(|i| i.state == api::InteractionState::Notified)
            })
        };
        let command = match (action, ringing, current) {
            (headset::Action::Answer, Some(call), _) => {
                if let Some(id) = notified(call) {
                    return self
                        .interaction_action(now, id, api::InteractionCommand::Accept)
                        .map(|i| Reply::Interaction(Box::new(i)));
                }
                Command::Answer { call: call.id }
            }
            (headset::Action::Reject, Some(call), _) => {
                if let Some(id) = notified(call) {
                    return self
                        .interaction_action(
                            now,
                            id,
                            api::InteractionCommand::Reject { status: None },
                        )
                        .map(|i| Reply::Interaction(Box::new(i)));
                }
                Command::Reject {
                    call: call.id,
                    status: None,
                }
            }
            (headset::Action::HangUp, _, Some(call)) => Command::Hangup { call: call.id },
            (headset::Action::ToggleMute, _, Some(call)) => Command::Mute {
                call: call.id,
                muted: !call.muted,
            },
            (headset::Action::ToggleHold, _, Some(call)) if call.state == S::Held => {
                Command::Resume { call: call.id }
            }
            (headset::Action::ToggleHold, _, Some(call)) => Command::Hold { call: call.id },
            (headset::Action::Redial, _, _) => {
                let Some(last) = views
                    .iter()
                    .rev()
                    .find(|c| c.direction == api::CallDirection::Outbound)
                else {
                    return Ok(Reply::Done);
                };
                Command::Dial {
                    to: last.remote.clone(),
                    account: None,
                }
            }
            _ => return Ok(Reply::Done),
        };
        self.call_command(now, command)
            .map(|view| Reply::Call(Box::new(view)))
    }

    /// The headset's lights for the calls as they stand: ring while a call rings in, off-hook
    /// while one is in hand, mute while that call's microphone is muted.
    #[must_use]
    pub fn headset_lights(&self) -> headset::Lights {
        use api::CallState as S;
        let views = self.calls();
        let current = views
            .iter()
            .rev()
            .find(|c| matches!(c.state, S::Connected | S::Held | S::Dialing));
        headset::Lights {
            off_hook: current.is_some(),
            ring: views.iter().any(|c| c.state == S::Ringing),
            mute: current.is_some_and(|c| c.muted),
        }
    }

    /// Works out the tones after an input. With more than `TONES_EVERY_INPUT` calls up (a
    /// lab's load) that walk over every call would be most of the phone's time after each
    /// SIP message: it then runs once a frame instead, so a tone starts at most 20 ms late.
    fn update_tones(&mut self) {
        if self.calls.active() <= TONES_EVERY_INPUT {
            self.calls.update_tones(self.now);
        } else if !self.timers.is_set(TimerId::Tones) {
            self.timers
                .set(TimerId::Tones, self.now + crate::calls::FRAME);
        }
    }

    /// The tones playing now: (headset, ring device).
    #[must_use]
    pub fn tones(&self) -> (Option<Tone>, Option<Tone>) {
        self.calls.tones.playing()
    }
}
