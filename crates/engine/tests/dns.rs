//! Registrars located by DNS (RFC 3263), in virtual time: the phone asks its questions as
//! outputs and is given the answers as inputs; with the first SRV target dead it registers
//! through the second and says so, and a name that does not resolve fails naming it.

#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use crate::harness::{Ask, World, account};
use api::{Event, RegistrationState, RegistrationView};
use sip::{Answer, Record, RecordType};

const TTL: Duration = Duration::from_secs(300);

fn records(records: Vec<Record>) -> Answer {
    Answer::Records { records, ttl: TTL }
}

fn srv(priority: u16, port: u16, target: &str) -> Record {
    Record::Srv {
        priority,
        weight: 0,
        port,
        target: target.to_owned(),
    }
}

/// Alice's account as registering at `registrar` by name (no proxy).
fn by_name(registrar: &str) -> api::Account {
    api::Account {
        aor: "sip:alice@recall.test".to_owned(),
        registrar: registrar.to_owned(),
        proxy: String::new(),
        ..account("alice", "alice-secret")
    }
}

fn registrations(world: &World) -> Vec<RegistrationView> {
    world
        .a
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Registration { registration } => Some(registration.clone()),
            _ => None,
        })
        .collect()
}

fn reconfigure(world: &mut World, account: api::Account) {
    let now = world.now;
    world.a.events.clear();
    world.a.phone.reconfigure(
        now,
        vec![account],
        engine::MediaSettings::default(),
        engine::CallbackSettings::default(),
    );
}

#[test]
fn the_second_srv_target_takes_over_when_the_first_does_not_answer() {
    let mut world = World::registered(41, 0.0, Duration::ZERO);
    world.a.zone = vec![
        (
            "_sip._udp.recall.test".to_owned(),
            RecordType::Srv,
            records(vec![
                srv(10, 5060, "dead.recall.test"),
                srv(20, 5060, "pbx.recall.test"),
            ]),
        ),
        (
            "dead.recall.test".to_owned(),
            RecordType::A,
            records(vec![Record::Addr("127.0.0.99".parse().expect("ip"))]),
        ),
        (
            "pbx.recall.test".to_owned(),
            RecordType::A,
            records(vec![Record::Addr("127.0.0.1".parse().expect("ip"))]),
        ),
    ];
    let start = world.now;
    reconfigure(&mut world, by_name("sip:recall.test"));
    world.run_while(Duration::from_secs(60), |w| {
        registrations(w)
            .last()
            .is_some_and(|r| r.state == RegistrationState::Registered)
    });
    let took = world.now - start;
    // Timer F (64·T1 = 32 s) on the dead target, then at once through the second.
    assert!(
        took >= Duration::from_secs(32) && took < Duration::from_secs(34),
        "{took:?}"
    );
    let seen = registrations(&world);
    let last = seen.last().expect("registered");
    assert_eq!(
        last.server.as_deref(),
        Some("udp:127.0.0.1:5060 (pbx.recall.test from _sip._udp.recall.test)")
    );
    assert!(
        seen.iter().any(|r| r.reason.as_deref()
            == Some("udp:127.0.0.99:5060 (dead.recall.test from _sip._udp.recall.test): registrar did not answer (timeout); trying the next server")),
        "{seen:?}"
    );
    // RFC 3263: NAPTR first, then SRV for UDP, then each host's addresses.
    let asked: Vec<(String, RecordType)> = world
        .a
        .asked
        .iter()
        .map(|q| (q.name.clone(), q.rtype))
        .collect();
    assert_eq!(asked[0], ("recall.test".to_owned(), RecordType::Naptr));
    assert_eq!(
        asked[1],
        ("_sip._udp.recall.test".to_owned(), RecordType::Srv)
    );
    assert!(asked.contains(&("pbx.recall.test".to_owned(), RecordType::A)));
}

#[test]
fn a_registrar_that_does_not_resolve_fails_naming_it() {
    let mut world = World::registered(42, 0.0, Duration::ZERO);
    reconfigure(&mut world, by_name("sip:nowhere.recall.test"));
    world.run_until(world.now + Duration::from_secs(1));
    let last = registrations(&world).pop().expect("an event");
    assert_eq!(last.state, RegistrationState::Failed);
    assert_eq!(
        last.reason.as_deref(),
        Some("nowhere.recall.test does not resolve: no NAPTR, SRV or address records")
    );
}

#[test]
fn a_sips_registrar_is_located_by_its_tls_srv_and_its_certificate_must_name_the_domain() {
    let mut world = World::registered(43, 0.0, Duration::ZERO);
    world.a.zone = vec![
        (
            "_sips._tcp.recall.test".to_owned(),
            RecordType::Srv,
            records(vec![srv(10, 5061, "edge.recall.test")]),
        ),
        (
            "edge.recall.test".to_owned(),
            RecordType::A,
            records(vec![Record::Addr("192.0.2.10".parse().expect("ip"))]),
        ),
    ];
    reconfigure(
        &mut world,
        api::Account {
            tls_ca: "/etc/recall/ca.pem".to_owned(),
            ..by_name("sips:recall.test")
        },
    );
    world.run_until(world.now + Duration::from_secs(1));
    // Only the TLS service is asked for a sips: registrar (no NAPTR answer here).
    let srv: Vec<String> = world
        .a
        .asked
        .iter()
        .filter(|q| q.rtype == RecordType::Srv)
        .map(|q| q.name.clone())
        .collect();
    assert_eq!(srv, ["_sips._tcp.recall.test"]);
    // RFC 5922: the certificate must name the SIP domain, not the SRV target.
    assert_eq!(
        world.a.tls_peers,
        [engine::TlsPeer {
            addr: "192.0.2.10:5061".parse().expect("addr"),
            name: "recall.test".to_owned(),
            ca: Some("/etc/recall/ca.pem".to_owned()),
            insecure: false,
        }]
    );
    let seen = registrations(&world);
    assert_eq!(
        seen.last().and_then(|r| r.server.clone()).as_deref(),
        Some("tls:192.0.2.10:5061 (edge.recall.test from _sips._tcp.recall.test)")
    );
}
