//! Where messages go: transports and destinations.

use std::fmt;
use std::net::SocketAddr;

use bytes::Bytes;

/// A SIP transport (RFC 3261 §18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// Datagrams: the transaction layer retransmits.
    Udp,
    /// A byte stream: the transport is reliable and messages are framed by Content-Length.
    Tcp,
    /// A byte stream inside TLS (RFC 3261 §26.2; `sips:` and `;transport=tls`).
    Tls,
}

impl Transport {
    /// The token used in `Via` and in the `transport` URI parameter.
    #[must_use]
    pub fn as_via_token(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
        }
    }

    /// The port used when a URI names none (RFC 3261 §19.1.2): 5061 for TLS, else 5060.
    #[must_use]
    pub fn default_port(self) -> u16 {
        match self {
            Self::Tls => 5061,
            Self::Udp | Self::Tcp => 5060,
        }
    }

    /// Whether messages travel on a connection (TCP or TLS) rather than as datagrams.
    #[must_use]
    pub fn is_stream(self) -> bool {
        !matches!(self, Self::Udp)
    }

    /// Whether sipx's transaction machines should treat this transport as reliable.
    pub(crate) fn reliability(self) -> sipx_sip::Reliability {
        match self {
            Self::Udp => sipx_sip::Reliability::Unreliable,
            Self::Tcp | Self::Tls => sipx_sip::Reliability::Reliable,
        }
    }

    /// Reads a `transport=` URI parameter value; UDP when absent or unknown.
    pub(crate) fn from_param(value: Option<&[u8]>) -> Self {
        match value {
            Some(v) if v.eq_ignore_ascii_case(b"tcp") => Self::Tcp,
            Some(v) if v.eq_ignore_ascii_case(b"tls") => Self::Tls,
            _ => Self::Udp,
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
        })
    }
}

/// A next hop: transport plus socket address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dest {
    /// How to reach it.
    pub transport: Transport,
    /// Where it is.
    pub addr: SocketAddr,
}

impl fmt::Display for Dest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.transport, self.addr)
    }
}

/// What is wrong with a `transport:IP:PORT` text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestError {
    /// Not `transport:IP:PORT`.
    #[error("{0:?} is not transport:IP:PORT (e.g. udp:127.0.0.1:5060)")]
    Malformed(String),
}

impl std::str::FromStr for Dest {
    type Err = DestError;

    /// Reads `udp:IP:PORT`, `tcp:IP:PORT` or `tls:IP:PORT` (`udp:` may be left out; IPv6 in
    /// brackets).
    fn from_str(text: &str) -> Result<Self, DestError> {
        let (transport, addr) = match text.split_once(':') {
            Some(("udp", rest)) => (Transport::Udp, rest),
            Some(("tcp", rest)) => (Transport::Tcp, rest),
            Some(("tls", rest)) => (Transport::Tls, rest),
            _ => (Transport::Udp, text),
        };
        let addr = addr
            .parse::<SocketAddr>()
            .map_err(|_| DestError::Malformed(text.to_owned()))?;
        Ok(Self { transport, addr })
    }
}

/// Bytes the driver must put on the wire.
#[derive(Debug, Clone)]
pub struct Transmit {
    /// Where to send them.
    pub dest: Dest,
    /// One whole SIP message.
    pub bytes: Bytes,
}

/// The parser's bounds on a datagram: sipx-sip's defaults, but one header field may fill the
/// whole message. Contact centres attach long values (case notes, IVR transcripts); a field
/// over 8 kB must reach the attached-data reader, which keeps it raw and flags it, rather
/// than drop the call unanswered.
pub(crate) fn datagram_limits() -> sipx_sip::Limits {
    let limits = sipx_sip::Limits::datagram();
    sipx_sip::Limits {
        max_header_bytes: limits.max_message_bytes,
        ..limits
    }
}

/// The same for a stream: one header field up to 64 kB.
pub(crate) fn stream_limits() -> sipx_sip::Limits {
    sipx_sip::Limits {
        max_header_bytes: 64 * 1024,
        ..sipx_sip::Limits::stream()
    }
}
