//! Small helpers over sipx-sip messages: reading header text, tags, bodies, routes.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use sipx_sip::headers::{Address, Contact, ContentType, Via};
use sipx_sip::{Header, HeaderName, Host, Message, Request, Response, Uri};

use crate::transport::{Dest, Transport};

/// The text of the first header of this name, decoded lossily as UTF-8.
pub(crate) fn header_text(headers: &sipx_sip::Headers, name: &HeaderName) -> Option<String> {
    headers
        .value(name)
        .map(|v| String::from_utf8_lossy(&v).trim().to_owned())
}

/// The `tag` parameter of a `From`/`To` value.
pub(crate) fn tag_of(headers: &sipx_sip::Headers, name: &HeaderName) -> Option<String> {
    let value = headers.value(name)?;
    let address = Address::parse(&value, "address").ok()?;
    address
        .tag()
        .map(|t| String::from_utf8_lossy(t).into_owned())
}

/// A header value with a `;tag=` appended, unless it already carries one.
pub(crate) fn with_tag(value: &[u8], tag: &str) -> Vec<u8> {
    let has_tag = Address::parse(value, "address")
        .ok()
        .is_some_and(|a| a.tag().is_some());
    let mut out = value.to_vec();
    if !has_tag {
        out.extend_from_slice(b";tag=");
        out.extend_from_slice(tag.as_bytes());
    }
    out
}

/// The first `Contact` URI.
pub(crate) fn contact_uri(headers: &sipx_sip::Headers) -> Option<Uri> {
    match headers.typed::<Contact>()? {
        Ok(contact) => Some(contact.0.uri),
        Err(_) => None,
    }
}

/// Every `Record-Route` value, in order, as raw text.
pub(crate) fn record_routes(headers: &sipx_sip::Headers) -> Vec<String> {
    headers
        .typed_all::<sipx_sip::headers::RecordRoute>()
        .filter_map(Result::ok)
        .map(|rr| address_text(&rr.0))
        .collect()
}

/// An address written back as `<uri>;params`.
pub(crate) fn address_text(address: &Address) -> String {
    let mut text = format!("<{}>", address.uri);
    for param in &address.params {
        text.push(';');
        text.push_str(&String::from_utf8_lossy(&param.name));
        if let Some(value) = &param.value {
            text.push('=');
            text.push_str(&String::from_utf8_lossy(value));
        }
    }
    text
}

/// The session description of a message: an `application/sdp` body, or the SDP part of a
/// `multipart/mixed` body (RFC 5621).
#[must_use]
pub fn sdp_body(message: &Message) -> Option<Bytes> {
    body_parts(message)
        .into_iter()
        .find(|(content_type, _)| content_type.starts_with("application/sdp"))
        .map(|(_, body)| body)
}

/// The parts of a message body with their Content-Types (lowercased): the whole body as one
/// part, or each part of a `multipart/*` body (RFC 5621). A body without Content-Type is
/// `application/sdp` by custom (RFC 3261 §20.15).
#[must_use]
pub fn body_parts(message: &Message) -> Vec<(String, Bytes)> {
    parts_of(message.headers(), message.body())
}

/// [`body_parts`] of a body and the headers it came with.
pub(crate) fn parts_of(headers: &sipx_sip::Headers, body: &Bytes) -> Vec<(String, Bytes)> {
    if body.is_empty() {
        return Vec::new();
    }
    let content_type = match headers.typed::<ContentType>() {
        Some(Ok(ct)) => ct,
        None => return vec![("application/sdp".to_owned(), body.clone())],
        Some(Err(_)) => return Vec::new(),
    };
    let kind = format!(
        "{}/{}",
        String::from_utf8_lossy(&content_type.media_type),
        String::from_utf8_lossy(&content_type.subtype)
    )
    .to_ascii_lowercase();
    if kind.starts_with("multipart/") {
        return content_type
            .param("boundary")
            .map(|boundary| multipart_parts(body, boundary))
            .unwrap_or_default();
    }
    vec![(kind, body.clone())]
}

/// Splits a MIME multipart body into (Content-Type, body) pairs.
fn multipart_parts(body: &Bytes, boundary: &[u8]) -> Vec<(String, Bytes)> {
    let mut delimiter = b"--".to_vec();
    delimiter.extend_from_slice(boundary);
    let text = body.as_ref();
    let mut starts = Vec::new();
    let mut i = 0;
    while let Some(pos) = text.get(i..).and_then(|rest| find(rest, &delimiter)) {
        starts.push(i + pos);
        i += pos + delimiter.len();
    }
    let mut parts = Vec::new();
    for pair in starts.windows(2) {
        let (start, end) = (pair[0] + delimiter.len(), pair[1]);
        let Some((head, content)) = text.get(start..end).and_then(split_part) else {
            continue;
        };
        let head_text = String::from_utf8_lossy(head).to_ascii_lowercase();
        let content_type = head_text
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                (name.trim() == "content-type").then(|| value.trim().to_owned())
            })
            .unwrap_or_else(|| "text/plain".to_owned());
        let content = content
            .strip_suffix(b"\r\n")
            .or_else(|| content.strip_suffix(b"\n"))
            .unwrap_or(content);
        parts.push((content_type, Bytes::copy_from_slice(content)));
    }
    parts
}

fn split_part(part: &[u8]) -> Option<(&[u8], &[u8])> {
    let part = part
        .strip_prefix(b"\r\n")
        .or_else(|| part.strip_prefix(b"\n"))
        .unwrap_or(part);
    if let Some(pos) = find(part, b"\r\n\r\n") {
        return Some((part.get(..pos)?, part.get(pos + 4..)?));
    }
    let pos = find(part, b"\n\n")?;
    Some((part.get(..pos)?, part.get(pos + 2..)?))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Where a URI points, when its host is an IP literal (no DNS in a sans-IO core).
pub(crate) fn uri_dest(uri: &Uri, default_transport: Transport) -> Option<Dest> {
    let host = uri.host()?;
    let Host::Ip(ip) = host else { return None };
    let transport = match uri.transport() {
        Some(t) => Transport::from_param(Some(t)),
        None => default_transport,
    };
    Some(Dest {
        transport,
        addr: SocketAddr::new(*ip, uri.port().unwrap_or(5060)),
    })
}

/// RFC 3261 §18.2.2 with RFC 3581 §4: where a response to this request goes.
///
/// Over a stream the response goes back on the connection it came in on. Over UDP it goes to
/// the source address when the client asked for `rport` (which is what makes NAT work), else
/// to the `Via` sent-by when that is an IP literal, else to the source.
pub(crate) fn response_dest(request: &Request, source: Dest) -> Dest {
    if source.transport.is_stream() {
        return source;
    }
    let Some(Ok(via)) = request.headers.typed::<Via>() else {
        return source;
    };
    if via.rport().is_some() {
        return source;
    }
    match (&via.host, via.received()) {
        (_, Some(received)) => std::str::from_utf8(received)
            .ok()
            .and_then(|r| r.parse::<IpAddr>().ok())
            .map_or(source, |ip| Dest {
                transport: source.transport,
                addr: SocketAddr::new(ip, via.port.unwrap_or(5060)),
            }),
        (Host::Ip(ip), None) => Dest {
            transport: source.transport,
            addr: SocketAddr::new(*ip, via.port.unwrap_or(5060)),
        },
        (Host::Name(_), None) => source,
    }
}

/// RFC 3581 §4 and RFC 3261 §18.2.1: stamps `received` and, when asked, `rport` on the topmost
/// `Via` of an incoming request, so the responses built from it record where it came from.
/// True when that `Via` asked for `rport`: its responses then go back to `source` whatever the
/// transport (`response_dest` need not read the `Via` again).
pub(crate) fn stamp_via(request: &mut Request, source: SocketAddr) -> bool {
    let Some(first) = request.headers.get(&HeaderName::Via) else {
        return false;
    };
    let value = first.value().into_owned();
    let end = sipx_sip::headers::first_hop_end(&value);
    let (hop, rest) = value.split_at(end.min(value.len()));
    let Ok(via) = Via::parse_one(hop) else {
        return false;
    };
    let wants_rport = via.rport().is_some();
    let host_matches = matches!(&via.host, Host::Ip(ip) if *ip == source.ip());
    if !wants_rport && host_matches {
        return false;
    }
    // Written into one buffer: this runs for every request a lab's load sends.
    let mut text = String::with_capacity(value.len() + 48);
    let _ = write!(
        text,
        "{}/{}/{} ",
        String::from_utf8_lossy(&via.protocol),
        String::from_utf8_lossy(&via.version),
        String::from_utf8_lossy(&via.transport),
    );
    write_host_port(&mut text, &via.host, via.port);
    for param in &via.params {
        if param.is("rport") || param.is("received") {
            continue;
        }
        text.push(';');
        text.push_str(&String::from_utf8_lossy(&param.name));
        if let Some(v) = &param.value {
            text.push('=');
            text.push_str(&String::from_utf8_lossy(v));
        }
    }
    let _ = write!(text, ";received={}", source.ip());
    if wants_rport {
        let _ = write!(text, ";rport={}", source.port());
    }
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(rest);
    let Ok(header) = Header::build(HeaderName::Via, bytes) else {
        return false;
    };
    request.headers.remove_first(&HeaderName::Via);
    request.headers.push_front(header);
    wants_rport
}

fn write_host_port(text: &mut String, host: &Host, port: Option<u16>) {
    let _ = match host {
        Host::Ip(IpAddr::V6(v6)) => write!(text, "[{v6}]"),
        other => write!(text, "{other}"),
    };
    if let Some(p) = port {
        let _ = write!(text, ":{p}");
    }
}

/// `host:port` of a socket address, with IPv6 brackets.
pub(crate) fn sock_text(addr: SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V6(v6) => format!("[{v6}]:{}", addr.port()),
        IpAddr::V4(v4) => format!("{v4}:{}", addr.port()),
    }
}

/// A human-readable summary of a response's start line, e.g. `486 Busy Here`.
pub(crate) fn status_line(response: &Response) -> (u16, String) {
    (
        response.status.code(),
        String::from_utf8_lossy(&response.reason).into_owned(),
    )
}

/// The standard reason phrase for a status code (RFC 3261 §21).
pub(crate) fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        415 => "Unsupported Media Type",
        420 => "Bad Extension",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        489 => "Bad Event",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        603 => "Decline",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Message {
        let bytes = Bytes::from(text.replace('\n', "\r\n"));
        sipx_sip::parse_datagram(bytes, &sipx_sip::Limits::datagram()).expect("fixture parses")
    }

    #[test]
    fn sdp_is_found_in_a_multipart_mixed_body() {
        let body = "--b1\nContent-Type: application/sdp\n\nv=0\no=- 1 1 IN IP4 127.0.0.1\n--b1\nContent-Type: application/json\n\n{\"a\":1}\n--b1--\n";
        let text = format!(
            "INVITE sip:a@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\nFrom: <sip:b@127.0.0.1>;tag=1\nTo: <sip:a@127.0.0.1>\nCall-ID: x\nCSeq: 1 INVITE\nMax-Forwards: 70\nContent-Type: multipart/mixed;boundary=b1\nContent-Length: {}\n\n{}",
            body.replace('\n', "\r\n").len(),
            body
        );
        let message = parse(&text);
        let sdp = sdp_body(&message).expect("an sdp part");
        assert!(sdp.starts_with(b"v=0\r\no=- 1 1"));
        assert!(!sdp.ends_with(b"\r\n\r\n"));
        let parts = body_parts(&message);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1].0, "application/json");
        assert_eq!(parts[1].1.as_ref(), b"{\"a\":1}");
    }

    #[test]
    fn via_gets_received_and_rport_from_the_source() {
        let message = parse(
            "OPTIONS sip:a@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK1;rport\nFrom: <sip:b@x>;tag=1\nTo: <sip:a@x>\nCall-ID: x\nCSeq: 1 OPTIONS\nMax-Forwards: 70\nContent-Length: 0\n\n",
        );
        let Message::Request(mut request) = message else {
            panic!("a request")
        };
        let source: SocketAddr = "127.0.0.1:40000".parse().expect("addr");
        assert!(stamp_via(&mut request, source), "rport asked");
        let via = header_text(&request.headers, &HeaderName::Via).expect("via");
        assert_eq!(
            via,
            "SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK1;received=127.0.0.1;rport=40000"
        );
        let dest = response_dest(
            &request,
            Dest {
                transport: Transport::Udp,
                addr: source,
            },
        );
        assert_eq!(dest.addr, source);
    }
}
