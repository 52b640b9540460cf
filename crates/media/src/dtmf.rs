//! RFC 4733 telephone events: the DTMF digits and their RTP payload.

use std::fmt;

use thiserror::Error;

/// A DTMF digit (RFC 4733 §3.2: events 0–15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DtmfDigit(u8);

/// A character that is not a DTMF digit.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0:?} is not a DTMF digit (use 0-9, *, #, A-D)")]
pub struct DtmfError(pub char);

impl DtmfDigit {
    /// Reads `0-9 * # A-D` (case-insensitive).
    pub fn from_char(c: char) -> Result<Self, DtmfError> {
        let event = match c.to_ascii_uppercase() {
            d @ '0'..='9' => d as u8 - b'0',
            '*' => 10,
            '#' => 11,
            l @ 'A'..='D' => l as u8 - b'A' + 12,
            _ => return Err(DtmfError(c)),
        };
        Ok(Self(event))
    }

    /// Parses a whole string of digits.
    pub fn parse_all(digits: &str) -> Result<Vec<Self>, DtmfError> {
        digits.chars().map(Self::from_char).collect()
    }

    /// The event code.
    #[must_use]
    pub fn event(self) -> u8 {
        self.0
    }

    /// The digit for an event code, if it is one.
    #[must_use]
    pub fn from_event(event: u8) -> Option<Self> {
        (event <= 15).then_some(Self(event))
    }

    /// The digit as a character.
    #[must_use]
    pub fn as_char(self) -> char {
        match self.0 {
            d @ 0..=9 => char::from(b'0' + d),
            10 => '*',
            11 => '#',
            l => char::from(b'A' + l - 12),
        }
    }
}

impl fmt::Display for DtmfDigit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

/// RFC 4733 §2.3: event (8 bits), E|R|volume (8 bits), duration (16 bits).
pub(crate) fn event_payload(digit: DtmfDigit, end: bool, duration: u16) -> [u8; 4] {
    let volume = 10u8; // -10 dBm0
    let flags = if end { 0x80 | volume } else { volume };
    let [hi, lo] = duration.to_be_bytes();
    [digit.event(), flags, hi, lo]
}

/// Reads an RFC 4733 payload: (digit, end flag). `None` for other events or short payloads.
pub(crate) fn parse_event(payload: &[u8]) -> Option<(DtmfDigit, bool)> {
    let (&event, &flags) = (payload.first()?, payload.get(1)?);
    payload.get(3)?;
    Some((DtmfDigit::from_event(event)?, flags & 0x80 != 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_keypad_character_round_trips() {
        for c in "0123456789*#ABCD".chars() {
            let digit = DtmfDigit::from_char(c).expect("a digit");
            assert_eq!(digit.as_char(), c);
            let payload = event_payload(digit, true, 800);
            assert_eq!(parse_event(&payload), Some((digit, true)));
        }
        assert_eq!(DtmfDigit::from_char('x'), Err(DtmfError('x')));
    }
}
