//! SDP offer/answer for audio (RFC 3264, RFC 8866) on sipx-sdp: Opus (RFC 7587), G.711 and
//! RFC 4733 telephone-event at both clock rates, RTCP on the next port or multiplexed
//! (RFC 5761).

use std::net::SocketAddr;

use sipx_sdp::{Attribute, Capabilities, Direction, MediaDescription, SessionDescription};
use thiserror::Error;

use crate::codec::Codec;
use crate::dtls::{DtlsAgreed, Fingerprint};
use crate::ice::IceDescription;
use crate::keying::{self, Accepted, Encryption, Keying, Ours, SrtpKeys};
use crate::srtp::CryptoAttribute;

/// Payload type of telephone-event/8000 in our offers.
const DTMF_8K: u8 = 101;
/// Payload type of telephone-event/48000 in our offers (next to Opus, RFC 7587 §4).
const DTMF_48K: u8 = 110;

/// Why a session description could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SdpError {
    /// It does not parse as SDP.
    #[error("malformed SDP: {0}")]
    Malformed(String),
    /// It has no audio stream we can take.
    #[error("no acceptable audio stream (no codec in common: we take opus, PCMU, PCMA)")]
    NoCommonCodec,
    /// It offers no audio stream at all.
    #[error("no audio stream offered")]
    NoAudio,
    /// The audio stream's connection address is not an IP address.
    #[error("the audio stream has no usable connection address")]
    NoAddress,
    /// The media encryption asked for (or refused) does not match our policy.
    #[error("{0}")]
    Encryption(&'static str),
}

/// What this side offers or accepts.
#[derive(Debug, Clone)]
pub struct LocalMedia {
    /// Where we receive RTP (RTCP on the next port, or here when multiplexed).
    pub addr: SocketAddr,
    /// `o=` session id.
    pub session_id: u64,
    /// `o=` session version; increase on every new offer in the session.
    pub version: u64,
    /// Codecs in order of preference.
    pub codecs: Vec<Codec>,
    /// The direction we want (sendrecv; sendonly to hold).
    pub direction: Direction,
    /// Whether the media is encrypted.
    pub encryption: Encryption,
    /// How our offers key it (answers take what the offer uses).
    pub keying: Keying,
    /// Our SDES keys, one per suite we offer (or accept from an offer).
    pub crypto: Vec<CryptoAttribute>,
    /// Our DTLS certificate's fingerprint, when we have one.
    pub fingerprint: Option<Fingerprint>,
    /// The DTLS role we hold in the stream's association, kept when answering a re-offer
    /// that leaves it open (`actpass`), so the association and its keys carry on.
    pub dtls_role: Option<crate::dtls::Setup>,
    /// Our ICE credentials and candidates, when the call's socket runs ICE.
    pub ice: Option<IceDescription>,
}

impl LocalMedia {
    /// G.711 µ-law then A-law, sendrecv.
    #[must_use]
    pub fn g711(addr: SocketAddr, session_id: u64) -> Self {
        Self::with_codecs(addr, session_id, vec![Codec::Pcmu, Codec::Pcma])
    }

    /// These codecs, in this order of preference, sendrecv.
    #[must_use]
    pub fn with_codecs(addr: SocketAddr, session_id: u64, codecs: Vec<Codec>) -> Self {
        Self {
            addr,
            session_id,
            version: 1,
            codecs,
            direction: Direction::SendRecv,
            encryption: Encryption::Off,
            keying: Keying::Sdes,
            crypto: Vec::new(),
            fingerprint: None,
            dtls_role: None,
            ice: None,
        }
    }

    /// The same, encrypted as `encryption` says with these keys.
    #[must_use]
    pub fn encrypted(mut self, encryption: Encryption, crypto: Vec<CryptoAttribute>) -> Self {
        self.encryption = encryption;
        self.crypto = crypto;
        self
    }

    /// The same, with our DTLS certificate: offers key by DTLS-SRTP when `keying` says so,
    /// and offers keyed by DTLS can be answered.
    #[must_use]
    pub fn with_dtls(mut self, keying: Keying, fingerprint: Option<Fingerprint>) -> Self {
        self.keying = keying;
        self.fingerprint = fingerprint;
        self
    }

    /// Where the SDP says we receive: the ICE default candidate, else the socket's address.
    #[must_use]
    pub fn advertised(&self) -> SocketAddr {
        self.ice
            .as_ref()
            .and_then(|i| i.default)
            .unwrap_or(self.addr)
    }

    pub(crate) fn ours(&self) -> Ours<'_> {
        Ours {
            encryption: self.encryption,
            keying: self.keying,
            crypto: &self.crypto,
            fingerprint: self.fingerprint.as_ref(),
            dtls_role: self.dtls_role,
        }
    }

    /// Our payload types with their rtpmaps, in offer order: the codecs, then telephone-event
    /// at each clock rate in use.
    fn formats(&self) -> Vec<(u8, String)> {
        let mut formats: Vec<(u8, String)> = self
            .codecs
            .iter()
            .map(|c| (c.default_payload_type(), c.rtpmap().to_owned()))
            .collect();
        if self.codecs.contains(&Codec::Opus) {
            formats.push((DTMF_48K, "telephone-event/48000".to_owned()));
        }
        if self.codecs.iter().any(|c| c.clock_rate() == 8000) || self.codecs.is_empty() {
            formats.push((DTMF_8K, "telephone-event/8000".to_owned()));
        }
        formats
    }

    fn capabilities(&self) -> Capabilities {
        let advertised = self.advertised();
        let mut caps = Capabilities::g711(advertised.ip(), advertised.port());
        let formats = self.formats();
        caps.audio_formats = formats.iter().map(|(pt, _)| pt.to_string()).collect();
        caps.rtpmaps = formats
            .iter()
            .map(|(pt, map)| (pt.to_string(), map.clone()))
            .collect();
        caps.direction = self.direction;
        caps.session_id = self.session_id;
        caps.session_version = self.version;
        caps.rtcp_mux = true;
        caps
    }
}

/// The agreed media parameters, from this side's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The codec to send (and expect).
    pub codec: Codec,
    /// Its payload type.
    pub payload_type: u8,
    /// Where to send RTP; `None` when the peer gave no address (`c=0.0.0.0`, RFC 3264 §8.4).
    pub remote: Option<SocketAddr>,
    /// Where to send RTCP: the RTP address when multiplexed, else `a=rtcp` or the next port.
    pub remote_rtcp: Option<SocketAddr>,
    /// Whether RTCP shares the RTP port (RFC 5761).
    pub rtcp_mux: bool,
    /// Payload type of telephone-event, if agreed (at the codec's clock rate when possible).
    pub dtmf_payload_type: Option<u8>,
    /// The clock rate of those events.
    pub dtmf_rate: u32,
    /// Our direction: whether we send and whether we receive.
    pub direction: Direction,
    /// The peer can decode Opus in-band FEC (`useinbandfec=1`, RFC 7587 §6.1).
    pub peer_uses_fec: bool,
    /// The most the peer wants us to send, in bits per second (`maxaveragebitrate`).
    pub max_bitrate: Option<u32>,
    /// The SRTP keys agreed (SDES), `None` for plain RTP or DTLS.
    pub srtp: Option<SrtpKeys>,
    /// DTLS-SRTP agreed: the keys come from the handshake on the media port.
    pub dtls: Option<DtlsAgreed>,
    /// The peer's ICE description, when both sides do ICE (`None`: symmetric RTP latching).
    pub ice: Option<IceDescription>,
}

/// Writes our offer.
#[must_use]
pub fn build_offer(local: &LocalMedia) -> String {
    let formats = local.formats();
    let advertised = local.advertised();
    let mut sdp = SessionDescription::new(advertised.ip(), local.session_id, local.version);
    let mut media = MediaDescription::audio(
        advertised.port(),
        formats.iter().map(|(pt, _)| pt.to_string()).collect(),
    );
    for (pt, map) in &formats {
        media
            .attributes
            .push(Attribute::valued("rtpmap", format!("{pt} {map}")));
        if map.starts_with("telephone-event") {
            media
                .attributes
                .push(Attribute::valued("fmtp", format!("{pt} 0-16")));
        } else if map.starts_with("opus") {
            media
                .attributes
                .push(Attribute::valued("fmtp", format!("{pt} {}", opus_fmtp())));
        }
    }
    finish_media(&mut media, local);
    keying::offer(&mut media, local.ours());
    if let Some(ice) = &local.ice {
        write_ice(&mut media, ice);
    }
    sdp.media.push(media);
    sdp.to_string_sdp()
}

/// Our ICE attributes (RFC 8839 §5) on the audio stream.
fn write_ice(media: &mut MediaDescription, ice: &IceDescription) {
    media
        .attributes
        .push(Attribute::valued("ice-ufrag", ice.ufrag.clone()));
    media
        .attributes
        .push(Attribute::valued("ice-pwd", ice.pwd.clone()));
    for candidate in &ice.candidates {
        media
            .attributes
            .push(Attribute::valued("candidate", candidate.clone()));
    }
}

/// The peer's ICE description of its audio stream, if it does ICE.
fn read_ice(stream: &MediaDescription, session: &SessionDescription) -> Option<IceDescription> {
    fn pair(a: &Attribute) -> (&str, Option<&str>) {
        (a.name.as_str(), a.value.as_deref())
    }
    IceDescription::read(
        stream.attributes.iter().map(pair),
        session.attributes.iter().map(pair),
    )
}

/// RFC 7587 §6.1 parameters we declare as a receiver: we decode FEC; we send mono.
fn opus_fmtp() -> &'static str {
    "useinbandfec=1;stereo=0;sprop-stereo=0"
}

fn finish_media(media: &mut MediaDescription, local: &LocalMedia) {
    media.attributes.push(Attribute::valued("ptime", "20"));
    media.attributes.push(Attribute::valued(
        "rtcp",
        (local.advertised().port().wrapping_add(1)).to_string(),
    ));
    if !media.attributes.iter().any(|a| a.name == "rtcp-mux") {
        media.attributes.push(Attribute::flag("rtcp-mux"));
    }
    if !media
        .attributes
        .iter()
        .any(|a| Direction::parse(&a.name).is_some())
    {
        media
            .attributes
            .push(Attribute::flag(local.direction.as_str()));
    }
}

/// The codec a stream's format (payload type) names: by its `a=rtpmap` (name and clock), or
/// the static types of PCMU, PCMA and G.722.
fn format_codec(stream: &sipx_sdp::MediaDescription, format: &str) -> Option<(Codec, u8)> {
    let pt: u8 = format.parse().ok()?;
    let codec = match stream.rtpmap(format) {
        Some(map) => Codec::from_name(map.split('/').next()?)
            .filter(|c| map.split('/').nth(1) == Some(&c.clock_rate().to_string()))?,
        None => Codec::ALL
            .into_iter()
            .find(|c| c.static_payload_type() == Some(pt))?,
    };
    Some((codec, pt))
}

/// Whether an offer can be answered with one of `usable` (before the call rings: RFC 3261
/// §13.3.1.3 refuses what cannot be taken with 488 rather than ring for nothing).
///
/// # Errors
/// [`SdpError::NoAudio`] when no audio stream is offered (video alone, say),
/// [`SdpError::NoCommonCodec`] when none of its formats is one of ours, or
/// [`SdpError::Malformed`].
pub fn check_codecs(offer: &str, usable: &[Codec]) -> Result<(), SdpError> {
    let offer = sipx_sdp::parse(offer).map_err(|e| SdpError::Malformed(e.to_string()))?;
    let stream = offer
        .media
        .iter()
        .find(|m| m.media == "audio" && !m.is_rejected())
        .ok_or(SdpError::NoAudio)?;
    stream
        .formats
        .iter()
        .any(|f| format_codec(stream, f).is_some_and(|(c, _)| usable.contains(&c)))
        .then_some(())
        .ok_or(SdpError::NoCommonCodec)
}

/// Answers a peer's offer: our SDP and what was agreed.
pub fn answer_offer(offer: &str, local: &LocalMedia) -> Result<(String, Negotiated), SdpError> {
    let offer = sipx_sdp::parse(offer).map_err(|e| SdpError::Malformed(e.to_string()))?;
    // Keying is ours (sipx-sdp keys no AES_CM_128_HMAC_SHA1_32): the audio stream's keying is
    // decided here, and sipx-sdp answers its codecs as if it were plain.
    let audio = offer
        .media
        .iter()
        .position(|m| m.media == "audio" && !m.is_rejected());
    let mut keyed = None;
    let mut plain = offer.clone();
    plain
        .attributes
        .retain(|a| !matches!(a.name.as_str(), "fingerprint" | "setup"));
    if let Some(index) = audio {
        let stream = &offer.media[index];
        let accepted = keying::accept(stream, &offer.attributes, local.ours())?;
        keyed = Some((index, stream.protocol.clone(), accepted));
        let plain_stream = &mut plain.media[index];
        "RTP/AVP".clone_into(&mut plain_stream.protocol);
        plain_stream
            .attributes
            .retain(|a| !matches!(a.name.as_str(), "crypto" | "fingerprint" | "setup"));
    }
    let mut answer = sipx_sdp::answer(&plain, &local.capabilities());
    // sipx-sdp writes the telephone-event fmtp; the Opus one and ptime are ours to add.
    for media in answer.media.iter_mut().filter(|m| !m.is_rejected()) {
        let opus: Vec<String> = media
            .formats
            .iter()
            .filter(|f| {
                media
                    .rtpmap(f)
                    .is_some_and(|m| m.to_ascii_lowercase().starts_with("opus/"))
            })
            .cloned()
            .collect();
        for pt in opus {
            media
                .attributes
                .push(Attribute::valued("fmtp", format!("{pt} {}", opus_fmtp())));
        }
        media.attributes.push(Attribute::valued("ptime", "20"));
        if !media.rtcp_mux() {
            media.attributes.push(Attribute::valued(
                "rtcp",
                (local.advertised().port().wrapping_add(1)).to_string(),
            ));
        }
    }
    let mut negotiated = agreed(&offer, &answer, true, &local.codecs)?;
    if let Some((index, protocol, accepted)) = keyed
        && let Some(stream) = answer.media.get_mut(index)
    {
        keying::answer(stream, &protocol, &accepted, local.ours());
        match accepted {
            Accepted::Plain => {}
            Accepted::Sdes(theirs, ours) => {
                negotiated.srtp = Some(SrtpKeys {
                    local: ours,
                    remote: theirs.key,
                });
            }
            Accepted::Dtls(agreed, _) => negotiated.dtls = Some(agreed),
        }
    }
    // ICE when both sides do it (RFC 8839 §4.2.1): else the answer has none of it.
    if let (Some(ours), Some(index)) = (&local.ice, audio)
        && let Some(theirs) = read_ice(&offer.media[index], &offer)
        && let Some(stream) = answer.media.get_mut(index)
    {
        write_ice(stream, ours);
        negotiated.ice = Some(theirs);
    }
    Ok((answer.to_string_sdp(), negotiated))
}

/// Reads the peer's answer to our offer (`local`: what we offered, for its keys).
pub fn read_answer(answer: &str, local: &LocalMedia) -> Result<Negotiated, SdpError> {
    let answer = sipx_sdp::parse(answer).map_err(|e| SdpError::Malformed(e.to_string()))?;
    // The answer's first format among what we offered (RFC 3264 §6.1: its order is the
    // answerer's preference).
    let offered: &[Codec] = if local.codecs.is_empty() {
        &Codec::ALL
    } else {
        &local.codecs
    };
    let mut negotiated = agreed(&answer, &answer, false, offered)?;
    let stream = answer
        .media
        .iter()
        .find(|m| m.media == "audio" && !m.is_rejected())
        .ok_or(SdpError::NoCommonCodec)?;
    (negotiated.srtp, negotiated.dtls) =
        keying::agreed_by_answer(stream, &answer.attributes, local.ours())?;
    if local.ice.is_some() {
        negotiated.ice = read_ice(stream, &answer);
    }
    Ok(negotiated)
}

/// The `fmtp` parameters of a payload type, as `name=value` pairs.
fn fmtp<'a>(stream: &'a MediaDescription, pt: &str) -> Vec<(&'a str, &'a str)> {
    stream
        .attributes
        .iter()
        .filter(|a| a.name == "fmtp")
        .filter_map(|a| a.value.as_deref())
        .filter_map(|v| v.split_once(' '))
        .filter(|(format, _)| *format == pt)
        .flat_map(|(_, params)| params.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect()
}

/// The parameters agreed in an exchange. `remote_sdp` is the peer's description (for its
/// address); `answer` lists the agreed formats. `we_answered` says whose view `answer`'s
/// direction attribute states. `usable` are the codecs this side takes.
fn agreed(
    remote_sdp: &SessionDescription,
    answer: &SessionDescription,
    we_answered: bool,
    usable: &[Codec],
) -> Result<Negotiated, SdpError> {
    let (index, stream) = answer
        .media
        .iter()
        .enumerate()
        .find(|(_, m)| m.media == "audio" && !m.is_rejected())
        .ok_or(SdpError::NoCommonCodec)?;
    let (codec, payload_type) = stream
        .formats
        .iter()
        .find_map(|f| format_codec(stream, f).filter(|(c, _)| usable.contains(c)))
        .ok_or(SdpError::NoCommonCodec)?;
    let dtmf_at = |rate: u32| {
        stream.formats.iter().find_map(|f| {
            let map = stream.rtpmap(f)?.to_ascii_lowercase();
            (map == format!("telephone-event/{rate}"))
                .then(|| f.parse().ok())
                .flatten()
        })
    };
    // Events at the codec's clock (RFC 7587 §4); a peer offering only 8 kHz events next to
    // Opus (Asterisk does) gets those, timed at 8 kHz.
    let (dtmf_payload_type, dtmf_rate) = match dtmf_at(codec.clock_rate()) {
        Some(pt) => (Some(pt), codec.clock_rate()),
        None => match dtmf_at(8000) {
            Some(pt) => (Some(pt), 8000),
            None => (dtmf_at(48_000), 48_000),
        },
    };
    let remote_stream = remote_sdp.media.get(index).ok_or(SdpError::NoCommonCodec)?;
    let ip = remote_sdp
        .address_for(remote_stream)
        .ok_or(SdpError::NoAddress)?;
    let remote = (!ip.is_unspecified() && remote_stream.port != 0)
        .then(|| SocketAddr::new(ip, remote_stream.port));
    let rtcp_mux = stream.rtcp_mux() && remote_stream.rtcp_mux();
    let remote_rtcp = remote.map(|rtp| {
        if rtcp_mux {
            return rtp;
        }
        // RFC 3605: a=rtcp:PORT [IN IP4 ADDR]; else the next port (RFC 3550 §11).
        let declared = remote_stream
            .attribute("rtcp")
            .and_then(|a| a.value.as_deref())
            .map(|v| v.split_whitespace().collect::<Vec<_>>());
        match declared.as_deref() {
            Some([port, _, _, addr, ..]) => match (port.parse(), addr.parse()) {
                (Ok(port), Ok(ip)) => SocketAddr::new(ip, port),
                _ => SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1)),
            },
            Some([port, ..]) => {
                SocketAddr::new(rtp.ip(), port.parse().unwrap_or(rtp.port().wrapping_add(1)))
            }
            _ => SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1)),
        }
    });
    // The peer's receive capabilities sit in its own description's fmtp.
    let pt_text = payload_type.to_string();
    let theirs = fmtp(remote_stream, &pt_text);
    let peer_uses_fec = theirs
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("useinbandfec") && *v == "1");
    let max_bitrate = theirs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("maxaveragebitrate"))
        .and_then(|(_, v)| v.parse().ok());
    let stated = stream
        .declared_direction()
        .unwrap_or_else(|| answer.direction());
    // The answer's attribute is the answerer's view; mirror it when the peer answered.
    let direction = if we_answered {
        stated
    } else {
        stated.mirrored()
    };
    Ok(Negotiated {
        codec,
        payload_type,
        remote,
        remote_rtcp,
        rtcp_mux,
        dtmf_payload_type,
        dtmf_rate,
        direction,
        peer_uses_fec,
        max_bitrate,
        srtp: None,
        dtls: None,
        ice: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!("{}/../../fixtures/sdp/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn local(codecs: Vec<Codec>) -> LocalMedia {
        LocalMedia::with_codecs("127.0.0.1:20000".parse().expect("addr"), 42, codecs)
    }

    fn all() -> Vec<Codec> {
        vec![Codec::Opus, Codec::Pcmu, Codec::Pcma]
    }

    #[test]
    fn our_offer_lists_opus_first_with_its_fmtp_and_reads_back() {
        let offer = build_offer(&local(all()));
        assert!(
            offer.contains("m=audio 20000 RTP/AVP 111 0 8 110 101"),
            "{offer}"
        );
        assert!(offer.contains("a=rtpmap:111 opus/48000/2"));
        assert!(offer.contains("a=fmtp:111 useinbandfec=1;stereo=0;sprop-stereo=0"));
        assert!(offer.contains("a=rtpmap:110 telephone-event/48000"));
        assert!(offer.contains("a=rtpmap:101 telephone-event/8000"));
        assert!(offer.contains("a=rtcp:20001"));
        assert!(offer.contains("a=rtcp-mux"));
        let agreed = read_answer(&offer, &local(all())).expect("our own SDP parses");
        assert_eq!(agreed.codec, Codec::Opus);
        assert_eq!(agreed.payload_type, 111);
        assert_eq!(
            agreed.dtmf_payload_type,
            Some(110),
            "DTMF at the codec's clock"
        );
        assert!(agreed.peer_uses_fec);
        assert!(agreed.rtcp_mux);
        assert_eq!(agreed.remote_rtcp, agreed.remote);
    }

    #[test]
    fn g722_is_offered_as_static_type_9_and_taken_from_offers_and_answers() {
        let ours = local(vec![Codec::G722, Codec::Pcmu]);
        let offer = build_offer(&ours);
        assert!(offer.contains("m=audio 20000 RTP/AVP 9 0 101"), "{offer}");
        assert!(offer.contains("a=rtpmap:9 G722/8000"), "{offer}");
        // A peer's offer naming payload type 9 with no rtpmap (RFC 3551 static types).
        let peer = "v=0\r\no=- 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\n\
                    m=audio 4000 RTP/AVP 9 0\r\n";
        let (answer, agreed) = answer_offer(peer, &ours).expect("answered");
        assert_eq!((agreed.codec, agreed.payload_type), (Codec::G722, 9));
        assert!(answer.contains("a=rtpmap:9 G722/8000"), "{answer}");
        // The peer's answer to our offer, its preference first (G.722 here, as baresip's).
        let peer_answer = "v=0\r\no=- 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\n\
                           t=0 0\r\nm=audio 4000 RTP/AVP 9 0\r\na=rtpmap:9 G722/8000\r\n";
        let agreed = read_answer(peer_answer, &ours).expect("read");
        assert_eq!(agreed.codec, Codec::G722);
        // G722/16000 is not G.722 as RFC 3551 names it.
        let wrong = peer_answer.replace("G722/8000", "G722/16000");
        assert_eq!(read_answer(&wrong, &ours).expect("read").codec, Codec::Pcmu);
    }

    #[test]
    fn a_g711_only_offer_has_no_opus_and_no_48k_events() {
        let offer = build_offer(&LocalMedia::g711(
            "127.0.0.1:20000".parse().expect("addr"),
            1,
        ));
        assert!(offer.contains("m=audio 20000 RTP/AVP 0 8 101"), "{offer}");
        assert!(!offer.contains("opus"));
        assert!(!offer.contains("/48000"));
    }

    #[test]
    fn fixture_offers_are_answered() {
        // (file, codecs we take, codec, pt, dtmf pt, remote port, rtcp port, our direction)
        let cases = [
            (
                "sipp-pcmu.sdp",
                all(),
                Codec::Pcmu,
                0,
                None,
                6000,
                6001,
                Direction::SendRecv,
            ),
            (
                "asterisk-opus-pcma.sdp",
                all(),
                Codec::Opus,
                107,
                Some(101),
                15390,
                15391,
                Direction::SendRecv,
            ),
            (
                "asterisk-opus-pcma.sdp",
                vec![Codec::Pcmu, Codec::Pcma],
                Codec::Pcma,
                8,
                Some(101),
                15390,
                15391,
                Direction::SendRecv,
            ),
            (
                "hold-sendonly.sdp",
                all(),
                Codec::Pcmu,
                0,
                Some(101),
                7078,
                7079,
                Direction::RecvOnly,
            ),
            (
                "baresip.sdp",
                all(),
                Codec::Pcmu,
                0,
                Some(101),
                10208,
                10209,
                Direction::SendRecv,
            ),
        ];
        for (file, codecs, codec, pt, dtmf, port, rtcp, direction) in cases {
            let (answer, agreed) = answer_offer(&fixture(file), &local(codecs)).expect(file);
            assert_eq!((agreed.codec, agreed.payload_type), (codec, pt), "{file}");
            assert_eq!(agreed.dtmf_payload_type, dtmf, "{file}");
            assert_eq!(agreed.remote.map(|r| r.port()), Some(port), "{file}");
            assert_eq!(agreed.remote_rtcp.map(|r| r.port()), Some(rtcp), "{file}");
            assert_eq!(agreed.direction, direction, "{file}");
            assert!(answer.contains("m=audio 20000 "), "{file}: {answer}");
            if codec == Codec::Opus {
                assert!(agreed.peer_uses_fec, "{file}");
                assert!(
                    answer.contains(&format!("a=fmtp:{pt} useinbandfec=1")),
                    "{answer}"
                );
            }
        }
    }

    #[test]
    fn an_offer_with_no_common_codec_is_refused() {
        let offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n";
        assert_eq!(
            answer_offer(offer, &local(all())).err(),
            Some(SdpError::NoCommonCodec)
        );
        assert!(matches!(
            answer_offer("garbage", &local(all())),
            Err(SdpError::Malformed(_))
        ));
    }
}
