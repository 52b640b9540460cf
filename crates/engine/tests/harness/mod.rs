//! A virtual-time world for engine tests: phones on a simulated network with a scripted
//! registrar that challenges and proxies.

#![allow(unreachable_pub, clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use api::{
    AgentState, AgentStatus, CallId, CallView, Command, Event, Interaction, InteractionCommand,
    InteractionId,
};
use engine::{
    AudioFactory, CallbackSettings, EngineError, Input, MediaSettings, Output, Phone, PhoneConfig,
    Reply, Request,
};
use media::AudioPort;
use sip::{Dest, Transport};
use test_support::{ScriptedRegistrar, SimNet};

pub const REGISTRAR: &str = "127.0.0.1:5060";

pub fn addr(text: &str) -> SocketAddr {
    text.parse().expect("a socket address")
}

/// The phone's requests as the tests put them: every one goes in as `Input::Command`, the one
/// way in, and its answer is read back.
pub trait Ask {
    /// Puts a request; its answer.
    fn ask(&mut self, now: Instant, request: Request) -> Result<Reply, EngineError>;

    fn command(&mut self, now: Instant, command: Command) -> Result<CallView, EngineError> {
        self.ask(now, Request::Call(command)).map(|reply| {
            reply
                .into_call()
                .expect("a call command is answered with the call")
        })
    }

    fn interaction_command(
        &mut self,
        now: Instant,
        id: InteractionId,
        command: InteractionCommand,
    ) -> Result<Interaction, EngineError> {
        self.ask(now, Request::Interaction { id, command })
            .map(|reply| {
                reply
                    .into_interaction()
                    .expect("an interaction command is answered with the interaction")
            })
    }

    fn set_agent_state(
        &mut self,
        now: Instant,
        voice: Option<AgentState>,
        web_callback: Option<AgentState>,
    ) -> AgentStatus {
        self.ask(
            now,
            Request::Agent {
                voice,
                web_callback,
            },
        )
        .ok()
        .and_then(Reply::into_agent)
        .expect("the agent's state")
    }

    fn start(&mut self, now: Instant) {
        self.ask(now, Request::Start).expect("started");
    }

    fn reconfigure(
        &mut self,
        now: Instant,
        accounts: Vec<api::Account>,
        media: MediaSettings,
        callbacks: CallbackSettings,
    ) {
        self.ask(
            now,
            Request::Reconfigure {
                accounts,
                media: Box::new(media),
                callbacks,
            },
        )
        .expect("reconfigured");
    }

    fn test_registration(&mut self, now: Instant, account: api::Account) {
        self.ask(now, Request::TestRegistration(account))
            .expect("a test registration is sent");
    }

    fn test_tone(&mut self, now: Instant) -> Result<(), EngineError> {
        self.ask(now, Request::TestTone).map(|_| ())
    }
}

impl Ask for Phone {
    fn ask(&mut self, now: Instant, request: Request) -> Result<Reply, EngineError> {
        self.handle_input(Input::Command {
            now,
            request: Box::new(request),
        })
        .expect("a request is answered")
    }
}

/// Plays a 440 Hz tone and records what it hears.
pub struct ToneAndRecord {
    heard: Arc<Mutex<Vec<i16>>>,
    processing: Arc<Mutex<Vec<media::VoiceSettings>>>,
}

pub struct TonePort {
    phase: f32,
    rate: u32,
    heard: Arc<Mutex<Vec<i16>>>,
}

impl AudioPort for TonePort {
    fn capture(&mut self, frame: &mut [i16]) {
        for sample in frame.iter_mut() {
            *sample = (self.phase.sin() * 8000.0) as i16;
            self.phase += 2.0 * std::f32::consts::PI * 440.0 / self.rate as f32;
        }
    }
    fn playback(&mut self, frame: &[i16]) {
        self.heard.lock().expect("lock").extend_from_slice(frame);
    }
}

impl AudioFactory for ToneAndRecord {
    fn open(&mut self, _call: CallId, rate: u32) -> Box<dyn AudioPort> {
        Box::new(TonePort {
            phase: 0.0,
            rate,
            heard: self.heard.clone(),
        })
    }
    fn close(&mut self, _call: CallId, _port: Box<dyn AudioPort>) {}
    fn processing(&mut self, voice: media::VoiceSettings) {
        self.processing.lock().expect("lock").push(voice);
    }
}

/// An account registering at the scripted registrar as `user` with `password`.
pub fn account(user: &str, password: &str) -> api::Account {
    api::Account {
        name: user.to_owned(),
        aor: format!("sip:{user}@127.0.0.1"),
        registrar: "sip:127.0.0.1".to_owned(),
        proxy: format!("udp:{REGISTRAR}"),
        username: user.to_owned(),
        password: password.to_owned(),
        expires: 300,
        ..api::Account::default()
    }
}

pub struct Host {
    pub phone: Phone,
    pub sip: SocketAddr,
    pub media: Vec<SocketAddr>,
    pub events: Vec<Event>,
    pub deadline: Instant,
    pub heard: Arc<Mutex<Vec<i16>>>,
    /// The microphone processing the phone asked its audio for, in order.
    pub processing: Arc<Mutex<Vec<media::VoiceSettings>>>,
    /// The DNS this host asks: (name, type) → answer; anything else has no records.
    pub zone: Vec<(String, sip::RecordType, sip::Answer)>,
    /// The questions it asked, in order.
    pub asked: Vec<sip::Query>,
    /// What it told the runtime about TLS servers, in order.
    pub tls_peers: Vec<engine::TlsPeer>,
    /// What the phone asked to record.
    pub recordings: Vec<engine::RecordingOutput>,
    /// Every SIP message it sent, as text.
    pub sent: Vec<String>,
}

impl Host {
    pub fn new(
        user: &str,
        sip: &str,
        media_base: u16,
        seed: u64,
        auto_answer: bool,
        now: Instant,
    ) -> Self {
        Self::with_limits(
            user,
            sip,
            (media_base, seed),
            auto_answer,
            now,
            engine::Limits::DESKTOP,
        )
    }

    /// As [`Host::new`], with these limits.
    pub fn with_limits(
        user: &str,
        sip: &str,
        (media_base, seed): (u16, u64),
        auto_answer: bool,
        now: Instant,
        limits: engine::Limits,
    ) -> Self {
        Self::with_settings(
            user,
            sip,
            (media_base, seed),
            auto_answer,
            now,
            limits,
            engine::RecordingSettings::default(),
        )
    }

    /// As [`Host::with_limits`], recording calls as `recording` says.
    pub fn with_settings(
        user: &str,
        sip: &str,
        (media_base, seed): (u16, u64),
        auto_answer: bool,
        now: Instant,
        limits: engine::Limits,
        recording: engine::RecordingSettings,
    ) -> Self {
        let heard = Arc::new(Mutex::new(Vec::new()));
        let processing = Arc::new(Mutex::new(Vec::new()));
        let config = PhoneConfig {
            stun: None,
            udp_keepalive: None,
            secure_random: {
                let mut rng = fastrand::Rng::with_seed(0x5eed);
                Box::new(move |bytes: &mut [u8]| {
                    rng.fill(bytes);
                    true
                })
            },
            ua: sip::UaConfig::default(),
            accounts: vec![account(user, &format!("{user}-secret"))],
            auto_answer: auto_answer.then_some(Duration::ZERO),
            media_ip: addr(sip).ip(),
            audio: Box::new(ToneAndRecord {
                heard: heard.clone(),
                processing: processing.clone(),
            }),
            // G.711 unless a test asks for Opus (see `Host::with_codecs`).
            media: engine::MediaSettings {
                codecs: vec![media::Codec::Pcmu, media::Codec::Pcma],
                ..engine::MediaSettings::default()
            },
            keep_ended: 10,
            limits,
            recording,
            presence: engine::PresenceSettings::default(),
            seed,
            callbacks: engine::CallbackSettings::default(),
            wall_clock: time::macros::datetime!(2026-11-25 15:00:00 UTC),
        };
        let mut phone = Phone::new(config, now);
        phone
            .ask(
                now,
                Request::Listen {
                    transport: Transport::Udp,
                    addr: addr(sip),
                },
            )
            .expect("listening");
        let mut media = Vec::new();
        for i in 0..phone.media_ports_wanted() as u16 {
            let port = SocketAddr::new(addr(sip).ip(), media_base + 2 * i);
            phone
                .ask(now, Request::MediaPort(port))
                .expect("a media port");
            media.push(port);
        }
        Self {
            phone,
            sip: addr(sip),
            media,
            events: Vec::new(),
            deadline: now,
            heard,
            processing,
            zone: Vec::new(),
            asked: Vec::new(),
            tls_peers: Vec::new(),
            sent: Vec::new(),
            recordings: Vec::new(),
        }
    }

    /// Hands the phone the RTP ports it asks for beyond its first ones (the runtime does this
    /// after every drain).
    pub fn top_up_media_ports(&mut self, now: Instant) {
        let base = self.media[0];
        for _ in 0..self.phone.media_ports_wanted() {
            let port = SocketAddr::new(base.ip(), base.port() + 2 * self.media.len() as u16);
            self.phone
                .ask(now, Request::MediaPort(port))
                .expect("a media port");
            self.media.push(port);
        }
    }

    pub fn drain(&mut self, now: Instant, net: &mut SimNet) {
        let mut questions = Vec::new();
        loop {
            match self.phone.poll_output() {
                Output::Sip(t) => {
                    self.sent
                        .push(String::from_utf8_lossy(&t.bytes).into_owned());
                    net.send(now, self.sip, t.dest.addr, t.bytes.to_vec());
                }
                Output::Rtp { local, to, bytes } => net.send(now, local, to, bytes),
                Output::Event(e) => self.events.push(*e),
                Output::Resolve(query) => questions.push(query),
                Output::TlsPeer(peer) => self.tls_peers.push(peer),
                Output::Recording(recording) => self.recordings.push(recording),
                Output::Timeout(at) => {
                    self.deadline = at;
                    if questions.is_empty() {
                        return;
                    }
                    // DNS answers at once, from the zone.
                    for query in std::mem::take(&mut questions) {
                        let answer = self
                            .zone
                            .iter()
                            .find(|(name, rtype, _)| *name == query.name && *rtype == query.rtype)
                            .map_or(
                                sip::Answer::Nothing {
                                    ttl: std::time::Duration::from_secs(60),
                                },
                                |(_, _, answer)| answer.clone(),
                            );
                        self.asked.push(query.clone());
                        self.phone
                            .handle_input(engine::Input::Resolved { now, query, answer });
                    }
                }
            }
        }
    }

    /// Replaces the callback settings (the phone is rebuilt; call before any traffic).
    pub fn set_callbacks(&mut self, callbacks: engine::CallbackSettings) {
        self.phone
            .ask(self.deadline, Request::SetCallbackSettings(callbacks))
            .expect("set");
    }

    /// Whether `to` is one of this host's sockets: SIP, an RTP port or the RTCP port after it.
    pub fn owns(&self, to: SocketAddr) -> bool {
        to == self.sip
            || self.media.contains(&to)
            || self
                .media
                .contains(&SocketAddr::new(to.ip(), to.port().wrapping_sub(1)))
    }

    pub fn receive(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        if to == self.sip {
            self.phone.handle_input(Input::Sip {
                now,
                source: Dest {
                    transport: Transport::Udp,
                    addr: from,
                },
                bytes,
            });
        } else {
            self.phone.handle_input(Input::Rtp {
                now,
                local: to,
                from,
                bytes,
            });
        }
    }

    pub fn registered(&self) -> bool {
        self.events.iter().any(|e| {
            matches!(e, Event::Registration { registration } if registration.state == "registered")
        })
    }
}

pub struct World {
    pub now: Instant,
    pub net: SimNet,
    pub registrar: ScriptedRegistrar,
    pub a: Host,
    pub b: Host,
}

impl World {
    pub fn run_until(&mut self, end: Instant) {
        loop {
            self.a.drain(self.now, &mut self.net);
            self.b.drain(self.now, &mut self.net);
            let next = [
                Some(self.a.deadline),
                Some(self.b.deadline),
                self.net.next_arrival(),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(end);
            if next > end {
                self.now = end;
                return;
            }
            self.now = next.max(self.now);
            while let Some(d) = self.net.poll(self.now) {
                if self.a.owns(d.to) {
                    self.a.receive(self.now, d.from, d.to, &d.bytes);
                } else if self.b.owns(d.to) {
                    self.b.receive(self.now, d.from, d.to, &d.bytes);
                } else if d.to == addr(REGISTRAR)
                    && let Some((bytes, to)) = self.registrar.handle(&d.bytes, d.from)
                {
                    self.net.send(self.now, d.to, to, bytes);
                }
            }
            for host in [&mut self.a, &mut self.b] {
                if host.deadline <= self.now {
                    host.phone.handle_input(Input::Timeout(self.now));
                }
            }
        }
    }
}

impl World {
    /// Alice (5071) and Bob (5072, answering by himself) registered at the scripted registrar,
    /// on a network with this loss and jitter.
    pub fn registered(seed: u64, loss: f64, jitter: Duration) -> Self {
        Self::registered_recording(seed, loss, jitter, engine::RecordingSettings::default())
    }

    /// As [`World::registered`], with Bob (the agent answering) recording calls as
    /// `recording` says.
    pub fn registered_recording(
        seed: u64,
        loss: f64,
        jitter: Duration,
        recording: engine::RecordingSettings,
    ) -> Self {
        Self::registered_with(seed, (loss, jitter), recording, engine::Limits::DESKTOP)
    }

    /// As [`World::registered`] on a perfect network, both phones with a lab's limits (many
    /// calls at once).
    pub fn registered_headless(seed: u64) -> Self {
        Self::registered_with(
            seed,
            (0.0, Duration::ZERO),
            engine::RecordingSettings::default(),
            engine::Limits::HEADLESS,
        )
    }

    fn registered_with(
        seed: u64,
        (loss, jitter): (f64, Duration),
        recording: engine::RecordingSettings,
        limits: engine::Limits,
    ) -> Self {
        let t0 = Instant::now();
        let mut registrar = ScriptedRegistrar::new("recall.test", "alice", "alice-secret");
        registrar
            .users
            .insert("bob".to_owned(), "bob-secret".to_owned());
        let mut net = SimNet::new(seed);
        net.loss = loss;
        net.delay = Duration::from_millis(20);
        net.jitter = jitter;
        let mut world = Self {
            now: t0,
            net,
            registrar,
            a: Host::with_limits(
                "alice",
                "127.0.0.1:5071",
                (30000, seed + 1),
                false,
                t0,
                limits,
            ),
            b: Host::with_settings(
                "bob",
                "127.0.0.1:5072",
                (31000, seed + 2),
                true,
                t0,
                limits,
                recording,
            ),
        };
        world.a.phone.start(t0);
        world.b.phone.start(t0);
        world.run_until(t0 + Duration::from_secs(10));
        assert!(
            world.a.registered() && world.b.registered(),
            "both registered through the challenge"
        );
        world
    }

    /// Alice dials Bob's address-of-record as her (first) account; returns her call at once.
    pub fn alice_dials_bob(&mut self) -> api::CallId {
        self.a
            .phone
            .command(
                self.now,
                api::Command::Dial {
                    to: "sip:bob@127.0.0.1".to_owned(),
                    account: None,
                },
            )
            .expect("dial")
            .id
    }

    /// Alice calls Bob (who answers by himself); returns Alice's call once it is connected.
    pub fn alice_calls_bob(&mut self) -> api::CallId {
        let call = self.alice_dials_bob();
        self.run_while(Duration::from_secs(5), |w| {
            w.a.phone.call(call).map(|c| c.state) == Some(api::CallState::Connected)
        });
        call
    }

    /// Runs in 10 ms steps until `done` holds; fails after `limit`.
    pub fn run_while(&mut self, limit: Duration, mut done: impl FnMut(&Self) -> bool) {
        let give_up = self.now + limit;
        while !done(self) {
            assert!(self.now < give_up, "gave up waiting");
            self.run_until(self.now + Duration::from_millis(10));
        }
    }
}

/// Root-mean-square level of samples.
pub fn rms(samples: &[i16]) -> f64 {
    let sum: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum();
    (sum / samples.len().max(1) as f64).sqrt()
}

/// The host's inbound call (Bob's side of Alice's call).
pub fn bobs_call(host: &Host) -> Option<api::CallView> {
    host.phone
        .calls()
        .into_iter()
        .find(|c| c.direction == api::CallDirection::Inbound)
}

impl World {
    /// The loudness (RMS) of what Alice and Bob each heard over the next `span`.
    pub fn heard_over(&mut self, span: Duration) -> (f64, f64) {
        self.a.heard.lock().expect("heard").clear();
        self.b.heard.lock().expect("heard").clear();
        self.run_until(self.now + span);
        let level = |host: &Host| rms(&host.heard.lock().expect("heard"));
        (level(&self.a), level(&self.b))
    }
}
