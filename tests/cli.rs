//! The command line: bad flags and bad config stop with one line naming the problem, exit 2.

use crate::support::{recall, scratch};

fn run(args: &[&str]) -> (Option<i32>, String) {
    let output = recall().args(args).output().expect("run recall");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bad_flags_and_config_stop_with_one_line_and_exit_2() {
    let dir = scratch("cli");
    let bad_toml = dir.join("bad.toml");
    std::fs::write(&bad_toml, "[sip]\nt1_ms = \"fast\"\n").expect("write");
    let bad_account = dir.join("account.toml");
    std::fs::write(
        &bad_account,
        "[[accounts]]\nname = \"desk\"\naor = \"sip:1001@pbx.example\"\npassword = \"x\"\nregistrar = \"sip:pbx.example;transport=sctp\"\n",
    )
    .expect("write");
    let unknown_key = dir.join("unknown.toml");
    std::fs::write(&unknown_key, "[sip]\nlisten_on = []\n").expect("write");
    let missing_ca = dir.join("missing-ca.toml");
    std::fs::write(&missing_ca, "[tls]\nca = \"/nonexistent/ca.pem\"\n").expect("write");
    let bad_dns = dir.join("bad-dns.toml");
    std::fs::write(&bad_dns, "[dns]\nservers = [\"nowhere\"]\n").expect("write");
    let bad_stun = dir.join("bad-stun.toml");
    std::fs::write(&bad_stun, "[sip]\nstun_server = \"stun.example.com\"\n").expect("write");
    let bad_headset = dir.join("bad-headset.toml");
    std::fs::write(&bad_headset, "[headset]\ndevice = \"hidraw3\"\n").expect("write");
    let bad_language = dir.join("bad-language.toml");
    std::fs::write(&bad_language, "[desktop]\nlanguage = \"fr\"\n").expect("write");
    let bad_theme = dir.join("bad-theme.toml");
    std::fs::write(&bad_theme, "[desktop]\ntheme = \"neon\"\nscale = 125\n").expect("write");
    let bad_scale = dir.join("bad-scale.toml");
    std::fs::write(&bad_scale, "[desktop]\nscale = 1000\n").expect("write");
    let bad_shortcut = dir.join("bad-shortcut.toml");
    std::fs::write(
        &bad_shortcut,
        "[desktop]\naccept_shortcut = \"Ctrl+Banana\"\n",
    )
    .expect("write");
    let bad_store = dir.join("bad-store.toml");
    std::fs::write(&bad_store, "[store]\nurl = \"mysql://db/recall\"\n").expect("write");
    let bad_agent = dir.join("bad-agent.toml");
    std::fs::write(&bad_agent, "[store]\nagent = \"  \"\n").expect("write");
    let cases: [(&[&str], &str); 21] = [
        (
            &["headless", "--config", bad_store.to_str().expect("utf8")],
            "config: store.url is \"mysql://db/recall\"; use postgres://user@host:port/database (a SQLite file is --db PATH)",
        ),
        (
            &["headless", "--config", bad_agent.to_str().expect("utf8")],
            "config: store.agent is \"  \"; a name of 1 to 200 characters, such as the agent's login",
        ),
        (
            &["desktop", "--config", bad_shortcut.to_str().expect("utf8")],
            "config: desktop.accept_shortcut is \"Ctrl+Banana\": ",
        ),
        (
            &["headless", "--config", bad_theme.to_str().expect("utf8")],
            "config: desktop.theme is \"neon\"; use \"dark\", \"light\" or \"high_contrast\"",
        ),
        (
            &["headless", "--config", bad_scale.to_str().expect("utf8")],
            "config: desktop.scale is 1000; a percentage from 50 to 300, e.g. 125",
        ),
        (
            &["headless", "--config", bad_language.to_str().expect("utf8")],
            "config: desktop.language is \"fr\"; use \"auto\" (the locale's), \"en\" or \"es\"",
        ),
        (
            &["headless", "--config", bad_headset.to_str().expect("utf8")],
            "config: headset.device is hidraw3; use \"auto\", \"off\" or a device node such as \"/dev/hidraw3\"",
        ),
        (
            &["headless", "--control", "0.0.0.0:18080"],
            "the control API on 0.0.0.0:18080 would be reachable beyond this host: set [control] token first",
        ),
        (&["headless", "--bogus"], "unexpected argument '--bogus'"),
        (
            &["headless", "--listen", "udp:nowhere"],
            "--listen \"udp:nowhere\" is not transport:IP:PORT",
        ),
        (
            &["headless", "--listen", "tls:127.0.0.1:5061"],
            "a TLS listener needs [tls] cert and key",
        ),
        (
            &["headless", "--audio", "speakers"],
            "--audio \"speakers\": expected null, device, device:NAME or file:IN.wav,OUT.wav",
        ),
        (
            &["headless", "--auto-answer=soon"],
            "invalid value 'soon' for '--auto-answer",
        ),
        (
            &["headless", "--config", "/nonexistent/recall.toml"],
            "config: cannot read /nonexistent/recall.toml",
        ),
        (
            &["headless", "--config", bad_toml.to_str().expect("utf8")],
            "invalid type: string \"fast\", expected u64",
        ),
        (
            &["headless", "--config", bad_account.to_str().expect("utf8")],
            "account \"desk\": registrar \"sip:pbx.example;transport=sctp\" must look like sip:host",
        ),
        (
            &["headless", "--config", bad_dns.to_str().expect("utf8")],
            "config: dns.servers is nowhere; each must be IP:PORT",
        ),
        (
            &["headless", "--config", bad_stun.to_str().expect("utf8")],
            "config: sip.stun_server is stun.example.com; it must be IP:PORT",
        ),
        (
            &["headless", "--config", missing_ca.to_str().expect("utf8")],
            "[tls] ca /nonexistent/ca.pem: ",
        ),
        (
            &[
                "cert",
                "--out",
                "/tmp/recall-cli-cert",
                "--name",
                "not a name!",
            ],
            "--name \"not a name!\": ",
        ),
        (
            &["headless", "--config", unknown_key.to_str().expect("utf8")],
            "unknown field `listen_on`",
        ),
    ];
    for (args, expected) in cases {
        let (code, stderr) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "{args:?}: one line, got: {stderr}"
        );
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(stderr.starts_with("recall: "), "{args:?}: {stderr}");
    }
}

#[test]
fn help_and_version_exit_zero() {
    let (code, _) = run(&["--version"]);
    assert_eq!(code, Some(0));
    let output = recall().arg("--help").output().expect("run");
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("headless") && help.contains("call"));
}

#[test]
fn recall_alone_writes_a_first_config_and_with_no_display_says_so_in_one_line() {
    let dir = scratch("desktop-first-run");
    let output = recall()
        .env("HOME", &dir)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("RUST_LOG", "off")
        .output()
        .expect("run recall");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("recall: cannot open the desktop window"),
        "{stderr}"
    );
    let config = std::fs::read_to_string(dir.join(".config/recall/config.toml"))
        .expect("the first run writes a config");
    assert!(config.contains("disposition_mandatory = true"), "{config}");
    assert!(dir.join(".local/share/recall").is_dir());
}
