//! From an [`api::Account`] (the one account shape of the file, the wire and the desktop) to
//! what the user agent and the calls need: the SIP account with its next hop and credentials,
//! the codecs, the DTMF mode. The one place that conversion is made, and where a wrong account
//! is named.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use media::Codec;

use crate::config::DtmfMode;

/// Whom a TLS connection must reach (RFC 5922): the name its certificate must carry and whom
/// to trust for it. The runtime makes the connection and checks the certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPeer {
    /// The server's address (a [`sip::Dest`] with [`sip::Transport::Tls`]).
    pub addr: SocketAddr,
    /// The SIP domain (or IP address) the certificate must name.
    pub name: String,
    /// A PEM file of the authorities to trust instead of the default ones.
    pub ca: Option<String>,
    /// Accept any certificate (the account's lab switch).
    pub insecure: bool,
}

/// An account the phone can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// The SIP account.
    pub(crate) sip: sip::AccountConfig,
    /// Codecs in order of preference for calls placed as this account (the phone's when
    /// empty).
    pub(crate) codecs: Vec<Codec>,
    /// How digits are sent on its calls.
    pub(crate) dtmf: DtmfMode,
    /// The registrar's name, to locate by DNS (RFC 3263) when no proxy is given and the
    /// registrar is not an IP address; until then `sip.proxy` is not in use.
    pub(crate) locate: Option<sip::ServerName>,
    /// How its TLS server (if it uses TLS) is checked.
    pub(crate) tls: Tls,
    /// Its calls' media encryption (the phone's when `None`).
    pub(crate) encryption: Option<media::Encryption>,
    /// How its offers key SRTP (the phone's when `None`).
    pub(crate) keying: Option<media::Keying>,
}

/// How an account checks its TLS server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tls {
    /// The name the server's certificate must carry: the registrar's host.
    pub(crate) name: String,
    /// Whom to trust instead of the defaults.
    pub(crate) ca: Option<String>,
    /// Accept any certificate.
    pub(crate) insecure: bool,
}

impl Resolved {
    /// What the runtime must know to reach `dest` over TLS; `None` for UDP and TCP.
    pub(crate) fn tls_peer(&self, dest: sip::Dest) -> Option<TlsPeer> {
        (dest.transport == sip::Transport::Tls).then(|| TlsPeer {
            addr: dest.addr,
            name: self.tls.name.clone(),
            ca: self.tls.ca.clone(),
            insecure: self.tls.insecure,
        })
    }
}

/// What is wrong with an account.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    /// It has no name.
    #[error("give it a name (it is how calls choose it)")]
    NoName,
    /// Its address-of-record is not `sip:user@host`.
    #[error("aor {0:?} must look like sip:user@host")]
    Aor(String),
    /// A codec recall does not have, or none.
    #[error("{0}")]
    Codecs(CodecError),
    /// Its DTMF mode.
    #[error("dtmf is {0:?}; use \"auto\", \"rfc4733\" or \"info\"")]
    Dtmf(String),
    /// Its outbound proxy.
    #[error("proxy: {0}")]
    Proxy(sip::DestError),
    /// A registrar that is not a SIP URI with a host.
    #[error(
        "registrar {0:?} must look like sip:host, sip:host:port, sip:host;transport=tcp (or tls) or sips:host"
    )]
    Registrar(String),
    /// A registration lifetime of 0.
    #[error("expires must be more than 0 seconds")]
    Expires,
    /// Its media encryption policy.
    #[error(
        "media_encryption is {0:?}; use \"off\", \"optional\" or \"mandatory\" (or leave it empty for [media] encryption)"
    )]
    MediaEncryption(String),
    /// Its media keying.
    #[error(
        "media_keying is {0:?}; use \"sdes\" or \"dtls\" (or leave it empty for [media] keying)"
    )]
    MediaKeying(String),
}

/// What is wrong with a codec list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The list names no codec.
    #[error("{field} is empty; list at least one of \"opus\", \"pcmu\", \"pcma\"")]
    Empty {
        /// The key it was given in.
        field: &'static str,
    },
    /// A name that is not a codec recall has.
    #[error("{field}: {name:?} is not a codec recall has; use \"opus\", \"pcmu\" or \"pcma\"")]
    Unknown {
        /// The key it was given in.
        field: &'static str,
        /// The name given.
        name: String,
    },
}

/// Reads a codec list such as `["opus", "pcmu"]`; `field` names it in the error.
///
/// # Errors
/// The list is empty or names a codec recall does not have.
pub fn parse_codecs(field: &'static str, names: &[String]) -> Result<Vec<Codec>, CodecError> {
    if names.is_empty() {
        return Err(CodecError::Empty { field });
    }
    names
        .iter()
        .map(|name| {
            Codec::from_name(name).ok_or_else(|| CodecError::Unknown {
                field,
                name: name.clone(),
            })
        })
        .collect()
}

/// Checks an account as the phone would use it.
///
/// # Errors
/// The first thing wrong with it.
pub fn check(account: &api::Account) -> Result<(), AccountError> {
    resolve(account).map(|_| ())
}

/// The account as the phone uses it, or what is wrong with it.
pub(crate) fn resolve(account: &api::Account) -> Result<Resolved, AccountError> {
    if account.name.trim().is_empty() {
        return Err(AccountError::NoName);
    }
    let codecs = if account.codecs.is_empty() {
        Vec::new()
    } else {
        parse_codecs("codecs", &account.codecs).map_err(AccountError::Codecs)?
    };
    let dtmf = match account.dtmf.trim() {
        "" | "auto" => DtmfMode::Auto,
        "rfc4733" => DtmfMode::Rfc4733,
        "info" => DtmfMode::Info,
        other => return Err(AccountError::Dtmf(other.to_owned())),
    };
    let encryption = match account.media_encryption.trim() {
        "" => None,
        word => Some(
            media::Encryption::parse(word)
                .ok_or_else(|| AccountError::MediaEncryption(word.to_owned()))?,
        ),
    };
    let keying = match account.media_keying.trim() {
        "" => None,
        word => Some(
            media::Keying::parse(word).ok_or_else(|| AccountError::MediaKeying(word.to_owned()))?,
        ),
    };
    let aor = account.aor.trim();
    let (scheme, aor_rest) = match aor.strip_prefix("sips:") {
        Some(rest) => ("sips", Some(rest)),
        None => ("sip", aor.strip_prefix("sip:")),
    };
    let domain = aor_rest
        .and_then(|rest| rest.split('@').nth(1))
        .filter(|d| !d.is_empty())
        .ok_or_else(|| AccountError::Aor(account.aor.clone()))?;
    let registrar = match account.registrar.trim() {
        "" => format!("{scheme}:{domain}"),
        given => given.to_owned(),
    };
    let registrar_name = server_name(&registrar);
    let (proxy, locate) = match account.proxy.trim() {
        "" => {
            let server = registrar_name
                .clone()
                .ok_or_else(|| AccountError::Registrar(registrar.clone()))?;
            let literal = server
                .host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>();
            match literal {
                Ok(ip) => {
                    let transport = server.default_transport();
                    (
                        sip::Dest {
                            transport,
                            addr: SocketAddr::new(
                                ip,
                                server.port.unwrap_or(transport.default_port()),
                            ),
                        },
                        None,
                    )
                }
                // Located by DNS before it is used; this address stands in until then.
                Err(_) => (
                    sip::Dest {
                        transport: sip::Transport::Udp,
                        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
                    },
                    Some(server),
                ),
            }
        }
        given => (given.parse().map_err(AccountError::Proxy)?, None),
    };
    if account.expires == 0 {
        return Err(AccountError::Expires);
    }
    let username = match account.username.trim() {
        "" => aor_rest
            .unwrap_or_default()
            .split('@')
            .next()
            .unwrap_or_default()
            .to_owned(),
        given => given.to_owned(),
    };
    let text = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    Ok(Resolved {
        sip: sip::AccountConfig {
            aor: aor.to_owned(),
            display_name: text(&account.display_name),
            registrar,
            proxy,
            credentials: (!account.password.is_empty()).then(|| sip::Credentials {
                username,
                password: account.password.clone(),
            }),
            expires: Duration::from_secs(account.expires),
        },
        codecs,
        dtmf,
        encryption,
        keying,
        locate,
        tls: Tls {
            // RFC 5922 §4.1: the server must prove it is the SIP domain we meant to reach.
            name: registrar_name.map_or_else(
                || domain.to_owned(),
                |n| {
                    n.host
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_owned()
                },
            ),
            ca: text(&account.tls_ca),
            insecure: account.tls_insecure,
        },
    })
}

/// The host, port and transport of a `sip:` URI such as `sip:pbx.example.com:5070;transport=tcp`
/// (a user part is allowed and ignored).
pub(crate) fn server_name(uri: &str) -> Option<sip::ServerName> {
    let uri = uri.trim();
    let (secure, rest) = match uri.strip_prefix("sips:") {
        Some(rest) => (true, rest),
        None => (false, uri.strip_prefix("sip:")?),
    };
    let mut parts = rest.split(';');
    let hostport = parts.next()?;
    let hostport = hostport.rsplit('@').next()?;
    let transport = parts
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.eq_ignore_ascii_case("transport"))
        .map(|(_, v)| match v.to_ascii_lowercase().as_str() {
            "udp" => Some(sip::Transport::Udp),
            "tcp" => Some(sip::Transport::Tcp),
            "tls" => Some(sip::Transport::Tls),
            _ => None,
        });
    let transport = match transport {
        Some(None) => return None,
        Some(t) => t,
        None => None,
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        (format!("[{host}]"), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port.parse().ok()?)),
            None => (hostport.to_owned(), None),
        }
    };
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
    // A sips: URI over anything but TLS is a contradiction (RFC 5630 §3.1.3 would have
    // TLS to the first hop at least).
    let valid = valid && !(secure && matches!(transport, Some(t) if t != sip::Transport::Tls));
    valid.then_some(sip::ServerName {
        host,
        port,
        transport,
        secure,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(aor: &str) -> api::Account {
        api::Account {
            name: "desk".to_owned(),
            aor: aor.to_owned(),
            ..api::Account::default()
        }
    }

    #[test]
    fn an_account_resolves_with_its_defaults() {
        let resolved = resolve(&api::Account {
            password: "s3cret".to_owned(),
            ..account("sip:1001@127.0.0.1")
        })
        .expect("resolves");
        assert_eq!(resolved.sip.registrar, "sip:127.0.0.1");
        assert_eq!(resolved.sip.proxy.to_string(), "udp:127.0.0.1:5060");
        assert_eq!(
            resolved.sip.credentials.map(|c| c.username),
            Some("1001".to_owned())
        );
        assert_eq!(resolved.sip.expires, Duration::from_secs(600));
        assert_eq!(resolved.dtmf, DtmfMode::Auto);
        assert!(resolved.codecs.is_empty());
    }

    #[test]
    fn a_registrar_by_name_is_located_and_by_address_is_used_as_it_is() {
        let named = resolve(&account("sip:1001@pbx.example.com")).expect("resolves");
        assert_eq!(
            named.locate,
            Some(sip::ServerName {
                host: "pbx.example.com".to_owned(),
                port: None,
                transport: None,
                secure: false,
            })
        );
        let tcp = resolve(&api::Account {
            registrar: "sip:pbx.example.com:5070;transport=TCP".to_owned(),
            ..account("sip:1001@pbx.example.com")
        })
        .expect("resolves");
        assert_eq!(
            tcp.locate,
            Some(sip::ServerName {
                host: "pbx.example.com".to_owned(),
                port: Some(5070),
                transport: Some(sip::Transport::Tcp),
                secure: false,
            })
        );
        let literal = resolve(&api::Account {
            registrar: "sip:[::1]:5070;transport=tcp".to_owned(),
            ..account("sip:1001@pbx.example.com")
        })
        .expect("resolves");
        assert_eq!(literal.locate, None);
        assert_eq!(literal.sip.proxy.to_string(), "tcp:[::1]:5070");
        let proxied = resolve(&api::Account {
            proxy: "udp:127.0.0.1:5060".to_owned(),
            ..account("sip:1001@pbx.example.com")
        })
        .expect("resolves");
        assert_eq!(proxied.locate, None);
    }

    #[test]
    fn a_wrong_account_is_named() {
        for (wrong, says) in [
            (account("1001"), "aor \"1001\" must look like sip:user@host"),
            (
                api::Account {
                    registrar: "sip:pbx example".to_owned(),
                    ..account("sip:1001@pbx.example")
                },
                "registrar \"sip:pbx example\" must look like sip:host, sip:host:port, sip:host;transport=tcp (or tls) or sips:host",
            ),
            (
                api::Account {
                    proxy: "pbx:5060".to_owned(),
                    ..account("sip:1001@pbx.example")
                },
                "proxy: \"pbx:5060\" is not transport:IP:PORT (e.g. udp:127.0.0.1:5060)",
            ),
            (
                api::Account {
                    dtmf: "tones".to_owned(),
                    ..account("sip:1001@127.0.0.1")
                },
                "dtmf is \"tones\"; use \"auto\", \"rfc4733\" or \"info\"",
            ),
            (
                api::Account {
                    expires: 0,
                    ..account("sip:1001@127.0.0.1")
                },
                "expires must be more than 0 seconds",
            ),
            (
                api::Account {
                    media_encryption: "always".to_owned(),
                    ..account("sip:1001@127.0.0.1")
                },
                "media_encryption is \"always\"; use \"off\", \"optional\" or \"mandatory\" (or leave it empty for [media] encryption)",
            ),
            (
                api::Account {
                    media_keying: "zrtp".to_owned(),
                    ..account("sip:1001@127.0.0.1")
                },
                "media_keying is \"zrtp\"; use \"sdes\" or \"dtls\" (or leave it empty for [media] keying)",
            ),
            (
                api::Account {
                    codecs: vec!["g729".to_owned()],
                    ..account("sip:1001@127.0.0.1")
                },
                "codecs: \"g729\" is not a codec recall has; use \"opus\", \"pcmu\" or \"pcma\"",
            ),
        ] {
            assert_eq!(resolve(&wrong).expect_err("wrong").to_string(), says);
        }
    }
}
