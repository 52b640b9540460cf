//! The SIP message path: whatever arrives on the SIP socket goes through the user agent (parse,
//! validate, transactions, dialogs) and, framed, through the TCP stream framer. Nothing may
//! panic, and the agent must still answer OPTIONS afterwards.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sip::{Dest, Output, StreamFramer, Transport, UaConfig, UserAgent};

const OPTIONS: &[u8] = b"OPTIONS sip:recall@127.0.0.1:5061 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKfuzzcheck;rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:f@127.0.0.1>;tag=f\r\nTo: <sip:recall@127.0.0.1>\r\n\
Call-ID: fuzz-check@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    let mut ua = UserAgent::new(UaConfig::default(), 1, t0);
    ua.set_local_addr(Transport::Udp, "127.0.0.1:5061".parse().expect("addr"));
    ua.set_local_addr(Transport::Tcp, "127.0.0.1:5061".parse().expect("addr"));
    let source = Dest {
        transport: Transport::Udp,
        addr: "127.0.0.1:5062".parse().expect("addr"),
    };
    // The input may hold several datagrams separated by a NUL byte; answer every incoming call
    // so that dialog paths (ACK, BYE, re-INVITE, CANCEL) are reached too.
    for (i, datagram) in data.split(|b| *b == 0).enumerate() {
        let now = t0 + Duration::from_millis(i as u64 * 100);
        ua.handle_datagram(now, source, datagram);
        ua.handle_timeout(now);
        loop {
            match ua.poll_output() {
                Output::Event(sip::Event::IncomingCall { leg, .. }) => {
                    let _ = ua.answer(now, leg, None);
                }
                Output::Event(sip::Event::ReInvite { leg, .. }) => {
                    let _ = ua.accept_reinvite(now, leg, None);
                }
                Output::Timeout(_) => break,
                _ => {}
            }
        }
    }
    let mut framer = StreamFramer::default();
    if let Ok(messages) = framer.push(data) {
        for message in messages {
            ua.handle_message(t0, Dest { transport: Transport::Tcp, ..source }, message);
        }
    }
    ua.handle_timeout(t0 + Duration::from_secs(3600));
    while !matches!(ua.poll_output(), Output::Timeout(_)) {}
    ua.handle_datagram(t0, source, OPTIONS);
    let answered = std::iter::from_fn(|| match ua.poll_output() {
        Output::Timeout(_) => None,
        other => Some(other),
    })
    .any(|o| matches!(o, Output::Transmit(t) if t.bytes.starts_with(b"SIP/2.0 200 OK")));
    assert!(answered, "the agent stopped answering OPTIONS");
});
