//! The user agent: routes messages to sipx-sip's transactions and to call legs and
//! registrations, and queues what must be sent and told.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sipx_sip::build::ResponseBuilder;
use sipx_sip::headers::{CSeq, Expires};
use sipx_sip::transaction::Dispatch;
use sipx_sip::{
    HeaderName, Limits, Message, Method, Request, Response, StatusCode, TransactionKey,
    TransactionLayer, TuEvent, Uri,
};
use tracing::{debug, trace, warn};

use crate::auth::DigestAuth;
use crate::config::{AccountConfig, UaConfig};
use crate::dialog::{Dialog, without_tag};
use crate::error::CommandError;
use crate::event::{EndReason, Event, RegistrationFailure};
use crate::leg::{IncomingReInvite, Leg, LegId, LegState, OutgoingReInvite, Pending2xx, Role};
use crate::message::{
    contact_uri, header_text, reason_phrase, record_routes, response_dest, sdp_body, sock_text,
    stamp_via, status_line, tag_of, uri_dest, with_tag,
};
use crate::registration::{AccountId, RegState, Registration};
use crate::timers::{TimerId, TimerTable, TxId, timer_at, timer_index};
use crate::transport::{Dest, Transmit, Transport};

/// Methods we implement, advertised in `Allow` (RFC 3261 §20.5).
const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO";
/// Option tags we support, advertised in `Supported`.
const SUPPORTED: &str = "replaces";
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
    /// Requests sent again by a retransmission timer, 2xx included.
    pub retransmissions: u64,
}

/// Who a transaction belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Leg(LegId, Purpose),
    Account(AccountId),
    Nobody,
}

/// What a leg's transaction is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Invite,
    ReInvite,
    Bye,
    Cancel,
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
    timers: TimerTable,
    next_tx: TxId,
    tx_ids: HashMap<TransactionKey, TxId>,
    txs: HashMap<TxId, TxMeta>,
    legs: HashMap<LegId, Leg>,
    dialogs: HashMap<(String, String), LegId>,
    next_leg: u64,
    accounts: Vec<Registration>,
    local: HashMap<Transport, SocketAddr>,
    out: VecDeque<Output>,
    stats: Stats,
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
            next_leg: 1,
            accounts: Vec::new(),
            local: HashMap::new(),
            out: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// Tells the user agent where it listens on a transport (for `Via` and `Contact`).
    pub fn set_local_addr(&mut self, transport: Transport, addr: SocketAddr) {
        self.local.insert(transport, addr);
    }

    /// Where the user agent listens on a transport.
    #[must_use]
    pub fn local_addr(&self, transport: Transport) -> Option<SocketAddr> {
        self.local.get(&transport).copied()
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
        match sipx_sip::parse_datagram(Bytes::copy_from_slice(bytes), &Limits::datagram()) {
            Ok(message) => self.handle_message(now, source, message),
            Err(error) => {
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
                stamp_via(&mut request, source.addr);
                let dest = response_dest(&request, source);
                match self.txl.receive(Message::Request(request), reliability) {
                    Dispatch::Matched { key, outputs } => {
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
    // Commands: registration
    // ---------------------------------------------------------------------------------------

    /// Adds an account and registers it.
    pub fn register(&mut self, now: Instant, config: AccountConfig) -> AccountId {
        self.now = now;
        let id = self.add_account(config);
        self.send_register(id, false);
        id
    }

    /// Adds an account without registering it: calls can still be placed as it.
    pub fn add_account(&mut self, config: AccountConfig) -> AccountId {
        let id = AccountId(self.accounts.len() as u32);
        let call_id = format!("{}@recall", self.token(16));
        let local_tag = self.token(10);
        self.accounts.push(Registration {
            expires: config.expires,
            config,
            call_id,
            local_tag,
            cseq: 0,
            state: RegState::Unregistered,
            unregistering: false,
            auth: None,
            auth_attempts: 0,
            tx: None,
        });
        id
    }

    /// Removes the binding of one account (`Expires: 0`).
    pub fn unregister(&mut self, now: Instant, account: AccountId) {
        self.now = now;
        self.timers.clear(TimerId::RegisterRefresh(account));
        let registered = self
            .accounts
            .get(account.0 as usize)
            .is_some_and(|r| matches!(r.state, RegState::Registered | RegState::Registering));
        if registered {
            self.send_register(account, true);
        }
    }

    /// Un-REGISTERs every account (on shutdown).
    pub fn unregister_all(&mut self, now: Instant) {
        for index in 0..self.accounts.len() {
            self.unregister(now, AccountId(index as u32));
        }
    }

    /// Whether any REGISTER is still in flight.
    #[must_use]
    pub fn registering(&self) -> bool {
        self.accounts
            .iter()
            .any(|r| r.state == RegState::Registering)
    }

    /// The configuration of an account.
    #[must_use]
    pub fn account(&self, account: AccountId) -> Option<&AccountConfig> {
        self.accounts.get(account.0 as usize).map(|r| &r.config)
    }

    // ---------------------------------------------------------------------------------------
    // Commands: calls
    // ---------------------------------------------------------------------------------------

    /// Places a call: sends an INVITE and returns the new leg.
    pub fn invite(&mut self, now: Instant, invitation: Invitation) -> Result<LegId, CommandError> {
        self.now = now;
        let target = Uri::parse(Bytes::from(invitation.target.clone())).map_err(|e| {
            CommandError::BadUri {
                uri: invitation.target.clone(),
                reason: e.to_string(),
            }
        })?;
        if !target.scheme().is_sip() {
            return Err(CommandError::BadUri {
                uri: invitation.target.clone(),
                reason: "only sip: URIs can be called".to_owned(),
            });
        }
        let account = invitation
            .account
            .and_then(|a| self.accounts.get(a.0 as usize))
            .map(|r| r.config.clone());
        let dest = invitation
            .dest
            .or(account.as_ref().map(|a| a.proxy))
            .or_else(|| uri_dest(&target, Transport::Udp))
            .ok_or_else(|| CommandError::Unroutable(invitation.target.clone()))?;
        let local = self.local_for(dest.transport)?;
        let (user, local_uri) = match &account {
            Some(a) => (
                user_of(&a.aor).unwrap_or_else(|| self.config.contact_user.clone()),
                match &a.display_name {
                    Some(name) => format!("\"{}\" <{}>", name.replace('"', ""), a.aor),
                    None => format!("<{}>", a.aor),
                },
            ),
            None => (
                self.config.contact_user.clone(),
                format!("<sip:{}@{}>", self.config.contact_user, sock_text(local)),
            ),
        };
        let id = LegId(self.next_leg);
        self.next_leg += 1;
        let dialog = Dialog {
            call_id: format!("{}@{}", self.token(20), local.ip()),
            local_tag: self.token(10),
            remote_tag: None,
            local_uri,
            remote_uri: format!("<{target}>"),
            local_seq: 1,
            remote_seq: None,
            remote_target: target.clone(),
            route_set: Vec::new(),
            peer: dest,
        };
        let mut builder = sipx_sip::build::RequestBuilder::new(Method::Invite, target)
            .header(HeaderName::Via, self.via(dest.transport, local))
            .map_err(bad_header)?
            .max_forwards(70)
            .header(
                HeaderName::From,
                format!("{};tag={}", dialog.local_uri, dialog.local_tag),
            )
            .map_err(bad_header)?
            .header(HeaderName::To, dialog.remote_uri.clone())
            .map_err(bad_header)?
            .header(HeaderName::CallId, dialog.call_id.clone())
            .map_err(bad_header)?
            .cseq(1, &Method::Invite)
            .map_err(bad_header)?
            .header(HeaderName::Contact, contact(&user, local, dest.transport))
            .map_err(bad_header)?
            .header(HeaderName::Allow, ALLOW)
            .map_err(bad_header)?
            .header(HeaderName::Supported, SUPPORTED)
            .map_err(bad_header)?
            .header(HeaderName::UserAgent, self.config.user_agent.clone())
            .map_err(bad_header)?;
        for (name, value) in &invitation.headers {
            builder = builder
                .header(HeaderName::parse(&Bytes::from(name.clone())), value.clone())
                .map_err(|_| CommandError::BadHeader(name.clone()))?;
        }
        if let Some(sdp) = invitation.sdp {
            builder = builder
                .header(HeaderName::ContentType, "application/sdp")
                .map_err(bad_header)?
                .body(sdp);
        }
        let request = builder.build();
        let leg = Leg {
            role: Role::Uac,
            state: LegState::Calling,
            dialog,
            credentials: account.and_then(|a| a.credentials),
            invite: request.clone(),
            invite_tx: None,
            auth: None,
            auth_attempts: 0,
            cancel_pending: false,
            cancelled: false,
            cancel_reason: None,
            ack: None,
            pending_2xx: None,
            reinvite_out: None,
            reinvite_in: None,
        };
        self.legs.insert(id, leg);
        let tx = self.send_request(request, dest, Owner::Leg(id, Purpose::Invite));
        if let Some(leg) = self.legs.get_mut(&id) {
            leg.invite_tx = tx;
        }
        Ok(id)
    }

    /// Sends 180 Ringing on an incoming leg, with optional extra headers.
    pub fn ring(
        &mut self,
        now: Instant,
        leg: LegId,
        headers: &[(String, String)],
    ) -> Result<(), CommandError> {
        self.now = now;
        let (tx, response) = {
            let l = self.ringing_leg(leg, "ring")?;
            let tx = l.invite_tx.ok_or(CommandError::NoSuchLeg(leg))?;
            let mut builder = self.leg_response(l, 180)?;
            for (name, value) in headers {
                builder = builder
                    .header(HeaderName::parse(&Bytes::from(name.clone())), value.clone())
                    .map_err(|_| CommandError::BadHeader(name.clone()))?;
            }
            (tx, builder.build())
        };
        self.send_response(tx, response);
        Ok(())
    }

    /// Answers an incoming leg with 200 OK and `sdp`; the 2xx is retransmitted until the ACK.
    pub fn answer(
        &mut self,
        now: Instant,
        leg: LegId,
        sdp: Option<Bytes>,
    ) -> Result<(), CommandError> {
        self.now = now;
        let (tx, response, cseq) = {
            let l = self.ringing_leg(leg, "answer")?;
            let tx = l.invite_tx.ok_or(CommandError::NoSuchLeg(leg))?;
            let cseq = cseq_of(&l.invite).unwrap_or(1);
            let mut builder = self.leg_response(l, 200)?;
            if let Some(sdp) = sdp {
                builder = builder
                    .header(HeaderName::ContentType, "application/sdp")
                    .map_err(bad_header)?
                    .body(sdp);
            }
            (tx, builder.build(), cseq)
        };
        let dest = self.txs.get(&tx).map(|m| m.dest);
        self.send_response(tx, response.clone());
        if let (Some(dest), Some(l)) = (dest, self.legs.get_mut(&leg)) {
            l.state = LegState::Answering;
            l.invite_tx = None;
            l.pending_2xx = Some(Pending2xx {
                bytes: Message::Response(response).to_bytes(),
                dest,
                interval: self.config.t1,
                cseq,
            });
            self.timers
                .set(TimerId::Retransmit2xx(leg), self.now + self.config.t1);
            self.timers
                .set(TimerId::AckTimeout(leg), self.now + self.config.t1 * 64);
        }
        Ok(())
    }

    /// Refuses an incoming leg with a final status (4xx–6xx).
    pub fn reject(&mut self, now: Instant, leg: LegId, status: u16) -> Result<(), CommandError> {
        self.now = now;
        if !(300..=699).contains(&status) {
            return Err(CommandError::BadStatus(status));
        }
        let (tx, response) = {
            let l = self.ringing_leg(leg, "reject")?;
            let tx = l.invite_tx.ok_or(CommandError::NoSuchLeg(leg))?;
            (tx, self.leg_response(l, status)?.build())
        };
        self.send_response(tx, response);
        self.end_leg(leg, EndReason::Local);
        Ok(())
    }

    /// Ends a leg whatever its state: CANCEL while calling, a final response while ringing,
    /// BYE once answered.
    pub fn hangup(&mut self, now: Instant, leg: LegId) -> Result<(), CommandError> {
        self.now = now;
        self.hangup_with(leg, EndReason::Local)
    }

    /// Sends a re-INVITE with a new offer (hold, resume, codec change).
    pub fn reinvite(
        &mut self,
        now: Instant,
        leg: LegId,
        sdp: Option<Bytes>,
    ) -> Result<(), CommandError> {
        self.now = now;
        let l = self.legs.get(&leg).ok_or(CommandError::NoSuchLeg(leg))?;
        if l.state != LegState::Confirmed || l.reinvite_out.is_some() || l.reinvite_in.is_some() {
            return Err(CommandError::WrongState {
                leg,
                state: if l.state == LegState::Confirmed {
                    "re-negotiating"
                } else {
                    l.state.as_str()
                },
                action: "re-INVITE",
            });
        }
        self.send_reinvite(leg, sdp);
        Ok(())
    }

    /// Answers the peer's pending re-INVITE with 200 OK and our answer.
    pub fn accept_reinvite(
        &mut self,
        now: Instant,
        leg: LegId,
        sdp: Option<Bytes>,
    ) -> Result<(), CommandError> {
        self.now = now;
        let l = self
            .legs
            .get_mut(&leg)
            .ok_or(CommandError::NoSuchLeg(leg))?;
        let pending = l.reinvite_in.take().ok_or(CommandError::WrongState {
            leg,
            state: l.state.as_str(),
            action: "answer a re-INVITE that is not pending",
        })?;
        let cseq = cseq_of(&pending.request).unwrap_or(0);
        let l = self.legs.get(&leg).ok_or(CommandError::NoSuchLeg(leg))?;
        let mut builder = self.dialog_response(&pending.request, l, 200)?;
        if let Some(sdp) = sdp {
            builder = builder
                .header(HeaderName::ContentType, "application/sdp")
                .map_err(bad_header)?
                .body(sdp);
        }
        let response = builder.build();
        let dest = self.txs.get(&pending.tx).map(|m| m.dest);
        self.send_response(pending.tx, response.clone());
        if let (Some(dest), Some(l)) = (dest, self.legs.get_mut(&leg)) {
            l.pending_2xx = Some(Pending2xx {
                bytes: Message::Response(response).to_bytes(),
                dest,
                interval: self.config.t1,
                cseq,
            });
            self.timers
                .set(TimerId::Retransmit2xx(leg), self.now + self.config.t1);
            self.timers
                .set(TimerId::AckTimeout(leg), self.now + self.config.t1 * 64);
        }
        Ok(())
    }

    /// Refuses the peer's pending re-INVITE (e.g. 488); the call goes on unchanged.
    pub fn reject_reinvite(
        &mut self,
        now: Instant,
        leg: LegId,
        status: u16,
    ) -> Result<(), CommandError> {
        self.now = now;
        let l = self
            .legs
            .get_mut(&leg)
            .ok_or(CommandError::NoSuchLeg(leg))?;
        let pending = l.reinvite_in.take().ok_or(CommandError::WrongState {
            leg,
            state: l.state.as_str(),
            action: "reject a re-INVITE that is not pending",
        })?;
        let l = self.legs.get(&leg).ok_or(CommandError::NoSuchLeg(leg))?;
        let response = self.dialog_response(&pending.request, l, status)?.build();
        self.send_response(pending.tx, response);
        Ok(())
    }

    /// Sends an INFO request in the dialog (e.g. `application/dtmf-relay`).
    pub fn send_info(
        &mut self,
        now: Instant,
        leg: LegId,
        content_type: &str,
        body: Bytes,
    ) -> Result<(), CommandError> {
        self.now = now;
        let l = self
            .legs
            .get_mut(&leg)
            .ok_or(CommandError::NoSuchLeg(leg))?;
        if l.state != LegState::Confirmed {
            return Err(CommandError::WrongState {
                leg,
                state: l.state.as_str(),
                action: "send INFO",
            });
        }
        let (builder, dest) = l.dialog.request(Method::Info, None).map_err(bad_header)?;
        let local = self.local_for(dest.transport)?;
        let request = builder
            .header(HeaderName::Via, self.via(dest.transport, local))
            .and_then(|b| b.header(HeaderName::ContentType, content_type.to_owned()))
            .map_err(bad_header)?
            .body(body)
            .build();
        self.send_request(request, dest, Owner::Leg(leg, Purpose::Other));
        Ok(())
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
            (TuEvent::Timeout | TuEvent::TransportError, Owner::Leg(leg, purpose)) => {
                self.on_leg_failure(leg, purpose, tx);
            }
            (event @ (TuEvent::Timeout | TuEvent::TransportError), Owner::Account(account)) => {
                let reason = if matches!(event, TuEvent::Timeout) {
                    RegistrationFailure::Timeout
                } else {
                    RegistrationFailure::TransportError
                };
                self.registration_failed(account, reason, Some(Duration::from_secs(30)));
            }
            _ => {}
        }
    }

    // ---------------------------------------------------------------------------------------
    // Requests we receive
    // ---------------------------------------------------------------------------------------

    fn on_request(&mut self, tx: TxId, request: Request, source: Dest) {
        if request.method == Method::Cancel {
            self.on_cancel(tx, &request);
            return;
        }
        if tag_of(&request.headers, &HeaderName::To).is_some() {
            self.on_dialog_request(tx, request, source);
            return;
        }
        match request.method {
            Method::Invite => self.on_invite(tx, request, source),
            Method::Options => {
                let response = self.options_response(&request);
                self.send_response(tx, response);
            }
            Method::Bye => self.reply(tx, &request, 481, None),
            Method::Register
            | Method::Subscribe
            | Method::Notify
            | Method::Refer
            | Method::Message
            | Method::Publish
            | Method::Update
            | Method::Prack
            | Method::Info => self.reply(tx, &request, 405, None),
            _ => self.reply(tx, &request, 501, None),
        }
    }

    fn on_invite(&mut self, tx: TxId, request: Request, source: Dest) {
        if let Some(unsupported) = unsupported_requirement(&request) {
            let mut builder = match self.response_builder(&request, 420, None) {
                Ok(b) => b,
                Err(_) => return,
            };
            if let Ok(b) = builder.header(HeaderName::Unsupported, unsupported) {
                builder = b;
                self.send_response(tx, builder.build());
            }
            return;
        }
        let id = LegId(self.next_leg);
        self.next_leg += 1;
        let from = header_text(&request.headers, &HeaderName::From).unwrap_or_default();
        let to = header_text(&request.headers, &HeaderName::To).unwrap_or_default();
        let call_id = header_text(&request.headers, &HeaderName::CallId).unwrap_or_default();
        let remote_target = contact_uri(&request.headers).unwrap_or_else(|| request.uri.clone());
        let dialog = Dialog {
            call_id: call_id.clone(),
            local_tag: self.token(10),
            remote_tag: tag_of(&request.headers, &HeaderName::From),
            local_uri: without_tag(&to),
            remote_uri: without_tag(&from),
            local_seq: self.rng.u32(1..0x7fff_ffff),
            remote_seq: cseq_of(&request),
            remote_target,
            // RFC 3261 §12.1.1: the UAS keeps Record-Route in order.
            route_set: record_routes(&request.headers),
            peer: source,
        };
        self.dialogs.insert((call_id, dialog.local_tag.clone()), id);
        if let Some(meta) = self.txs.get_mut(&tx) {
            meta.owner = Owner::Leg(id, Purpose::Invite);
        }
        self.legs.insert(
            id,
            Leg {
                role: Role::Uas,
                state: LegState::Ringing,
                dialog,
                credentials: None,
                invite: request.clone(),
                invite_tx: Some(tx),
                auth: None,
                auth_attempts: 0,
                cancel_pending: false,
                cancelled: false,
                cancel_reason: None,
                ack: None,
                pending_2xx: None,
                reinvite_out: None,
                reinvite_in: None,
            },
        );
        debug!(leg = %id, %source, "incoming call");
        self.out.push_back(Output::Event(Event::IncomingCall {
            leg: id,
            request: Box::new(request),
            source,
        }));
    }

    /// RFC 3261 §9.2: a CANCEL for a pending INVITE gets 200, and the INVITE gets 487.
    fn on_cancel(&mut self, tx: TxId, request: &Request) {
        let target = TransactionKey::for_cancelled_invite(request)
            .and_then(|key| self.tx_ids.get(&key).copied());
        let Some(invite_tx) = target else {
            self.reply(tx, request, 481, None);
            return;
        };
        self.reply(tx, request, 200, None);
        let leg = match self.txs.get(&invite_tx).map(|m| m.owner) {
            Some(Owner::Leg(leg, Purpose::Invite)) => leg,
            _ => return,
        };
        let ringing = self
            .legs
            .get(&leg)
            .is_some_and(|l| l.state == LegState::Ringing);
        if !ringing {
            return;
        }
        let response = match self.legs.get(&leg) {
            Some(l) => match self.leg_response(l, 487) {
                Ok(b) => b.build(),
                Err(_) => return,
            },
            None => return,
        };
        self.send_response(invite_tx, response);
        self.end_leg(leg, EndReason::RemoteCancel);
    }

    fn on_dialog_request(&mut self, tx: TxId, request: Request, source: Dest) {
        let call_id = header_text(&request.headers, &HeaderName::CallId).unwrap_or_default();
        let local_tag = tag_of(&request.headers, &HeaderName::To).unwrap_or_default();
        let Some(leg) = self.dialogs.get(&(call_id, local_tag)).copied() else {
            self.reply(tx, &request, 481, None);
            return;
        };
        if let Some(meta) = self.txs.get_mut(&tx) {
            meta.owner = Owner::Leg(leg, Purpose::Other);
        }
        let sequence = cseq_of(&request);
        let Some(l) = self.legs.get_mut(&leg) else {
            self.reply(tx, &request, 481, None);
            return;
        };
        // RFC 3261 §12.2.2: a CSeq lower than the last one seen is out of order: 500.
        if let (Some(seen), Some(sequence)) = (l.dialog.remote_seq, sequence)
            && sequence <= seen
        {
            self.reply(tx, &request, 500, Some("Out of order CSeq"));
            return;
        }
        l.dialog.remote_seq = sequence.or(l.dialog.remote_seq);
        l.dialog.peer = source;
        match request.method {
            Method::Bye => {
                self.reply(tx, &request, 200, None);
                let already_ended = self
                    .legs
                    .get(&leg)
                    .is_some_and(|l| l.state == LegState::Terminating);
                if already_ended {
                    self.remove_leg(leg);
                } else {
                    self.end_leg(leg, EndReason::RemoteBye);
                }
            }
            Method::Invite => self.on_reinvite(leg, tx, request),
            Method::Info => {
                self.reply(tx, &request, 200, None);
                let content_type = header_text(&request.headers, &HeaderName::ContentType);
                self.out.push_back(Output::Event(Event::Info {
                    leg,
                    content_type,
                    body: request.body().clone(),
                }));
            }
            Method::Options => {
                let response = self.options_response(&request);
                self.send_response(tx, response);
            }
            Method::Register
            | Method::Subscribe
            | Method::Notify
            | Method::Refer
            | Method::Message
            | Method::Publish
            | Method::Update
            | Method::Prack => self.reply(tx, &request, 405, None),
            _ => self.reply(tx, &request, 501, None),
        }
    }

    /// RFC 3261 §14.2: a re-INVITE while ours is pending gets 491; while theirs is pending, 500.
    fn on_reinvite(&mut self, leg: LegId, tx: TxId, request: Request) {
        let Some(l) = self.legs.get(&leg) else { return };
        if l.reinvite_out.as_ref().is_some_and(|r| r.tx.is_some()) {
            self.reply(tx, &request, 491, None);
            return;
        }
        if l.reinvite_in.is_some() || l.pending_2xx.is_some() {
            let builder = self
                .response_builder(&request, 500, None)
                .and_then(|b| b.header(HeaderName::RetryAfter, "1").map_err(bad_header));
            if let Ok(builder) = builder {
                self.send_response(tx, builder.build());
            }
            return;
        }
        if let Some(target) = contact_uri(&request.headers)
            && let Some(l) = self.legs.get_mut(&leg)
        {
            // RFC 3261 §12.2.2: a target refresh request updates the remote target.
            l.dialog.remote_target = target;
        }
        let sdp = sdp_body(&Message::Request(request.clone()));
        if let Some(l) = self.legs.get_mut(&leg) {
            l.reinvite_in = Some(IncomingReInvite { tx, request });
        }
        self.out
            .push_back(Output::Event(Event::ReInvite { leg, sdp }));
    }

    /// An ACK for a 2xx (RFC 3261 §13.3.1.4): stops the retransmissions, confirms the dialog.
    fn on_ack(&mut self, ack: &Request, source: Dest) {
        let call_id = header_text(&ack.headers, &HeaderName::CallId).unwrap_or_default();
        let local_tag = tag_of(&ack.headers, &HeaderName::To).unwrap_or_default();
        let Some(leg) = self.dialogs.get(&(call_id, local_tag)).copied() else {
            return;
        };
        let sequence = cseq_of(ack);
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        let matches = l
            .pending_2xx
            .as_ref()
            .is_some_and(|p| Some(p.cseq) == sequence);
        if !matches {
            return;
        }
        l.pending_2xx = None;
        l.dialog.peer = source;
        self.timers.clear(TimerId::Retransmit2xx(leg));
        self.timers.clear(TimerId::AckTimeout(leg));
        match l.state {
            LegState::Answering => {
                l.state = LegState::Confirmed;
                self.out.push_back(Output::Event(Event::Confirmed { leg }));
            }
            // We hung up before the ACK came: RFC 3261 §15 lets the BYE go now.
            LegState::Terminating => self.send_bye(leg),
            _ => {}
        }
        if let Some(sdp) = sdp_body(&Message::Request(ack.clone()))
            && self.legs.contains_key(&leg)
        {
            // Late offer completed in the ACK: report it as the answer.
            self.out.push_back(Output::Event(Event::Answered {
                leg,
                sdp: Some(sdp),
            }));
        }
    }

    // ---------------------------------------------------------------------------------------
    // Responses we receive
    // ---------------------------------------------------------------------------------------

    fn on_leg_response(&mut self, leg: LegId, purpose: Purpose, response: &Response, source: Dest) {
        match purpose {
            Purpose::Invite => self.on_invite_response(leg, response, source),
            Purpose::ReInvite => self.on_reinvite_response(leg, response),
            Purpose::Bye => {
                if response.status.is_final() {
                    self.remove_leg(leg);
                }
            }
            Purpose::Cancel | Purpose::Other => {}
        }
    }

    fn on_invite_response(&mut self, leg: LegId, response: &Response, source: Dest) {
        let status = response.status.code();
        let Some(l) = self.legs.get_mut(&leg) else {
            // The leg is gone (we gave up); a late 2xx still needs ACK and BYE.
            if response.status.is_success() {
                self.ack_and_bye_orphan(response, source);
            }
            return;
        };
        if status < 200 {
            if let Some(tag) = tag_of(&response.headers, &HeaderName::To) {
                l.dialog.remote_tag = Some(tag);
            }
            if let Some(target) = contact_uri(&response.headers) {
                l.dialog.remote_target = target;
            }
            if l.state == LegState::Calling {
                l.state = LegState::Proceeding;
                if !self.timers.is_set(TimerId::RingTimeout(leg)) {
                    self.timers.set(
                        TimerId::RingTimeout(leg),
                        self.now + self.config.ring_timeout,
                    );
                }
            }
            let cancel_now = l.cancel_pending;
            if cancel_now {
                l.cancel_pending = false;
                let reason = l.cancel_reason.clone().unwrap_or(EndReason::Local);
                self.send_cancel(leg, reason);
                return;
            }
            if status > 100 {
                let sdp = sdp_body(&Message::Response(response.clone()));
                self.out
                    .push_back(Output::Event(Event::Progress { leg, status, sdp }));
            }
            return;
        }
        if response.status.is_success() {
            self.on_invite_success(leg, response);
            return;
        }
        if matches!(status, 401 | 407) && self.retry_with_auth(leg, response) {
            return;
        }
        let Some(l) = self.legs.get(&leg) else { return };
        let reason = if l.cancelled {
            l.cancel_reason.clone().unwrap_or(EndReason::Local)
        } else if matches!(status, 401 | 407) {
            EndReason::AuthFailed
        } else {
            let (status, reason) = status_line(response);
            EndReason::Rejected { status, reason }
        };
        self.end_leg(leg, reason);
    }

    fn on_invite_success(&mut self, leg: LegId, response: &Response) {
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        let remote_tag = tag_of(&response.headers, &HeaderName::To);
        if l.state == LegState::Confirmed || l.state == LegState::Terminating && l.ack.is_some() {
            if remote_tag == l.dialog.remote_tag {
                // A retransmitted 2xx: our ACK was lost. Send it again.
                if let Some((bytes, dest)) = l.ack.clone() {
                    self.stats.retransmissions += 1;
                    self.out
                        .push_back(Output::Transmit(Transmit { dest, bytes }));
                }
            } else {
                // RFC 3261 §13.2.2.4: a 2xx from another fork: ACK it, then BYE it.
                let source = l.dialog.peer;
                self.ack_and_bye_orphan(response, source);
            }
            return;
        }
        l.dialog.remote_tag = remote_tag;
        if let Some(target) = contact_uri(&response.headers) {
            l.dialog.remote_target = target;
        }
        // RFC 3261 §12.1.2: the UAC's route set is the Record-Route list reversed.
        let mut routes = record_routes(&response.headers);
        routes.reverse();
        l.dialog.route_set = routes;
        l.invite_tx = None;
        let sequence = cseq_of(&l.invite).unwrap_or(1);
        let local_key = (l.dialog.call_id.clone(), l.dialog.local_tag.clone());
        let cancelled = l.cancelled || l.cancel_pending;
        let reason = l.cancel_reason.clone().unwrap_or(EndReason::Local);
        l.state = LegState::Confirmed;
        self.dialogs.insert(local_key, leg);
        self.timers.clear(TimerId::RingTimeout(leg));
        self.send_ack(leg, sequence);
        if cancelled {
            // RFC 3261 §9.1: the CANCEL lost the race with the 200; end the call with BYE.
            self.send_bye(leg);
            self.emit_ended(leg, reason);
            return;
        }
        let sdp = sdp_body(&Message::Response(response.clone()));
        self.out
            .push_back(Output::Event(Event::Answered { leg, sdp }));
    }

    /// RFC 3261 §22.2: answers a 401/407 by re-sending the INVITE with credentials. Returns
    /// whether it did; it gives up when credentials were already refused.
    fn retry_with_auth(&mut self, leg: LegId, response: &Response) -> bool {
        let cnonce = self.token(16);
        let Some(l) = self.legs.get_mut(&leg) else {
            return false;
        };
        let Some(credentials) = l.credentials.clone() else {
            return false;
        };
        let Some(mut auth) = DigestAuth::from_response(response, cnonce) else {
            return false;
        };
        if l.auth_attempts >= 1 && !auth.is_stale() || l.auth_attempts >= 3 || l.cancelled {
            return false;
        }
        l.auth_attempts += 1;
        l.dialog.local_seq = l.dialog.local_seq.wrapping_add(1);
        let sequence = l.dialog.local_seq;
        let mut request = l.invite.clone();
        let uri = request.uri.to_string();
        let (name, value) = auth.authorize(&credentials, "INVITE", &uri);
        l.auth = Some(auth);
        let dest = l.dialog.peer;
        let Ok(local) = self.local_for(dest.transport) else {
            return false;
        };
        let via = self.via(dest.transport, local);
        let headers = &mut request.headers;
        headers.remove_all(&HeaderName::Via);
        headers.remove_all(&HeaderName::CSeq);
        headers.remove_all(&name);
        let built = [
            sipx_sip::Header::build(HeaderName::Via, via),
            sipx_sip::Header::build(HeaderName::CSeq, format!("{sequence} INVITE")),
            sipx_sip::Header::build(name, value),
        ];
        for (i, header) in built.into_iter().enumerate() {
            match header {
                Ok(h) if i == 0 => request.headers.push_front(h),
                Ok(h) => request.headers.push(h),
                Err(_) => return false,
            }
        }
        if let Some(l) = self.legs.get_mut(&leg) {
            l.invite = request.clone();
            l.state = LegState::Calling;
        }
        let tx = self.send_request(request, dest, Owner::Leg(leg, Purpose::Invite));
        if let Some(l) = self.legs.get_mut(&leg) {
            l.invite_tx = tx;
        }
        true
    }

    fn on_reinvite_response(&mut self, leg: LegId, response: &Response) {
        let status = response.status.code();
        if status < 200 {
            return;
        }
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        if response.status.is_success() {
            let sequence = response
                .headers
                .typed::<CSeq>()
                .and_then(Result::ok)
                .map_or(l.dialog.local_seq, |c| c.sequence);
            l.reinvite_out = None;
            if let Some(target) = contact_uri(&response.headers) {
                l.dialog.remote_target = target;
            }
            self.send_ack(leg, sequence);
            let sdp = sdp_body(&Message::Response(response.clone()));
            self.out.push_back(Output::Event(Event::ReInviteDone {
                leg,
                result: Ok(sdp),
            }));
            return;
        }
        if status == 491 {
            // RFC 3261 §14.1: the owner of the Call-ID waits 2.1–4 s, the other side 0–2 s.
            if let Some(pending) = l.reinvite_out.as_mut() {
                pending.tx = None;
            }
            let wait_ms = if l.role == Role::Uac {
                self.rng.u64(2100..=4000)
            } else {
                self.rng.u64(0..=2000)
            };
            self.timers.set(
                TimerId::ReInviteRetry(leg),
                self.now + Duration::from_millis(wait_ms),
            );
            return;
        }
        l.reinvite_out = None;
        self.out.push_back(Output::Event(Event::ReInviteDone {
            leg,
            result: Err(status),
        }));
        // RFC 3261 §14.1: 481 and 408 mean the dialog is gone.
        if matches!(status, 408 | 481) {
            self.end_leg(leg, EndReason::TransportError);
        }
    }

    fn on_leg_failure(&mut self, leg: LegId, purpose: Purpose, tx: TxId) {
        match purpose {
            Purpose::Invite => {
                let current = self.legs.get(&leg).and_then(|l| l.invite_tx);
                if current != Some(tx) {
                    return;
                }
                let reason = match self.legs.get(&leg) {
                    Some(l) if l.cancelled => l.cancel_reason.clone().unwrap_or(EndReason::Local),
                    Some(_) => EndReason::Timeout,
                    None => return,
                };
                self.end_leg(leg, reason);
            }
            Purpose::ReInvite => {
                if let Some(l) = self.legs.get_mut(&leg) {
                    l.reinvite_out = None;
                }
                self.out.push_back(Output::Event(Event::ReInviteDone {
                    leg,
                    result: Err(408),
                }));
                self.end_leg(leg, EndReason::TransportError);
            }
            Purpose::Bye => self.remove_leg(leg),
            Purpose::Cancel | Purpose::Other => {}
        }
    }

    fn on_stray_response(&mut self, response: &Response) {
        let is_invite_2xx = response.status.is_success()
            && response
                .headers
                .typed::<CSeq>()
                .and_then(Result::ok)
                .is_some_and(|c| c.method == Method::Invite);
        if is_invite_2xx {
            let call_id = header_text(&response.headers, &HeaderName::CallId).unwrap_or_default();
            let local_tag = tag_of(&response.headers, &HeaderName::From).unwrap_or_default();
            if let Some(leg) = self.dialogs.get(&(call_id, local_tag)).copied() {
                self.on_invite_success(leg, response);
                return;
            }
        }
        self.stats.stray_responses += 1;
    }

    fn on_register_response(&mut self, account: AccountId, response: &Response) {
        let status = response.status.code();
        if status < 200 {
            return;
        }
        let cnonce = self.token(16);
        let Some(reg) = self.accounts.get_mut(account.0 as usize) else {
            return;
        };
        reg.tx = None;
        if response.status.is_success() {
            reg.auth_attempts = 0;
            if reg.unregistering {
                reg.state = RegState::Unregistered;
                reg.unregistering = false;
                self.out
                    .push_back(Output::Event(Event::Unregistered { account }));
                return;
            }
            let granted = granted_expires(response).unwrap_or(reg.expires);
            reg.state = RegState::Registered;
            self.timers.set(
                TimerId::RegisterRefresh(account),
                self.now + Registration::refresh_after(granted),
            );
            self.out.push_back(Output::Event(Event::Registered {
                account,
                expires: granted,
            }));
            return;
        }
        if matches!(status, 401 | 407) {
            let Some(auth) = DigestAuth::from_response(response, cnonce) else {
                self.registration_failed(
                    account,
                    RegistrationFailure::Rejected {
                        status,
                        reason: "no usable Digest challenge".to_owned(),
                    },
                    None,
                );
                return;
            };
            // Credentials that were just sent and refused (the nonce was not merely stale)
            // are wrong; asking again would loop.
            let refused = reg.auth_attempts >= 1 && !auth.is_stale();
            if reg.config.credentials.is_none() || refused || reg.auth_attempts >= 3 {
                let realm = realm_of(response).unwrap_or_default();
                reg.auth = None;
                self.registration_failed(account, RegistrationFailure::AuthFailed { realm }, None);
                return;
            }
            reg.auth_attempts += 1;
            reg.auth = Some(auth);
            let unregister = reg.unregistering;
            self.send_register(account, unregister);
            return;
        }
        if status == 423
            && let Some(Ok(Expires(min))) = response
                .headers
                .get(&HeaderName::MinExpires)
                .map(|h| <Expires as sipx_sip::TypedHeader>::decode(&h.value()))
        {
            // RFC 3261 §10.3: Interval Too Brief — retry with the registrar's minimum.
            reg.expires = Duration::from_secs(u64::from(min));
            let unregister = reg.unregistering;
            self.send_register(account, unregister);
            return;
        }
        let (status, reason) = status_line(response);
        self.registration_failed(
            account,
            RegistrationFailure::Rejected { status, reason },
            Some(Duration::from_secs(60)),
        );
    }

    fn registration_failed(
        &mut self,
        account: AccountId,
        reason: RegistrationFailure,
        retry: Option<Duration>,
    ) {
        let Some(reg) = self.accounts.get_mut(account.0 as usize) else {
            return;
        };
        reg.tx = None;
        if reg.unregistering {
            reg.unregistering = false;
            reg.state = RegState::Unregistered;
            self.out
                .push_back(Output::Event(Event::Unregistered { account }));
            return;
        }
        reg.state = RegState::Failed;
        warn!(%account, %reason, "registration failed");
        if let Some(retry) = retry {
            self.timers
                .set(TimerId::RegisterRefresh(account), self.now + retry);
        }
        self.out
            .push_back(Output::Event(Event::RegistrationFailed { account, reason }));
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
                let t2 = self.config.t2;
                let Some(pending) = self.legs.get_mut(&leg).and_then(|l| l.pending_2xx.as_mut())
                else {
                    return;
                };
                pending.interval = (pending.interval * 2).min(t2);
                let next = self.now + pending.interval;
                let transmit = Transmit {
                    dest: pending.dest,
                    bytes: pending.bytes.clone(),
                };
                self.stats.retransmissions += 1;
                self.out.push_back(Output::Transmit(transmit));
                self.timers.set(TimerId::Retransmit2xx(leg), next);
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
            TimerId::RegisterRefresh(account) => self.send_register(account, false),
            TimerId::LegCleanup(leg) => self.remove_leg(leg),
        }
    }

    // ---------------------------------------------------------------------------------------
    // Requests we send
    // ---------------------------------------------------------------------------------------

    fn hangup_with(&mut self, leg: LegId, reason: EndReason) -> Result<(), CommandError> {
        let l = self
            .legs
            .get_mut(&leg)
            .ok_or(CommandError::NoSuchLeg(leg))?;
        match (l.role, l.state) {
            (Role::Uac, LegState::Calling) => {
                // RFC 3261 §9.1: no CANCEL before a provisional response; send it when one comes.
                l.cancel_pending = true;
                l.cancel_reason = Some(reason);
                Ok(())
            }
            (Role::Uac, LegState::Proceeding) => {
                self.send_cancel(leg, reason);
                Ok(())
            }
            (Role::Uas, LegState::Ringing) => {
                let tx = l.invite_tx;
                let l = self.legs.get(&leg).ok_or(CommandError::NoSuchLeg(leg))?;
                let response = self.leg_response(l, 603)?.build();
                if let Some(tx) = tx {
                    self.send_response(tx, response);
                }
                self.end_leg(leg, reason);
                Ok(())
            }
            (_, LegState::Answering) => {
                // RFC 3261 §15: no BYE before the ACK; it goes when the ACK (or its timeout) comes.
                l.state = LegState::Terminating;
                self.emit_ended(leg, reason);
                Ok(())
            }
            (_, LegState::Confirmed) => {
                self.send_bye(leg);
                self.emit_ended(leg, reason);
                Ok(())
            }
            (_, LegState::Terminating) => Ok(()),
            (_, state) => Err(CommandError::WrongState {
                leg,
                state: state.as_str(),
                action: "hang up",
            }),
        }
    }

    /// RFC 3261 §9.1: CANCEL copies the INVITE's Request-URI, Call-ID, From, To, CSeq number,
    /// Route and top Via (so it matches the same branch).
    fn send_cancel(&mut self, leg: LegId, reason: EndReason) {
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        l.cancelled = true;
        l.cancel_reason = Some(reason);
        l.state = LegState::Terminating;
        let invite = &l.invite;
        let mut cancel = Request::new(Method::Cancel, invite.uri.clone());
        for name in [
            HeaderName::Via,
            HeaderName::From,
            HeaderName::To,
            HeaderName::CallId,
        ] {
            if let Some(h) = invite.headers.get(&name) {
                cancel.headers.push(h.clone());
            }
        }
        for route in invite.headers.get_all(&HeaderName::Route) {
            cancel.headers.push(route.clone());
        }
        let sequence = cseq_of(invite).unwrap_or(1);
        let headers = [
            sipx_sip::Header::build(HeaderName::CSeq, format!("{sequence} CANCEL")),
            sipx_sip::Header::build(HeaderName::MaxForwards, "70"),
            sipx_sip::Header::build(HeaderName::ContentLength, "0"),
        ];
        for header in headers.into_iter().flatten() {
            cancel.headers.push(header);
        }
        let dest = l.dialog.peer;
        self.timers.clear(TimerId::RingTimeout(leg));
        self.send_request(cancel, dest, Owner::Leg(leg, Purpose::Cancel));
        // The 487 ends the leg; if it never comes, Timer B or the cleanup does.
        self.timers.set(
            TimerId::LegCleanup(leg),
            self.now + self.config.t1 * 64 + Duration::from_secs(1),
        );
    }

    /// RFC 3261 §13.2.2.4: the ACK for a 2xx is its own transaction-less request to the
    /// remote target, with the INVITE's CSeq number.
    fn send_ack(&mut self, leg: LegId, sequence: u32) {
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        let Ok((builder, dest)) = l.dialog.request(Method::Ack, Some(sequence)) else {
            return;
        };
        let Ok(local) = self.local_for(dest.transport) else {
            return;
        };
        let via = self.via(dest.transport, local);
        let Ok(builder) = builder.header(HeaderName::Via, via) else {
            return;
        };
        let bytes = Message::Request(builder.build()).to_bytes();
        if let Some(l) = self.legs.get_mut(&leg) {
            l.ack = Some((bytes.clone(), dest));
        }
        self.out
            .push_back(Output::Transmit(Transmit { dest, bytes }));
    }

    fn send_bye(&mut self, leg: LegId) {
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        l.state = LegState::Terminating;
        let Ok((builder, dest)) = l.dialog.request(Method::Bye, None) else {
            return;
        };
        let Ok(local) = self.local_for(dest.transport) else {
            return;
        };
        let via = self.via(dest.transport, local);
        let Ok(builder) = builder.header(HeaderName::Via, via) else {
            return;
        };
        let user_agent = self.config.user_agent.clone();
        let request = match builder.header(HeaderName::UserAgent, user_agent) {
            Ok(b) => b.build(),
            Err(_) => return,
        };
        self.send_request(request, dest, Owner::Leg(leg, Purpose::Bye));
        self.timers.set(
            TimerId::LegCleanup(leg),
            self.now + self.config.t1 * 64 + Duration::from_secs(1),
        );
    }

    fn send_reinvite(&mut self, leg: LegId, sdp: Option<Bytes>) {
        let user_agent = self.config.user_agent.clone();
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        let Ok((builder, dest)) = l.dialog.request(Method::Invite, None) else {
            return;
        };
        let user = user_of(&l.dialog.local_uri).unwrap_or_else(|| self.config.contact_user.clone());
        let Ok(local) = self.local_for(dest.transport) else {
            return;
        };
        let via = self.via(dest.transport, local);
        let mut builder = match builder
            .header(HeaderName::Via, via)
            .and_then(|b| b.header(HeaderName::Contact, contact(&user, local, dest.transport)))
            .and_then(|b| b.header(HeaderName::Allow, ALLOW))
            .and_then(|b| b.header(HeaderName::UserAgent, user_agent))
        {
            Ok(b) => b,
            Err(_) => return,
        };
        if let Some(sdp) = sdp.clone() {
            builder = match builder.header(HeaderName::ContentType, "application/sdp") {
                Ok(b) => b.body(sdp),
                Err(_) => return,
            };
        }
        let tx = self.send_request(builder.build(), dest, Owner::Leg(leg, Purpose::ReInvite));
        if let Some(l) = self.legs.get_mut(&leg) {
            l.reinvite_out = Some(OutgoingReInvite { sdp, tx });
        }
    }

    fn send_register(&mut self, account: AccountId, unregister: bool) {
        let Some(reg) = self.accounts.get_mut(account.0 as usize) else {
            return;
        };
        let config = reg.config.clone();
        let dest = config.proxy;
        let Some(local) = self.local.get(&dest.transport).copied() else {
            self.registration_failed(account, RegistrationFailure::TransportError, None);
            return;
        };
        let Ok(registrar) = Uri::parse(Bytes::from(config.registrar.clone())) else {
            self.registration_failed(
                account,
                RegistrationFailure::Rejected {
                    status: 0,
                    reason: format!("registrar {:?} is not a SIP URI", config.registrar),
                },
                None,
            );
            return;
        };
        let Some(reg) = self.accounts.get_mut(account.0 as usize) else {
            return;
        };
        reg.cseq += 1;
        reg.unregistering = unregister;
        reg.state = RegState::Registering;
        let expires = if unregister { 0 } else { reg.expires.as_secs() };
        let user = user_of(&config.aor).unwrap_or_else(|| self.config.contact_user.clone());
        let authorization = match (&mut reg.auth, &config.credentials) {
            (Some(auth), Some(credentials)) => {
                Some(auth.authorize(credentials, "REGISTER", &registrar.to_string()))
            }
            _ => None,
        };
        let (call_id, tag, cseq) = (reg.call_id.clone(), reg.local_tag.clone(), reg.cseq);
        let via = self.via(dest.transport, local);
        let built = sipx_sip::build::RequestBuilder::new(Method::Register, registrar)
            .header(HeaderName::Via, via)
            .map(|b| b.max_forwards(70))
            .and_then(|b| b.header(HeaderName::From, format!("<{}>;tag={tag}", config.aor)))
            .and_then(|b| b.header(HeaderName::To, format!("<{}>", config.aor)))
            .and_then(|b| b.header(HeaderName::CallId, call_id))
            .and_then(|b| b.cseq(cseq, &Method::Register))
            .and_then(|b| b.header(HeaderName::Contact, contact(&user, local, dest.transport)))
            .and_then(|b| b.header(HeaderName::Expires, expires.to_string()))
            .and_then(|b| b.header(HeaderName::Allow, ALLOW))
            .and_then(|b| b.header(HeaderName::UserAgent, self.config.user_agent.clone()));
        let mut builder = match built {
            Ok(b) => b,
            Err(_) => return,
        };
        if let Some((name, value)) = authorization {
            builder = match builder.header(name, value) {
                Ok(b) => b,
                Err(_) => return,
            };
        }
        let tx = self.send_request(builder.build(), dest, Owner::Account(account));
        if let Some(reg) = self.accounts.get_mut(account.0 as usize) {
            reg.tx = tx;
        }
    }

    fn ack_and_bye_orphan(&mut self, response: &Response, source: Dest) {
        let from = header_text(&response.headers, &HeaderName::From).unwrap_or_default();
        let to = header_text(&response.headers, &HeaderName::To).unwrap_or_default();
        let Some(target) = contact_uri(&response.headers) else {
            return;
        };
        let sequence = response
            .headers
            .typed::<CSeq>()
            .and_then(Result::ok)
            .map_or(1, |c| c.sequence);
        let mut dialog = Dialog {
            call_id: header_text(&response.headers, &HeaderName::CallId).unwrap_or_default(),
            local_tag: tag_of(&response.headers, &HeaderName::From).unwrap_or_default(),
            remote_tag: tag_of(&response.headers, &HeaderName::To),
            local_uri: without_tag(&from),
            remote_uri: without_tag(&to),
            local_seq: sequence,
            remote_seq: None,
            remote_target: target,
            route_set: {
                let mut r = record_routes(&response.headers);
                r.reverse();
                r
            },
            peer: source,
        };
        let Ok(local) = self.local_for(source.transport) else {
            return;
        };
        for (method, seq) in [(Method::Ack, Some(sequence)), (Method::Bye, None)] {
            let is_ack = method == Method::Ack;
            let Ok((builder, dest)) = dialog.request(method, seq) else {
                return;
            };
            let Ok(builder) = builder.header(HeaderName::Via, self.via(dest.transport, local))
            else {
                return;
            };
            if is_ack {
                let bytes = Message::Request(builder.build()).to_bytes();
                self.out
                    .push_back(Output::Transmit(Transmit { dest, bytes }));
            } else {
                self.send_request(builder.build(), dest, Owner::Nobody);
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Responses we send
    // ---------------------------------------------------------------------------------------

    fn reply(&mut self, tx: TxId, request: &Request, status: u16, reason: Option<&str>) {
        let builder = self.response_builder(request, status, reason);
        let builder = match (builder, status) {
            (Ok(b), 405 | 501) => b.header(HeaderName::Allow, ALLOW).map_err(bad_header),
            (other, _) => other,
        };
        if let Ok(builder) = builder {
            self.send_response(tx, builder.build());
        }
    }

    /// RFC 3261 §11.2: OPTIONS is answered as an INVITE would be, listing capabilities.
    fn options_response(&mut self, request: &Request) -> Response {
        let built = self
            .response_builder(request, 200, None)
            .and_then(|b| b.header(HeaderName::Allow, ALLOW).map_err(bad_header))
            .and_then(|b| {
                b.header(
                    HeaderName::Accept,
                    "application/sdp, application/dtmf-relay",
                )
                .map_err(bad_header)
            })
            .and_then(|b| {
                b.header(HeaderName::Supported, SUPPORTED)
                    .map_err(bad_header)
            });
        match built {
            Ok(b) => b.build(),
            Err(_) => Response::new(StatusCode::new(500).unwrap_or_else(ok_status), "Error"),
        }
    }

    /// A response outside any leg; a To tag is added to final responses (RFC 3261 §8.2.6.2).
    fn response_builder(
        &mut self,
        request: &Request,
        status: u16,
        reason: Option<&str>,
    ) -> Result<ResponseBuilder, CommandError> {
        let tag = if status > 100 && tag_of(&request.headers, &HeaderName::To).is_none() {
            Some(self.token(10))
        } else {
            None
        };
        self.build_response(request, status, reason, tag.as_deref())
    }

    fn build_response(
        &self,
        request: &Request,
        status: u16,
        reason: Option<&str>,
        tag: Option<&str>,
    ) -> Result<ResponseBuilder, CommandError> {
        let code = StatusCode::new(status).ok_or(CommandError::BadStatus(status))?;
        let reason = reason.unwrap_or(reason_phrase(status)).to_owned();
        let mut builder = ResponseBuilder::to_request(request, code, reason).map_err(bad_header)?;
        if let Some(tag) = tag
            && let Some(to) = request.headers.value(&HeaderName::To)
            && let Ok(header) = sipx_sip::Header::build(HeaderName::To, with_tag(&to, tag))
        {
            // A To that cannot be rebuilt (it carries a NUL, RFC 4475 §3.1.1.2) is echoed as
            // received, without our tag, rather than leaving the request unanswered.
            builder = builder
                .set_header(&HeaderName::To, header.value().into_owned())
                .map_err(bad_header)?;
        }
        builder
            .header(HeaderName::Server, self.config.user_agent.clone())
            .map_err(bad_header)
    }

    /// A response to a leg's initial INVITE, with our tag and (for 18x/2xx) our Contact.
    fn leg_response(&self, leg: &Leg, status: u16) -> Result<ResponseBuilder, CommandError> {
        self.dialog_response(&leg.invite, leg, status)
    }

    fn dialog_response(
        &self,
        request: &Request,
        leg: &Leg,
        status: u16,
    ) -> Result<ResponseBuilder, CommandError> {
        let mut builder =
            self.build_response(request, status, None, Some(&leg.dialog.local_tag))?;
        if (101..300).contains(&status) {
            let local = self.local_for(leg.dialog.transport())?;
            let user =
                user_of(&leg.dialog.local_uri).unwrap_or_else(|| self.config.contact_user.clone());
            builder = builder
                .header(
                    HeaderName::Contact,
                    contact(&user, local, leg.dialog.transport()),
                )
                .and_then(|b| b.header(HeaderName::Allow, ALLOW))
                .and_then(|b| b.header(HeaderName::Supported, SUPPORTED))
                .map_err(bad_header)?;
        }
        Ok(builder)
    }

    /// Answers a request that failed validation, statelessly, naming the fault.
    fn reply_invalid(&mut self, request: &Request, source: Dest, fault: &sipx_sip::Finding) {
        let status = fault.status();
        let reason = match fault {
            sipx_sip::Finding::MissingRequiredHeader(h) => format!("Missing {h} Header"),
            sipx_sip::Finding::MalformedRequiredHeader(h) => format!("Malformed {h} Header"),
            sipx_sip::Finding::RepeatedSingleValueHeader(h) => format!("Repeated {h} Header"),
            sipx_sip::Finding::CSeqMethodMismatch => "CSeq Method Does Not Match".to_owned(),
            sipx_sip::Finding::UnsupportedVersion => "Version Not Supported".to_owned(),
            sipx_sip::Finding::RequestUriHasHeaders => "Request-URI Has Headers".to_owned(),
            _ => "Bad Request".to_owned(),
        };
        debug!(%source, %reason, "answering an invalid request");
        let tag = self.token(10);
        let builder = self
            .build_response(request, status, Some(&reason), Some(&tag))
            .or_else(|_| partial_response(request, status, &reason));
        if let Ok(builder) = builder {
            let dest = response_dest(request, source);
            let bytes = Message::Response(builder.build()).to_bytes();
            self.out
                .push_back(Output::Transmit(Transmit { dest, bytes }));
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
            self.dialogs
                .remove(&(l.dialog.call_id.clone(), l.dialog.local_tag.clone()));
        }
        for timer in [
            TimerId::Retransmit2xx(leg),
            TimerId::AckTimeout(leg),
            TimerId::RingTimeout(leg),
            TimerId::ReInviteRetry(leg),
            TimerId::LegCleanup(leg),
        ] {
            self.timers.clear(timer);
        }
    }

    // ---------------------------------------------------------------------------------------
    // Small things
    // ---------------------------------------------------------------------------------------

    fn local_for(&self, transport: Transport) -> Result<SocketAddr, CommandError> {
        self.local
            .get(&transport)
            .copied()
            .ok_or(CommandError::NoLocalAddress(transport))
    }

    /// A `Via` with a fresh RFC 3261 branch and `rport` (RFC 3581).
    fn via(&mut self, transport: Transport, local: SocketAddr) -> String {
        format!(
            "SIP/2.0/{} {};branch=z9hG4bK{};rport",
            transport.as_via_token(),
            sock_text(local),
            self.token(16)
        )
    }

    fn token(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| char::from(ALPHABET[self.rng.usize(..ALPHABET.len())]))
            .collect()
    }
}

fn contact(user: &str, local: SocketAddr, transport: Transport) -> String {
    match transport {
        Transport::Udp => format!("<sip:{user}@{}>", sock_text(local)),
        Transport::Tcp => format!("<sip:{user}@{};transport=tcp>", sock_text(local)),
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
