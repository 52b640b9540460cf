//! The DNS client: answers the sans-IO resolver's questions ([`sip::Query`]) with
//! hickory-resolver, from the system's resolver configuration or the `[dns] servers` given.
//! Which records to ask for next, SRV selection and caching by TTL are the sip crate's
//! (`sip::Resolver`); this only asks and reports.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use thiserror::Error;

/// How long an answer of "no such records" is believed when the server gives no TTL for it.
const NEGATIVE_TTL: Duration = Duration::from_secs(30);

/// The DNS client could not be set up.
#[derive(Debug, Error)]
#[error("cannot set up DNS: {0}")]
pub struct DnsError(String);

/// Asks DNS servers.
#[derive(Clone)]
pub struct Dns {
    resolver: Arc<TokioResolver>,
}

impl std::fmt::Debug for Dns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dns")
    }
}

impl Dns {
    /// A client of these servers (`IP:PORT`), or of the system's when none are given.
    ///
    /// # Errors
    /// The system's resolver configuration cannot be read.
    pub fn new(servers: &[SocketAddr]) -> Result<Self, DnsError> {
        let builder = if servers.is_empty() {
            TokioResolver::builder_tokio().map_err(|e| DnsError(e.to_string()))?
        } else {
            let name_servers = servers
                .iter()
                .map(|server| {
                    let mut config = NameServerConfig::udp_and_tcp(server.ip());
                    for connection in &mut config.connections {
                        connection.port = server.port();
                    }
                    config
                })
                .collect();
            TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, Vec::new(), name_servers),
                TokioRuntimeProvider::default(),
            )
        };
        let mut options = ResolverOpts::default();
        // A lost answer is asked again soon; a server that never answers fails in 4 s, well
        // inside SIP's Timer F, so the next target still has time.
        options.timeout = Duration::from_secs(2);
        options.attempts = 2;
        let resolver = builder
            .with_options(options)
            .build()
            .map_err(|e| DnsError(e.to_string()))?;
        Ok(Self {
            resolver: Arc::new(resolver),
        })
    }

    /// Puts one question and reports what came of it.
    pub async fn answer(&self, query: &sip::Query) -> sip::Answer {
        let rtype = match query.rtype {
            sip::RecordType::Naptr => RecordType::NAPTR,
            sip::RecordType::Srv => RecordType::SRV,
            sip::RecordType::A => RecordType::A,
            sip::RecordType::Aaaa => RecordType::AAAA,
        };
        // Absolute: a configured search domain must not be appended to a SIP domain.
        let name = format!("{}.", query.name.trim_end_matches('.'));
        match self.resolver.lookup(name.as_str(), rtype).await {
            Ok(lookup) => {
                let mut ttl = u32::MAX;
                let records = lookup
                    .answers()
                    .iter()
                    .filter_map(|record| {
                        let found = convert(&record.data)?;
                        ttl = ttl.min(record.ttl);
                        Some(found)
                    })
                    .collect::<Vec<_>>();
                if records.is_empty() {
                    sip::Answer::Nothing { ttl: NEGATIVE_TTL }
                } else {
                    sip::Answer::Records {
                        records,
                        ttl: Duration::from_secs(u64::from(ttl)),
                    }
                }
            }
            Err(e) if e.is_no_records_found() => sip::Answer::Nothing { ttl: NEGATIVE_TTL },
            Err(e) => sip::Answer::Failed {
                reason: e.to_string(),
            },
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn host(name: &hickory_resolver::proto::rr::Name) -> String {
    name.to_ascii().trim_end_matches('.').to_owned()
}

fn convert(data: &RData) -> Option<sip::Record> {
    Some(match data {
        RData::NAPTR(naptr) => sip::Record::Naptr {
            order: naptr.order,
            preference: naptr.preference,
            flags: text(&naptr.flags),
            services: text(&naptr.services),
            replacement: host(&naptr.replacement),
        },
        RData::SRV(srv) => sip::Record::Srv {
            priority: srv.priority,
            weight: srv.weight,
            port: srv.port,
            target: match host(&srv.target) {
                t if t.is_empty() => ".".to_owned(),
                t => t,
            },
        },
        RData::A(a) => sip::Record::Addr(a.0.into()),
        RData::AAAA(aaaa) => sip::Record::Addr(aaaa.0.into()),
        _ => return None,
    })
}
