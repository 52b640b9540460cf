//! Known answers from libsrtp's own validation (srtp_driver.c: the default policy and
//! AES-GCM-128 with a 16-byte tag, SSRC 0xcafebabe), then what a call needs: both
//! directions, failures counted, replays refused, the roll-over counter across a sequence
//! wrap, `a=crypto` lines read and written.

use super::*;

fn hex(text: &str) -> Vec<u8> {
    let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

fn cm_key() -> MasterKey {
    MasterKey::new(
        Suite::AesCm128HmacSha1_80,
        &hex("e1f97a0d3e018be0d64fa32c06de4139 0ec675ad498afeebb6960b3aabe6"),
    )
    .expect("30 bytes")
}

fn gcm_key() -> MasterKey {
    MasterKey::new(
        Suite::AeadAes128Gcm,
        &hex("000102030405060708090a0b0c0d0e0f a0a1a2a3a4a5a6a7a8a9aaab"),
    )
    .expect("28 bytes")
}

const RTP: &str = "800f1234decafbadcafebabe abababababababababababababababab";
const RTCP: &str = "81c8000bcafebabe abababababababababababababababab";

#[test]
fn aes_cm_128_hmac_sha1_80_gives_libsrtps_reference_packets() {
    let mut sender = Srtp::new(&cm_key(), &cm_key()).expect("keyed");
    let srtp = sender.protect_rtp(&hex(RTP)).expect("protected");
    assert_eq!(
        srtp,
        hex("800f1234decafbadcafebabe 4e55dc4ce79978d88ca4d215949d2402 b78d6acc99ea179b8dbb")
    );
    let srtcp = sender.protect_rtcp(&hex(RTCP)).expect("protected");
    assert_eq!(
        srtcp,
        hex("81c8000bcafebabe 7128035be487b9bdbef89041f977a5a8 80000001 993e08cd54d6c1230798")
    );
    let mut receiver = Srtp::new(&cm_key(), &cm_key()).expect("keyed");
    assert_eq!(receiver.unprotect_rtp(&srtp), Ok(hex(RTP)));
    assert_eq!(receiver.unprotect_rtcp(&srtcp), Ok(hex(RTCP)));
}

#[test]
fn aead_aes_128_gcm_gives_libsrtps_reference_packets() {
    let mut sender = Srtp::new(&gcm_key(), &gcm_key()).expect("keyed");
    let srtp = sender.protect_rtp(&hex(RTP)).expect("protected");
    assert_eq!(
        srtp,
        hex(
            "800f1234decafbadcafebabe c5002ede04cfdd2eb91159e0880aa06e d2976826f796b201df3131a127e8a392"
        )
    );
    let srtcp = sender.protect_rtcp(&hex(RTCP)).expect("protected");
    assert_eq!(
        srtcp,
        hex(
            "81c8000bcafebabe c98b8b5df0392a55852b6c21ac8e7025 c52c6fbea2b3b446ea31123ba88ce61e 80000001"
        )
    );
    let mut receiver = Srtp::new(&gcm_key(), &gcm_key()).expect("keyed");
    assert_eq!(receiver.unprotect_rtp(&srtp), Ok(hex(RTP)));
    assert_eq!(receiver.unprotect_rtcp(&srtcp), Ok(hex(RTCP)));
}

/// An RTP packet with this sequence number and a 160-byte PCMU-like payload.
fn rtp(seq: u16) -> Vec<u8> {
    let mut packet = vec![0x80, 0x00];
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    packet.extend_from_slice(&0x1122_3344u32.to_be_bytes());
    packet.extend((0..160).map(|i| (i as u8) ^ (seq as u8)));
    packet
}

fn pair(suite: Suite) -> (Srtp, Srtp) {
    let a = MasterKey::generate(suite, |b| {
        b.iter_mut().enumerate().for_each(|(i, x)| *x = i as u8)
    })
    .expect("a");
    let b = MasterKey::generate(suite, |b| {
        b.iter_mut()
            .enumerate()
            .for_each(|(i, x)| *x = 200 - i as u8);
    })
    .expect("b");
    (
        Srtp::new(&a, &b).expect("alice"),
        Srtp::new(&b, &a).expect("bob"),
    )
}

#[test]
fn every_suite_carries_a_call_both_ways_and_hides_the_payload() {
    for suite in Suite::ALL {
        let (mut alice, mut bob) = pair(suite);
        for seq in 1..50u16 {
            let sent = alice.protect_rtp(&rtp(seq)).expect("protect");
            assert_ne!(
                &sent[12..172],
                &rtp(seq)[12..],
                "{suite}: payload in the clear"
            );
            assert_eq!(bob.unprotect_rtp(&sent), Ok(rtp(seq)), "{suite}");
            let back = bob.protect_rtp(&rtp(seq)).expect("protect");
            assert_eq!(alice.unprotect_rtp(&back), Ok(rtp(seq)), "{suite}");
        }
        let tag = match suite {
            Suite::AesCm128HmacSha1_80 => 10,
            Suite::AesCm128HmacSha1_32 => 4,
            Suite::AeadAes128Gcm => 16,
        };
        assert_eq!(
            alice.protect_rtp(&rtp(60)).expect("protect").len(),
            rtp(60).len() + tag,
            "{suite}"
        );
        assert_eq!(alice.stats(), SrtpStats::default());
    }
}

#[test]
fn a_forged_or_damaged_packet_is_refused_and_counted() {
    let (mut alice, mut bob) = pair(Suite::AesCm128HmacSha1_80);
    let mut sent = alice.protect_rtp(&rtp(7)).expect("protect");
    sent[20] ^= 1;
    assert_eq!(bob.unprotect_rtp(&sent), Err(SrtpError::AuthFailed));
    // Keyed by someone else: the same.
    let (mut mallory, _) = pair(Suite::AesCm128HmacSha1_80);
    let mut stranger = mallory.protect_rtp(&rtp(8)).expect("protect");
    stranger[8..12].copy_from_slice(&0x5566_7788u32.to_be_bytes());
    assert_eq!(bob.unprotect_rtp(&stranger), Err(SrtpError::AuthFailed));
    assert_eq!(bob.stats().auth_failures, 2);
    // Plain RTP sent to an encrypted call is refused too.
    assert!(bob.unprotect_rtp(&rtp(9)).is_err());
    assert!(bob.unprotect_rtp(&[0x80, 0x00, 0x01]).is_err(), "too short");
}

#[test]
fn a_replayed_packet_is_refused_and_counted() {
    let (mut alice, mut bob) = pair(Suite::AesCm128HmacSha1_80);
    let first = alice.protect_rtp(&rtp(100)).expect("protect");
    let second = alice.protect_rtp(&rtp(101)).expect("protect");
    assert!(bob.unprotect_rtp(&second).is_ok());
    assert!(bob.unprotect_rtp(&first).is_ok(), "late but not replayed");
    assert_eq!(bob.unprotect_rtp(&first), Err(SrtpError::Replayed));
    assert_eq!(bob.stats().replayed, 1);
}

#[test]
fn the_roll_over_counter_carries_the_stream_across_the_sequence_wrap() {
    let (mut alice, mut bob) = pair(Suite::AesCm128HmacSha1_80);
    // Past 65535 the sequence number wraps and the ROC counts one: both sides must agree.
    for n in 0..400u32 {
        let seq = (65_400 + n) as u16;
        let sent = alice.protect_rtp(&rtp(seq)).expect("protect");
        assert_eq!(
            bob.unprotect_rtp(&sent),
            Ok(rtp(seq)),
            "seq {seq} after {n}"
        );
    }
    assert_eq!(bob.stats(), SrtpStats::default());
}

#[test]
fn crypto_attributes_are_read_and_written() {
    // RFC 4568 §4's example.
    let attribute = CryptoAttribute::parse(
        "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32",
    );
    assert!(
        matches!(
            attribute,
            Err(SrtpError::BadAttribute {
                why: "an MKI is not supported",
                ..
            })
        ),
        "{attribute:?}"
    );
    let read = CryptoAttribute::parse(
        "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20",
    )
    .expect("reads");
    assert_eq!(read.tag, 1);
    assert_eq!(read.key.suite(), Suite::AesCm128HmacSha1_80);
    assert_eq!(
        read.to_value(),
        "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"
    );
    assert_eq!(CryptoAttribute::parse(&read.to_value()), Ok(read));
    let gcm = CryptoAttribute {
        tag: 3,
        key: gcm_key(),
    };
    assert_eq!(CryptoAttribute::parse(&gcm.to_value()), Ok(gcm));
    for (line, why) in [
        (
            "x AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
            "the tag is not a number",
        ),
        (
            "1 F8_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
            "a crypto suite recall does not have",
        ),
        ("1 AES_CM_128_HMAC_SHA1_80", "no key parameters"),
        (
            "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVm",
            "the key has the wrong length",
        ),
        (
            "1 AES_CM_128_HMAC_SHA1_80 inline:!!!!",
            "the key is not base64",
        ),
        (
            "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR UNENCRYPTED_SRTP",
            "session parameters are not supported",
        ),
        (
            "1 AES_CM_128_HMAC_SHA1_80 uri:https://example.com/key",
            "the key is not inline:",
        ),
    ] {
        match CryptoAttribute::parse(line) {
            Err(SrtpError::BadAttribute { why: got, .. }) => assert_eq!(got, why, "{line}"),
            other => panic!("{line}: {other:?}"),
        }
    }
    let printed = format!("{:?}", gcm_key());
    assert!(
        !printed.contains("0001"),
        "a key is never printed: {printed}"
    );
}

#[test]
fn keys_of_the_wrong_length_or_suite_are_refused() {
    assert!(matches!(
        MasterKey::new(Suite::AeadAes128Gcm, &[0; 30]),
        Err(SrtpError::KeyLength {
            expected: 28,
            got: 30,
            ..
        })
    ));
    assert_eq!(
        Srtp::new(&cm_key(), &gcm_key()).map(|_| ()),
        Err(SrtpError::SuiteMismatch(
            Suite::AesCm128HmacSha1_80,
            Suite::AeadAes128Gcm
        ))
    );
}

#[test]
fn a_packet_whose_header_runs_past_its_end_is_refused_not_a_panic() {
    // What the srtp_unprotect fuzz target found when rtc-srtp did the transform (it sliced by
    // the header it parsed), and its version-2 cousins: CSRCs or an extension claimed beyond
    // the packet.
    let found = include_bytes!("fuzz-crash-header-past-end.bin");
    // A header extension that fits as written (rtc-rtp re-encoded it longer): SRTP for us.
    let reencoded = include_bytes!("fuzz-crash-extension-reencoded.bin");
    let mut extension = vec![
        0x90, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 0xbe, 0xde, 0xff, 0xff,
    ];
    extension.extend_from_slice(&[0; 40]);
    let mut csrcs = vec![0x8f, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7];
    csrcs.extend_from_slice(&[0; 30]);
    for suite in Suite::ALL {
        let key = |seed: u8| MasterKey::generate(suite, |b| b.fill(seed)).expect("key");
        let mut srtp = Srtp::new(&key(1), &key(2)).expect("srtp");
        let mut peer = Srtp::new(&key(2), &key(1)).expect("peer");
        let sent = srtp.protect_rtp(reencoded).expect("it fits");
        assert_eq!(
            peer.unprotect_rtp(&sent).as_deref(),
            Ok(&reencoded[..]),
            "{suite}"
        );
        for packet in [&found[..], &extension, &csrcs] {
            assert!(
                matches!(srtp.protect_rtp(packet), Err(SrtpError::Malformed(_))),
                "{suite}"
            );
            assert!(srtp.unprotect_rtp(packet).is_err(), "{suite}");
        }
    }
}

/// rtc-srtp (webrtc-rs), keyed as `key` is, for the cross-check below.
fn reference(key: &MasterKey) -> rtc_srtp::context::Context {
    use rtc_srtp::option::{srtcp_replay_protection, srtp_replay_protection};
    use rtc_srtp::protection_profile::ProtectionProfile;
    let profile = match key.suite() {
        Suite::AesCm128HmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
        Suite::AesCm128HmacSha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
        Suite::AeadAes128Gcm => ProtectionProfile::AeadAes128Gcm,
    };
    let provider = rtc_crypto::default_provider().expect("ring");
    rtc_srtp::context::Context::new(
        key.key(),
        key.salt(),
        profile,
        Some(srtp_replay_protection(128)),
        Some(srtcp_replay_protection(128)),
        provider.crypto(),
    )
    .expect("rtc-srtp context")
}

/// RTP with CSRCs and a header extension, for the cross-check.
fn rtp_with_extension(seq: u16) -> Vec<u8> {
    let mut packet = vec![0x92, 0x00];
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    packet.extend_from_slice(&0x1122_3344u32.to_be_bytes());
    packet.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]);
    packet.extend_from_slice(&[0xbe, 0xde, 0, 1, 0x10, 0xaa, 0, 0]);
    packet.extend((0..33).map(|i| (i as u8) ^ (seq as u8)));
    packet
}

#[test]
fn every_suite_gives_what_rtc_srtp_gives_packet_for_packet_across_the_wrap() {
    for suite in Suite::ALL {
        let key = |seed: u8| {
            MasterKey::generate(suite, |b| {
                b.iter_mut()
                    .enumerate()
                    .for_each(|(i, x)| *x = seed.wrapping_mul(i as u8 + 1));
            })
            .expect("key")
        };
        let (ours_key, theirs_key) = (key(3), key(7));
        let mut ours = Srtp::new(&ours_key, &theirs_key).expect("ours");
        let mut same_keys = reference(&ours_key);
        let mut peer_sends = reference(&theirs_key);
        let mut peer_hears = reference(&ours_key);
        // 600 packets from 65 300 on: the roll-over counter goes to 1 on both sides.
        for n in 0..600u32 {
            let seq = (65_300 + n) as u16;
            let plain = if n % 7 == 0 {
                rtp_with_extension(seq)
            } else {
                rtp(seq)
            };
            let sent = ours.protect_rtp(&plain).expect("protect");
            let expected = same_keys.encrypt_rtp(&plain).expect("rtc-srtp protects");
            assert_eq!(sent, expected.to_vec(), "{suite}: seq {seq} after {n}");
            let heard = peer_hears.decrypt_rtp(&sent).expect("rtc-srtp unprotects");
            assert_eq!(heard.to_vec(), plain, "{suite}");
            let back = peer_sends.encrypt_rtp(&plain).expect("rtc-srtp protects");
            assert_eq!(ours.unprotect_rtp(&back), Ok(plain.clone()), "{suite}: {n}");
            if n % 50 == 0 {
                let report = hex(RTCP);
                let srtcp = ours.protect_rtcp(&report).expect("protect");
                let expected = same_keys.encrypt_rtcp(&report).expect("rtc-srtp protects");
                assert_eq!(srtcp, expected.to_vec(), "{suite}: SRTCP {n}");
                let heard = peer_hears
                    .decrypt_rtcp(&srtcp)
                    .expect("rtc-srtp unprotects");
                assert_eq!(heard.to_vec(), report, "{suite}");
                let back = peer_sends.encrypt_rtcp(&report).expect("rtc-srtp protects");
                assert_eq!(ours.unprotect_rtcp(&back), Ok(report), "{suite}");
            }
        }
        assert_eq!(ours.stats(), SrtpStats::default(), "{suite}");
    }
}

#[test]
fn a_late_packet_from_before_the_wrap_is_heard_and_a_second_copy_is_not() {
    for suite in Suite::ALL {
        let (mut alice, mut bob) = pair(suite);
        let before = alice.protect_rtp(&rtp(65_530)).expect("protect");
        for seq in [65_531, 65_532, 65_533, 65_534, 65_535, 0, 1, 2] {
            let sent = alice.protect_rtp(&rtp(seq)).expect("protect");
            assert_eq!(bob.unprotect_rtp(&sent), Ok(rtp(seq)), "{suite}: {seq}");
        }
        // Late, across the wrap (roll-over counter 0 while the stream is at 1): still heard.
        assert_eq!(bob.unprotect_rtp(&before), Ok(rtp(65_530)), "{suite}");
        assert_eq!(
            bob.unprotect_rtp(&before),
            Err(SrtpError::Replayed),
            "{suite}"
        );
        // Far older than the window: refused as a replay, and the stream goes on.
        let ancient = alice.protect_rtp(&rtp(3)).expect("protect");
        for seq in 4..200 {
            let sent = alice.protect_rtp(&rtp(seq)).expect("protect");
            assert!(bob.unprotect_rtp(&sent).is_ok(), "{suite}: {seq}");
        }
        assert_eq!(
            bob.unprotect_rtp(&ancient),
            Err(SrtpError::Replayed),
            "{suite}"
        );
        let next = alice.protect_rtp(&rtp(200)).expect("protect");
        assert_eq!(bob.unprotect_rtp(&next), Ok(rtp(200)), "{suite}");
        assert_eq!(bob.stats().replayed, 2, "{suite}");
    }
}

#[test]
fn a_new_ssrc_is_heard_and_a_forged_one_leaves_no_state() {
    for suite in Suite::ALL {
        let (mut alice, mut bob) = pair(suite);
        let stranger = MasterKey::generate(suite, |b| b.fill(0x5a)).expect("key");
        let mut mallory = Srtp::new(&stranger, &stranger).expect("mallory");
        for ssrc in 1..=6u32 {
            let mut packet = rtp(10);
            packet[8..12].copy_from_slice(&ssrc.to_be_bytes());
            // A new SSRC keyed by someone else first: refused, and it leaves nothing behind
            // that would make the genuine packet look replayed.
            let forged = mallory.protect_rtp(&packet).expect("protect");
            assert_eq!(bob.unprotect_rtp(&forged), Err(SrtpError::AuthFailed));
            let sent = alice.protect_rtp(&packet).expect("protect");
            assert_eq!(bob.unprotect_rtp(&sent), Ok(packet.clone()), "{suite}");
            assert_eq!(bob.unprotect_rtp(&sent), Err(SrtpError::Replayed));
        }
        assert_eq!(bob.stats().auth_failures, 6, "{suite}");
    }
}

#[test]
fn our_hmac_sha1_gives_rfc_2202s_digest_and_the_hmac_crates_for_any_split_of_its_input() {
    use hmac::Mac as _;
    // RFC 2202 test case 1: a 20-byte key, "Hi There".
    let key = [0x0b; 20];
    let expected = "b617318655057264e28bc0b6fb378c8ef146be00";
    let digest = super::transform::Sha1Mac::new(&key).mac(&[b"Hi There"]);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, expected);
    // Every length to three blocks and a half, in two parts split at every point (the SRTP
    // packet and its roll-over counter are two), against the hmac crate.
    let key: [u8; 20] = std::array::from_fn(|i| (i * 7 + 3) as u8);
    let ours = super::transform::Sha1Mac::new(&key);
    let data: Vec<u8> = (0..224u32).map(|i| (i * 31 + 5) as u8).collect();
    for len in 0..data.len() {
        let mut theirs = hmac::Hmac::<sha1::Sha1>::new_from_slice(&key).expect("key");
        theirs.update(&data[..len]);
        let theirs: [u8; 20] = theirs.finalize().into_bytes().into();
        for split in [0, len / 3, len / 2, len.saturating_sub(4), len] {
            let (a, b) = data[..len].split_at(split);
            assert_eq!(ours.mac(&[a, b]), theirs, "{len} bytes split at {split}");
        }
    }
}

#[test]
fn srtcp_from_new_ssrcs_does_not_change_which_rtp_stream_a_fifth_ssrc_replaces() {
    for suite in Suite::ALL {
        let (mut alice, mut bob) = pair(suite);
        let with_ssrc = |mut packet: Vec<u8>, ssrc: u32| {
            packet[8..12].copy_from_slice(&ssrc.to_be_bytes());
            packet
        };
        let sent = alice.protect_rtp(&with_ssrc(rtp(1), 1)).expect("protect");
        assert!(bob.unprotect_rtp(&sent).is_ok(), "{suite}");
        // Stream 2 crosses the sequence wrap: its roll-over counter is 1 on both sides.
        for seq in [65_530u16, 65_535, 0, 5] {
            let sent = alice.protect_rtp(&with_ssrc(rtp(seq), 2)).expect("protect");
            assert!(bob.unprotect_rtp(&sent).is_ok(), "{suite}: seq {seq}");
        }
        for ssrc in [3, 4] {
            let sent = alice
                .protect_rtp(&with_ssrc(rtp(1), ssrc))
                .expect("protect");
            assert!(bob.unprotect_rtp(&sent).is_ok(), "{suite}: ssrc {ssrc}");
        }
        // SRTCP from five SSRCs: its fifth replaces one of SRTCP's slots, none of RTP's.
        for ssrc in 10..15u32 {
            let mut report = vec![0x80, 200, 0, 6];
            report.extend_from_slice(&ssrc.to_be_bytes());
            report.resize(28, 0);
            let sent = alice.protect_rtcp(&report).expect("protect");
            assert_eq!(bob.unprotect_rtcp(&sent), Ok(report), "{suite}");
        }
        // A fifth RTP SSRC replaces the first stream on both sides (stream 1's slot)...
        let sent = alice.protect_rtp(&with_ssrc(rtp(1), 5)).expect("protect");
        assert!(bob.unprotect_rtp(&sent).is_ok(), "{suite}");
        // ...so stream 2 goes on past its wrap (had bob replaced it instead, he would guess a
        // roll-over counter of 0 and refuse it), and stream 1, replaced on both, starts over.
        for (ssrc, seq) in [(2, 6), (3, 2), (4, 2), (1, 2)] {
            let sent = alice
                .protect_rtp(&with_ssrc(rtp(seq), ssrc))
                .expect("protect");
            assert!(
                bob.unprotect_rtp(&sent).is_ok(),
                "{suite}: ssrc {ssrc} after the fifth"
            );
        }
        assert_eq!(bob.stats().auth_failures, 0, "{suite}");
    }
}

#[test]
fn aes_cm_gives_rfc_3711_appendix_b2s_keystream() {
    use aes::cipher::KeyInit as _;
    // B.2: session key 2B7E…4F3C, salt F0…FD shifted in, SSRC 0, index 0; the keystream's
    // first and last three blocks of the 65 282 (counter 0000 to FF01).
    let aes =
        aes::Aes128Enc::new_from_slice(&hex("2B7E151628AED2A6ABF7158809CF4F3C")).expect("key");
    let iv: [u8; 16] = hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000")
        .try_into()
        .expect("iv");
    let mut keystream = vec![0u8; 65_282 * 16];
    super::transform::ctr_xor(&aes, iv, &mut keystream);
    let block = |n: usize| keystream[n * 16..n * 16 + 16].to_vec();
    assert_eq!(block(0), hex("E03EAD0935C95E80E166B16DD92B4EB4"));
    assert_eq!(block(1), hex("D23513162B02D0F72A43A2FE4A5F97AB"));
    assert_eq!(block(2), hex("41E95B3BB0A2E8DD477901E4FCA894C0"));
    assert_eq!(block(0xFEFF), hex("EC8CDF7398607CB0F2D21675EA9EA1E4"));
    assert_eq!(block(0xFF00), hex("362B7C3C6773516318A077D7FC5073AE"));
    assert_eq!(block(0xFF01), hex("6A2CC3787889374FBEB4C81B17BA6C44"));
}

#[test]
fn key_derivation_gives_rfc_3711_appendix_b3s_session_keys() {
    use aes::cipher::KeyInit as _;
    let master =
        aes::Aes128Enc::new_from_slice(&hex("E1F97A0D3E018BE0D64FA32C06DE4139")).expect("key");
    let salt = hex("0EC675AD498AFEEBB6960B3AABE6");
    let derive = |label: u8, len: usize| {
        let mut out = vec![0u8; len];
        super::transform::derive(&master, &salt, label, &mut out);
        out
    };
    assert_eq!(
        derive(0, 16),
        hex("C61E7A93744F39EE10734AFE3FF7A087"),
        "cipher key"
    );
    assert_eq!(
        derive(2, 14),
        hex("30CBBC08863D8C85D49DB34A9AE1"),
        "cipher salt"
    );
    // The RFC prints 94 bytes of the auth keystream; HMAC-SHA1 keys take the first 20.
    assert_eq!(
        derive(1, 20),
        hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4"),
        "auth key"
    );
}
