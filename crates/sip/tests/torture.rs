//! Malformed and tortuous input (modelled on RFC 4475): valid messages are processed, invalid
//! ones are refused with a status naming the fault or dropped and counted, and nothing panics.

// Tests take one real instant as the epoch of their virtual time (and the scenario measures
// its own wall time); the code under test never reads the clock.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::time::Instant;

use sip::{Dest, Event, Output, Transport, UaConfig, UserAgent};
use test_support::sip_fixture;

const SOURCE: &str = "127.0.0.1:40000";

fn source() -> Dest {
    Dest {
        transport: Transport::Udp,
        addr: SOURCE.parse().expect("addr"),
    }
}

fn agent() -> UserAgent {
    let mut ua = UserAgent::new(UaConfig::default(), 9, Instant::now());
    ua.set_local_addr(Transport::Udp, "127.0.0.1:5061".parse().expect("addr"));
    ua
}

/// Feeds bytes; returns the first line of every message sent and every event.
fn feed(ua: &mut UserAgent, bytes: &[u8]) -> (Vec<(String, SocketAddr)>, Vec<Event>) {
    ua.handle_datagram(Instant::now(), source(), bytes);
    let mut sent = Vec::new();
    let mut events = Vec::new();
    loop {
        match ua.poll_output() {
            Output::Transmit(t) => {
                let text = String::from_utf8_lossy(&t.bytes).into_owned();
                let first = text.lines().next().unwrap_or_default().to_owned();
                sent.push((first, t.dest.addr));
            }
            Output::Event(e) => events.push(e),
            Output::Timeout(_) => return (sent, events),
        }
    }
}

#[derive(Debug)]
enum Expect {
    /// The first response sent has this start line.
    Status(&'static str),
    /// A new call is announced (a ringing leg); nothing is sent yet.
    Call,
    /// Nothing is sent; the datagram is counted as malformed.
    Dropped,
    /// Read, then let go: nothing sent, nothing announced, not counted as malformed.
    Ignored,
}

#[test]
fn torture_messages_get_the_answer_rfc_4475_expects() {
    let cases = [
        // Valid messages (RFC 4475 §3.1.1): parsed and processed.
        (
            "wsinv.sip",
            Expect::Status("SIP/2.0 481 Call/Transaction Does Not Exist"),
        ),
        ("wsinv-dialog-free.sip", Expect::Call),
        ("intmeth.sip", Expect::Status("SIP/2.0 501 Not Implemented")),
        ("esc01.sip", Expect::Status("SIP/2.0 200 OK")),
        ("lwsdisp.sip", Expect::Status("SIP/2.0 200 OK")),
        ("semiuri.sip", Expect::Status("SIP/2.0 200 OK")),
        ("unkscm.sip", Expect::Status("SIP/2.0 200 OK")),
        ("mpart01.sip", Expect::Call),
        // Max-Forwards 0 at its target: 483 is a proxy's answer (RFC 3261 §16.3); the UA
        // takes the request.
        ("mf0.sip", Expect::Call),
        // Valid but asking for what we lack (RFC 4475 §3.3.2): 420 Bad Extension.
        ("bext01.sip", Expect::Status("SIP/2.0 420 Bad Extension")),
        // Invalid (RFC 4475 §3.1.2): refused with the fault named, or dropped.
        (
            "badaspec.sip",
            Expect::Status("SIP/2.0 400 Malformed To Header"),
        ),
        (
            "insuf.sip",
            Expect::Status("SIP/2.0 400 Missing Call-ID Header"),
        ),
        (
            "mismatch01.sip",
            Expect::Status("SIP/2.0 400 CSeq Method Does Not Match"),
        ),
        (
            "badvers.sip",
            Expect::Status("SIP/2.0 505 Version Not Supported"),
        ),
        (
            "scalar02.sip",
            Expect::Status("SIP/2.0 400 Malformed CSeq Header"),
        ),
        (
            "uriheaders.sip",
            Expect::Status("SIP/2.0 400 Request-URI Has Headers"),
        ),
        // RFC 3261 §18.3 / RFC 4475 §3.1.2.9 and §3.1.2.3: a datagram shorter than its
        // Content-Length, or a negative one, is answered 400 from the head alone.
        (
            "clerr.sip",
            Expect::Status("SIP/2.0 400 Content-Length Exceeds Body"),
        ),
        (
            "ncl.sip",
            Expect::Status("SIP/2.0 400 Malformed Content-Length"),
        ),
        // RFC 4475 §3.3.2 (an OPTIONS), §3.3.5; RFC 3261 §8.2.3.
        (
            "bext01-options.sip",
            Expect::Status("SIP/2.0 420 Bad Extension"),
        ),
        (
            "novelsc.sip",
            Expect::Status("SIP/2.0 416 Unsupported URI Scheme (soap.beep)"),
        ),
        (
            "ctype415.sip",
            Expect::Status("SIP/2.0 415 Unsupported Media Type"),
        ),
        (
            "cencode415.sip",
            Expect::Status("SIP/2.0 415 Unsupported Media Type"),
        ),
        ("ltgtruri.sip", Expect::Dropped),
        // RFC 4475 §3.1.1.5: `RE%47IST%45R` is not REGISTER but a method of its own.
        ("esc02.sip", Expect::Status("SIP/2.0 501 Not Implemented")),
        // §3.1.1.4: escaped NULs in URIs are valid.
        ("escnull.sip", Expect::Status("SIP/2.0 200 OK")),
        // §3.4: an RFC 2543 INVITE (no branch, no Max-Forwards) is still taken.
        ("inv2543.sip", Expect::Call),
        // §3.1.1.7: long values, 34 Vias, every spelling of Via.
        ("longreq.sip", Expect::Call),
        // §3.1.2.8, §3.1.2.9: LWS inside the Request-URI or more than one SP between the
        // parts of the request line — no request line to answer from; dropped like ltgtruri.
        ("lwsruri.sip", Expect::Dropped),
        ("lwsstart.sip", Expect::Dropped),
        // §3.1.2.17: an unknown method whose CSeq names another: the CSeq fault, 400.
        (
            "mismatch02.sip",
            Expect::Status("SIP/2.0 400 CSeq Method Does Not Match"),
        ),
        // §3.3.8: two values in fields that take one (To, From, Call-ID, CSeq): 400.
        (
            "multi01.sip",
            Expect::Status("SIP/2.0 400 Repeated To Header"),
        ),
        // §3.1.2.6: an unterminated quoted display name: 400.
        (
            "quotbal.sip",
            Expect::Status("SIP/2.0 400 Malformed To Header"),
        ),
        // §3.1.1.12, §3.1.1.13: responses with a non-ASCII or an empty reason phrase are
        // valid; matching no transaction of ours, they are read and let go (not malformed).
        ("noreason.sip", Expect::Ignored),
        ("unreason.sip", Expect::Ignored),
        // §3.1.2.5: a response with scalars out of range is discarded.
        ("scalarlg.sip", Expect::Dropped),
        // §3.3.7, §3.1.2.13, §3.3.14: REGISTERs (an unknown Authorization scheme, a Contact
        // with an unbracketed `?`, an escaped header in a Contact URI) reach a UA that is no
        // registrar: 405, with Allow, before any of that is looked at.
        (
            "regaut01.sip",
            Expect::Status("SIP/2.0 405 Method Not Allowed"),
        ),
        (
            "regbadct.sip",
            Expect::Status("SIP/2.0 405 Method Not Allowed"),
        ),
        (
            "regescrt.sip",
            Expect::Status("SIP/2.0 405 Method Not Allowed"),
        ),
        // §3.3.15: a caller that accepts no SDP cannot take our answer: 406 with Accept.
        ("sdp01.sip", Expect::Status("SIP/2.0 406 Not Acceptable")),
        // §3.1.1.10: Vias of every transport, known or not: answered on the top one.
        ("transports.sip", Expect::Status("SIP/2.0 200 OK")),
        // §3.1.2.10: trailing whitespace after the version: a request-line fault, dropped.
        ("trws.sip", Expect::Dropped),
        // §3.1.2.19 (badbranch): a branch that is only the magic cookie is still a branch.
        ("badbranch.sip", Expect::Status("SIP/2.0 200 OK")),
        // §3.1.2.12: a non-GMT Date; a UA that does not use Date may take the request.
        ("baddate.sip", Expect::Call),
        // §3.1.2.15: unquoted display names with non-token characters: 400.
        (
            "baddn.sip",
            Expect::Status("SIP/2.0 400 Malformed To Header"),
        ),
        // §3.1.2.1: empty Via parameters and separators: 400.
        (
            "badinv01.sip",
            Expect::Status("SIP/2.0 400 Malformed Via Header"),
        ),
        // §3.3.10: a 200 with a broadcast Via, matching nothing of ours: read and let go.
        ("bcast.sip", Expect::Ignored),
        // §3.1.2.18: a status code over 699: discarded.
        ("bigcode.sip", Expect::Dropped),
        // §3.3.12, §3.3.13, §3.3.4: REGISTERs with Contact parameters and unknown URI
        // schemes in To, From and Contact: a UA is no registrar, 405.
        (
            "cparam01.sip",
            Expect::Status("SIP/2.0 405 Method Not Allowed"),
        ),
        (
            "cparam02.sip",
            Expect::Status("SIP/2.0 405 Method Not Allowed"),
        ),
        (
            "unksm2.sip",
            Expect::Status("SIP/2.0 405 Method Not Allowed"),
        ),
        // §3.1.1.8: a datagram holding a REGISTER and then an INVITE: the first is answered,
        // the rest ignored (no call).
        (
            "dblreq.sip",
            Expect::Status("SIP/2.0 405 Method Not Allowed"),
        ),
        // §3.1.2.11: headers escaped into the Request-URI: 400.
        (
            "escruri.sip",
            Expect::Status("SIP/2.0 400 Request-URI Has Headers"),
        ),
        // §3.3.6: a body of an unknown type: 415 with Accept.
        (
            "invut.sip",
            Expect::Status("SIP/2.0 415 Unsupported Media Type"),
        ),
        // §3.3.11: Max-Forwards 0 at its target: answered as any OPTIONS.
        ("zeromf.sip", Expect::Status("SIP/2.0 200 OK")),
        // §3.3.9: two Content-Length values: 400.
        (
            "mcl01.sip",
            Expect::Status("SIP/2.0 400 Multiple Content-Length Values"),
        ),
    ];
    check("sip/torture", &cases);
}

/// Feeds each fixture in `dir` to a fresh agent and checks what it did.
fn check(dir: &str, cases: &[(&str, Expect)]) {
    for (file, expect) in cases {
        let mut ua = agent();
        let bytes = sip_fixture(&format!("{dir}/{file}"), &[]);
        let (sent, events) = feed(&mut ua, &bytes);
        match expect {
            Expect::Status(line) => {
                assert_eq!(sent.first().map(|s| s.0.as_str()), Some(*line), "{file}");
                assert!(events.is_empty(), "{file}: {events:?}");
                assert_eq!(sent[0].1, SOURCE.parse().expect("addr"), "{file}: rport");
            }
            Expect::Call => {
                assert!(
                    matches!(events.as_slice(), [Event::IncomingCall { .. }]),
                    "{file}: {events:?} {sent:?}"
                );
            }
            Expect::Dropped => {
                assert!(sent.is_empty(), "{file}: {sent:?}");
                assert_eq!(ua.stats().malformed_dropped, 1, "{file}");
            }
            Expect::Ignored => {
                assert!(
                    sent.is_empty() && events.is_empty(),
                    "{file}: {sent:?} {events:?}"
                );
                assert_eq!(ua.stats().malformed_dropped, 0, "{file}");
            }
        }
    }
}

#[test]
fn the_sdp_of_a_multipart_invite_is_found() {
    let mut ua = agent();
    let (_, events) = feed(&mut ua, &sip_fixture("sip/torture/mpart01.sip", &[]));
    let Some(Event::IncomingCall { invite, .. }) = events.first() else {
        panic!("no call: {events:?}");
    };
    let sdp = invite.offer.clone().expect("sdp part");
    assert!(sdp.starts_with(b"v=0\r\n"));
    assert!(String::from_utf8_lossy(&sdp).contains("m=audio 4000 RTP/AVP 0"));
}

#[test]
fn truncated_and_garbage_datagrams_leave_the_agent_answering_options() {
    let mut ua = agent();
    let invite = sip_fixture("sip/torture/mpart01.sip", &[]);
    // Every prefix of a valid INVITE (shorter prefixes fail framing; a few parse as bodiless
    // requests with a short body, which is fine as long as nothing panics).
    for len in 0..invite.len() {
        ua.handle_datagram(Instant::now(), source(), &invite[..len]);
    }
    // Seeded random garbage, and garbage that starts like SIP.
    let mut rng = fastrand::Rng::with_seed(4475);
    for round in 0..2000 {
        let len = rng.usize(0..1500);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        if round % 2 == 0 {
            let mut prefixed = b"INVITE sip:x@y SIP/2.0\r\nVia: ".to_vec();
            prefixed.append(&mut bytes);
            bytes = prefixed;
        }
        ua.handle_datagram(Instant::now(), source(), &bytes);
    }
    while !matches!(ua.poll_output(), Output::Timeout(_)) {}
    assert!(ua.stats().malformed_dropped > 1000, "{:?}", ua.stats());
    let (sent, _) = feed(&mut ua, &sip_fixture("sip/options.sip", &[]));
    assert_eq!(sent.first().map(|s| s.0.as_str()), Some("SIP/2.0 200 OK"));
}

#[test]
fn ipv6_torture_messages_get_the_answer_rfc_5118_expects() {
    let cases = [
        // §4.1: IPv6 references in the Request-URI, To, From, Contact and Via.
        ("ipv6-good.sip", Expect::Status("SIP/2.0 200 OK")),
        // §4.3 and §4.4: `[2001:db8::10:5070]` is an address with no port; `]:5070` a port.
        ("port-ambiguous.sip", Expect::Status("SIP/2.0 200 OK")),
        ("port-unambiguous.sip", Expect::Status("SIP/2.0 200 OK")),
        // §4.5: `received` with and without brackets are both taken.
        (
            "via-received-bracketed.sip",
            Expect::Status("SIP/2.0 200 OK"),
        ),
        ("via-received-bare.sip", Expect::Status("SIP/2.0 200 OK")),
        // §4.7: IPv4 and IPv6 hops and contacts in one message.
        ("mult-ip-in-header.sip", Expect::Status("SIP/2.0 200 OK")),
        // §4.6, §4.8, §4.9: IPv6, mixed and IPv4-mapped addresses in SDP are calls.
        ("ipv6-in-sdp.sip", Expect::Call),
        ("mult-ip-in-sdp.sip", Expect::Call),
        ("ipv4-mapped.sip", Expect::Call),
        // §4.10: the two-colon form is right; the three-colon form RFC 3261's ABNF let some
        // stacks produce is accepted too, as the RFC advises (be liberal in what you take).
        ("ipv6-abnf-two-colons.sip", Expect::Status("SIP/2.0 200 OK")),
        (
            "ipv6-abnf-three-colons.sip",
            Expect::Status("SIP/2.0 200 OK"),
        ),
        // §4.2: an IPv6 address without brackets makes the Request-URI unreadable. RFC 5118
        // would answer 400; the request line cannot be parsed, so it is dropped and counted,
        // as the RFC 4475 cases whose start line cannot be read are.
        ("ipv6-bad.sip", Expect::Dropped),
    ];
    check("sip/ipv6", &cases);
}

#[test]
fn an_ipv6_offer_is_read_with_its_address() {
    let mut ua = agent();
    let (_, events) = feed(&mut ua, &sip_fixture("sip/ipv6/ipv6-in-sdp.sip", &[]));
    let Some(Event::IncomingCall { invite, .. }) = events.first() else {
        panic!("no call: {events:?}");
    };
    let sdp = String::from_utf8_lossy(invite.offer.as_deref().expect("sdp")).into_owned();
    assert!(sdp.contains("c=IN IP6 2001:db8::9:1"), "{sdp}");
}

/// The whole of the first message the agent sent for a fixture.
fn first_answer(file: &str) -> String {
    let mut ua = agent();
    ua.handle_datagram(
        Instant::now(),
        source(),
        &sip_fixture(&format!("sip/torture/{file}"), &[]),
    );
    loop {
        match ua.poll_output() {
            Output::Transmit(t) => return String::from_utf8_lossy(&t.bytes).into_owned(),
            Output::Event(_) => {}
            Output::Timeout(_) => return String::new(),
        }
    }
}

#[test]
fn refusals_say_what_is_unsupported_and_what_is_accepted() {
    let bext = first_answer("bext01-options.sip");
    assert!(
        bext.contains("Unsupported: nothingSupportsThis, nothingSupportsThisEither\r\n"),
        "{bext}"
    );
    for file in ["ctype415.sip", "cencode415.sip"] {
        let refused = first_answer(file);
        for header in [
            "Accept: application/sdp, multipart/mixed\r\n",
            "Accept-Encoding: identity\r\n",
            "Accept-Language: en\r\n",
        ] {
            assert!(refused.contains(header), "{file}: {refused}");
        }
    }
    let not_acceptable = first_answer("sdp01.sip");
    assert!(
        not_acceptable.contains("Accept: application/sdp\r\n"),
        "{not_acceptable}"
    );
}
