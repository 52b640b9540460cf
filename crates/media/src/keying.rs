//! Media keying in offer/answer: SDES (RFC 4568: `a=crypto` keys in the SDP) and DTLS-SRTP
//! (RFC 5763: `a=fingerprint` and `a=setup`, keys from a handshake on the media port). Which
//! `m=` profile and attributes an offer carries for the encryption policy, what an answer
//! takes, and what an exchange agreed. Opportunistic offers (RFC 8643) keep `RTP/AVP` and add
//! the keying, so a peer without SRTP still answers in the clear.

use std::fmt;

use sipx_sdp::{Attribute, MediaDescription};

use crate::dtls::{DtlsAgreed, Fingerprint, Setup};
use crate::sdp::SdpError;
use crate::srtp::{CryptoAttribute, MasterKey, Suite};

/// Whether a call's media is encrypted (`[media] encryption`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Encryption {
    /// Plain RTP; an offer that requires SRTP (`RTP/SAVP`) is refused.
    #[default]
    Off,
    /// SRTP when the peer takes it (RFC 8643 opportunistic offer), plain RTP otherwise.
    Optional,
    /// SRTP or no call: an offer without a usable key is refused.
    Mandatory,
}

impl Encryption {
    /// The policy a config word names.
    #[must_use]
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "off" => Some(Self::Off),
            "optional" => Some(Self::Optional),
            "mandatory" => Some(Self::Mandatory),
            _ => None,
        }
    }
}

/// The keys an exchange agreed: ours protects what we send, the peer's what we receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtpKeys {
    /// Our key.
    pub local: MasterKey,
    /// The peer's key.
    pub remote: MasterKey,
}

impl SrtpKeys {
    /// The suite both keys are for.
    #[must_use]
    pub fn suite(&self) -> Suite {
        self.local.suite()
    }
}

impl fmt::Display for SrtpKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sdes-srtp {}", self.suite())
    }
}

/// The `a=crypto` lines of a stream that read as keys we can use, in the stream's order.
fn offered_keys(stream: &MediaDescription) -> Vec<CryptoAttribute> {
    stream
        .attributes
        .iter()
        .filter(|a| a.name == "crypto")
        .filter_map(|a| a.value.as_deref())
        .filter_map(|v| CryptoAttribute::parse(v).ok())
        .collect()
}

/// Whether a stream's profile is secure RTP keyed by SDES (`RTP/SAVP`, `RTP/SAVPF`).
fn requires_srtp(stream: &MediaDescription) -> bool {
    stream.protocol.contains("SAVP") && !stream.protocol.contains("TLS")
}

/// Whether a stream's profile is secure RTP keyed by DTLS (`UDP/TLS/RTP/SAVP`, RFC 5764 §8).
fn requires_dtls(stream: &MediaDescription) -> bool {
    stream.protocol.contains("TLS")
}

/// An attribute's value at the stream's level, else the session's (RFC 8122 §5 allows both
/// for `a=fingerprint`; baresip writes `a=setup` at session level too).
fn attribute<'a>(
    stream: &'a MediaDescription,
    session: &'a [Attribute],
    name: &str,
) -> Option<&'a str> {
    stream
        .attributes
        .iter()
        .chain(session)
        .find(|a| a.name == name)
        .and_then(|a| a.value.as_deref())
}

/// How a call's media is keyed when it is encrypted (`[media] keying`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Keying {
    /// SDES (RFC 4568): keys in the SDP, so only over TLS signalling.
    #[default]
    Sdes,
    /// DTLS-SRTP (RFC 5763/5764): a handshake on the media port, fingerprint in the SDP.
    Dtls,
}

impl Keying {
    /// The keying a config word names.
    #[must_use]
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "sdes" => Some(Self::Sdes),
            "dtls" => Some(Self::Dtls),
            _ => None,
        }
    }
}

/// What this side brings to keying: the policy, the preferred keying, our SDES keys and our
/// DTLS certificate's fingerprint (either may be missing).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ours<'a> {
    pub(crate) encryption: Encryption,
    pub(crate) keying: Keying,
    pub(crate) crypto: &'a [CryptoAttribute],
    pub(crate) fingerprint: Option<&'a Fingerprint>,
    pub(crate) dtls_role: Option<Setup>,
}

/// Writes our keying into our offer's audio stream. SDES: `RTP/SAVP` and `a=crypto` when
/// encryption is mandatory, `RTP/AVP` with `a=crypto` when optional (RFC 8643). DTLS:
/// `UDP/TLS/RTP/SAVP` when mandatory, `RTP/AVP` when optional, with `a=fingerprint` and
/// `a=setup:actpass` (RFC 5763 §5). Nothing when off.
pub(crate) fn offer(stream: &mut MediaDescription, ours: Ours<'_>) {
    if ours.encryption == Encryption::Off {
        return;
    }
    let mandatory = ours.encryption == Encryption::Mandatory;
    match (ours.keying, ours.fingerprint) {
        (Keying::Dtls, Some(fingerprint)) => {
            if mandatory {
                "UDP/TLS/RTP/SAVP".clone_into(&mut stream.protocol);
            }
            write_dtls(stream, fingerprint, Setup::ActPass);
        }
        _ if ours.crypto.is_empty() => {}
        _ => {
            if mandatory {
                "RTP/SAVP".clone_into(&mut stream.protocol);
            }
            for key in ours.crypto {
                stream
                    .attributes
                    .push(Attribute::valued("crypto", key.to_value()));
            }
        }
    }
}

fn write_dtls(stream: &mut MediaDescription, fingerprint: &Fingerprint, setup: Setup) {
    stream
        .attributes
        .retain(|a| !matches!(a.name.as_str(), "crypto" | "fingerprint" | "setup"));
    stream
        .attributes
        .push(Attribute::valued("fingerprint", fingerprint.to_value()));
    stream
        .attributes
        .push(Attribute::valued("setup", setup.as_str()));
}

/// What our answer to an offer's audio stream takes.
#[derive(Debug, Clone)]
pub(crate) enum Accepted {
    /// Plain RTP.
    Plain,
    /// SDES: the offered key we take, and ours of its suite.
    Sdes(CryptoAttribute, MasterKey),
    /// DTLS-SRTP: our role and the peer's certificate, and the `a=setup` we answer.
    Dtls(DtlsAgreed, Setup),
}

/// What an offer's audio stream asks of our keying, under our policy (`session`: the offer's
/// session-level attributes), or why the stream is refused (488). An opportunistic offer
/// carrying both keyings gets the one we prefer.
pub(crate) fn accept(
    stream: &MediaDescription,
    session: &[Attribute],
    ours: Ours<'_>,
) -> Result<Accepted, SdpError> {
    if ours.encryption == Encryption::Off {
        return if requires_dtls(stream) {
            Err(SdpError::Encryption(
                "the offer requires DTLS-SRTP (UDP/TLS/RTP/SAVP) and media encryption is off",
            ))
        } else if requires_srtp(stream) {
            Err(SdpError::Encryption(
                "the offer requires SRTP (RTP/SAVP) and media encryption is off",
            ))
        } else {
            // RFC 8643: an opportunistic offer is answered in the clear.
            Ok(Accepted::Plain)
        };
    }
    let dtls = || -> Result<Accepted, SdpError> {
        if ours.fingerprint.is_none() {
            return Err(SdpError::Encryption(
                "the offer keys SRTP by DTLS, and recall has no DTLS certificate this run",
            ));
        }
        let theirs = attribute(stream, session, "fingerprint")
            .and_then(|v| Fingerprint::parse(v).ok())
            .ok_or(SdpError::Encryption(
                "the offer keys SRTP by DTLS but has no a=fingerprint that reads",
            ))?;
        // RFC 5763 §5: the answerer takes the role the offer leaves it, active by preference,
        // or the one it already holds in the association (a re-offer).
        let setup = match attribute(stream, session, "setup").and_then(Setup::parse) {
            Some(Setup::Active) => Setup::Passive,
            Some(Setup::Passive) => Setup::Active,
            Some(Setup::HoldConn) => {
                return Err(SdpError::Encryption(
                    "the offer's a=setup:holdconn leaves no DTLS role to take",
                ));
            }
            _ => ours.dtls_role.unwrap_or(Setup::Active),
        };
        Ok(Accepted::Dtls(
            DtlsAgreed {
                client: setup == Setup::Active,
                remote_fingerprint: theirs,
            },
            setup,
        ))
    };
    if requires_dtls(stream) {
        return dtls();
    }
    let sdes = offered_keys(stream).into_iter().find_map(|theirs| {
        ours.crypto
            .iter()
            .find(|o| o.key.suite() == theirs.key.suite())
            .map(|o| Accepted::Sdes(theirs, o.key.clone()))
    });
    if requires_srtp(stream) {
        return sdes.ok_or(SdpError::Encryption(
            "no SRTP crypto suite in common (recall keys AES_CM_128_HMAC_SHA1_80/_32 and \
             AEAD_AES_128_GCM by SDES) and media encryption is mandatory",
        ));
    }
    // An opportunistic RTP/AVP offer (RFC 8643) may carry either keying, or both.
    let offers_dtls =
        attribute(stream, session, "fingerprint").is_some() && ours.fingerprint.is_some();
    let chosen = match (ours.keying, sdes, offers_dtls) {
        (Keying::Dtls, _, true) | (Keying::Sdes, None, true) => Some(dtls()?),
        (_, Some(sdes), _) => Some(sdes),
        _ => None,
    };
    match chosen {
        Some(accepted) => Ok(accepted),
        None if ours.encryption == Encryption::Mandatory => Err(SdpError::Encryption(
            "the offer carries no SRTP key we can use (a=crypto of a suite recall keys, or \
             a=fingerprint for DTLS) and media encryption is mandatory",
        )),
        None => Ok(Accepted::Plain),
    }
}

/// Writes the keying we answer with on the offer's profile: SDES, the offered attribute's
/// tag and suite with our key; DTLS, our fingerprint and role.
pub(crate) fn answer(
    stream: &mut MediaDescription,
    offered_protocol: &str,
    accepted: &Accepted,
    ours: Ours<'_>,
) {
    match accepted {
        Accepted::Plain => {}
        Accepted::Sdes(theirs, key) => {
            offered_protocol.clone_into(&mut stream.protocol);
            stream.attributes.retain(|a| a.name != "crypto");
            let attribute = CryptoAttribute {
                tag: theirs.tag,
                key: key.clone(),
            };
            stream
                .attributes
                .push(Attribute::valued("crypto", attribute.to_value()));
        }
        Accepted::Dtls(_, setup) => {
            offered_protocol.clone_into(&mut stream.protocol);
            if let Some(fingerprint) = ours.fingerprint {
                write_dtls(stream, fingerprint, *setup);
            }
        }
    }
}

/// What an answer to our offer agreed: SDES keys (RFC 4568 §5.1.3: its tag names one of our
/// attributes, with the same suite), a DTLS role and fingerprint, neither for a plain answer,
/// or why the answer cannot be used under our policy.
pub(crate) fn agreed_by_answer(
    stream: &MediaDescription,
    session: &[Attribute],
    ours: Ours<'_>,
) -> Result<(Option<SrtpKeys>, Option<DtlsAgreed>), SdpError> {
    let answered = stream
        .attributes
        .iter()
        .filter(|a| a.name == "crypto")
        .filter_map(|a| a.value.as_deref())
        .map(CryptoAttribute::parse)
        .next();
    let fingerprint = attribute(stream, session, "fingerprint");
    let offered_dtls = ours.keying == Keying::Dtls && ours.fingerprint.is_some();
    match (answered, fingerprint) {
        (Some(Ok(theirs)), _) => {
            let key = ours
                .crypto
                .iter()
                .find(|o| o.tag == theirs.tag && o.key.suite() == theirs.key.suite())
                .ok_or(SdpError::Encryption(
                    "the answer's a=crypto names no key we offered (tag and suite must match)",
                ))?;
            Ok((
                Some(SrtpKeys {
                    local: key.key.clone(),
                    remote: theirs.key,
                }),
                None,
            ))
        }
        (Some(Err(_)), _) => Err(SdpError::Encryption("the answer's a=crypto does not read")),
        (None, Some(value)) if offered_dtls => {
            let remote_fingerprint = Fingerprint::parse(value)
                .map_err(|_| SdpError::Encryption("the answer's a=fingerprint does not read"))?;
            // RFC 4145 §4: an answer without a=setup is active; we are then the server.
            let client = match attribute(stream, session, "setup").and_then(Setup::parse) {
                Some(Setup::Passive) => true,
                Some(Setup::HoldConn) => {
                    return Err(SdpError::Encryption(
                        "the answer's a=setup:holdconn leaves no DTLS role",
                    ));
                }
                _ => false,
            };
            Ok((
                None,
                Some(DtlsAgreed {
                    client,
                    remote_fingerprint,
                }),
            ))
        }
        _ if requires_srtp(stream)
            || requires_dtls(stream)
            || ours.encryption == Encryption::Mandatory =>
        {
            Err(SdpError::Encryption(
                "the answer carries no SRTP keying and media encryption is mandatory",
            ))
        }
        _ => Ok((None, None)),
    }
}

/// Whether an offer's keying is acceptable under `encryption` with SDES keys of `suites`
/// (none when SDES keys may not cross its signalling) and our DTLS `fingerprint` (if we have
/// a certificate), before anything rings: `Err` says why it must be refused (488).
///
/// # Errors
/// The reason, as [`crate::answer_offer`] would give it.
pub fn check_offer(
    offer: &str,
    encryption: Encryption,
    keying: Keying,
    suites: &[Suite],
    fingerprint: Option<&Fingerprint>,
) -> Result<(), SdpError> {
    let offer = sipx_sdp::parse(offer).map_err(|e| SdpError::Malformed(e.to_string()))?;
    let Some(stream) = offer
        .media
        .iter()
        .find(|m| m.media == "audio" && !m.is_rejected())
    else {
        return Ok(());
    };
    let crypto = fresh_keys_for(suites, |bytes| bytes.fill(0));
    let ours = Ours {
        encryption,
        keying,
        crypto: &crypto,
        fingerprint,
        dtls_role: None,
    };
    match accept(stream, &offer.attributes, ours) {
        // Refused for want of SDES keys we may not send: say so.
        Err(SdpError::Encryption(_))
            if suites.is_empty()
                && encryption != Encryption::Off
                && (requires_srtp(stream) || !offered_keys(stream).is_empty()) =>
        {
            Err(SdpError::Encryption(
                "SDES keys may only cross TLS signalling (RFC 4568 §7.1), and this call's SIP is not encrypted",
            ))
        }
        other => other.map(|_| ()),
    }
}

/// Our keys for an offer: one fresh key per suite, tags 1, 2, 3 in [`Suite::ALL`]'s order,
/// from `fill` (a cryptographically secure source).
#[must_use]
pub fn fresh_keys(fill: impl FnMut(&mut [u8])) -> Vec<CryptoAttribute> {
    fresh_keys_for(&Suite::ALL, fill)
}

/// Our keys for an offer of these suites, in this order of preference (tags from 1).
#[must_use]
pub fn fresh_keys_for(suites: &[Suite], mut fill: impl FnMut(&mut [u8])) -> Vec<CryptoAttribute> {
    suites
        .iter()
        .copied()
        .zip(1u32..)
        .filter_map(|(suite, tag)| {
            MasterKey::generate(suite, &mut fill)
                .ok()
                .map(|key| CryptoAttribute { tag, key })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Codec;
    use crate::sdp::{LocalMedia, answer_offer, build_offer, read_answer};

    fn keys(seed: u8) -> Vec<CryptoAttribute> {
        let mut next = seed;
        fresh_keys(|bytes| {
            for b in bytes {
                next = next.wrapping_mul(31).wrapping_add(7);
                *b = next;
            }
        })
    }

    fn local(port: u16, encryption: Encryption, seed: u8) -> LocalMedia {
        LocalMedia::with_codecs(
            format!("127.0.0.1:{port}").parse().expect("addr"),
            7,
            vec![Codec::Pcmu],
        )
        .encrypted(encryption, keys(seed))
    }

    fn crypto_lines(sdp: &str) -> Vec<&str> {
        sdp.lines().filter(|l| l.starts_with("a=crypto:")).collect()
    }

    #[test]
    fn offers_follow_the_policy() {
        let optional = build_offer(&local(4000, Encryption::Optional, 1));
        assert!(optional.contains("m=audio 4000 RTP/AVP "), "{optional}");
        let lines = crypto_lines(&optional);
        assert_eq!(lines.len(), 3, "{optional}");
        assert!(lines[0].starts_with("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"));
        assert!(lines[1].starts_with("a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:"));
        assert!(lines[2].starts_with("a=crypto:3 AEAD_AES_128_GCM inline:"));
        let mandatory = build_offer(&local(4000, Encryption::Mandatory, 1));
        assert!(mandatory.contains("m=audio 4000 RTP/SAVP "), "{mandatory}");
        let off = build_offer(&local(4000, Encryption::Off, 1));
        assert!(
            crypto_lines(&off).is_empty() && off.contains("RTP/AVP"),
            "{off}"
        );
    }

    #[test]
    fn both_ends_agree_the_same_keys_crosswise() {
        for (theirs, ours) in [
            (Encryption::Mandatory, Encryption::Optional),
            (Encryption::Optional, Encryption::Mandatory),
            (Encryption::Optional, Encryption::Optional),
        ] {
            let caller = local(4000, theirs, 1);
            let callee = local(5000, ours, 2);
            let (answer, at_callee) =
                answer_offer(&build_offer(&caller), &callee).expect("answered");
            let at_caller = read_answer(&answer, &caller).expect("read");
            let (a, b) = (
                at_caller.srtp.expect("keyed"),
                at_callee.srtp.expect("keyed"),
            );
            assert_eq!(a.local, b.remote);
            assert_eq!(a.remote, b.local);
            assert_eq!(
                a.suite(),
                Suite::AesCm128HmacSha1_80,
                "the offer's first choice"
            );
            assert_eq!(crypto_lines(&answer).len(), 1, "{answer}");
            let profile = if theirs == Encryption::Mandatory {
                "RTP/SAVP"
            } else {
                "RTP/AVP"
            };
            assert!(
                answer.contains(&format!("m=audio 5000 {profile} ")),
                "{answer}"
            );
        }
    }

    #[test]
    fn a_baresip_style_offer_of_one_suite_is_answered_with_its_tag() {
        let offer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                     m=audio 6000 RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n\
                     a=crypto:7 AES_CM_128_HMAC_SHA1_32 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r\n";
        let (answer, agreed) =
            answer_offer(offer, &local(5000, Encryption::Optional, 2)).expect("answered");
        let lines = crypto_lines(&answer);
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].starts_with("a=crypto:7 AES_CM_128_HMAC_SHA1_32 inline:"),
            "{answer}"
        );
        assert!(
            !lines[0].contains("PS1uQCVeeCFCanVm"),
            "our own key, not theirs"
        );
        assert!(answer.contains("m=audio 5000 RTP/SAVP 0"), "{answer}");
        assert_eq!(
            agreed.srtp.expect("keyed").suite(),
            Suite::AesCm128HmacSha1_32
        );
        // A plain offer to an optional callee stays plain (RFC 8643's other half).
        let plain = offer
            .replace("RTP/SAVP", "RTP/AVP")
            .replace("a=crypto", "a=x-none");
        let (answer, agreed) =
            answer_offer(&plain, &local(5000, Encryption::Optional, 2)).expect("answered");
        assert!(
            crypto_lines(&answer).is_empty() && agreed.srtp.is_none(),
            "{answer}"
        );
    }

    #[test]
    fn mismatched_policies_are_refused_with_a_reason() {
        let mandatory = build_offer(&local(4000, Encryption::Mandatory, 1));
        let err = answer_offer(&mandatory, &local(5000, Encryption::Off, 2)).expect_err("refused");
        assert_eq!(
            err.to_string(),
            "the offer requires SRTP (RTP/SAVP) and media encryption is off"
        );
        let plain = build_offer(&local(4000, Encryption::Off, 1));
        let err =
            answer_offer(&plain, &local(5000, Encryption::Mandatory, 2)).expect_err("refused");
        assert!(
            err.to_string().contains("media encryption is mandatory"),
            "{err}"
        );
        // An answer naming a tag we never offered, or none when we required one.
        let caller = local(4000, Encryption::Mandatory, 1);
        let (answer, _) =
            answer_offer(&build_offer(&caller), &local(5000, Encryption::Optional, 2))
                .expect("answered");
        let forged = answer.replace("a=crypto:1 ", "a=crypto:9 ");
        assert!(read_answer(&forged, &caller).is_err());
        let stripped: String = answer
            .lines()
            .filter(|l| !l.starts_with("a=crypto"))
            .map(|l| format!("{l}\r\n"))
            .collect();
        assert!(read_answer(&stripped, &caller).is_err());
        // The plain answer to an optional offer is fine.
        let optional = local(4000, Encryption::Optional, 1);
        let (answer, _) = answer_offer(&build_offer(&optional), &local(5000, Encryption::Off, 2))
            .expect("answered");
        assert_eq!(read_answer(&answer, &optional).expect("read").srtp, None);
    }

    fn dtls_local(
        port: u16,
        encryption: Encryption,
        identity: &crate::dtls::DtlsIdentity,
    ) -> LocalMedia {
        LocalMedia::with_codecs(
            format!("127.0.0.1:{port}").parse().expect("addr"),
            7,
            vec![Codec::Pcmu],
        )
        .encrypted(encryption, Vec::new())
        .with_dtls(Keying::Dtls, Some(identity.fingerprint().clone()))
    }

    fn attribute_lines<'a>(sdp: &'a str, name: &str) -> Vec<&'a str> {
        let prefix = format!("a={name}:");
        sdp.lines().filter(|l| l.starts_with(&prefix)).collect()
    }

    #[test]
    fn dtls_offers_and_answers_carry_fingerprint_and_roles() {
        let (a, b) = (
            crate::dtls::DtlsIdentity::generate().expect("a"),
            crate::dtls::DtlsIdentity::generate().expect("b"),
        );
        let mandatory = build_offer(&dtls_local(4000, Encryption::Mandatory, &a));
        assert!(
            mandatory.contains("m=audio 4000 UDP/TLS/RTP/SAVP "),
            "{mandatory}"
        );
        assert_eq!(
            attribute_lines(&mandatory, "fingerprint"),
            [format!("a=fingerprint:{}", a.fingerprint().to_value())]
        );
        assert_eq!(attribute_lines(&mandatory, "setup"), ["a=setup:actpass"]);
        assert!(crypto_lines(&mandatory).is_empty());
        let optional = build_offer(&dtls_local(4000, Encryption::Optional, &a));
        assert!(optional.contains("m=audio 4000 RTP/AVP "), "{optional}");
        assert_eq!(attribute_lines(&optional, "setup"), ["a=setup:actpass"]);

        for offer in [&mandatory, &optional] {
            // The answerer takes the active role and answers on the offer's profile.
            let caller = dtls_local(4000, Encryption::Optional, &a);
            let callee = dtls_local(5000, Encryption::Optional, &b);
            let (answer, at_callee) = answer_offer(offer, &callee).expect("answered");
            assert_eq!(
                attribute_lines(&answer, "setup"),
                ["a=setup:active"],
                "{answer}"
            );
            assert_eq!(
                attribute_lines(&answer, "fingerprint"),
                [format!("a=fingerprint:{}", b.fingerprint().to_value())]
            );
            let profile = if offer.contains("UDP/TLS") {
                "UDP/TLS/RTP/SAVP"
            } else {
                "RTP/AVP"
            };
            assert!(
                answer.contains(&format!("m=audio 5000 {profile} ")),
                "{answer}"
            );
            let callee_dtls = at_callee.dtls.expect("dtls");
            assert!(callee_dtls.client);
            assert_eq!(&callee_dtls.remote_fingerprint, a.fingerprint());
            assert_eq!(at_callee.srtp, None, "keys come from the handshake");
            let at_caller = read_answer(&answer, &caller).expect("read");
            let caller_dtls = at_caller.dtls.expect("dtls");
            assert!(
                !caller_dtls.client,
                "the offerer is the server when the answer is active"
            );
            assert_eq!(&caller_dtls.remote_fingerprint, b.fingerprint());
        }
    }

    #[test]
    fn a_baresip_style_dtls_offer_with_session_level_attributes_is_answered() {
        let b = crate::dtls::DtlsIdentity::generate().expect("b");
        let theirs = "SHA-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF";
        let offer = format!(
            "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             a=setup:active\r\na=fingerprint:{theirs}\r\n\
             m=audio 6000 UDP/TLS/RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        );
        // SDES preferred here: the offer's profile decides.
        let sdes_first = dtls_local(5000, Encryption::Optional, &b)
            .with_dtls(Keying::Sdes, Some(b.fingerprint().clone()));
        let (answer, agreed) = answer_offer(&offer, &sdes_first).expect("answered");
        assert!(
            answer.contains("m=audio 5000 UDP/TLS/RTP/SAVP 0"),
            "{answer}"
        );
        assert_eq!(
            attribute_lines(&answer, "setup"),
            ["a=setup:passive"],
            "{answer}"
        );
        let dtls = agreed.dtls.expect("dtls");
        assert!(!dtls.client, "they are active, so we wait");
        assert_eq!(
            dtls.remote_fingerprint,
            crate::dtls::Fingerprint::parse(theirs).expect("reads")
        );
        // Policies that cannot take it say why.
        let off = LocalMedia::with_codecs(
            "127.0.0.1:5000".parse().expect("addr"),
            7,
            vec![Codec::Pcmu],
        );
        let err = answer_offer(&offer, &off).expect_err("refused");
        assert_eq!(
            err.to_string(),
            "the offer requires DTLS-SRTP (UDP/TLS/RTP/SAVP) and media encryption is off"
        );
        let no_certificate = off.clone().encrypted(Encryption::Mandatory, keys(2));
        let err = answer_offer(&offer, &no_certificate).expect_err("refused");
        assert!(err.to_string().contains("no DTLS certificate"), "{err}");
        let no_fingerprint = offer.replace(&format!("a=fingerprint:{theirs}\r\n"), "");
        let err = answer_offer(&no_fingerprint, &sdes_first).expect_err("refused");
        assert!(err.to_string().contains("a=fingerprint"), "{err}");
        // The pre-ringing check agrees, with or without SDES keys to hand.
        let fp = b.fingerprint().clone();
        assert!(check_offer(&offer, Encryption::Mandatory, Keying::Sdes, &[], Some(&fp)).is_ok());
        assert!(check_offer(&offer, Encryption::Off, Keying::Sdes, &[], Some(&fp)).is_err());
        assert!(
            check_offer(
                &offer,
                Encryption::Optional,
                Keying::Dtls,
                &Suite::ALL,
                None
            )
            .is_err()
        );
    }

    #[test]
    fn an_answer_without_dtls_to_a_mandatory_dtls_offer_is_refused() {
        let a = crate::dtls::DtlsIdentity::generate().expect("a");
        let caller = dtls_local(4000, Encryption::Mandatory, &a);
        let plain = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                     m=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
        assert!(read_answer(plain, &caller).is_err());
        let optional = dtls_local(4000, Encryption::Optional, &a);
        let agreed = read_answer(plain, &optional).expect("plain is fine when optional");
        assert_eq!((agreed.srtp, agreed.dtls), (None, None));
        let bad = plain.replace("m=audio", "a=fingerprint:sha-256 00:11\r\nm=audio");
        assert!(
            read_answer(&bad, &optional).is_err(),
            "a fingerprint that does not read"
        );
    }
}
