//! Sans-IO media for recall: SDP offer/answer (RFC 3264) on sipx-sdp; RTP on rtp-rs and RTCP
//! reports (RFC 3550); Opus (through libopus) and G.711 with concealment; an adaptive jitter
//! buffer with smooth playout adjustment; RFC 4733 telephone events; SRTP (RFC 3711, RFC 7714)
//! keyed by SDES (RFC 4568) or by a DTLS handshake on the media port (RFC 5763, RFC 5764).
//!
//! Nothing here touches a socket, a device or the clock. A [`MediaSession`] is driven by its
//! owner: received datagrams go in with [`MediaSession::handle_packet`] and the time they
//! arrived; every 20 ms [`MediaSession::tick`] takes one captured frame and fills the frame to
//! play; datagrams to send come out of [`MediaSession::poll_transmit`].

mod audio_port;
mod codec;
mod dtls;
mod dtmf;
mod g711;
mod ice;
mod jitter;
mod keying;
mod mixer;
mod plc;
mod rtcp;
mod sdp;
mod session;
mod srtp;
mod timescale;
mod tone;
mod voice;

pub use audio_port::AudioPort;
pub use codec::{Codec, CodecError, Decoder, Encoder, OpusSettings};
pub use dtls::{
    DtlsAgreed, DtlsError, DtlsIdentity, Fingerprint, FingerprintHash, HANDSHAKE_DEADLINE, Setup,
    is_dtls,
};
pub use dtmf::{DtmfDigit, DtmfError};
pub use g711::{alaw_decode, alaw_encode, ulaw_decode, ulaw_encode};
pub use ice::{
    CONSENT_TIMEOUT, Gatherer, IceDescription, IceError, IceEvent, IceServers, IceStream, Pair,
    TurnServer, TurnTransport, is_stun, parse_candidate, turn_frame_len,
};
pub use jitter::{Adjust, JitterBuffer, JitterStats, Playout};
pub use keying::{Encryption, Keying, SrtpKeys, check_offer, fresh_keys, fresh_keys_for};
pub use mixer::{FrameResampler, mix_into};
pub use plc::G711Plc;
pub use rtcp::{LocalReport, RemoteReport, RtcpState, is_rtcp};
pub use sdp::{
    LocalMedia, Negotiated, SdpError, answer_offer, build_offer, check_codecs, read_answer,
};
pub use session::{MediaEvent, MediaSession, MediaStats, MediaTransmit, SessionParams};
/// Media direction (RFC 3264 §6.1), re-exported from sipx-sdp.
pub use sipx_sdp::Direction;
pub use srtp::{CryptoAttribute, MasterKey, Srtp, SrtpError, SrtpStats, Suite};
pub use tone::{Tone, ToneGenerator};
pub use voice::VoiceSettings;
