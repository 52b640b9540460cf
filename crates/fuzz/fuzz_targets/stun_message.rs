//! STUN and TURN messages as they reach a call's media socket: from the peer (connectivity
//! checks and their answers, RFC 8445) and from the STUN/TURN server (Binding and Allocate
//! answers, Data indications, ChannelData — RFC 8489, RFC 8656), to a gatherer and to a running
//! ICE stream. Nothing may panic.
#![no_main]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use media::{Gatherer, IceDescription, IceServers, IceStream, TurnServer};

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("addr")
}

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let server = addr("127.0.0.1:3478");
    let servers = IceServers {
        stun: Some(server),
        turn: Some(TurnServer {
            addr: server,
            transport: media::TurnTransport::Udp,
            username: "agent".to_owned(),
            password: "secret".to_owned(),
        }),
    };
    let local = addr("127.0.0.1:20000");
    let peer = addr("127.0.0.1:30000");
    let _ = media::is_stun(data);
    let _ = media::turn_frame_len(data);
    let Ok(mut gatherer) = Gatherer::new(now, local, &servers) else {
        return;
    };
    let mut relayed = VecDeque::new();
    gatherer.handle(now, server, data, &mut relayed);
    gatherer.handle_timeout(now + Duration::from_millis(600), &mut relayed);
    while gatherer.poll_transmit().is_some() {}
    let Ok(mut ice) = IceStream::new(now, gatherer) else {
        return;
    };
    let remote = IceDescription {
        ufrag: "abcd".to_owned(),
        pwd: "0123456789abcdef0123456789".to_owned(),
        candidates: vec!["1 1 udp 2130706431 127.0.0.1 30000 typ host".to_owned()],
        lite: false,
        default: None,
    };
    let _ = ice.start(now, &remote, data.first().is_some_and(|b| b & 1 == 1));
    for (from, at) in [(peer, 10), (server, 20), (peer, 2_000)] {
        let when = now + Duration::from_millis(at);
        ice.handle(when, from, data);
        while ice.poll_inbound().is_some() {}
        ice.handle_timeout(when);
        while ice.poll_transmit().is_some() {}
        while ice.poll_event().is_some() {}
        let _ = ice.send(data);
    }
});
