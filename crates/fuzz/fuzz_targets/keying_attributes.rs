//! The keying attributes of SDP: `a=crypto` (RFC 4568), `a=fingerprint` (RFC 8122) and
//! `a=setup` values, and whole offers carrying them answered under each policy. Nothing may
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use media::{CryptoAttribute, Encryption, Fingerprint, Keying, LocalMedia, Setup, Suite};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = CryptoAttribute::parse(&text);
    let _ = Fingerprint::parse(&text);
    let _ = Setup::parse(&text);
    for (encryption, keying) in [
        (Encryption::Optional, Keying::Sdes),
        (Encryption::Mandatory, Keying::Dtls),
    ] {
        let _ = media::check_offer(&text, encryption, keying, &Suite::ALL, None);
        let fingerprint = Fingerprint::parse(
            "sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF",
        )
        .ok();
        let local = LocalMedia::g711("127.0.0.1:20000".parse().expect("addr"), 1)
            .encrypted(encryption, media::fresh_keys(|b| b.fill(7)))
            .with_dtls(keying, fingerprint);
        let _ = media::answer_offer(&text, &local);
        let _ = media::read_answer(&text, &local);
    }
});
