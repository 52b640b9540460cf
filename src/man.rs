//! `recall man --out DIR`: the manual pages, rendered from the command line's own definition
//! (clap_mangen), so they cannot drift from `--help`: recall(1) and one page per command
//! (recall-desktop(1), recall-headless(1), …). The Debian package ships them.

use std::path::{Path, PathBuf};

/// Writes recall.1 and recall-COMMAND.1 into `out` (made if missing); returns the files.
///
/// # Errors
/// The directory or a page cannot be written.
pub(crate) fn write(mut command: clap::Command, out: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out)?;
    command.build();
    let name = command.get_name().to_owned();
    let mut written = vec![page(&command, &name, out)?];
    for sub in command.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        let full = format!("{name}-{}", sub.get_name());
        let sub = sub
            .clone()
            .name(full.clone())
            .bin_name(format!("{name} {}", sub.get_name()));
        written.push(page(&sub, &full, out)?);
    }
    Ok(written)
}

fn page(command: &clap::Command, name: &str, out: &Path) -> std::io::Result<PathBuf> {
    let mut roff = Vec::new();
    clap_mangen::Man::new(command.clone())
        .section("1")
        .manual("recall manual")
        .render(&mut roff)?;
    let path = out.join(format!("{name}.1"));
    std::fs::write(&path, roff)?;
    Ok(path)
}
