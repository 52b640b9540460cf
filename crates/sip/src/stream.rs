//! Framing SIP over a byte stream (RFC 3261 §18.3): Content-Length delimits each message.

use sipx_sip::{Message, StreamParser};

use crate::transport::stream_limits;

/// Splits a TCP byte stream into SIP messages. One per connection.
#[derive(Debug)]
pub struct StreamFramer {
    parser: StreamParser,
}

impl Default for StreamFramer {
    fn default() -> Self {
        Self {
            parser: StreamParser::new(stream_limits()),
        }
    }
}

impl StreamFramer {
    /// Feeds received bytes; returns the messages completed by them. An error means the stream
    /// cannot be framed any more and the connection must be closed (RFC 3261 §18.3).
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Message>, sipx_sip::error::ParseError> {
        self.parser.push(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_alive_crlfs_between_messages_are_not_messages_and_do_not_break_framing() {
        let mut framer = StreamFramer::default();
        // A pong (RFC 5626 §4.4.1) and a ping, then a message split across reads.
        assert!(framer.push(b"\r\n").expect("pong").is_empty());
        assert!(framer.push(b"\r\n\r\n").expect("ping").is_empty());
        let message = b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK1\r\nFrom: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\nCall-ID: k@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
        let (head, tail) = message.split_at(40);
        assert!(framer.push(head).expect("part").is_empty());
        assert_eq!(framer.push(tail).expect("rest").len(), 1);
        assert!(framer.push(b"\r\n").expect("pong").is_empty());
        assert_eq!(framer.push(message).expect("again").len(), 1);
    }
}
