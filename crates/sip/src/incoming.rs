//! An incoming INVITE read once, here, into the small plain type the layers above use: its
//! headers as text (for attached data), its body parts and SDP offer, the caller, and an
//! auto-answer request. The engine never parses SIP itself.

use std::time::Duration;

use bytes::Bytes;
use sipx_sip::Request;

use crate::message::parts_of;

/// An incoming INVITE as the layers above need it.
#[derive(Debug, Clone, Default)]
pub struct IncomingInvite {
    /// Every header in order: its canonical name and its value as received.
    pub headers: Vec<(String, String)>,
    /// The body's parts with their (lowercased) Content-Types: the whole body, or each part
    /// of a `multipart/*` body (RFC 5621).
    pub parts: Vec<(String, Bytes)>,
    /// The SDP offer among them, if any.
    pub offer: Option<Bytes>,
    /// The user part of the caller's `From` URI (a number, usually).
    pub caller_user: Option<String>,
    /// An auto-answer request and its delay: `Call-Info: <…>;answer-after=N`,
    /// `Alert-Info: <…>;info=alert-autoanswer`, or RFC 5373 `Answer-Mode: Auto`.
    pub auto_answer: Option<Duration>,
}

impl IncomingInvite {
    /// Reads what the layers above need from an INVITE.
    #[must_use]
    pub fn read(request: &Request) -> Self {
        let headers: Vec<(String, String)> = request
            .headers
            .iter()
            .map(|h| {
                (
                    String::from_utf8_lossy(h.name().canonical()).into_owned(),
                    String::from_utf8_lossy(&h.value()).into_owned(),
                )
            })
            .collect();
        let parts = parts_of(&request.headers, request.body());
        let offer = parts
            .iter()
            .find(|(content_type, _)| content_type.starts_with("application/sdp"))
            .map(|(_, body)| body.clone());
        let caller_user = request
            .headers
            .typed::<sipx_sip::headers::From>()
            .and_then(Result::ok)
            .and_then(|from| {
                from.uri
                    .user()
                    .map(|u| String::from_utf8_lossy(u).into_owned())
            });
        let auto_answer = auto_answer_requested(&headers);
        Self {
            headers,
            parts,
            offer,
            caller_user,
            auto_answer,
        }
    }
}

/// An auto-answer request in the headers, with its delay.
fn auto_answer_requested(headers: &[(String, String)]) -> Option<Duration> {
    fn values<'a>(
        headers: &'a [(String, String)],
        name: &'a str,
    ) -> impl Iterator<Item = String> + 'a {
        headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_ascii_lowercase())
    }
    let values = |name| values(headers, name);
    for info in values("Call-Info") {
        if let Some(seconds) = info
            .split(';')
            .find_map(|p| p.trim().strip_prefix("answer-after="))
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            return Some(Duration::from_secs(seconds.min(3600)));
        }
    }
    if values("Alert-Info").any(|v| v.contains("info=alert-autoanswer"))
        || values("Answer-Mode").any(|v| v.trim().starts_with("auto"))
    {
        return Some(Duration::ZERO);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn auto_answer_requests_are_read_with_their_delay() {
        for (pairs, expected) in [
            (
                vec![("Call-Info", "<sip:x>;answer-after=3")],
                Some(Duration::from_secs(3)),
            ),
            (
                vec![("Alert-Info", "<http://x>;info=alert-autoanswer")],
                Some(Duration::ZERO),
            ),
            (vec![("Answer-Mode", "Auto;require")], Some(Duration::ZERO)),
            (vec![("Answer-Mode", "Manual")], None),
            (vec![("Call-Info", "<sip:x>;purpose=icon")], None),
            (vec![], None),
        ] {
            assert_eq!(
                auto_answer_requested(&headers(&pairs)),
                expected,
                "{pairs:?}"
            );
        }
    }
}
