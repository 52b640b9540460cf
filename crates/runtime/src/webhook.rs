//! The outcome webhook: when an interaction is marked done, rescheduled or given a
//! disposition, its JSON is POSTed to a configured URL so the server (GMS-like) learns the
//! outcome. The run loop writes each outcome to the store's outbox before anything else
//! happens; this task delivers the outbox in order, retrying with backoff, and reports each
//! delivery back so the outbox row can go. A slow or dead server never blocks the agent.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use store::OutboxItem;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;
use tracing::{debug, error, info, warn};

/// How long one delivery may take (connect, send, answer).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The first retry waits this long; each later one twice as long as the one before.
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// Retries never wait longer than this.
const MAX_RETRY: Duration = Duration::from_secs(300);

/// What is wrong with a webhook URL.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// Not an `http://` or `https://` URL at all.
    #[error("{0:?} is not an http:// or https:// URL")]
    NotHttp(String),
    /// The port is not a number.
    #[error("{url:?}: the port {port:?} is not a number")]
    BadPort {
        /// The URL.
        url: String,
        /// What stood for the port.
        port: String,
    },
    /// No host between `http://` and the path.
    #[error("{0:?} has no host")]
    NoHost(String),
}

/// Why one delivery attempt failed before the server answered.
#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    #[error("HTTP handshake: {0}")]
    Handshake(hyper::Error),
    #[error("cannot build the request: {0}")]
    Request(hyper::http::Error),
    #[error("HTTP: {0}")]
    Http(hyper::Error),
    #[error("TLS: {0}")]
    Tls(String),
}

/// Where outcomes are posted: an `http://` or `https://host[:port]/path` URL and an optional
/// bearer token; over HTTPS the server's certificate is checked against `ca` (a PEM file) or
/// the system's roots, and must name the host.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    secure: bool,
    host: String,
    port: u16,
    path: String,
    token: Option<String>,
    ca: Option<std::path::PathBuf>,
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.url())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl WebhookConfig {
    /// Reads the URL; says what is wrong with it in one line.
    ///
    /// # Errors
    /// What is wrong with the URL.
    pub fn new(url: &str, token: Option<String>) -> Result<Self, WebhookError> {
        let (secure, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
            (Some(rest), _) => (true, rest),
            (None, Some(rest)) => (false, rest),
            (None, None) => return Err(WebhookError::NotHttp(url.to_owned())),
        };
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
                let port = port.parse::<u16>().map_err(|_| WebhookError::BadPort {
                    url: url.to_owned(),
                    port: port.to_owned(),
                })?;
                (host, port)
            }
            _ => (authority, if secure { 443 } else { 80 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(WebhookError::NoHost(url.to_owned()));
        }
        Ok(Self {
            secure,
            host: host.to_owned(),
            port,
            path: path.to_owned(),
            token,
            ca: None,
        })
    }

    /// Trusts the authorities in this PEM file (instead of the system's) over HTTPS.
    #[must_use]
    pub fn with_ca(mut self, ca: Option<std::path::PathBuf>) -> Self {
        self.ca = ca;
        self
    }

    /// The URL, as configured.
    #[must_use]
    pub fn url(&self) -> String {
        let scheme = if self.secure { "https" } else { "http" };
        if self.host.contains(':') {
            format!("{scheme}://[{}]:{}{}", self.host, self.port, self.path)
        } else {
            format!("{scheme}://{}:{}{}", self.host, self.port, self.path)
        }
    }
}

/// What became of one outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Report {
    /// The server took it (2xx): drop it from the outbox.
    Delivered(u64),
    /// The server refused it for good (a 4xx other than 408/429): keep it, marked, unretried.
    GaveUp(u64, String),
}

/// What the answer to one attempt means.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Delivered,
    Retry(String),
    GiveUp(String),
}

fn verdict(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        408 | 429 => Verdict::Retry(format!("HTTP {status}")),
        400..=499 => Verdict::GiveUp(format!("HTTP {status}")),
        _ => Verdict::Retry(format!("HTTP {status}")),
    }
}

/// How long to wait after `failures` failed attempts in a row (1 s, 2 s, 4 s, … 5 min).
fn retry_delay(failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    (FIRST_RETRY * factor).min(MAX_RETRY)
}

/// Starts the delivery task: outcomes come in on `items` (oldest first), reports go out.
pub(crate) fn spawn(
    config: WebhookConfig,
    mut items: mpsc::UnboundedReceiver<OutboxItem>,
    reports: mpsc::UnboundedSender<Report>,
) {
    tokio::spawn(async move {
        let mut queue: VecDeque<OutboxItem> = VecDeque::new();
        let mut failures = 0u32;
        // Over HTTPS: one client set-up for every delivery; a CA file that cannot be used is
        // an error at every attempt (the outcomes wait in the outbox).
        let tls = config
            .secure
            .then(|| crate::tls::web_client(config.ca.as_deref()).map(TlsConnector::from));
        loop {
            if queue.is_empty() {
                match items.recv().await {
                    Some(item) => queue.push_back(item),
                    None => return,
                }
            }
            while let Ok(item) = items.try_recv() {
                queue.push_back(item);
            }
            let Some(item) = queue.front() else { continue };
            let verdict = match tokio::time::timeout(
                ATTEMPT_TIMEOUT,
                post(&config, tls.as_ref(), item),
            )
            .await
            {
                Ok(Ok(status)) => verdict(status),
                Ok(Err(e)) => Verdict::Retry(e.to_string()),
                Err(_) => Verdict::Retry(format!("no answer in {ATTEMPT_TIMEOUT:?}")),
            };
            let id = item.id;
            match verdict {
                Verdict::Delivered => {
                    debug!(delivery = id, event = %item.event, "outcome delivered");
                    failures = 0;
                    queue.pop_front();
                    let _ = reports.send(Report::Delivered(id));
                }
                Verdict::GiveUp(why) => {
                    error!(delivery = id, url = %config.url(), %why, "webhook refused the outcome; it stays in the outbox, not retried");
                    failures = 0;
                    queue.pop_front();
                    let _ = reports.send(Report::GaveUp(id, why));
                }
                Verdict::Retry(why) => {
                    failures += 1;
                    let wait = retry_delay(failures);
                    warn!(delivery = id, url = %config.url(), %why, retry_in = ?wait, "webhook delivery failed");
                    // Keep taking new outcomes while waiting; they queue behind this one.
                    let sleep = tokio::time::sleep(wait);
                    tokio::pin!(sleep);
                    loop {
                        tokio::select! {
                            () = &mut sleep => break,
                            item = items.recv() => match item {
                                Some(item) => queue.push_back(item),
                                None => return,
                            },
                        }
                    }
                }
            }
        }
    });
    info!("webhook delivery started");
}

/// One POST of one outcome; the HTTP status it got.
async fn post(
    config: &WebhookConfig,
    tls: Option<&Result<TlsConnector, crate::tls::TlsError>>,
    item: &OutboxItem,
) -> Result<u16, DeliveryError> {
    let stream = TcpStream::connect((config.host.as_str(), config.port))
        .await
        .map_err(DeliveryError::Connect)?;
    match tls {
        None => send(stream, config, item).await,
        Some(Err(e)) => Err(DeliveryError::Tls(e.to_string())),
        Some(Ok(connector)) => {
            let name = ServerName::try_from(config.host.clone())
                .map_err(|_| DeliveryError::Tls(format!("{:?} is not a TLS name", config.host)))?;
            let stream = connector
                .connect(name, stream)
                .await
                .map_err(|e| DeliveryError::Tls(e.to_string()))?;
            send(stream, config, item).await
        }
    }
}

/// The POST itself, over a plain or TLS connection.
async fn send<S>(stream: S, config: &WebhookConfig, item: &OutboxItem) -> Result<u16, DeliveryError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(DeliveryError::Handshake)?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let default_port = if config.secure { 443 } else { 80 };
    let host = if config.port == default_port {
        config.host.clone()
    } else {
        format!("{}:{}", config.host, config.port)
    };
    let mut request = Request::post(config.path.as_str())
        .header("host", host)
        .header("content-type", "application/json")
        .header("user-agent", concat!("recall/", env!("CARGO_PKG_VERSION")))
        .header("x-recall-event", item.event.as_str())
        .header("x-recall-delivery", item.id.to_string())
        .header("x-recall-interaction", item.interaction.to_string());
    if let Some(token) = &config.token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request
        .body(Full::new(Bytes::from(item.body.clone())))
        .map_err(DeliveryError::Request)?;
    let response = sender
        .send_request(request)
        .await
        .map_err(DeliveryError::Http)?;
    Ok(response.status().as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_read_or_say_what_is_wrong() {
        let ok = WebhookConfig::new("http://127.0.0.1:9000/gms/outcome", None).expect("url");
        assert_eq!(
            (ok.host.as_str(), ok.port, ok.path.as_str()),
            ("127.0.0.1", 9000, "/gms/outcome")
        );
        let bare = WebhookConfig::new("http://gms.example", None).expect("url");
        assert_eq!((bare.port, bare.path.as_str()), (80, "/"));
        let secure = WebhookConfig::new("https://gms.example/x", None).expect("url");
        assert_eq!(
            (secure.port, secure.url().as_str()),
            (443, "https://gms.example:443/x")
        );
        let v6 = WebhookConfig::new("http://[::1]:8081/x", None).expect("url");
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 8081));
        assert_eq!(v6.url(), "http://[::1]:8081/x");
        for (url, says) in [
            ("ftp://gms.example/x", "is not an http:// or https:// URL"),
            ("http://host:port/x", "is not a number"),
            ("http:///x", "has no host"),
        ] {
            let error = WebhookConfig::new(url, None).expect_err(url).to_string();
            assert!(error.contains(says), "{url}: {error}");
        }
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let config = WebhookConfig::new("http://h/x", Some("s3cret".to_owned())).expect("url");
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn retries_back_off_doubling_up_to_five_minutes() {
        let waits: Vec<u64> = (1..=12).map(|n| retry_delay(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(retry_delay(u32::MAX), MAX_RETRY);
    }

    #[test]
    fn only_client_errors_other_than_408_and_429_are_given_up() {
        assert_eq!(verdict(200), Verdict::Delivered);
        assert_eq!(verdict(204), Verdict::Delivered);
        assert_eq!(verdict(400), Verdict::GiveUp("HTTP 400".to_owned()));
        assert_eq!(verdict(408), Verdict::Retry("HTTP 408".to_owned()));
        assert_eq!(verdict(429), Verdict::Retry("HTTP 429".to_owned()));
        assert_eq!(verdict(500), Verdict::Retry("HTTP 500".to_owned()));
        assert_eq!(verdict(302), Verdict::Retry("HTTP 302".to_owned()));
    }
}
