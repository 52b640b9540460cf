//! What the Debian package installs besides the binary: manual pages rendered from the command
//! line itself, a desktop entry that `desktop-file-validate` accepts and whose command runs, and
//! the icon it names. (`scripts/package.sh` builds the .deb itself with cargo-deb.)

use std::path::PathBuf;
use std::process::Command;

use crate::support::{recall, require, scratch};

fn packaging(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("packaging")
        .join(file)
}

#[test]
fn the_manual_pages_cover_every_command_and_render_cleanly() {
    let dir = scratch("man");
    let output = recall()
        .args(["man", "--out"])
        .arg(&dir)
        .output()
        .expect("run recall man");
    assert!(output.status.success(), "{output:?}");
    let mut pages: Vec<String> = std::fs::read_dir(&dir)
        .expect("pages")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    assert_eq!(
        pages,
        [
            "recall-call.1",
            "recall-cert.1",
            "recall-demo.1",
            "recall-desktop.1",
            "recall-devices.1",
            "recall-export.1",
            "recall-headless.1",
            "recall.1",
        ],
        "one page per command, none for `man` or `help`"
    );
    let read = |page: &str| std::fs::read_to_string(dir.join(page)).expect("page");
    let top = read("recall.1");
    assert!(
        top.starts_with(".ie") || top.contains(".TH recall 1"),
        "{top}"
    );
    assert!(
        top.contains("SIP softphone for contact\\-centre agents"),
        "{top}"
    );
    assert!(read("recall-headless.1").contains("\\-\\-control"));
    assert!(read("recall-cert.1").contains("\\-\\-out"));

    // man(1)'s formatter reads every page without a warning.
    require("groff");
    for page in &pages {
        let output = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(dir.join(page))
            .output()
            .expect("groff");
        assert!(output.status.success(), "{page}: {output:?}");
        let warnings = String::from_utf8_lossy(&output.stderr);
        assert!(warnings.trim().is_empty(), "{page}: {warnings}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_desktop_entry_validates_and_its_command_and_icon_exist() {
    require("desktop-file-validate");
    let entry = packaging("recall.desktop");
    let output = Command::new("desktop-file-validate")
        .arg(&entry)
        .output()
        .expect("desktop-file-validate");
    assert!(output.status.success(), "{output:?}");
    assert!(
        output.stdout.is_empty() && output.stderr.is_empty(),
        "no hints either: {output:?}"
    );
    let text = std::fs::read_to_string(&entry).expect("entry");
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{key} in {text}"))
            .to_owned()
    };
    // Exec names the installed binary and a command it has.
    let exec = field("Exec");
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some("recall"), "{exec}");
    let args: Vec<&str> = words.collect();
    let output = recall().args(&args).arg("--help").output().expect("recall");
    assert!(output.status.success(), "{exec}: {output:?}");
    // The icon it names is in the package, as an SVG.
    let icon = field("Icon");
    let svg = std::fs::read_to_string(packaging(&format!("{icon}.svg"))).expect("the icon");
    assert!(svg.contains("<svg") && svg.trim_end().ends_with("</svg>"));
    // And cargo-deb's asset list ships the three of them.
    let manifest =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .expect("Cargo.toml");
    for asset in [
        "[\"packaging/recall.desktop\", \"usr/share/applications/\"",
        "[\"packaging/recall.svg\", \"usr/share/icons/hicolor/scalable/apps/\"",
        "[\"target/man/*.1\", \"usr/share/man/man1/\"",
        "[\"target/release/recall\", \"usr/bin/\"",
    ] {
        assert!(manifest.contains(asset), "{asset}");
    }
}
