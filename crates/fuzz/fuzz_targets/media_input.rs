//! Media input: SDP offers and answers read against our G.711 and Opus offers. Nothing may
//! panic. (RTP and RTCP into a running session are `rtp_receive`'s.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use media::{Codec, LocalMedia, answer_offer, read_answer};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let address = "127.0.0.1:20000".parse().expect("addr");
    for local in [
        LocalMedia::g711(address, 1),
        LocalMedia::with_codecs(address, 1, vec![Codec::Opus, Codec::Pcma]),
    ] {
        let _ = answer_offer(&text, &local);
        let _ = read_answer(&text, &local);
    }
});
