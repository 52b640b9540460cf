//! SDP offer/answer for audio (RFC 3264, RFC 8866) on sipx-sdp: G.711 plus RFC 4733
//! telephone-event.

use std::net::SocketAddr;

use sipx_sdp::{Attribute, Capabilities, Direction, MediaDescription, SessionDescription};
use thiserror::Error;

use crate::codec::Codec;

/// Why a session description could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SdpError {
    /// It does not parse as SDP.
    #[error("malformed SDP: {0}")]
    Malformed(String),
    /// It has no audio stream we can take.
    #[error("no acceptable audio stream (no codec in common: we offer PCMU, PCMA)")]
    NoCommonCodec,
    /// The audio stream's connection address is not an IP address.
    #[error("the audio stream has no usable connection address")]
    NoAddress,
}

/// What this side offers or accepts.
#[derive(Debug, Clone)]
pub struct LocalMedia {
    /// Where we receive RTP.
    pub addr: SocketAddr,
    /// `o=` session id.
    pub session_id: u64,
    /// `o=` session version; increase on every new offer in the session.
    pub version: u64,
    /// Codecs in order of preference.
    pub codecs: Vec<Codec>,
    /// Payload type offered for telephone-event/8000.
    pub dtmf_payload_type: u8,
    /// The direction we want (sendrecv; sendonly to hold).
    pub direction: Direction,
}

impl LocalMedia {
    /// G.711 µ-law then A-law, DTMF on 101, sendrecv.
    #[must_use]
    pub fn g711(addr: SocketAddr, session_id: u64) -> Self {
        Self {
            addr,
            session_id,
            version: 1,
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            dtmf_payload_type: 101,
            direction: Direction::SendRecv,
        }
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::g711(self.addr.ip(), self.addr.port());
        caps.audio_formats = self
            .codecs
            .iter()
            .map(|c| c.static_payload_type().to_string())
            .chain([self.dtmf_payload_type.to_string()])
            .collect();
        caps.rtpmaps = self
            .codecs
            .iter()
            .map(|c| {
                (
                    c.static_payload_type().to_string(),
                    format!("{}/8000", c.name()),
                )
            })
            .chain([(
                self.dtmf_payload_type.to_string(),
                "telephone-event/8000".to_owned(),
            )])
            .collect();
        caps.direction = self.direction;
        caps.session_id = self.session_id;
        caps.session_version = self.version;
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
    /// Payload type of telephone-event, if agreed.
    pub dtmf_payload_type: Option<u8>,
    /// Our direction: whether we send and whether we receive.
    pub direction: Direction,
}

/// Writes our offer.
#[must_use]
pub fn build_offer(local: &LocalMedia) -> String {
    let caps = local.capabilities();
    let mut sdp = SessionDescription::new(local.addr.ip(), local.session_id, local.version);
    let mut media = MediaDescription::audio(local.addr.port(), caps.audio_formats.clone());
    for (pt, map) in &caps.rtpmaps {
        media
            .attributes
            .push(Attribute::valued("rtpmap", format!("{pt} {map}")));
    }
    media.attributes.push(Attribute::valued(
        "fmtp",
        format!("{} 0-16", local.dtmf_payload_type),
    ));
    media.attributes.push(Attribute::valued("ptime", "20"));
    media
        .attributes
        .push(Attribute::flag(local.direction.as_str()));
    sdp.media.push(media);
    sdp.to_string_sdp()
}

/// Answers a peer's offer: our SDP and what was agreed.
pub fn answer_offer(offer: &str, local: &LocalMedia) -> Result<(String, Negotiated), SdpError> {
    let offer = sipx_sdp::parse(offer).map_err(|e| SdpError::Malformed(e.to_string()))?;
    let answer = sipx_sdp::answer(&offer, &local.capabilities());
    let negotiated = agreed(&offer, &answer, true)?;
    Ok((answer.to_string_sdp(), negotiated))
}

/// Reads the peer's answer to our offer.
pub fn read_answer(answer: &str) -> Result<Negotiated, SdpError> {
    let answer = sipx_sdp::parse(answer).map_err(|e| SdpError::Malformed(e.to_string()))?;
    agreed(&answer, &answer, false)
}

/// The parameters agreed in an exchange. `remote_sdp` is the peer's description (for its
/// address); `answer` lists the agreed formats. `we_answered` says whose view `answer`'s
/// direction attribute states.
fn agreed(
    remote_sdp: &SessionDescription,
    answer: &SessionDescription,
    we_answered: bool,
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
        .find_map(|f| {
            let pt: u8 = f.parse().ok()?;
            let codec = match stream.rtpmap(f) {
                Some(map) => Codec::from_name(map.split('/').next()?)?,
                None => [Codec::Pcmu, Codec::Pcma]
                    .into_iter()
                    .find(|c| c.static_payload_type() == pt)?,
            };
            Some((codec, pt))
        })
        .ok_or(SdpError::NoCommonCodec)?;
    let dtmf_payload_type = stream.formats.iter().find_map(|f| {
        let map = stream.rtpmap(f)?;
        map.to_ascii_lowercase()
            .starts_with("telephone-event/8000")
            .then(|| f.parse().ok())
            .flatten()
    });
    let remote_stream = remote_sdp.media.get(index).ok_or(SdpError::NoCommonCodec)?;
    let ip = remote_sdp
        .address_for(remote_stream)
        .ok_or(SdpError::NoAddress)?;
    let remote = (!ip.is_unspecified() && remote_stream.port != 0)
        .then(|| SocketAddr::new(ip, remote_stream.port));
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
        dtmf_payload_type,
        direction,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!("{}/../../fixtures/sdp/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn local() -> LocalMedia {
        LocalMedia::g711("127.0.0.1:20000".parse().expect("addr"), 42)
    }

    #[test]
    fn our_offer_reads_back_as_an_answer() {
        let offer = build_offer(&local());
        assert!(offer.contains("m=audio 20000 RTP/AVP 0 8 101"));
        let agreed = read_answer(&offer).expect("our own SDP parses");
        assert_eq!(agreed.codec, Codec::Pcmu);
        assert_eq!(agreed.dtmf_payload_type, Some(101));
        assert_eq!(
            agreed.remote,
            Some("127.0.0.1:20000".parse().expect("addr"))
        );
    }

    #[test]
    fn fixture_offers_are_answered() {
        // (file, codec, dtmf pt, remote port, our direction)
        let cases = [
            (
                "sipp-pcmu.sdp",
                Codec::Pcmu,
                None,
                6000,
                Direction::SendRecv,
            ),
            (
                "asterisk-opus-pcma.sdp",
                Codec::Pcma,
                Some(101),
                15390,
                Direction::SendRecv,
            ),
            (
                "hold-sendonly.sdp",
                Codec::Pcmu,
                Some(101),
                7078,
                Direction::RecvOnly,
            ),
            (
                "baresip.sdp",
                Codec::Pcmu,
                Some(101),
                10208,
                Direction::SendRecv,
            ),
        ];
        for (file, codec, dtmf, port, direction) in cases {
            let (answer, agreed) = answer_offer(&fixture(file), &local()).expect(file);
            assert_eq!(agreed.codec, codec, "{file}");
            assert_eq!(agreed.dtmf_payload_type, dtmf, "{file}");
            assert_eq!(agreed.remote.map(|r| r.port()), Some(port), "{file}");
            assert_eq!(agreed.direction, direction, "{file}");
            assert!(answer.contains("m=audio 20000 "), "{file}: {answer}");
        }
    }

    #[test]
    fn an_offer_with_no_common_codec_is_refused() {
        let offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n";
        assert_eq!(
            answer_offer(offer, &local()).err(),
            Some(SdpError::NoCommonCodec)
        );
        assert!(matches!(
            answer_offer("garbage", &local()),
            Err(SdpError::Malformed(_))
        ));
    }
}
