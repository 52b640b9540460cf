//! What arrives: requests (RFC 3261 §8.2, §12.2.2, §9.2, §14.2) and responses to our requests.

#[allow(clippy::wildcard_imports)]
use super::*;

impl UserAgent {
    // ---------------------------------------------------------------------------------------
    // Requests we receive
    // ---------------------------------------------------------------------------------------

    pub(super) fn on_request(&mut self, tx: TxId, request: Request, source: Dest) {
        if request.method == Method::Cancel {
            self.on_cancel(tx, &request);
            return;
        }
        // RFC 3261 §8.2.2.1: a Request-URI scheme we do not know is 416.
        if let sipx_sip::Scheme::Other(scheme) = request.uri.scheme() {
            let reason = format!(
                "Unsupported URI Scheme ({})",
                String::from_utf8_lossy(scheme).replace(['\r', '\n'], "")
            );
            self.reply(tx, &request, 416, Some(&reason));
            return;
        }
        // RFC 3261 §8.2.2.3: an option tag in Require we do not support is 420, with the
        // tags listed in Unsupported — whatever the method.
        if let Some(unsupported) = unsupported_requirement(&request) {
            if let Ok(builder) = self.response_builder(&request, 420, None)
                && let Ok(builder) = builder.header(HeaderName::Unsupported, unsupported)
            {
                self.send_response(tx, builder.build());
            }
            return;
        }
        // RFC 3261 §8.2.3: a session body we cannot read is 415, saying what we take.
        if matches!(request.method, Method::Invite | Method::Update) && unreadable_body(&request) {
            if let Ok(builder) = self.response_builder(&request, 415, None)
                && let Ok(builder) = builder.header(HeaderName::Accept, ACCEPT)
                && let Ok(builder) = builder.header(HeaderName::AcceptEncoding, "identity")
                && let Ok(builder) = builder.header(HeaderName::AcceptLanguage, "en")
            {
                self.send_response(tx, builder.build());
            }
            return;
        }
        // RFC 3261 §21.4.7, RFC 4475 §3.3.15: our answer to a session request carries SDP; a
        // caller whose Accept leaves SDP out (or is empty, §20.1) gets 406, saying what we send.
        if matches!(request.method, Method::Invite | Method::Update) && refuses_sdp(&request) {
            if let Ok(builder) = self.response_builder(&request, 406, Some("Not Acceptable"))
                && let Ok(builder) = builder.header(HeaderName::Accept, "application/sdp")
            {
                self.send_response(tx, builder.build());
            }
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
            // RFC 3261 §15.1.2: a BYE that matches no dialog (and the same for the other
            // requests that only live in one).
            Method::Bye | Method::Info | Method::Prack | Method::Update => {
                self.reply(tx, &request, 481, None);
            }
            Method::Notify => {
                if !self.on_unsolicited_notify(tx, &request) {
                    // RFC 6665 §4.1.3: a NOTIFY for no subscription of ours.
                    self.reply(tx, &request, 481, None);
                }
            }
            _ => self.refuse(tx, &request),
        }
    }

    /// RFC 3261 §8.2.1: 405 for methods we know but do not do, 501 for the rest.
    pub(super) fn refuse(&mut self, tx: TxId, request: &Request) {
        let known = matches!(
            request.method,
            Method::Register
                | Method::Subscribe
                | Method::Notify
                | Method::Refer
                | Method::Message
                | Method::Publish
                | Method::Update
                | Method::Prack
        );
        self.reply(tx, request, if known { 405 } else { 501 }, None);
    }

    pub(super) fn on_invite(&mut self, tx: TxId, request: Request, source: Dest) {
        // RFC 4028 §8.1: a session interval below our minimum is refused with ours.
        let session_asked = match self.session_ask(&request) {
            Ok(asked) => asked,
            Err(min_se) => {
                self.reply_too_small(tx, &request, min_se);
                return;
            }
        };
        // RFC 3891 §3: Replaces names a dialog by its Call-ID, our tag (to-tag) and theirs
        // (from-tag); a confirmed one is taken over, anything else is 481.
        let replaces = match header_text(&request.headers, &HeaderName::Replaces) {
            Some(value) => match self.replaced_leg(&value) {
                Some(leg) => Some(leg),
                None => {
                    self.reply(
                        tx,
                        &request,
                        481,
                        Some("Call/Transaction Does Not Exist (Replaces)"),
                    );
                    return;
                }
            },
            None => None,
        };
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
        let invite = Box::new(crate::IncomingInvite::read(&request));
        self.dialogs.insert((call_id, dialog.local_tag.clone()), id);
        if let Some(meta) = self.txs.get_mut(&tx) {
            meta.owner = Owner::Leg(id, Purpose::Invite);
        }
        let mut leg = Leg::new(Role::Uas, LegState::Ringing, dialog, request);
        leg.invite_tx = Some(tx);
        leg.session_asked = session_asked;
        leg.peer_update = session::allows_update(&leg.invite.headers);
        self.legs.insert(id, leg);
        debug!(leg = %id, %source, "incoming call");
        self.out.push_back(Output::Event(Event::IncomingCall {
            leg: id,
            invite,
            source,
            replaces,
        }));
    }

    /// The confirmed leg a `Replaces` value (`call-id;to-tag=…;from-tag=…`) names.
    fn replaced_leg(&self, value: &str) -> Option<LegId> {
        let mut parts = value.split(';');
        let call_id = parts.next()?.trim().to_owned();
        let (mut to_tag, mut from_tag) = (None, None);
        for param in parts {
            let (name, val) = param.split_once('=')?;
            match name.trim().to_ascii_lowercase().as_str() {
                "to-tag" => to_tag = Some(val.trim().to_owned()),
                "from-tag" => from_tag = Some(val.trim().to_owned()),
                _ => {}
            }
        }
        let leg = *self.dialogs.get(&(call_id, to_tag?))?;
        let l = self.legs.get(&leg)?;
        (l.state == LegState::Confirmed && l.dialog.remote_tag == from_tag).then_some(leg)
    }

    /// RFC 3261 §9.2: a CANCEL for a pending INVITE gets 200, and the INVITE gets 487.
    pub(super) fn on_cancel(&mut self, tx: TxId, request: &Request) {
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

    pub(super) fn on_dialog_request(&mut self, tx: TxId, request: Request, source: Dest) {
        let call_id = header_text(&request.headers, &HeaderName::CallId).unwrap_or_default();
        let local_tag = tag_of(&request.headers, &HeaderName::To).unwrap_or_default();
        let key = (call_id, local_tag);
        if let Some(id) = self.subscription_dialogs.get(&key).copied() {
            match request.method {
                Method::Notify => self.on_subscription_notify(id, tx, &request, source),
                _ => self.refuse(tx, &request),
            }
            return;
        }
        let Some(leg) = self.dialogs.get(&key).copied() else {
            match self.subscriptions.get(&key).copied() {
                Some(leg) if request.method == Method::Notify => {
                    self.on_notify(leg, tx, &request);
                }
                _ if request.method == Method::Notify
                    && self.on_unsolicited_notify(tx, &request) => {}
                _ => self.reply(tx, &request, 481, None),
            }
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
            Method::Prack => self.on_prack(leg, tx, &request),
            Method::Update => self.on_update(leg, tx, request),
            Method::Info => {
                self.reply(tx, &request, 200, None);
                let content_type = header_text(&request.headers, &HeaderName::ContentType);
                let relay = content_type
                    .as_deref()
                    .is_some_and(|c| c.to_ascii_lowercase().starts_with("application/dtmf"));
                let event = match dtmf_signal(request.body()) {
                    Some(digit) if relay => Event::DtmfInfo { leg, digit },
                    _ => Event::Info {
                        leg,
                        content_type,
                        body: request.body().clone(),
                    },
                };
                self.out.push_back(Output::Event(event));
            }
            Method::Options => {
                let response = self.options_response(&request);
                self.send_response(tx, response);
            }
            Method::Notify => self.on_notify(leg, tx, &request),
            Method::Refer => {
                // RFC 3515 §2.4.2: one Refer-To; its header part may carry Replaces.
                let Some(refer_to) = header_text(&request.headers, &HeaderName::ReferTo) else {
                    self.reply(tx, &request, 400, Some("Missing Refer-To"));
                    return;
                };
                let (target, replaces) = split_refer_to(&refer_to);
                self.reply(tx, &request, 202, None);
                let referred_by = header_text(&request.headers, &HeaderName::ReferredBy);
                self.out.push_back(Output::Event(Event::ReferReceived {
                    leg,
                    target,
                    replaces,
                    referred_by,
                }));
            }
            _ => self.refuse(tx, &request),
        }
    }

    /// RFC 3515 §2.4.4: NOTIFYs about our REFER carry `Event: refer`; remote answer / hold come
    /// as `Event: talk|hold` (the Broadsoft/Polycom remote-control convention); any other event
    /// package is 489 (RFC 6665 §8.3.1). `leg` may have ended while its refer subscription
    /// lives on; then only `refer` is taken.
    fn on_notify(&mut self, leg: LegId, tx: TxId, request: &Request) {
        let event = header_text(&request.headers, &HeaderName::Event)
            .map(|e| {
                e.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        let live = self.legs.contains_key(&leg);
        match event.as_str() {
            "talk" | "hold" if live => {
                self.reply(tx, request, 200, None);
                self.out
                    .push_back(Output::Event(Event::RemoteControl { leg, event }));
            }
            "refer" => {
                self.reply(tx, request, 200, None);
                let state = header_text(&request.headers, &HeaderName::SubscriptionState)
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                let done = state.starts_with("terminated");
                if done {
                    self.end_refer_subscription(leg);
                } else if let Some(l) = self.legs.get_mut(&leg) {
                    let expires = state
                        .split(';')
                        .find_map(|p| p.trim().strip_prefix("expires="))
                        .and_then(|v| v.trim().parse::<u64>().ok());
                    if let Some(seconds) = expires {
                        l.refer_subscription = Some(refer_lifetime(Some(seconds)));
                    }
                }
                // The body is `message/sipfrag`: "SIP/2.0 200 OK".
                let status = String::from_utf8_lossy(request.body())
                    .split_whitespace()
                    .nth(1)
                    .and_then(|code| code.parse::<u16>().ok());
                if let Some(status) = status {
                    self.out.push_back(Output::Event(Event::TransferProgress {
                        leg,
                        status,
                        done,
                    }));
                }
            }
            _ if !live => self.reply(tx, request, 481, None),
            _ => self.reply(tx, request, 489, None),
        }
    }

    /// Our REFER's subscription ended: nothing more about it will be taken once the leg goes.
    fn end_refer_subscription(&mut self, leg: LegId) {
        if let Some(l) = self.legs.get_mut(&leg) {
            l.refer_subscription = None;
        }
        self.subscriptions.retain(|_, l| *l != leg);
        self.timers.clear(TimerId::SubscriptionEnd(leg));
    }

    /// RFC 3261 §14.2: a re-INVITE while ours is pending gets 491; while theirs is pending, 500.
    pub(super) fn on_reinvite(&mut self, leg: LegId, tx: TxId, request: Request) {
        let Some(l) = self.legs.get(&leg) else { return };
        let refreshing = l.refresh.is_some_and(|(_, invite)| invite);
        if l.reinvite_out.as_ref().is_some_and(|r| r.tx.is_some()) || refreshing {
            self.reply(tx, &request, 491, None);
            return;
        }
        if l.reinvite_in.is_some() || l.pending_2xx.is_some() {
            self.reply_retry_later(tx, &request);
            return;
        }
        if let Some(l) = self.legs.get_mut(&leg) {
            if let Some(target) = contact_uri(&request.headers) {
                // RFC 3261 §12.2.2: a target refresh request updates the remote target.
                l.dialog.remote_target = target;
            }
            if request.headers.get(&HeaderName::Allow).is_some() {
                l.peer_update = session::allows_update(&request.headers);
            }
        }
        let sdp = sdp_body(&Message::Request(request.clone()));
        if let Some(l) = self.legs.get_mut(&leg) {
            l.reinvite_in = Some(IncomingReInvite { tx, request });
        }
        self.out
            .push_back(Output::Event(Event::ReInvite { leg, sdp }));
    }

    /// An ACK for a 2xx (RFC 3261 §13.3.1.4): stops the retransmissions, confirms the dialog.
    pub(super) fn on_ack(&mut self, ack: &Request, source: Dest) {
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

    pub(super) fn on_leg_response(
        &mut self,
        leg: LegId,
        purpose: Purpose,
        response: &Response,
        source: Dest,
    ) {
        match purpose {
            Purpose::Invite => self.on_invite_response(leg, response, source),
            Purpose::ReInvite => self.on_reinvite_response(leg, response),
            Purpose::Bye => {
                if response.status.is_final() {
                    self.remove_leg(leg);
                }
            }
            Purpose::Refer => {
                if response.status.is_success()
                    && let Some(l) = self.legs.get_mut(&leg)
                {
                    l.refer_subscription = Some(refer_lifetime(None));
                }
                if response.status.is_final() {
                    self.out.push_back(Output::Event(Event::ReferAnswered {
                        leg,
                        status: response.status.code(),
                    }));
                }
            }
            Purpose::Refresh => self.on_refresh_response(leg, response),
            Purpose::Cancel | Purpose::Other => {}
        }
    }

    pub(super) fn on_invite_response(&mut self, leg: LegId, response: &Response, source: Dest) {
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
                // RFC 3261 §12.1.2: the early dialog's route set, for PRACK and UPDATE.
                let mut routes = record_routes(&response.headers);
                routes.reverse();
                l.dialog.route_set = routes;
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
            if status > 100 && self.acknowledge_provisional(leg, response) {
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
        if status == 422 && self.retry_too_small(leg, response) {
            return;
        }
        let Some(l) = self.legs.get(&leg) else { return };
        let reason = if l.cancelled {
            l.cancel_reason.clone().unwrap_or(EndReason::Local)
        } else if matches!(status, 401 | 407) {
            EndReason::AuthFailed
        } else {
            let (status, mut reason) = status_line(response);
            // RFC 3261 §20.43: a Warning's text says why (a 488's media mismatch).
            if let Some(text) = header_text(&response.headers, &HeaderName::Warning)
                .and_then(|w| Some(w.split_once('"')?.1.trim_end_matches('"').to_owned()))
                .filter(|t| !t.is_empty())
            {
                reason = format!("{reason}: {text}");
            }
            EndReason::Rejected { status, reason }
        };
        self.end_leg(leg, reason);
    }

    pub(super) fn on_invite_success(&mut self, leg: LegId, response: &Response) {
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
        if let Some(l) = self.legs.get_mut(&leg) {
            l.peer_update = session::allows_update(&response.headers);
        }
        self.session_from_answer(leg, response);
        let sdp = sdp_body(&Message::Response(response.clone()));
        self.out
            .push_back(Output::Event(Event::Answered { leg, sdp }));
    }

    /// RFC 3261 §22.2: answers a 401/407 by re-sending the INVITE with credentials. Returns
    /// whether it did; it gives up when credentials were already refused.
    pub(super) fn retry_with_auth(&mut self, leg: LegId, response: &Response) -> bool {
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
        let uri = l.invite.uri.to_string();
        let (name, value) = auth.authorize(&credentials, "INVITE", &uri);
        l.auth = Some(auth);
        self.resend_invite(leg, vec![(name, value)])
    }

    /// Sends the INVITE of a leg again after a challenge or a 422: a new branch and CSeq,
    /// with `headers` set (replacing any of the same name). Returns whether it went.
    pub(super) fn resend_invite(&mut self, leg: LegId, headers: Vec<(HeaderName, String)>) -> bool {
        let Some(l) = self.legs.get_mut(&leg) else {
            return false;
        };
        l.dialog.local_seq = l.dialog.local_seq.wrapping_add(1);
        // A new transaction: any early dialog of the old one is gone.
        l.dialog.remote_tag = None;
        l.dialog.route_set.clear();
        l.rseq_in = None;
        let sequence = l.dialog.local_seq;
        let mut request = l.invite.clone();
        let dest = l.dialog.peer;
        let Ok(local) = self.local_for(dest) else {
            return false;
        };
        let via = self.via(dest.transport, local);
        request.headers.remove_all(&HeaderName::Via);
        request.headers.remove_all(&HeaderName::CSeq);
        match sipx_sip::Header::build(HeaderName::Via, via) {
            Ok(h) => request.headers.push_front(h),
            Err(_) => return false,
        }
        let mut set = vec![(HeaderName::CSeq, format!("{sequence} INVITE"))];
        set.extend(headers);
        for (name, value) in set {
            request.headers.remove_all(&name);
            match sipx_sip::Header::build(name, value) {
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

    pub(super) fn on_reinvite_response(&mut self, leg: LegId, response: &Response) {
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
            if let Some(sent) = l.reinvite_out.take().and_then(|r| r.sdp) {
                l.local_sdp = Some(sent);
            }
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
            self.end_leg(leg, EndReason::DialogGone { status });
        }
    }

    pub(super) fn on_leg_failure(&mut self, leg: LegId, purpose: Purpose, tx: TxId) {
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
            // RFC 3261 §12.2.1.2: a request in the dialog that times out ends it.
            Purpose::Refresh => {
                if let Some(l) = self.legs.get_mut(&leg) {
                    l.refresh = None;
                }
                let _ = self.hangup_with(leg, EndReason::TransportError);
            }
            // No answer to our REFER (Timer F): as good as 408.
            Purpose::Refer => self
                .out
                .push_back(Output::Event(Event::ReferAnswered { leg, status: 408 })),
            Purpose::Cancel | Purpose::Other => {}
        }
    }

    pub(super) fn on_stray_response(&mut self, response: &Response) {
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

    pub(super) fn on_register_response(&mut self, account: AccountId, response: &Response) {
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
            reg.transport_failures = 0;
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
            if std::mem::take(&mut reg.contact_stale) {
                info!(%account, "registered with an old Contact; registering again");
                self.send_register(account, false);
            }
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

    pub(super) fn registration_failed(
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
}

/// A `Refer-To` value, `<sip:c@host?Replaces=abc%3Bto-tag%3D1%3Bfrom-tag%3D2>`: the URI to call
/// and the percent-decoded `Replaces` header it asks the new INVITE to carry.
pub(super) fn split_refer_to(value: &str) -> (String, Option<String>) {
    let inner = match (value.find('<'), value.rfind('>')) {
        (Some(open), Some(close)) if open < close => &value[open + 1..close],
        _ => value.split(';').next().unwrap_or(value).trim(),
    };
    let (uri, headers) = inner.split_once('?').unwrap_or((inner, ""));
    let replaces = headers.split('&').find_map(|h| {
        let (name, val) = h.split_once('=')?;
        name.eq_ignore_ascii_case("replaces")
            .then(|| percent_decode(val))
    });
    (uri.to_owned(), replaces)
}

/// Decodes `%XX` escapes (RFC 3986) in a URI header value.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(&h), Some(&l)) = (bytes.get(i + 1), bytes.get(i + 2))
            && let (Some(h), Some(l)) = (hex(h), hex(l))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How long a refer subscription lives on after its leg: the notifier's `expires` (RFC 6665
/// §4.1.3) within 1 s and 10 minutes, or 60 s when none was given.
fn refer_lifetime(expires: Option<u64>) -> Duration {
    Duration::from_secs(expires.map_or(60, |s| s.clamp(1, 600)))
}

/// The digit of an `application/dtmf-relay` (or `application/dtmf`) body: its `Signal=` line.
fn dtmf_signal(body: &[u8]) -> Option<char> {
    let text = String::from_utf8_lossy(body);
    let digit = text.lines().find_map(|line| {
        let (name, value) = line.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("signal")
            .then(|| value.trim().chars().next())
            .flatten()
    })?;
    let digit = digit.to_ascii_uppercase();
    (digit.is_ascii_digit() || matches!(digit, '*' | '#' | 'A'..='D')).then_some(digit)
}

#[cfg(test)]
mod tests {
    use super::dtmf_signal;

    #[test]
    fn a_dtmf_relay_body_gives_its_signal() {
        for (body, digit) in [
            ("Signal=5\r\nDuration=160\r\n", Some('5')),
            ("signal = #\r\nduration=100", Some('#')),
            ("Signal=a\r\n", Some('A')),
            ("Duration=160\r\n", None),
            ("Signal=x\r\n", None),
            ("", None),
        ] {
            assert_eq!(dtmf_signal(body.as_bytes()), digit, "{body:?}");
        }
    }
}
