//! RTCP (RFC 3550 §6): sender and receiver reports for one stream. We send a compound
//! SR (or RR) + SDES CNAME every few seconds, keep the receiver statistics of §A.3 and the
//! interarrival jitter of §A.8, and read the peer's report blocks about us for its loss,
//! jitter and the round-trip time (§6.4.1: now − LSR − DLSR).

use std::time::{Duration, Instant};

/// RTCP packet types (RFC 3550 §12.1).
const SR: u8 = 200;
const RR: u8 = 201;
const SDES: u8 = 202;
const BYE: u8 = 203;

/// Seconds from 1900 (NTP's era) to 1970 (Unix's).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// Whether a datagram is RTCP rather than RTP (RFC 5761 §4: packet types 192–223 in the
/// second byte mean RTCP when both share a port).
#[must_use]
pub fn is_rtcp(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[0] >> 6 == 2 && (192..=223).contains(&bytes[1])
}

/// What the peer told us about the stream we send.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RemoteReport {
    /// Fraction of our packets it lost since its previous report, 0–1.
    pub fraction_lost: f32,
    /// Our packets it lost in all.
    pub cumulative_lost: i32,
    /// Its interarrival jitter of our stream, in ms.
    pub jitter_ms: f32,
    /// Round-trip time, when its report referred to one of our SRs.
    pub rtt_ms: Option<f32>,
}

/// What we measured of the stream we receive.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LocalReport {
    /// Packets expected from the sequence numbers seen.
    pub expected: u64,
    /// Of those, not received.
    pub lost: i64,
    /// Interarrival jitter (RFC 3550 §A.8), in ms.
    pub jitter_ms: f32,
}

/// Wall-clock time as an NTP timestamp (RFC 3550 §4): seconds since 1900 in the high 32 bits,
/// the fraction in the low 32.
#[must_use]
pub(crate) fn ntp_timestamp(unix: Duration) -> u64 {
    let seconds = unix.as_secs() + NTP_UNIX_OFFSET;
    let fraction = (u64::from(unix.subsec_nanos()) << 32) / 1_000_000_000;
    (seconds << 32) | fraction
}

/// The RTCP side of one stream.
#[derive(Debug, Clone)]
pub struct RtcpState {
    ssrc: u32,
    cname: String,
    rate: u32,
    /// Our sending counters.
    packets_sent: u32,
    octets_sent: u32,
    /// The peer's SSRC, once its RTP arrives.
    remote_ssrc: Option<u32>,
    base_seq: Option<u64>,
    max_seq: u64,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    /// Jitter in timestamp units, scaled by 16 (RFC 3550 §A.8).
    jitter: u32,
    last_transit: Option<i64>,
    /// Middle 32 bits of the peer's last SR, and when it came.
    last_sr: Option<(u32, Instant)>,
    /// The peer's last report about our stream.
    remote: RemoteReport,
}

impl RtcpState {
    /// The state of a stream we send as `ssrc` at `rate` Hz.
    #[must_use]
    pub fn new(ssrc: u32, cname: String, rate: u32) -> Self {
        Self {
            ssrc,
            cname,
            rate,
            packets_sent: 0,
            octets_sent: 0,
            remote_ssrc: None,
            base_seq: None,
            max_seq: 0,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            jitter: 0,
            last_transit: None,
            last_sr: None,
            remote: RemoteReport::default(),
        }
    }

    /// We sent an RTP packet with a payload of `octets`.
    pub fn sent(&mut self, octets: usize) {
        self.packets_sent = self.packets_sent.wrapping_add(1);
        self.octets_sent = self.octets_sent.wrapping_add(octets as u32);
    }

    /// An RTP packet arrived: its SSRC, extended sequence number, timestamp and arrival time
    /// (in timestamp units, on any fixed origin).
    pub fn received(&mut self, ssrc: u32, seq: u64, timestamp: u32, arrival: u32) {
        if self.remote_ssrc != Some(ssrc) {
            // A new source (or the first): statistics start over (§A.1).
            self.remote_ssrc = Some(ssrc);
            self.base_seq = None;
            self.last_transit = None;
            self.received = 0;
            self.expected_prior = 0;
            self.received_prior = 0;
        }
        self.base_seq.get_or_insert(seq);
        if self.received == 0 {
            self.max_seq = seq;
        }
        self.max_seq = self.max_seq.max(seq);
        self.received += 1;
        // §A.8: J += (|D| - J) / 16, kept scaled by 16 as in the RFC's integer version.
        let transit = i64::from(arrival.wrapping_sub(timestamp) as i32);
        if let Some(last) = self.last_transit {
            let d = (transit - last)
                .unsigned_abs()
                .min(u64::from(u32::MAX / 32)) as i64;
            self.jitter = (i64::from(self.jitter) + d - ((i64::from(self.jitter) + 8) >> 4)) as u32;
        }
        self.last_transit = Some(transit);
    }

    /// What we measured of the incoming stream.
    #[must_use]
    pub fn local(&self) -> LocalReport {
        let expected = self.base_seq.map_or(0, |base| self.max_seq - base + 1);
        LocalReport {
            expected,
            lost: expected as i64 - self.received as i64,
            jitter_ms: (self.jitter >> 4) as f32 * 1000.0 / self.rate as f32,
        }
    }

    /// What the peer last told us.
    #[must_use]
    pub fn remote(&self) -> RemoteReport {
        self.remote
    }

    /// A compound report to send at `now` (wall-clock `unix`): SR when we have sent since
    /// the last one, else RR; with a report block about the peer once it has sent; then
    /// SDES CNAME. `rtp_timestamp` is our RTP clock now.
    pub fn report(
        &mut self,
        now: Instant,
        unix: Duration,
        rtp_timestamp: u32,
        sending: bool,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(96);
        let block = self.report_block(now);
        let count = u8::from(block.is_some());
        if sending {
            let ntp = ntp_timestamp(unix);
            header(&mut out, count, SR, 6 + 6 * usize::from(count));
            out.extend_from_slice(&self.ssrc.to_be_bytes());
            out.extend_from_slice(&ntp.to_be_bytes());
            out.extend_from_slice(&rtp_timestamp.to_be_bytes());
            out.extend_from_slice(&self.packets_sent.to_be_bytes());
            out.extend_from_slice(&self.octets_sent.to_be_bytes());
        } else {
            header(&mut out, count, RR, 1 + 6 * usize::from(count));
            out.extend_from_slice(&self.ssrc.to_be_bytes());
        }
        if let Some(block) = block {
            out.extend_from_slice(&block);
        }
        self.sdes(&mut out);
        out
    }

    /// A BYE for the end of the stream (compound: RR/SR first is not required for BYE-only
    /// leaving, but we keep the RFC's rule and put an RR first).
    #[must_use]
    pub fn bye(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(40);
        header(&mut out, 0, RR, 1);
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        self.sdes(&mut out);
        header(&mut out, 1, BYE, 1);
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out
    }

    fn sdes(&self, out: &mut Vec<u8>) {
        let cname = self.cname.as_bytes();
        let cname = &cname[..cname.len().min(255)];
        // SSRC, CNAME item (type 1, length, text), END, padded to a 32-bit boundary.
        let item_len = 2 + cname.len() + 1;
        let padded = (4 + item_len).div_ceil(4) * 4;
        header(out, 1, SDES, padded / 4);
        let start = out.len();
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.push(1);
        out.push(cname.len() as u8);
        out.extend_from_slice(cname);
        out.resize(start + padded, 0);
    }

    /// §6.4.1 report block about the peer's stream.
    fn report_block(&mut self, now: Instant) -> Option<Vec<u8>> {
        let ssrc = self.remote_ssrc?;
        let base = self.base_seq?;
        let expected = self.max_seq - base + 1;
        let lost = (expected as i64 - self.received as i64).clamp(-0x80_0000, 0x7f_ffff);
        let expected_interval = expected - self.expected_prior;
        let received_interval = self.received - self.received_prior;
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        let fraction = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        };
        let (lsr, dlsr) = match self.last_sr {
            Some((lsr, at)) => {
                let delay = now.saturating_duration_since(at);
                (lsr, (delay.as_micros() as u64 * 65_536 / 1_000_000) as u32)
            }
            None => (0, 0),
        };
        let mut block = Vec::with_capacity(24);
        block.extend_from_slice(&ssrc.to_be_bytes());
        block.push(fraction);
        block.extend_from_slice(&(lost as i32).to_be_bytes()[1..]);
        block.extend_from_slice(&(self.max_seq as u32).to_be_bytes());
        block.extend_from_slice(&(self.jitter >> 4).to_be_bytes());
        block.extend_from_slice(&lsr.to_be_bytes());
        block.extend_from_slice(&dlsr.to_be_bytes());
        Some(block)
    }

    /// Reads a compound RTCP packet from the peer, received at `now` (wall-clock `unix`).
    /// Malformed packets are ignored; returns whether anything was understood.
    pub fn handle(&mut self, now: Instant, unix: Duration, bytes: &[u8]) -> bool {
        let mut understood = false;
        let mut rest = bytes;
        while rest.len() >= 4 {
            let count = usize::from(rest[0] & 0x1f);
            let kind = rest[1];
            let words = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
            let len = (words + 1) * 4;
            if rest[0] >> 6 != 2 || len > rest.len() {
                break;
            }
            let packet = &rest[..len];
            match kind {
                SR if packet.len() >= 28 => {
                    let ntp = u64::from_be_bytes(packet[8..16].try_into().unwrap_or_default());
                    self.last_sr = Some(((ntp >> 16) as u32, now));
                    self.read_blocks(unix, &packet[28..], count);
                    understood = true;
                }
                RR if packet.len() >= 8 => {
                    self.read_blocks(unix, &packet[8..], count);
                    understood = true;
                }
                SDES | BYE => understood = true,
                _ => {}
            }
            rest = &rest[len..];
        }
        understood
    }

    fn read_blocks(&mut self, unix: Duration, blocks: &[u8], count: usize) {
        for block in blocks.chunks_exact(24).take(count) {
            let ssrc = u32::from_be_bytes([block[0], block[1], block[2], block[3]]);
            if ssrc != self.ssrc {
                continue;
            }
            let lost = i32::from_be_bytes([block[5], block[6], block[7], 0]) >> 8;
            let jitter = u32::from_be_bytes([block[12], block[13], block[14], block[15]]);
            let lsr = u32::from_be_bytes([block[16], block[17], block[18], block[19]]);
            let dlsr = u32::from_be_bytes([block[20], block[21], block[22], block[23]]);
            let rtt_ms = (lsr != 0).then(|| {
                let now = (ntp_timestamp(unix) >> 16) as u32;
                let rtt = now.wrapping_sub(lsr).wrapping_sub(dlsr);
                // A negative result (clock step, bogus report) reads as huge: drop it.
                (rtt < 65_536 * 60).then(|| rtt as f32 * 1000.0 / 65_536.0)
            });
            self.remote = RemoteReport {
                fraction_lost: f32::from(block[4]) / 256.0,
                cumulative_lost: lost,
                jitter_ms: jitter as f32 * 1000.0 / self.rate as f32,
                rtt_ms: rtt_ms.flatten().or(self.remote.rtt_ms),
            };
        }
    }
}

fn header(out: &mut Vec<u8>, count: u8, kind: u8, words_after: usize) {
    out.push(0x80 | (count & 0x1f));
    out.push(kind);
    out.extend_from_slice(&(words_after as u16).to_be_bytes());
}

#[cfg(test)]
// One real instant is the epoch of the tests' virtual time.
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip_with_loss_jitter_and_rtt() {
        let t0 = Instant::now();
        let unix0 = Duration::from_secs(1_795_000_000);
        let mut a = RtcpState::new(0xaaaa, "a@recall".to_owned(), 8000);
        let mut b = RtcpState::new(0xbbbb, "b@recall".to_owned(), 8000);
        // a sends 100 packets, b receives 90 of them, each 160 timestamp units apart, with
        // every other one arriving 8 units (1 ms) late.
        for i in 0..100u64 {
            a.sent(160);
            if i % 10 != 3 {
                let ts = (i * 160) as u32;
                let arrival = ts + 1000 + if i % 2 == 1 { 8 } else { 0 };
                b.received(0xaaaa, 1000 + i, ts, arrival);
            }
        }
        let local = b.local();
        assert_eq!((local.expected, local.lost), (100, 10));
        assert!(
            (local.jitter_ms - 1.0).abs() < 0.2,
            "jitter {}",
            local.jitter_ms
        );

        // a's SR reaches b 10 ms later; b answers 50 ms after that; its RR reaches a 10 ms later.
        let sr = a.report(t0, unix0, 16_000, true);
        assert_eq!(sr[1], SR);
        assert!(is_rtcp(&sr));
        assert!(b.handle(
            t0 + Duration::from_millis(10),
            unix0 + Duration::from_millis(10),
            &sr
        ));
        let rr = b.report(
            t0 + Duration::from_millis(60),
            unix0 + Duration::from_millis(60),
            0,
            false,
        );
        assert_eq!(rr[1], RR);
        assert!(a.handle(
            t0 + Duration::from_millis(70),
            unix0 + Duration::from_millis(70),
            &rr
        ));
        let remote = a.remote();
        assert!((remote.fraction_lost - 0.1).abs() < 0.01, "{remote:?}");
        assert_eq!(remote.cumulative_lost, 10);
        assert!((remote.jitter_ms - 1.0).abs() < 0.2, "{remote:?}");
        let rtt = remote.rtt_ms.expect("rtt");
        assert!((rtt - 20.0).abs() < 1.0, "rtt {rtt}");
    }

    #[test]
    fn rtp_and_garbage_are_not_rtcp_and_do_not_upset_the_reader() {
        let rtp = [0x80, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        assert!(!is_rtcp(&rtp));
        let mut state = RtcpState::new(1, "x".to_owned(), 8000);
        let now = Instant::now();
        for bytes in [
            &b""[..],
            &[0x80, 200, 0xff, 0xff],
            &[0x81, 201, 0, 1, 0, 0, 0],
            &[0u8; 64],
        ] {
            assert!(!state.handle(now, Duration::ZERO, bytes));
        }
        let bye = state.bye();
        assert!(is_rtcp(&bye));
        assert!(state.handle(now, Duration::ZERO, &bye));
    }

    #[test]
    fn sequence_numbers_restart_with_a_new_source() {
        let mut state = RtcpState::new(1, "x".to_owned(), 8000);
        for i in 0..10 {
            state.received(7, 100 + i, 0, 0);
        }
        state.received(8, 5000, 0, 0);
        assert_eq!(state.local().expected, 1);
    }
}
