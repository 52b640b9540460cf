//! ICE (RFC 8445) for one call's RTP socket, sans-IO: candidates gathered before the call
//! (host, server-reflexive by STUN, relayed by TURN — RFC 8656 over UDP, TCP or TLS), the connectivity
//! checks and nomination, consent freshness (RFC 7675) and RTCP multiplexed on the one
//! component (RFC 5761).
//!
//! The agent is webrtc-rs's sans-IO `rtc-ice` (a full agent: pair states, triggered checks,
//! role conflicts, nomination by the controlling side), the TURN client its `rtc-turn`. What is
//! ours: gathering on a socket that waits in the pool, the SDP attributes, demultiplexing the
//! one socket between the STUN/TURN server, the peer's checks and the media, and routing media
//! through the selected pair (wrapped for the TURN server when the pair is relayed).

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rtc_crypto::RTCCryptoProvider;
use rtc_ice::agent::agent_config::AgentConfig;
use rtc_ice::agent::{Agent, Event as AgentEvent};
use rtc_ice::candidate::candidate_host::CandidateHostConfig;
use rtc_ice::candidate::candidate_relay::CandidateRelayConfig;
use rtc_ice::candidate::candidate_server_reflexive::CandidateServerReflexiveConfig;
use rtc_ice::candidate::{Candidate, CandidateConfig, CandidateType, unmarshal_candidate};
use rtc_ice::mdns::MulticastDnsMode;
use rtc_ice::network_type::NetworkType;
use rtc_ice::state::ConnectionState;
use rtc_stun::message::TransactionId;
use rtc_turn::client::{Client, ClientConfig, Event as TurnEvent};
use sansio::Protocol;
use shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use thiserror::Error;

/// How often checks are paced while connecting (RFC 8445 §14.2's Ta is 50 ms).
const CHECK_INTERVAL: Duration = Duration::from_millis(50);
/// Checks sent on one pair before it counts as failed (10 s at [`CHECK_INTERVAL`]).
const MAX_CHECKS: u16 = 200;
/// Consent is refreshed this often once connected (RFC 7675 §5.1 asks 4–6 s; we ask oftener,
/// which also keeps NAT bindings open).
const CONSENT_INTERVAL: Duration = Duration::from_secs(2);
/// No answer to consent checks this long: consent has expired (RFC 7675 §5.1: 30 s).
pub const CONSENT_TIMEOUT: Duration = Duration::from_secs(30);
/// No answer this long: the pair is called disconnected (media still goes; consent has not
/// expired yet).
const DISCONNECTED: Duration = Duration::from_secs(5);
/// A pooled socket asks its STUN server again this often, keeping its NAT mapping (and so its
/// server-reflexive candidate) alive.
const REBIND_INTERVAL: Duration = Duration::from_secs(20);
/// Gathering gives up on a server that has not answered by then.
const GATHER_DEADLINE: Duration = Duration::from_secs(5);

/// Why ICE could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IceError {
    /// The agent or TURN client refused its configuration.
    #[error("ICE setup: {0}")]
    Setup(String),
    /// The peer's ICE attributes are not usable.
    #[error("the peer's ICE description: {0}")]
    Remote(String),
}

/// How we reach a TURN server (RFC 8656 §3.1; RFC 7065's `?transport=` and `turns:`). The
/// relayed candidate is UDP whichever it is; TCP and TLS get through firewalls that let no
/// UDP out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TurnTransport {
    /// Datagrams from the call's RTP socket.
    #[default]
    Udp,
    /// A TCP connection per RTP socket (the runtime makes it).
    Tcp,
    /// A TLS connection per RTP socket, the server's certificate checked for its address.
    Tls,
}

impl TurnTransport {
    /// Over a stream (TCP or TLS): the runtime frames what comes back with
    /// [`turn_frame_len`].
    #[must_use]
    pub fn is_stream(self) -> bool {
        self != Self::Udp
    }
}

/// A TURN server and the long-term credentials for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Over what.
    pub transport: TurnTransport,
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
}

/// Where candidates beyond the host's come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IceServers {
    /// A STUN server: the server-reflexive candidate.
    pub stun: Option<SocketAddr>,
    /// A TURN server: the relayed candidate.
    pub turn: Option<TurnServer>,
}

impl IceServers {
    /// The TURN server, when a datagram for `to` is to go down the connection to it (it is
    /// reached over TCP or TLS). A Binding request to the same address is for the STUN
    /// server's side of it (the server-reflexive candidate is a UDP mapping): it goes as a
    /// datagram.
    #[must_use]
    pub fn over_turn_stream(&self, to: SocketAddr, bytes: &[u8]) -> Option<&TurnServer> {
        let turn = self.turn.as_ref()?;
        if turn.addr != to || !turn.transport.is_stream() {
            return None;
        }
        let binding_request = is_stun(bytes) && bytes[..2] == [0x00, 0x01];
        (!(binding_request && self.stun == Some(to))).then_some(turn)
    }
}

/// One side's ICE description as SDP carries it (RFC 8839).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IceDescription {
    /// `a=ice-ufrag`.
    pub ufrag: String,
    /// `a=ice-pwd`.
    pub pwd: String,
    /// `a=candidate` values (component 1 only: RTCP is multiplexed).
    pub candidates: Vec<String>,
    /// `a=ice-lite`.
    pub lite: bool,
    /// The default candidate, for the `c=` and `m=` lines (RFC 8839 §4.2.1.2): ours is the
    /// server-reflexive one when there is one — the most likely to work for a peer without
    /// ICE, which then sends there (a relayed one would be let go with ICE).
    pub default: Option<SocketAddr>,
}

impl IceDescription {
    /// Reads a stream's ICE attributes (session-level ufrag, pwd and ice-lite apply when the
    /// stream has none). `None` when there is no ufrag and pwd: the peer does not do ICE.
    #[must_use]
    pub fn read<'a>(
        media: impl Iterator<Item = (&'a str, Option<&'a str>)> + Clone,
        session: impl Iterator<Item = (&'a str, Option<&'a str>)> + Clone,
    ) -> Option<Self> {
        let find = |name: &str| {
            media
                .clone()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .or_else(|| session.clone().find(|(n, _)| n.eq_ignore_ascii_case(name)))
                .map(|(_, v)| v.unwrap_or("").trim().to_owned())
        };
        let ufrag = find("ice-ufrag").filter(|u| !u.is_empty())?;
        let pwd = find("ice-pwd").filter(|p| !p.is_empty())?;
        let candidates = media
            .clone()
            .filter(|(n, _)| n.eq_ignore_ascii_case("candidate"))
            .filter_map(|(_, v)| v.map(|v| v.trim().to_owned()))
            .collect();
        Some(Self {
            ufrag,
            pwd,
            candidates,
            lite: find("ice-lite").is_some(),
            default: None,
        })
    }
}

/// A peer's `a=candidate` value, checked: component 1 or 2, a literal IP address (no mDNS
/// name), UDP, a known type. `Ok(None)` for a candidate we do not use (component 2, TCP).
///
/// # Errors
/// When the value does not parse as a candidate.
pub fn parse_candidate(value: &str) -> Result<Option<Candidate>, IceError> {
    let fields: Vec<&str> = value.split_whitespace().collect();
    let [_, component, transport, _, address, _, typ_word, ..] = fields.as_slice() else {
        return Err(IceError::Remote(format!("a short candidate: {value:?}")));
    };
    if !typ_word.eq_ignore_ascii_case("typ") {
        return Err(IceError::Remote(format!(
            "no \"typ\" in the candidate {value:?}"
        )));
    }
    if address.parse::<std::net::IpAddr>().is_err() {
        // An mDNS name (RFC 8839 §5.1 allows FQDNs; we resolve none on the media path).
        return Ok(None);
    }
    if *component != "1" || !transport.eq_ignore_ascii_case("udp") {
        return Ok(None);
    }
    unmarshal_candidate(value)
        .map(Some)
        .map_err(|e| IceError::Remote(format!("candidate {value:?}: {e}")))
}

fn provider() -> Result<Arc<dyn RTCCryptoProvider>, IceError> {
    rtc_crypto::default_provider().map_err(|e| IceError::Setup(e.to_string()))
}

fn tagged(now: Instant, local: SocketAddr, peer: SocketAddr, bytes: &[u8]) -> TaggedBytesMut {
    TaggedBytesMut {
        now,
        transport: TransportContext {
            local_addr: local,
            peer_addr: peer,
            ecn: None,
            transport_protocol: TransportProtocol::UDP,
        },
        message: BytesMut::from(bytes),
    }
}

/// Whether a datagram is a STUN message (RFC 7983: first byte 0–3, the magic cookie).
#[must_use]
pub fn is_stun(bytes: &[u8]) -> bool {
    bytes.len() >= 20 && bytes[0] < 4 && bytes[4..8] == [0x21, 0x12, 0xA4, 0x42]
}

/// How long the message at the start of a TURN stream is (RFC 8656 §12.5): a STUN message
/// (20-byte header and its length) or ChannelData (4-byte header and its length, padded to 4
/// bytes over a stream). `Ok(None)`: more bytes are needed to tell; `Err`: the stream carries
/// something else and cannot be read on.
///
/// # Errors
/// When the first byte starts neither a STUN message nor ChannelData.
pub fn turn_frame_len(buffer: &[u8]) -> Result<Option<usize>, IceError> {
    if buffer.len() < 4 {
        return Ok(None);
    }
    let length = usize::from(u16::from_be_bytes([buffer[2], buffer[3]]));
    match buffer[0] >> 6 {
        0 => Ok(Some(20 + length)),
        1 => Ok(Some(4 + length.next_multiple_of(4))),
        _ => Err(IceError::Remote(format!(
            "the TURN server's stream carries neither STUN nor ChannelData (first byte {:#04x})",
            buffer[0]
        ))),
    }
}

/// Candidates being gathered for one RTP socket waiting in the pool: a STUN Binding for its
/// server-reflexive address and a TURN allocation for its relayed one.
pub struct Gatherer {
    local: SocketAddr,
    servers: IceServers,
    client: Option<Client>,
    srflx: Option<SocketAddr>,
    relay: Option<SocketAddr>,
    binding: Option<TransactionId>,
    allocation: Option<TransactionId>,
    started: Instant,
    next_binding: Option<Instant>,
    problems: Vec<String>,
}

impl fmt::Debug for Gatherer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gatherer")
            .field("local", &self.local)
            .field("srflx", &self.srflx)
            .field("relay", &self.relay)
            .field("done", &self.done())
            .finish_non_exhaustive()
    }
}

impl Gatherer {
    /// Starts gathering for the socket bound at `local`.
    ///
    /// # Errors
    /// When the TURN client refuses its configuration.
    pub fn new(now: Instant, local: SocketAddr, servers: &IceServers) -> Result<Self, IceError> {
        let same_family = |a: &SocketAddr| a.is_ipv4() == local.is_ipv4();
        let stun = servers.stun.filter(same_family);
        let turn = servers.turn.clone().filter(|t| same_family(&t.addr));
        let mut gatherer = Self {
            local,
            servers: IceServers {
                stun,
                turn: turn.clone(),
            },
            client: None,
            srflx: None,
            relay: None,
            binding: None,
            allocation: None,
            started: now,
            next_binding: None,
            problems: Vec::new(),
        };
        if stun.is_none() && turn.is_none() {
            return Ok(gatherer);
        }
        let config = ClientConfig {
            stun_serv_addr: stun.map(|s| s.to_string()).unwrap_or_default(),
            turn_serv_addr: turn
                .as_ref()
                .map(|t| t.addr.to_string())
                .unwrap_or_default(),
            local_addr: local,
            // Over a stream a request is sent once (no retransmissions: RFC 8489 §6.2.2).
            transport_protocol: match turn.as_ref().map(|t| t.transport) {
                Some(TurnTransport::Tcp | TurnTransport::Tls) => TransportProtocol::TCP,
                _ => TransportProtocol::UDP,
            },
            username: turn
                .as_ref()
                .map(|t| t.username.clone())
                .unwrap_or_default(),
            password: turn
                .as_ref()
                .map(|t| t.password.clone())
                .unwrap_or_default(),
            realm: String::new(),
            software: String::new(),
            rto_in_ms: 0,
            allocation_refresh_interval_cap: None,
        };
        let mut client =
            Client::new(config, provider()?).map_err(|e| IceError::Setup(e.to_string()))?;
        if stun.is_some() {
            gatherer.binding = client.send_binding_request(now).ok();
        }
        if turn.is_some() {
            gatherer.allocation = client.allocate(now).ok();
        }
        gatherer.client = Some(client);
        Ok(gatherer)
    }

    /// The socket it gathers for.
    #[must_use]
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// The server-reflexive address learned.
    #[must_use]
    pub fn srflx(&self) -> Option<SocketAddr> {
        self.srflx
    }

    /// The relayed address allocated.
    #[must_use]
    pub fn relay(&self) -> Option<SocketAddr> {
        self.relay
    }

    /// Every server has answered (or failed, or was given up on).
    #[must_use]
    pub fn done(&self) -> bool {
        self.binding.is_none() && self.allocation.is_none()
    }

    /// What went wrong with the servers (an unanswered or refused request).
    #[must_use]
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    fn is_server(&self, from: SocketAddr) -> bool {
        self.servers.stun == Some(from) || self.servers.turn.as_ref().map(|t| t.addr) == Some(from)
    }

    /// A datagram on the socket: `true` when it came from a server and was taken. Data a TURN
    /// server relays from a peer comes back as `(peer, bytes)` through `relayed`.
    pub fn handle(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
        relayed: &mut VecDeque<(SocketAddr, Vec<u8>)>,
    ) -> bool {
        if !self.is_server(from) {
            return false;
        }
        let Some(client) = self.client.as_mut() else {
            return false;
        };
        if let Err(e) = client.handle_read(tagged(now, self.local, from, bytes)) {
            tracing::debug!(%from, error = %e, "a datagram from the STUN/TURN server was not taken");
        }
        self.events(now, relayed);
        true
    }

    fn events(&mut self, now: Instant, relayed: &mut VecDeque<(SocketAddr, Vec<u8>)>) {
        let Some(client) = self.client.as_mut() else {
            return;
        };
        while let Some(event) = client.poll_event() {
            match event {
                TurnEvent::BindingResponse(id, mapped) => {
                    if self.binding == Some(id) {
                        self.binding = None;
                    }
                    self.srflx = Some(mapped);
                    self.next_binding = Some(now + REBIND_INTERVAL);
                }
                TurnEvent::BindingError(id, e) => {
                    if self.binding == Some(id) {
                        self.binding = None;
                    }
                    self.problems.push(format!("STUN binding: {e}"));
                }
                TurnEvent::AllocateResponse(_, relay) => {
                    self.allocation = None;
                    self.relay = Some(relay);
                }
                TurnEvent::AllocateError(_, e) => {
                    self.allocation = None;
                    self.problems.push(format!("TURN allocation: {e}"));
                }
                TurnEvent::TransactionTimeout(id) => {
                    if self.binding == Some(id) {
                        self.binding = None;
                        self.problems.push("STUN binding: no answer".to_owned());
                    } else if self.allocation.is_some() {
                        self.allocation = None;
                        self.problems.push("TURN allocation: no answer".to_owned());
                    }
                }
                TurnEvent::DataIndicationOrChannelData(_, peer, data) => {
                    relayed.push_back((peer, data.to_vec()));
                }
                _ => {}
            }
        }
    }

    /// Time passed: retransmissions, allocation refreshes, and while pooled a new Binding now
    /// and then (the NAT mapping must not lapse before a call uses it).
    pub fn handle_timeout(&mut self, now: Instant, relayed: &mut VecDeque<(SocketAddr, Vec<u8>)>) {
        if now >= self.started + GATHER_DEADLINE {
            if self.binding.take().is_some() {
                self.problems.push("STUN binding: no answer".to_owned());
            }
            if self.allocation.take().is_some() {
                self.problems.push("TURN allocation: no answer".to_owned());
            }
        }
        let Some(client) = self.client.as_mut() else {
            return;
        };
        let _ = client.handle_timeout(now);
        if self.next_binding.is_some_and(|at| at <= now) && self.binding.is_none() {
            self.next_binding = Some(now + REBIND_INTERVAL);
            let _ = client.send_binding_request(now);
        }
        self.events(now, relayed);
    }

    /// When it next wants [`Gatherer::handle_timeout`].
    #[must_use]
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let client = self.client.as_mut()?;
        let mut at = client.poll_timeout();
        for extra in [
            self.next_binding,
            (!self.done()).then_some(self.started + GATHER_DEADLINE),
        ]
        .into_iter()
        .flatten()
        {
            at = Some(at.map_or(extra, |a| a.min(extra)));
        }
        at
    }

    /// Releases the TURN allocation (a Refresh with lifetime 0, RFC 8656 §7).
    pub fn release(&mut self, now: Instant) {
        if let (Some(relay), Some(client)) = (self.relay, self.client.as_mut())
            && let Ok(mut allocation) = client.relay(relay)
        {
            let _ = allocation.close(now);
        }
    }

    /// The next datagram for a server.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        let out = self.client.as_mut()?.poll_write()?;
        Some((out.transport.peer_addr, out.message.to_vec()))
    }
}

/// How one call's media crosses the network: the agent, its candidates and the pair chosen.
pub struct IceStream {
    gatherer: Gatherer,
    agent: Agent,
    local: IceDescription,
    started: bool,
    controlling: bool,
    remote_ufrag: Option<String>,
    selected: Option<Pair>,
    state: ConnectionState,
    failed: Option<String>,
    relayed: VecDeque<(SocketAddr, Vec<u8>)>,
    inbound: VecDeque<(SocketAddr, Vec<u8>)>,
    events: VecDeque<IceEvent>,
    permitted: Vec<SocketAddr>,
    now: Instant,
    /// When the selected pair's peer last answered one of our checks (RFC 7675 consent: a
    /// peer that only sends, and never answers, has not consented).
    consented: Option<Instant>,
    /// Our own restart: the socket gathering anew (the old servers' answers may still come).
    regathering: Option<Gatherer>,
    /// Our restart's description has been offered: the answer's credentials are the peer's
    /// new ones, whatever they are.
    restart_offered: bool,
}

/// The candidate pair that carries the media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// Our candidate's type (`host`, `srflx`, `prflx`, `relay`).
    pub local_type: String,
    /// Our candidate's address.
    pub local: SocketAddr,
    /// The peer's candidate's type.
    pub remote_type: String,
    /// The peer's candidate's address: where the media goes.
    pub remote: SocketAddr,
}

impl fmt::Display for Pair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} -> {} {}",
            self.local_type, self.local, self.remote_type, self.remote
        )
    }
}

/// What the ICE side of a stream noticed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IceEvent {
    /// A pair was selected (or another one replaced it): media flows on it.
    Selected(Pair),
    /// The pair stopped answering (5 s without an answer to a check): a controlling agent
    /// may restart ICE before consent expires.
    Disconnected,
    /// Our restart has its new credentials and candidates
    /// ([`IceStream::local_description`]): offer them.
    Restarted,
    /// ICE failed, or consent expired: nothing can be sent any more.
    Failed(String),
}

impl fmt::Debug for IceStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IceStream")
            .field("gatherer", &self.gatherer)
            .field("state", &self.state)
            .field("selected", &self.selected)
            .finish_non_exhaustive()
    }
}

fn type_name(t: CandidateType) -> &'static str {
    match t {
        CandidateType::Host => "host",
        CandidateType::ServerReflexive => "srflx",
        CandidateType::PeerReflexive => "prflx",
        CandidateType::Relay => "relay",
        _ => "unknown",
    }
}

/// Puts what `gatherer` found into `agent` as our candidates (host, and srflx and relay when
/// found); their `a=candidate` values.
fn add_local_candidates(agent: &mut Agent, gatherer: &Gatherer) -> Result<Vec<String>, IceError> {
    let host = gatherer.local;
    let base = |addr: SocketAddr| CandidateConfig {
        network: "udp".to_owned(),
        address: addr.ip().to_string(),
        port: addr.port(),
        component: 1,
        ..CandidateConfig::default()
    };
    let mut candidates = vec![
        CandidateHostConfig {
            base_config: base(host),
            ..CandidateHostConfig::default()
        }
        .new_candidate_host(),
    ];
    if let Some(srflx) = gatherer.srflx.filter(|s| *s != host) {
        candidates.push(
            CandidateServerReflexiveConfig {
                base_config: base(srflx),
                rel_addr: host.ip().to_string(),
                rel_port: host.port(),
                url: None,
            }
            .new_candidate_server_reflexive(),
        );
    }
    if let Some(relay) = gatherer.relay {
        candidates.push(
            CandidateRelayConfig {
                base_config: base(relay),
                rel_addr: gatherer.srflx.unwrap_or(host).ip().to_string(),
                rel_port: gatherer.srflx.unwrap_or(host).port(),
                url: None,
            }
            .new_candidate_relay(),
        );
    }
    let mut lines = Vec::new();
    for candidate in candidates {
        let candidate = candidate.map_err(|e| IceError::Setup(e.to_string()))?;
        lines.push(candidate.marshal());
        agent
            .add_local_candidate(candidate)
            .map_err(|e| IceError::Setup(e.to_string()))?;
    }
    Ok(lines)
}

impl IceStream {
    /// An agent over what `gatherer` found (host, and srflx and relay when found), with fresh
    /// credentials.
    ///
    /// # Errors
    /// When the agent refuses its configuration or a candidate.
    pub fn new(now: Instant, gatherer: Gatherer) -> Result<Self, IceError> {
        let config = AgentConfig {
            multicast_dns_mode: MulticastDnsMode::Disabled,
            candidate_types: vec![
                CandidateType::Host,
                CandidateType::ServerReflexive,
                CandidateType::PeerReflexive,
                CandidateType::Relay,
            ],
            network_types: vec![NetworkType::Udp4, NetworkType::Udp6],
            check_interval: CHECK_INTERVAL,
            // A pair is given up after this many checks: 10 s of them. A peer that checks its
            // pairs one after another (libre does, retransmitting each for seconds) reaches our
            // relayed candidate late, and only its check opens its NAT to ours; the agent does
            // not re-check a pair it has failed when the peer's check arrives.
            max_binding_requests: Some(MAX_CHECKS),
            keepalive_interval: Some(CONSENT_INTERVAL),
            // The agent fails this long after disconnected: 30 s in all (RFC 7675 §5.1).
            disconnected_timeout: Some(DISCONNECTED),
            failed_timeout: Some(CONSENT_TIMEOUT - DISCONNECTED),
            // The controlled side's acceptance waits only matter for the controlling side's
            // choice; a relayed pair is taken 300 ms after it works, not 2 s.
            srflx_acceptance_min_wait: Some(Duration::from_millis(100)),
            prflx_acceptance_min_wait: Some(Duration::from_millis(200)),
            relay_acceptance_min_wait: Some(Duration::from_millis(300)),
            ..AgentConfig::default()
        };
        let mut agent = Agent::new(now, Arc::new(config), provider()?)
            .map_err(|e| IceError::Setup(e.to_string()))?;
        let lines = add_local_candidates(&mut agent, &gatherer)?;
        let credentials = agent.get_local_credentials();
        let local = IceDescription {
            ufrag: credentials.ufrag.clone(),
            pwd: credentials.pwd.clone(),
            candidates: lines,
            lite: false,
            default: gatherer.srflx,
        };
        Ok(Self {
            gatherer,
            agent,
            local,
            started: false,
            controlling: false,
            remote_ufrag: None,
            selected: None,
            state: ConnectionState::New,
            failed: None,
            relayed: VecDeque::new(),
            inbound: VecDeque::new(),
            events: VecDeque::new(),
            permitted: Vec::new(),
            now,
            consented: None,
            regathering: None,
            restart_offered: false,
        })
    }

    /// The last instant it was told of.
    #[must_use]
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Our description for the SDP.
    #[must_use]
    pub fn local_description(&self) -> &IceDescription {
        &self.local
    }

    /// The RTP socket it runs on.
    #[must_use]
    pub fn socket(&self) -> SocketAddr {
        self.gatherer.local
    }

    /// Restarts ICE ourselves (RFC 8445 §9) when the network changed or the pair stopped
    /// answering: the TURN allocation is let go (a server keeps one per client 5-tuple), the
    /// socket gathers anew from `servers`, and once it has, the agent takes new credentials and
    /// the new candidates and [`IceEvent::Restarted`] asks for a re-offer carrying them. Media
    /// goes on over the old pair meanwhile (it may still work). `Ok(false)`: nothing to do —
    /// the checks never started, ICE failed, or a restart is under way.
    ///
    /// # Errors
    /// When the TURN client or the agent refuses its configuration.
    pub fn restart(&mut self, now: Instant, servers: &IceServers) -> Result<bool, IceError> {
        self.restart_on(now, servers, self.gatherer.local)
    }

    /// Restarts ICE on another socket, `local` (the one it ran on lost its address: the host
    /// left that network): as [`IceStream::restart`], but the new candidates are gathered on
    /// `local`, and a restart already under way on the old socket gives way to it. Once the
    /// restart is offered, [`IceStream::socket`] is `local`.
    ///
    /// # Errors
    /// As [`IceStream::restart`].
    pub fn restart_on(
        &mut self,
        now: Instant,
        servers: &IceServers,
        local: SocketAddr,
    ) -> Result<bool, IceError> {
        self.now = now;
        let moving = local != self.gatherer.local;
        if !self.started
            || self.failed.is_some()
            || (!moving && (self.regathering.is_some() || self.restart_offered))
        {
            return Ok(false);
        }
        if let Some(mut abandoned) = self.regathering.take() {
            abandoned.release(now);
        }
        self.restart_offered = false;
        self.gatherer.release(now);
        self.regathering = Some(Gatherer::new(now, local, servers)?);
        tracing::info!(socket = %local, moving, "ICE restart: gathering anew");
        self.finish_restart(now)?;
        Ok(true)
    }

    /// Our restart is under way (gathering, or offered and not answered yet).
    #[must_use]
    pub fn restarting(&self) -> bool {
        self.regathering.is_some() || self.restart_offered
    }

    /// Once the socket has gathered anew: new credentials and candidates for the agent, and
    /// the event that has them offered.
    fn finish_restart(&mut self, now: Instant) -> Result<(), IceError> {
        if !self.regathering.as_ref().is_some_and(Gatherer::done) {
            return Ok(());
        }
        if let Some(gatherer) = self.regathering.take() {
            // The old client's last words (the release) have gone out with the last poll.
            self.gatherer = gatherer;
        }
        self.agent
            .restart(now, String::new(), String::new(), false)
            .map_err(|e| IceError::Setup(e.to_string()))?;
        let candidates = add_local_candidates(&mut self.agent, &self.gatherer)?;
        let credentials = self.agent.get_local_credentials();
        self.local = IceDescription {
            ufrag: credentials.ufrag.clone(),
            pwd: credentials.pwd.clone(),
            candidates,
            lite: false,
            default: self.gatherer.srflx,
        };
        self.permitted.clear();
        self.restart_offered = true;
        self.events.push_back(IceEvent::Restarted);
        Ok(())
    }

    fn restart_failed(&mut self, error: &IceError) {
        tracing::warn!(error = %error, "ICE restart failed");
        self.regathering = None;
        self.restart_offered = false;
    }

    /// Starts the checks against the peer's description. The offerer controls (RFC 8445
    /// §6.1.1), unless it is a lite agent: then the full agent does. A description with new
    /// credentials restarts ICE (RFC 8445 §9).
    ///
    /// # Errors
    /// When the peer's credentials or every one of its candidates are unusable.
    pub fn start(
        &mut self,
        now: Instant,
        remote: &IceDescription,
        we_offered: bool,
    ) -> Result<(), IceError> {
        self.now = now;
        if std::mem::take(&mut self.restart_offered) {
            // The answer to our restart: the agent has its new credentials already; the
            // peer's are new (RFC 8445 §9 — and should a peer keep its old ones, checks with
            // them are what it can answer).
            self.add_remote(remote);
            return self.check_against(now, remote);
        }
        if self.remote_ufrag.as_deref() == Some(remote.ufrag.as_str()) {
            // The same ICE session (a re-INVITE for hold, say): candidates may be new.
            self.add_remote(remote);
            return Ok(());
        }
        if self.started {
            self.agent
                .restart(now, String::new(), String::new(), true)
                .map_err(|e| IceError::Setup(e.to_string()))?;
            let credentials = self.agent.get_local_credentials();
            self.local.ufrag = credentials.ufrag.clone();
            self.local.pwd = credentials.pwd.clone();
            self.selected = None;
            self.failed = None;
        }
        self.controlling = we_offered || remote.lite;
        let added = self.add_remote(remote);
        if added == 0 && !remote.candidates.is_empty() {
            return Err(IceError::Remote(
                "none of its candidates is usable (UDP, component 1, an IP address)".to_owned(),
            ));
        }
        self.check_against(now, remote)?;
        self.started = true;
        Ok(())
    }

    /// Starts the checks with the peer's credentials.
    fn check_against(&mut self, now: Instant, remote: &IceDescription) -> Result<(), IceError> {
        self.agent
            .start_connectivity_checks(
                now,
                self.controlling,
                remote.ufrag.clone(),
                remote.pwd.clone(),
            )
            .map_err(|e| IceError::Remote(e.to_string()))?;
        self.remote_ufrag = Some(remote.ufrag.clone());
        self.after(now);
        Ok(())
    }

    fn add_remote(&mut self, remote: &IceDescription) -> usize {
        let mut added = 0;
        for line in &remote.candidates {
            match parse_candidate(line) {
                Ok(Some(candidate)) => {
                    let peer = candidate.addr();
                    let known = self
                        .agent
                        .get_remote_candidates()
                        .iter()
                        .any(|c| c.addr() == peer);
                    if known {
                        added += 1;
                        continue;
                    }
                    if self.agent.add_remote_candidate(candidate).is_ok() {
                        added += 1;
                        self.permit(peer);
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::debug!(error = %e, "a candidate of the peer is skipped"),
            }
        }
        added
    }

    /// Lets the TURN server relay to and from `peer` (RFC 8656 §9).
    fn permit(&mut self, peer: SocketAddr) {
        let Some(relay) = self.gatherer.relay else {
            return;
        };
        if self.permitted.contains(&peer) || peer.is_ipv4() != relay.is_ipv4() {
            return;
        }
        if let Some(client) = self.gatherer.client.as_mut()
            && let Ok(mut allocation) = client.relay(relay)
            && allocation.create_permission(self.now, peer).is_ok()
        {
            self.permitted.push(peer);
        }
    }

    /// ICE is running (the peer does ICE too).
    #[must_use]
    pub fn started(&self) -> bool {
        self.started
    }

    /// We are the controlling agent.
    #[must_use]
    pub fn controlling(&self) -> bool {
        self.controlling
    }

    /// The pair carrying the media.
    #[must_use]
    pub fn selected(&self) -> Option<&Pair> {
        self.selected.as_ref()
    }

    /// Why ICE failed (no pair worked, or consent expired).
    #[must_use]
    pub fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// Media may flow: a pair is selected and consent holds.
    #[must_use]
    pub fn connected(&self) -> bool {
        self.selected.is_some() && self.failed.is_none()
    }

    /// A datagram on the socket. STUN and TURN traffic is taken; media (straight from the
    /// peer, or unwrapped from the TURN server) comes out of [`IceStream::poll_inbound`].
    pub fn handle(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.now = now;
        if let Some(regathering) = self.regathering.as_mut()
            && regathering.handle(now, from, bytes, &mut VecDeque::new())
        {
            if let Err(e) = self.finish_restart(now) {
                self.restart_failed(&e);
            }
            return;
        }
        let mut relayed = std::mem::take(&mut self.relayed);
        if self.gatherer.handle(now, from, bytes, &mut relayed) {
            while let Some((peer, data)) = relayed.pop_front() {
                match self.gatherer.relay {
                    Some(relay) if is_stun(&data) => self.check(now, relay, peer, &data),
                    _ => self.inbound.push_back((peer, data)),
                }
            }
        } else if is_stun(bytes) {
            let local = self.gatherer.local;
            self.check(now, local, from, bytes);
        } else {
            self.inbound.push_back((from, bytes.to_vec()));
        }
        self.relayed = relayed;
        self.after(now);
    }

    fn check(&mut self, now: Instant, local: SocketAddr, from: SocketAddr, bytes: &[u8]) {
        if !self.started {
            return;
        }
        if bytes[..2] == [0x01, 0x01] && self.selected.as_ref().is_some_and(|p| p.remote == from) {
            // A Binding success response from the peer on the selected pair.
            self.consented = Some(now);
        }
        if let Err(e) = self.agent.handle_read(tagged(now, local, from, bytes)) {
            tracing::trace!(%from, error = %e, "a STUN message was not taken by ICE");
        }
        // A peer-reflexive candidate learned from its check needs a permission too.
        let peers: Vec<SocketAddr> = self
            .agent
            .get_remote_candidates()
            .iter()
            .map(Candidate::addr)
            .collect();
        for peer in peers {
            self.permit(peer);
        }
    }

    /// Media that arrived: `(from, bytes)`.
    pub fn poll_inbound(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.inbound.pop_front()
    }

    /// Sends a media datagram on the selected pair; dropped while none is (or consent failed).
    pub fn send(&mut self, bytes: &[u8]) -> Option<(SocketAddr, Vec<u8>)> {
        let pair = self.selected.as_ref().filter(|_| self.failed.is_none())?;
        let remote = pair.remote;
        if pair.local_type == "relay" {
            let relay = self.gatherer.relay?;
            let client = self.gatherer.client.as_mut()?;
            let mut allocation = client.relay(relay).ok()?;
            if let Err(e) = allocation.send_to(self.now, bytes, remote) {
                tracing::trace!(error = %e, "media through the TURN server not sent");
            }
            return self.gatherer.poll_transmit();
        }
        Some((remote, bytes.to_vec()))
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        let mut relayed = std::mem::take(&mut self.relayed);
        self.gatherer.handle_timeout(now, &mut relayed);
        self.relayed = relayed;
        if let Some(regathering) = self.regathering.as_mut() {
            regathering.handle_timeout(now, &mut VecDeque::new());
            if let Err(e) = self.finish_restart(now) {
                self.restart_failed(&e);
            }
        }
        if self.started && self.agent.poll_timeout().is_some_and(|at| at <= now) {
            let _ = self.agent.handle_timeout(now);
        }
        self.after(now);
        if self.failed.is_none()
            && self
                .consented
                .is_some_and(|at| now.saturating_duration_since(at) > CONSENT_TIMEOUT)
        {
            let why = "consent expired: the peer stopped answering (RFC 7675)";
            self.failed = Some(why.to_owned());
            self.events.push_back(IceEvent::Failed(why.to_owned()));
        }
    }

    /// When it next wants [`IceStream::handle_timeout`].
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let agent = if self.started {
            self.agent.poll_timeout()
        } else {
            None
        };
        let regathering = self.regathering.as_mut().and_then(Gatherer::poll_timeout);
        // Consent runs out on its own clock: the agent may have nothing to time (a restart
        // offered, not answered yet).
        let consent = self
            .consented
            .filter(|_| self.failed.is_none())
            .map(|at| at + CONSENT_TIMEOUT + Duration::from_millis(1));
        [agent, self.gatherer.poll_timeout(), regathering, consent]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next datagram to send: checks, responses, TURN requests.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        if let Some(out) = self.gatherer.poll_transmit() {
            return Some(out);
        }
        if let Some(out) = self.regathering.as_mut().and_then(Gatherer::poll_transmit) {
            return Some(out);
        }
        while let Some(out) = self.agent.poll_write() {
            let local = out.transport.local_addr;
            let peer = out.transport.peer_addr;
            if Some(local) == self.gatherer.relay {
                // A check from our relayed candidate goes through the TURN server.
                let Some(client) = self.gatherer.client.as_mut() else {
                    continue;
                };
                if let Ok(mut allocation) = client.relay(local) {
                    let _ = allocation.send_to(self.now, &out.message, peer);
                }
                if let Some(wrapped) = self.gatherer.poll_transmit() {
                    return Some(wrapped);
                }
                continue;
            }
            return Some((peer, out.message.to_vec()));
        }
        None
    }

    /// What happened since last asked.
    pub fn poll_event(&mut self) -> Option<IceEvent> {
        self.events.pop_front()
    }

    fn after(&mut self, now: Instant) {
        while let Some(event) = self.agent.poll_event() {
            match event.event {
                AgentEvent::ConnectionStateChange(state) => {
                    if state == ConnectionState::Disconnected
                        && self.state == ConnectionState::Connected
                    {
                        self.events.push_back(IceEvent::Disconnected);
                    }
                    self.state = state;
                    if state == ConnectionState::Failed && self.failed.is_none() {
                        let why = if self.selected.is_some() {
                            "consent expired: the peer stopped answering (RFC 7675)"
                        } else {
                            "no candidate pair worked"
                        };
                        self.failed = Some(why.to_owned());
                        self.events.push_back(IceEvent::Failed(why.to_owned()));
                    }
                }
                AgentEvent::SelectedCandidatePairChange(local, remote) => {
                    let local_type = if Some(local.addr()) == self.gatherer.relay {
                        "relay"
                    } else {
                        type_name(local.candidate_type())
                    };
                    let pair = Pair {
                        local_type: local_type.to_owned(),
                        local: local.addr(),
                        remote_type: type_name(remote.candidate_type()).to_owned(),
                        remote: remote.addr(),
                    };
                    tracing::info!(%pair, "ICE selected a pair");
                    self.consented = Some(now);
                    self.selected = Some(pair.clone());
                    self.events.push_back(IceEvent::Selected(pair));
                }
                _ => {}
            }
        }
    }

    /// Ends it: the TURN allocation is released (a Refresh with lifetime 0).
    pub fn close(&mut self) {
        self.gatherer.release(self.now);
        if let Some(regathering) = self.regathering.as_mut() {
            regathering.release(self.now);
        }
        let _ = self.agent.close();
    }
}

#[cfg(test)]
mod tests;
