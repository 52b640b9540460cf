//! SRTP and SRTCP unprotect of arbitrary datagrams under each suite: a wrong or damaged
//! packet is an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use media::{MasterKey, Srtp, Suite};

fuzz_target!(|data: &[u8]| {
    for suite in Suite::ALL {
        let key = |seed: u8| {
            MasterKey::generate(suite, |b| b.fill(seed)).expect("key of the suite's length")
        };
        let Ok(mut srtp) = Srtp::new(&key(1), &key(2)) else {
            return;
        };
        let _ = srtp.unprotect_rtp(data);
        let _ = srtp.unprotect_rtcp(data);
        // And what it protects itself always unprotects on the other side.
        if let Ok(protected) = srtp.protect_rtp(data)
            && let Ok(mut peer) = Srtp::new(&key(2), &key(1))
        {
            let _ = peer.unprotect_rtp(&protected);
        }
    }
});
