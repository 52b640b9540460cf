//! A scripted registrar (RFC 3261 §10.3) that challenges with digest (qop=auth) and checks the
//! answer, so user agents can be tested against a real challenge without a server process.

use std::collections::HashMap;
use std::net::SocketAddr;

use bytes::Bytes;
use sipx_sip::auth::{Challenge, Credentials, respond};
use sipx_sip::build::ResponseBuilder;
use sipx_sip::{HeaderName, Limits, Message, Method, StatusCode};

/// A registrar for one realm.
#[derive(Debug)]
pub struct ScriptedRegistrar {
    /// The realm challenged in.
    pub realm: String,
    /// Users and passwords.
    pub users: HashMap<String, String>,
    /// Which algorithm to challenge with (`MD5` or `SHA-256`).
    pub algorithm: String,
    /// Answer with 407 Proxy-Authenticate instead of 401.
    pub as_proxy: bool,
    /// Lifetime granted.
    pub expires: u32,
    /// Contact bound per AOR user (removed by an un-REGISTER).
    pub bindings: HashMap<String, String>,
    /// Nonce-counts seen, in order, for tests to assert on.
    pub nonce_counts: Vec<u32>,
    /// REGISTERs received.
    pub requests: u32,
    nonce_serial: u32,
    issued: std::collections::HashSet<String>,
}

impl ScriptedRegistrar {
    /// A registrar for `realm` with one user.
    #[must_use]
    pub fn new(realm: &str, user: &str, password: &str) -> Self {
        Self {
            realm: realm.to_owned(),
            users: HashMap::from([(user.to_owned(), password.to_owned())]),
            algorithm: "MD5".to_owned(),
            as_proxy: false,
            expires: 60,
            bindings: HashMap::new(),
            nonce_counts: Vec::new(),
            requests: 0,
            nonce_serial: 0,
            issued: std::collections::HashSet::new(),
        }
    }

    /// Handles one datagram; returns what to send and where: the answer to a REGISTER, or a
    /// request or response relayed as a stateless proxy would (RFC 3261 §16.11).
    pub fn handle(&mut self, bytes: &[u8], from: SocketAddr) -> Option<(Vec<u8>, SocketAddr)> {
        let message =
            sipx_sip::parse_datagram(Bytes::copy_from_slice(bytes), &Limits::datagram()).ok()?;
        let request = match message {
            Message::Response(response) => return self.relay_response(response),
            Message::Request(request) if request.method != Method::Register => {
                return self.relay_request(request);
            }
            Message::Request(request) => request,
        };
        self.register(&request).map(|reply| (reply, from))
    }

    /// The proxy's own address, for its Via.
    pub const ADDRESS: &'static str = "127.0.0.1:5060";

    fn relay_request(&mut self, mut request: sipx_sip::Request) -> Option<(Vec<u8>, SocketAddr)> {
        let user = request
            .uri
            .user()
            .map(|u| String::from_utf8_lossy(u).into_owned())?;
        let contact = self.bindings.get(&user)?;
        let target = contact
            .trim_start_matches('<')
            .split('>')
            .next()?
            .trim_start_matches("sip:");
        let hostport = target.split('@').nth(1)?.split(';').next()?;
        let to: SocketAddr = hostport.parse().ok()?;
        let top = request.headers.get(&HeaderName::Via)?.value().into_owned();
        let branch = String::from_utf8_lossy(&top)
            .split("branch=")
            .nth(1)?
            .split([';', ','])
            .next()?
            .to_owned();
        let via = sipx_sip::Header::build(
            HeaderName::Via,
            format!("SIP/2.0/UDP {};branch=z9hG4bKsp{branch}", Self::ADDRESS),
        )
        .ok()?;
        request.headers.push_front(via);
        Some((Message::Request(request).to_bytes().to_vec(), to))
    }

    fn relay_response(
        &mut self,
        mut response: sipx_sip::Response,
    ) -> Option<(Vec<u8>, SocketAddr)> {
        response.headers.remove_first(&HeaderName::Via)?;
        let next = response.headers.typed::<sipx_sip::headers::Via>()?.ok()?;
        let ip = match next.received() {
            Some(r) => String::from_utf8_lossy(r).parse().ok()?,
            None => match &next.host {
                sipx_sip::Host::Ip(ip) => *ip,
                sipx_sip::Host::Name(_) => return None,
            },
        };
        let port = next
            .rport()
            .flatten()
            .and_then(|p| String::from_utf8_lossy(p).parse().ok())
            .or(next.port)
            .unwrap_or(5060);
        Some((
            Message::Response(response).to_bytes().to_vec(),
            SocketAddr::new(ip, port),
        ))
    }

    fn register(&mut self, request: &sipx_sip::Request) -> Option<Vec<u8>> {
        self.requests += 1;
        let (challenge_header, answer_header, code, phrase) = if self.as_proxy {
            (
                HeaderName::ProxyAuthenticate,
                HeaderName::ProxyAuthorization,
                407,
                "Proxy Authentication Required",
            )
        } else {
            (
                HeaderName::WwwAuthenticate,
                HeaderName::Authorization,
                401,
                "Unauthorized",
            )
        };
        let authorized = request
            .headers
            .value(&answer_header)
            .is_some_and(|v| self.check(&String::from_utf8_lossy(&v), "REGISTER"));
        if !authorized {
            self.nonce_serial += 1;
            self.issued.insert(self.nonce());
            let challenge = format!(
                "Digest realm=\"{}\", nonce=\"{}\", qop=\"auth\", algorithm={}",
                self.realm,
                self.nonce(),
                self.algorithm
            );
            let response = ResponseBuilder::to_request(request, StatusCode::new(code)?, phrase)
                .ok()?
                .set_header(&HeaderName::To, tagged(request))
                .ok()?
                .header(challenge_header, challenge)
                .ok()?
                .build();
            return Some(Message::Response(response).to_bytes().to_vec());
        }
        let contact = request
            .headers
            .value(&HeaderName::Contact)
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default();
        let user = request
            .headers
            .value(&HeaderName::To)
            .map(|v| {
                let text = String::from_utf8_lossy(&v).into_owned();
                text.split("sip:")
                    .nth(1)
                    .and_then(|r| r.split('@').next())
                    .unwrap_or_default()
                    .to_owned()
            })
            .unwrap_or_default();
        // RFC 3261 §10.2.2: `Expires: 0` (or `;expires=0` on the Contact) removes the binding.
        let expires_zero = request
            .headers
            .value(&HeaderName::Expires)
            .is_some_and(|v| v.as_ref() == b"0")
            || contact.replace(' ', "").contains(";expires=0");
        if expires_zero {
            self.bindings.remove(&user);
        } else {
            self.bindings.insert(user, contact.clone());
        }
        let response = ResponseBuilder::to_request(request, StatusCode::new(200)?, "OK")
            .ok()?
            .set_header(&HeaderName::To, tagged(request))
            .ok()?
            .header(
                HeaderName::Contact,
                format!("{contact};expires={}", self.expires),
            )
            .ok()?
            .build();
        Some(Message::Response(response).to_bytes().to_vec())
    }

    fn nonce(&self) -> String {
        format!("nonce{:08x}", self.nonce_serial)
    }

    /// Verifies an Authorization value by recomputing the digest.
    fn check(&mut self, value: &str, method: &str) -> bool {
        let field = |name: &str| -> Option<String> {
            let start = value.find(&format!("{name}="))? + name.len() + 1;
            let rest = &value[start..];
            Some(match rest.strip_prefix('"') {
                Some(quoted) => quoted.split('"').next()?.to_owned(),
                None => rest.split(',').next()?.trim().to_owned(),
            })
        };
        let (Some(user), Some(nonce), Some(uri), Some(nc), Some(cnonce), Some(given)) = (
            field("username"),
            field("nonce"),
            field("uri"),
            field("nc"),
            field("cnonce"),
            field("response"),
        ) else {
            return false;
        };
        if !self.issued.contains(&nonce) {
            return false;
        }
        let Some(password) = self.users.get(&user) else {
            return false;
        };
        let Ok(nc) = u32::from_str_radix(&nc, 16) else {
            return false;
        };
        let challenge = format!(
            "Digest realm=\"{}\", nonce=\"{nonce}\", qop=\"auth\", algorithm={}",
            self.realm, self.algorithm
        );
        let Some(challenge) = Challenge::parse(challenge.as_bytes(), self.as_proxy) else {
            return false;
        };
        let expected = respond(
            &challenge,
            &Credentials::new(user, password.clone()),
            method,
            &uri,
            nc,
            &cnonce,
        );
        let ok = expected.contains(&format!("response=\"{given}\""));
        if ok {
            self.nonce_counts.push(nc);
        }
        ok
    }
}

fn tagged(request: &sipx_sip::Request) -> String {
    let to = request
        .headers
        .value(&HeaderName::To)
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_default();
    if to.contains(";tag=") {
        to
    } else {
        format!("{to};tag=registrar")
    }
}
