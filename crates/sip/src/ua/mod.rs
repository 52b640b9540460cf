//! The user agent: routes messages to sipx-sip's transactions and to call legs and
//! registrations, and queues what must be sent and told.
//!
//! One `impl UserAgent` spread over files by concern: this file has the state, the inputs,
//! transaction plumbing and timers; `commands` what the layer above asks for; `receive` what
//! arrives; `send` what goes out.

mod commands;
mod receive;
mod send;
mod session;
mod subscribe;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sipx_sip::build::ResponseBuilder;
use sipx_sip::headers::{CSeq, Expires};
use sipx_sip::transaction::Dispatch;
use sipx_sip::{
    HeaderName, Message, Method, Request, Response, StatusCode, TransactionKey, TransactionLayer,
    TuEvent, Uri,
};
use tracing::{debug, info, trace, warn};

use crate::auth::DigestAuth;
use crate::config::{AccountConfig, UaConfig};
use crate::dialog::{Dialog, without_tag};
use crate::error::CommandError;
use crate::event::{EndReason, Event, RegistrationFailure};
use crate::leg::{
    IncomingReInvite, Leg, LegId, LegState, OutgoingReInvite, Pending2xx, Resent, Role,
};
use crate::message::{
    contact_uri, header_text, reason_phrase, record_routes, response_dest, sdp_body, sock_text,
    stamp_via, status_line, tag_of, uri_dest, with_tag,
};
use crate::registration::{AccountId, RegState, Registration};
use crate::timers::{TimerId, TimerTable, TxId, timer_at, timer_index};
use crate::transport::{Dest, Transmit, Transport, datagram_limits};

/// Methods we implement, advertised in `Allow` (RFC 3261 §20.5).
const ALLOW: &str =
    "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, NOTIFY, PRACK, UPDATE, SUBSCRIBE";
/// Option tags we support, advertised in `Supported`: RFC 3891 Replaces, RFC 3262 reliable
/// provisional responses, RFC 4028 session timers.
const SUPPORTED: &str = "replaces, 100rel, timer";
/// The bodies a session request may carry (RFC 3261 §8.2.3: named in a 415): SDP alone, or
/// in a multipart/mixed beside the callback forms' parts.
const ACCEPT: &str = "application/sdp, multipart/mixed";
/// How long an idle timeout is when nothing is armed.
const IDLE: Duration = Duration::from_secs(3600);

/// What the driver must do next.
#[derive(Debug)]
pub enum Output {
    /// Send these bytes.
    Transmit(Transmit),
    /// Tell the layer above.
    Event(Event),
    /// Nothing more to do until this instant (or new input).
    Timeout(Instant),
}

/// Counters for what the user agent saw and did, for tests and the status API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams that did not frame as SIP and could not be answered.
    pub malformed_dropped: u64,
    /// Requests answered 400 (or 505) because they failed validation.
    pub bad_requests: u64,
    /// Responses that matched no transaction or dialog.
    pub stray_responses: u64,
    /// Messages sent again: requests and 2xx by a retransmission timer, and answers sent
    /// again to a retransmitted request.
    pub retransmissions: u64,
}

/// Who a transaction belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Leg(LegId, Purpose),
    Account(AccountId),
    Subscription(crate::subscription::SubscriptionId),
    Nobody,
}

/// What a leg's transaction is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Invite,
    ReInvite,
    Bye,
    Cancel,
    Refer,
    /// A session refresh (RFC 4028): an UPDATE or a re-INVITE the layer above did not ask for.
    Refresh,
    Other,
}

#[derive(Debug)]
struct TxMeta {
    key: TransactionKey,
    dest: Dest,
    owner: Owner,
}

/// A new outgoing call.
#[derive(Debug, Clone, Default)]
pub struct Invitation {
    /// The Request-URI, e.g. `sip:bob@127.0.0.1:5070`.
    pub target: String,
    /// Place the call as this account (its AOR in `From`, its proxy, its credentials).
    pub account: Option<AccountId>,
    /// Send to this next hop instead of the account's proxy or the target's host.
    pub dest: Option<Dest>,
    /// The SDP offer.
    pub sdp: Option<Bytes>,
    /// Extra headers, name and value.
    pub headers: Vec<(String, String)>,
}

/// The sans-IO SIP user agent.
#[derive(Debug)]
pub struct UserAgent {
    config: UaConfig,
    rng: fastrand::Rng,
    now: Instant,
    txl: TransactionLayer,
    timers: TimerTable<TimerId>,
    next_tx: TxId,
    tx_ids: HashMap<TransactionKey, TxId>,
    txs: HashMap<TxId, TxMeta>,
    legs: HashMap<LegId, Leg>,
    dialogs: HashMap<(String, String), LegId>,
    /// Refer subscriptions whose leg has ended (RFC 5057 §5.4), by the dialog's Call-ID and
    /// our tag: their NOTIFYs are still answered and reported.
    subscriptions: HashMap<(String, String), LegId>,
    next_leg: u64,
    /// Subscriptions we hold (RFC 6665), and their dialogs by Call-ID and our tag.
    subscriptions_held: HashMap<crate::subscription::SubscriptionId, crate::subscription::Sub>,
    subscription_dialogs: HashMap<(String, String), crate::subscription::SubscriptionId>,
    next_subscription: u64,
    accounts: Vec<Registration>,
    /// Where it listens, by transport and address family (IPv4: `true`).
    local: HashMap<(Transport, bool), SocketAddr>,
    /// The public address STUN found for the UDP socket of a family, written into Via and
    /// Contact instead of the local one.
    public: HashMap<bool, SocketAddr>,
    out: VecDeque<Output>,
    stats: Stats,
    /// What the transport said while [`UserAgent::handle_transport_error`] fails its
    /// transactions.
    transport_detail: Option<String>,
}

impl UserAgent {
    /// A user agent whose randomness (tags, branches, Call-IDs) comes from `seed`.
    #[must_use]
    pub fn new(config: UaConfig, seed: u64, now: Instant) -> Self {
        Self {
            txl: TransactionLayer::new(config.timers()),
            config,
            rng: fastrand::Rng::with_seed(seed),
            now,
            timers: TimerTable::default(),
            next_tx: 1,
            tx_ids: HashMap::new(),
            txs: HashMap::new(),
            legs: HashMap::new(),
            dialogs: HashMap::new(),
            subscriptions: HashMap::new(),
            next_leg: 1,
            subscriptions_held: HashMap::new(),
            subscription_dialogs: HashMap::new(),
            next_subscription: 1,
            accounts: Vec::new(),
            local: HashMap::new(),
            public: HashMap::new(),
            out: VecDeque::new(),
            stats: Stats::default(),
            transport_detail: None,
        }
    }

    /// Tells the user agent where it listens on a transport (for `Via` and `Contact`).
    /// One address per transport and family: a dual-stack phone gives one of each.
    pub fn set_local_addr(&mut self, transport: Transport, addr: SocketAddr) {
        self.local.insert((transport, addr.is_ipv4()), addr);
    }

    /// Where the user agent listens on a transport.
    #[must_use]
    pub fn local_addr(&self, transport: Transport) -> Option<SocketAddr> {
        self.local
            .get(&(transport, true))
            .or_else(|| self.local.get(&(transport, false)))
            .copied()
    }

    /// The public address of the UDP socket (from STUN): Via and Contact carry it from now on,
    /// and registrations are made again at once so the registrar learns it (RFC 5626 §4.4.2
    /// says a changed mapping means the flow changed).
    pub fn set_public_addr(&mut self, now: Instant, addr: SocketAddr) {
        self.now = now;
        if self.public.insert(addr.is_ipv4(), addr) == Some(addr) {
            return;
        }
        let registered = self.registered_through(|proxy| {
            proxy.transport == Transport::Udp && proxy.addr.is_ipv4() == addr.is_ipv4()
        });
        for account in registered {
            info!(%account, public = %addr, "public address changed; registering again");
            self.send_register(account, false);
        }
        // A REGISTER already on its way carries the old Contact: its success is followed by
        // another at once.
        for reg in &mut self.accounts {
            if reg.tx.is_some()
                && !reg.unregistering
                && reg.config.proxy.transport == Transport::Udp
                && reg.config.proxy.addr.is_ipv4() == addr.is_ipv4()
            {
                reg.contact_stale = true;
            }
        }
    }

    /// The UDP next hops of registered accounts: the flows RFC 5626 §4.4.2 keeps alive with
    /// STUN Binding requests.
    #[must_use]
    pub fn registered_udp_flows(&self) -> Vec<Dest> {
        let mut flows: Vec<Dest> = self
            .accounts
            .iter()
            .filter(|r| {
                matches!(r.state, RegState::Registered)
                    && r.config.proxy.transport == Transport::Udp
            })
            .map(|r| r.config.proxy)
            .collect();
        flows.sort_by_key(|d| d.addr);
        flows.dedup();
        flows
    }

    /// The address Via and Contact carry for UDP in a family: the public one STUN found,
    /// else where we listen.
    #[must_use]
    pub fn udp_address(&self, ipv4: bool) -> Option<SocketAddr> {
        self.public
            .get(&ipv4)
            .or_else(|| self.local.get(&(Transport::Udp, ipv4)))
            .copied()
    }

    /// The accounts registered (and not re-registering or un-registering) through a proxy
    /// that `proxy` picks: those a changed flow or address must register again.
    fn registered_through(&self, proxy: impl Fn(Dest) -> bool) -> Vec<AccountId> {
        self.accounts
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                matches!(r.state, RegState::Registered)
                    && r.tx.is_none()
                    && !r.unregistering
                    && proxy(r.config.proxy)
            })
            .map(|(i, _)| AccountId(i as u32))
            .collect()
    }

    /// Where the user agent listens on `dest`'s transport in `dest`'s address family, if it
    /// does (an IPv6 destination needs an IPv6 socket).
    #[must_use]
    pub fn local_addr_for(&self, dest: Dest) -> Option<SocketAddr> {
        self.local
            .get(&(dest.transport, dest.addr.is_ipv4()))
            .copied()
    }

    /// The next thing to do: send, tell, or sleep until a deadline.
    pub fn poll_output(&mut self) -> Output {
        if let Some(output) = self.out.pop_front() {
            return output;
        }
        Output::Timeout(self.timers.next().unwrap_or(self.now + IDLE))
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The state of a leg, if it exists.
    #[must_use]
    pub fn leg_state(&self, leg: LegId) -> Option<LegState> {
        self.legs.get(&leg).map(|l| l.state)
    }

    /// How many legs exist.
    #[must_use]
    pub fn leg_count(&self) -> usize {
        self.legs.len()
    }

    /// How many transactions are in flight, as (client, server).
    #[must_use]
    pub fn transaction_count(&self) -> (usize, usize) {
        self.txl.len()
    }

    /// The SIP Call-ID of a leg.
    #[must_use]
    pub fn call_id(&self, leg: LegId) -> Option<&str> {
        self.legs.get(&leg).map(|l| l.dialog.call_id.as_str())
    }

    /// The peer's URI of a leg (the `From` of an incoming call, the `To` of an outgoing one).
    #[must_use]
    pub fn remote_uri(&self, leg: LegId) -> Option<&str> {
        self.legs.get(&leg).map(|l| l.dialog.remote_uri.as_str())
    }

    // ---------------------------------------------------------------------------------------
    // Input
    // ---------------------------------------------------------------------------------------

    /// The transport could not reach `dest` (a refused or broken connection): every
    /// transaction in flight to it fails as RFC 3261 §17.1.4 says, so a registration or call
    /// moves on at once instead of waiting for Timer B or F.
    /// `detail` is what the transport said (it reaches the registration's failure reason).
    pub fn handle_transport_error(&mut self, now: Instant, dest: Dest, detail: &str) {
        self.now = now;
        self.transport_detail = (!detail.is_empty()).then(|| detail.to_owned());
        let failed: Vec<(TxId, TransactionKey)> = self
            .txs
            .iter()
            .filter(|(_, m)| m.dest == dest)
            .map(|(id, m)| (*id, m.key.clone()))
            .collect();
        for (tx, key) in failed {
            let outputs = self.txl.on_transport_error(&key);
            self.apply(tx, outputs, dest);
        }
        self.transport_detail = None;
        // RFC 5626 §4.4.1: a registration whose flow died registers again at once, on a new
        // connection, so the server can reach us again.
        if dest.transport.is_stream() {
            for account in self.registered_through(|proxy| proxy == dest) {
                info!(%account, %dest, %detail, "flow to the registrar lost; registering again");
                self.send_register(account, false);
            }
        }
    }

    /// A datagram arrived. Anything that does not parse is counted and dropped; a request that
    /// parses but is invalid is answered 400 with the fault in the reason phrase.
    pub fn handle_datagram(&mut self, now: Instant, source: Dest, bytes: &[u8]) {
        self.now = now;
        // RFC 5626 §4.4.1 keep-alives (CRLF) are not messages.
        if bytes
            .iter()
            .all(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t' | 0))
        {
            return;
        }
        match sipx_sip::parse_datagram(Bytes::copy_from_slice(bytes), &datagram_limits()) {
            Ok(message) => self.handle_message(now, source, message),
            Err(error) => {
                // RFC 3261 §18.3: a request whose datagram ends before the body its
                // Content-Length announces (or whose Content-Length is no length, RFC 4475
                // §3.1.2.3, or says two lengths, §3.3.9) is answered 400 when its head can be
                // read: the sender stops retransmitting instead of waiting out Timer B.
                use sipx_sip::error::{FramingError, ParseError};
                let reason = match error {
                    ParseError::Framing(FramingError::BodyTruncated) => {
                        Some("Content-Length Exceeds Body")
                    }
                    ParseError::Framing(FramingError::ContentLengthMalformed) => {
                        Some("Malformed Content-Length")
                    }
                    // RFC 4475 §3.3.9: no way to know which length is meant.
                    ParseError::Framing(FramingError::ContentLengthRepeated) => {
                        Some("Multiple Content-Length Values")
                    }
                    _ => None,
                };
                if let Some(reason) = reason
                    && let Some(Message::Request(request)) = head_without_body(bytes)
                    && request.method != Method::Ack
                    && sipx_sip::validate_request(&request)
                        .iter()
                        .all(sipx_sip::Finding::is_repairable)
                {
                    self.stats.bad_requests += 1;
                    self.reply_bad(&request, source, 400, reason);
                    return;
                }
                self.stats.malformed_dropped += 1;
                debug!(%source, %error, "dropped a datagram that is not a SIP message");
            }
        }
    }

    /// A whole message arrived (framed by the driver for stream transports).
    pub fn handle_message(&mut self, now: Instant, source: Dest, message: Message) {
        self.now = now;
        let reliability = source.transport.reliability();
        match message {
            Message::Request(mut request) => {
                let findings = sipx_sip::validate_request(&request);
                if let Some(fault) = findings.iter().find(|f| !f.is_repairable()) {
                    self.stats.bad_requests += 1;
                    if request.method != Method::Ack {
                        self.reply_invalid(&request, source, fault);
                    }
                    return;
                }
                trace!(%source, method = %request.method, "request in");
                let dest = if stamp_via(&mut request, source.addr) {
                    source
                } else {
                    response_dest(&request, source)
                };
                match self.txl.receive(Message::Request(request), reliability) {
                    Dispatch::Matched { key, outputs } => {
                        // A retransmitted request: what goes out is our answer again.
                        let resent = outputs
                            .iter()
                            .filter(|o| matches!(o, sipx_sip::Output::Send(_)))
                            .count();
                        self.stats.retransmissions += resent as u64;
                        if let Some(tx) = self.tx_ids.get(&key).copied() {
                            self.apply(tx, outputs, source);
                        }
                    }
                    Dispatch::Created { key, outputs } => {
                        let tx = self.track(key, dest, Owner::Nobody);
                        self.apply(tx, outputs, source);
                    }
                    Dispatch::Unmatched(message) => {
                        if let Message::Request(request) = *message
                            && request.method == Method::Ack
                        {
                            self.on_ack(&request, source);
                        }
                    }
                }
            }
            Message::Response(response) => {
                if !sipx_sip::validate_response(&response).is_empty() {
                    self.stats.malformed_dropped += 1;
                    return;
                }
                match self.txl.receive(Message::Response(response), reliability) {
                    Dispatch::Matched { key, outputs } => {
                        if let Some(tx) = self.tx_ids.get(&key).copied() {
                            self.apply(tx, outputs, source);
                        }
                    }
                    Dispatch::Created { .. } => {}
                    Dispatch::Unmatched(message) => {
                        if let Message::Response(response) = *message {
                            self.on_stray_response(&response);
                        }
                    }
                }
            }
        }
    }

    /// Time passed: fire every timer due at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        while let Some(timer) = self.timers.pop_due(now) {
            self.on_timer(timer);
        }
    }

    // ---------------------------------------------------------------------------------------
    // Transactions
    // ---------------------------------------------------------------------------------------

    fn track(&mut self, key: TransactionKey, dest: Dest, owner: Owner) -> TxId {
        let tx = self.next_tx;
        self.next_tx += 1;
        self.tx_ids.insert(key.clone(), tx);
        self.txs.insert(tx, TxMeta { key, dest, owner });
        tx
    }

    fn send_request(&mut self, request: Request, dest: Dest, owner: Owner) -> Option<TxId> {
        trace!(%dest, method = %request.method, "request out");
        let (key, outputs) = self
            .txl
            .send_request(request, dest.transport.reliability())?;
        let tx = self.track(key, dest, owner);
        self.apply(tx, outputs, dest);
        Some(tx)
    }

    fn send_response(&mut self, tx: TxId, response: Response) {
        let Some(key) = self.txs.get(&tx).map(|m| m.key.clone()) else {
            return;
        };
        let outputs = self.txl.send_response(&key, response);
        let source = self.txs.get(&tx).map(|m| m.dest);
        if let Some(source) = source {
            self.apply(tx, outputs, source);
        }
    }

    /// Carries out what a transaction asked for; hands its events to the TU afterwards.
    fn apply(&mut self, tx: TxId, outputs: Vec<sipx_sip::Output>, source: Dest) {
        let mut events = Vec::new();
        let owner = self.txs.get(&tx).map_or(Owner::Nobody, |m| m.owner);
        for output in outputs {
            match output {
                sipx_sip::Output::Send(message) => {
                    if let Some(meta) = self.txs.get(&tx) {
                        self.out.push_back(Output::Transmit(Transmit {
                            dest: meta.dest,
                            bytes: message.to_bytes(),
                        }));
                    }
                }
                sipx_sip::Output::SetTimer { timer, after } => {
                    self.timers.set(
                        TimerId::Transaction(tx, timer_index(timer)),
                        self.now + after,
                    );
                }
                sipx_sip::Output::ClearTimer(timer) => {
                    self.timers
                        .clear(TimerId::Transaction(tx, timer_index(timer)));
                }
                sipx_sip::Output::ToTu(event) => events.push(*event),
                sipx_sip::Output::Terminated(_) => {
                    self.timers.clear_transaction(tx);
                    if let Some(meta) = self.txs.remove(&tx) {
                        self.tx_ids.remove(&meta.key);
                    }
                }
                _ => {}
            }
        }
        for event in events {
            self.on_tu_event(tx, owner, event, source);
        }
    }

    fn on_tu_event(&mut self, tx: TxId, owner: Owner, event: TuEvent, source: Dest) {
        match (event, owner) {
            (TuEvent::Request(request), _) => self.on_request(tx, *request, source),
            (TuEvent::Ack(ack), _) => self.on_ack(&ack, source),
            (TuEvent::Response(response), Owner::Leg(leg, purpose)) => {
                self.on_leg_response(leg, purpose, &response, source);
            }
            (TuEvent::Response(response), Owner::Account(account)) => {
                self.on_register_response(account, &response);
            }
            (TuEvent::Response(response), Owner::Subscription(id)) => {
                self.on_subscribe_response(id, &response);
            }
            (event @ (TuEvent::Timeout | TuEvent::TransportError), Owner::Subscription(id)) => {
                self.on_subscribe_unanswered(id, matches!(event, TuEvent::Timeout));
            }
            (TuEvent::Timeout | TuEvent::TransportError, Owner::Leg(leg, purpose)) => {
                self.on_leg_failure(leg, purpose, tx);
            }
            (event @ (TuEvent::Timeout | TuEvent::TransportError), Owner::Account(account)) => {
                let (reason, retry) = if matches!(event, TuEvent::Timeout) {
                    (RegistrationFailure::Timeout, Duration::from_secs(30))
                } else {
                    let retry = self
                        .accounts
                        .get_mut(account.0 as usize)
                        .map_or(Duration::from_secs(30), Registration::transport_retry);
                    let reason = RegistrationFailure::TransportError {
                        detail: self.transport_detail.clone(),
                    };
                    (reason, retry)
                };
                self.registration_failed(account, reason, Some(retry));
            }
            _ => {}
        }
    }

    // ---------------------------------------------------------------------------------------
    // Timers
    // ---------------------------------------------------------------------------------------

    fn on_timer(&mut self, timer: TimerId) {
        match timer {
            TimerId::Transaction(tx, index) => {
                let (Some(key), Some(timer)) =
                    (self.txs.get(&tx).map(|m| m.key.clone()), timer_at(index))
                else {
                    return;
                };
                if matches!(
                    timer,
                    sipx_sip::Timer::A | sipx_sip::Timer::E | sipx_sip::Timer::G
                ) {
                    self.stats.retransmissions += 1;
                }
                let outputs = self.txl.on_timer(&key, timer);
                let dest = self.txs.get(&tx).map(|m| m.dest);
                if let Some(dest) = dest {
                    self.apply(tx, outputs, dest);
                }
            }
            TimerId::Retransmit2xx(leg) => {
                self.resend(leg, timer, |l| {
                    l.pending_2xx.as_mut().map(|p| &mut p.resent)
                });
            }
            TimerId::AckTimeout(leg) => {
                self.timers.clear(TimerId::Retransmit2xx(leg));
                let Some(l) = self.legs.get_mut(&leg) else {
                    return;
                };
                l.pending_2xx = None;
                let already_ended = l.state == LegState::Terminating;
                l.state = LegState::Confirmed;
                self.send_bye(leg);
                if !already_ended {
                    self.emit_ended(leg, EndReason::NoAck);
                }
            }
            TimerId::RingTimeout(leg) => {
                let _ = self.hangup_with(leg, EndReason::NoAnswer);
            }
            TimerId::ReInviteRetry(leg) => {
                let busy = self
                    .legs
                    .get(&leg)
                    .is_some_and(|l| l.reinvite_in.is_some() || l.pending_2xx.is_some());
                if busy {
                    // RFC 3261 §14.1: not while the peer's INVITE transaction is in progress.
                    self.timers
                        .set(TimerId::ReInviteRetry(leg), self.now + self.config.t1);
                    return;
                }
                let sdp = self
                    .legs
                    .get(&leg)
                    .and_then(|l| l.reinvite_out.as_ref())
                    .map(|r| r.sdp.clone());
                if let Some(sdp) = sdp {
                    self.send_reinvite(leg, sdp);
                }
            }
            TimerId::Retransmit1xx(leg) => {
                self.resend(leg, timer, |l| {
                    l.reliable_1xx.as_mut().map(|p| &mut p.resent)
                });
            }
            TimerId::PrackTimeout(leg) => self.prack_timed_out(leg),
            TimerId::SessionRefresh(leg) => self.refresh_session(leg),
            TimerId::SessionExpiry(leg) => self.session_expired(leg),
            TimerId::RegisterRefresh(account) => self.send_register(account, false),
            TimerId::LegCleanup(leg) => self.remove_leg(leg),
            TimerId::SubscriptionEnd(leg) => self.subscriptions.retain(|_, l| *l != leg),
            TimerId::SubscribeRefresh(id) => self.on_subscribe_timer(id),
        }
    }

    // ---------------------------------------------------------------------------------------
    // Legs
    // ---------------------------------------------------------------------------------------

    fn ringing_leg(&self, leg: LegId, action: &'static str) -> Result<&Leg, CommandError> {
        let l = self.legs.get(&leg).ok_or(CommandError::NoSuchLeg(leg))?;
        if l.role != Role::Uas || l.state != LegState::Ringing {
            return Err(CommandError::WrongState {
                leg,
                state: l.state.as_str(),
                action,
            });
        }
        Ok(l)
    }

    /// Reports a leg as ended and forgets it.
    fn end_leg(&mut self, leg: LegId, reason: EndReason) {
        if self.legs.contains_key(&leg) {
            self.emit_ended(leg, reason);
            self.remove_leg(leg);
        }
    }

    fn emit_ended(&mut self, leg: LegId, reason: EndReason) {
        debug!(%leg, %reason, "leg ended");
        self.out
            .push_back(Output::Event(Event::Ended { leg, reason }));
    }

    fn remove_leg(&mut self, leg: LegId) {
        if let Some(l) = self.legs.remove(&leg) {
            let key = (l.dialog.call_id, l.dialog.local_tag);
            self.dialogs.remove(&key);
            if let Some(lasts) = l.refer_subscription {
                // The transfer's outcome may still come after our BYE.
                self.subscriptions.insert(key, leg);
                self.timers
                    .set(TimerId::SubscriptionEnd(leg), self.now + lasts);
            }
        }
        for timer in [
            TimerId::Retransmit2xx(leg),
            TimerId::AckTimeout(leg),
            TimerId::RingTimeout(leg),
            TimerId::ReInviteRetry(leg),
            TimerId::LegCleanup(leg),
            TimerId::Retransmit1xx(leg),
            TimerId::PrackTimeout(leg),
            TimerId::SessionRefresh(leg),
            TimerId::SessionExpiry(leg),
        ] {
            self.timers.clear(timer);
        }
    }

    // ---------------------------------------------------------------------------------------
    // Small things
    // ---------------------------------------------------------------------------------------

    /// The local address for messages to `dest`: its transport in its family, else its
    /// transport in the other family (the send then fails and says why).
    fn local_for(&self, dest: Dest) -> Result<SocketAddr, CommandError> {
        if dest.transport == Transport::Udp
            && let Some(public) = self.public.get(&dest.addr.is_ipv4())
        {
            return Ok(*public);
        }
        self.local_addr_for(dest)
            .or_else(|| self.local_addr(dest.transport))
            .ok_or(CommandError::NoLocalAddress(dest.transport))
    }

    /// A `Via` with a fresh RFC 3261 branch and `rport` (RFC 3581); over TCP and TLS also
    /// `alias` (RFC 5923), so the server sends its requests for us back on the connection we
    /// opened rather than opening one to our Contact (which a NAT or a missing listener would
    /// refuse).
    fn via(&mut self, transport: Transport, local: SocketAddr) -> String {
        format!(
            "SIP/2.0/{} {};branch=z9hG4bK{};rport{}",
            transport.as_via_token(),
            sock_text(local),
            self.token(16),
            if transport.is_stream() { ";alias" } else { "" }
        )
    }

    fn token(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| char::from(ALPHABET[self.rng.usize(..ALPHABET.len())]))
            .collect()
    }
}

/// A target the layer above gave (to call, to subscribe to): a SIP URI, or why not.
fn sip_target(text: &str, action: &str) -> Result<Uri, CommandError> {
    let target = Uri::parse(Bytes::from(text.to_owned())).map_err(|e| CommandError::BadUri {
        uri: text.to_owned(),
        reason: e.to_string(),
    })?;
    if !target.scheme().is_sip() {
        return Err(CommandError::BadUri {
            uri: text.to_owned(),
            reason: format!("only sip: URIs can be {action}"),
        });
    }
    Ok(target)
}

fn contact(user: &str, local: SocketAddr, transport: Transport) -> String {
    match transport {
        Transport::Udp => format!("<sip:{user}@{}>", sock_text(local)),
        Transport::Tcp => format!("<sip:{user}@{};transport=tcp>", sock_text(local)),
        Transport::Tls => format!("<sip:{user}@{};transport=tls>", sock_text(local)),
    }
}

/// The user part of a SIP URI (inside a name-addr or bare).
fn user_of(text: &str) -> Option<String> {
    let start = text.find("sip:").or_else(|| text.find("sips:"))?;
    let rest = &text[start..];
    let rest = &rest[rest.find(':')? + 1..];
    let at = rest.find('@')?;
    let user = &rest[..at];
    (!user.is_empty()).then(|| user.to_owned())
}

fn cseq_of(request: &Request) -> Option<u32> {
    request
        .headers
        .typed::<CSeq>()
        .and_then(Result::ok)
        .map(|c| c.sequence)
}

fn realm_of(response: &Response) -> Option<String> {
    let name = if response.status.code() == 407 {
        HeaderName::ProxyAuthenticate
    } else {
        HeaderName::WwwAuthenticate
    };
    response
        .headers
        .get_all(&name)
        .find_map(|h| sipx_sip::auth::Challenge::parse(&h.value(), false))
        .map(|c| c.realm)
}

/// The lifetime granted by a REGISTER 2xx: `expires` on our Contact, else `Expires`.
fn granted_expires(response: &Response) -> Option<Duration> {
    let from_contact = response
        .headers
        .typed_all::<sipx_sip::headers::Contact>()
        .filter_map(Result::ok)
        .find_map(|c| {
            c.param("expires")
                .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<u64>().ok())
        });
    let from_header = response
        .headers
        .typed::<Expires>()
        .and_then(Result::ok)
        .map(|Expires(e)| u64::from(e));
    from_contact.or(from_header).map(Duration::from_secs)
}

/// RFC 3261 §8.2.2.3: option tags in `Require` that we do not support.
/// A datagram's head parsed on its own (its Content-Length taken out and 0 put in), to answer
/// a request whose body does not match its Content-Length.
fn head_without_body(bytes: &[u8]) -> Option<Message> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..end]).ok()?;
    let mut text: String = head
        .split("\r\n")
        .filter(|line| {
            let name = line.split(':').next().unwrap_or_default().trim();
            !(name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l"))
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    text.push_str("\r\nContent-Length: 0\r\n\r\n");
    sipx_sip::parse_datagram(Bytes::from(text), &datagram_limits()).ok()
}

/// A body we cannot take: not SDP (nor a multipart that may hold it), or encoded (RFC 3261
/// §8.2.3: only `identity`). A body without Content-Type is left to the SDP reader.
fn unreadable_body(request: &Request) -> bool {
    if request.body().is_empty() {
        return false;
    }
    let encoded = header_text(&request.headers, &HeaderName::ContentEncoding)
        .is_some_and(|e| !e.trim().eq_ignore_ascii_case("identity"));
    let foreign = header_text(&request.headers, &HeaderName::ContentType).is_some_and(|t| {
        let kind = t
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        kind != "application/sdp" && !kind.starts_with("multipart/")
    });
    encoded || foreign
}

/// Whether the request's `Accept` (when it has one) admits no SDP: none of its media ranges
/// is `application/sdp`, `application/*` or `*/*`.
fn refuses_sdp(request: &Request) -> bool {
    let Some(accept) = header_text(&request.headers, &HeaderName::Accept) else {
        return false;
    };
    !accept.split(',').any(|range| {
        let kind = range
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        matches!(kind.as_str(), "application/sdp" | "application/*" | "*/*")
    })
}

fn unsupported_requirement(request: &Request) -> Option<String> {
    let required = header_text(&request.headers, &HeaderName::Require)?;
    let unsupported: Vec<&str> = required
        .split(',')
        .map(str::trim)
        .filter(|tag| {
            !tag.is_empty() && !SUPPORTED.split(", ").any(|s| s.eq_ignore_ascii_case(tag))
        })
        .collect();
    (!unsupported.is_empty()).then(|| unsupported.join(", "))
}

/// A response to a request that lacks headers a response copies (RFC 4475 §3.1.2.19 "insuf"):
/// whatever of Via, From, To, Call-ID and CSeq is present is echoed.
fn partial_response(
    request: &Request,
    status: u16,
    reason: &str,
) -> Result<ResponseBuilder, CommandError> {
    let code = StatusCode::new(status).ok_or(CommandError::BadStatus(status))?;
    let mut builder = ResponseBuilder::new(code, reason.to_owned()).map_err(bad_header)?;
    for name in [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ] {
        for header in request.headers.get_all(&name) {
            builder = builder
                .header(name.clone(), header.value().into_owned())
                .map_err(bad_header)?;
        }
    }
    Ok(builder)
}

fn bad_header(error: sipx_sip::BuildError) -> CommandError {
    CommandError::BadHeader(error.to_string())
}

fn ok_status() -> StatusCode {
    // 200 is always a valid status code; `StatusCode::new` only fails outside 100..=699.
    StatusCode::new(200).expect("200 is a valid status code")
}
