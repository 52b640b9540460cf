//! One call's media stream, sans-IO: RTP out every 20 ms, RTP in through the adaptive jitter
//! buffer and the decoder (with concealment, FEC and smooth playout adjustment), RFC 4733
//! DTMF both ways, RTCP reports, symmetric RTP (we send to where the peer's packets come
//! from). Audio is exchanged at the codec's own rate, 20 ms at a time.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rtp_rs::RtpReader;

use crate::codec::{Codec, CodecError, Decoder, Encoder, OpusSettings};
use crate::dtls::{DtlsIdentity, DtlsOutcome, DtlsTransport, is_dtls};
use crate::dtmf::{DtmfDigit, event_payload, parse_event};
use crate::ice::{IceError, IceEvent, IceStream, Pair};
use crate::jitter::{Adjust, JitterBuffer, JitterStats, Playout};
use crate::rtcp::{LocalReport, RemoteReport, RtcpState, is_rtcp};
use crate::sdp::Negotiated;
use crate::srtp::{Srtp, Suite};
use crate::timescale;

/// A sent digit lasts this long before its end packets (RFC 4733 §2.5.1.2).
const DIGIT_TICKS: u16 = 5;
/// Ticks of pause between two sent digits.
const GAP_TICKS: u16 = 3;
/// Between our RTCP reports (RFC 3550 §6.2's 5 s minimum).
const RTCP_INTERVAL: Duration = Duration::from_secs(5);
/// Silence suppression: quiet frames still sent after speech (the tail of a word).
const HANGOVER_FRAMES: u32 = 10;
/// Silence suppression: one frame a second goes out while quiet, so that NAT bindings, a
/// latching peer and a PBX's RTP timeout see the stream alive.
const KEEPALIVE_FRAMES: u32 = 50;
/// Silence suppression: a frame is quiet below this mean magnitude (about -66 dBov): digital
/// silence, a muted or held stream, a null audio device — not a quiet room's noise.
const SILENT_MEAN: u64 = 16;

/// Something the media stream noticed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// A DTMF digit arrived as an RFC 4733 event.
    Dtmf(DtmfDigit),
    /// An RTCP report arrived: the statistics changed.
    Report,
    /// The DTLS handshake completed: the media is encrypted from now on.
    Secured,
    /// The media's encryption could not be set up (DTLS handshake failed or timed out, or the
    /// peer's certificate is not the signalled one): nothing is sent or heard.
    EncryptionFailed(String),
    /// ICE selected the pair that carries the media (or moved it to another).
    IceSelected(Pair),
    /// ICE found no working pair, or the peer's consent expired (RFC 7675): the media can go
    /// nowhere.
    IceFailed(String),
    /// ICE's pair stopped answering (no answer to checks for 5 s; consent expires at 30 s).
    IceDisconnected,
    /// Our ICE restart has its new credentials and candidates
    /// ([`MediaSession::ice_description`]): re-offer them.
    IceRestarted,
}

/// A datagram the stream wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaTransmit {
    /// Where to.
    pub to: SocketAddr,
    /// The datagram.
    pub bytes: Vec<u8>,
    /// RTCP to send from the RTCP socket (not multiplexed); else it leaves the RTP socket.
    pub rtcp_port: bool,
}

/// Counters and measurements of one stream.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MediaStats {
    /// RTP packets sent.
    pub packets_sent: u64,
    /// RTP packets received and accepted.
    pub packets_received: u64,
    /// Datagrams on the media ports that were not RTP or RTCP we expect (STUN, garbage).
    pub ignored: u64,
    /// Jitter buffer counters.
    pub jitter: JitterStats,
    /// Lost packets decoded from the next packet's in-band FEC (Opus).
    pub recovered_fec: u64,
    /// DTMF digits sent.
    pub dtmf_sent: u64,
    /// DTMF digits received.
    pub dtmf_received: u64,
    /// RTCP reports received.
    pub rtcp_received: u64,
    /// What we measured of the stream we receive.
    pub local: LocalReport,
    /// What the peer reported of the stream we send.
    pub remote: RemoteReport,
    /// SRTP/SRTCP packets whose authentication failed (forged, damaged or keyed otherwise).
    pub srtp_auth_failures: u64,
    /// SRTP/SRTCP packets dropped as replays.
    pub srtp_replayed: u64,
}

/// How a stream is set up besides the negotiated parameters.
#[derive(Debug, Clone)]
pub struct SessionParams {
    /// Our SSRC (random, RFC 3550 §8).
    pub ssrc: u32,
    /// The first sequence number (random).
    pub seq: u16,
    /// The first timestamp (random).
    pub timestamp: u32,
    /// Our RTCP CNAME.
    pub cname: String,
    /// Opus encoder settings (the peer's `fmtp` may lower the bitrate or switch FEC off).
    pub opus: OpusSettings,
    /// The jitter buffer's bounds.
    pub jitter_min: Duration,
    /// The jitter buffer's upper bound.
    pub jitter_max: Duration,
    /// The wall-clock time (since the Unix epoch) at `epoch`, for RTCP's NTP timestamps.
    pub wall: Duration,
    /// The instant `wall` was read.
    pub epoch: Instant,
    /// Our DTLS certificate, for streams keyed by DTLS-SRTP.
    pub dtls_identity: Option<DtlsIdentity>,
    /// SRTP protection profiles a DTLS handshake offers, in order of preference.
    pub srtp_suites: Vec<Suite>,
    /// Silence suppression for G.711 and G.722 (RFC 3551 §4.1; Opus has its own DTX): while
    /// what we send is silent, only a frame a second goes out, and the next talkspurt's first
    /// packet carries the marker.
    pub silence_suppression: bool,
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
    params: SessionParams,
    remote: Option<SocketAddr>,
    remote_rtcp: Option<SocketAddr>,
    latched: bool,
    seq: u16,
    timestamp: u32,
    marker: bool,
    encoder: Encoder,
    decoder: Decoder,
    /// The codec the decoder is for (a G.711 peer may switch law).
    decoding: Codec,
    jitter: JitterBuffer,
    /// Decoded audio waiting to be played.
    fifo: Vec<i16>,
    /// Quiet frames played in a row.
    quiet_run: u32,
    /// Silent frames captured in a row (silence suppression).
    silent_run: u32,
    /// Frames not sent since the last packet (silence suppression).
    unsent: u32,
    playing: bool,
    digits: VecDeque<DtmfDigit>,
    in_flight: Option<DigitInFlight>,
    gap: u16,
    last_event_timestamp: Option<u32>,
    muted: bool,
    rtcp: RtcpState,
    next_rtcp: Option<Instant>,
    sent_since_report: bool,
    stats: MediaStats,
    events: VecDeque<MediaEvent>,
    transmits: VecDeque<MediaTransmit>,
    scratch: Vec<i16>,
    /// SRTP when the exchange agreed keys (SDES at once, DTLS once its handshake is done).
    srtp: Option<Srtp>,
    /// The DTLS association when the exchange agreed DTLS-SRTP.
    dtls: Option<DtlsTransport>,
    /// Encryption failed: nothing more is sent or heard.
    failed: bool,
    /// ICE on the stream's socket, when both sides do it: it decides where media goes.
    ice: Option<Box<IceStream>>,
}

impl MediaSession {
    /// A stream with the agreed parameters.
    pub fn new(agreed: Negotiated, params: SessionParams) -> Result<Self, CodecError> {
        let codec = agreed.codec;
        let encoder = Encoder::new(codec, opus_settings(&params.opus, &agreed))?;
        let decoder = Decoder::new(codec)?;
        // The buffer counts audio samples; RTP timestamps are scaled to them on the way in.
        let jitter = JitterBuffer::new(codec.sample_rate(), params.jitter_min, params.jitter_max);
        let rtcp = RtcpState::new(params.ssrc, params.cname.clone(), codec.clock_rate());
        let srtp = keyed(&agreed)?;
        let dtls = dtls_for(&agreed, &params)?;
        Ok(Self {
            srtp,
            dtls,
            failed: false,
            ice: None,
            remote: agreed.remote,
            remote_rtcp: agreed.remote_rtcp,
            latched: false,
            seq: params.seq,
            timestamp: params.timestamp,
            marker: true,
            encoder,
            decoder,
            decoding: codec,
            jitter,
            fifo: Vec::with_capacity(codec.frame_samples() * 4),
            quiet_run: 0,
            // A call starting in silence suppresses from its second frame: no hangover.
            silent_run: HANGOVER_FRAMES,
            unsent: 0,
            playing: false,
            digits: VecDeque::new(),
            in_flight: None,
            gap: 0,
            last_event_timestamp: None,
            muted: false,
            rtcp,
            next_rtcp: None,
            sent_since_report: false,
            stats: MediaStats::default(),
            events: VecDeque::new(),
            transmits: VecDeque::new(),
            scratch: Vec::with_capacity(codec.frame_samples()),
            agreed,
            params,
        })
    }

    /// Applies a new offer/answer outcome (re-INVITE): codec, address and direction.
    pub fn update(&mut self, agreed: Negotiated) -> Result<(), CodecError> {
        if !self.latched || agreed.remote.map(|r| r.ip()) != self.remote.map(|r| r.ip()) {
            self.remote = agreed.remote;
            self.remote_rtcp = agreed.remote_rtcp;
            self.latched = false;
        }
        if agreed.codec != self.agreed.codec {
            let codec = agreed.codec;
            self.encoder = Encoder::new(codec, opus_settings(&self.params.opus, &agreed))?;
            self.decoder = Decoder::new(codec)?;
            self.decoding = codec;
            self.jitter = JitterBuffer::new(
                codec.sample_rate(),
                self.params.jitter_min,
                self.params.jitter_max,
            );
            self.fifo.clear();
            self.playing = false;
            self.rtcp = RtcpState::new(
                self.params.ssrc,
                self.params.cname.clone(),
                codec.clock_rate(),
            );
        }
        let fingerprint = |a: &Negotiated| a.dtls.as_ref().map(|d| d.remote_fingerprint.clone());
        if agreed.srtp != self.agreed.srtp || fingerprint(&agreed) != fingerprint(&self.agreed) {
            // New keys (a re-INVITE rekeys, or a new DTLS association): counters carry over,
            // contexts start afresh. An unchanged fingerprint keeps the association and its
            // keys (RFC 8842 §5.2).
            self.fold_srtp_stats();
            self.srtp = keyed(&agreed)?;
            self.dtls = dtls_for(&agreed, &self.params)?;
            self.failed = false;
        }
        if let (Some(ice), Some(remote)) = (self.ice.as_mut(), agreed.ice.as_ref()) {
            let controlling = ice.controlling();
            if let Err(e) = ice.start(ice.now(), remote, controlling) {
                tracing::warn!(error = %e, "the peer's new ICE description is not usable");
            }
        }
        self.agreed = agreed;
        Ok(())
    }

    /// Runs ICE on the stream's socket: the checks start against the peer's description when
    /// the exchange agreed ICE; else the stream latches as without it, and the allocation
    /// `ice` holds at the TURN server is released.
    ///
    /// # Errors
    /// When the peer's ICE description cannot be used (the stream then latches, as without).
    pub fn attach_ice(
        &mut self,
        now: Instant,
        mut ice: IceStream,
        we_offered: bool,
    ) -> Result<(), IceError> {
        let Some(remote) = self.agreed.ice.clone() else {
            ice.close();
            self.flush_ice(&mut ice);
            return Ok(());
        };
        match ice.start(now, &remote, we_offered) {
            Ok(()) => {
                // What it has to send (permissions for the peer's candidates) goes out
                // through it, to the TURN server.
                self.ice = Some(Box::new(ice));
                Ok(())
            }
            Err(e) => {
                ice.close();
                self.flush_ice(&mut ice);
                Err(e)
            }
        }
    }

    /// The TURN server's last words from an ICE stream let go.
    fn flush_ice(&mut self, ice: &mut IceStream) {
        if self.ice.is_none() {
            while let Some((to, bytes)) = ice.poll_transmit() {
                self.transmits.push_back(MediaTransmit {
                    to,
                    bytes,
                    rtcp_port: false,
                });
            }
        }
    }

    /// Lets go of ICE as the call ends: the TURN allocation is released.
    pub fn release_ice(&mut self) {
        if let Some(mut ice) = self.ice.take() {
            ice.close();
            self.flush_ice(&mut ice);
        }
    }

    /// Restarts ICE ourselves ([`IceStream::restart`]): `true` when a restart began;
    /// [`MediaEvent::IceRestarted`] follows once the socket has gathered anew.
    pub fn restart_ice(&mut self, now: Instant, servers: &crate::ice::IceServers) -> bool {
        let Some(local) = self.ice.as_ref().map(|ice| ice.socket()) else {
            return false;
        };
        self.restart_ice_on(now, servers, local)
    }

    /// Restarts ICE on another socket, `local` ([`IceStream::restart_on`]): the call moves
    /// there once the restart is offered and answered.
    pub fn restart_ice_on(
        &mut self,
        now: Instant,
        servers: &crate::ice::IceServers,
        local: SocketAddr,
    ) -> bool {
        let Some(ice) = self.ice.as_mut() else {
            return false;
        };
        let started = match ice.restart_on(now, servers, local) {
            Ok(started) => started,
            Err(e) => {
                tracing::warn!(error = %e, "cannot restart ICE");
                false
            }
        };
        self.ice_events();
        started
    }

    /// Whether we control ICE on this stream (we restart it when its pair stops answering).
    #[must_use]
    pub fn ice_controlling(&self) -> bool {
        self.ice.as_ref().is_some_and(|i| i.controlling())
    }

    /// Our ICE description as it stands (after a restart, with the new credentials), for the
    /// next offer or answer.
    #[must_use]
    pub fn ice_description(&self) -> Option<crate::ice::IceDescription> {
        self.ice.as_ref().map(|i| i.local_description().clone())
    }

    /// The candidate pair carrying the media, when ICE runs.
    #[must_use]
    pub fn ice_pair(&self) -> Option<&Pair> {
        self.ice.as_ref().and_then(|i| i.selected())
    }

    /// Whether ICE runs on the stream (the peer does ICE).
    #[must_use]
    pub fn uses_ice(&self) -> bool {
        self.ice.is_some()
    }

    /// Why ICE failed, when it did.
    #[must_use]
    pub fn ice_failure(&self) -> Option<&str> {
        self.ice.as_ref().and_then(|i| i.failure())
    }

    /// Media cannot go out yet (ICE has no pair) or any more (ICE failed).
    fn ice_blocks(&self) -> bool {
        self.ice.as_ref().is_some_and(|i| !i.connected())
    }

    fn drive_ice(&mut self, now: Instant) {
        let Some(ice) = self.ice.as_mut() else {
            return;
        };
        if ice.poll_timeout().is_some_and(|at| at <= now) {
            ice.handle_timeout(now);
        }
        self.ice_events();
    }

    fn ice_events(&mut self) {
        let Some(ice) = self.ice.as_mut() else {
            return;
        };
        while let Some(event) = ice.poll_event() {
            match event {
                IceEvent::Selected(pair) => {
                    self.remote = Some(pair.remote);
                    self.remote_rtcp = Some(pair.remote);
                    self.events.push_back(MediaEvent::IceSelected(pair));
                }
                IceEvent::Failed(why) => {
                    self.transmits.clear();
                    self.events.push_back(MediaEvent::IceFailed(why));
                }
                IceEvent::Disconnected => self.events.push_back(MediaEvent::IceDisconnected),
                IceEvent::Restarted => self.events.push_back(MediaEvent::IceRestarted),
            }
        }
    }

    fn fold_srtp_stats(&mut self) {
        if let Some(srtp) = &self.srtp {
            let counted = srtp.stats();
            self.stats.srtp_auth_failures += counted.auth_failures;
            self.stats.srtp_replayed += counted.replayed;
        }
    }

    /// How the stream is protected: the SRTP suite, or `None` for plain RTP (or while a DTLS
    /// handshake is still under way).
    #[must_use]
    pub fn encryption(&self) -> Option<Suite> {
        self.srtp.as_ref().map(Srtp::suite)
    }

    /// Whether the stream's keys come from DTLS (RFC 5764) rather than the SDP.
    #[must_use]
    pub fn keyed_by_dtls(&self) -> bool {
        self.agreed.dtls.is_some()
    }

    /// Our role in the stream's DTLS association (`active`: we are the client).
    #[must_use]
    pub fn dtls_role(&self) -> Option<crate::dtls::Setup> {
        self.agreed.dtls.as_ref().map(|d| {
            if d.client {
                crate::dtls::Setup::Active
            } else {
                crate::dtls::Setup::Passive
            }
        })
    }

    /// Whether the stream's encryption failed (and so it carries nothing).
    #[must_use]
    pub fn encryption_failed(&self) -> bool {
        self.failed
    }

    fn on_dtls(&mut self, outcome: DtlsOutcome) {
        match outcome {
            DtlsOutcome::Nothing => {}
            DtlsOutcome::Keyed(keys) => match Srtp::new(&keys.local, &keys.remote) {
                Ok(srtp) => {
                    self.srtp = Some(srtp);
                    self.events.push_back(MediaEvent::Secured);
                }
                Err(e) => self.fail(format!("SRTP could not be keyed from DTLS: {e}")),
            },
            DtlsOutcome::Failed(why) => self.fail(why),
        }
    }

    fn fail(&mut self, why: String) {
        if !self.failed {
            self.failed = true;
            self.transmits.clear();
            self.events.push_back(MediaEvent::EncryptionFailed(why));
        }
    }

    /// Drives a stream that is not yet carrying audio (its DTLS handshake under way): what
    /// [`MediaSession::send`] does before the keys, without a frame to send.
    pub fn drive(&mut self, now: Instant) {
        self.drive_ice(now);
        self.drive_dtls(now);
    }

    /// Whether the stream waits for its DTLS handshake before it can carry audio.
    #[must_use]
    pub fn awaiting_keys(&self) -> bool {
        self.dtls.is_some() && self.srtp.is_none() && !self.failed
    }

    /// Drives the DTLS handshake: starts it (as the client, towards the peer's address),
    /// retransmits, and gives up past its deadline.
    fn drive_dtls(&mut self, now: Instant) {
        if self.ice_blocks() {
            // DTLS runs over the pair ICE selects (RFC 5763 §5): not before.
            return;
        }
        let remote = self.remote;
        let Some(dtls) = self.dtls.as_mut() else {
            return;
        };
        if dtls.done() || self.failed {
            return;
        }
        let started = dtls.start(now, remote);
        let timed = match started {
            DtlsOutcome::Nothing => dtls.handle_timeout(now),
            other => other,
        };
        self.on_dtls(timed);
    }

    /// The codec in use.
    #[must_use]
    pub fn codec(&self) -> Codec {
        self.agreed.codec
    }

    /// Samples per 20 ms frame exchanged with [`MediaSession::tick`].
    #[must_use]
    pub fn frame_samples(&self) -> usize {
        self.agreed.codec.frame_samples()
    }

    /// Where RTP goes now.
    #[must_use]
    pub fn remote(&self) -> Option<SocketAddr> {
        self.remote
    }

    /// Counters and measurements.
    #[must_use]
    pub fn stats(&self) -> MediaStats {
        let srtp = self.srtp.as_ref().map(Srtp::stats).unwrap_or_default();
        MediaStats {
            jitter: self.jitter.stats(),
            local: self.rtcp.local(),
            remote: self.rtcp.remote(),
            srtp_auth_failures: self.stats.srtp_auth_failures + srtp.auth_failures,
            srtp_replayed: self.stats.srtp_replayed + srtp.replayed,
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

    /// Whether the peer agreed to RFC 4733 telephone-event.
    #[must_use]
    pub fn telephone_event_agreed(&self) -> bool {
        self.agreed.dtmf_payload_type.is_some()
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

    /// Whether the stream noticed something [`MediaSession::poll_event`] would return.
    #[must_use]
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// The next thing the stream noticed.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    /// The next datagram to send (SRTP or SRTCP when keyed; DTLS handshake records first).
    pub fn poll_transmit(&mut self) -> Option<MediaTransmit> {
        loop {
            let Some(ice) = self.ice.as_mut() else {
                return self.poll_stream_transmit();
            };
            if let Some((to, bytes)) = ice.poll_transmit() {
                return Some(MediaTransmit {
                    to,
                    bytes,
                    rtcp_port: false,
                });
            }
            let transmit = self.poll_stream_transmit()?;
            // Over the selected pair (through the TURN server when it is relayed); nothing
            // while there is none.
            let Some(ice) = self.ice.as_mut() else {
                return Some(transmit);
            };
            if let Some((to, bytes)) = ice.send(&transmit.bytes) {
                return Some(MediaTransmit {
                    to,
                    bytes,
                    rtcp_port: false,
                });
            }
        }
    }

    fn poll_stream_transmit(&mut self) -> Option<MediaTransmit> {
        if let Some((to, bytes)) = self.dtls.as_mut().and_then(DtlsTransport::poll_transmit) {
            return Some(MediaTransmit {
                to,
                bytes,
                rtcp_port: false,
            });
        }
        let transmit = self.transmits.pop_front()?;
        if self.failed || (self.dtls.is_some() && self.srtp.is_none()) {
            // Keyed by DTLS and not keyed yet: nothing goes out in the clear.
            self.transmits.clear();
            return None;
        }
        Some(transmit)
    }

    fn unix(&self, now: Instant) -> Duration {
        self.params.wall + now.saturating_duration_since(self.params.epoch)
    }

    /// A datagram arrived on this stream's RTCP port (SRTCP when keyed).
    pub fn handle_rtcp(&mut self, now: Instant, bytes: &[u8]) {
        if self.dtls.is_some() && self.srtp.is_none() {
            self.stats.ignored += 1;
            return;
        }
        if let Some(srtp) = self.srtp.as_mut() {
            match srtp.unprotect_rtcp(bytes) {
                Ok(plain) => self.handle_plain_rtcp(now, &plain),
                Err(_) => self.stats.ignored += 1,
            }
            return;
        }
        self.handle_plain_rtcp(now, bytes);
    }

    fn handle_plain_rtcp(&mut self, now: Instant, bytes: &[u8]) {
        if is_rtcp(bytes) && self.rtcp.handle(now, self.unix(now), bytes) {
            self.stats.rtcp_received += 1;
            self.events.push_back(MediaEvent::Report);
            // Spend Opus FEC bits in proportion to the loss the peer sees (at least 1% once
            // any is seen, at most 30%).
            let lost = self.rtcp.remote().fraction_lost;
            let percent = if lost > 0.0 {
                (lost * 100.0).ceil().clamp(1.0, 30.0) as u8
            } else {
                0
            };
            if self.agreed.peer_uses_fec && self.params.opus.inband_fec {
                self.encoder
                    .set_expected_loss(percent.max(self.params.opus.expected_loss));
            }
        } else {
            self.stats.ignored += 1;
        }
    }

    /// A datagram arrived on this stream's RTP port. RTCP (multiplexed) is read as such;
    /// anything that is not RTP of an agreed payload type is counted and ignored.
    pub fn handle_packet(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        if let Some(ice) = self.ice.as_mut() {
            // ICE takes the checks and the TURN server's traffic; media (unwrapped when it came
            // through the relay) comes back out with the peer's address.
            ice.handle(now, from, bytes);
            let mut inbound = Vec::new();
            while let Some(datagram) = ice.poll_inbound() {
                inbound.push(datagram);
            }
            self.ice_events();
            for (peer, data) in inbound {
                self.handle_media_packet(now, peer, &data);
            }
            return;
        }
        self.handle_media_packet(now, from, bytes);
    }

    fn handle_media_packet(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        if let Some(srtp) = &self.srtp {
            srtp.prefetch_receive();
        }
        if is_dtls(bytes) {
            match self.dtls.as_mut() {
                Some(dtls) if !self.failed => {
                    let outcome = dtls.handle(now, from, bytes);
                    self.on_dtls(outcome);
                }
                _ => self.stats.ignored += 1,
            }
            return;
        }
        if self.dtls.is_some() && self.srtp.is_none() {
            // Nothing is heard before the handshake has keyed the stream.
            self.stats.ignored += 1;
            return;
        }
        if is_rtcp(bytes) {
            self.handle_rtcp(now, bytes);
            return;
        }
        if let Some(srtp) = self.srtp.as_mut() {
            // Only what authenticates is heard (and latched to): plain or forged RTP is not.
            // Decrypted on the stack: no allocation per packet (a jumbo one takes the heap).
            let mut room = [0u8; 1500];
            let mut heap = Vec::new();
            let out = if bytes.len() <= room.len() {
                &mut room[..]
            } else {
                heap.resize(bytes.len(), 0);
                &mut heap[..]
            };
            match srtp.unprotect_rtp_into(bytes, out) {
                Ok(len) => {
                    let plain = &out[..len];
                    if self.dtls.as_ref().is_some_and(DtlsTransport::done) {
                        // The peer sends with the keys the handshake gave it, so its end of
                        // the handshake is over too: nothing more will be asked of ours.
                        // The association's state (rtc-dtls's connection, certificates,
                        // handshake cache) is let go rather than held for the whole call.
                        self.dtls = None;
                    }
                    self.handle_plain_rtp(now, from, plain);
                }
                Err(_) => self.stats.ignored += 1,
            }
            return;
        }
        self.handle_plain_rtp(now, from, bytes);
    }

    fn handle_plain_rtp(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
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
        } else if let Some(law) = [Codec::Pcmu, Codec::Pcma].into_iter().find(|c| {
            c.static_payload_type() == Some(pt) && self.agreed.codec.sample_rate() == 8000
        }) {
            // The answer may list both G.711 laws; a peer may send either.
            law
        } else {
            self.stats.ignored += 1;
            return;
        };
        if codec != self.decoding
            && let Ok(decoder) = Decoder::new(codec)
        {
            self.decoder = decoder;
            self.decoding = codec;
        }
        self.latch(from);
        self.stats.packets_received += 1;
        let seq = u16::from(packet.sequence_number());
        let rate = u64::from(self.agreed.codec.clock_rate());
        let arrival = (now.saturating_duration_since(self.params.epoch).as_micros() as u64 * rate
            / 1_000_000) as u32;
        self.rtcp
            .received(packet.ssrc(), u64::from(seq), packet.timestamp(), arrival);
        if !self.agreed.direction.receives() {
            return;
        }
        let payload = packet.payload();
        let duration = self
            .decoder
            .duration(payload)
            .unwrap_or(self.frame_samples() as u32);
        self.jitter.push(
            now,
            packet.ssrc(),
            seq,
            packet
                .timestamp()
                .wrapping_mul(self.agreed.codec.samples_per_tick()),
            duration,
            payload.to_vec(),
        );
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
        if !self.latched && self.ice.is_none() {
            self.latched = true;
            if self.agreed.rtcp_mux || self.remote_rtcp.is_none() {
                self.remote_rtcp = Some(from);
            } else if self.remote != Some(from) {
                self.remote_rtcp = Some(SocketAddr::new(from.ip(), from.port().wrapping_add(1)));
            }
            self.remote = Some(from);
        }
    }

    /// One 20 ms tick at `now`: takes the captured frame, fills the frame to play (both
    /// [`MediaSession::frame_samples`] long), and queues what to send.
    pub fn tick(&mut self, now: Instant, capture: &[i16], playback: &mut [i16]) {
        self.receive(now, playback);
        self.send(now, capture);
    }

    /// The receiving half of a tick: fills the frame to play.
    pub fn receive(&mut self, now: Instant, playback: &mut [i16]) {
        self.play(now, playback);
    }

    /// The sending half of a tick: encodes the captured frame (or the next DTMF event) and
    /// queues the RTP packet, and an RTCP report when one is due.
    pub fn send(&mut self, now: Instant, capture: &[i16]) {
        if let Some(srtp) = &self.srtp {
            srtp.prefetch_send();
        }
        self.drive_ice(now);
        self.drive_dtls(now);
        if self.failed || (self.dtls.is_some() && self.srtp.is_none()) || self.ice_blocks() {
            // Not keyed (yet): the stream's clock runs on, nothing is sent.
            self.timestamp = self.timestamp.wrapping_add(self.agreed.codec.frame_ticks());
            return;
        }
        if self.suppressed(capture) {
            self.timestamp = self.timestamp.wrapping_add(self.agreed.codec.frame_ticks());
            self.report(now);
            return;
        }
        let packet = self.next_packet(capture);
        self.timestamp = self.timestamp.wrapping_add(self.agreed.codec.frame_ticks());
        if let (Some(remote), Some(packet), true) =
            (self.remote, packet, self.agreed.direction.sends())
        {
            self.rtcp.sent(packet.len().saturating_sub(12));
            self.sent_since_report = true;
            self.stats.packets_sent += 1;
            self.queue_media(remote, packet, false);
        }
        self.report(now);
    }

    /// Fills `out` from the jitter buffer through the decoder, first shortening or lengthening
    /// the queued audio by a pitch period when the buffer is off its target.
    fn play(&mut self, now: Instant, out: &mut [i16]) {
        let rate = self.agreed.codec.sample_rate();
        let frame = out.len();
        let adjust = self.jitter.adjust(now, self.fifo.len());
        if !self.playing && self.fifo.is_empty() && self.jitter.is_empty() {
            // Nothing has come yet: silence, without going through the buffer.
            out.fill(0);
            self.quiet_run = self.quiet_run.saturating_add(1);
            return;
        }
        if let Adjust::Trim { samples } = adjust {
            self.decode_until(now, frame + timescale::ample(rate), false);
            let quiet = self.quiet_run >= 5 && self.fifo.len() >= frame && is_quiet(&self.fifo);
            if quiet {
                let cut = timescale::cut_quiet(&mut self.fifo, samples.min(rate as usize / 100));
                if cut > 0 {
                    tracing::debug!(samples = cut, "left-over audio trimmed");
                    self.jitter.trimmed(cut);
                }
            }
        }
        if let Adjust::Accelerate { urgent } | Adjust::Decelerate { urgent } = adjust {
            // Work on as much audio as is here already, without making any up.
            self.decode_until(now, frame + timescale::ample(rate), false);
            let accelerate = matches!(adjust, Adjust::Accelerate { .. });
            // Shortening must leave this tick's frame: the longest period is 15 ms.
            let room = !accelerate || self.fifo.len() >= frame + rate as usize * 15 / 1000;
            // A pause between phrases, not a gap between two words: the last 100 ms played
            // were quiet, and so is all that is queued (up to 50 ms more).
            let quiet = self.quiet_run >= 5 && self.fifo.len() >= frame && is_quiet(&self.fifo);
            if room && (urgent || quiet) {
                let changed = if accelerate {
                    timescale::shorten(&mut self.fifo, rate, quiet)
                } else {
                    // Enough for this tick and the next, whatever the packets' phase: a
                    // shorter stretch can leave the next tick still short.
                    let mut added = 0;
                    for _ in 0..4 {
                        let more = timescale::lengthen(&mut self.fifo, rate, quiet);
                        added += more;
                        if more == 0 || self.fifo.len() >= 2 * frame {
                            break;
                        }
                    }
                    added
                };
                if changed > 0 {
                    tracing::debug!(accelerate, urgent, samples = changed, "playout adjusted");
                    self.jitter.adjusted(accelerate, changed);
                }
            }
        }
        self.decode_until(now, frame, true);
        out.copy_from_slice(&self.fifo[..frame]);
        self.fifo.drain(..frame);
        self.quiet_run = if is_quiet(out) {
            self.quiet_run.saturating_add(1)
        } else {
            0
        };
    }

    /// Decodes until `want` samples are queued. When the buffer has nothing to give, and
    /// `fill_gap` says so, the gap is filled: the decoder conceals (Opus makes comfort noise;
    /// G.711 fades out in 60 ms), or silence before the first packet.
    fn decode_until(&mut self, now: Instant, want: usize, fill_gap: bool) {
        while self.fifo.len() < want {
            // Ahead of need, a packet not here yet may still come in time: never conceal it.
            let playout = if fill_gap {
                self.jitter.next(now)
            } else {
                self.jitter.next_present(now)
            };
            match playout {
                Playout::Packet { payload, duration } => {
                    self.playing = true;
                    self.decoder
                        .decode(&payload, duration as usize, &mut self.fifo);
                }
                Playout::Lost { duration, next } => {
                    let recovered = match next {
                        Some(next) => {
                            self.decoder
                                .recover(&next, duration as usize, &mut self.fifo)
                        }
                        None => {
                            self.decoder.conceal(duration as usize, &mut self.fifo);
                            false
                        }
                    };
                    if recovered {
                        self.stats.recovered_fec += 1;
                    }
                }
                Playout::Nothing => {
                    if fill_gap {
                        let missing = want - self.fifo.len();
                        if self.playing {
                            self.jitter.ran_dry();
                            self.decoder.conceal(missing, &mut self.fifo);
                        } else {
                            self.fifo.resize(want, 0);
                        }
                    }
                    return;
                }
            }
        }
    }

    fn report(&mut self, now: Instant) {
        let Some(to) = self.remote_rtcp else {
            return;
        };
        let due = *self.next_rtcp.get_or_insert(now + Duration::from_secs(1));
        if now < due {
            return;
        }
        self.next_rtcp = Some(now + RTCP_INTERVAL);
        let unix = self.unix(now);
        let sending = std::mem::take(&mut self.sent_since_report);
        let bytes = self.rtcp.report(now, unix, self.timestamp, sending);
        self.queue_media(to, bytes, !self.agreed.rtcp_mux);
    }

    /// Queues an RTP or RTCP packet of ours, SRTP-protected there and then when the stream
    /// is keyed (its state still in the cache from [`MediaSession::send`]'s prefetch);
    /// nothing is queued in the clear that should have been encrypted.
    fn queue_media(&mut self, to: SocketAddr, mut bytes: Vec<u8>, rtcp_port: bool) {
        if self.dtls.is_some() && self.srtp.is_none() {
            return;
        }
        if let Some(srtp) = self.srtp.as_mut() {
            let protected = if is_rtcp(&bytes) {
                srtp.protect_rtcp_in_place(&mut bytes)
            } else {
                srtp.protect_rtp_in_place(&mut bytes)
            };
            if protected.is_err() {
                return;
            }
        }
        self.transmits.push_back(MediaTransmit {
            to,
            bytes,
            rtcp_port,
        });
    }

    /// RTCP BYE to send when the call ends.
    pub fn bye(&mut self) {
        if let Some(to) = self.remote_rtcp {
            let bye = self.rtcp.bye();
            self.queue_media(to, bye, !self.agreed.rtcp_mux);
        }
    }

    /// Whether this frame is silence that goes unsent (`silence_suppression`): after the
    /// hangover, but for the stream's first packet, a keep-alive a second and any digit.
    fn suppressed(&mut self, capture: &[i16]) -> bool {
        if !self.params.silence_suppression
            || self.agreed.codec == Codec::Opus
            || self.in_flight.is_some()
            || !self.digits.is_empty()
        {
            return false;
        }
        let silent = self.muted || is_silent(capture);
        self.silent_run = if silent {
            self.silent_run.saturating_add(1)
        } else {
            0
        };
        let keepalive = self.stats.packets_sent == 0 || self.unsent + 1 >= KEEPALIVE_FRAMES;
        if self.silent_run <= HANGOVER_FRAMES || keepalive {
            self.unsent = 0;
            return false;
        }
        self.unsent += 1;
        // RFC 3551 §4.1: the first packet after a silence carries the marker.
        self.marker = true;
        true
    }

    fn next_packet(&mut self, capture: &[i16]) -> Option<Vec<u8>> {
        if let Some(packet) = self.next_event_packet() {
            return Some(packet);
        }
        let marker = std::mem::take(&mut self.marker);
        // The payload is encoded straight after the header, in the packet's own buffer.
        let mut packet = self.header(
            self.agreed.payload_type,
            marker,
            self.timestamp,
            capture.len(),
        );
        if self.muted {
            self.scratch.clear();
            self.scratch.resize(capture.len(), 0);
            self.encoder.encode(&self.scratch, &mut packet);
        } else {
            self.encoder.encode(capture, &mut packet);
        }
        Some(packet)
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
        let step = (self.agreed.dtmf_rate / 50) as u16;
        let flight = self.in_flight.as_mut()?;
        flight.ticks = flight.ticks.saturating_add(1).min(DIGIT_TICKS);
        let ended = flight.ticks >= DIGIT_TICKS;
        let duration = flight.ticks * step;
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
        let mut packet = self.header(pt, marker, timestamp, payload.len());
        packet.extend_from_slice(&payload);
        Some(packet)
    }

    /// The next packet's header, in a buffer with room after it for `payload` bytes and the
    /// SRTP tag (so neither appending the payload nor protecting it in place moves it).
    fn header(&mut self, pt: u8, marker: bool, timestamp: u32, payload: usize) -> Vec<u8> {
        // RFC 3550 §5.1, version 2, no padding, extension or CSRCs: twelve bytes, written
        // here rather than through a builder (its checks and length sums were 2 % of an
        // auto-answering lab's CPU); the receive side still reads with `RtpReader`.
        let mut packet = Vec::with_capacity(RTP_HEADER + payload + 16);
        packet.push(0x80);
        packet.push(u8::from(marker) << 7 | (pt & 0x7f));
        packet.extend_from_slice(&self.seq.to_be_bytes());
        packet.extend_from_slice(&timestamp.to_be_bytes());
        packet.extend_from_slice(&self.params.ssrc.to_be_bytes());
        self.seq = self.seq.wrapping_add(1);
        packet
    }
}

/// An RTP header with no CSRCs or extension (RFC 3550 §5.1).
const RTP_HEADER: usize = 12;

/// Whether a stretch of audio is quiet enough (below about -50 dBFS on average) that
/// shortening or lengthening it cannot be heard.
/// Silence as suppression takes it: a mean magnitude below `SILENT_MEAN`.
fn is_silent(samples: &[i16]) -> bool {
    let sum: u64 = samples.iter().map(|s| u64::from(s.unsigned_abs())).sum();
    sum < SILENT_MEAN * samples.len() as u64
}

fn is_quiet(samples: &[i16]) -> bool {
    let sum: u64 = samples.iter().map(|s| u64::from(s.unsigned_abs())).sum();
    sum < 100 * samples.len() as u64
}

/// SRTP for the agreed keys, if any.
fn keyed(agreed: &Negotiated) -> Result<Option<Srtp>, CodecError> {
    agreed
        .srtp
        .as_ref()
        .map(|keys| Srtp::new(&keys.local, &keys.remote))
        .transpose()
        .map_err(|e| CodecError::Srtp(e.to_string()))
}

/// The DTLS association for an exchange that agreed DTLS-SRTP.
fn dtls_for(
    agreed: &Negotiated,
    params: &SessionParams,
) -> Result<Option<DtlsTransport>, CodecError> {
    let Some(dtls) = agreed.dtls.as_ref() else {
        return Ok(None);
    };
    let identity = params
        .dtls_identity
        .as_ref()
        .ok_or_else(|| CodecError::Srtp("DTLS-SRTP agreed without a certificate".to_owned()))?;
    let suites = if params.srtp_suites.is_empty() {
        &Suite::ALL[..]
    } else {
        &params.srtp_suites
    };
    DtlsTransport::new(identity, dtls, suites)
        .map(Some)
        .map_err(|e| CodecError::Srtp(e.to_string()))
}

/// The encoder settings for this peer: its `maxaveragebitrate` caps ours; FEC only when it
/// said it decodes it.
fn opus_settings(ours: &OpusSettings, agreed: &Negotiated) -> OpusSettings {
    OpusSettings {
        bitrate: agreed
            .max_bitrate
            .map_or(ours.bitrate, |max| ours.bitrate.min(max)),
        inband_fec: ours.inband_fec && agreed.peer_uses_fec,
        ..*ours
    }
}

#[cfg(test)]
mod tests;
