//! recall: a SIP softphone for contact-centre agents. This file is thin: it reads the command
//! line and the config, sets up logging, and hands over to the runtime.

mod cert;
mod demo;
mod desktop;
mod error;
mod export;
mod hotkeys;
mod man;
mod seed;
mod settings;
mod tray;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};
use recall_config as config;

use crate::config::{Config, parse_listen};

/// mimalloc rather than glibc's malloc: a call's SIP messages, transactions, events and RTP
/// packets are many small short-lived allocations, and under load glibc's bins and
/// consolidation were 8-10 % of the CPU (ARCHITECTURE.md, "Where a call's CPU goes").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A SIP softphone for contact-centre agents, with callback handling built in.
#[derive(Debug, Parser)]
#[command(name = "recall", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Mode>,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// The agent desktop (also what `recall` alone opens, with the user's config).
    Desktop(HeadlessArgs),
    /// The desktop plus an embedded demo PBX on loopback that rings in sample callbacks.
    Demo {
        /// Audio: null, device or device:NAME (the system default device when there is one).
        #[arg(long)]
        audio: Option<String>,
        /// No window: the agent is driven over the control API (for tests).
        #[arg(long)]
        headless: bool,
        /// Where the control API listens (with --headless: 127.0.0.1:8080 unless given).
        #[arg(long)]
        control: Option<SocketAddr>,
        /// The desktop's and the sample data's language: en or es (the locale's unless given).
        #[arg(long)]
        language: Option<String>,
    },
    /// Run without a window, driven by the HTTP control API (labs, tests).
    Headless(HeadlessArgs),
    /// Place one call from the command line and exit with its outcome.
    Call(CallArgs),
    /// Write the interaction history (from the database) as CSV or JSON.
    Export(ExportArgs),
    /// List the sound devices (ids and names for --audio device:NAME and [audio]).
    Devices,
    /// Write a lab CA and a certificate it signed (ca.pem, cert.pem, key.pem) for TLS.
    Cert(CertArgs),
    /// Write the manual pages (recall.1, recall-COMMAND.1) into a directory, for packaging.
    #[command(hide = true)]
    Man {
        /// The directory to write into (made if missing).
        #[arg(long)]
        out: PathBuf,
    },
}

impl Mode {
    /// The agent's own options, for the modes that run the agent (desktop and headless).
    fn agent(&self) -> Option<&HeadlessArgs> {
        match self {
            Mode::Headless(args) | Mode::Desktop(args) => Some(args),
            _ => None,
        }
    }
}

#[derive(Debug, Args)]
struct CertArgs {
    /// The directory to write into (made if missing; existing files are not overwritten).
    #[arg(long)]
    out: PathBuf,
    /// A DNS name or IP address the certificate names (repeat it; default localhost,
    /// 127.0.0.1 and ::1).
    #[arg(long = "name")]
    names: Vec<String>,
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// The interaction database.
    #[arg(long)]
    db: PathBuf,
    /// csv or json.
    #[arg(long, value_enum)]
    format: export::Format,
    /// Only interactions created at or after this RFC 3339 time.
    #[arg(long)]
    from: Option<String>,
    /// Only interactions created before this RFC 3339 time.
    #[arg(long)]
    to: Option<String>,
}

#[derive(Debug, Args)]
struct Common {
    /// The TOML configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Where to receive SIP: udp:IP:PORT or tcp:IP:PORT (repeatable).
    #[arg(long)]
    listen: Vec<String>,
    /// Audio: null, file:IN.wav,OUT.wav, device (the [audio] devices or the system default),
    /// or device:NAME (one device for microphone, headset and ringing).
    #[arg(long, default_value = "null")]
    audio: String,
    /// Log every SIP message sent and received.
    #[arg(long)]
    log_sip: bool,
}

#[derive(Debug, Args)]
struct HeadlessArgs {
    #[command(flatten)]
    common: Common,
    /// Where the control API listens (loopback by default).
    #[arg(long)]
    control: Option<SocketAddr>,
    /// Answer incoming calls by themselves, optionally after SECONDS.
    #[arg(long, num_args = 0..=1, default_missing_value = "0", value_name = "SECONDS")]
    auto_answer: Option<f64>,
    /// The interaction database.
    #[arg(long)]
    db: Option<PathBuf>,
    /// Start an empty directory with DIR/contacts.json and DIR/responses.json (the demo's are
    /// in fixtures/demo).
    #[arg(long, value_name = "DIR")]
    seed: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct CallArgs {
    /// The SIP URI to call.
    uri: String,
    #[command(flatten)]
    common: Common,
    /// Hang up this many seconds after the call is answered.
    #[arg(long)]
    duration: Option<f64>,
    /// DTMF digits to send once connected.
    #[arg(long)]
    dtmf: Option<String>,
}

fn main() -> ExitCode {
    desktop::read_local_offset();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // One line naming the problem, not clap's page of usage.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            eprintln!("recall: {}", first.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    let mode = match cli.command {
        Some(mode) => mode,
        None => match desktop::default_args() {
            Ok(args) => Mode::Desktop(args),
            Err(e) => {
                eprintln!("recall: {e}");
                return ExitCode::from(1);
            }
        },
    };
    // The demo's scratch directory (its database, config, tune) goes when it stops.
    let demo_dir = matches!(mode, Mode::Demo { .. }).then(demo::scratch_dir);
    let mode = match mode {
        Mode::Demo {
            audio,
            headless,
            control,
            language,
        } => {
            let audio = audio.unwrap_or_else(|| desktop::default_audio().to_owned());
            if let Some(code) = language.as_deref()
                && gui::i18n::Language::parse(code).is_none()
            {
                eprintln!("recall: demo: --language {code:?}: use en or es");
                return ExitCode::from(2);
            }
            let language =
                desktop::desk_language(language.as_deref(), |name| std::env::var(name).ok());
            match demo::start(&audio, language) {
                Ok(args) if headless => Mode::Headless(HeadlessArgs { control, ..args }),
                Ok(args) => Mode::Desktop(HeadlessArgs { control, ..args }),
                Err(e) => {
                    eprintln!("recall: demo: {e}");
                    let _ = std::fs::remove_dir_all(demo::scratch_dir());
                    return ExitCode::from(1);
                }
            }
        }
        mode => mode,
    };
    if let Mode::Export(args) = &mode {
        return run_export(args);
    }
    if let Mode::Man { out } = &mode {
        return match man::write(Cli::command(), out) {
            Ok(pages) => {
                for page in pages {
                    println!("{}", page.display());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!(
                    "recall: cannot write the manual pages to {}: {e}",
                    out.display()
                );
                ExitCode::from(1)
            }
        };
    }
    if let Mode::Cert(args) = &mode {
        return match cert::write(&args.out, &args.names) {
            Ok(files) => {
                for file in files {
                    println!("{}", file.display());
                }
                ExitCode::SUCCESS
            }
            Err(e @ cert::CertError::Name(_)) => {
                eprintln!("recall: {e}");
                ExitCode::from(2)
            }
            Err(e) => {
                eprintln!("recall: {e}");
                ExitCode::from(1)
            }
        };
    }
    if let Mode::Devices = &mode {
        return match audio::list() {
            Ok(devices) => {
                print!("{}", audio::describe(&devices));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("recall: {e}");
                ExitCode::from(1)
            }
        };
    }
    let verbose = match &mode {
        Mode::Headless(_) | Mode::Desktop(_) => "info",
        Mode::Call(args) if args.common.log_sip => "info",
        Mode::Call(_)
        | Mode::Export(_)
        | Mode::Devices
        | Mode::Cert(_)
        | Mode::Man { .. }
        | Mode::Demo { .. } => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // rtc-dtls warns of every ClientHello extension it does not model (OpenSSL
                // sends several): noise in an agent's log, so only its errors show.
                .unwrap_or_else(|_| {
                    tracing_subscriber::EnvFilter::new(format!("{verbose},rtc_dtls=error"))
                }),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = run(mode);
    if let Some(dir) = demo_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    match result {
        Ok(code) => code,
        Err(Failure::Usage(message)) => {
            eprintln!("recall: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(message)) => {
            eprintln!("recall: {message}");
            ExitCode::from(1)
        }
    }
}

enum Failure {
    /// Bad flags or config: exit 2.
    Usage(String),
    /// Something failed while running: exit 1.
    Runtime(String),
}

fn run(mode: Mode) -> Result<ExitCode, Failure> {
    let (common, default_listen) = match &mode {
        Mode::Headless(args) | Mode::Desktop(args) => (&args.common, "udp:127.0.0.1:5060"),
        Mode::Call(args) => (&args.common, "udp:127.0.0.1:0"),
        Mode::Export(_) | Mode::Devices | Mode::Cert(_) | Mode::Man { .. } | Mode::Demo { .. } => {
            return Err(Failure::Usage(
                "export and devices run on their own".to_owned(),
            ));
        }
    };
    let config = match &common.config {
        Some(path) => Config::load(path).map_err(|e| Failure::Usage(e.to_string()))?,
        None => Config::default(),
    };
    let tls_files = config
        .tls
        .to_runtime()
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let listen_specs: Vec<String> = if !common.listen.is_empty() {
        common.listen.clone()
    } else if !config.sip.listen.is_empty() {
        config.sip.listen.clone()
    } else {
        vec![default_listen.to_owned()]
    };
    let mut listen = Vec::new();
    for spec in &listen_specs {
        let dest = parse_listen(spec).map_err(|e| Failure::Usage(format!("--listen {e}")))?;
        if dest.transport == sip::Transport::Tls && tls_files.cert.is_none() {
            return Err(Failure::Usage(format!(
                "--listen {spec}: a TLS listener needs [tls] cert and key \
                 (`recall cert --out DIR` makes a set for a lab)"
            )));
        }
        listen.push(runtime::Listen {
            transport: dest.transport,
            addr: dest.addr,
        });
    }
    let audio =
        parse_audio(&common.audio, &config.audio).map_err(|e| Failure::Usage(e.to_string()))?;
    // Config::load checked every account as the phone will use it.
    let accounts = config.accounts.clone();

    let ua = sip::UaConfig {
        user_agent: config.sip.user_agent.clone(),
        t1: Duration::from_millis(config.sip.t1_ms),
        ring_timeout: Duration::from_secs(config.sip.ring_timeout),
        session_expires: config
            .sip
            .session_expires()
            .map_err(|e| Failure::Usage(e.to_string()))?,
        ..sip::UaConfig::default()
    };
    let (auto_answer, control, plan) = match &mode {
        Mode::Headless(args) => {
            let auto = match args.auto_answer {
                Some(s) if !(0.0..=3600.0).contains(&s) => {
                    return Err(Failure::Usage(format!(
                        "--auto-answer {s}: seconds must be between 0 and 3600"
                    )));
                }
                Some(s) => Some(Duration::from_secs_f64(s)),
                None => None,
            };
            let control = args
                .control
                .or(config.control.listen)
                .or_else(|| "127.0.0.1:8080".parse().ok());
            (auto, control, None)
        }
        Mode::Desktop(args) => {
            // The desktop serves the control API only when asked to.
            let auto = args.auto_answer.map(Duration::from_secs_f64);
            (auto, args.control.or(config.control.listen), None)
        }
        Mode::Call(args) => {
            let duration = match args.duration {
                Some(s) if !(0.0..=86_400.0).contains(&s) => {
                    return Err(Failure::Usage(format!(
                        "--duration {s}: seconds must be between 0 and 86400"
                    )));
                }
                Some(s) => Some(Duration::from_secs_f64(s)),
                None => None,
            };
            if let Some(digits) = &args.dtmf {
                media::DtmfDigit::parse_all(digits)
                    .map_err(|e| Failure::Usage(format!("--dtmf: {e}")))?;
            }
            let plan = runtime::CallPlan {
                to: args.uri.clone(),
                duration,
                dtmf: args.dtmf.clone(),
            };
            (None, None, Some(plan))
        }
        Mode::Export(_) | Mode::Devices | Mode::Cert(_) | Mode::Man { .. } | Mode::Demo { .. } => {
            return Err(Failure::Usage(
                "export and devices run on their own".to_owned(),
            ));
        }
    };
    // Whoever reaches the control API places calls and reads the case history: beyond this
    // host it must ask for the token.
    if let Some(addr) = control
        && !addr.ip().is_loopback()
        && config.control.token.as_deref().is_none_or(str::is_empty)
    {
        return Err(Failure::Usage(format!(
            "the control API on {addr} would be reachable beyond this host: set [control] token first"
        )));
    }
    // `--db postgres://…` names the team's database; a SQLite `--db` gives way to
    // `[store] url` (the desktop always passes its own file).
    let (db_path, store_url) = match mode.agent().and_then(|args| args.db.clone()) {
        Some(db) if store::is_server_url(&db.to_string_lossy()) => {
            (None, Some(db.to_string_lossy().into_owned()))
        }
        db => (db, config.store.url.clone()),
    };
    let agent = store_agent(&config);
    let responses_editor = config.store.responses_editor.unwrap_or(store_url.is_none());
    let recording = config
        .recording
        .to_settings(db_path.as_deref())
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let presence = config
        .presence
        .to_settings(&config.desktop.targets)
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let phone_config = engine::PhoneConfig {
        recording,
        presence,
        secure_random: secure_random(),
        udp_keepalive: (config.sip.keepalive_s > 0)
            .then(|| Duration::from_secs(config.sip.keepalive_s)),
        stun: config
            .sip
            .stun()
            .map_err(|e| Failure::Usage(e.to_string()))?
            .map(|server| {
                let every = match config.sip.keepalive_s {
                    0 => 30,
                    s => s,
                };
                (server, Duration::from_secs(every))
            }),
        ua,
        accounts,
        auto_answer,
        media_ip: config.media.rtp_ip,
        audio: Box::new(engine::NullAudio),
        media: with_dtls_certificate(
            config
                .media
                .to_settings()
                .map_err(|e| Failure::Usage(e.to_string()))?,
        ),
        keep_ended: 1000,
        limits: config
            .limits
            .to_limits(match mode {
                Mode::Headless(_) => engine::Limits::HEADLESS,
                _ => engine::Limits::DESKTOP,
            })
            .map_err(|e| Failure::Usage(e.to_string()))?,
        seed: rng_seed(),
        callbacks: config.callbacks.to_settings(),
        wall_clock: time::OffsetDateTime::now_utc(),
    };
    let runtime_config = runtime::RuntimeConfig {
        // A one-off `recall call` leaves the headset to the agent's desktop.
        headset: match &mode {
            Mode::Call(_) => runtime::HeadsetChoice::Off,
            _ => config
                .headset
                .to_choice()
                .map_err(|e| Failure::Usage(e.to_string()))?,
        },
        dns_servers: config
            .dns
            .addresses()
            .map_err(|e| Failure::Usage(e.to_string()))?,
        tls: tls_files.clone(),
        keepalive: (config.sip.keepalive_s > 0)
            .then(|| Duration::from_secs(config.sip.keepalive_s)),
        listen,
        control,
        token: config.control.token.clone(),
        rtp_ip: config.media.rtp_ip,
        audio,
        log_sip: common.log_sip,
        db: mode.agent().and(db_path.clone()),
        store_url,
        agent,
        case_keys: config.store.case_keys.clone(),
        callback_lease: Duration::from_secs(config.store.lease_s),
        responses_editor,
        directory: match mode.agent() {
            Some(_) => config.directory.to_runtime(),
            None => None,
        },
        webhook: match mode.agent() {
            Some(_) => config
                .webhook
                .to_runtime(config.tls.ca.as_deref())
                .map_err(|e| Failure::Usage(e.to_string()))?,
            None => None,
        },
        seed: match &mode {
            Mode::Headless(HeadlessArgs {
                seed: Some(dir), ..
            })
            | Mode::Desktop(HeadlessArgs {
                seed: Some(dir), ..
            }) => Some(seed::read(dir).map_err(|e| Failure::Usage(e.to_string()))?),
            _ => None,
        },
        desk: None,
        settings: match &mode {
            Mode::Desktop(_) | Mode::Headless(_) => Some(Box::new(
                settings::ConfigFile::new(common.config.clone(), config.clone())
                    .map_err(|e| Failure::Usage(e.to_string()))?,
            )),
            _ => None,
        },
    };
    if let Mode::Desktop(_) = &mode {
        return desktop::run(
            phone_config,
            runtime_config,
            desktop::desk_settings(&config),
            (
                config.desktop.accept_shortcut.clone(),
                config.desktop.reject_shortcut.clone(),
            ),
        );
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(format!("cannot start the runtime: {e}")))?;
    let outcome = rt
        .block_on(runtime::run(
            phone_config,
            runtime_config,
            plan,
            shutdown_signal(),
        ))
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    Ok(match outcome {
        None | Some(runtime::CallOutcome::Completed) => ExitCode::SUCCESS,
        Some(runtime::CallOutcome::Failed(reason)) => {
            eprintln!("recall: call failed: {reason}");
            ExitCode::from(1)
        }
    })
}

fn run_export(args: &ExportArgs) -> ExitCode {
    let bound = |value: &Option<String>, flag: &str| {
        value
            .as_deref()
            .map(export::parse_time)
            .transpose()
            .map_err(|e| format!("{flag} {e}"))
    };
    let range = bound(&args.from, "--from").and_then(|from| Ok((from, bound(&args.to, "--to")?)));
    let (from, to) = match range {
        Ok(range) => range,
        Err(e) => {
            eprintln!("recall: {e}");
            return ExitCode::from(2);
        }
    };
    let stdout = std::io::stdout();
    match export::export(&args.db, args.format, from, to, &mut stdout.lock()) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("recall: {e}");
            ExitCode::from(1)
        }
    }
}

/// What is wrong with `--audio`.
#[derive(Debug, thiserror::Error)]
enum AudioFlagError {
    #[error("--audio device: needs a device name after the colon (see `recall devices`)")]
    NoDeviceName,
    #[error("--audio {0:?}: expected null, device, device:NAME or file:IN.wav,OUT.wav")]
    Unknown(String),
    #[error("--audio {0:?}: expected file:IN.wav,OUT.wav (two files)")]
    NotTwoFiles(String),
    #[error("--audio: input file {0} does not exist")]
    NoInput(String),
}

fn parse_audio(
    text: &str,
    devices: &config::AudioSection,
) -> Result<runtime::AudioSpec, AudioFlagError> {
    match text {
        "null" => Ok(runtime::AudioSpec::Null),
        "device" => Ok(runtime::AudioSpec::Device(audio::DeviceChoice {
            input: devices.input.clone(),
            output: devices.output.clone(),
            ring: devices.ring.clone(),
        })),
        _ if text.starts_with("device:") => {
            let name = text.trim_start_matches("device:");
            if name.is_empty() {
                return Err(AudioFlagError::NoDeviceName);
            }
            Ok(runtime::AudioSpec::Device(audio::DeviceChoice {
                input: Some(name.to_owned()),
                output: Some(name.to_owned()),
                ring: None,
            }))
        }
        _ => {
            let files = text
                .strip_prefix("file:")
                .ok_or_else(|| AudioFlagError::Unknown(text.to_owned()))?;
            let (input, output) = files
                .split_once(',')
                .ok_or_else(|| AudioFlagError::NotTwoFiles(text.to_owned()))?;
            let input = PathBuf::from(input);
            if !input.is_file() {
                return Err(AudioFlagError::NoInput(input.display().to_string()));
            }
            Ok(runtime::AudioSpec::File {
                input,
                output: PathBuf::from(output),
            })
        }
    }
}

/// Seeds tags, branches and SSRCs: different every run, as RFC 3261 and RFC 3550 want.
fn rng_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// The media settings with this run's DTLS certificate (RFC 5763: self-signed, made afresh
/// each run; an account may turn encryption on where `[media]` has it off, so it is always
/// made, a millisecond's work). Without one, offers keyed by DTLS are refused with a reason
/// and SDES goes on working.
pub(crate) fn with_dtls_certificate(mut media: engine::MediaSettings) -> engine::MediaSettings {
    match media::DtlsIdentity::generate() {
        Ok(identity) => media.dtls_identity = Some(identity),
        Err(e) => tracing::warn!(error = %e, "no DTLS certificate this run; DTLS-SRTP is off"),
    }
    media
}

/// The OS's cryptographically secure generator (getrandom, through ring), for SRTP keys.
pub(crate) fn secure_random() -> engine::SecureRandom {
    let source = ring::rand::SystemRandom::new();
    Box::new(move |bytes: &mut [u8]| ring::rand::SecureRandom::fill(&source, bytes).is_ok())
}

/// This agent's name in the store: `[store] agent`, else the first account's user name (or
/// the user part of its address), else the host's name.
fn store_agent(config: &recall_config::Config) -> String {
    if let Some(agent) = &config.store.agent {
        return agent.trim().to_owned();
    }
    let from_account = config.accounts.iter().find_map(|account| {
        let user = if account.username.is_empty() {
            let aor = account
                .aor
                .trim_start_matches("sips:")
                .trim_start_matches("sip:");
            aor.split_once('@').map_or("", |(user, _)| user)
        } else {
            account.username.as_str()
        };
        (!user.is_empty()).then(|| user.to_owned())
    });
    from_account.unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "agent".to_owned())
    })
}
