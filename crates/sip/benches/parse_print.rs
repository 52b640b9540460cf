//! How many SIP messages per second are parsed and printed again: an INVITE with SDP and
//! attached data, its 200 OK, and an authenticated REGISTER. Also the user agent's whole
//! handling of an incoming INVITE (parse, validate, transaction, leg, 180 and 200 built).

// Tests take one real instant as the epoch of their virtual time (and the scenario measures
// its own wall time); the code under test never reads the clock.
#![allow(clippy::disallowed_methods)]

use std::time::Instant;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sip::{Dest, Output, Transport, UaConfig, UserAgent};
use sipx_sip::{Limits, parse_datagram};
use test_support::sip_fixture;

fn parse_and_print(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse+print");
    group.throughput(Throughput::Elements(1));
    for name in ["invite", "ok", "register"] {
        let bytes = Bytes::from(sip_fixture(&format!("sip/bench/{name}.sip"), &[]));
        group.bench_function(name, |b| {
            b.iter(|| {
                let message =
                    parse_datagram(bytes.clone(), &Limits::datagram()).expect("fixture parses");
                std::hint::black_box(message.to_bytes())
            });
        });
    }
    group.finish();
}

fn answer_an_invite(c: &mut Criterion) {
    let invite = sip_fixture("sip/bench/invite.sip", &[]);
    let source = Dest {
        transport: Transport::Udp,
        addr: "127.0.0.1:5070".parse().expect("addr"),
    };
    let mut group = c.benchmark_group("user agent");
    group.throughput(Throughput::Elements(1));
    group.bench_function("incoming INVITE answered", |b| {
        let now = Instant::now();
        b.iter(|| {
            let mut ua = UserAgent::new(UaConfig::default(), 1, now);
            ua.set_local_addr(Transport::Udp, "127.0.0.1:5060".parse().expect("addr"));
            ua.handle_datagram(now, source, &invite);
            let mut sent = 0;
            loop {
                match ua.poll_output() {
                    Output::Event(sip::Event::IncomingCall { leg, .. }) => {
                        let _ = ua.ring(now, leg, &[]);
                        let _ = ua.answer(now, leg, Some(Bytes::from_static(b"v=0\r\n")));
                    }
                    Output::Transmit(_) => sent += 1,
                    Output::Timeout(_) => break,
                    Output::Event(_) => {}
                }
            }
            std::hint::black_box(sent)
        });
    });
    group.finish();
}

criterion_group!(benches, parse_and_print, answer_an_invite);
criterion_main!(benches);
