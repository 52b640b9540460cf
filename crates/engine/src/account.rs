//! From an [`api::Account`] (the one account shape of the file, the wire and the desktop) to
//! what the user agent and the calls need: the SIP account with its next hop and credentials,
//! the codecs, the DTMF mode. The one place that conversion is made, and where a wrong account
//! is named.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use media::Codec;

use crate::config::DtmfMode;

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
    /// A registrar by name with no proxy to reach it through.
    #[error("registrar {0:?} is not an IP address; set proxy = \"udp:IP:PORT\"")]
    Registrar(String),
    /// A registration lifetime of 0.
    #[error("expires must be more than 0 seconds")]
    Expires,
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
    let aor = account.aor.trim();
    let domain = aor
        .strip_prefix("sip:")
        .and_then(|rest| rest.split('@').nth(1))
        .filter(|d| !d.is_empty())
        .ok_or_else(|| AccountError::Aor(account.aor.clone()))?;
    let registrar = match account.registrar.trim() {
        "" => format!("sip:{domain}"),
        given => given.to_owned(),
    };
    let proxy = match account.proxy.trim() {
        "" => {
            let hostport = registrar
                .trim_start_matches("sip:")
                .split(';')
                .next()
                .unwrap_or_default();
            let addr = hostport
                .parse::<SocketAddr>()
                .or_else(|_| {
                    hostport
                        .parse::<IpAddr>()
                        .map(|ip| SocketAddr::new(ip, 5060))
                })
                .map_err(|_| AccountError::Registrar(registrar.clone()))?;
            sip::Dest {
                transport: sip::Transport::Udp,
                addr,
            }
        }
        given => given.parse().map_err(AccountError::Proxy)?,
    };
    if account.expires == 0 {
        return Err(AccountError::Expires);
    }
    let username = match account.username.trim() {
        "" => aor
            .trim_start_matches("sip:")
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
    fn a_wrong_account_is_named() {
        for (wrong, says) in [
            (account("1001"), "aor \"1001\" must look like sip:user@host"),
            (
                account("sip:1001@pbx.example"),
                "registrar \"sip:pbx.example\" is not an IP address; set proxy = \"udp:IP:PORT\"",
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
