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
