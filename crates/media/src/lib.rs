//! Sans-IO media for recall: SDP offer/answer (RFC 3264) on sipx-sdp, RTP on rtp-rs, G.711,
//! a jitter buffer with concealment, and RFC 4733 telephone events.
//!
//! Nothing here touches a socket, a device or the clock. A [`MediaSession`] is driven by its
//! owner: received packets go in with [`MediaSession::handle_packet`], and every 20 ms
//! [`MediaSession::tick`] takes one captured frame and yields the packet to send and the frame
//! to play.

mod audio_port;
mod codec;
mod dtmf;
mod g711;
mod jitter;
mod sdp;
mod session;

pub use audio_port::{AudioPort, FRAME_SAMPLES, SAMPLE_RATE};
pub use codec::Codec;
pub use dtmf::{DtmfDigit, DtmfError};
pub use g711::{alaw_decode, alaw_encode, ulaw_decode, ulaw_encode};
pub use jitter::{JitterBuffer, JitterStats};
pub use sdp::{LocalMedia, Negotiated, SdpError, answer_offer, build_offer, read_answer};
pub use session::{MediaEvent, MediaSession, MediaStats};
/// Media direction (RFC 3264 §6.1), re-exported from sipx-sdp.
pub use sipx_sdp::Direction;
