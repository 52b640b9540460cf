//! Two phones register at a scripted registrar that challenges, call each other and talk for
//! five seconds over a simulated network with 10% loss and 30 ms jitter, then hang up — all in
//! virtual time.

// Tests take one real instant as the epoch of their virtual time (and the scenario measures
// its own wall time); the code under test never reads the clock.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use api::{CallId, CallState, Command, Event};
use engine::{AccountSettings, AudioFactory, Input, Output, Phone, PhoneConfig};
use media::AudioPort;
use sip::{Dest, Transport};
use test_support::{ScriptedRegistrar, SimNet};

const REGISTRAR: &str = "127.0.0.1:5060";

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("a socket address")
}

/// Plays a 440 Hz tone and records what it hears.
struct ToneAndRecord {
    heard: Arc<Mutex<Vec<i16>>>,
}

struct TonePort {
    phase: f32,
    heard: Arc<Mutex<Vec<i16>>>,
}

impl AudioPort for TonePort {
    fn capture(&mut self, frame: &mut [i16]) {
        for sample in frame.iter_mut() {
            *sample = (self.phase.sin() * 8000.0) as i16;
            self.phase += 2.0 * std::f32::consts::PI * 440.0 / 8000.0;
        }
    }
    fn playback(&mut self, frame: &[i16]) {
        self.heard.lock().expect("lock").extend_from_slice(frame);
    }
}

impl AudioFactory for ToneAndRecord {
    fn open(&mut self, _call: CallId) -> Box<dyn AudioPort> {
        Box::new(TonePort {
            phase: 0.0,
            heard: self.heard.clone(),
        })
    }
    fn close(&mut self, _call: CallId, _port: Box<dyn AudioPort>) {}
}

struct Host {
    phone: Phone,
    sip: SocketAddr,
    media: Vec<SocketAddr>,
    events: Vec<Event>,
    deadline: Instant,
    heard: Arc<Mutex<Vec<i16>>>,
}

impl Host {
    fn new(
        user: &str,
        sip: &str,
        media_base: u16,
        seed: u64,
        auto_answer: bool,
        now: Instant,
    ) -> Self {
        let heard = Arc::new(Mutex::new(Vec::new()));
        let config = PhoneConfig {
            ua: sip::UaConfig::default(),
            accounts: vec![AccountSettings {
                name: user.to_owned(),
                register: true,
                sip: sip::AccountConfig {
                    aor: format!("sip:{user}@127.0.0.1"),
                    display_name: None,
                    registrar: "sip:127.0.0.1".to_owned(),
                    proxy: Dest {
                        transport: Transport::Udp,
                        addr: addr(REGISTRAR),
                    },
                    credentials: Some(sip::Credentials {
                        username: user.to_owned(),
                        password: format!("{user}-secret"),
                    }),
                    expires: Duration::from_secs(300),
                },
            }],
            auto_answer: auto_answer.then_some(Duration::ZERO),
            media_ip: addr(sip).ip(),
            audio: Box::new(ToneAndRecord {
                heard: heard.clone(),
            }),
            keep_ended: 10,
            seed,
        };
        let mut phone = Phone::new(config, now);
        phone.set_sip_addr(Transport::Udp, addr(sip));
        let mut media = Vec::new();
        for i in 0..phone.media_ports_wanted() as u16 {
            let port = SocketAddr::new(addr(sip).ip(), media_base + 2 * i);
            phone.add_media_port(port);
            media.push(port);
        }
        Self {
            phone,
            sip: addr(sip),
            media,
            events: Vec::new(),
            deadline: now,
            heard,
        }
    }

    fn drain(&mut self, now: Instant, net: &mut SimNet) {
        loop {
            match self.phone.poll_output() {
                Output::Sip(t) => net.send(now, self.sip, t.dest.addr, t.bytes.to_vec()),
                Output::Rtp { local, to, bytes } => net.send(now, local, to, bytes),
                Output::Event(e) => self.events.push(e),
                Output::Timeout(at) => {
                    self.deadline = at;
                    return;
                }
            }
        }
    }

    fn owns(&self, to: SocketAddr) -> bool {
        to == self.sip || self.media.contains(&to)
    }

    fn receive(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
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

    fn registered(&self) -> bool {
        self.events.iter().any(|e| {
            matches!(e, Event::Registration { registration } if registration.state == "registered")
        })
    }
}

struct World {
    now: Instant,
    net: SimNet,
    registrar: ScriptedRegistrar,
    a: Host,
    b: Host,
}

impl World {
    fn run_until(&mut self, end: Instant) {
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

fn rms(samples: &[i16]) -> f64 {
    let sum: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum();
    (sum / samples.len().max(1) as f64).sqrt()
}

#[test]
fn two_phones_register_call_and_talk_over_a_lossy_jittery_network() {
    let wall = Instant::now();
    let t0 = Instant::now();
    let mut registrar = ScriptedRegistrar::new("recall.test", "alice", "alice-secret");
    registrar
        .users
        .insert("bob".to_owned(), "bob-secret".to_owned());
    let mut net = SimNet::new(2026);
    net.loss = 0.10;
    net.delay = Duration::from_millis(20);
    net.jitter = Duration::from_millis(30);
    let mut world = World {
        now: t0,
        net,
        registrar,
        a: Host::new("alice", "127.0.0.1:5071", 30000, 11, false, t0),
        b: Host::new("bob", "127.0.0.1:5072", 31000, 22, true, t0),
    };
    world.a.phone.start(t0);
    world.b.phone.start(t0);
    world.run_until(t0 + Duration::from_secs(10));
    assert!(
        world.a.registered() && world.b.registered(),
        "both registered through the challenge"
    );

    // Alice calls Bob's address-of-record; the registrar routes to the contact Bob registered.
    let target = "sip:bob@127.0.0.1".to_owned();
    let call = world
        .a
        .phone
        .command(
            world.now,
            Command::Dial {
                to: target,
                account: Some("alice".to_owned()),
            },
        )
        .expect("dial");
    let give_up = world.now + Duration::from_secs(10);
    while world.a.phone.call(call.id).map(|c| c.state) != Some(CallState::Connected) {
        assert!(
            world.now < give_up,
            "not connected: {:?}",
            world.a.phone.call(call.id)
        );
        world.run_until(world.now + Duration::from_millis(10));
    }

    let talk_from = world.now;
    world.run_until(talk_from + Duration::from_secs(5));
    world
        .a
        .phone
        .command(world.now, Command::Hangup { call: call.id })
        .expect("hang up");
    world.run_until(world.now + Duration::from_secs(40));

    let a_view = world.a.phone.call(call.id).expect("a's call");
    let b_view = world.b.phone.calls().pop().expect("b's call");
    assert_eq!(a_view.state, CallState::Ended);
    assert_eq!(b_view.state, CallState::Ended);
    assert_eq!(b_view.end_reason.as_deref(), Some("remote party hung up"));
    // 5 s of 20 ms frames is 250 packets each way, about 10% lost. Bob's side starts when he
    // answers and stops when the BYE reaches him, so lost signalling can stretch it.
    for view in [&a_view, &b_view] {
        let s = view.stats;
        assert!((245..=500).contains(&s.packets_sent), "{s:?}");
        assert!(s.packets_received >= 200, "{s:?}");
        assert!(s.concealed >= 5, "losses were concealed: {s:?}");
        println!("scenario: {:?} {s:?}", view.direction);
    }
    for host in [&world.a, &world.b] {
        let heard = host.heard.lock().expect("lock");
        assert!(
            rms(&heard) > 2000.0,
            "the tone got through: rms {}",
            rms(&heard)
        );
    }
    assert_eq!(
        world.a.phone.active_calls() + world.b.phone.active_calls(),
        0
    );
    assert!(
        wall.elapsed() < Duration::from_secs(1),
        "took {:?} of wall time",
        wall.elapsed()
    );
    println!(
        "scenario: {} datagrams, {} lost, wall time {:?}",
        world.net.sent,
        world.net.lost,
        wall.elapsed()
    );
}
