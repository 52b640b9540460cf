//! What the layer above asks of the user agent: accounts and calls.

#[allow(clippy::wildcard_imports)]
use super::*;

impl UserAgent {
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
            transport_failures: 0,
            contact_stale: false,
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

    /// Stops refreshing or retrying an account's registration without touching its binding
    /// (a registration test whose binding a live account shares, or an account replaced by
    /// one with the same address-of-record).
    pub fn forget(&mut self, account: AccountId) {
        self.timers.clear(TimerId::RegisterRefresh(account));
        if let Some(reg) = self.accounts.get_mut(account.0 as usize)
            && reg.tx.is_none()
        {
            reg.state = RegState::Unregistered;
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
        let leg = self.reserve_leg();
        self.invite_as(now, leg, invitation)
    }

    /// A leg id for a call whose INVITE is sent later with [`UserAgent::invite_as`] (once
    /// DNS has located where to send it).
    pub fn reserve_leg(&mut self) -> LegId {
        let id = LegId(self.next_leg);
        self.next_leg += 1;
        id
    }

    /// Places a call on a leg id from [`UserAgent::reserve_leg`].
    pub fn invite_as(
        &mut self,
        now: Instant,
        id: LegId,
        invitation: Invitation,
    ) -> Result<LegId, CommandError> {
        self.now = now;
        let target = sip_target(&invitation.target, "called")?;
        let account = invitation
            .account
            .and_then(|a| self.accounts.get(a.0 as usize))
            .map(|r| r.config.clone());
        let dest = invitation
            .dest
            .or(account.as_ref().map(|a| a.proxy))
            .or_else(|| uri_dest(&target, Transport::Udp))
            .ok_or_else(|| CommandError::Unroutable(invitation.target.clone()))?;
        let local = self.local_for(dest)?;
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
        if let Some(expires) = self.config.session_expires {
            // RFC 4028 §7.1: ask for a session timer; the answer says who refreshes.
            builder = builder
                .header(HeaderName::SessionExpires, expires.as_secs().to_string())
                .map_err(bad_header)?;
        }
        let invitation_sdp = invitation.sdp.clone();
        if let Some(sdp) = invitation.sdp {
            builder = builder
                .header(HeaderName::ContentType, "application/sdp")
                .map_err(bad_header)?
                .body(sdp);
        }
        let request = builder.build();
        let mut leg = Leg::new(Role::Uac, LegState::Calling, dialog, request.clone());
        leg.credentials = account.and_then(|a| a.credentials);
        leg.local_sdp = invitation_sdp;
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
        let (tx, builder, reliable) = {
            let l = self.ringing_leg(leg, "ring")?;
            if l.reliable_1xx.is_some() {
                // RFC 3262 §3: no second reliable provisional before the first is PRACKed.
                return Ok(());
            }
            let tx = l.invite_tx.ok_or(CommandError::NoSuchLeg(leg))?;
            let mut builder = self.leg_response(l, 180)?;
            for (name, value) in headers {
                builder = builder
                    .header(HeaderName::parse(&Bytes::from(name.clone())), value.clone())
                    .map_err(|_| CommandError::BadHeader(name.clone()))?;
            }
            (tx, builder, Self::provisional_must_be_reliable(l))
        };
        if reliable {
            return self.send_reliable_provisional(leg, tx, builder);
        }
        self.send_response(tx, builder.build());
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
        let (tx, builder, cseq, invite) = {
            let l = self.ringing_leg(leg, "answer")?;
            let tx = l.invite_tx.ok_or(CommandError::NoSuchLeg(leg))?;
            let cseq = cseq_of(&l.invite).unwrap_or(1);
            (tx, self.leg_response(l, 200)?, cseq, l.invite.clone())
        };
        let mut builder = self.with_session_answer(leg, &invite, builder)?;
        if let Some(sdp) = sdp.clone() {
            builder = builder
                .header(HeaderName::ContentType, "application/sdp")
                .map_err(bad_header)?
                .body(sdp);
        }
        let response = builder.build();
        self.stop_provisional(leg);
        if let Some(l) = self.legs.get_mut(&leg) {
            l.state = LegState::Answering;
            l.invite_tx = None;
            l.local_sdp = sdp;
        }
        self.send_2xx(leg, tx, response, cseq);
        Ok(())
    }

    /// Refuses an incoming leg with a final status (4xx–6xx).
    pub fn reject(&mut self, now: Instant, leg: LegId, status: u16) -> Result<(), CommandError> {
        self.reject_with(now, leg, status, &[])
    }

    /// Refuses an incoming leg with a final status and extra headers (a `Warning` saying
    /// why, RFC 3261 §20.43).
    pub fn reject_with(
        &mut self,
        now: Instant,
        leg: LegId,
        status: u16,
        headers: &[(String, String)],
    ) -> Result<(), CommandError> {
        self.now = now;
        if !(300..=699).contains(&status) {
            return Err(CommandError::BadStatus(status));
        }
        let (tx, response) = {
            let l = self.ringing_leg(leg, "reject")?;
            let tx = l.invite_tx.ok_or(CommandError::NoSuchLeg(leg))?;
            let mut builder = self.leg_response(l, status)?;
            for (name, value) in headers {
                builder = builder
                    .header(HeaderName::parse(&Bytes::from(name.clone())), value.clone())
                    .map_err(|_| CommandError::BadHeader(name.clone()))?;
            }
            (tx, builder.build())
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
        let refreshing = l.refresh.is_some_and(|(_, invite)| invite);
        if l.state != LegState::Confirmed
            || l.reinvite_out.is_some()
            || l.reinvite_in.is_some()
            || refreshing
        {
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
        let builder = self.dialog_response(&pending.request, l, 200)?;
        let mut builder = self.with_session_answer(leg, &pending.request, builder)?;
        if let Some(sdp) = sdp.clone() {
            builder = builder
                .header(HeaderName::ContentType, "application/sdp")
                .map_err(bad_header)?
                .body(sdp.clone());
            if let Some(l) = self.legs.get_mut(&leg) {
                l.local_sdp = Some(sdp);
            }
        }
        if pending.request.method == Method::Update {
            // RFC 3311: UPDATE is a non-INVITE request; its 2xx needs no ACK.
            self.send_response(pending.tx, builder.build());
        } else {
            self.send_2xx(leg, pending.tx, builder.build(), cseq);
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

    /// Sends one DTMF digit (`0-9`, `*`, `#`, `A-D`) as SIP INFO with an
    /// `application/dtmf-relay` body (`Signal=` and `Duration=` in milliseconds), for peers
    /// that did not agree to RFC 4733 telephone-event.
    pub fn send_dtmf_info(
        &mut self,
        now: Instant,
        leg: LegId,
        digit: char,
    ) -> Result<(), CommandError> {
        let body = format!("Signal={digit}\r\nDuration=160\r\n");
        self.send_info(now, leg, "application/dtmf-relay", Bytes::from(body))
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
        let local = self.local_for(dest)?;
        let request = builder
            .header(HeaderName::Via, self.via(dest.transport, local))
            .and_then(|b| b.header(HeaderName::ContentType, content_type.to_owned()))
            .map_err(bad_header)?
            .body(body)
            .build();
        self.send_request(request, dest, Owner::Leg(leg, Purpose::Other));
        Ok(())
    }

    /// Sends a REFER in the dialog (RFC 3515): the peer is asked to call `refer_to` (a URI,
    /// perhaps with `?Replaces=…`). The answer comes as [`Event::ReferAnswered`], the transfer's
    /// progress as [`Event::TransferProgress`].
    pub fn refer(&mut self, now: Instant, leg: LegId, refer_to: &str) -> Result<(), CommandError> {
        self.now = now;
        let l = self
            .legs
            .get_mut(&leg)
            .ok_or(CommandError::NoSuchLeg(leg))?;
        if l.state != LegState::Confirmed {
            return Err(CommandError::WrongState {
                leg,
                state: l.state.as_str(),
                action: "transfer",
            });
        }
        let referred_by = l.dialog.local_uri.clone();
        let user = user_of(&referred_by).unwrap_or_else(|| "recall".to_owned());
        let (builder, dest) = l.dialog.request(Method::Refer, None).map_err(bad_header)?;
        let local = self.local_for(dest)?;
        let contact = contact(&user, local, dest.transport);
        let request = builder
            .header(HeaderName::Via, self.via(dest.transport, local))
            .and_then(|b| b.header(HeaderName::ReferTo, format!("<{refer_to}>")))
            .and_then(|b| b.header(HeaderName::ReferredBy, referred_by))
            .and_then(|b| b.header(HeaderName::Contact, contact))
            .map_err(bad_header)?
            .build();
        self.send_request(request, dest, Owner::Leg(leg, Purpose::Refer));
        Ok(())
    }

    /// Tells the peer that referred us how the call it asked for is going (RFC 3515 §2.4.5):
    /// a NOTIFY with `Event: refer` and the status as a `message/sipfrag` body; `done` ends
    /// the implicit subscription.
    pub fn notify_transfer(
        &mut self,
        now: Instant,
        leg: LegId,
        status: u16,
        reason: &str,
        done: bool,
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
                action: "report a transfer",
            });
        }
        let user = user_of(&l.dialog.local_uri).unwrap_or_else(|| "recall".to_owned());
        let (builder, dest) = l.dialog.request(Method::Notify, None).map_err(bad_header)?;
        let local = self.local_for(dest)?;
        let contact = contact(&user, local, dest.transport);
        let state = if done {
            "terminated;reason=noresource".to_owned()
        } else {
            "active;expires=60".to_owned()
        };
        let request = builder
            .header(HeaderName::Via, self.via(dest.transport, local))
            .and_then(|b| b.header(HeaderName::Event, "refer"))
            .and_then(|b| b.header(HeaderName::SubscriptionState, state))
            .and_then(|b| b.header(HeaderName::Contact, contact))
            .and_then(|b| b.header(HeaderName::ContentType, "message/sipfrag;version=2.0"))
            .map_err(bad_header)?
            .body(Bytes::from(format!("SIP/2.0 {status} {reason}\r\n")))
            .build();
        self.send_request(request, dest, Owner::Leg(leg, Purpose::Other));
        Ok(())
    }

    /// The `Replaces` value naming a confirmed leg's dialog from its peer's side (RFC 3891:
    /// the peer's tag is the to-tag, ours the from-tag), for the `Refer-To` of an attended
    /// transfer, and the peer's Contact to send the transferee to.
    #[must_use]
    pub fn replaces_for(&self, leg: LegId) -> Option<(String, String)> {
        let l = self
            .legs
            .get(&leg)
            .filter(|l| l.state == LegState::Confirmed)?;
        let d = &l.dialog;
        let value = format!(
            "{};to-tag={};from-tag={}",
            d.call_id,
            d.remote_tag.as_deref()?,
            d.local_tag
        );
        Some((d.remote_target.to_string(), value))
    }
}
