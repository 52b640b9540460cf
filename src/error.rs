//! The binary's own failures at start-up and with files: each says in one line what failed
//! and where, and keeps the error underneath as its source.

use std::path::Path;

use crate::config::ConfigError;

/// Why recall (the desktop, the demo, a seed or an export) could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A file or directory could not be read, written or created.
    #[error("cannot {action} {path}: {source}")]
    File {
        /// `read`, `write` or `create`.
        action: &'static str,
        /// Which.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// Neither the XDG variable nor `HOME` says where the user's files go.
    #[error("neither {0} nor HOME is set")]
    NoHome(&'static str),
    /// No free UDP port on loopback.
    #[error("no free UDP port on loopback: {0}")]
    NoPort(std::io::Error),
    /// A thread or a runtime could not be started.
    #[error("cannot start the {what}: {source}")]
    Spawn {
        /// What was started.
        what: &'static str,
        /// What the system said.
        source: std::io::Error,
    },
    /// A WAV file could not be written.
    #[error("{path}: {source}")]
    Wav {
        /// Which.
        path: String,
        /// What the WAV writer said.
        source: hound::Error,
    },
    /// The config does not read.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The core could not run.
    #[error(transparent)]
    Run(#[from] runtime::RunError),
    /// The core stopped before it was serving.
    #[error("the core stopped at start")]
    Stopped,
}

impl StartError {
    /// A file error, for `map_err`.
    pub fn file(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.display().to_string();
        move |source| Self::File {
            action,
            path,
            source,
        }
    }
}
