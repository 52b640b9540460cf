//! The audio codecs a session can carry.

use std::fmt;

use crate::g711;

/// A negotiated audio codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, static payload type 0 (RFC 3551).
    Pcmu,
    /// G.711 A-law, static payload type 8 (RFC 3551).
    Pcma,
}

impl Codec {
    /// The `rtpmap` encoding name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
        }
    }

    /// The static payload type.
    #[must_use]
    pub fn static_payload_type(self) -> u8 {
        match self {
            Self::Pcmu => 0,
            Self::Pcma => 8,
        }
    }

    /// Reads an encoding name from an `rtpmap` (case-insensitive).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "PCMU" => Some(Self::Pcmu),
            "PCMA" => Some(Self::Pcma),
            _ => None,
        }
    }

    /// Encodes a frame of linear samples, appending to `out`.
    pub fn encode(self, samples: &[i16], out: &mut Vec<u8>) {
        match self {
            Self::Pcmu => out.extend(samples.iter().map(|&s| g711::ulaw_encode(s))),
            Self::Pcma => out.extend(samples.iter().map(|&s| g711::alaw_encode(s))),
        }
    }

    /// Decodes a payload into linear samples, appending to `out`.
    pub fn decode(self, payload: &[u8], out: &mut Vec<i16>) {
        match self {
            Self::Pcmu => out.extend(payload.iter().map(|&b| g711::ulaw_decode(b))),
            Self::Pcma => out.extend(payload.iter().map(|&b| g711::alaw_decode(b))),
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
