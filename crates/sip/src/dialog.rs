//! Dialog state (RFC 3261 §12): the identifiers, sequence numbers, route set and remote target
//! shared by every request inside one call leg.

use sipx_sip::build::RequestBuilder;
use sipx_sip::headers::Route;
use sipx_sip::{HeaderName, Method, TypedHeader, Uri};

use crate::message::uri_dest;
use crate::transport::{Dest, Transport};

/// The dialog half of a call leg.
#[derive(Debug, Clone)]
pub(crate) struct Dialog {
    /// Call-ID.
    pub(crate) call_id: String,
    /// Our tag.
    pub(crate) local_tag: String,
    /// The peer's tag, once known.
    pub(crate) remote_tag: Option<String>,
    /// Our `From`/`To` value, without tag.
    pub(crate) local_uri: String,
    /// The peer's `From`/`To` value, without tag.
    pub(crate) remote_uri: String,
    /// Last CSeq we used.
    pub(crate) local_seq: u32,
    /// Last CSeq the peer used, once it has sent a request.
    pub(crate) remote_seq: Option<u32>,
    /// Where in-dialog requests go: the peer's Contact (RFC 3261 §12.1.1).
    pub(crate) remote_target: Uri,
    /// `Route` values, in the order they are written into requests.
    pub(crate) route_set: Vec<String>,
    /// Where the peer was last heard from: the fallback next hop when the target is a name.
    pub(crate) peer: Dest,
}

impl Dialog {
    /// RFC 3261 §12.2.1.1: a request inside the dialog, with the next CSeq (ACK and CANCEL reuse
    /// the INVITE's, so callers pass `sequence` for those).
    pub(crate) fn request(
        &mut self,
        method: Method,
        sequence: Option<u32>,
    ) -> Result<(RequestBuilder, Dest), sipx_sip::BuildError> {
        let sequence = sequence.unwrap_or_else(|| {
            self.local_seq = self.local_seq.wrapping_add(1);
            self.local_seq
        });
        let first_route = self
            .route_set
            .first()
            .and_then(|r| Route::decode(r.as_bytes()).ok());
        let strict = first_route
            .as_ref()
            .is_some_and(|r| r.uri.params().is_none_or(|p| p.get("lr").is_none()));
        let (request_uri, routes): (Uri, Vec<String>) = match (&first_route, strict) {
            (Some(route), true) => {
                // RFC 3261 §12.2.1.1, strict routing: the first route becomes the Request-URI
                // and the remote target goes last.
                let mut rest: Vec<String> = self.route_set.iter().skip(1).cloned().collect();
                rest.push(format!("<{}>", self.remote_target));
                (route.uri.clone(), rest)
            }
            _ => (self.remote_target.clone(), self.route_set.clone()),
        };
        let next_hop_uri = first_route.as_ref().map_or(&self.remote_target, |r| &r.uri);
        let dest = uri_dest(next_hop_uri, self.peer.transport).unwrap_or(self.peer);

        let mut builder = RequestBuilder::new(method.clone(), request_uri)
            .header(
                HeaderName::From,
                format!("{};tag={}", self.local_uri, self.local_tag),
            )?
            .header(HeaderName::To, self.remote_to())?
            .header(HeaderName::CallId, self.call_id.clone())?
            .cseq(sequence, &method)?
            .max_forwards(70);
        for route in routes {
            builder = builder.header(HeaderName::Route, route)?;
        }
        Ok((builder, dest))
    }

    /// The `To` value of requests we send: the peer's URI and tag.
    pub(crate) fn remote_to(&self) -> String {
        match &self.remote_tag {
            Some(tag) => format!("{};tag={tag}", self.remote_uri),
            None => self.remote_uri.clone(),
        }
    }

    /// The transport in-dialog requests use.
    pub(crate) fn transport(&self) -> Transport {
        self.peer.transport
    }
}

/// Strips a `;tag=…` parameter off a `From`/`To` value, keeping the rest verbatim.
pub(crate) fn without_tag(value: &str) -> String {
    // Parameters after the closing '>' (or after the URI for addr-spec form) are header params.
    let search_from = value.rfind('>').unwrap_or(0);
    let (head, params) = value.split_at(search_from);
    let kept: Vec<&str> = params
        .split(';')
        .enumerate()
        .filter(|(i, p)| *i == 0 || !p.trim().to_ascii_lowercase().starts_with("tag="))
        .map(|(_, p)| p)
        .collect();
    format!("{head}{}", kept.join(";"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_tag_keeps_other_parameters() {
        assert_eq!(
            without_tag("\"Bob\" <sip:bob@x;transport=tcp>;tag=abc;foo=1"),
            "\"Bob\" <sip:bob@x;transport=tcp>;foo=1"
        );
        assert_eq!(without_tag("<sip:bob@x>"), "<sip:bob@x>");
    }
}
