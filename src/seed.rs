//! `--seed DIR`: the contacts and standard responses a fresh database starts with, read from
//! `DIR/contacts.json` and `DIR/responses.json` (the demo's are in `fixtures/demo/`).

use std::path::Path;

use serde::de::DeserializeOwned;

/// Reads both files; a missing or unreadable one is named in the error with its reason.
pub fn read(dir: &Path) -> Result<runtime::Seed, String> {
    Ok(runtime::Seed {
        contacts: read_list(&dir.join("contacts.json"))?,
        responses: read_list(&dir.join("responses.json"))?,
    })
}

fn read_list<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("seed file {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("seed file {}: {e}", path.display()))
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
        let error = read(&dir).expect_err("bad contacts");
        assert!(
            error.starts_with("seed file ") && error.contains("contacts.json"),
            "{error}"
        );
        assert!(error.contains("line 1"), "{error}");
        std::fs::write(dir.join("contacts.json"), "[]").expect("write");
        let error = read(&dir).expect_err("no responses");
        assert!(error.contains("responses.json"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
