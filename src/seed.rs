//! `--seed DIR`: the contacts and standard responses a fresh database starts with, read from
//! `DIR/contacts.json` and `DIR/responses.json` (the demo's are in `fixtures/demo/`).

use std::path::Path;

use serde::de::DeserializeOwned;

/// A seed file that cannot be used, named with its reason.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// It cannot be read.
    #[error("seed file {path}: {source}")]
    Read {
        /// Which.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// It is not the JSON list it should be.
    #[error("seed file {path}: {source}")]
    Json {
        /// Which.
        path: String,
        /// What the JSON reader said.
        source: serde_json::Error,
    },
}

/// Reads both files; a missing or unreadable one is named in the error with its reason.
pub fn read(dir: &Path) -> Result<runtime::Seed, SeedError> {
    Ok(runtime::Seed {
        contacts: read_list(&dir.join("contacts.json"))?,
        responses: read_list(&dir.join("responses.json"))?,
    })
}

fn read_list<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, SeedError> {
    let name = || path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| SeedError::Read {
        path: name(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| SeedError::Json {
        path: name(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_seed_reads_and_a_bad_file_is_named() {
        let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo");
        let seed = read(&demo).expect("demo seed");
        assert!(seed.contacts.len() >= 5, "{seed:?}");
        assert!(seed.responses.len() >= 5, "{seed:?}");
        assert!(
            seed.contacts
                .iter()
                .all(|c| !c.name.is_empty() && !c.numbers.is_empty())
        );

        let dir = std::env::temp_dir().join(format!("recall-seed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("contacts.json"), "[{\"name\": 7}]").expect("write");
        let error = read(&dir).expect_err("bad contacts").to_string();
        assert!(
            error.starts_with("seed file ") && error.contains("contacts.json"),
            "{error}"
        );
        assert!(error.contains("line 1"), "{error}");
        std::fs::write(dir.join("contacts.json"), "[]").expect("write");
        let error = read(&dir).expect_err("no responses").to_string();
        assert!(error.contains("responses.json"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
