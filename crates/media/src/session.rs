//! One call's media stream: RTP out every 20 ms, RTP in through the jitter buffer, RFC 4733
//! DTMF both ways, symmetric RTP (we send to where the peer's packets come from).

use std::collections::VecDeque;
use std::net::SocketAddr;

use crate::audio_port::FRAME_SAMPLES;
use crate::codec::Codec;
use crate::dtmf::{DtmfDigit, event_payload, parse_event};
use crate::jitter::{JitterBuffer, JitterStats};
use crate::sdp::Negotiated;
use rtp_rs::{RtpPacketBuilder, RtpReader};

/// Ticks (20 ms each) a sent digit lasts before its end packets.
const DIGIT_TICKS: u16 = 5;
/// Ticks of pause between two sent digits.
const GAP_TICKS: u16 = 3;
/// Default jitter-buffer delay, in frames.
const JITTER_FRAMES: u16 = 3;

/// Something the media stream noticed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// A DTMF digit arrived as an RFC 4733 event.
    Dtmf(DtmfDigit),
}

/// Counters of one stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaStats {
    /// RTP packets sent.
    pub packets_sent: u64,
    /// RTP packets received and accepted.
    pub packets_received: u64,
    /// Datagrams on the RTP port that were not RTP we expect (STUN, garbage, wrong type).
    pub ignored: u64,
    /// Jitter buffer counters.
    pub jitter: JitterStats,
    /// DTMF digits sent.
    pub dtmf_sent: u64,
    /// DTMF digits received.
    pub dtmf_received: u64,
}

#[derive(Debug)]
struct DigitInFlight {
    digit: DtmfDigit,
    timestamp: u32,
    ticks: u16,
    end_sent: u8,
}

/// The media stream of one call.
#[derive(Debug)]
pub struct MediaSession {
    agreed: Negotiated,
    remote: Option<SocketAddr>,
    latched: bool,
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    marker: bool,
    jitter: JitterBuffer,
    digits: VecDeque<DtmfDigit>,
    in_flight: Option<DigitInFlight>,
    gap: u16,
    last_event_timestamp: Option<u32>,
    muted: bool,
    stats: MediaStats,
    events: VecDeque<MediaEvent>,
    scratch: Vec<i16>,
}

impl MediaSession {
    /// A stream with the agreed parameters; `ssrc`, initial sequence and timestamp come from
    /// the caller's seeded RNG (RFC 3550 §5.1: they should be random).
    #[must_use]
    pub fn new(agreed: Negotiated, ssrc: u32, seq: u16, timestamp: u32) -> Self {
        Self {
            remote: agreed.remote,
            agreed,
            latched: false,
            ssrc,
            seq,
            timestamp,
            marker: true,
            jitter: JitterBuffer::new(JITTER_FRAMES),
            digits: VecDeque::new(),
            in_flight: None,
            gap: 0,
            last_event_timestamp: None,
            muted: false,
            stats: MediaStats::default(),
            events: VecDeque::new(),
            scratch: Vec::with_capacity(FRAME_SAMPLES),
        }
    }

    /// Applies a new offer/answer outcome (re-INVITE): codec, address and direction.
    pub fn update(&mut self, agreed: Negotiated) {
        if !self.latched || agreed.remote.map(|r| r.ip()) != self.remote.map(|r| r.ip()) {
            self.remote = agreed.remote;
            self.latched = false;
        }
        self.agreed = agreed;
    }

    /// The codec in use.
    #[must_use]
    pub fn codec(&self) -> Codec {
        self.agreed.codec
    }

    /// Where RTP goes now.
    #[must_use]
    pub fn remote(&self) -> Option<SocketAddr> {
        self.remote
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> MediaStats {
        MediaStats {
            jitter: self.jitter.stats(),
            ..self.stats
        }
    }

    /// Mutes (sends silence) or unmutes the captured audio.
    pub fn set_muted(&mut self, muted: bool) {
        self.muted = muted;
    }

    /// Whether the microphone is muted.
    #[must_use]
    pub fn muted(&self) -> bool {
        self.muted
    }

    /// Queues digits to send as RFC 4733 events. Returns `false` if the peer did not agree to
    /// telephone-event (the caller may fall back to SIP INFO).
    pub fn send_dtmf(&mut self, digits: &[DtmfDigit]) -> bool {
        if self.agreed.dtmf_payload_type.is_none() {
            return false;
        }
        self.digits.extend(digits.iter().copied());
        true
    }

    /// Whether digits are still queued or being sent.
    #[must_use]
    pub fn sending_dtmf(&self) -> bool {
        !self.digits.is_empty() || self.in_flight.is_some()
    }

    /// The next thing the stream noticed.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    /// A datagram arrived on this stream's port. Anything that is not RTP of an agreed payload
    /// type is counted and ignored.
    pub fn handle_packet(&mut self, from: SocketAddr, bytes: &[u8]) {
        let Ok(packet) = RtpReader::new(bytes) else {
            self.stats.ignored += 1;
            return;
        };
        if packet.version() != 2 {
            self.stats.ignored += 1;
            return;
        }
        let pt = packet.payload_type();
        if Some(pt) == self.agreed.dtmf_payload_type {
            self.latch(from);
            self.stats.packets_received += 1;
            self.on_event(packet.timestamp(), packet.payload());
            return;
        }
        let codec = if pt == self.agreed.payload_type {
            self.agreed.codec
        } else if let Some(codec) = [Codec::Pcmu, Codec::Pcma]
            .into_iter()
            .find(|c| c.static_payload_type() == pt)
        {
            // The answer may list both G.711 laws; a peer may send either.
            codec
        } else {
            self.stats.ignored += 1;
            return;
        };
        self.latch(from);
        self.stats.packets_received += 1;
        if !self.agreed.direction.receives() {
            return;
        }
        let mut samples = Vec::with_capacity(FRAME_SAMPLES);
        codec.decode(packet.payload(), &mut samples);
        self.jitter
            .push(u16::from(packet.sequence_number()), samples);
    }

    /// RFC 4733 §2.5.1.3: one event spans many packets with the same timestamp; report it once.
    fn on_event(&mut self, timestamp: u32, payload: &[u8]) {
        let Some((digit, _end)) = parse_event(payload) else {
            self.stats.ignored += 1;
            return;
        };
        if self.last_event_timestamp == Some(timestamp) {
            return;
        }
        self.last_event_timestamp = Some(timestamp);
        self.stats.dtmf_received += 1;
        self.events.push_back(MediaEvent::Dtmf(digit));
    }

    /// Symmetric RTP (RFC 4961): send to where the peer's RTP really comes from.
    fn latch(&mut self, from: SocketAddr) {
        if !self.latched {
            self.latched = true;
            self.remote = Some(from);
        }
    }

    /// One 20 ms tick: takes the captured frame, fills the frame to play, and returns the
    /// RTP packet to send (if any) as `(destination, bytes)`.
    pub fn tick(&mut self, capture: &[i16], playback: &mut [i16]) -> Option<(SocketAddr, Vec<u8>)> {
        self.jitter.pop(playback);
        let packet = self.next_packet(capture);
        self.timestamp = self.timestamp.wrapping_add(FRAME_SAMPLES as u32);
        let remote = self.remote?;
        if !self.agreed.direction.sends() {
            return None;
        }
        let packet = packet?;
        self.stats.packets_sent += 1;
        Some((remote, packet))
    }

    fn next_packet(&mut self, capture: &[i16]) -> Option<Vec<u8>> {
        if let Some(packet) = self.next_event_packet() {
            return Some(packet);
        }
        self.scratch.clear();
        let mut payload = Vec::with_capacity(FRAME_SAMPLES);
        if self.muted {
            self.scratch.resize(capture.len(), 0);
            self.agreed.codec.encode(&self.scratch, &mut payload);
        } else {
            self.agreed.codec.encode(capture, &mut payload);
        }
        let marker = std::mem::take(&mut self.marker);
        self.build(self.agreed.payload_type, marker, self.timestamp, &payload)
    }

    /// RFC 4733 §2.5.1: a start packet with the marker, updates every 20 ms with a growing
    /// duration, then the end packet three times; all with the event's first timestamp.
    fn next_event_packet(&mut self) -> Option<Vec<u8>> {
        let pt = self.agreed.dtmf_payload_type?;
        if self.in_flight.is_none() {
            if self.gap > 0 {
                self.gap -= 1;
                return None;
            }
            let digit = self.digits.pop_front()?;
            self.in_flight = Some(DigitInFlight {
                digit,
                timestamp: self.timestamp,
                ticks: 0,
                end_sent: 0,
            });
            self.stats.dtmf_sent += 1;
        }
        let flight = self.in_flight.as_mut()?;
        flight.ticks = flight.ticks.saturating_add(1).min(DIGIT_TICKS);
        let ended = flight.ticks >= DIGIT_TICKS;
        let duration = flight.ticks * FRAME_SAMPLES as u16;
        let marker = flight.ticks == 1 && flight.end_sent == 0;
        let payload = event_payload(flight.digit, ended, duration);
        let timestamp = flight.timestamp;
        if ended {
            flight.end_sent += 1;
            if flight.end_sent >= 3 {
                self.in_flight = None;
                self.gap = GAP_TICKS;
                self.marker = true;
            }
        }
        self.build(pt, marker, timestamp, &payload)
    }

    fn build(&mut self, pt: u8, marker: bool, timestamp: u32, payload: &[u8]) -> Option<Vec<u8>> {
        let packet = RtpPacketBuilder::new()
            .payload_type(pt)
            .marked(marker)
            .ssrc(self.ssrc)
            .sequence(self.seq.into())
            .timestamp(timestamp)
            .payload(payload)
            .build()
            .ok()?;
        self.seq = self.seq.wrapping_add(1);
        Some(packet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sipx_sdp::Direction;

    fn agreed(port: u16) -> Negotiated {
        Negotiated {
            codec: Codec::Pcmu,
            payload_type: 0,
            remote: Some(SocketAddr::from(([127, 0, 0, 1], port))),
            dtmf_payload_type: Some(101),
            direction: Direction::SendRecv,
        }
    }

    #[test]
    fn audio_crosses_between_two_sessions() {
        let mut a = MediaSession::new(agreed(2000), 1, 100, 1000);
        let mut b = MediaSession::new(agreed(1000), 2, 200, 2000);
        let tone: Vec<i16> = (0..FRAME_SAMPLES)
            .map(|i| ((i as f32 * 0.2).sin() * 8000.0) as i16)
            .collect();
        let mut out = vec![0i16; FRAME_SAMPLES];
        let mut heard = 0i64;
        for _ in 0..20 {
            let (to, packet) = a.tick(&tone, &mut out).expect("a sends");
            assert_eq!(to.port(), 2000);
            b.handle_packet(SocketAddr::from(([127, 0, 0, 1], 1000)), &packet);
            b.tick(&[0; FRAME_SAMPLES], &mut out);
            heard += out.iter().map(|s| i64::from(s.abs())).sum::<i64>();
        }
        assert!(heard > 0, "b played a's tone");
        assert_eq!(b.stats().jitter.concealed, 0);
    }

    #[test]
    fn dtmf_is_sent_as_events_and_reported_once_per_digit() {
        let mut a = MediaSession::new(agreed(2000), 1, 100, 1000);
        let mut b = MediaSession::new(agreed(1000), 2, 200, 2000);
        assert!(a.send_dtmf(&DtmfDigit::parse_all("12#").expect("digits")));
        let mut out = vec![0i16; FRAME_SAMPLES];
        let mut event_packets = 0;
        for _ in 0..40 {
            if let Some((_, packet)) = a.tick(&[0; FRAME_SAMPLES], &mut out) {
                let reader = RtpReader::new(&packet).expect("rtp");
                if reader.payload_type() == 101 {
                    event_packets += 1;
                }
                b.handle_packet(SocketAddr::from(([127, 0, 0, 1], 1000)), &packet);
            }
        }
        // 3 digits x (4 updates + 3 end packets).
        assert_eq!(event_packets, 21);
        let digits: String = std::iter::from_fn(|| b.poll_event())
            .map(|MediaEvent::Dtmf(d)| d.as_char())
            .collect();
        assert_eq!(digits, "12#");
        assert!(!a.sending_dtmf());
    }

    #[test]
    fn garbage_on_the_rtp_port_is_ignored() {
        let mut s = MediaSession::new(agreed(2000), 1, 1, 1);
        let from = SocketAddr::from(([127, 0, 0, 1], 9));
        s.handle_packet(from, b"");
        s.handle_packet(from, &[0x00, 0x01, 0x00, 0x00]); // a STUN binding request header
        s.handle_packet(from, &[0x80; 3]);
        assert_eq!(s.stats().ignored, 3);
        assert_eq!(
            s.remote().map(|r| r.port()),
            Some(2000),
            "garbage does not latch"
        );
    }
}
