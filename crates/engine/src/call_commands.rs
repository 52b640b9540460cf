//! What the agent does to a call: dial (with the account's identity, codecs and DTMF mode),
//! answer (holding the call being talked on), refuse, hang up, hold and resume by re-INVITE,
//! mute, and send DTMF (RFC 4733, or SIP INFO when the peer did not agree to it).

use api::{CallId, CallState, CallView};
use bytes::Bytes;
use media::{Direction, DtmfDigit, LocalMedia, MediaSession, answer_offer, build_offer};
use sip::Invitation;
use tracing::{debug, info, warn};

use crate::call::{Call, Phase};
use crate::calls::{Calls, Cx};
use crate::config::DtmfMode;
use crate::error::EngineError;
use crate::timers::TimerId;

impl Calls {
    pub(crate) fn dial(
        &mut self,
        cx: &mut Cx<'_>,
        to: &str,
        account: Option<&str>,
    ) -> Result<CallView, EngineError> {
        self.dial_with(cx, to, account, Vec::new())
    }

    /// A bare number or user dialled at the first account's domain; a SIP URI as it is.
    pub(crate) fn dial_target(&self, cx: &Cx<'_>, to: &str) -> Result<String, EngineError> {
        let target = to.trim();
        if target.contains(':') {
            return Ok(target.to_owned());
        }
        let domain = cx
            .registrations
            .first_domain()
            .ok_or_else(|| EngineError::NotDialable(to.to_owned()))?;
        Ok(format!("sip:{target}@{domain}"))
    }

    /// Places a call with extra INVITE headers (Replaces, Referred-By for a transfer).
    pub(crate) fn dial_with(
        &mut self,
        cx: &mut Cx<'_>,
        to: &str,
        account: Option<&str>,
        headers: Vec<(String, String)>,
    ) -> Result<CallView, EngineError> {
        let account_index = match account {
            Some(name) => Some(
                cx.registrations
                    .index_of(name)
                    .ok_or_else(|| EngineError::NoSuchAccount(name.to_owned()))?,
            ),
            None => (!cx.registrations.is_empty()).then_some(0),
        };
        let mut target = to.trim().to_owned();
        if !target.contains(':') {
            // A bare number or user: dial it at the account's domain.
            let domain = account_index
                .and_then(|i| cx.registrations.settings(i))
                .and_then(|a| a.sip.aor.split('@').nth(1))
                .map(str::to_owned)
                .ok_or_else(|| EngineError::NotDialable(to.to_owned()))?;
            target = format!("sip:{target}@{domain}");
        }
        let (port, ice) = self.take_port(cx).ok_or(EngineError::NoMediaPort)?;
        let codecs = account_index
            .and_then(|i| cx.registrations.settings(i))
            .map(|a| a.codecs.clone())
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| self.media.codecs.clone());
        let secure = tls_signalling(
            &target,
            account_index.and_then(|i| cx.registrations.settings(i)),
        );
        let local = LocalMedia::with_codecs(port, self.rng.u64(1..u64::from(u32::MAX)), codecs);
        let local = self.protect(
            local,
            secure,
            account_index.and_then(|i| cx.registrations.settings(i)),
        );
        let mut local = local;
        local.ice = ice.as_ref().map(|i| i.local_description().clone());
        let dtls = local.keying == media::Keying::Dtls && local.fingerprint.is_some();
        if local.encryption == media::Encryption::Mandatory && local.crypto.is_empty() && !dtls {
            self.give_back_port(port);
            return Err(EngineError::KeysNeedTls);
        }
        let offer = build_offer(&local);
        let invitation = Invitation {
            target: target.clone(),
            account: account_index.and_then(|i| cx.registrations.sip_id(i)),
            dest: None,
            sdp: Some(Bytes::from(offer)),
            headers,
        };
        // With no account to route through, a domain is located by DNS first (RFC 3263); the
        // call is dialing meanwhile and the INVITE goes when the answer comes.
        let locate = invitation
            .account
            .is_none()
            .then(|| crate::account::server_name(&target))
            .flatten()
            .filter(|server| {
                server
                    .host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_err()
            });
        let (leg, pending) = match locate {
            Some(server) => {
                let leg = cx.ua.reserve_leg();
                let lookup = cx.resolver.resolve(cx.now, server);
                (leg, Some((lookup, invitation)))
            }
            None => match cx.ua.invite(cx.now, invitation) {
                Ok(leg) => (leg, None),
                Err(e) => {
                    self.give_back_port(port);
                    return Err(EngineError::Sip(e));
                }
            },
        };
        let id = self.new_call_id();
        let dtmf = account_index
            .and_then(|i| cx.registrations.settings(i))
            .map_or(DtmfMode::Auto, |a| a.dtmf);
        let sip_call_id = cx.ua.call_id(leg).unwrap_or_default().to_owned();
        let mut call = Call::dialing(id, leg, target, sip_call_id, dtmf, local);
        call.secure_signalling = secure;
        call.ice = ice.map(Box::new);
        info!(call = %id, remote = %call.remote, "dialing");
        self.by_media.insert(port, id);
        self.insert_call(leg, call);
        if let Some((lookup, invitation)) = pending {
            self.locating.insert(lookup, (id, invitation));
        }
        self.emit_call(cx, id);
        self.view(id)
    }

    /// DNS answered for a call waiting to be placed: the INVITE goes to the first target, or
    /// the call ends naming the name that did not resolve.
    pub(crate) fn on_located(
        &mut self,
        cx: &mut Cx<'_>,
        lookup: sip::LookupId,
        result: Result<Vec<sip::Target>, sip::ResolveError>,
    ) {
        let Some((id, mut invitation)) = self.locating.remove(&lookup) else {
            return;
        };
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        if call.state() != CallState::Dialing {
            return;
        }
        let leg = call.leg;
        let target = match result {
            Ok(targets) => {
                let mut targets = crate::registrations::reachable(cx.ua, targets).into_iter();
                let Some(first) = targets.next() else {
                    self.end_call(cx, id, format!("{} has no SIP server", invitation.target));
                    return;
                };
                let rest: Vec<sip::Target> = targets.collect();
                if !rest.is_empty() {
                    self.fallbacks.insert(id, (invitation.clone(), rest));
                }
                first
            }
            Err(e) => {
                info!(call = %id, error = %e, "cannot place the call");
                self.end_call(cx, id, e.to_string());
                return;
            }
        };
        info!(call = %id, %target, "dialled domain located");
        self.invite_target(cx, id, leg, &mut invitation, &target);
    }

    /// Sends a located call's INVITE to `target` on `leg`.
    fn invite_target(
        &mut self,
        cx: &mut Cx<'_>,
        id: CallId,
        leg: sip::LegId,
        invitation: &mut sip::Invitation,
        target: &sip::Target,
    ) {
        if target.dest.transport == sip::Transport::Tls
            && let Some(server) = crate::account::server_name(&invitation.target)
        {
            cx.out.push_back(crate::Output::TlsPeer(crate::TlsPeer {
                addr: target.dest.addr,
                name: server
                    .host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
                ca: None,
                insecure: false,
            }));
        }
        invitation.dest = Some(target.dest);
        match cx.ua.invite_as(cx.now, leg, invitation.clone()) {
            Ok(_) => {
                let sip_call_id = cx.ua.call_id(leg).unwrap_or_default().to_owned();
                if let Some(call) = self.calls.get_mut(&id) {
                    call.sip_call_id = sip_call_id;
                }
                self.emit_call(cx, id);
            }
            Err(e) => self.end_call(cx, id, e.to_string()),
        }
    }

    /// RFC 3263 §4.3: a located call whose INVITE timed out, hit a transport error or got 503
    /// before anything else is placed again to the next target; `false` when there is none.
    pub(crate) fn fail_over(
        &mut self,
        cx: &mut Cx<'_>,
        id: CallId,
        reason: &sip::EndReason,
    ) -> bool {
        let retry = matches!(
            reason,
            sip::EndReason::Timeout
                | sip::EndReason::TransportError
                | sip::EndReason::Rejected { status: 503, .. }
        );
        let dialing = self
            .calls
            .get(&id)
            .is_some_and(|c| c.state() == CallState::Dialing);
        let Some((mut invitation, mut rest)) = self.fallbacks.remove(&id) else {
            return false;
        };
        if !retry || !dialing {
            return false;
        }
        let target = rest.remove(0);
        if !rest.is_empty() {
            self.fallbacks.insert(id, (invitation.clone(), rest));
        }
        warn!(call = %id, ?reason, next = %target, "trying the next server");
        let leg = cx.ua.reserve_leg();
        if let Some(call) = self.calls.get_mut(&id) {
            call.leg = leg;
        }
        self.by_leg.insert(leg, id);
        self.invite_target(cx, id, leg, &mut invitation, &target);
        true
    }

    /// Answers a ringing call. When the agent answers (`call_waiting`), the call being talked
    /// on is put on hold first; auto-answer (labs, load tests) and a replacing call do not.
    pub(crate) fn answer(
        &mut self,
        cx: &mut Cx<'_>,
        id: CallId,
        call_waiting: bool,
    ) -> Result<CallView, EngineError> {
        let call = self.calls.get_mut(&id).ok_or(EngineError::NoSuchCall(id))?;
        if call.state() != CallState::Ringing {
            return Err(EngineError::WrongState {
                call: id,
                state: call.state_name(),
                action: "answer",
            });
        }
        cx.timers.clear(TimerId::AutoAnswer(id));
        let leg = call.leg;
        // Call waiting: taking this call puts the one being talked on on hold.
        let talking: Vec<CallId> = if call_waiting {
            self.live_ids()
                .into_iter()
                .filter(|&c| c != id)
                .filter_map(|c| self.calls.get(&c))
                .filter(|c| c.state() == CallState::Connected && c.conference.is_none())
                .map(|c| c.id)
                .collect()
        } else {
            Vec::new()
        };
        for other in talking {
            if let Err(e) = self.hold(cx, other, true) {
                debug!(call = %other, error = %e, "cannot hold for call waiting");
            }
        }
        let Some((port, ice)) = self.take_port(cx) else {
            let _ = cx.ua.reject(cx.now, leg, 503);
            return Err(EngineError::NoMediaPort);
        };
        let mut local = LocalMedia::with_codecs(
            port,
            self.rng.u64(1..u64::from(u32::MAX)),
            self.media.codecs.clone(),
        );
        local.ice = ice.as_ref().map(|i| i.local_description().clone());
        if let Some(call) = self.calls.get_mut(&id) {
            call.ice = ice.map(Box::new);
        }
        let secure = self.calls.get(&id).is_some_and(|c| c.secure_signalling);
        // An incoming call is taken as the first account's (as its DTMF mode is).
        let local = self.protect(local, secure, cx.registrations.first());
        let offer = match self.calls.get_mut(&id).map(|c| &mut c.phase) {
            Some(Phase::Ringing { offer }) => offer.take(),
            _ => None,
        };
        let answered = offer.map(|offer| {
            answer_offer(&offer, &local).and_then(|(answer, agreed)| {
                self.new_media(cx, id, agreed, false)
                    .map(|media| (answer, media))
                    .map_err(|_| media::SdpError::NoCommonCodec)
            })
        });
        let (sdp, media) = match answered {
            Some(answered) => match answered {
                Ok((answer, media)) => (answer, Some(media)),
                Err(e) => {
                    warn!(call = %id, error = %e, "cannot answer the offer");
                    self.give_back_port(port);
                    let _ = cx.ua.reject(cx.now, leg, 488);
                    return Err(EngineError::CannotAnswer(e));
                }
            },
            // Late offer (RFC 3261 §13.2.1): offer in the 200, answer in the ACK.
            None => (build_offer(&local), None),
        };
        if let Err(e) = cx.ua.answer(cx.now, leg, Some(Bytes::from(sdp))) {
            self.give_back_port(port);
            return Err(EngineError::from_sip(id, e));
        }
        self.by_media.insert(port, id);
        let call = self.calls.get_mut(&id).ok_or(EngineError::NoSuchCall(id))?;
        let has_media = media.is_some();
        call.connect(local, media);
        if has_media {
            self.start_media(cx, id, "");
        }
        info!(call = %id, "answered");
        self.emit_call(cx, id);
        self.interaction_step(cx, id, |i, at| i.accept(at));
        self.view(id)
    }

    pub(crate) fn reject(
        &mut self,
        cx: &mut Cx<'_>,
        id: CallId,
        status: u16,
    ) -> Result<CallView, EngineError> {
        let call = self.calls.get(&id).ok_or(EngineError::NoSuchCall(id))?;
        if call.state() != CallState::Ringing {
            return Err(EngineError::WrongState {
                call: id,
                state: call.state_name(),
                action: "reject",
            });
        }
        if !(400..=699).contains(&status) {
            return Err(EngineError::BadRejectStatus(status));
        }
        cx.ua
            .reject(cx.now, call.leg, status)
            .map_err(|e| EngineError::from_sip(id, e))?;
        self.interaction_step(cx, id, |i, at| i.reject(at, status));
        self.view(id)
    }

    pub(crate) fn hangup(&mut self, cx: &mut Cx<'_>, id: CallId) -> Result<CallView, EngineError> {
        self.end_locally(cx, id, "hung up locally".to_owned())?;
        self.view(id)
    }

    /// Ends a call from our side (BYE, CANCEL or a refusal), for `reason`.
    pub(crate) fn end_locally(
        &mut self,
        cx: &mut Cx<'_>,
        id: CallId,
        reason: String,
    ) -> Result<(), EngineError> {
        let call = self.calls.get(&id).ok_or(EngineError::NoSuchCall(id))?;
        if call.state() == CallState::Ended {
            return Err(EngineError::WrongState {
                call: id,
                state: call.state_name(),
                action: "hang up",
            });
        }
        let leg = call.leg;
        let locating = self
            .locating
            .iter()
            .find(|(_, (c, _))| *c == id)
            .map(|(l, _)| *l);
        match locating {
            // Not sent yet: nothing to cancel.
            Some(lookup) => {
                self.locating.remove(&lookup);
            }
            None => cx
                .ua
                .hangup(cx.now, leg)
                .map_err(|e| EngineError::from_sip(id, e))?,
        }
        // A CANCEL waits for its 487, but the user's call is over now.
        self.end_call(cx, id, reason);
        Ok(())
    }

    pub(crate) fn hold(
        &mut self,
        cx: &mut Cx<'_>,
        id: CallId,
        hold: bool,
    ) -> Result<CallView, EngineError> {
        let call = self.calls.get_mut(&id).ok_or(EngineError::NoSuchCall(id))?;
        let wanted = if hold {
            CallState::Connected
        } else {
            CallState::Held
        };
        if call.state() != wanted {
            return Err(EngineError::WrongState {
                call: id,
                state: call.state_name(),
                action: if hold { "hold" } else { "resume" },
            });
        }
        self.reoffer(cx, id, |local, remote_hold| {
            // RFC 3264 §8.4: when the peer holds us too, neither side sends: inactive.
            local.direction = match (hold, remote_hold) {
                (true, false) => Direction::SendOnly,
                (true, true) => Direction::Inactive,
                (false, false) => Direction::SendRecv,
                (false, true) => Direction::RecvOnly,
            };
        })?;
        self.view(id)
    }

    /// Sends a re-INVITE offering our SDP as `change` leaves it (told whether the peer holds
    /// us), a new version, with ICE's description as it stands: the same credentials keep the
    /// ICE session, the new ones of our restart restart it (RFC 8445 §9).
    pub(crate) fn reoffer(
        &mut self,
        cx: &mut Cx<'_>,
        id: CallId,
        change: impl FnOnce(&mut media::LocalMedia, bool),
    ) -> Result<(), EngineError> {
        let call = self.calls.get_mut(&id).ok_or(EngineError::NoSuchCall(id))?;
        let leg = call.leg;
        let talk = call.talk_mut().ok_or(EngineError::NoSuchCall(id))?;
        let ice = talk.media.as_ref().and_then(MediaSession::ice_description);
        let local = &mut talk.local;
        local.version += 1;
        if ice.is_some() {
            local.ice = ice;
        }
        change(local, talk.remote_hold);
        let offer = build_offer(local);
        cx.ua
            .reinvite(cx.now, leg, Some(Bytes::from(offer)))
            .map_err(|e| EngineError::from_sip(id, e))
    }

    pub(crate) fn mute(
        &mut self,
        cx: &mut Cx<'_>,
        id: CallId,
        muted: bool,
    ) -> Result<CallView, EngineError> {
        let call = self.calls.get_mut(&id).ok_or(EngineError::NoSuchCall(id))?;
        if call.state() == CallState::Ended {
            return Err(EngineError::WrongState {
                call: id,
                state: call.state_name(),
                action: "mute",
            });
        }
        call.muted = muted;
        if let Some(media) = call.media_mut() {
            media.set_muted(muted);
        }
        self.emit_call(cx, id);
        self.view(id)
    }

    pub(crate) fn dtmf(
        &mut self,
        cx: &mut Cx<'_>,
        id: CallId,
        digits: &str,
    ) -> Result<CallView, EngineError> {
        let parsed = DtmfDigit::parse_all(digits).map_err(EngineError::BadDigit)?;
        if parsed.is_empty() {
            return Err(EngineError::NoDigits);
        }
        let call = self.calls.get_mut(&id).ok_or(EngineError::NoSuchCall(id))?;
        match &mut call.phase {
            Phase::Connected(_) | Phase::Held(_) => {}
            Phase::Dialing { pending_dtmf, .. } | Phase::Early { pending_dtmf, .. } => {
                pending_dtmf.push_str(digits);
                return self.view(id);
            }
            _ => {
                return Err(EngineError::WrongState {
                    call: id,
                    state: call.state_name(),
                    action: "send DTMF",
                });
            }
        }
        let mode = call.dtmf;
        let in_band = call
            .media()
            .is_some_and(MediaSession::telephone_event_agreed);
        if mode == DtmfMode::Rfc4733 && !in_band {
            return Err(EngineError::Rfc4733Refused);
        }
        self.interaction_step(cx, id, |i, at| i.dtmf(at, digits));
        let Some(call) = self.calls.get_mut(&id) else {
            return Err(EngineError::NoSuchCall(id));
        };
        let sent_in_band = mode != DtmfMode::Info
            && call
                .media_mut()
                .is_some_and(|media| media.send_dtmf(&parsed));
        if !sent_in_band {
            // No telephone-event agreed: SIP INFO with application/dtmf-relay.
            let leg = call.leg;
            for digit in parsed {
                cx.ua
                    .send_dtmf_info(cx.now, leg, digit.as_char())
                    .map_err(|e| EngineError::from_sip(id, e))?;
            }
        }
        self.view(id)
    }
}

/// Whether a call placed to `target` (as `account`) is signalled over TLS: a `sips:` or
/// `;transport=tls` target, or an account whose server is reached over TLS.
fn tls_signalling(target: &str, account: Option<&crate::account::Resolved>) -> bool {
    let lower = target.to_ascii_lowercase();
    let by_target = lower.starts_with("sips:") || lower.contains(";transport=tls");
    let by_account = account.is_some_and(|a| {
        a.sip.proxy.transport == sip::Transport::Tls
            || a.locate
                .as_ref()
                .is_some_and(|s| s.secure || s.transport == Some(sip::Transport::Tls))
    });
    by_target || by_account
}
