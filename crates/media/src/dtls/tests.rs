// One real instant is the epoch of the tests' virtual time; the code under test never reads
// the clock.
#![allow(clippy::disallowed_methods)]

use super::*;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn fingerprints_read_and_write_as_rfc_8122_says() {
    let value = "sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF";
    let fingerprint = Fingerprint::parse(value).expect("reads");
    assert_eq!(fingerprint.to_value(), value);
    // The hash name in any case (baresip writes SHA-256), hex in any case.
    let upper =
        Fingerprint::parse(&value.replace("sha-256", "SHA-256").to_lowercase()).expect("reads");
    assert_eq!(upper, fingerprint);
    for bad in [
        "sha-256",
        "md5 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B",
        "sha-256 4A:AD",
        "sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:4A:AD:B9:B1:3F:82:18:3B:54:02:12:ZZ",
        "sha-256 4AAD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF",
        "",
    ] {
        assert!(Fingerprint::parse(bad).is_err(), "{bad:?}");
    }
    let sha1 = Fingerprint::of(b"certificate", FingerprintHash::Sha1);
    assert!(sha1.to_value().starts_with("sha-1 "));
    assert_eq!(Fingerprint::parse(&sha1.to_value()).expect("reads"), sha1);
    assert!(sha1.matches(b"certificate") && !sha1.matches(b"another"));
}

#[test]
fn setup_roles_read_in_any_case() {
    assert_eq!(Setup::parse("ACTPASS"), Some(Setup::ActPass));
    assert_eq!(Setup::parse("active"), Some(Setup::Active));
    assert_eq!(Setup::parse(" passive "), Some(Setup::Passive));
    assert_eq!(Setup::parse("holdconn"), Some(Setup::HoldConn));
    assert_eq!(Setup::parse("both"), None);
}

/// Two associations exchanging datagrams in virtual time until both are keyed (or `ticks`
/// 20 ms steps pass). Returns what each side concluded.
fn handshake(
    client: &mut DtlsTransport,
    server: &mut DtlsTransport,
    t0: Instant,
    ticks: u32,
) -> (Option<DtlsOutcome>, Option<DtlsOutcome>) {
    let (c, s) = (addr(4000), addr(5000));
    let (mut client_done, mut server_done) = (None, None);
    for tick in 0..ticks {
        let now = t0 + Duration::from_millis(20 * u64::from(tick));
        for outcome in [client.start(now, Some(s)), client.handle_timeout(now)] {
            if outcome != DtlsOutcome::Nothing {
                client_done.get_or_insert(outcome);
            }
        }
        let outcome = server.handle_timeout(now);
        if outcome != DtlsOutcome::Nothing {
            server_done.get_or_insert(outcome);
        }
        while let Some((to, bytes)) = client.poll_transmit() {
            assert_eq!(to, s);
            let outcome = server.handle(now, c, &bytes);
            if outcome != DtlsOutcome::Nothing {
                server_done.get_or_insert(outcome);
            }
        }
        while let Some((to, bytes)) = server.poll_transmit() {
            assert_eq!(to, c);
            let outcome = client.handle(now, s, &bytes);
            if outcome != DtlsOutcome::Nothing {
                client_done.get_or_insert(outcome);
            }
        }
        if client_done.is_some() && server_done.is_some() {
            break;
        }
    }
    (client_done, server_done)
}

fn pair(
    suites_client: &[Suite],
    suites_server: &[Suite],
    server_expects: Option<Fingerprint>,
) -> (DtlsTransport, DtlsTransport) {
    let (a, b) = (
        DtlsIdentity::generate().expect("a"),
        DtlsIdentity::generate().expect("b"),
    );
    let client = DtlsTransport::new(
        &a,
        &DtlsAgreed {
            client: true,
            remote_fingerprint: b.fingerprint().clone(),
        },
        suites_client,
    )
    .expect("client");
    let server = DtlsTransport::new(
        &b,
        &DtlsAgreed {
            client: false,
            remote_fingerprint: server_expects.unwrap_or_else(|| a.fingerprint().clone()),
        },
        suites_server,
    )
    .expect("server");
    (client, server)
}

#[test]
fn a_handshake_keys_both_sides_crosswise_for_each_profile() {
    for suite in Suite::ALL {
        let (mut client, mut server) = pair(&[suite], &Suite::ALL, None);
        let t0 = Instant::now();
        let (c, s) = handshake(&mut client, &mut server, t0, 50);
        let (Some(DtlsOutcome::Keyed(c)), Some(DtlsOutcome::Keyed(s))) = (c, s) else {
            panic!("{suite}: not keyed");
        };
        assert_eq!(c.suite(), suite);
        assert_eq!(
            c.local, s.remote,
            "{suite}: the client's key is the server's remote"
        );
        assert_eq!(c.remote, s.local, "{suite}");
        assert_ne!(c.local, c.remote, "{suite}: two directions, two keys");
        // The keys work: what one side protects the other unprotects.
        let (mut a, mut b) = (
            crate::srtp::Srtp::new(&c.local, &c.remote).expect("a"),
            crate::srtp::Srtp::new(&s.local, &s.remote).expect("b"),
        );
        let rtp = [0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7, 1, 2, 3, 4];
        let protected = a.protect_rtp(&rtp).expect("protect");
        assert_eq!(b.unprotect_rtp(&protected).expect("unprotect"), rtp);
    }
    // The server's preference decides among the client's profiles.
    let (mut client, mut server) = pair(
        &Suite::ALL,
        &[Suite::AeadAes128Gcm, Suite::AesCm128HmacSha1_80],
        None,
    );
    let (c, _) = handshake(&mut client, &mut server, Instant::now(), 50);
    match c {
        Some(DtlsOutcome::Keyed(keys)) => assert!(
            [Suite::AeadAes128Gcm, Suite::AesCm128HmacSha1_80].contains(&keys.suite()),
            "{:?}",
            keys.suite()
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_certificate_that_is_not_the_signalled_one_is_refused() {
    let stranger = DtlsIdentity::generate().expect("c").fingerprint().clone();
    let (mut client, mut server) = pair(&Suite::ALL, &Suite::ALL, Some(stranger));
    let (_, s) = handshake(&mut client, &mut server, Instant::now(), 50);
    match s {
        Some(DtlsOutcome::Failed(why)) => assert!(why.contains("a=fingerprint"), "{why}"),
        other => panic!("the server took a stranger's certificate: {other:?}"),
    }
}

#[test]
fn a_handshake_that_never_happens_fails_at_the_deadline() {
    let (mut client, _) = pair(&Suite::ALL, &Suite::ALL, None);
    let t0 = Instant::now();
    assert_eq!(client.start(t0, Some(addr(5000))), DtlsOutcome::Nothing);
    let mut sent = 0;
    let mut failed = None;
    for tick in 1..=600 {
        let now = t0 + Duration::from_millis(20 * tick);
        while client.poll_transmit().is_some() {
            sent += 1;
        }
        if let DtlsOutcome::Failed(why) = client.handle_timeout(now) {
            failed = Some((now - t0, why));
            break;
        }
    }
    let (after, why) = failed.expect("failed");
    assert!(after <= HANDSHAKE_DEADLINE, "{after:?}");
    assert!(sent >= 2, "the ClientHello was retransmitted ({sent})");
    assert!(why.contains("DTLS"), "{why}");
}

#[test]
fn garbage_and_strangers_do_not_disturb_the_handshake() {
    let (mut client, mut server) = pair(&Suite::ALL, &Suite::ALL, None);
    let t0 = Instant::now();
    for junk in [&[20u8][..], &[22, 254, 253, 0, 0], &[23; 40], &[63; 3]] {
        assert_eq!(server.handle(t0, addr(4000), junk), DtlsOutcome::Nothing);
    }
    // The server now belongs to 127.0.0.1:4000; a stranger is not heard.
    assert_eq!(
        server.handle(t0, addr(6666), &[22; 30]),
        DtlsOutcome::Nothing
    );
    let (c, s) = handshake(&mut client, &mut server, t0, 100);
    assert!(matches!(c, Some(DtlsOutcome::Keyed(_))), "{c:?}");
    assert!(matches!(s, Some(DtlsOutcome::Keyed(_))), "{s:?}");
}

#[test]
fn is_dtls_reads_the_first_byte_as_rfc_7983_says() {
    assert!(is_dtls(&[22, 254, 253]));
    assert!(!is_dtls(&[0x80, 0]));
    assert!(!is_dtls(&[0, 1]));
    assert!(!is_dtls(&[]));
}
