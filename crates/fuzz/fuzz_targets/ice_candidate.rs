//! ICE's SDP attributes: `a=candidate` values (RFC 8839 §5.1), the credentials, and whole
//! offers and answers carrying them read by a phone that runs ICE. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use media::{IceDescription, LocalMedia};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        let _ = media::parse_candidate(line);
    }
    let pairs: Vec<(&str, Option<&str>)> = text
        .lines()
        .map(|l| match l.split_once(':') {
            Some((name, value)) => (name, Some(value)),
            None => (l, None),
        })
        .collect();
    let _ = IceDescription::read(pairs.iter().copied(), pairs.iter().rev().copied());
    let mut local = LocalMedia::g711("127.0.0.1:20000".parse().expect("addr"), 1);
    local.ice = Some(IceDescription {
        ufrag: "abcd".to_owned(),
        pwd: "0123456789abcdef0123456789".to_owned(),
        candidates: vec!["1 1 udp 2130706431 127.0.0.1 20000 typ host".to_owned()],
        lite: false,
        default: Some("198.51.100.7:40000".parse().expect("addr")),
    });
    if let Ok((_, agreed)) = media::answer_offer(&text, &local)
        && let Some(remote) = agreed.ice
    {
        for candidate in &remote.candidates {
            let _ = media::parse_candidate(candidate);
        }
    }
    let _ = media::read_answer(&text, &local);
});
