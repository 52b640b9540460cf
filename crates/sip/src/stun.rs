//! STUN (RFC 8489) on the SIP UDP socket, sans-IO: a Binding request to the STUN server every
//! interval, which both learns the public address a NAT gives the socket (it goes into Via and
//! Contact) and keeps that mapping alive (RFC 5626 §4.4.2). Messages are encoded and decoded
//! with stun-rs; what to send when and what a changed mapping means are ours.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use stun_rs::attributes::stun::XorMappedAddress;
use stun_rs::methods::BINDING;
use stun_rs::{
    MessageClass, MessageDecoderBuilder, MessageEncoderBuilder, StunMessageBuilder, TransactionId,
};

/// The magic cookie every RFC 5389/8489 message carries at bytes 4..8.
const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];

/// Whether a datagram is a STUN message (RFC 7983 demultiplexing: first two bits 0, and the
/// magic cookie), not SIP.
#[must_use]
pub fn is_stun(bytes: &[u8]) -> bool {
    bytes.len() >= 20 && bytes[0] & 0xC0 == 0 && bytes[4..8] == MAGIC_COOKIE
}

/// Asks one STUN server, now and then, what address it sees.
#[derive(Debug)]
pub struct StunClient {
    server: SocketAddr,
    interval: Duration,
    next: Instant,
    pending: Option<[u8; 12]>,
    mapped: Option<SocketAddr>,
    rng: fastrand::Rng,
    sent: u64,
    answered: u64,
}

impl StunClient {
    /// A client of `server` asking every `interval`, the first time at `now`.
    #[must_use]
    pub fn new(server: SocketAddr, interval: Duration, seed: u64, now: Instant) -> Self {
        Self {
            server,
            interval,
            next: now,
            pending: None,
            mapped: None,
            rng: fastrand::Rng::with_seed(seed),
            sent: 0,
            answered: 0,
        }
    }

    /// Binding requests sent and answered so far.
    #[must_use]
    pub fn counts(&self) -> (u64, u64) {
        (self.sent, self.answered)
    }

    /// The STUN server.
    #[must_use]
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// When it next wants to send.
    #[must_use]
    pub fn deadline(&self) -> Instant {
        self.next
    }

    /// The public address last learned.
    #[must_use]
    pub fn mapped(&self) -> Option<SocketAddr> {
        self.mapped
    }

    /// A Binding request to send to [`StunClient::server`] when one is due. An unanswered
    /// request is simply replaced by the next one.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Bytes> {
        if now < self.next {
            return None;
        }
        self.next = now + self.interval;
        let mut id = [0u8; 12];
        for byte in &mut id {
            *byte = self.rng.u8(..);
        }
        self.pending = Some(id);
        let message = StunMessageBuilder::new(BINDING, MessageClass::Request)
            .with_transaction_id(TransactionId::from(id))
            .build();
        let mut buffer = [0u8; 64];
        let size = MessageEncoderBuilder::default()
            .build()
            .encode(&mut buffer, &message)
            .ok()?;
        self.sent += 1;
        Some(Bytes::copy_from_slice(&buffer[..size]))
    }

    /// Takes a datagram that [`is_stun`]: the new public address when this answer to our
    /// request says it changed (or is the first); `None` otherwise (another transaction, a
    /// malformed message, the same address).
    pub fn handle(&mut self, bytes: &[u8]) -> Option<SocketAddr> {
        let (message, _) = MessageDecoderBuilder::default()
            .build()
            .decode(bytes)
            .ok()?;
        if message.method() != BINDING || message.class() != MessageClass::SuccessResponse {
            return None;
        }
        if Some(*message.transaction_id().as_bytes()) != self.pending {
            return None;
        }
        self.pending = None;
        self.answered += 1;
        let mapped = *message
            .get::<XorMappedAddress>()?
            .as_xor_mapped_address()
            .ok()?
            .socket_address();
        if self.mapped == Some(mapped) {
            return None;
        }
        self.mapped = Some(mapped);
        Some(mapped)
    }
}

/// A Binding success response for `request` saying `mapped` (what a STUN server sends; for
/// tests that stand in for a server behind a NAT).
#[must_use]
pub fn binding_response(request: &[u8], mapped: SocketAddr) -> Option<Bytes> {
    let (message, _) = MessageDecoderBuilder::default()
        .build()
        .decode(request)
        .ok()?;
    if message.method() != BINDING || message.class() != MessageClass::Request {
        return None;
    }
    let response = StunMessageBuilder::new(BINDING, MessageClass::SuccessResponse)
        .with_transaction_id(*message.transaction_id())
        .with_attribute(XorMappedAddress::from(mapped))
        .build();
    let mut buffer = [0u8; 128];
    let size = MessageEncoderBuilder::default()
        .build()
        .encode(&mut buffer, &response)
        .ok()?;
    Some(Bytes::copy_from_slice(&buffer[..size]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::disallowed_methods)] // the test's epoch; the client never reads a clock
    fn a_binding_request_is_answered_with_the_mapped_address_and_a_change_is_reported_once() {
        let now = Instant::now();
        let mut client = StunClient::new(
            "127.0.0.1:3478".parse().expect("addr"),
            Duration::from_secs(30),
            1,
            now,
        );
        let request = client.poll_transmit(now).expect("due at once");
        assert!(is_stun(&request));
        assert!(!is_stun(b"OPTIONS sip:a@b SIP/2.0\r\n\r\n"));
        assert!(
            client
                .poll_transmit(now + Duration::from_secs(29))
                .is_none()
        );
        let nat: SocketAddr = "203.0.113.7:40000".parse().expect("addr");
        let answer = binding_response(&request, nat).expect("response");
        assert_eq!(client.handle(&answer), Some(nat));
        // The same answer again (a duplicate) changes nothing.
        assert_eq!(client.handle(&answer), None);
        // The next request, answered with another mapping: reported.
        let later = now + Duration::from_secs(30);
        let request = client.poll_transmit(later).expect("due");
        let moved: SocketAddr = "203.0.113.7:40001".parse().expect("addr");
        assert_eq!(
            client.handle(&binding_response(&request, moved).expect("response")),
            Some(moved)
        );
        assert_eq!(client.mapped(), Some(moved));
        // An answer to someone else's transaction is ignored.
        let stranger = StunClient::new(nat, Duration::from_secs(1), 2, now).poll_transmit(now);
        let other = binding_response(&stranger.expect("req"), nat).expect("response");
        assert_eq!(client.handle(&other), None);
        assert_eq!(client.handle(b"\x00\x01garbage-garbage-garbage"), None);
    }
}
