//! Dialog features real servers use: reliable provisional responses (RFC 3262 PRACK),
//! UPDATE (RFC 3311) and session timers (RFC 4028).

#[allow(clippy::wildcard_imports)]
use super::*;
use crate::leg::{Pending1xx, Refresher, SessionTimer};

impl UserAgent {
    // ---------------------------------------------------------------------------------------
    // RFC 3262: reliable provisional responses
    // ---------------------------------------------------------------------------------------

    /// UAC: a provisional response that asks for reliability (`Require: 100rel` and `RSeq`)
    /// gets a PRACK in its early dialog. Returns whether it is new (a retransmission, or one
    /// older than the last we acknowledged, is not reported again, RFC 3262 §4).
    pub(super) fn acknowledge_provisional(&mut self, leg: LegId, response: &Response) -> bool {
        if !has_option(&response.headers, &HeaderName::Require, "100rel") {
            return true;
        }
        let Some(rseq) = header_text(&response.headers, &HeaderName::RSeq)
            .and_then(|v| v.trim().parse::<u32>().ok())
        else {
            return true;
        };
        let Some(l) = self.legs.get_mut(&leg) else {
            return false;
        };
        if l.rseq_in.is_some_and(|last| rseq <= last) {
            return false;
        }
        l.rseq_in = Some(rseq);
        let invite_seq = response
            .headers
            .typed::<CSeq>()
            .and_then(Result::ok)
            .map_or(1, |c| c.sequence);
        let Ok((builder, dest)) = l.dialog.request(Method::Prack, None) else {
            return true;
        };
        let Ok(local) = self.local_for(dest) else {
            return true;
        };
        let via = self.via(dest.transport, local);
        if let Ok(builder) = builder
            .header(HeaderName::Via, via)
            .and_then(|b| b.header(HeaderName::RAck, format!("{rseq} {invite_seq} INVITE")))
        {
            self.send_request(builder.build(), dest, Owner::Leg(leg, Purpose::Other));
        }
        true
    }

    /// UAS: whether the caller demands reliable provisional responses (RFC 3262 §3: we send
    /// them only when required; `Supported` alone leaves them unreliable).
    pub(super) fn provisional_must_be_reliable(leg: &Leg) -> bool {
        has_option(&leg.invite.headers, &HeaderName::Require, "100rel")
    }

    /// UAS: sends a provisional response reliably: `Require: 100rel`, the next `RSeq`, and
    /// retransmissions (T1 doubling) until its PRACK or 64·T1.
    pub(super) fn send_reliable_provisional(
        &mut self,
        leg: LegId,
        tx: TxId,
        builder: ResponseBuilder,
    ) -> Result<(), CommandError> {
        let l = self
            .legs
            .get_mut(&leg)
            .ok_or(CommandError::NoSuchLeg(leg))?;
        l.rseq_out = if l.rseq_out == 0 {
            self.rng.u32(1..0x7fff_ffff)
        } else {
            l.rseq_out.wrapping_add(1)
        };
        let rseq = l.rseq_out;
        let response = builder
            .header(HeaderName::Require, "100rel")
            .and_then(|b| b.header(HeaderName::RSeq, rseq.to_string()))
            .map_err(bad_header)?
            .build();
        let resent = self.send_resent(
            tx,
            response,
            TimerId::Retransmit1xx(leg),
            TimerId::PrackTimeout(leg),
        );
        if let (Some(resent), Some(l)) = (resent, self.legs.get_mut(&leg)) {
            l.reliable_1xx = Some(Pending1xx { resent, rseq });
        }
        Ok(())
    }

    /// RFC 3262 §3: no PRACK came; the INVITE is refused with a 5xx.
    pub(super) fn prack_timed_out(&mut self, leg: LegId) {
        self.stop_provisional(leg);
        let Some(l) = self.legs.get(&leg) else { return };
        if l.state != LegState::Ringing {
            return;
        }
        let tx = l.invite_tx;
        if let (Some(tx), Ok(builder)) = (tx, self.leg_response(l, 500)) {
            self.send_response(tx, builder.build());
        }
        self.end_leg(leg, EndReason::NoPrack);
    }

    /// Stops retransmitting our reliable provisional response (PRACKed, or the INVITE got its
    /// final response: RFC 3262 §3 lets a final response go before the PRACK when the
    /// provisional carried no session description, and ours never do).
    pub(super) fn stop_provisional(&mut self, leg: LegId) {
        if let Some(l) = self.legs.get_mut(&leg) {
            l.reliable_1xx = None;
        }
        self.timers.clear(TimerId::Retransmit1xx(leg));
        self.timers.clear(TimerId::PrackTimeout(leg));
    }

    /// A PRACK (RFC 3262 §3): 200 when its `RAck` names our pending reliable provisional
    /// response, 481 otherwise.
    pub(super) fn on_prack(&mut self, leg: LegId, tx: TxId, request: &Request) {
        let rack = header_text(&request.headers, &HeaderName::RAck).unwrap_or_default();
        let mut parts = rack.split_whitespace();
        let rseq = parts.next().and_then(|v| v.parse::<u32>().ok());
        let cseq = parts.next().and_then(|v| v.parse::<u32>().ok());
        let pending = self.legs.get(&leg).and_then(|l| {
            let invite_seq = cseq_of(&l.invite);
            l.reliable_1xx
                .as_ref()
                .filter(|p| Some(p.rseq) == rseq && cseq == invite_seq)
                .map(|p| p.rseq)
        });
        if pending.is_none() {
            self.reply(
                tx,
                request,
                481,
                Some("No Such Reliable Provisional Response"),
            );
            return;
        }
        self.stop_provisional(leg);
        self.reply(tx, request, 200, None);
    }

    // ---------------------------------------------------------------------------------------
    // RFC 3311: UPDATE
    // ---------------------------------------------------------------------------------------

    /// An UPDATE in the dialog: without a body it refreshes the session (answered at once);
    /// with an offer it is reported like a re-INVITE and answered by
    /// [`UserAgent::accept_reinvite`] or [`UserAgent::reject_reinvite`].
    pub(super) fn on_update(&mut self, leg: LegId, tx: TxId, request: Request) {
        let sdp = sdp_body(&Message::Request(request.clone()));
        let Some(l) = self.legs.get(&leg) else { return };
        if sdp.is_some() {
            // RFC 3311 §5.2: an offer while one of ours (or theirs) is outstanding: 491 / 500.
            if l.reinvite_out.as_ref().is_some_and(|r| r.tx.is_some()) {
                self.reply(tx, &request, 491, None);
                return;
            }
            if l.reinvite_in.is_some() || l.state != LegState::Confirmed {
                self.reply_retry_later(tx, &request);
                return;
            }
            if let Some(target) = contact_uri(&request.headers)
                && let Some(l) = self.legs.get_mut(&leg)
            {
                l.dialog.remote_target = target;
            }
            if let Some(l) = self.legs.get_mut(&leg) {
                l.reinvite_in = Some(IncomingReInvite { tx, request });
            }
            self.out
                .push_back(Output::Event(Event::ReInvite { leg, sdp }));
            return;
        }
        if let Some(target) = contact_uri(&request.headers)
            && let Some(l) = self.legs.get_mut(&leg)
        {
            l.dialog.remote_target = target;
        }
        let Some(l) = self.legs.get(&leg) else { return };
        let built = self
            .dialog_response(&request, l, 200)
            .and_then(|b| self.with_session_answer(leg, &request, b));
        if let Ok(builder) = built {
            self.send_response(tx, builder.build());
        }
    }

    // ---------------------------------------------------------------------------------------
    // RFC 4028: session timers
    // ---------------------------------------------------------------------------------------

    /// UAS: what an INVITE asks of the session timer, or the 422 it must get for asking less
    /// than our `Min-SE` (RFC 4028 §8.1).
    pub(super) fn session_ask(
        &self,
        request: &Request,
    ) -> Result<Option<(Duration, Option<Refresher>, bool)>, Duration> {
        let Some((interval, refresher)) = session_expires(&request.headers) else {
            return Ok(None);
        };
        if interval < self.config.min_se {
            return Err(self.config.min_se);
        }
        let supported = has_option(&request.headers, &HeaderName::Supported, "timer")
            || has_option(&request.headers, &HeaderName::Require, "timer");
        Ok(Some((interval, refresher, supported)))
    }

    /// Answers 422 Session Interval Too Small with our `Min-SE`.
    pub(super) fn reply_too_small(&mut self, tx: TxId, request: &Request, min_se: Duration) {
        let builder = self.response_builder(request, 422, None).and_then(|b| {
            b.header(HeaderName::MinSe, min_se.as_secs().to_string())
                .map_err(bad_header)
        });
        if let Ok(builder) = builder {
            self.send_response(tx, builder.build());
        }
    }

    /// A 2xx to a request that may carry `Session-Expires` (the INVITE, a re-INVITE, an
    /// UPDATE): the timer it sets is put in force and written into the response
    /// (RFC 4028 §9), with `Require: timer` when the peer supports it. In every such request
    /// its sender is the `uac` and we are the `uas`.
    pub(super) fn with_session_answer(
        &mut self,
        leg: LegId,
        request: &Request,
        builder: ResponseBuilder,
    ) -> Result<ResponseBuilder, CommandError> {
        let asked = match self.session_ask(request) {
            Ok(asked) => asked,
            // Checked when the INVITE arrived; a refresh asking for less gets our minimum.
            Err(min) => Some((min, None, true)),
        };
        let current = self.legs.get(&leg).and_then(|l| l.session);
        let (timer, supported) = match (asked, current) {
            (Some((interval, refresher, supported)), _) => {
                // §9: without `refresher` the UAS picks: the caller when it supports timers.
                let refresher = refresher.unwrap_or(if supported {
                    Refresher::Uac
                } else {
                    Refresher::Uas
                });
                let timer = SessionTimer {
                    interval,
                    we_refresh: refresher == Refresher::Uas,
                };
                (timer, supported)
            }
            // A refresh without the header keeps what is in force (RFC 4028 §9 would drop
            // the timer; keeping it only means we refresh when nobody else does).
            (None, Some(timer)) => (timer, true),
            (None, None) => return Ok(builder),
        };
        let refresher = if timer.we_refresh {
            Refresher::Uas
        } else {
            Refresher::Uac
        };
        let mut builder = builder
            .header(
                HeaderName::SessionExpires,
                format!(
                    "{};refresher={}",
                    timer.interval.as_secs(),
                    refresher.as_str()
                ),
            )
            .map_err(bad_header)?;
        if supported {
            builder = builder
                .header(HeaderName::Require, "timer")
                .map_err(bad_header)?;
        }
        self.start_session(leg, timer);
        Ok(builder)
    }

    /// Puts a session timer in force: the refresher refreshes at half the interval; the other
    /// side ends the call at the interval less min(32 s, a third) without a refresh
    /// (RFC 4028 §10).
    pub(super) fn start_session(&mut self, leg: LegId, timer: SessionTimer) {
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        l.session = Some(timer);
        let interval = timer.interval;
        // The refresher's own safety net is the whole interval: its failed refresh ends the
        // call sooner (a timeout or 408/481).
        let expiry = if timer.we_refresh {
            interval
        } else {
            interval - (interval / 3).min(Duration::from_secs(32))
        };
        self.timers
            .set(TimerId::SessionExpiry(leg), self.now + expiry);
        if timer.we_refresh {
            self.timers
                .set(TimerId::SessionRefresh(leg), self.now + interval / 2);
        } else {
            self.timers.clear(TimerId::SessionRefresh(leg));
        }
        debug!(%leg, interval = interval.as_secs(), we_refresh = timer.we_refresh, "session timer");
    }

    /// UAC: the 2xx to our INVITE names the session timer (RFC 4028 §7.2); without
    /// `Session-Expires` there is none.
    pub(super) fn session_from_answer(&mut self, leg: LegId, response: &Response) {
        let Some((interval, refresher)) = session_expires(&response.headers) else {
            return;
        };
        let timer = SessionTimer {
            interval,
            // §7.2: a 2xx without `refresher` leaves it to us.
            we_refresh: refresher.is_none_or(|r| r == Refresher::Uac),
        };
        self.start_session(leg, timer);
    }

    /// The refresh is due: an UPDATE when the peer allows it, else a re-INVITE offering the
    /// session description we last sent (RFC 4028 §7.4, §8.3).
    pub(super) fn refresh_session(&mut self, leg: LegId) {
        let Some(l) = self.legs.get(&leg) else { return };
        let Some(timer) = l.session else { return };
        if l.state != LegState::Confirmed {
            return;
        }
        let busy = l.refresh.is_some()
            || l.reinvite_out.is_some()
            || l.reinvite_in.is_some()
            || l.pending_2xx.is_some();
        if busy {
            self.timers.set(
                TimerId::SessionRefresh(leg),
                self.now + Duration::from_secs(2),
            );
            return;
        }
        let use_update = l.peer_update;
        let sdp = if use_update {
            None
        } else {
            l.local_sdp.clone()
        };
        let method = if use_update {
            Method::Update
        } else {
            Method::Invite
        };
        // We send the refresh: we are its UAC and the refresher.
        let expires = format!("{};refresher=uac", timer.interval.as_secs());
        let user_agent = self.config.user_agent.clone();
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        let user = user_of(&l.dialog.local_uri).unwrap_or_else(|| self.config.contact_user.clone());
        let Ok((builder, dest)) = l.dialog.request(method, None) else {
            return;
        };
        let Ok(local) = self.local_for(dest) else {
            return;
        };
        let via = self.via(dest.transport, local);
        let built = builder
            .header(HeaderName::Via, via)
            .and_then(|b| b.header(HeaderName::Contact, contact(&user, local, dest.transport)))
            .and_then(|b| b.header(HeaderName::Allow, ALLOW))
            .and_then(|b| b.header(HeaderName::Supported, SUPPORTED))
            .and_then(|b| b.header(HeaderName::SessionExpires, expires))
            .and_then(|b| b.header(HeaderName::MinSe, self.config.min_se.as_secs().to_string()))
            .and_then(|b| b.header(HeaderName::UserAgent, user_agent));
        let Ok(mut builder) = built else { return };
        if let Some(sdp) = sdp {
            builder = match builder.header(HeaderName::ContentType, "application/sdp") {
                Ok(b) => b.body(sdp),
                Err(_) => return,
            };
        }
        info!(%leg, by = if use_update { "UPDATE" } else { "re-INVITE" }, "refreshing the session");
        let tx = self.send_request(builder.build(), dest, Owner::Leg(leg, Purpose::Refresh));
        if let (Some(tx), Some(l)) = (tx, self.legs.get_mut(&leg)) {
            l.refresh = Some((tx, !use_update));
        }
    }

    /// The answer to our refresh.
    pub(super) fn on_refresh_response(&mut self, leg: LegId, response: &Response) {
        let status = response.status.code();
        if status < 200 {
            return;
        }
        let Some(l) = self.legs.get_mut(&leg) else {
            return;
        };
        let was_invite = l.refresh.take().is_some_and(|(_, invite)| invite);
        if response.status.is_success() {
            if was_invite {
                let sequence = response
                    .headers
                    .typed::<CSeq>()
                    .and_then(Result::ok)
                    .map_or(l.dialog.local_seq, |c| c.sequence);
                self.send_ack(leg, sequence);
            }
            let current = self.legs.get(&leg).and_then(|l| l.session);
            let timer = match session_expires(&response.headers) {
                // We sent the refresh: we are its `uac`.
                Some((interval, refresher)) => SessionTimer {
                    interval,
                    we_refresh: refresher.is_none_or(|r| r == Refresher::Uac),
                },
                None => match current {
                    Some(timer) => timer,
                    None => return,
                },
            };
            self.start_session(leg, timer);
            return;
        }
        match status {
            408 | 481 => self.end_leg(leg, EndReason::DialogGone { status }),
            // The peer does not take UPDATE after all: refresh by re-INVITE.
            405 | 501 if !was_invite => {
                if let Some(l) = self.legs.get_mut(&leg) {
                    l.peer_update = false;
                }
                self.refresh_session(leg);
            }
            422 => {
                // RFC 4028 §7.4: a refresh too small for the peer; take its minimum.
                let asked = min_se_of(&response.headers);
                if let (Some(min), Some(l)) = (asked, self.legs.get_mut(&leg))
                    && let Some(timer) = l.session.as_mut()
                    && min > timer.interval
                {
                    timer.interval = min;
                    self.refresh_session(leg);
                }
            }
            // 491 and the rest: try again shortly; the expiry ends the call if it never works.
            _ => self.timers.set(
                TimerId::SessionRefresh(leg),
                self.now + Duration::from_secs(2),
            ),
        }
    }

    /// No refresh came in time: BYE (RFC 4028 §10).
    pub(super) fn session_expired(&mut self, leg: LegId) {
        let confirmed = self
            .legs
            .get(&leg)
            .is_some_and(|l| l.state == LegState::Confirmed);
        if !confirmed {
            return;
        }
        warn!(%leg, "session expired without a refresh; hanging up");
        let _ = self.hangup_with(leg, EndReason::SessionExpired);
    }

    /// UAC: 422 to our INVITE: send it again asking for the peer's `Min-SE`
    /// (RFC 4028 §7.4). Returns whether it did.
    pub(super) fn retry_too_small(&mut self, leg: LegId, response: &Response) -> bool {
        let Some(min) = min_se_of(&response.headers) else {
            return false;
        };
        let Some(l) = self.legs.get_mut(&leg) else {
            return false;
        };
        if l.too_small_retries >= 2 || l.cancelled {
            return false;
        }
        l.too_small_retries += 1;
        let asked = session_expires(&l.invite.headers).map_or(min, |(i, _)| i.max(min));
        let secs = asked.as_secs().to_string();
        self.resend_invite(
            leg,
            vec![
                (HeaderName::SessionExpires, secs.clone()),
                (HeaderName::MinSe, secs),
            ],
        )
    }
}

/// The longest session interval we keep timers for: RFC 4028 sets no upper bound, and a
/// peer's absurd one must not overflow a deadline.
const LONGEST_SESSION: u64 = 7 * 24 * 3600;

/// `Session-Expires` (RFC 4028 §4): the interval (at most a week) and the `refresher`
/// parameter.
pub(super) fn session_expires(
    headers: &sipx_sip::Headers,
) -> Option<(Duration, Option<Refresher>)> {
    let value = header_text(headers, &HeaderName::SessionExpires)?;
    let mut parts = value.split(';');
    let seconds = parts
        .next()?
        .trim()
        .parse::<u64>()
        .ok()?
        .min(LONGEST_SESSION);
    let refresher = parts.find_map(|p| {
        let (name, value) = p.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("refresher") {
            return None;
        }
        match value.trim().to_ascii_lowercase().as_str() {
            "uac" => Some(Refresher::Uac),
            "uas" => Some(Refresher::Uas),
            _ => None,
        }
    });
    Some((Duration::from_secs(seconds), refresher))
}

/// `Min-SE` (RFC 4028 §5), in seconds.
pub(super) fn min_se_of(headers: &sipx_sip::Headers) -> Option<Duration> {
    header_text(headers, &HeaderName::MinSe)?
        .split(';')
        .next()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(|s| Duration::from_secs(s.min(LONGEST_SESSION)))
}

/// Whether an option-tag list header (`Require`, `Supported`) names `tag`; every instance
/// of the header counts.
pub(super) fn has_option(headers: &sipx_sip::Headers, name: &HeaderName, tag: &str) -> bool {
    headers.get_all(name).any(|h| {
        String::from_utf8_lossy(&h.value())
            .split(',')
            .any(|t| t.trim().eq_ignore_ascii_case(tag))
    })
}

/// Whether an `Allow` header lists UPDATE.
pub(super) fn allows_update(headers: &sipx_sip::Headers) -> bool {
    has_option(headers, &HeaderName::Allow, "UPDATE")
}
