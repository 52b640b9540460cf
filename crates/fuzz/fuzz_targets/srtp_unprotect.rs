//! SRTP and SRTCP unprotect of arbitrary datagrams under each suite: a wrong or damaged
//! packet is an error, never a panic. And, the input split at each 0xA5 byte into packets,
//! what one side protects the other unprotects to the same bytes: every SRTCP packet (its
//! index only counts up), and every SRTP packet that is not a replay of an index already
//! heard (the first always; the fuzzer picks the sequence numbers and SSRCs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use media::{MasterKey, Srtp, SrtpError, Suite};

fuzz_target!(|data: &[u8]| {
    for suite in Suite::ALL {
        let key = |seed: u8| {
            MasterKey::generate(suite, |b| b.fill(seed)).expect("key of the suite's length")
        };
        let (Ok(mut srtp), Ok(mut peer)) = (Srtp::new(&key(1), &key(2)), Srtp::new(&key(2), &key(1)))
        else {
            return;
        };
        let _ = srtp.unprotect_rtp(data);
        let _ = srtp.unprotect_rtcp(data);
        let mut heard = false;
        for packet in data.split(|&b| b == 0xA5) {
            if let Ok(protected) = srtp.protect_rtp(packet) {
                match peer.unprotect_rtp(&protected) {
                    Ok(plain) => assert_eq!(plain, packet, "{suite}: SRTP round trip"),
                    // Both sides guess the roll-over counter from the same highest index,
                    // so a replay is the only refusal.
                    Err(SrtpError::Replayed) if heard => {}
                    Err(e) => panic!("{suite}: what was protected does not unprotect: {e}"),
                }
                heard = true;
            }
            if let Ok(protected) = srtp.protect_rtcp(packet) {
                let plain = peer.unprotect_rtcp(&protected);
                assert_eq!(plain.ok().as_deref(), Some(packet), "{suite}: SRTCP round trip");
            }
        }
    }
});
