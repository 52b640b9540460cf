//! `recall demo`: the desktop plus an embedded demo PBX on loopback. The PBX is a second phone
//! (the same engine, on its own thread): it rings the agent with a callback of every type
//! carrying realistic attached data, one after another, and answers whatever the agent calls
//! (customers, queues, a supervisor) with a tune, echoing the agent's DTMF digits; no external
//! server, nothing registered.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::Duration;

use api::{Command, Delivery, Event, Request};

use crate::error::StartError;
use crate::{Common, HeadlessArgs};

/// The demo's contacts and responses, inside the binary, in English and in Spanish.
const CONTACTS: &str = include_str!("../fixtures/demo/contacts.json");
const RESPONSES: &str = include_str!("../fixtures/demo/responses.json");
const CONTACTS_ES: &str = include_str!("../fixtures/demo/es/contacts.json");
const RESPONSES_ES: &str = include_str!("../fixtures/demo/es/responses.json");

/// A sample callback: type, customer number, attached data (plain text; percent-encoded
/// when sent).
type Sample = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// The callbacks the PBX rings in, in turn, with their reason and instructions in English
/// and in Spanish.
const CALLBACKS: [(Sample, [(&str, &str); 2]); 5] = [
    (
        (
            "immediate",
            "+1 555 0100",
            &[
                ("CaseID", "4711"),
                ("AccountNumber", "88-2034-17"),
                ("Language", "es"),
                ("_service_name", "Hardware"),
            ],
        ),
        [
            ("Router replacement", "Confirm the delivery address first"),
            (
                "Cambio de router",
                "Confirme primero la dirección de entrega",
            ),
        ],
    ),
    (
        (
            "scheduled",
            "+1 555 0103",
            &[
                ("CaseID", "4718"),
                ("AccountNumber", "17-5521-02"),
                ("Language", "de"),
                ("_desired_time", "2026-12-24T09:00:00+01:00"),
                ("_service_name", "Sales"),
            ],
        ),
        [
            (
                "Contract renewal",
                "Customer travels; confirm the time zone",
            ),
            (
                "Renovación del contrato",
                "El cliente viaja; confirme la zona horaria",
            ),
        ],
    ),
    (
        (
            "preview",
            "+1 555 0104",
            &[
                ("CaseID", "4720"),
                ("AccountNumber", "4711-B"),
                ("Language", "en"),
                ("_service_name", "Billing"),
            ],
        ),
        [
            ("Invoice dispute", "Ask for the purchase order number"),
            ("Reclamación de factura", "Pida el número de pedido"),
        ],
    ),
    (
        (
            "delayed",
            "+1 555 0102",
            &[
                ("CaseID", "4725"),
                ("Language", "en"),
                ("_service_name", "Support"),
            ],
        ),
        [("Slow broadband", ""), ("Banda ancha lenta", "")],
    ),
    (
        (
            "web",
            "+1 555 0105",
            &[
                ("CaseID", "4731"),
                ("Language", "ja"),
                ("_service_name", "Orders"),
            ],
        ),
        [
            (
                "Web form: cancel order",
                "First contact; came in from the web form",
            ),
            (
                "Formulario web: cancelar pedido",
                "Primer contacto; llegó por el formulario web",
            ),
        ],
    ),
];

/// Percent-encodes an attached-data value (UTF-8 bytes; letters, digits and `-._~` stay).
fn encode(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Where the demo keeps its database, config and tune while it runs.
pub fn scratch_dir() -> PathBuf {
    std::env::temp_dir().join(format!("recall-demo-{}", std::process::id()))
}

fn free_udp_port() -> Result<SocketAddr, StartError> {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map_err(StartError::NoPort)
}

/// Starts the demo PBX and returns the desktop's arguments (a fresh database, the demo's
/// directory, dialling and Team Communicator targets at the PBX).
pub fn start(audio: &str, language: gui::i18n::Language) -> Result<HeadlessArgs, StartError> {
    let spanish = language == gui::i18n::Language::Spanish;
    let dir = scratch_dir();
    std::fs::create_dir_all(dir.join("seed")).map_err(StartError::file("create", &dir))?;
    let write = |path: PathBuf, text: &str| {
        std::fs::write(&path, text).map_err(StartError::file("write", &path))
    };
    let (contacts, responses) = if spanish {
        (CONTACTS_ES, RESPONSES_ES)
    } else {
        (CONTACTS, RESPONSES)
    };
    write(dir.join("seed/contacts.json"), contacts)?;
    write(dir.join("seed/responses.json"), responses)?;
    let names = if spanish {
        [
            "Cola de facturación",
            "Soporte de nivel 2",
            "Supervisor (Sam)",
            "Punto de enrutamiento de retención",
        ]
    } else {
        [
            "Billing queue",
            "Tier 2 support",
            "Supervisor (Sam)",
            "Retention routing point",
        ]
    };
    let agent = free_udp_port()?;
    let pbx = free_udp_port()?;
    write(
        dir.join("demo.toml"),
        &format!(
            r#"[callbacks]
disposition_mandatory = true
dial_domain = "{pbx}"

[desktop]
language = "{code}"

[[desktop.contact_fields]]
key = "plan"
label = "Plan"

[[desktop.contact_fields]]
key = "since"
label = "{since}"

[[desktop.targets]]
name = "{billing}"
kind = "queue"
uri = "sip:billing@{pbx}"

[[desktop.targets]]
name = "{tier2}"
kind = "queue"
uri = "sip:tier2@{pbx}"

[[desktop.targets]]
name = "{supervisor}"
kind = "agent"
uri = "sip:supervisor@{pbx}"

[[desktop.targets]]
name = "{retention}"
kind = "routing point"
uri = "sip:7001@{pbx}"
"#,
            code = language.code(),
            billing = names[0],
            tier2 = names[1],
            supervisor = names[2],
            retention = names[3],
            since = if spanish {
                "Cliente desde"
            } else {
                "Customer since"
            },
        ),
    )?;
    let tune = dir.join("pbx-tune.wav");
    write_tune(&tune).map_err(|source| StartError::Wav {
        path: tune.display().to_string(),
        source,
    })?;
    spawn_pbx(
        pbx,
        agent,
        &tune,
        &dir.join("pbx-heard.wav"),
        usize::from(spanish),
    )?;
    Ok(HeadlessArgs {
        common: Common {
            config: Some(dir.join("demo.toml")),
            listen: vec![format!("udp:{agent}")],
            audio: audio.to_owned(),
            log_sip: false,
        },
        control: None,
        auto_answer: None,
        db: Some(dir.join("demo.db")),
        seed: Some(dir.join("seed")),
    })
}

/// Ten seconds of a calm tune at 8 kHz: what a customer or a queue "says".
fn write_tune(path: &Path) -> Result<(), hound::Error> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut wav = hound::WavWriter::create(path, spec)?;
    let notes = [392.0f32, 440.0, 494.0, 523.0, 494.0, 440.0, 392.0, 0.0];
    for i in 0..80_000u32 {
        let note = notes[(i / 10_000) as usize % notes.len()];
        let t = i as f32 / 8000.0;
        let within = (i % 10_000) as f32 / 10_000.0;
        let envelope = (within * 20.0).min(1.0) * ((1.0 - within) * 5.0).min(1.0);
        let sample = (t * note * std::f32::consts::TAU).sin() * 6000.0 * envelope;
        wav.write_sample(sample as i16)?;
    }
    wav.finalize()
}

fn spawn_pbx(
    pbx: SocketAddr,
    agent: SocketAddr,
    tune: &Path,
    heard: &Path,
    words: usize,
) -> Result<(), StartError> {
    let config = crate::config::Config::default();
    let phone_config = engine::PhoneConfig {
        stun: None,
        udp_keepalive: None,
        secure_random: crate::secure_random(),
        ua: sip::UaConfig {
            user_agent: "recall demo PBX".to_owned(),
            ..sip::UaConfig::default()
        },
        accounts: Vec::new(),
        auto_answer: Some(Duration::from_secs(1)),
        media_ip: config.media.rtp_ip,
        audio: Box::new(engine::NullAudio),
        media: crate::with_dtls_certificate(config.media.to_settings()?),
        keep_ended: 100,
        limits: engine::Limits::DESKTOP,
        recording: engine::RecordingSettings::default(),
        presence: engine::PresenceSettings::default(),
        seed: crate::rng_seed() ^ 0x5eed,
        callbacks: engine::CallbackSettings::default(),
        wall_clock: time::OffsetDateTime::now_utc(),
    };
    let (requests_tx, requests_rx) = tokio::sync::mpsc::unbounded_channel();
    let (deliveries_tx, deliveries_rx) = std::sync::mpsc::channel();
    let runtime_config = runtime::RuntimeConfig {
        // The demo PBX has no headset; the agent's desktop does.
        headset: runtime::HeadsetChoice::Off,
        tls: runtime::tls::TlsFiles::default(),
        keepalive: None,
        listen: vec![runtime::Listen {
            transport: sip::Transport::Udp,
            addr: pbx,
        }],
        control: None,
        token: None,
        rtp_ip: config.media.rtp_ip,
        audio: runtime::AudioSpec::File {
            input: tune.to_owned(),
            output: heard.to_owned(),
        },
        log_sip: false,
        db: None,
        store_url: None,
        agent: "pbx".to_owned(),
        case_keys: Vec::new(),
        callback_lease: std::time::Duration::from_secs(30),
        directory: None,
        responses_editor: true,
        webhook: None,
        seed: None,
        settings: None,
        dns_servers: Vec::new(),
        desk: Some(runtime::Desk {
            requests: requests_rx,
            post: Box::new(move |delivery| {
                let _ = deliveries_tx.send(delivery);
            }),
        }),
    };
    std::thread::Builder::new()
        .name("demo-pbx".to_owned())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            let result = rt.block_on(runtime::run(
                phone_config,
                runtime_config,
                None,
                std::future::pending::<()>(),
            ));
            if let Err(e) = result {
                tracing::error!(error = %e, "the demo PBX stopped");
            }
        })
        .map_err(|source| StartError::Spawn {
            what: "demo PBX",
            source,
        })?;
    std::thread::Builder::new()
        .name("demo-script".to_owned())
        .spawn(move || ring_in_turn(agent, words, &requests_tx, &deliveries_rx))
        .map_err(|source| StartError::Spawn {
            what: "demo PBX",
            source,
        })?;
    Ok(())
}

/// Rings the agent with the next callback once the PBX has no call of its own to the agent
/// left: a few seconds after start, then a little while after each ends.
fn ring_in_turn(
    agent: SocketAddr,
    words: usize,
    requests: &tokio::sync::mpsc::UnboundedSender<Request>,
    deliveries: &std::sync::mpsc::Receiver<Delivery>,
) {
    let to = format!("sip:agent@{agent}");
    let mut calls: std::collections::HashMap<api::CallId, api::CallState> =
        std::collections::HashMap::new();
    let mut next = 0usize;
    let mut quiet_since = std::time::Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    loop {
        while let Ok(delivery) = deliveries.try_recv() {
            match delivery {
                Delivery::Event(Event::Call { call })
                    if call.direction == api::CallDirection::Outbound =>
                {
                    calls.insert(call.id, call.state);
                }
                // The customer's phone echoes the agent's keypad, so digits come back.
                Delivery::Event(Event::Dtmf { call, digit }) => {
                    let echo = Request::Command(Command::Dtmf {
                        call,
                        digits: digit,
                    });
                    if requests.send(echo).is_err() {
                        return;
                    }
                }
                _ => {}
            }
        }
        let busy = calls.values().any(|s| *s != api::CallState::Ended);
        if busy {
            quiet_since = std::time::Instant::now();
        } else if quiet_since.elapsed() >= Duration::from_secs(4) {
            let ((kind, number, data), said) = CALLBACKS[next % CALLBACKS.len()];
            let (reason, instructions) = said[words];
            next += 1;
            let mut headers = vec![
                ("X-Genesys-CallUUID".to_owned(), format!("00DEMO{next:04}")),
                ("X-Genesys-_callback_type".to_owned(), kind.to_owned()),
                (
                    "X-Genesys-_customer_number".to_owned(),
                    number.replace('+', "%2B").replace(' ', "%20"),
                ),
            ];
            let said = [("Reason", reason), ("_instructions", instructions)];
            for (key, value) in data.iter().chain(&said).filter(|(_, v)| !v.is_empty()) {
                headers.push((format!("X-Genesys-{key}"), encode(value)));
            }
            if requests
                .send(Request::Command(Command::DialWith {
                    to: to.clone(),
                    headers,
                }))
                .is_err()
            {
                return;
            }
            // Counted as busy from now until its call shows up and ends.
            quiet_since = std::time::Instant::now() + Duration::from_secs(30);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
