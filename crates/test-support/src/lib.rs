//! Test support for recall (dev only): a simulated network with seeded loss, jitter and
//! reordering in virtual time, a seeded impairment relay on real UDP sockets, a scripted
//! registrar that challenges, and the fixture loader.

mod net;
mod postgres;
mod registrar;
mod relay;

pub use net::{Delivery, SimNet};
pub use postgres::{PG_USER, PgCluster};
pub use registrar::ScriptedRegistrar;
pub use relay::{CAPTURE_LIMIT, Captured, Impairment, Relay, RelayStats};

use std::path::PathBuf;

/// The repository's `fixtures/` directory.
#[must_use]
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// Reads a fixture file as bytes; panics with the path when it is missing (a test bug).
#[must_use]
pub fn fixture(relative: &str) -> Vec<u8> {
    let path = fixtures_dir().join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// Reads a SIP fixture written with LF line ends and returns it with CRLF, as on the wire.
/// `{name}` placeholders are replaced from `vars`; `Content-Length` is recomputed when the file
/// says `Content-Length: {len}`.
#[must_use]
pub fn sip_fixture(relative: &str, vars: &[(&str, &str)]) -> Vec<u8> {
    let text = String::from_utf8(fixture(relative)).expect("SIP fixtures are UTF-8");
    let mut text = text.replace("\r\n", "\n");
    for (name, value) in vars {
        text = text.replace(&format!("{{{name}}}"), value);
    }
    let text = text.replace('\n', "\r\n");
    match text.split_once("\r\n\r\n") {
        Some((head, body)) if head.contains("{len}") => format!(
            "{}\r\n\r\n{body}",
            head.replace("{len}", &body.len().to_string())
        )
        .into_bytes(),
        _ => text.into_bytes(),
    }
}
