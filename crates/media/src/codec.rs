//! The audio codecs a session can carry, and their encoders and decoders: G.711 (µ-law, A-law)
//! at 8 kHz with our own concealment, G.722 (sub-band ADPCM, 16 kHz audio on an 8 kHz RTP clock:
//! RFC 3551 §4.5.2) with the same concealment, Opus (RFC 6716, through libopus) at 48 kHz with
//! its packet-loss concealment and in-band FEC (RFC 7587).

use std::fmt;

use audio_codec::g722::{G722Decoder, G722Encoder};
use audiopus::coder::{Decoder as OpusDecoder, Encoder as OpusEncoder};
use audiopus::{Application, Bitrate, Channels, SampleRate};
use thiserror::Error;

use crate::g711;
use crate::plc::G711Plc;

/// A negotiated audio codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, static payload type 0 (RFC 3551).
    Pcmu,
    /// G.711 A-law, static payload type 8 (RFC 3551).
    Pcma,
    /// G.722 at 64 kb/s, static payload type 9: 16 kHz audio, `G722/8000` on the wire.
    G722,
    /// Opus (RFC 7587): `opus/48000/2` with a dynamic payload type.
    Opus,
}

impl Codec {
    /// Every codec recall speaks.
    pub const ALL: [Self; 4] = [Self::Opus, Self::G722, Self::Pcmu, Self::Pcma];

    /// The `rtpmap` encoding name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
            Self::G722 => "G722",
            Self::Opus => "opus",
        }
    }

    /// The RTP clock rate: what timestamps count.
    #[must_use]
    pub fn clock_rate(self) -> u32 {
        match self {
            Self::Pcmu | Self::Pcma | Self::G722 => 8000,
            Self::Opus => 48_000,
        }
    }

    /// The rate the audio is sampled at: the clock rate, but for G.722, whose 16 kHz audio
    /// keeps the 8 kHz clock of the first RTP profile (RFC 3551 §4.5.2).
    #[must_use]
    pub fn sample_rate(self) -> u32 {
        match self {
            Self::G722 => 16_000,
            other => other.clock_rate(),
        }
    }

    /// Audio samples in one 20 ms frame.
    #[must_use]
    pub fn frame_samples(self) -> usize {
        self.sample_rate() as usize / 50
    }

    /// RTP timestamp ticks in one 20 ms frame.
    #[must_use]
    pub fn frame_ticks(self) -> u32 {
        self.clock_rate() / 50
    }

    /// Audio samples per RTP timestamp tick (2 for G.722, else 1).
    #[must_use]
    pub fn samples_per_tick(self) -> u32 {
        self.sample_rate() / self.clock_rate()
    }

    /// The `rtpmap` value: `PCMU/8000`, `opus/48000/2` (RFC 7587 §7: always two channels).
    #[must_use]
    pub fn rtpmap(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU/8000",
            Self::Pcma => "PCMA/8000",
            Self::G722 => "G722/8000",
            Self::Opus => "opus/48000/2",
        }
    }

    /// The payload type we offer it with: static for G.711, 111 for Opus.
    #[must_use]
    pub fn default_payload_type(self) -> u8 {
        match self {
            Self::Pcmu => 0,
            Self::Pcma => 8,
            Self::G722 => 9,
            Self::Opus => 111,
        }
    }

    /// The static payload type, for codecs that have one.
    #[must_use]
    pub fn static_payload_type(self) -> Option<u8> {
        match self {
            Self::Pcmu => Some(0),
            Self::Pcma => Some(8),
            Self::G722 => Some(9),
            Self::Opus => None,
        }
    }

    /// Reads an encoding name from an `rtpmap` (case-insensitive).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "pcmu" => Some(Self::Pcmu),
            "pcma" => Some(Self::Pcma),
            "g722" => Some(Self::G722),
            "opus" => Some(Self::Opus),
            _ => None,
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How our Opus encoder runs (RFC 7587 §3.1.1 and the peer's `fmtp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusSettings {
    /// Target bitrate in bits per second.
    pub bitrate: u32,
    /// In-band forward error correction (the peer decodes a lost frame from the next packet).
    pub inband_fec: bool,
    /// Discontinuous transmission: next to nothing is sent during silence.
    pub dtx: bool,
    /// The loss the encoder expects at first, in percent; FEC is only spent when this is above
    /// zero. The session moves it to the loss the peer's RTCP reports.
    pub expected_loss: u8,
    /// libopus complexity, 0–10.
    pub complexity: u8,
}

impl Default for OpusSettings {
    fn default() -> Self {
        Self {
            bitrate: 24_000,
            inband_fec: true,
            dtx: false,
            expected_loss: 0,
            complexity: 10,
        }
    }
}

/// A codec could not be set up.
#[derive(Debug, Error)]
pub enum CodecError {
    /// libopus refused the settings.
    #[error("opus: {0}")]
    Opus(#[from] audiopus::Error),
    /// The agreed SRTP keys could not be used.
    #[error("srtp: {0}")]
    Srtp(String),
}

/// Turns 20 ms frames of samples into payloads.
pub enum Encoder {
    /// G.711, µ-law or A-law.
    G711(Codec),
    /// G.722 at 64 kb/s, 16 kHz.
    G722(Box<G722Encoder>),
    /// Opus, mono, 48 kHz.
    Opus(Box<OpusEncoder>),
}

impl fmt::Debug for Encoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::G711(codec) => write!(f, "Encoder({codec})"),
            Self::G722(_) => f.write_str("Encoder(G722)"),
            Self::Opus(_) => f.write_str("Encoder(opus)"),
        }
    }
}

impl Encoder {
    /// An encoder for `codec`.
    pub fn new(codec: Codec, opus: OpusSettings) -> Result<Self, CodecError> {
        Ok(match codec {
            Codec::Pcmu | Codec::Pcma => Self::G711(codec),
            Codec::G722 => Self::G722(Box::default()),
            Codec::Opus => {
                let mut encoder =
                    OpusEncoder::new(SampleRate::Hz48000, Channels::Mono, Application::Voip)?;
                encoder.set_bitrate(Bitrate::BitsPerSecond(
                    opus.bitrate.clamp(6000, 510_000) as i32
                ))?;
                encoder.set_inband_fec(opus.inband_fec)?;
                encoder.set_packet_loss_perc(opus.expected_loss.min(100))?;
                encoder.set_dtx(opus.dtx)?;
                encoder.set_complexity(opus.complexity.min(10))?;
                encoder.set_signal(audiopus::Signal::Voice)?;
                // Below 32 kb/s every bit is better spent on 0-8 kHz than spread over 20 kHz.
                if opus.bitrate < 32_000 {
                    encoder.set_max_bandwidth(audiopus::Bandwidth::Wideband)?;
                }
                Self::Opus(Box::new(encoder))
            }
        })
    }

    /// Tells the encoder how much loss to expect, in percent (Opus spends bits on FEC only
    /// then; G.711 has nothing to adjust).
    pub fn set_expected_loss(&mut self, percent: u8) {
        if let Self::Opus(encoder) = self {
            let _ = encoder.set_packet_loss_perc(percent.min(100));
        }
    }

    /// Encodes one frame, appending the payload to `out`. A frame Opus cannot encode (never
    /// expected: the length is ours) becomes an empty payload, which a decoder conceals.
    pub fn encode(&mut self, samples: &[i16], out: &mut Vec<u8>) {
        match self {
            Self::G711(codec) => {
                let start = out.len();
                out.resize(start + samples.len(), 0);
                let payload = out[start..].iter_mut().zip(samples);
                if *codec == Codec::Pcma {
                    payload.for_each(|(byte, &s)| *byte = g711::alaw_encode(s));
                } else {
                    payload.for_each(|(byte, &s)| *byte = g711::ulaw_encode(s));
                }
            }
            Self::G722(encoder) => {
                // One byte per two samples (a low-band and a high-band code).
                let start = out.len();
                out.resize(start + samples.len() / 2 + 1, 0);
                match audio_codec::Encoder::encode_into(
                    encoder.as_mut(),
                    samples,
                    &mut out[start..],
                ) {
                    Ok(n) => out.truncate(start + n),
                    Err(_) => out.truncate(start),
                }
            }
            Self::Opus(encoder) => {
                let start = out.len();
                out.resize(start + 1500, 0);
                match encoder.encode(samples, &mut out[start..]) {
                    Ok(n) => out.truncate(start + n),
                    Err(_) => out.truncate(start),
                }
            }
        }
    }
}

/// Turns payloads back into samples, and makes up what was lost.
pub enum Decoder {
    /// G.711 with our waveform-repeating concealment.
    G711(Codec, Box<G711Plc>),
    /// G.722 with the same waveform-repeating concealment, at 16 kHz.
    G722(Box<G722Decoder>, Box<G711Plc>),
    /// Opus, mono, 48 kHz: libopus conceals and decodes FEC.
    Opus(Box<OpusDecoder>),
}

impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::G711(codec, _) => write!(f, "Decoder({codec})"),
            Self::G722(..) => f.write_str("Decoder(G722)"),
            Self::Opus(_) => f.write_str("Decoder(opus)"),
        }
    }
}

/// The longest packet Opus may carry: 120 ms at 48 kHz.
const OPUS_MAX_SAMPLES: usize = 5760;

impl Decoder {
    /// A decoder for `codec`.
    pub fn new(codec: Codec) -> Result<Self, CodecError> {
        Ok(match codec {
            Codec::Pcmu | Codec::Pcma => Self::G711(codec, Box::new(G711Plc::new(8000))),
            Codec::G722 => Self::G722(Box::default(), Box::new(G711Plc::new(16_000))),
            Codec::Opus => Self::Opus(Box::new(OpusDecoder::new(
                SampleRate::Hz48000,
                Channels::Mono,
            )?)),
        })
    }

    /// The audio samples a payload holds, without decoding it (`None` if it cannot be read).
    #[must_use]
    pub fn duration(&self, payload: &[u8]) -> Option<u32> {
        match self {
            Self::G711(..) => u32::try_from(payload.len()).ok().filter(|n| *n > 0),
            Self::G722(..) => u32::try_from(payload.len() * 2).ok().filter(|n| *n > 0),
            Self::Opus(decoder) => {
                let packet = audiopus::packet::Packet::try_from(payload).ok()?;
                decoder
                    .nb_samples(packet)
                    .ok()
                    .and_then(|n| u32::try_from(n).ok())
            }
        }
    }

    /// Decodes a payload, appending its samples to `out`; a payload that does not decode is
    /// concealed as `expected` samples instead. Returns whether it decoded.
    pub fn decode(&mut self, payload: &[u8], expected: usize, out: &mut Vec<i16>) -> bool {
        match self {
            Self::G711(codec, plc) => {
                let start = out.len();
                match codec {
                    Codec::Pcma => out.extend(payload.iter().map(|&b| g711::alaw_decode(b))),
                    _ => out.extend(payload.iter().map(|&b| g711::ulaw_decode(b))),
                }
                plc.received(&mut out[start..]);
                true
            }
            Self::G722(decoder, plc) => {
                let start = out.len();
                out.resize(start + payload.len() * 2, 0);
                match decoder.decode_frame_into(payload, &mut out[start..]) {
                    Ok(n) if n > 0 => {
                        out.truncate(start + n);
                        plc.received(&mut out[start..]);
                        true
                    }
                    _ => {
                        out.truncate(start);
                        plc.conceal(expected, out);
                        false
                    }
                }
            }
            Self::Opus(decoder) => {
                let start = out.len();
                out.resize(start + OPUS_MAX_SAMPLES, 0);
                let decoded = audiopus::packet::Packet::try_from(payload)
                    .ok()
                    .and_then(|packet| {
                        let signals = audiopus::MutSignals::try_from(&mut out[start..]).ok()?;
                        decoder.decode(Some(packet), signals, false).ok()
                    });
                match decoded {
                    Some(n) => {
                        out.truncate(start + n);
                        true
                    }
                    None => {
                        out.truncate(start);
                        self.conceal(expected, out);
                        false
                    }
                }
            }
        }
    }

    /// Makes up `samples` samples for a lost packet, appending them to `out`.
    pub fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) {
        match self {
            Self::G711(_, plc) | Self::G722(_, plc) => plc.conceal(samples, out),
            Self::Opus(decoder) => opus_missing(decoder, None, samples, out),
        }
    }

    /// Recovers a lost packet of `samples` samples from the in-band FEC of the packet after it
    /// (`next`), appending to `out`. Codecs without FEC conceal. Returns whether FEC was used.
    pub fn recover(&mut self, next: &[u8], samples: usize, out: &mut Vec<i16>) -> bool {
        match self {
            Self::G711(..) | Self::G722(..) => {
                self.conceal(samples, out);
                false
            }
            Self::Opus(decoder) => {
                let has_fec = audiopus::packet::Packet::try_from(next)
                    .ok()
                    .is_some_and(|p| opus_has_fec(next) && decoder.nb_samples(p).is_ok());
                if has_fec {
                    opus_missing(decoder, Some(next), samples, out);
                } else {
                    opus_missing(decoder, None, samples, out);
                }
                has_fec
            }
        }
    }
}

/// libopus needs PLC and FEC in multiples of 2.5 ms; a stranger length is made up as silence.
fn opus_missing(
    decoder: &mut OpusDecoder,
    fec_from: Option<&[u8]>,
    samples: usize,
    out: &mut Vec<i16>,
) {
    let start = out.len();
    out.resize(start + samples, 0);
    if samples == 0 || !samples.is_multiple_of(120) || samples > OPUS_MAX_SAMPLES {
        return;
    }
    let packet = fec_from.and_then(|p| audiopus::packet::Packet::try_from(p).ok());
    let fec = packet.is_some();
    let result = audiopus::MutSignals::try_from(&mut out[start..])
        .ok()
        .map(|signals| decoder.decode(packet, signals, fec));
    if !matches!(result, Some(Ok(n)) if n == samples) {
        out[start..].fill(0);
    }
}

/// Whether an Opus packet can carry in-band FEC for the frame before it: SILK-only or hybrid
/// mode (RFC 6716 §3.1, TOC configurations 0–15); CELT-only packets have none. libopus decodes
/// the FEC when it is there and conceals when it is not, so this only decides how a recovered
/// frame is counted.
fn opus_has_fec(packet: &[u8]) -> bool {
    packet.first().is_some_and(|toc| toc >> 3 < 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, hz: f32, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                ((i as f32 * hz * 2.0 * std::f32::consts::PI / rate as f32).sin() * 8000.0) as i16
            })
            .collect()
    }

    fn energy(samples: &[i16]) -> f64 {
        samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len().max(1) as f64
    }

    #[test]
    fn names_rates_and_payload_types() {
        for (codec, rate, frame, map) in [
            (Codec::Pcmu, 8000, 160, "PCMU/8000"),
            (Codec::Pcma, 8000, 160, "PCMA/8000"),
            (Codec::G722, 8000, 320, "G722/8000"),
            (Codec::Opus, 48_000, 960, "opus/48000/2"),
        ] {
            assert_eq!(
                (codec.clock_rate(), codec.frame_samples(), codec.rtpmap()),
                (rate, frame, map)
            );
            assert_eq!(Codec::from_name(&codec.name().to_uppercase()), Some(codec));
        }
        assert_eq!(Codec::from_name("G729"), None);
    }

    #[test]
    fn g711_round_trips_a_tone() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let mut encoder = Encoder::new(codec, OpusSettings::default()).expect("encoder");
            let mut decoder = Decoder::new(codec).expect("decoder");
            let input = tone(8000, 440.0, 160);
            let mut payload = Vec::new();
            encoder.encode(&input, &mut payload);
            assert_eq!(payload.len(), 160);
            assert_eq!(decoder.duration(&payload), Some(160));
            let mut out = Vec::new();
            assert!(decoder.decode(&payload, 160, &mut out));
            let error: f64 = input
                .iter()
                .zip(&out)
                .map(|(a, b)| f64::from(a - b).powi(2))
                .sum::<f64>()
                / 160.0;
            assert!(error < energy(&input) / 100.0, "{codec}: SNR above 20 dB");
        }
    }

    #[test]
    fn g722_round_trips_wideband_audio_and_conceals_a_lost_frame() {
        let mut encoder = Encoder::new(Codec::G722, OpusSettings::default()).expect("encoder");
        let mut decoder = Decoder::new(Codec::G722).expect("decoder");
        // 440 Hz and 5 kHz together: the second is only there in wide-band audio.
        let input: Vec<i16> = tone(16_000, 440.0, 320 * 20)
            .iter()
            .zip(tone(16_000, 5000.0, 320 * 20))
            .map(|(a, b)| a / 2 + b / 2)
            .collect();
        let mut out = Vec::new();
        for (i, frame) in input.chunks(320).enumerate() {
            let mut payload = Vec::new();
            encoder.encode(frame, &mut payload);
            assert_eq!(payload.len(), 160);
            assert_eq!(decoder.duration(&payload), Some(320));
            if i == 15 {
                decoder.conceal(320, &mut out);
            } else {
                assert!(decoder.decode(&payload, 320, &mut out));
            }
        }
        assert_eq!(out.len(), input.len());
        // The codec delays the audio by its QMF filters (22 samples); line the two up.
        let delay = (0..64)
            .min_by_key(|&d| {
                input[3200..6000]
                    .iter()
                    .zip(&out[3200 + d..6000 + d])
                    .map(|(a, b)| (i64::from(*a) - i64::from(*b)).pow(2))
                    .sum::<i64>()
            })
            .expect("a delay");
        let span = 320 * 5..320 * 14;
        let error: f64 = input[span.clone()]
            .iter()
            .zip(&out[span.start + delay..span.end + delay])
            .map(|(a, b)| f64::from(a - b).powi(2))
            .sum::<f64>()
            / span.len() as f64;
        assert!(
            error < energy(&input) / 100.0,
            "SNR above 20 dB (delay {delay})"
        );
        let concealed = energy(&out[320 * 15..320 * 16]);
        assert!(
            concealed > energy(&input) / 10.0,
            "the lost frame is made up, not silent"
        );
        assert!(
            !decoder.decode(&[], 320, &mut out),
            "an empty payload is concealed"
        );
        assert_eq!(out.len(), input.len() + 320);
    }

    #[test]
    fn opus_round_trips_a_tone_and_conceals_and_recovers_a_lost_frame() {
        let mut encoder = Encoder::new(Codec::Opus, OpusSettings::default()).expect("encoder");
        let mut decoder = Decoder::new(Codec::Opus).expect("decoder");
        let input = tone(48_000, 440.0, 960 * 30);
        let packets: Vec<Vec<u8>> = input
            .chunks(960)
            .map(|frame| {
                let mut payload = Vec::new();
                encoder.encode(frame, &mut payload);
                payload
            })
            .collect();
        assert!(
            packets.iter().all(|p| !p.is_empty() && p.len() < 200),
            "24 kb/s is about 60 bytes"
        );
        assert_eq!(decoder.duration(&packets[0]), Some(960));
        let mut out = Vec::new();
        for (i, packet) in packets.iter().enumerate() {
            match i {
                // Frame 20 is lost: recovered from packet 21's FEC.
                20 => {
                    decoder.recover(&packets[21], 960, &mut out);
                }
                // Frame 25 is lost with nothing after it yet: concealed.
                25 => decoder.conceal(960, &mut out),
                _ => {
                    assert!(decoder.decode(packet, 960, &mut out));
                }
            }
        }
        assert_eq!(out.len(), input.len());
        // After the codec's warm-up, the tone comes through, lost frames included.
        for frame in [10, 20, 25, 28] {
            let got = energy(&out[frame * 960..(frame + 1) * 960]);
            assert!(got > energy(&input) / 4.0, "frame {frame}: energy {got}");
        }
    }

    #[test]
    fn garbage_payloads_are_concealed_not_fatal() {
        let mut decoder = Decoder::new(Codec::Opus).expect("decoder");
        let mut out = Vec::new();
        assert!(!decoder.decode(&[0xff, 0xff, 0xff], 960, &mut out));
        assert_eq!(out.len(), 960);
        assert!(!decoder.decode(&[], 960, &mut out));
        assert_eq!(out.len(), 1920);
        let mut odd = Vec::new();
        decoder.conceal(100, &mut odd);
        assert_eq!(odd.len(), 100, "a length libopus cannot conceal is silence");
    }
}
