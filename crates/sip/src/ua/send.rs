//! What goes out: our requests (BYE, CANCEL, ACK, re-INVITE, REGISTER) and our responses.

#[allow(clippy::wildcard_imports)]
use super::*;

impl UserAgent {
    // ---------------------------------------------------------------------------------------
    // Requests we send
    // ---------------------------------------------------------------------------------------

    pub(super) fn hangup_with(
        &mut self,
        leg: LegId,
        reason: EndReason,
    ) -> Result<(), CommandError> {
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
    pub(super) fn send_cancel(&mut self, leg: LegId, reason: EndReason) {
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
    pub(super) fn send_ack(&mut self, leg: LegId, sequence: u32) {
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        let Ok((builder, dest)) = l.dialog.request(Method::Ack, Some(sequence)) else {
            return;
        };
        let Ok(local) = self.local_for(dest) else {
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

    pub(super) fn send_bye(&mut self, leg: LegId) {
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        l.state = LegState::Terminating;
        let Ok((builder, dest)) = l.dialog.request(Method::Bye, None) else {
            return;
        };
        let Ok(local) = self.local_for(dest) else {
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

    pub(super) fn send_reinvite(&mut self, leg: LegId, sdp: Option<Bytes>) {
        let user_agent = self.config.user_agent.clone();
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        let Ok((builder, dest)) = l.dialog.request(Method::Invite, None) else {
            return;
        };
        let user = user_of(&l.dialog.local_uri).unwrap_or_else(|| self.config.contact_user.clone());
        let Ok(local) = self.local_for(dest) else {
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

    pub(super) fn send_register(&mut self, account: AccountId, unregister: bool) {
        let Some(reg) = self.accounts.get_mut(account.0 as usize) else {
            return;
        };
        let config = reg.config.clone();
        let dest = config.proxy;
        let Ok(local) = self.local_for(dest) else {
            self.registration_failed(
                account,
                RegistrationFailure::TransportError {
                    detail: Some(format!("recall does not listen on {}", dest.transport)),
                },
                None,
            );
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

    pub(super) fn ack_and_bye_orphan(&mut self, response: &Response, source: Dest) {
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
        let Ok(local) = self.local_for(source) else {
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

    /// RFC 3261 §13.3.1.4: sends a 2xx to an INVITE and retransmits it (T1 doubling to T2)
    /// until the ACK with the same CSeq arrives or 64·T1 passes.
    pub(super) fn send_2xx(&mut self, leg: LegId, tx: TxId, response: Response, cseq: u32) {
        let resent = self.send_resent(
            tx,
            response,
            TimerId::Retransmit2xx(leg),
            TimerId::AckTimeout(leg),
        );
        if let (Some(resent), Some(l)) = (resent, self.legs.get_mut(&leg)) {
            l.pending_2xx = Some(Pending2xx { resent, cseq });
        }
    }

    /// Sends a response on its transaction and keeps it for the UAS core's own
    /// retransmissions: `resend` fires at T1 (then doubling to T2, [`UserAgent::resend`]),
    /// `give_up` at 64·T1. `None` when the transaction is gone.
    pub(super) fn send_resent(
        &mut self,
        tx: TxId,
        response: Response,
        resend: TimerId,
        give_up: TimerId,
    ) -> Option<Resent> {
        let dest = self.txs.get(&tx).map(|m| m.dest)?;
        self.send_response(tx, response.clone());
        self.timers.set(resend, self.now + self.config.t1);
        self.timers.set(give_up, self.now + self.config.t1 * 64);
        Some(Resent {
            bytes: Message::Response(response).to_bytes(),
            dest,
            interval: self.config.t1,
        })
    }

    /// A kept response is due again: sent, its interval doubled (to T2), `timer` re-armed.
    pub(super) fn resend(
        &mut self,
        leg: LegId,
        timer: TimerId,
        kept: fn(&mut Leg) -> Option<&mut Resent>,
    ) {
        let t2 = self.config.t2;
        let Some(resent) = self.legs.get_mut(&leg).and_then(kept) else {
            return;
        };
        resent.interval = (resent.interval * 2).min(t2);
        let next = self.now + resent.interval;
        let transmit = Transmit {
            dest: resent.dest,
            bytes: resent.bytes.clone(),
        };
        self.stats.retransmissions += 1;
        self.out.push_back(Output::Transmit(transmit));
        self.timers.set(timer, next);
    }

    /// RFC 3261 §14.2 (and RFC 3311 §5.2): 500 with `Retry-After` to an offer that crosses
    /// one still being answered.
    pub(super) fn reply_retry_later(&mut self, tx: TxId, request: &Request) {
        let builder = self
            .response_builder(request, 500, None)
            .and_then(|b| b.header(HeaderName::RetryAfter, "1").map_err(bad_header));
        if let Ok(builder) = builder {
            self.send_response(tx, builder.build());
        }
    }

    pub(super) fn reply(&mut self, tx: TxId, request: &Request, status: u16, reason: Option<&str>) {
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
    pub(super) fn options_response(&mut self, request: &Request) -> Response {
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
    pub(super) fn response_builder(
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

    pub(super) fn build_response(
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
    pub(super) fn leg_response(
        &self,
        leg: &Leg,
        status: u16,
    ) -> Result<ResponseBuilder, CommandError> {
        self.dialog_response(&leg.invite, leg, status)
    }

    pub(super) fn dialog_response(
        &self,
        request: &Request,
        leg: &Leg,
        status: u16,
    ) -> Result<ResponseBuilder, CommandError> {
        let mut builder =
            self.build_response(request, status, None, Some(&leg.dialog.local_tag))?;
        if (101..300).contains(&status) {
            let local = self.local_for(leg.dialog.peer)?;
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
    pub(super) fn reply_invalid(
        &mut self,
        request: &Request,
        source: Dest,
        fault: &sipx_sip::Finding,
    ) {
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
        self.reply_bad(request, source, status, &reason);
    }

    /// Answers a request refused before any transaction took it (a fault in the request
    /// itself), with whatever of its headers a response copies.
    pub(super) fn reply_bad(&mut self, request: &Request, source: Dest, status: u16, reason: &str) {
        debug!(%source, %reason, "answering an invalid request");
        let tag = self.token(10);
        let builder = self
            .build_response(request, status, Some(reason), Some(&tag))
            .or_else(|_| partial_response(request, status, reason));
        if let Ok(builder) = builder {
            let dest = response_dest(request, source);
            let bytes = Message::Response(builder.build()).to_bytes();
            self.out
                .push_back(Output::Transmit(Transmit { dest, bytes }));
        }
    }
}
