//! The run loop: one tokio task owns the phone, the sockets and the clock.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use api::Event;
use engine::{Input, Output, Phone, PhoneConfig, Reply, Request};
use sip::{Dest, Transport};
use thiserror::Error;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{broadcast, mpsc};
use tracing::{debug, error, info, warn};

use crate::api::router;
use crate::audio::FileAudio;
use crate::net::{self, NetEvent, NetTx, StreamPool};
use crate::plan::{CallOutcome, CallPlan, PlanRun};
use crate::tls::Tls;
use crate::turn::TurnStreams;
use crate::webhook::{self, Report};
use crate::{AudioSpec, RuntimeConfig};

mod serve;
mod team;

pub(crate) use serve::{Mail, request, subscribe};

/// How long shutdown waits for un-REGISTER answers.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Why the runtime could not start.
#[derive(Debug, Error)]
pub enum RunError {
    /// A socket could not be bound.
    #[error("cannot listen on {what} {addr}: {source}")]
    Bind {
        /// What the socket is for.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The audio files could not be used.
    #[error("audio: {0}")]
    Audio(#[from] audio::WavError),
    /// The sound devices could not be opened.
    #[error("audio: {0}")]
    Device(#[from] audio::DeviceError),
    /// The database could not be used.
    #[error("{0}")]
    Store(#[from] store::StoreError),
    /// The TLS files could not be used.
    #[error("{0}")]
    Tls(#[from] crate::tls::TlsError),
    /// A `tls:` listener without a certificate to present.
    #[error(
        "--listen tls:{0} needs [tls] cert and key (`recall cert --out DIR` makes a set for a lab)"
    )]
    TlsListenerWithoutCert(SocketAddr),
}

type Recordings = crate::audio::Finished;

/// Loads the seed's contacts into a directory that has no contacts, and its responses into
/// one that has no responses.
fn plant(directory: &mut store::Store, seed: &crate::Seed) -> Result<(), store::StoreError> {
    if directory.contacts()?.is_empty() {
        for contact in &seed.contacts {
            directory.save_contact(interaction::Contact {
                id: 0,
                ..contact.clone()
            })?;
        }
        info!(contacts = seed.contacts.len(), "contacts seeded");
    }
    if directory.responses()?.is_empty() {
        for response in &seed.responses {
            directory.save_response(interaction::StandardResponse {
                id: 0,
                ..response.clone()
            })?;
        }
        info!(
            responses = seed.responses.len(),
            "standard responses seeded"
        );
    }
    Ok(())
}

struct Core {
    phone: Phone,
    /// The agent's headset, when one is in use: its lights are written here.
    headset: Option<crate::headset::HeadsetLink>,
    /// The SIP UDP sockets by address family (IPv4: `true`).
    sip_udp: HashMap<bool, Arc<UdpSocket>>,
    streams: StreamPool,
    /// Connections to a TURN server reached over TCP or TLS.
    turn: TurnStreams,
    tls: Tls,
    /// What each RTP and RTCP socket sends on, by its address: a duplicate of the socket's
    /// descriptor, kept here so a datagram's send reads nothing but this table (its reader
    /// task owns the socket itself). Fx-hashed: the keys are our own sockets' addresses.
    media: HashMap<SocketAddr, std::net::UdpSocket, rustc_hash::FxBuildHasher>,
    /// What reads each RTP socket (stopped when its address leaves the host).
    media_readers: HashMap<SocketAddr, tokio::task::AbortHandle>,
    net_tx: NetTx,
    events: broadcast::Sender<Event>,
    listen: Vec<String>,
    rtp_ip: std::net::IpAddr,
    log_sip: bool,
    plan: Option<PlanRun>,
    recordings: Option<Recordings>,
    /// Calls' recordings being written.
    recorder: crate::recorder::Recorder,
    store: Option<store::Store>,
    /// Contacts and standard responses: the database, or memory without `--db`.
    directory: store::Store,
    /// Outcomes to post, when a webhook is configured.
    webhook: Option<mpsc::UnboundedSender<store::OutboxItem>>,
    /// Where settings changed at run time are kept.
    settings: Option<Box<dyn crate::SettingsStore>>,
    /// The DNS client (`None` when it could not be set up: every question then fails).
    dns: Option<crate::dns::Dns>,
    /// Where DNS answers come back to the run loop.
    dns_tx: mpsc::UnboundedSender<(sip::Query, sip::Answer)>,
    /// This agent's name in the store.
    agent: String,
    /// Attached-data keys that name a case.
    case_keys: Vec<String>,
    /// Team callbacks claimed from a shared store.
    team: team::Team,
    /// The team's LDAP directory as last read (added to the contacts).
    directory_people: Vec<interaction::Contact>,
    /// Whether this agent may change the standard responses.
    responses_editor: bool,
    /// Events drained but not yet shown: they wait for the interaction changes among them to
    /// be written (see `drain`).
    unshown: Vec<Event>,
    /// When interaction changes were last written.
    last_commit: Option<Instant>,
}

/// Interaction changes are written at most once in this long: under load (a lab's hundreds of
/// calls a second) the changes of the next few milliseconds share one transaction and one
/// sync to disk; the first change after a quiet spell is written at once. A commit costs about
/// a quarter of a millisecond of CPU however little it holds (the WAL frames, FTS5's segment,
/// the sync), and the pages it writes are mostly the same ones (the table's and the index's
/// last leaves, FTS5's structure): at 25 ms, 40 commits a second wrote 22 pages each at 400
/// calls/s; at 100 ms, 10 commits wrote 38 each, and the process took about a tenth less CPU
/// per call. 100 ms is the edge of what reads as instant on the desk, and the agent's own
/// changes, seconds apart, are never held: only a load of more than ten changes a second is.
const COMMIT_WINDOW: Duration = Duration::from_millis(100);

/// Runs the phone until `stop` resolves (or, with a plan, until the planned call is over).
/// Returns the plan's outcome when there was one.
pub async fn run(
    mut phone_config: PhoneConfig,
    mut config: RuntimeConfig,
    plan: Option<CallPlan>,
    stop: impl Future<Output = ()>,
) -> Result<Option<CallOutcome>, RunError> {
    raise_fd_limit();
    let (net_tx, mut net_rx) = mpsc::unbounded_channel();

    let recordings = match &config.audio {
        AudioSpec::Null => None,
        AudioSpec::File { input, output } => {
            let wav = audio::read_wav(input)?;
            let factory = FileAudio::new(wav, output.clone());
            let finished = factory.finished.clone();
            phone_config.audio = Box::new(factory);
            Some(finished)
        }
        AudioSpec::Device(choice) => {
            let devices = audio::Devices::open(choice)?;
            info!(devices = %devices.description, "sound devices open");
            phone_config.audio = Box::new(crate::audio::DeviceAudio::new(devices));
            None
        }
    };
    phone_config.media_ip = config.rtp_ip;
    // A team's PostgreSQL, else the agent's SQLite file, else memory (the directory only).
    // The team's store keeps what it cannot write while the server is away in the agent's
    // own file (`--db`), else in memory, and replays it when the server is back.
    let open = |journal: bool| -> Result<Option<store::Store>, store::StoreError> {
        Ok(match (&config.store_url, &config.db) {
            (Some(url), db) => {
                let team = store::Store::connect(url, &config.agent)?;
                Some(if journal {
                    team.with_journal(db.as_deref())?
                } else {
                    team
                })
            }
            (None, Some(path)) => Some(store::Store::open(path)?.named(&config.agent)),
            (None, None) => None,
        })
    };
    let mut store = open(true)?;
    let mut directory = match open(false)? {
        Some(directory) => directory,
        None => store::Store::in_memory()?.named(&config.agent),
    };
    if let Some(store) = &store {
        info!(
            store = store.describe(),
            agent = store.agent(),
            "interaction store open"
        );
    }
    if let Some(seed) = &config.seed {
        plant(&mut directory, seed)?;
    }
    let mut phone = Phone::new(phone_config, Instant::now());
    let _ = ask(&mut phone, Request::SetContacts(directory.contacts()?));
    if let Some(store) = &mut store {
        let stored = store.load_all()?;
        info!(
            interactions = stored.len(),
            "interactions restored from the database"
        );
        let _ = ask(&mut phone, Request::Restore(stored));
    }

    let tls = Tls::new(&config.tls)?;
    let mut sip_udp = HashMap::new();
    let mut listen = Vec::new();
    for spec in &config.listen {
        match spec.transport {
            Transport::Udp => {
                let socket = UdpSocket::bind(spec.addr)
                    .await
                    .map_err(|source| RunError::Bind {
                        what: "SIP udp",
                        addr: spec.addr,
                        source,
                    })?;
                let local = socket.local_addr().unwrap_or(spec.addr);
                let socket = Arc::new(socket);
                net::spawn_sip_udp(socket.clone(), net_tx.clone());
                let _ = ask(
                    &mut phone,
                    Request::Listen {
                        transport: Transport::Udp,
                        addr: local,
                    },
                );
                sip_udp.insert(local.is_ipv4(), socket);
                listen.push(format!("udp:{local}"));
            }
            Transport::Tcp | Transport::Tls => {
                let (what, acceptor) = if spec.transport == Transport::Tls {
                    let acceptor = tls
                        .acceptor()
                        .ok_or(RunError::TlsListenerWithoutCert(spec.addr))?;
                    ("SIP tls", Some(acceptor))
                } else {
                    ("SIP tcp", None)
                };
                let listener =
                    TcpListener::bind(spec.addr)
                        .await
                        .map_err(|source| RunError::Bind {
                            what,
                            addr: spec.addr,
                            source,
                        })?;
                let local = listener.local_addr().unwrap_or(spec.addr);
                net::spawn_stream_listener(listener, acceptor, net_tx.clone());
                let _ = ask(
                    &mut phone,
                    Request::Listen {
                        transport: spec.transport,
                        addr: local,
                    },
                );
                listen.push(format!("{}:{local}", spec.transport));
            }
        }
    }
    // Without a tcp: or tls: listener, TCP and TLS still go out on connections recall opens;
    // Via and Contact carry the UDP address with `alias` (RFC 5923), so the server sends its
    // requests back on those connections.
    for transport in [Transport::Tcp, Transport::Tls] {
        if config.listen.iter().any(|l| l.transport == transport) {
            continue;
        }
        for udp in sip_udp.values().filter_map(|s| s.local_addr().ok()) {
            let _ = ask(
                &mut phone,
                Request::Listen {
                    transport,
                    addr: udp,
                },
            );
        }
    }
    info!(listen = ?listen, "SIP listening");

    let (api_tx, mut api_rx) = mpsc::channel::<Mail>(1024);
    let (events, _) = broadcast::channel(4096);
    if let Some(addr) = config.control {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| RunError::Bind {
                what: "control API",
                addr,
                source,
            })?;
        let local = listener.local_addr().unwrap_or(addr);
        info!(%local, "control API listening");
        let app = router(
            api_tx.clone(),
            config.token.clone(),
            config.store_url.is_some(),
        );
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                warn!(error = %e, "control API stopped");
            }
        });
    }
    if let Some(desk) = config.desk.take() {
        crate::desk::spawn(desk, api_tx.clone());
    }
    drop(api_tx);

    let (report_tx, mut report_rx) = mpsc::unbounded_channel();
    let (button_tx, mut button_rx) = mpsc::unbounded_channel();
    let headset = crate::headset::open(&config.headset, button_tx);
    let (dns_tx, mut dns_rx) = mpsc::unbounded_channel();
    let dns = match crate::dns::Dns::new(&config.dns_servers) {
        Ok(dns) => Some(dns),
        Err(e) => {
            warn!(error = %e, "names cannot be looked up");
            None
        }
    };
    let webhook = config.webhook.clone().map(|hook| {
        let (items_tx, items_rx) = mpsc::unbounded_channel();
        info!(url = %hook.url(), "outcomes are posted to the webhook");
        webhook::spawn(hook, items_rx, report_tx.clone());
        items_tx
    });

    let mut core = Core {
        phone,
        headset,
        sip_udp,
        streams: StreamPool::new(config.keepalive),
        turn: TurnStreams::default(),
        tls,
        media: HashMap::default(),
        media_readers: HashMap::new(),
        net_tx,
        events,
        listen,
        rtp_ip: config.rtp_ip,
        log_sip: config.log_sip,
        plan: plan.map(PlanRun::new),
        recordings,
        recorder: crate::recorder::Recorder::default(),
        store,
        directory,
        webhook,
        settings: config.settings.take(),
        dns,
        dns_tx,
        agent: config.agent.clone(),
        case_keys: config.case_keys.clone(),
        team: team::Team::new(config.callback_lease),
        directory_people: Vec::new(),
        responses_editor: config.responses_editor,
        unshown: Vec::new(),
        last_commit: None,
    };
    let (people_tx, mut people_rx) = mpsc::unbounded_channel();
    if let Some(directory) = config.directory.clone() {
        crate::ldap::spawn(directory, people_tx);
    }
    core.resume_outbox()?;
    core.bind_media_ports()?;
    net::spawn_address_watch(core.net_tx.clone());
    let _ = ask(&mut core.phone, Request::Start);
    if let Some(plan) = core.plan.as_ref() {
        let dial = plan.dial();
        let result = ask_call(&mut core.phone, dial).map(|view| view.id);
        if let Some(plan) = core.plan.as_mut() {
            plan.dialed(result);
        }
    }

    tokio::pin!(stop);
    let mut stopping_since: Option<Instant> = None;
    let mut team_clock = tokio::time::interval(Duration::from_secs(1));
    team_clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let deadline = core.drain();
        if let Some(headset) = core.headset.as_mut() {
            headset.show(core.phone.headset_lights());
        }
        core.write_recordings();
        core.bind_media_ports()?;
        if stopping_since.is_none()
            && let Some(outcome) = core.plan.as_ref().and_then(PlanRun::outcome)
        {
            debug!(?outcome, "planned call over");
            stopping_since = Some(Instant::now());
            let _ = ask(&mut core.phone, Request::Shutdown);
            continue;
        }
        if let Some(since) = stopping_since {
            let drained = !core.phone.busy_registering() && core.phone.active_calls() == 0;
            if drained || since.elapsed() > SHUTDOWN_GRACE {
                break;
            }
        }
        let deadline = match stopping_since {
            Some(since) => deadline.min(since + SHUTDOWN_GRACE),
            None => deadline,
        };
        tokio::select! {
            () = &mut stop, if stopping_since.is_none() => {
                info!("shutting down");
                stopping_since = Some(Instant::now());
                let _ = ask(&mut core.phone, Request::Shutdown);
            }
            Some(event) = net_rx.recv() => {
                core.on_net(event);
                // Take what else is already queued before draining again.
                for _ in 0..256 {
                    core.bind_media_ports()?;
                    match net_rx.try_recv() {
                        Ok(event) => core.on_net(event),
                        Err(_) => break,
                    }
                }
            }
            Some(mail) = api_rx.recv() => core.on_mail(mail),
            Some(report) = report_rx.recv() => core.on_webhook_report(report),
            _ = team_clock.tick(), if stopping_since.is_none() => core.team_tick(Instant::now()),
            Some(people) = people_rx.recv() => {
                core.directory_people = people;
                core.contacts_changed();
            }
            Some(button) = button_rx.recv() => {
                if let Err(e) = ask(&mut core.phone, Request::Headset(button)) {
                    warn!(?button, error = %e, "headset button refused");
                }
            }
            Some((query, answer)) = dns_rx.recv() => {
                core.phone.handle_input(Input::Resolved { now: Instant::now(), query, answer });
            }
            () = tokio::time::sleep_until(deadline.into()) => {
                core.phone.handle_input(Input::Timeout(Instant::now()));
            }
        }
    }
    core.drain_now();
    core.write_recordings();
    core.recorder.close_all();
    Ok(core.plan.and_then(|p| p.outcome().cloned()))
}

impl Core {
    /// Drains the phone's outputs; returns its next deadline (or when the events waiting are
    /// due). Events wait until the interaction changes among them are written, in one
    /// transaction (one sync to disk however many changed), and only then are they shown:
    /// durable before anyone sees them. Changes are written at most once a `COMMIT_WINDOW`;
    /// SIP and media go out at once regardless.
    fn drain(&mut self) -> Instant {
        let mut unshown = std::mem::take(&mut self.unshown);
        let deadline = self.drain_into(&mut unshown);
        self.unshown = unshown;
        let now = Instant::now();
        let writes = self
            .unshown
            .iter()
            .any(|e| matches!(e, Event::Interaction { .. }));
        match self.last_commit.map(|at| at + COMMIT_WINDOW) {
            Some(due) if writes && due > now => deadline.min(due),
            _ => {
                self.show(now);
                deadline
            }
        }
    }

    /// Drains and shows everything at once (before a request is acknowledged, and at the end).
    fn drain_now(&mut self) {
        self.drain();
        self.show(Instant::now());
    }

    /// Writes the waiting interaction changes, then shows the events waiting.
    fn show(&mut self, now: Instant) {
        let shown = std::mem::take(&mut self.unshown);
        if shown.iter().any(|e| matches!(e, Event::Interaction { .. })) {
            self.persist_all(&shown);
            self.last_commit = Some(now);
        }
        for event in shown {
            let _ = self.events.send(event);
        }
    }

    fn drain_into(&mut self, shown: &mut Vec<Event>) -> Instant {
        loop {
            match self.phone.poll_output() {
                Output::Sip(transmit) => self.send_sip(&transmit),
                Output::TlsPeer(peer) => self.tls.set_peer(peer),
                Output::Recording(recording) => self.recorder.handle(recording),
                Output::Rtp { local, to, bytes } => {
                    if let Some(turn) = self.phone.turn_over_stream(to, &bytes) {
                        let turn = turn.clone();
                        self.turn
                            .send(local, &turn, bytes, &self.net_tx, &mut self.tls);
                    } else if let Some(socket) = self.media.get(&local)
                        && let Err(e) = socket.send_to(&bytes, to)
                    {
                        debug!(%to, error = %e, "rtp send failed");
                    }
                }
                Output::Event(event) => {
                    let commands = match self.plan.as_mut() {
                        Some(plan) => plan.on_event(&event, Instant::now()),
                        None => Vec::new(),
                    };
                    shown.push(*event);
                    for command in commands {
                        if let Err(e) = ask(&mut self.phone, Request::Call(command)) {
                            warn!(error = %e, "planned command failed");
                        }
                    }
                }
                Output::Resolve(query) => self.resolve(query),
                Output::Timeout(at) => {
                    let plan_deadline = self.plan.as_ref().and_then(PlanRun::deadline);
                    match plan_deadline {
                        Some(p) if p <= Instant::now() => {
                            let commands = self
                                .plan
                                .as_mut()
                                .map(|plan| plan.on_time(Instant::now()))
                                .unwrap_or_default();
                            for command in commands {
                                if let Err(e) = ask(&mut self.phone, Request::Call(command)) {
                                    warn!(error = %e, "planned command failed");
                                }
                            }
                        }
                        Some(p) => return at.min(p),
                        None => return at,
                    }
                }
            }
        }
    }

    fn send_sip(&mut self, transmit: &sip::Transmit) {
        if self.log_sip {
            info!(target: "recall::sip", "send to {}\n{}", transmit.dest, String::from_utf8_lossy(&transmit.bytes));
        }
        match transmit.dest.transport {
            Transport::Udp => {
                let family = transmit.dest.addr.is_ipv4();
                let Some(socket) = self
                    .sip_udp
                    .get(&family)
                    .or_else(|| self.sip_udp.get(&!family))
                else {
                    warn!(dest = %transmit.dest, "no UDP socket to send SIP from");
                    return;
                };
                match socket.try_send_to(&transmit.bytes, transmit.dest.addr) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        let socket = socket.clone();
                        let (bytes, addr) = (transmit.bytes.clone(), transmit.dest.addr);
                        tokio::spawn(async move {
                            let _ = socket.send_to(&bytes, addr).await;
                        });
                    }
                    Err(e) => debug!(dest = %transmit.dest, error = %e, "sip send failed"),
                }
            }
            Transport::Tcp | Transport::Tls => {
                self.streams.send(
                    transmit.dest,
                    transmit.bytes.clone(),
                    &self.net_tx,
                    &mut self.tls,
                );
            }
        }
    }

    fn on_net(&mut self, event: NetEvent) {
        let now = Instant::now();
        match event {
            NetEvent::SipDatagram { source, bytes } => {
                self.log_received(source, &bytes);
                self.phone.handle_input(Input::Sip {
                    now,
                    source,
                    bytes: &bytes,
                });
            }
            NetEvent::SipMessage { source, message } => {
                if self.log_sip {
                    self.log_received(source, &message.to_bytes());
                }
                self.phone.handle_input(Input::SipMessage {
                    now,
                    source,
                    message,
                });
            }
            NetEvent::Rtp { local, from, bytes } => {
                self.phone.handle_input(Input::Rtp {
                    now,
                    local,
                    from,
                    bytes: &bytes,
                });
            }
            NetEvent::NetworkChanged(addresses) => {
                let media_ip = self.media_ip_after(&addresses);
                self.phone
                    .handle_input(Input::NetworkChanged { now, media_ip });
                if let Some(ip) = media_ip {
                    // The calls on the old address wait for sockets on the new one, bound
                    // after this event ([`Core::bind_media_ports`]); the old ones are closed.
                    let gone = std::mem::replace(&mut self.rtp_ip, ip);
                    self.media.retain(|addr, _| addr.ip() != gone);
                    self.media_readers.retain(|addr, reader| {
                        let keep = addr.ip() != gone;
                        if !keep {
                            reader.abort();
                        }
                        keep
                    });
                }
            }
            NetEvent::Accepted { dest, writer } => self.streams.adopt(dest, writer),
            NetEvent::StreamClosed { dest, detail } => {
                self.streams.closed(dest);
                // Whatever was still waiting on that connection cannot be answered on it.
                self.phone.handle_input(Input::TransportError {
                    now: Instant::now(),
                    dest,
                    detail,
                });
            }
        }
    }

    /// Puts a question to DNS; the answer comes back to the run loop.
    fn resolve(&self, query: sip::Query) {
        let tx = self.dns_tx.clone();
        match self.dns.clone() {
            Some(dns) => {
                tokio::spawn(async move {
                    let answer = dns.answer(&query).await;
                    debug!(name = %query.name, rtype = ?query.rtype, ?answer, "dns");
                    let _ = tx.send((query, answer));
                });
            }
            None => {
                let answer = sip::Answer::Failed {
                    reason: "no DNS client (the system's resolver configuration could not be read)"
                        .to_owned(),
                };
                let _ = tx.send((query, answer));
            }
        }
    }

    fn log_received(&self, source: Dest, bytes: &[u8]) {
        if self.log_sip {
            info!(target: "recall::sip", "received from {source}\n{}", String::from_utf8_lossy(bytes));
        }
    }

    /// Writes the interactions these events changed to the database, in one transaction,
    /// before they are shown and before any API answer for them is sent; an outcome the
    /// webhook must hear of is queued in the same transaction.
    fn persist_all(&mut self, events: &[Event]) {
        let changed: Vec<&interaction::Interaction> = events
            .iter()
            .filter_map(|event| match event {
                Event::Interaction { interaction } => Some(interaction.as_ref()),
                _ => None,
            })
            .collect();
        // An interaction that changed again later in the same drain is written once, as it
        // ended up (an auto-answered call is notified, accepted and connected in one drain) —
        // unless that change is an outcome the webhook must hear of.
        let changes: Vec<(&interaction::Interaction, Option<&str>)> = changed
            .iter()
            .enumerate()
            .filter_map(|(at, interaction)| {
                let outcome = self
                    .webhook
                    .as_ref()
                    .and_then(|_| interaction.outcome_event());
                let superseded = changed[at + 1..]
                    .iter()
                    .any(|later| later.id == interaction.id);
                (outcome.is_some() || !superseded).then_some((*interaction, outcome))
            })
            .collect();
        if changes.is_empty() {
            return;
        }
        let queued = match self.store.as_mut() {
            Some(store) => store.save_all_reporting(&changes),
            None => changes
                .iter()
                .filter_map(|(interaction, outcome)| {
                    outcome.map(|outcome| self.directory.enqueue(interaction, outcome))
                })
                .collect(),
        };
        match queued {
            Ok(items) => {
                if let Some(webhook) = &self.webhook {
                    for item in items {
                        let _ = webhook.send(item);
                    }
                }
            }
            Err(e) => {
                let ids: Vec<String> = changes.iter().map(|(i, _)| i.id.to_string()).collect();
                error!(interactions = %ids.join(", "), error = %e, "could not save the interactions");
            }
        }
    }

    /// The database that holds the outbox: the interaction database, or memory without one.
    fn outbox(&mut self) -> &mut store::Store {
        self.store.as_mut().unwrap_or(&mut self.directory)
    }

    /// Hands the webhook what the outbox still holds from before a restart.
    fn resume_outbox(&mut self) -> Result<(), RunError> {
        if self.webhook.is_none() {
            return Ok(());
        }
        let pending = self.outbox().pending_outbox()?;
        if !pending.is_empty() {
            info!(outcomes = pending.len(), "undelivered outcomes resumed");
        }
        if let Some(webhook) = &self.webhook {
            for item in pending {
                let _ = webhook.send(item);
            }
        }
        Ok(())
    }

    fn on_webhook_report(&mut self, report: Report) {
        let result = match &report {
            Report::Delivered(id) => self.outbox().outbox_delivered(*id),
            Report::GaveUp(id, why) => self.outbox().outbox_failed(*id, why),
        };
        if let Err(e) = result {
            error!(?report, error = %e, "cannot update the outbox");
        }
    }

    /// Where the media goes once the host's addresses are `addresses`: `None` while the
    /// address RTP binds to is still there (or is loopback, or the wildcard), else another of
    /// the host's addresses of the same family — the one a laptop that changed networks has
    /// now. Link-local IPv6 addresses are not taken: they reach no server.
    fn media_ip_after(&self, addresses: &[std::net::IpAddr]) -> Option<std::net::IpAddr> {
        let ip = self.rtp_ip;
        if ip.is_loopback() || ip.is_unspecified() || addresses.contains(&ip) {
            return None;
        }
        let next = addresses.iter().copied().find(|a| {
            a.is_ipv4() == ip.is_ipv4()
                && !matches!(a, std::net::IpAddr::V6(v6) if v6.is_unicast_link_local())
        });
        match next {
            Some(next) => {
                info!(gone = %ip, to = %next, "the media address left the host; the calls' media moves")
            }
            None => {
                warn!(gone = %ip, "the media address left the host, and no other address is there to move the calls to")
            }
        }
        next
    }

    /// Keeps the phone supplied with bound RTP sockets, each with its RTCP socket on the next
    /// port (RFC 3550 §11). Binding a UDP socket does not block, so this runs before every
    /// input that might start a call.
    fn bind_media_ports(&mut self) -> Result<(), RunError> {
        for _ in 0..self.phone.media_ports_wanted() {
            let (rtp, rtcp) = bind_pair(self.rtp_ip)?;
            let local = rtp.local_addr().map_err(|source| RunError::Bind {
                what: "RTP",
                addr: SocketAddr::new(self.rtp_ip, 0),
                source,
            })?;
            for socket in [rtp, rtcp] {
                let addr = socket.local_addr().unwrap_or(local);
                let error = |source| RunError::Bind {
                    what: "RTP",
                    addr,
                    source,
                };
                let sender = socket.try_clone().map_err(error)?;
                let socket = net::media_socket(socket).map_err(error)?;
                let reader = net::spawn_rtp(socket, addr, self.net_tx.clone());
                self.media.insert(addr, sender);
                self.media_readers.insert(addr, reader);
            }
            let _ = ask(&mut self.phone, Request::MediaPort(local));
        }
        Ok(())
    }

    fn write_recordings(&mut self) {
        let Some(recordings) = &self.recordings else {
            return;
        };
        let finished = recordings
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default();
        for (path, rate, samples) in finished {
            match audio::write_wav(&path, rate, &samples) {
                Ok(()) => {
                    let seconds = samples.len() as u64 / u64::from(rate.max(1));
                    info!(path = %path.display(), seconds, rate, "recording written");
                }
                Err(e) => warn!(error = %e, "cannot write the recording"),
            }
        }
    }
}

/// Binds an RTP socket on an even port and its RTCP socket on the port after it.
fn bind_pair(ip: std::net::IpAddr) -> Result<(std::net::UdpSocket, std::net::UdpSocket), RunError> {
    let error = |addr, source| RunError::Bind {
        what: "RTP",
        addr,
        source,
    };
    let bind = |addr: SocketAddr| -> std::io::Result<std::net::UdpSocket> {
        let socket = std::net::UdpSocket::bind(addr)?;
        socket.set_nonblocking(true)?;
        Ok(socket)
    };
    let any = SocketAddr::new(ip, 0);
    let mut last = None;
    for _ in 0..64 {
        let rtp = bind(any).map_err(|e| error(any, e))?;
        let port = rtp.local_addr().map_err(|e| error(any, e))?.port();
        if port % 2 != 0 || port == u16::MAX {
            continue;
        }
        match bind(SocketAddr::new(ip, port + 1)) {
            Ok(rtcp) => return Ok((rtp, rtcp)),
            Err(e) => last = Some(e),
        }
    }
    Err(error(
        any,
        last.unwrap_or_else(|| std::io::Error::other("no free even/odd port pair")),
    ))
}

/// Many calls mean many RTP sockets: lift the soft file limit to the hard one.
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Puts a request to the phone, now; its answer, or why it was refused.
fn ask(phone: &mut Phone, request: Request) -> Result<Reply, engine::EngineError> {
    phone
        .handle_input(Input::Command {
            now: Instant::now(),
            request: Box::new(request),
        })
        .unwrap_or(Ok(Reply::Done))
}

/// Puts a call command to the phone; the call as it stands after it.
fn ask_call(
    phone: &mut Phone,
    command: api::Command,
) -> Result<api::CallView, engine::EngineError> {
    ask(phone, Request::Call(command))?
        .into_call()
        .ok_or(engine::EngineError::NoReply("a call command"))
}
