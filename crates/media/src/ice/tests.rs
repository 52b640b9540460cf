// One real instant is the epoch of the tests' virtual time; the code under test never reads
// the clock.
#![allow(clippy::disallowed_methods, clippy::unwrap_used)]

//! ICE in virtual time over a simulated network: agent A on 192.0.2.0/24 behind a NAT whose
//! public side is 203.0.113.1, agent B and a STUN server on 203.0.113.0/24; the NAT maps and
//! filters as a full-cone, a port-restricted or a symmetric NAT does (RFC 4787).

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};

use rtc_stun::fingerprint::FINGERPRINT;
use rtc_stun::message::{BINDING_REQUEST, BINDING_SUCCESS, Message};
use rtc_stun::xoraddr::XorMappedAddress;

use super::*;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Behaviour {
    /// Endpoint-independent mapping and filtering.
    FullCone,
    /// Endpoint-independent mapping, address-and-port-dependent filtering.
    PortRestricted,
    /// Address-and-port-dependent mapping and filtering.
    Symmetric,
}

struct Nat {
    behaviour: Behaviour,
    public: IpAddr,
    next_port: u16,
    /// (inside, destination when symmetric) -> public port.
    mappings: HashMap<(SocketAddr, Option<SocketAddr>), u16>,
    /// public port -> inside address.
    inside: HashMap<u16, SocketAddr>,
    /// (public port, remote) pairs that may send in.
    open: HashSet<(u16, SocketAddr)>,
}

impl Nat {
    fn new(behaviour: Behaviour) -> Self {
        Self {
            behaviour,
            public: "203.0.113.1".parse().unwrap(),
            next_port: 40_000,
            mappings: HashMap::new(),
            inside: HashMap::new(),
            open: HashSet::new(),
        }
    }

    fn outbound(&mut self, from: SocketAddr, to: SocketAddr) -> SocketAddr {
        let key = match self.behaviour {
            Behaviour::Symmetric => (from, Some(to)),
            _ => (from, None),
        };
        let port = *self.mappings.entry(key).or_insert_with(|| {
            self.next_port += 1;
            self.next_port
        });
        self.inside.insert(port, from);
        self.open.insert((port, to));
        SocketAddr::new(self.public, port)
    }

    fn inbound(&self, from: SocketAddr, to: SocketAddr) -> Option<SocketAddr> {
        let inside = *self.inside.get(&to.port())?;
        let allowed = match self.behaviour {
            Behaviour::FullCone => true,
            _ => self.open.contains(&(to.port(), from)),
        };
        allowed.then_some(inside)
    }
}

struct Net {
    nat: Nat,
    stun: SocketAddr,
    /// Datagrams in flight: (from, to, bytes), delivered at the next step.
    flight: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
    /// B has gone: nothing reaches it.
    b_gone: bool,
    b: SocketAddr,
}

fn private(addr: SocketAddr) -> bool {
    matches!(addr.ip(), IpAddr::V4(v4) if v4.octets()[..3] == [192, 0, 2])
}

impl Net {
    fn send(&mut self, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) {
        let from = if private(from) && !private(to) {
            self.nat.outbound(from, to)
        } else {
            from
        };
        self.flight.push((from, to, bytes));
    }

    /// Delivers what is in flight: `(to, from, bytes)` for agents; the STUN server answers.
    fn deliver(&mut self) -> Vec<(SocketAddr, SocketAddr, Vec<u8>)> {
        let mut arrived = Vec::new();
        for (from, to, bytes) in std::mem::take(&mut self.flight) {
            if to == self.stun {
                let mut request = Message::new();
                request.raw = bytes;
                if request.decode().is_ok() && request.typ == BINDING_REQUEST {
                    let mut response = Message::new();
                    response
                        .build(&[
                            Box::new(request.transaction_id),
                            Box::new(BINDING_SUCCESS),
                            Box::new(XorMappedAddress {
                                ip: from.ip(),
                                port: from.port(),
                            }),
                            Box::new(FINGERPRINT),
                        ])
                        .unwrap();
                    self.flight.push((self.stun, from, response.raw.clone()));
                }
                continue;
            }
            let to = if to.ip() == self.nat.public {
                match self.nat.inbound(from, to) {
                    Some(inside) => inside,
                    None => continue,
                }
            } else {
                to
            };
            if to == self.b && self.b_gone {
                continue;
            }
            arrived.push((to, from, bytes));
        }
        arrived
    }
}

const STEP: Duration = Duration::from_millis(5);

struct World {
    net: Net,
    a: IceStream,
    b: IceStream,
    now: Instant,
    a_events: Vec<IceEvent>,
    b_events: Vec<IceEvent>,
}

fn servers(stun: SocketAddr) -> IceServers {
    IceServers {
        stun: Some(stun),
        turn: None,
    }
}

impl World {
    fn new(behaviour: Behaviour) -> Self {
        let start = Instant::now();
        let a_socket: SocketAddr = "192.0.2.10:5004".parse().unwrap();
        let b_socket: SocketAddr = "203.0.113.20:6000".parse().unwrap();
        let stun: SocketAddr = "203.0.113.100:3478".parse().unwrap();
        let mut net = Net {
            nat: Nat::new(behaviour),
            stun,
            flight: Vec::new(),
            b_gone: false,
            b: b_socket,
        };
        // Gather A's candidates through its NAT.
        let mut gatherer = Gatherer::new(start, a_socket, &servers(stun)).unwrap();
        let mut now = start;
        while !gatherer.done() {
            while let Some((to, bytes)) = gatherer.poll_transmit() {
                net.send(a_socket, to, bytes);
            }
            for (to, from, bytes) in net.deliver() {
                assert_eq!(to, a_socket);
                gatherer.handle(now, from, &bytes, &mut VecDeque::new());
            }
            now += STEP;
            gatherer.handle_timeout(now, &mut VecDeque::new());
        }
        assert_eq!(
            gatherer.srflx().map(|s| s.ip()),
            Some("203.0.113.1".parse().unwrap()),
            "{:?}",
            gatherer.problems()
        );
        let a = IceStream::new(now, gatherer).unwrap();
        let b = IceStream::new(
            now,
            Gatherer::new(now, b_socket, &IceServers::default()).unwrap(),
        )
        .unwrap();
        Self {
            net,
            a,
            b,
            now,
            a_events: Vec::new(),
            b_events: Vec::new(),
        }
    }

    /// A world whose agents have connected (A offered): how long that took, and it.
    fn connected(behaviour: Behaviour) -> (Duration, Self) {
        let mut world = Self::new(behaviour);
        world.connect();
        let took = world.run_until(Duration::from_secs(5), |w| {
            w.a.connected() && w.b.connected()
        });
        (took, world)
    }

    /// A offers, B answers: both start their checks.
    fn connect(&mut self) {
        let offer = self.a.local_description().clone();
        let answer = self.b.local_description().clone();
        self.b.start(self.now, &offer, false).unwrap();
        self.a.start(self.now, &answer, true).unwrap();
    }

    fn step(&mut self) {
        let (a_socket, b_socket) = (self.a.socket(), self.b.socket());
        while let Some((to, bytes)) = self.a.poll_transmit() {
            self.net.send(a_socket, to, bytes);
        }
        while let Some((to, bytes)) = self.b.poll_transmit() {
            self.net.send(b_socket, to, bytes);
        }
        for (to, from, bytes) in self.net.deliver() {
            if to == a_socket {
                self.a.handle(self.now, from, &bytes);
            } else if to == b_socket {
                self.b.handle(self.now, from, &bytes);
            }
        }
        self.now += STEP;
        // As the engine drives them: only when they asked to be woken.
        for agent in [&mut self.a, &mut self.b] {
            if agent.poll_timeout().is_some_and(|at| at <= self.now) {
                agent.handle_timeout(self.now);
            }
        }
        while let Some(e) = self.a.poll_event() {
            self.a_events.push(e);
        }
        while let Some(e) = self.b.poll_event() {
            self.b_events.push(e);
        }
    }

    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Self) -> bool) -> Duration {
        let start = self.now;
        while self.now < start + limit {
            self.step();
            if done(self) {
                break;
            }
        }
        self.now - start
    }
}

#[test]
fn a_candidate_from_baresip_parses_and_odd_ones_are_skipped_or_refused() {
    let host = parse_candidate("c0000202 1 UDP 2113929471 192.0.2.2 13538 typ host")
        .unwrap()
        .unwrap();
    assert_eq!(
        host.addr(),
        "192.0.2.2:13538".parse::<SocketAddr>().unwrap()
    );
    let srflx =
        parse_candidate("2 1 udp 1694498815 203.0.113.7 40001 typ srflx raddr 192.0.2.2 rport 5")
            .unwrap()
            .unwrap();
    assert_eq!(srflx.candidate_type(), CandidateType::ServerReflexive);
    // RTCP's component, TCP and mDNS names are not ours to use.
    for skipped in [
        "1 2 UDP 2113929470 192.0.2.2 13539 typ host",
        "1 1 TCP 2113929471 192.0.2.2 9 typ host tcptype active",
        "1 1 UDP 2113929471 0a1b2c3d.local 5000 typ host",
    ] {
        assert!(parse_candidate(skipped).unwrap().is_none(), "{skipped}");
    }
    for bad in [
        "",
        "1 1 UDP",
        "1 1 UDP 2113929471 192.0.2.2 13538 type host",
        "1 1 UDP notanumber 192.0.2.2 13538 typ host",
        "1 1 UDP 1 192.0.2.2 99999 typ host",
        "1 1 UDP 1 192.0.2.2 1 typ nonsense",
        "1 1 UDP 1 192.0.2.2 1 typ srflx raddr",
    ] {
        assert!(parse_candidate(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn the_description_reads_media_level_first_then_session_level() {
    let media = [
        ("ice-pwd", Some("p4ssw0rdp4ssw0rdp4ss")),
        ("candidate", Some("1 1 UDP 1 192.0.2.2 5000 typ host")),
    ];
    let session = [("ice-ufrag", Some("abcd")), ("ice-lite", None)];
    let read = IceDescription::read(media.iter().copied(), session.iter().copied()).unwrap();
    assert_eq!(read.ufrag, "abcd");
    assert_eq!(read.pwd, "p4ssw0rdp4ssw0rdp4ss");
    assert!(read.lite);
    assert_eq!(read.candidates.len(), 1);
    // No credentials: no ICE.
    assert!(IceDescription::read(media[1..].iter().copied(), [].iter().copied()).is_none());
}

#[test]
fn behind_a_full_cone_nat_the_server_reflexive_pair_is_nominated_quickly() {
    let (took, world) = World::connected(Behaviour::FullCone);
    let pair = world.a.selected().unwrap().clone();
    // A's host candidate is not reachable from outside: the pair is A's host base (its
    // srflx, seen by B as that) to B's host.
    assert_eq!(pair.remote, world.b.socket(), "{pair}");
    let b_pair = world.b.selected().unwrap();
    assert_eq!(b_pair.remote.ip(), "203.0.113.1".parse::<IpAddr>().unwrap());
    assert!(took < Duration::from_millis(400), "{took:?}");
}

#[test]
fn behind_a_port_restricted_nat_checks_open_the_way_both_ways() {
    let (_, mut world) = World::connected(Behaviour::PortRestricted);
    assert!(world.a.connected() && world.b.connected());
    assert!(
        matches!(world.a_events.first(), Some(IceEvent::Selected(_))),
        "{:?}",
        world.a_events
    );
    // Media goes on the pair: to B's host from A, to A's public mapping from B.
    let (to, _) = world.a.send(b"rtp").unwrap();
    assert_eq!(to, world.b.socket());
    let (to, _) = world.b.send(b"rtp").unwrap();
    assert_eq!(to.ip(), "203.0.113.1".parse::<IpAddr>().unwrap());
}

#[test]
fn behind_a_symmetric_nat_the_peer_learns_a_peer_reflexive_candidate() {
    // A's mapping towards B is not the one the STUN server saw: B's checks to A's srflx are
    // filtered, but A's checks reach B from a new port that B learns as peer-reflexive.
    let (_, world) = World::connected(Behaviour::Symmetric);
    let b_pair = world.b.selected().expect("B selected a pair").clone();
    assert_eq!(b_pair.remote_type, "prflx", "{b_pair}");
    assert_ne!(Some(b_pair.remote), world.a.gatherer.srflx());
}

#[test]
fn with_nothing_reachable_ice_fails_and_says_so() {
    let mut world = World::new(Behaviour::PortRestricted);
    // B's only candidate is one nobody listens on.
    let mut answer = world.b.local_description().clone();
    answer.candidates = vec!["1 1 udp 2130706431 203.0.113.99 9 typ host".to_owned()];
    world.a.start(world.now, &answer, true).unwrap();
    world.run_until(CONSENT_TIMEOUT + Duration::from_secs(2), |w| {
        w.a.failure().is_some()
    });
    assert_eq!(world.a.failure(), Some("no candidate pair worked"));
    assert!(world.a.send(b"rtp").is_none());
}

#[test]
fn consent_expires_when_the_peer_vanishes_and_media_stops() {
    let (_, mut world) = World::connected(Behaviour::FullCone);
    assert!(world.a.connected());
    // Consent is refreshed while B answers.
    world.run_until(Duration::from_secs(40), |_| false);
    assert!(world.a.connected(), "{:?}", world.a_events);
    world.net.b_gone = true;
    let took = world.run_until(Duration::from_secs(60), |w| w.a.failure().is_some());
    assert!(
        world.a.failure().unwrap().contains("consent expired"),
        "{:?}",
        world.a.failure()
    );
    assert!(took <= CONSENT_TIMEOUT + Duration::from_secs(3), "{took:?}");
    assert!(world.a.send(b"rtp").is_none());
    assert!(matches!(world.a_events.last(), Some(IceEvent::Failed(_))));
}

#[test]
fn a_new_ufrag_from_the_peer_restarts_ice_with_new_credentials_of_ours() {
    let (_, mut world) = World::connected(Behaviour::FullCone);
    let before = world.a.local_description().ufrag.clone();
    let mut restarted = world.b.local_description().clone();
    restarted.ufrag = "fresh1".to_owned();
    restarted.pwd = "freshpasswordfreshpassword".to_owned();
    world.a.start(world.now, &restarted, true).unwrap();
    assert_ne!(world.a.local_description().ufrag, before);
    assert!(world.a.selected().is_none());
}

#[test]
fn against_a_lite_peer_we_control_even_when_we_answered() {
    let mut world = World::new(Behaviour::FullCone);
    let mut offer = world.b.local_description().clone();
    offer.lite = true;
    world.a.start(world.now, &offer, false).unwrap();
    assert!(world.a.controlling());
    let mut full = world.b.local_description().clone();
    full.ufrag = "other1".to_owned();
    let mut answerer = World::new(Behaviour::FullCone);
    answerer.a.start(answerer.now, &full, false).unwrap();
    assert!(!answerer.a.controlling());
}

#[test]
fn a_turn_stream_is_cut_into_stun_messages_and_padded_channel_data() {
    use crate::ice::turn_frame_len;
    // A Binding request: 20-byte header, 8 bytes of attributes.
    let mut stun = vec![0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xA4, 0x42];
    stun.resize(28, 0);
    assert_eq!(turn_frame_len(&stun[..3]).unwrap(), None);
    assert_eq!(turn_frame_len(&stun).unwrap(), Some(28));
    // ChannelData on 0x4000 with 5 bytes: 4 + 5 padded to 4 + 8 over a stream.
    assert_eq!(turn_frame_len(&[0x40, 0x00, 0x00, 0x05]).unwrap(), Some(12));
    assert_eq!(turn_frame_len(&[0x7F, 0xFF, 0x00, 0x00]).unwrap(), Some(4));
    // RTP (version 2) is neither: the stream is out of step.
    assert!(turn_frame_len(&[0x80, 0x00, 0x00, 0x01]).is_err());
}

#[test]
fn only_what_is_for_a_stream_turn_server_goes_down_its_connection() {
    let server: SocketAddr = "192.0.2.50:3478".parse().unwrap();
    let mut servers = IceServers {
        stun: Some(server),
        turn: Some(TurnServer {
            addr: server,
            transport: TurnTransport::Tcp,
            username: "agent".to_owned(),
            password: "secret".to_owned(),
        }),
    };
    let mut binding = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
    binding.resize(20, 7);
    let mut allocate = binding.clone();
    allocate[1] = 0x03;
    let elsewhere: SocketAddr = "192.0.2.60:3478".parse().unwrap();
    assert!(servers.over_turn_stream(server, &allocate).is_some());
    assert!(
        servers
            .over_turn_stream(server, &[0x40, 0x00, 0x00, 0x00])
            .is_some()
    );
    // The STUN server's Binding for the server-reflexive candidate stays a datagram.
    assert!(servers.over_turn_stream(server, &binding).is_none());
    assert!(servers.over_turn_stream(elsewhere, &allocate).is_none());
    servers.stun = Some(elsewhere);
    assert!(servers.over_turn_stream(server, &binding).is_some());
    if let Some(turn) = servers.turn.as_mut() {
        turn.transport = TurnTransport::Udp;
    }
    assert!(servers.over_turn_stream(server, &allocate).is_none());
}

#[test]
fn our_restart_gathers_anew_offers_new_credentials_and_connects_again() {
    let (_, mut world) = World::connected(Behaviour::PortRestricted);
    let before = world.a.local_description().clone();
    let stun = world.net.stun;
    // The NAT now maps A's socket afresh (its public address changed).
    world.net.nat = Nat::new(Behaviour::PortRestricted);
    world.net.nat.public = "203.0.113.3".parse().unwrap();
    assert!(world.a.restart(world.now, &servers(stun)).unwrap());
    assert!(world.a.restarting());
    // A second ask while one runs does nothing.
    assert!(!world.a.restart(world.now, &servers(stun)).unwrap());
    world.run_until(Duration::from_secs(2), |w| {
        w.a_events.iter().any(|e| matches!(e, IceEvent::Restarted))
    });
    let offer = world.a.local_description().clone();
    assert_ne!(offer.ufrag, before.ufrag);
    assert_ne!(offer.pwd, before.pwd);
    assert_eq!(
        offer.default.map(|d| d.ip()),
        Some("203.0.113.3".parse().unwrap()),
        "the new server-reflexive address is the default: {offer:?}"
    );
    // B takes the offer (a new ufrag: it restarts too) and answers; A starts its checks.
    world.b.start(world.now, &offer, false).unwrap();
    let answer = world.b.local_description().clone();
    world.a.start(world.now, &answer, true).unwrap();
    assert!(!world.a.restarting());
    assert_eq!(
        world.a.local_description().ufrag,
        offer.ufrag,
        "no second restart"
    );
    let selected = world.a_events.len();
    world.run_until(Duration::from_secs(5), |w| {
        w.a_events[selected..]
            .iter()
            .any(|e| matches!(e, IceEvent::Selected(_)))
            && w.b.connected()
    });
    assert!(world.a.connected() && world.b.connected());
    assert_eq!(
        world.b.selected().map(|p| p.remote.ip()),
        Some("203.0.113.3".parse().unwrap()),
        "B reaches A at its new public address"
    );
}

#[test]
fn consent_expires_while_our_restart_waits_for_its_answer() {
    let (_, mut world) = World::connected(Behaviour::FullCone);
    let stun = world.net.stun;
    world.net.b_gone = true;
    assert!(world.a.restart(world.now, &servers(stun)).unwrap());
    // The re-offer is never answered (B is gone); consent still runs out.
    let took = world.run_until(Duration::from_secs(40), |w| w.a.failure().is_some());
    assert!(
        world
            .a
            .failure()
            .is_some_and(|f| f.contains("consent expired")),
        "{:?} after {took:?}",
        world.a.failure()
    );
    assert!(took <= CONSENT_TIMEOUT + Duration::from_secs(1), "{took:?}");
}
