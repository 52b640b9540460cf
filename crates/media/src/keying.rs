//! SDES keying in offer/answer (RFC 4568): which `m=` profile and `a=crypto` lines an offer
//! carries for the encryption policy, which offered key an answer takes, and what keys an
//! exchange agreed. Opportunistic offers (RFC 8643) keep `RTP/AVP` and add `a=crypto`, so a
//! peer without SRTP still answers in the clear.

use std::fmt;

use sipx_sdp::{Attribute, MediaDescription};

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

/// Writes our keys into our offer's audio stream: `RTP/SAVP` when encryption is mandatory,
/// `RTP/AVP` with `a=crypto` when optional (RFC 8643), nothing when off.
pub(crate) fn offer(
    stream: &mut MediaDescription,
    encryption: Encryption,
    keys: &[CryptoAttribute],
) {
    if encryption == Encryption::Off || keys.is_empty() {
        return;
    }
    if encryption == Encryption::Mandatory {
        "RTP/SAVP".clone_into(&mut stream.protocol);
    }
    for key in keys {
        stream
            .attributes
            .push(Attribute::valued("crypto", key.to_value()));
    }
}

/// What an offer's audio stream asks of our keying, under our policy: the offered key we take
/// and ours for its suite (SRTP), `None` (plain RTP), or why the stream is refused (488).
pub(crate) fn accept(
    stream: &MediaDescription,
    encryption: Encryption,
    ours: &[CryptoAttribute],
) -> Result<Option<(CryptoAttribute, MasterKey)>, SdpError> {
    if stream.protocol.contains("TLS") {
        return Err(SdpError::Encryption(
            "the offer keys SRTP by DTLS (UDP/TLS/RTP/SAVP), which recall does not do yet",
        ));
    }
    let required = requires_srtp(stream);
    if encryption == Encryption::Off {
        return if required {
            Err(SdpError::Encryption(
                "the offer requires SRTP (RTP/SAVP) and media encryption is off",
            ))
        } else {
            // RFC 8643: an opportunistic offer is answered in the clear.
            Ok(None)
        };
    }
    let chosen = offered_keys(stream).into_iter().find_map(|theirs| {
        ours.iter()
            .find(|o| o.key.suite() == theirs.key.suite())
            .map(|o| (theirs, o.key.clone()))
    });
    match chosen {
        Some(pair) => Ok(Some(pair)),
        None if required || encryption == Encryption::Mandatory => Err(SdpError::Encryption(
            "no SRTP crypto suite in common (recall keys AES_CM_128_HMAC_SHA1_80/_32 and \
             AEAD_AES_128_GCM by SDES) and media encryption is mandatory",
        )),
        None => Ok(None),
    }
}

/// Writes the key we answer with: the offered attribute's tag and suite, our key, on the
/// offer's profile.
pub(crate) fn answer(
    stream: &mut MediaDescription,
    offered_protocol: &str,
    tag: u32,
    ours: &MasterKey,
) {
    offered_protocol.clone_into(&mut stream.protocol);
    stream.attributes.retain(|a| a.name != "crypto");
    let attribute = CryptoAttribute {
        tag,
        key: ours.clone(),
    };
    stream
        .attributes
        .push(Attribute::valued("crypto", attribute.to_value()));
}

/// The keys an answer to our offer agreed (RFC 4568 §5.1.3: its tag names one of our
/// attributes, with the same suite), `None` for a plain answer, or why the answer cannot be
/// used under our policy.
pub(crate) fn agreed_by_answer(
    stream: &MediaDescription,
    encryption: Encryption,
    offered: &[CryptoAttribute],
) -> Result<Option<SrtpKeys>, SdpError> {
    let answered = stream
        .attributes
        .iter()
        .filter(|a| a.name == "crypto")
        .filter_map(|a| a.value.as_deref())
        .map(CryptoAttribute::parse)
        .next();
    match answered {
        Some(Ok(theirs)) => {
            let ours = offered
                .iter()
                .find(|o| o.tag == theirs.tag && o.key.suite() == theirs.key.suite())
                .ok_or(SdpError::Encryption(
                    "the answer's a=crypto names no key we offered (tag and suite must match)",
                ))?;
            Ok(Some(SrtpKeys {
                local: ours.key.clone(),
                remote: theirs.key,
            }))
        }
        Some(Err(_)) => Err(SdpError::Encryption("the answer's a=crypto does not read")),
        None if requires_srtp(stream) || encryption == Encryption::Mandatory => {
            Err(SdpError::Encryption(
                "the answer carries no SRTP key and media encryption is mandatory",
            ))
        }
        None => Ok(None),
    }
}

/// Whether an offer's keying is acceptable under `encryption` with keys of `suites` (none
/// when SDES keys may not cross its signalling), before anything rings: `Err` says why it must be refused (488).
///
/// # Errors
/// The reason, as [`crate::answer_offer`] would give it.
pub fn check_offer(offer: &str, encryption: Encryption, suites: &[Suite]) -> Result<(), SdpError> {
    let offer = sipx_sdp::parse(offer).map_err(|e| SdpError::Malformed(e.to_string()))?;
    let Some(stream) = offer
        .media
        .iter()
        .find(|m| m.media == "audio" && !m.is_rejected())
    else {
        return Ok(());
    };
    if suites.is_empty() && encryption != Encryption::Off {
        if encryption == Encryption::Mandatory || requires_srtp(stream) {
            return Err(SdpError::Encryption(
                "SDES keys may only cross TLS signalling (RFC 4568 §7.1), and this call's SIP is not encrypted",
            ));
        }
        return Ok(());
    }
    let ours = fresh_keys_for(suites, |bytes| bytes.fill(0));
    accept(stream, encryption, &ours).map(|_| ())
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
}
