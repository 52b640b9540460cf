//! What the network does to a call: the SIP events of its leg (an incoming INVITE, progress,
//! the answer, re-INVITEs, remote hold and answer, DTMF by INFO, the end) and its RTP.

use api::{CallId, CallState, Event};
use bytes::Bytes;
use media::{
    Codec, Direction, DtmfDigit, MediaSession, Negotiated, answer_offer, build_offer, read_answer,
};
use sip::{Dest, EndReason, LegId};
use tracing::{debug, info, warn};

use crate::call::{Call, Phase};
use crate::calls::{Calls, Cx, FloodVerdict, describe_end, uri_of};
use crate::config::{DtmfMode, FLOOD_BLOCK};
use crate::phone::Output;
use crate::timers::TimerId;

impl Calls {
    pub(crate) fn on_sip_event(&mut self, cx: &mut Cx<'_>, event: sip::Event) {
        match event {
            sip::Event::IncomingCall {
                leg,
                invite,
                source,
                replaces,
            } => self.on_incoming(cx, leg, &invite, source, replaces),
            sip::Event::Progress { leg, status, sdp } => {
                if let Some(id) = self.by_leg.get(&leg).copied() {
                    if status == 180
                        && let Some(Phase::Dialing { alerting, .. }) =
                            self.calls.get_mut(&id).map(|c| &mut c.phase)
                    {
                        *alerting = true;
                    }
                    if let Some(sdp) = sdp {
                        self.on_early_media(cx, id, &sdp);
                    }
                    let reason = if status == 180 { "Ringing" } else { "Trying" };
                    self.report_to_referrer(cx, id, status, reason);
                }
            }
            sip::Event::Confirmed { .. } => {}
            sip::Event::ReferAnswered { leg, status } => self.on_refer_answered(cx, leg, status),
            sip::Event::TransferProgress { leg, status, done } => {
                self.on_transfer_progress(cx, leg, status, done);
            }
            sip::Event::ReferReceived {
                leg,
                target,
                replaces,
                referred_by,
            } => self.on_refer_received(cx, leg, target, replaces, referred_by),
            sip::Event::RemoteControl { leg, event } => self.on_remote_control(cx, leg, &event),
            sip::Event::Answered { leg, sdp } => self.on_answered(cx, leg, sdp),
            sip::Event::ReInvite { leg, sdp } => self.on_reinvite(cx, leg, sdp),
            sip::Event::ReInviteDone { leg, result } => self.on_reinvite_done(cx, leg, result),
            sip::Event::DtmfInfo { leg, digit } => {
                if let (Some(id), Ok(digit)) =
                    (self.by_leg.get(&leg).copied(), DtmfDigit::from_char(digit))
                {
                    self.on_digit(cx, id, digit);
                }
            }
            // Other INFO packages carry nothing the phone acts on.
            sip::Event::Info { .. } => {}
            sip::Event::Ended { leg, reason } => {
                if let Some(id) = self.by_leg.remove(&leg) {
                    if self.fail_over(cx, id, &reason) {
                        return;
                    }
                    let transferred =
                        reason == EndReason::RemoteBye && self.transfer_completed_by_peer(cx, id);
                    if !transferred {
                        self.end_call(cx, id, describe_end(&reason));
                    }
                }
            }
            // The phone gives its registrations theirs.
            sip::Event::Registered { .. }
            | sip::Event::RegistrationFailed { .. }
            | sip::Event::Unregistered { .. }
            | sip::Event::Notified { .. }
            | sip::Event::SubscriptionFailed { .. } => {}
        }
    }

    pub(crate) fn on_incoming(
        &mut self,
        cx: &mut Cx<'_>,
        leg: LegId,
        invite: &sip::IncomingInvite,
        source: Dest,
        replaces: Option<LegId>,
    ) {
        if replaces.is_none() {
            let ip = source.addr.ip();
            let until = match self.note_source(ip, cx.now) {
                FloodVerdict::Fine => None,
                FloodVerdict::Started => {
                    warn!(%ip, "more new calls a second than limits.max_invites_per_source: refused for {} s", FLOOD_BLOCK.as_secs());
                    self.end_ringing_from(cx, ip);
                    Some(cx.now + FLOOD_BLOCK)
                }
                FloodVerdict::Blocked(until) => Some(until),
            };
            if let Some(until) = until {
                // RFC 3261 §21.5.4: 503 with Retry-After — this address, not the agent, is
                // the trouble; a real proxy behind it backs off and comes back.
                let left = until.saturating_duration_since(cx.now);
                let retry = left.as_millis().div_ceil(1000).max(1);
                let _ = cx.ua.reject_with(
                    cx.now,
                    leg,
                    503,
                    &[("Retry-After".to_owned(), retry.to_string())],
                );
                return;
            }
        }
        if replaces.is_none()
            && let Some(why) = self.over_limit()
        {
            // RFC 3261 §21.4.24: busy — an agent at its limit is busy, and a PBX's queue then
            // tries another one. (503 would say the server is overloaded: RFC 3263 callers
            // fail over from it and back off it as a whole.) No call or interaction is kept:
            // a flood leaves nothing behind.
            debug!(%source, %why, "incoming call refused 486");
            let _ = cx.ua.reject(cx.now, leg, 486);
            return;
        }
        let offer = invite
            .offer
            .as_ref()
            .map(|b| String::from_utf8_lossy(b).into_owned());
        let id = self.new_call_id();
        let remote = cx.ua.remote_uri(leg).map(uri_of).unwrap_or_default();
        info!(call = %id, %source, %remote, "incoming call");
        let (interaction, ready) = cx.desk.open(invite, id, &remote, cx.now, cx.out);
        let requested = invite
            .auto_answer
            .filter(|_| cx.desk.callbacks.honour_auto_answer);
        let answer_at = self
            .auto_answer
            .or(requested)
            .filter(|_| ready)
            .map(|delay| cx.now + delay);
        // An incoming call is taken as the first account's.
        let dtmf = cx.registrations.first().map_or(DtmfMode::Auto, |a| a.dtmf);
        let sip_call_id = cx.ua.call_id(leg).unwrap_or_default().to_owned();
        let keys_allowed =
            source.transport == sip::Transport::Tls || self.media.sdes_over_plain_sip;
        let refused = offer.as_deref().and_then(|o| {
            let suites: &[media::Suite] = if keys_allowed {
                &self.media.srtp_suites
            } else {
                &[]
            };
            let fingerprint = self
                .media
                .dtls_identity
                .as_ref()
                .map(media::DtlsIdentity::fingerprint);
            let (encryption, keying) = self.policy(cx.registrations.first());
            // RFC 3261 §20.43 warn-codes: 304 no such media type, 305 no format in common.
            match media::check_codecs(o, &self.media.codecs) {
                Err(e @ media::SdpError::NoAudio) => Some((304, e)),
                Err(e @ media::SdpError::NoCommonCodec) => Some((305, e)),
                _ => media::check_offer(o, encryption, keying, suites, fingerprint)
                    .err()
                    .map(|e| (399, e)),
            }
        });
        let mut call = Call::ringing(id, leg, remote, sip_call_id, dtmf, offer);
        call.interaction = Some(interaction);
        call.secure_signalling = source.transport == sip::Transport::Tls;
        call.source_ip = Some(source.addr.ip());
        self.insert_call(leg, call);
        if let Some(old) = replaces.and_then(|l| self.by_leg.get(&l).copied()) {
            // RFC 3891: the caller takes the old call's place (an attended transfer completing
            // here): answer at once, end the old call, and keep its interaction going.
            info!(call = %id, replaced = %old, "replacing a call");
            let interaction = self.calls.get_mut(&old).and_then(|c| c.interaction.take());
            if let Some(interaction) = interaction {
                let fresh = self
                    .calls
                    .get_mut(&id)
                    .and_then(|c| c.interaction.replace(interaction));
                if let Some(fresh) = fresh {
                    cx.desk.forget(fresh);
                }
            }
            let _ = self.hangup(cx, old);
            if let Err(e) = self.answer(cx, id, false) {
                warn!(call = %id, error = %e, "cannot answer the replacing call");
            }
            return;
        }
        if let Some((code, e)) = refused {
            // No codec in common, or the media cannot be protected as both sides demand:
            // refused before it rings (RFC 3261 §13.3.1.3).
            let warning = format!("{code} recall \"{}\"", e.to_string().replace('"', "'"));
            let _ = cx
                .ua
                .reject_with(cx.now, leg, 488, &[("Warning".to_owned(), warning)]);
            self.end_call(cx, id, format!("refused: {e} (488)"));
            return;
        }
        if !ready {
            // Not Ready: refuse with the configured status; the interaction is missed.
            let status = cx.desk.callbacks.not_ready_status;
            let _ = cx.ua.reject(cx.now, leg, status);
            self.end_call(cx, id, format!("agent not ready ({status})"));
            return;
        }
        if let Some(at) = answer_at.filter(|at| *at > cx.now) {
            cx.timers.set(TimerId::AutoAnswer(id), at);
        }
        if cx.desk.callbacks.timeout_status.is_some() {
            let timeout = cx
                .desk
                .get(interaction)
                .and_then(|i| i.callback.preview_timeout)
                .or(cx.desk.callbacks.preview_timeout);
            if let Some(timeout) = timeout {
                cx.timers.set(TimerId::RingTimeout(id), cx.now + timeout);
            }
        }
        if answer_at != Some(cx.now) {
            let allow = [("Allow-Events".to_owned(), "talk, hold".to_owned())];
            let _ = cx.ua.ring(cx.now, leg, &allow);
            cx.timers
                .set(TimerId::NoAnswer(id), cx.now + self.limits.ring_timeout);
        }
        self.emit_call(cx, id);
        if answer_at == Some(cx.now)
            && let Err(e) = self.answer(cx, id, false)
        {
            debug!(call = %id, error = %e, "auto-answer failed");
        }
    }

    /// A provisional response with a session description (RFC 3960 early media): the
    /// far end's audio plays from now, before the answer. A description we cannot use is
    /// ignored here; the 2xx's decides.
    fn on_early_media(&mut self, cx: &mut Cx<'_>, id: CallId, sdp: &[u8]) {
        let dialing = self
            .calls
            .get(&id)
            .is_some_and(|c| matches!(c.phase, Phase::Dialing { .. }));
        if !dialing {
            return;
        }
        let Some(local) = self.calls.get(&id).and_then(|c| c.local().cloned()) else {
            return;
        };
        let agreed = match read_answer(&String::from_utf8_lossy(sdp), &local) {
            Ok(agreed) => agreed,
            Err(e) => {
                debug!(call = %id, error = %e, "early session description not usable");
                return;
            }
        };
        let Ok(media) = self.new_media(cx, id, agreed, true) else {
            return;
        };
        if self.calls.get_mut(&id).is_some_and(|c| c.early(media)) {
            info!(call = %id, "early media");
            self.start_media(cx, id, "");
            self.emit_call(cx, id);
        }
    }

    pub(crate) fn on_answered(&mut self, cx: &mut Cx<'_>, leg: LegId, sdp: Option<Bytes>) {
        let Some(id) = self.by_leg.get(&leg).copied() else {
            return;
        };
        if self
            .calls
            .get(&id)
            .is_some_and(|c| matches!(c.phase, Phase::Early { .. }))
        {
            self.answered_after_early(cx, id, sdp);
            return;
        }
        let Some(local) = self.calls.get(&id).and_then(|c| c.local().cloned()) else {
            return;
        };
        let agreed = sdp
            .as_deref()
            .map(|s| read_answer(&String::from_utf8_lossy(s), &local));
        match agreed {
            Some(Ok(agreed)) => {
                let media = match self.new_media(cx, id, agreed, true) {
                    Ok(media) => media,
                    Err(e) => {
                        let _ = cx.ua.hangup(cx.now, leg);
                        self.end_call(cx, id, format!("cannot start the codec: {e}"));
                        return;
                    }
                };
                let Some(pending) = self.calls.get_mut(&id).and_then(|c| c.answered(media)) else {
                    return;
                };
                self.start_media(cx, id, &pending);
                info!(call = %id, "connected");
                self.emit_call(cx, id);
                self.interaction_step(cx, id, |i, at| i.connect(at));
                self.report_to_referrer(cx, id, 200, "OK");
            }
            Some(Err(e)) => {
                warn!(call = %id, error = %e, "unusable answer; hanging up");
                let _ = cx.ua.hangup(cx.now, leg);
                self.end_call(cx, id, format!("media negotiation failed: {e}"));
            }
            None => {
                warn!(call = %id, "answer without SDP; hanging up");
                let _ = cx.ua.hangup(cx.now, leg);
                self.end_call(cx, id, "the answer carried no SDP".to_owned());
            }
        }
    }

    /// The answer to a call that had early media: the media goes on; a 2xx description that
    /// differs (RFC 3261 §13.2.1 wants the same, but gateways differ) is applied to it.
    fn answered_after_early(&mut self, cx: &mut Cx<'_>, id: CallId, sdp: Option<Bytes>) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let agreed = match (sdp.as_deref(), call.local()) {
            (Some(s), Some(local)) => read_answer(&String::from_utf8_lossy(s), local).ok(),
            _ => None,
        };
        if let (Some(agreed), Some(media)) = (agreed, call.media_mut()) {
            let rate = media.codec().sample_rate();
            let new_rate = agreed.codec.sample_rate();
            if let Err(e) = media.update(agreed) {
                warn!(call = %id, error = %e, "cannot apply the answer after early media");
            } else if rate != new_rate {
                // A new clock rate needs the audio opened at it.
                if let Some(audio) = call.live_mut().and_then(|t| t.audio.take()) {
                    self.audio.close(id, audio);
                }
            }
        }
        let Some(pending) = self.calls.get_mut(&id).and_then(Call::answered_after_early) else {
            return;
        };
        let has_audio = self
            .calls
            .get(&id)
            .and_then(Call::talk)
            .is_some_and(|t| t.audio.is_some());
        if has_audio {
            self.send_pending_dtmf(id, &pending);
        } else {
            self.start_media(cx, id, &pending);
        }
        info!(call = %id, "connected");
        self.emit_call(cx, id);
        self.interaction_step(cx, id, |i, at| i.connect(at));
        self.report_to_referrer(cx, id, 200, "OK");
    }
    pub(crate) fn on_reinvite(&mut self, cx: &mut Cx<'_>, leg: LegId, sdp: Option<Bytes>) {
        let Some(id) = self.by_leg.get(&leg).copied() else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let we_hold = call.state() == CallState::Held;
        let Some(talk) = call.talk_mut() else {
            let _ = cx.ua.reject_reinvite(cx.now, leg, 488);
            return;
        };
        let local = &mut talk.local;
        local.version += 1;
        local.dtls_role = talk.media.as_ref().and_then(MediaSession::dtls_role);
        // Answer with what we want (RFC 3264 §6.1: the answer narrows the offer's direction):
        // whether the peer holds us or not is the offer's to say.
        local.direction = if we_hold {
            Direction::SendOnly
        } else {
            Direction::SendRecv
        };
        let result = match &sdp {
            Some(offer) => answer_offer(&String::from_utf8_lossy(offer), local),
            // An offer-less re-INVITE: we offer in the 200 (answer comes in the ACK).
            None => Ok((
                build_offer(local),
                Negotiated {
                    codec: talk.media.as_ref().map_or(Codec::Pcmu, MediaSession::codec),
                    payload_type: 0,
                    remote: talk.media.as_ref().and_then(MediaSession::remote),
                    remote_rtcp: None,
                    rtcp_mux: false,
                    dtmf_payload_type: None,
                    dtmf_rate: 8000,
                    direction: local.direction,
                    peer_uses_fec: false,
                    max_bitrate: None,
                    srtp: None,
                    dtls: None,
                    ice: None,
                },
            )),
        };
        match result {
            Ok((answer, agreed)) => {
                if sdp.is_some() {
                    // The peer's offer decides whether it holds us (we may not send).
                    talk.remote_hold = !agreed.direction.sends();
                }
                let mut answer = answer;
                if let (Some(offer), Some(media)) = (&sdp, talk.media.as_mut()) {
                    if let Err(e) = media.update(agreed) {
                        warn!(call = %id, error = %e, "cannot switch codec");
                    }
                    // A new ufrag in the offer restarted ICE (RFC 8445 §9) with new
                    // credentials of ours: the answer must carry them.
                    let ice = media.ice_description();
                    if ice.is_some() && ice != talk.local.ice {
                        talk.local.ice = ice;
                        if let Ok((fresh, _)) =
                            answer_offer(&String::from_utf8_lossy(offer), &talk.local)
                        {
                            answer = fresh;
                        }
                    }
                }
                let _ = cx
                    .ua
                    .accept_reinvite(cx.now, leg, Some(Bytes::from(answer)));
            }
            Err(e) => {
                debug!(call = %id, error = %e, "refusing re-INVITE");
                let _ = cx.ua.reject_reinvite(cx.now, leg, 488);
            }
        }
    }

    pub(crate) fn on_reinvite_done(
        &mut self,
        cx: &mut Cx<'_>,
        leg: LegId,
        result: Result<Option<Bytes>, u16>,
    ) {
        let Some(id) = self.by_leg.get(&leg).copied() else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        // We asked to hold (sendonly, or inactive when the peer holds us too) or to resume.
        let holding = call
            .local()
            .is_some_and(|l| matches!(l.direction, Direction::SendOnly | Direction::Inactive));
        let remote_hold = call.talk().is_some_and(|t| t.remote_hold);
        match result {
            Ok(Some(sdp)) => {
                let agreed = call
                    .local()
                    .map(|local| read_answer(&String::from_utf8_lossy(&sdp), local));
                if let (Some(Ok(agreed)), Some(media)) = (agreed, call.media_mut())
                    && let Err(e) = media.update(agreed)
                {
                    warn!(call = %id, error = %e, "cannot switch codec");
                }
                call.set_held(holding);
                if holding {
                    self.interaction_step(cx, id, |i, at| i.hold(at));
                } else {
                    self.interaction_step(cx, id, |i, at| i.resume(at));
                }
            }
            Ok(None) => {}
            Err(status) => {
                warn!(call = %id, status, "re-INVITE refused");
                if let Some(local) = call.local_mut() {
                    // Back to what is in force.
                    local.direction = match (holding, remote_hold) {
                        (true, false) => Direction::SendRecv,
                        (true, true) => Direction::RecvOnly,
                        (false, false) => Direction::SendOnly,
                        (false, true) => Direction::Inactive,
                    };
                }
            }
        }
        self.emit_call(cx, id);
        self.send_pending_refer(cx, id);
    }

    /// `NOTIFY Event: talk` answers a ringing call or resumes a held one; `hold` holds.
    pub(crate) fn on_remote_control(&mut self, cx: &mut Cx<'_>, leg: LegId, event: &str) {
        let Some(id) = self.by_leg.get(&leg).copied() else {
            return;
        };
        let state = self.calls.get(&id).map(Call::state);
        let result = match (event, state) {
            ("talk", Some(CallState::Ringing)) => self.answer(cx, id, true),
            ("talk", Some(CallState::Held)) => self.hold(cx, id, false),
            ("hold", Some(CallState::Connected)) => self.hold(cx, id, true),
            _ => return,
        };
        info!(call = %id, event, "remote control");
        if let Err(e) = result {
            debug!(call = %id, error = %e, "remote control refused");
        }
    }

    pub(crate) fn on_digit(&mut self, cx: &mut Cx<'_>, id: CallId, digit: DtmfDigit) {
        if let Some(call) = self.calls.get_mut(&id) {
            call.dtmf_received.push(digit.as_char());
        }
        cx.out.push_back(Output::Event(Box::new(Event::Dtmf {
            call: id,
            digit: digit.to_string(),
        })));
    }
}
