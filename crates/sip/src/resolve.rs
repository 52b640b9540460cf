//! Locating SIP servers by name (RFC 3263), choosing among SRV records (RFC 2782), sans-IO.
//!
//! The resolver asks questions ([`Query`]: a name and a record type) and is handed the
//! runtime's answers ([`Answer`]); it never touches the network or the clock. A lookup turns a
//! server name (a URI's host, port and transport) into the ordered list of [`Target`]s to try:
//! NAPTR picks the transports and their SRV names, SRV gives hosts and ports by priority and
//! weight, A/AAAA give the addresses (IPv6 and IPv4 interleaved, IPv6 first, RFC 8305). The
//! caller tries them in order and moves to the next on a transport error, a 503 or a timeout
//! (RFC 3263 §4.3). Answers are kept for their TTL.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::transport::{Dest, Transport};

/// A record type the resolver asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordType {
    /// Naming authority pointers: which transports a domain offers (RFC 3403).
    Naptr,
    /// Service records: hosts and ports (RFC 2782).
    Srv,
    /// IPv4 addresses.
    A,
    /// IPv6 addresses.
    Aaaa,
}

/// Names one question put to the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueryId(pub u64);

/// Names one lookup of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LookupId(pub u64);

/// A question for the runtime's DNS client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Which question, for the answer.
    pub id: QueryId,
    /// The name asked about.
    pub name: String,
    /// What is asked.
    pub rtype: RecordType,
}

/// A record in an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A NAPTR record.
    Naptr {
        /// Lower first.
        order: u16,
        /// Lower first among equal orders.
        preference: u16,
        /// `S` for a record whose replacement is an SRV name.
        flags: String,
        /// `SIP+D2U`, `SIP+D2T`, `SIPS+D2T`, …
        services: String,
        /// The SRV name to ask next.
        replacement: String,
    },
    /// An SRV record.
    Srv {
        /// Lower first.
        priority: u16,
        /// Share of the traffic among equal priorities.
        weight: u16,
        /// The port.
        port: u16,
        /// The host (`.` means the service is not offered).
        target: String,
    },
    /// An address (A or AAAA).
    Addr(IpAddr),
}

/// What the runtime found for a [`Query`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Records, and how long they may be kept.
    Records {
        /// The records.
        records: Vec<Record>,
        /// Their time to live.
        ttl: Duration,
    },
    /// The name has no records of that type (NXDOMAIN or no data), for this long.
    Nothing {
        /// How long to believe it.
        ttl: Duration,
    },
    /// No server answered, or it refused: not kept.
    Failed {
        /// What the DNS client said.
        reason: String,
    },
}

/// What to locate: a URI's host, and its port and transport when the URI gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerName {
    /// A domain name or an IP literal.
    pub host: String,
    /// An explicit port (then no NAPTR or SRV is asked, RFC 3263 §4.2).
    pub port: Option<u16>,
    /// An explicit transport (`;transport=`; then no NAPTR is asked).
    pub transport: Option<Transport>,
    /// A `sips:` URI: only TLS will do (RFC 3263 §4.1, RFC 5630).
    pub secure: bool,
}

impl ServerName {
    /// The transport to use when nothing (NAPTR, SRV, the URI) says which.
    #[must_use]
    pub fn default_transport(&self) -> Transport {
        match (self.transport, self.secure) {
            (Some(transport), _) => transport,
            (None, true) => Transport::Tls,
            (None, false) => Transport::Udp,
        }
    }
}

/// The port of a transport when nothing names one (RFC 3261 §19.1.2).
fn default_port(transport: Transport) -> u16 {
    transport.default_port()
}

/// One place to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Where to send.
    pub dest: Dest,
    /// The host name it came from (an SRV target, or the name itself).
    pub host: String,
    /// The SRV name that gave it, when SRV was used.
    pub srv: Option<String>,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.srv {
            Some(srv) => write!(f, "{} ({} from {srv})", self.dest, self.host),
            None => write!(f, "{} ({})", self.dest, self.host),
        }
    }
}

/// Why a name could not be located.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ResolveError {
    /// No NAPTR, SRV or address records for it.
    #[error("{name} does not resolve: no NAPTR, SRV or address records")]
    NotFound {
        /// The name.
        name: String,
    },
    /// The DNS server could not be asked or did not answer.
    #[error("cannot resolve {name}: {reason}")]
    Failed {
        /// The name.
        name: String,
        /// What the DNS client said.
        reason: String,
    },
}

/// What a lookup does next.
#[derive(Debug)]
enum Step {
    Naptr,
    Srv,
    Addr { asked_v6: bool },
}

/// A host to find addresses for.
#[derive(Debug, Clone)]
struct Host {
    name: String,
    port: u16,
    transport: Transport,
    srv: Option<String>,
}

#[derive(Debug)]
struct Lookup {
    server: ServerName,
    step: Step,
    srv_names: VecDeque<(String, Transport)>,
    hosts: VecDeque<Host>,
    /// AAAA answers for the host being resolved, waiting for its A answers.
    v6: Vec<IpAddr>,
    targets: Vec<Target>,
    failure: Option<String>,
}

impl Lookup {
    fn new(server: ServerName) -> Self {
        let mut lookup = Self {
            step: Step::Naptr,
            srv_names: VecDeque::new(),
            hosts: VecDeque::new(),
            v6: Vec::new(),
            targets: Vec::new(),
            failure: None,
            server,
        };
        let host = lookup.server.host.clone();
        let transport = lookup.server.transport;
        if let Some(port) = lookup.server.port {
            // RFC 3263 §4.2: a port means addresses only, over the transport given or UDP
            // (TLS for sips:).
            lookup.hosts.push_back(Host {
                name: host,
                port,
                transport: lookup.server.default_transport(),
                srv: None,
            });
            lookup.step = Step::Addr { asked_v6: false };
        } else if let Some(transport) = transport {
            lookup
                .srv_names
                .push_back((srv_name(&host, transport), transport));
            lookup.step = Step::Srv;
        }
        lookup
    }

    /// The next question, or `None` when the lookup is over.
    fn next_question(&mut self) -> Option<(String, RecordType)> {
        loop {
            match self.step {
                Step::Naptr => return Some((self.server.host.clone(), RecordType::Naptr)),
                Step::Srv => match self.srv_names.front() {
                    Some((name, _)) => return Some((name.clone(), RecordType::Srv)),
                    None => {
                        if self.hosts.is_empty() {
                            // No SRV: the name itself on the default port (RFC 3263 §4.2).
                            let transport = self.server.default_transport();
                            self.hosts.push_back(Host {
                                name: self.server.host.clone(),
                                port: default_port(transport),
                                transport,
                                srv: None,
                            });
                        }
                        self.step = Step::Addr { asked_v6: false };
                    }
                },
                Step::Addr { asked_v6 } => {
                    let host = self.hosts.front()?;
                    let rtype = if asked_v6 {
                        RecordType::A
                    } else {
                        RecordType::Aaaa
                    };
                    return Some((host.name.clone(), rtype));
                }
            }
        }
    }

    /// Takes the answer to the question last asked.
    fn take(&mut self, answer: &Answer, rng: &mut fastrand::Rng) {
        let records: &[Record] = match answer {
            Answer::Records { records, .. } => records,
            Answer::Nothing { .. } => &[],
            Answer::Failed { reason } => {
                self.failure = Some(reason.clone());
                &[]
            }
        };
        match self.step {
            Step::Naptr => {
                self.srv_names = naptr_srv_names(records);
                if self.server.secure {
                    self.srv_names.retain(|(_, t)| *t == Transport::Tls);
                }
                if self.srv_names.is_empty() {
                    // RFC 3263 §4.1: no NAPTR, so SRV for each transport we have (for a
                    // sips: URI, TLS only).
                    let transports: &[Transport] = if self.server.secure {
                        &[Transport::Tls]
                    } else {
                        &[Transport::Udp, Transport::Tcp, Transport::Tls]
                    };
                    for &transport in transports {
                        self.srv_names
                            .push_back((srv_name(&self.server.host, transport), transport));
                    }
                }
                self.step = Step::Srv;
            }
            Step::Srv => {
                let Some((name, transport)) = self.srv_names.pop_front() else {
                    return;
                };
                for (target, port) in order_srv(records, rng) {
                    self.hosts.push_back(Host {
                        name: target,
                        port,
                        transport,
                        srv: Some(name.clone()),
                    });
                }
            }
            Step::Addr { asked_v6: false } => {
                self.v6 = addresses(records);
                self.step = Step::Addr { asked_v6: true };
            }
            Step::Addr { asked_v6: true } => {
                let v4 = addresses(records);
                let v6 = std::mem::take(&mut self.v6);
                if let Some(host) = self.hosts.pop_front() {
                    for ip in interleave(v6, v4) {
                        self.targets.push(Target {
                            dest: Dest {
                                transport: host.transport,
                                addr: SocketAddr::new(ip, host.port),
                            },
                            host: host.name.clone(),
                            srv: host.srv.clone(),
                        });
                    }
                }
                self.step = Step::Addr { asked_v6: false };
            }
        }
    }

    fn finish(self) -> Result<Vec<Target>, ResolveError> {
        let name = self.server.host;
        match (self.targets.is_empty(), self.failure) {
            (false, _) => Ok(self.targets),
            (true, Some(reason)) => Err(ResolveError::Failed { name, reason }),
            (true, None) => Err(ResolveError::NotFound { name }),
        }
    }
}

fn srv_name(host: &str, transport: Transport) -> String {
    match transport {
        Transport::Udp => format!("_sip._udp.{host}"),
        Transport::Tcp => format!("_sip._tcp.{host}"),
        Transport::Tls => format!("_sips._tcp.{host}"),
    }
}

/// The SRV names of the NAPTR records for transports we have, best first (RFC 3263 §4.1).
fn naptr_srv_names(records: &[Record]) -> VecDeque<(String, Transport)> {
    let mut usable: Vec<(u16, u16, String, Transport)> = records
        .iter()
        .filter_map(|r| match r {
            Record::Naptr {
                order,
                preference,
                flags,
                services,
                replacement,
            } if flags.eq_ignore_ascii_case("s") => {
                let transport = match services.to_ascii_uppercase().as_str() {
                    "SIP+D2U" => Transport::Udp,
                    "SIP+D2T" => Transport::Tcp,
                    "SIPS+D2T" => Transport::Tls,
                    _ => return None,
                };
                let name = replacement.trim_end_matches('.').to_owned();
                Some((*order, *preference, name, transport))
            }
            _ => None,
        })
        .collect();
    usable.sort_by_key(|(order, preference, ..)| (*order, *preference));
    usable
        .into_iter()
        .map(|(_, _, name, transport)| (name, transport))
        .collect()
}

/// SRV targets in the order to try them: by priority, and within a priority by weighted
/// random choice (RFC 2782's selection algorithm). A target of `.` is dropped.
fn order_srv(records: &[Record], rng: &mut fastrand::Rng) -> Vec<(String, u16)> {
    let mut srv: Vec<(u16, u16, u16, String)> = records
        .iter()
        .filter_map(|r| match r {
            Record::Srv {
                priority,
                weight,
                port,
                target,
            } if target != "." && !target.is_empty() => Some((
                *priority,
                *weight,
                *port,
                target.trim_end_matches('.').to_owned(),
            )),
            _ => None,
        })
        .collect();
    srv.sort_by_key(|r| r.0);
    let mut ordered = Vec::with_capacity(srv.len());
    let mut start = 0;
    while start < srv.len() {
        let priority = srv[start].0;
        let end = srv[start..]
            .iter()
            .position(|r| r.0 != priority)
            .map_or(srv.len(), |n| start + n);
        // Weight 0 first, as RFC 2782 says, then pick by running sums.
        let mut group: Vec<_> = srv[start..end].to_vec();
        group.sort_by_key(|r| r.1 != 0);
        while !group.is_empty() {
            let total: u32 = group.iter().map(|r| u32::from(r.1)).sum();
            let pick = rng.u32(0..=total);
            let mut sum = 0;
            let index = group
                .iter()
                .position(|r| {
                    sum += u32::from(r.1);
                    sum >= pick
                })
                .unwrap_or(0);
            let (_, _, port, target) = group.remove(index);
            ordered.push((target, port));
        }
        start = end;
    }
    ordered
}

fn addresses(records: &[Record]) -> Vec<IpAddr> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Addr(ip) => Some(*ip),
            _ => None,
        })
        .collect()
}

/// IPv6 and IPv4 alternately, IPv6 first (RFC 8305 §4).
fn interleave(v6: Vec<IpAddr>, v4: Vec<IpAddr>) -> Vec<IpAddr> {
    let mut out = Vec::with_capacity(v6.len() + v4.len());
    let (mut a, mut b) = (v6.into_iter(), v4.into_iter());
    loop {
        match (a.next(), b.next()) {
            (None, None) => return out,
            (x, y) => out.extend(x.into_iter().chain(y)),
        }
    }
}

struct Cached {
    answer: Answer,
    expires: Instant,
}

/// Locates SIP servers: lookups in, questions out, answers in, target lists out.
pub struct Resolver {
    rng: fastrand::Rng,
    cache: HashMap<(String, RecordType), Cached>,
    lookups: HashMap<LookupId, Lookup>,
    asked: HashMap<QueryId, LookupId>,
    questions: VecDeque<Query>,
    done: VecDeque<(LookupId, Result<Vec<Target>, ResolveError>)>,
    next_lookup: u64,
    next_query: u64,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("lookups", &self.lookups.len())
            .field("cached", &self.cache.len())
            .finish_non_exhaustive()
    }
}

impl Resolver {
    /// A resolver whose SRV choices among equal priorities draw from this seed.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(seed),
            cache: HashMap::new(),
            lookups: HashMap::new(),
            asked: HashMap::new(),
            questions: VecDeque::new(),
            done: VecDeque::new(),
            next_lookup: 1,
            next_query: 1,
        }
    }

    /// Starts locating `server`. An IP literal, or a name whose answers are all cached, is
    /// located at once: its result is ready from [`Resolver::poll_resolved`].
    pub fn resolve(&mut self, now: Instant, server: ServerName) -> LookupId {
        let id = LookupId(self.next_lookup);
        self.next_lookup += 1;
        let literal = server
            .host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>();
        if let Ok(ip) = literal {
            let transport = server.default_transport();
            let target = Target {
                dest: Dest {
                    transport,
                    addr: SocketAddr::new(ip, server.port.unwrap_or(default_port(transport))),
                },
                host: server.host,
                srv: None,
            };
            self.done.push_back((id, Ok(vec![target])));
            return id;
        }
        self.lookups.insert(id, Lookup::new(server));
        self.drive(now, id);
        id
    }

    /// The next question to put to DNS.
    pub fn poll_query(&mut self) -> Option<Query> {
        self.questions.pop_front()
    }

    /// The answer to a question; an unknown or stale id is ignored.
    pub fn handle_answer(&mut self, now: Instant, query: &Query, answer: Answer) {
        let Some(lookup) = self.asked.remove(&query.id) else {
            return;
        };
        if let Answer::Records { ttl, .. } | Answer::Nothing { ttl } = &answer {
            self.cache.insert(
                (query.name.to_ascii_lowercase(), query.rtype),
                Cached {
                    answer: answer.clone(),
                    expires: now + *ttl,
                },
            );
        }
        if let Some(state) = self.lookups.get_mut(&lookup) {
            state.take(&answer, &mut self.rng);
            self.drive(now, lookup);
        }
    }

    /// A finished lookup: the targets in the order to try them, or why there are none.
    pub fn poll_resolved(&mut self) -> Option<(LookupId, Result<Vec<Target>, ResolveError>)> {
        self.done.pop_front()
    }

    /// Forgets cached answers that have run out.
    pub fn expire(&mut self, now: Instant) {
        self.cache.retain(|_, c| c.expires > now);
    }

    fn drive(&mut self, now: Instant, id: LookupId) {
        loop {
            let Some(lookup) = self.lookups.get_mut(&id) else {
                return;
            };
            let Some((name, rtype)) = lookup.next_question() else {
                if let Some(lookup) = self.lookups.remove(&id) {
                    self.done.push_back((id, lookup.finish()));
                }
                return;
            };
            let key = (name.to_ascii_lowercase(), rtype);
            match self.cache.get(&key).filter(|c| c.expires > now) {
                Some(cached) => lookup.take(&cached.answer.clone(), &mut self.rng),
                None => {
                    let query = QueryId(self.next_query);
                    self.next_query += 1;
                    self.asked.insert(query, id);
                    self.questions.push_back(Query {
                        id: query,
                        name,
                        rtype,
                    });
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // an arbitrary epoch for virtual time
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(60);

    fn srv(priority: u16, weight: u16, port: u16, target: &str) -> Record {
        Record::Srv {
            priority,
            weight,
            port,
            target: target.to_owned(),
        }
    }

    fn naptr(order: u16, preference: u16, services: &str, replacement: &str) -> Record {
        Record::Naptr {
            order,
            preference,
            flags: "s".to_owned(),
            services: services.to_owned(),
            replacement: replacement.to_owned(),
        }
    }

    fn ip(text: &str) -> Record {
        Record::Addr(text.parse().expect("ip"))
    }

    fn records(records: Vec<Record>) -> Answer {
        Answer::Records { records, ttl: TTL }
    }

    /// A zone: (name, type) → answer. Questions not in it have no records.
    fn answer_all(
        resolver: &mut Resolver,
        now: Instant,
        zone: &[(&str, RecordType, Answer)],
    ) -> Vec<Query> {
        let mut asked = Vec::new();
        while let Some(query) = resolver.poll_query() {
            let answer = zone
                .iter()
                .find(|(name, rtype, _)| *name == query.name && *rtype == query.rtype)
                .map_or(Answer::Nothing { ttl: TTL }, |(_, _, a)| a.clone());
            resolver.handle_answer(now, &query, answer);
            asked.push(query);
        }
        asked
    }

    fn name(host: &str) -> ServerName {
        ServerName {
            host: host.to_owned(),
            port: None,
            transport: None,
            secure: false,
        }
    }

    fn zone() -> Vec<(&'static str, RecordType, Answer)> {
        vec![
            (
                "example.test",
                RecordType::Naptr,
                records(vec![
                    naptr(20, 10, "SIP+D2U", "_sip._udp.example.test."),
                    naptr(10, 10, "SIP+D2T", "_sip._tcp.example.test."),
                    naptr(5, 10, "SIPS+D2T", "_sips._tcp.example.test."),
                ]),
            ),
            (
                "_sip._tcp.example.test",
                RecordType::Srv,
                records(vec![
                    srv(20, 0, 5080, "backup.example.test."),
                    srv(10, 0, 5070, "dead.example.test."),
                ]),
            ),
            (
                "_sip._udp.example.test",
                RecordType::Srv,
                records(vec![srv(10, 0, 5060, "udp.example.test.")]),
            ),
            (
                "_sips._tcp.example.test",
                RecordType::Srv,
                records(vec![srv(10, 0, 5061, "tls.example.test.")]),
            ),
            (
                "tls.example.test",
                RecordType::A,
                records(vec![ip("127.0.0.5")]),
            ),
            (
                "dead.example.test",
                RecordType::A,
                records(vec![ip("127.0.0.1")]),
            ),
            (
                "backup.example.test",
                RecordType::A,
                records(vec![ip("127.0.0.2")]),
            ),
            (
                "udp.example.test",
                RecordType::A,
                records(vec![ip("127.0.0.3")]),
            ),
        ]
    }

    fn resolved(resolver: &mut Resolver) -> Result<Vec<Target>, ResolveError> {
        let (_, result) = resolver.poll_resolved().expect("resolved");
        result
    }

    fn dests(targets: &[Target]) -> Vec<String> {
        targets.iter().map(|t| t.dest.to_string()).collect()
    }

    #[test]
    fn naptr_then_srv_then_addresses_in_naptr_order_and_srv_priority() {
        let now = Instant::now();
        let mut r = Resolver::new(1);
        r.resolve(now, name("example.test"));
        let asked = answer_all(&mut r, now, &zone());
        let targets = resolved(&mut r).expect("found");
        // NAPTR order: SIPS (5) first, then TCP (10), then UDP (20); within TCP, priority 10
        // before 20.
        assert_eq!(
            dests(&targets),
            [
                "tls:127.0.0.5:5061",
                "tcp:127.0.0.1:5070",
                "tcp:127.0.0.2:5080",
                "udp:127.0.0.3:5060"
            ]
        );
        assert_eq!(targets[0].srv.as_deref(), Some("_sips._tcp.example.test"));
        assert_eq!(targets[1].host, "dead.example.test");
        assert_eq!(asked[0].rtype, RecordType::Naptr);
    }

    #[test]
    fn a_sips_uri_takes_tls_targets_only_and_without_srv_port_5061() {
        let now = Instant::now();
        let mut r = Resolver::new(1);
        r.resolve(
            now,
            ServerName {
                secure: true,
                ..name("example.test")
            },
        );
        answer_all(&mut r, now, &zone());
        assert_eq!(
            dests(&resolved(&mut r).expect("tls")),
            ["tls:127.0.0.5:5061"]
        );

        let zone = vec![("bare.test", RecordType::A, records(vec![ip("127.0.0.4")]))];
        r.resolve(
            now,
            ServerName {
                secure: true,
                ..name("bare.test")
            },
        );
        let asked = answer_all(&mut r, now, &zone);
        assert_eq!(dests(&resolved(&mut r).expect("a")), ["tls:127.0.0.4:5061"]);
        // No NAPTR: only the TLS SRV name is asked.
        let srv: Vec<&str> = asked
            .iter()
            .filter(|q| q.rtype == RecordType::Srv)
            .map(|q| q.name.as_str())
            .collect();
        assert_eq!(srv, ["_sips._tcp.bare.test"]);

        // An IP literal in a sips: URI is TLS on 5061.
        r.resolve(
            now,
            ServerName {
                secure: true,
                ..name("192.0.2.7")
            },
        );
        assert_eq!(
            dests(&resolved(&mut r).expect("ip")),
            ["tls:192.0.2.7:5061"]
        );
    }

    #[test]
    fn without_naptr_srv_is_asked_for_each_transport_and_without_srv_the_name_itself() {
        let now = Instant::now();
        let mut r = Resolver::new(1);
        let zone = vec![
            (
                "_sip._tcp.plain.test",
                RecordType::Srv,
                records(vec![srv(0, 0, 5090, "pbx.plain.test")]),
            ),
            (
                "pbx.plain.test",
                RecordType::A,
                records(vec![ip("127.0.0.9")]),
            ),
        ];
        r.resolve(now, name("plain.test"));
        answer_all(&mut r, now, &zone);
        assert_eq!(
            dests(&resolved(&mut r).expect("srv")),
            ["tcp:127.0.0.9:5090"]
        );

        let zone = vec![("bare.test", RecordType::A, records(vec![ip("127.0.0.4")]))];
        r.resolve(now, name("bare.test"));
        answer_all(&mut r, now, &zone);
        assert_eq!(dests(&resolved(&mut r).expect("a")), ["udp:127.0.0.4:5060"]);
    }

    #[test]
    fn a_port_means_addresses_only_and_a_transport_means_its_srv_only() {
        let now = Instant::now();
        let mut r = Resolver::new(1);
        r.resolve(
            now,
            ServerName {
                host: "example.test".to_owned(),
                port: Some(5999),
                transport: Some(Transport::Tcp),
                secure: false,
            },
        );
        let zone = vec![(
            "example.test",
            RecordType::A,
            records(vec![ip("127.0.0.7")]),
        )];
        let asked = answer_all(&mut r, now, &zone);
        assert_eq!(dests(&resolved(&mut r).expect("a")), ["tcp:127.0.0.7:5999"]);
        assert!(
            asked
                .iter()
                .all(|q| matches!(q.rtype, RecordType::A | RecordType::Aaaa))
        );

        r.resolve(
            now,
            ServerName {
                transport: Some(Transport::Udp),
                ..name("example.test")
            },
        );
        let asked = answer_all(&mut r, now, &super::tests::zone());
        assert_eq!(
            dests(&resolved(&mut r).expect("srv")),
            ["udp:127.0.0.3:5060"]
        );
        assert_eq!(asked[0].name, "_sip._udp.example.test");
    }

    #[test]
    fn srv_weights_share_the_first_place_in_proportion() {
        let records = vec![
            srv(10, 60, 1, "a"),
            srv(10, 30, 2, "b"),
            srv(10, 10, 3, "c"),
            srv(20, 100, 4, "later"),
        ];
        let mut rng = fastrand::Rng::with_seed(7);
        let mut first = HashMap::new();
        for _ in 0..10_000 {
            let order = order_srv(&records, &mut rng);
            assert_eq!(order.len(), 4);
            assert_eq!(order[3].0, "later", "a lower priority never comes first");
            *first.entry(order[0].0.clone()).or_insert(0u32) += 1;
        }
        let share = |t: &str| f64::from(first[t]) / 10_000.0;
        assert!((share("a") - 0.6).abs() < 0.03, "{first:?}");
        assert!((share("b") - 0.3).abs() < 0.03, "{first:?}");
        assert!((share("c") - 0.1).abs() < 0.03, "{first:?}");
    }

    #[test]
    fn srv_weight_zero_comes_first_and_a_dot_target_is_no_service() {
        let mut rng = fastrand::Rng::with_seed(3);
        let order = order_srv(&[srv(1, 0, 5, "zero"), srv(1, 0, 6, ".")], &mut rng);
        assert_eq!(order, [("zero".to_owned(), 5)]);
    }

    #[test]
    fn answers_are_kept_for_their_ttl_and_asked_again_after() {
        let start = Instant::now();
        let mut r = Resolver::new(1);
        r.resolve(start, name("example.test"));
        let first = answer_all(&mut r, start, &zone());
        assert!(!first.is_empty());
        resolved(&mut r).expect("found");
        // Within the TTL: no question at all, the result is ready at once.
        r.resolve(start + TTL - Duration::from_secs(1), name("example.test"));
        assert_eq!(r.poll_query(), None);
        assert_eq!(dests(&resolved(&mut r).expect("cached")).len(), 4);
        // After it: asked again.
        let later = start + TTL + Duration::from_secs(1);
        r.expire(later);
        r.resolve(later, name("example.test"));
        let again = answer_all(&mut r, later, &zone());
        assert_eq!(again.len(), first.len());
        resolved(&mut r).expect("found again");
    }

    #[test]
    fn a_name_with_no_records_or_no_server_fails_naming_it() {
        let now = Instant::now();
        let mut r = Resolver::new(1);
        r.resolve(now, name("nowhere.test"));
        answer_all(&mut r, now, &[]);
        let error = resolved(&mut r).expect_err("nothing");
        assert_eq!(
            error.to_string(),
            "nowhere.test does not resolve: no NAPTR, SRV or address records"
        );
        r.resolve(now, name("down.test"));
        while let Some(q) = r.poll_query() {
            let failed = Answer::Failed {
                reason: "connection refused".to_owned(),
            };
            r.handle_answer(now, &q, failed);
        }
        let error = resolved(&mut r).expect_err("failed");
        assert_eq!(
            error.to_string(),
            "cannot resolve down.test: connection refused"
        );
    }

    #[test]
    fn ip_literals_need_no_question_and_v6_and_v4_interleave() {
        let now = Instant::now();
        let mut r = Resolver::new(1);
        r.resolve(
            now,
            ServerName {
                host: "[::1]".to_owned(),
                port: Some(5070),
                transport: None,
                secure: false,
            },
        );
        assert_eq!(r.poll_query(), None);
        assert_eq!(
            dests(&resolved(&mut r).expect("literal")),
            ["udp:[::1]:5070"]
        );

        let zone = vec![
            (
                "dual.test",
                RecordType::Aaaa,
                records(vec![ip("2001:db8::1"), ip("2001:db8::2")]),
            ),
            ("dual.test", RecordType::A, records(vec![ip("192.0.2.1")])),
        ];
        r.resolve(
            now,
            ServerName {
                port: Some(5060),
                ..name("dual.test")
            },
        );
        answer_all(&mut r, now, &zone);
        assert_eq!(
            dests(&resolved(&mut r).expect("dual")),
            [
                "udp:[2001:db8::1]:5060",
                "udp:192.0.2.1:5060",
                "udp:[2001:db8::2]:5060"
            ]
        );
    }
}
