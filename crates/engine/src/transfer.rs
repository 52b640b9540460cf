//! Call control beyond one call: blind and attended transfer (RFC 3515 REFER, RFC 3891
//! Replaces, RFC 5589), consultation, and being transferred (as the transferee that receives a
//! REFER, and as the target an INVITE with Replaces arrives at). The local conference is in
//! conference.rs.

use std::fmt;
use std::time::Duration;

use api::{CallId, CallState, CallView, TransferOutcome};
use sip::LegId;
use tracing::{info, warn};

use crate::calls::{Calls, Cx};
use crate::error::EngineError;
use crate::timers::TimerId;

/// How long a transfer may go without an outcome (a final NOTIFY) before the call comes back.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(60);

/// A transfer of a call's peer that we started.
#[derive(Debug, Clone)]
pub(crate) struct Transfer {
    /// Where the peer is sent (shown to the agent, and on the timeline).
    pub(crate) target: String,
    pub(crate) status: TransferStatus,
    /// The peer accepted the REFER (2xx).
    pub(crate) accepted: bool,
    /// We put the call on hold for the transfer, so a failure resumes it.
    pub(crate) resume_on_failure: bool,
    /// The consultation call whose peer takes over (attended transfer).
    pub(crate) replaces: Option<CallId>,
    /// The REFER's `Refer-To`, while it waits for the hold to complete.
    pub(crate) pending_refer: Option<String>,
}

/// Where a transfer stands; shown as `trying`, `accepted`, `ringing`, `confirmed`,
/// `unconfirmed` or `failed: why`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TransferStatus {
    /// The REFER is on its way, or the peer is trying the target.
    Trying,
    /// The peer accepted the REFER (202) and has said nothing more.
    Accepted,
    /// The target rings.
    Ringing,
    /// The transfer is over: confirmed, released unconfirmed, or failed (with why).
    Over {
        outcome: TransferOutcome,
        detail: Option<String>,
    },
}

impl TransferStatus {
    pub(crate) fn is_over(&self) -> bool {
        matches!(self, Self::Over { .. })
    }

    pub(crate) fn released_unconfirmed(&self) -> bool {
        matches!(
            self,
            Self::Over {
                outcome: TransferOutcome::Unconfirmed,
                ..
            }
        )
    }
}

impl fmt::Display for TransferStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Trying => f.write_str("trying"),
            Self::Accepted => f.write_str("accepted"),
            Self::Ringing => f.write_str("ringing"),
            Self::Over {
                outcome: TransferOutcome::Failed,
                detail,
            } => write!(f, "failed: {}", detail.as_deref().unwrap_or("unknown")),
            Self::Over { outcome, .. } => f.write_str(outcome.as_str()),
        }
    }
}

/// The `Replaces` value as a URI header (RFC 3891 §6.1: `;` `=` `@` and friends escaped).
fn escape_header(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'!'
            | b'~'
            | b'*'
            | b'\''
            | b'('
            | b')' => char::from(b).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

impl Calls {
    /// Whether a call can be worked on (talking or held).
    pub(crate) fn live(&self, id: CallId, action: &'static str) -> Result<(), EngineError> {
        let call = self.calls.get(&id).ok_or(EngineError::NoSuchCall(id))?;
        if matches!(call.state(), CallState::Connected | CallState::Held) {
            Ok(())
        } else {
            Err(EngineError::WrongState {
                call: id,
                state: call.state_name(),
                action,
            })
        }
    }

    /// `Command::Transfer`: blind to `target`, or attended to the peer of `replaces`.
    pub(crate) fn transfer(
        &mut self,
        cx: &mut Cx<'_>,
        id: CallId,
        target: Option<String>,
        replaces: Option<CallId>,
    ) -> Result<CallView, EngineError> {
        self.live(id, "transfer")?;
        if self.calls.get(&id).is_some_and(|c| {
            c.transfer
                .as_ref()
                .is_some_and(|t| !t.status.is_over() && !t.status.released_unconfirmed())
        }) {
            return Err(EngineError::AlreadyTransferring(id));
        }
        let (refer_to, shown) = match (target, replaces) {
            (Some(target), None) => {
                let uri = self.dial_target(cx, &target)?;
                (uri.clone(), uri)
            }
            (None, Some(other)) => {
                if other == id {
                    return Err(EngineError::WithItself("transferred to"));
                }
                self.live(other, "complete a transfer to")?;
                let other_leg = self
                    .calls
                    .get(&other)
                    .map(|c| c.leg)
                    .ok_or(EngineError::NoSuchCall(other))?;
                let (_contact, value) = cx
                    .ua
                    .replaces_for(other_leg)
                    .ok_or(EngineError::NotEstablished(other))?;
                let shown = self
                    .calls
                    .get(&other)
                    .map(|c| c.remote.clone())
                    .unwrap_or_default();
                // The target's address-of-record, not its Contact (RFC 5589 §7.3): the
                // transferee's INVITE then goes through the target's proxy, which can reach
                // it. A transferee that ignores the Replaces header still reaches the target.
                (format!("{shown}?Replaces={}", escape_header(&value)), shown)
            }
            _ => {
                return Err(EngineError::MissingTarget(
                    "give \"target\" (blind transfer) or \"replaces\": the consultation call (attended)",
                ));
            }
        };
        let leg = self
            .calls
            .get(&id)
            .map(|c| c.leg)
            .ok_or(EngineError::NoSuchCall(id))?;
        let connected = self
            .calls
            .get(&id)
            .is_some_and(|c| c.state() == CallState::Connected);
        // The peer waits on hold while the target rings (it comes back if that fails); the
        // REFER goes once the hold is done, so the peer sees them in that order.
        let hold_first = connected && replaces.is_none();
        if hold_first {
            self.hold(cx, id, true)?;
        } else {
            cx.ua
                .refer(cx.now, leg, &refer_to)
                .map_err(|e| EngineError::from_sip(id, e))?;
        }
        info!(call = %id, target = %shown, attended = replaces.is_some(), "transferring");
        if let Some(call) = self.calls.get_mut(&id) {
            call.transfer = Some(Transfer {
                target: shown,
                status: TransferStatus::Trying,
                accepted: false,
                resume_on_failure: hold_first,
                replaces,
                pending_refer: hold_first.then_some(refer_to),
            });
        }
        cx.timers
            .set(TimerId::TransferGiveUp(id), cx.now + TRANSFER_TIMEOUT);
        self.emit_call(cx, id);
        self.view(id)
    }

    /// `Command::Consult`: hold the call and dial `target`.
    pub(crate) fn consult(
        &mut self,
        cx: &mut Cx<'_>,
        id: CallId,
        target: &str,
    ) -> Result<CallView, EngineError> {
        self.live(id, "consult")?;
        if self
            .calls
            .get(&id)
            .is_some_and(|c| c.state() == CallState::Connected)
        {
            self.hold(cx, id, true)?;
        }
        let view = self.dial_with(cx, target, None, Vec::new())?;
        if let Some(call) = self.calls.get_mut(&view.id) {
            call.consultation_of = Some(id);
            // The consultation belongs to the same interaction (shown with it).
            call.interaction = None;
        }
        self.emit_call(cx, view.id);
        self.view(view.id)
    }

    /// A re-INVITE of a call finished: a REFER waiting for the hold goes now (whether the hold
    /// worked or not: the transfer is what the agent asked for).
    pub(crate) fn send_pending_refer(&mut self, cx: &mut Cx<'_>, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(refer_to) = call.transfer.as_mut().and_then(|t| t.pending_refer.take()) else {
            return;
        };
        let leg = call.leg;
        if let Err(e) = cx.ua.refer(cx.now, leg, &refer_to) {
            self.transfer_failed(cx, id, &format!("cannot send the REFER: {e}"));
        }
    }

    /// Our REFER was answered. A blind transfer the peer accepted is given the grace to fail
    /// in; after it the agent's leg is released (instant transfer).
    pub(crate) fn on_refer_answered(&mut self, cx: &mut Cx<'_>, leg: LegId, status: u16) {
        let Some(id) = self.by_leg.get(&leg).copied() else {
            return;
        };
        if !(200..300).contains(&status) {
            self.transfer_failed(cx, id, &format!("the peer refused the transfer ({status})"));
            return;
        }
        let Some(transfer) = self.calls.get_mut(&id).and_then(|c| c.transfer.as_mut()) else {
            return;
        };
        transfer.accepted = true;
        if transfer.status == TransferStatus::Trying && status == 202 {
            transfer.status = TransferStatus::Accepted;
        }
        if transfer.replaces.is_none() && !transfer.status.is_over() {
            let grace = cx.desk.callbacks.transfer_grace;
            cx.timers.set(TimerId::TransferGrace(id), cx.now + grace);
        }
        self.emit_call(cx, id);
    }

    /// A NOTIFY about our REFER, while the call is up or after it was released.
    pub(crate) fn on_transfer_progress(
        &mut self,
        cx: &mut Cx<'_>,
        leg: LegId,
        status: u16,
        done: bool,
    ) {
        let Some(id) = self
            .by_leg
            .get(&leg)
            .or_else(|| self.released.get(&leg))
            .copied()
        else {
            return;
        };
        match status {
            100..=179 | 181..=199 => self.set_transfer_status(cx, id, TransferStatus::Trying),
            180 => self.set_transfer_status(cx, id, TransferStatus::Ringing),
            200..=299 => self.transfer_succeeded(cx, id, None),
            _ => {
                let reason = sip_reason(status);
                let why = format!("the target answered {status} {reason}");
                self.transfer_failed(cx, id, why.trim_end());
            }
        }
        let released = self
            .calls
            .get(&id)
            .and_then(|c| c.transfer.as_ref())
            .is_some_and(|t| t.status.released_unconfirmed());
        if done && status < 200 && !released {
            self.transfer_failed(cx, id, "the transfer ended without an answer");
        }
        if done {
            self.released.remove(&leg);
        }
    }

    pub(crate) fn set_transfer_status(
        &mut self,
        cx: &mut Cx<'_>,
        id: CallId,
        status: TransferStatus,
    ) {
        if let Some(transfer) = self.calls.get_mut(&id).and_then(|c| c.transfer.as_mut())
            && !transfer.status.is_over()
        {
            transfer.status = status;
            self.emit_call(cx, id);
        }
    }

    /// A transfer that was released unconfirmed got its final word late: recorded on the call
    /// and (until Done) on the interaction's timeline.
    pub(crate) fn late_outcome(
        &mut self,
        cx: &mut Cx<'_>,
        id: CallId,
        outcome: TransferOutcome,
        detail: Option<&str>,
    ) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(transfer) = call.transfer.as_mut() else {
            return;
        };
        transfer.status = TransferStatus::Over {
            outcome,
            detail: detail.map(str::to_owned),
        };
        let (target, leg) = (transfer.target.clone(), call.leg);
        self.released.remove(&leg);
        info!(call = %id, %target, outcome = outcome.as_str(), "late transfer outcome");
        self.interaction_step(cx, id, |i, at| {
            i.late_transfer_outcome(at, &target, outcome, detail)
        });
        self.emit_call(cx, id);
    }

    /// Ends a transfer: no more timers, and the outcome on the interaction's timeline.
    /// Returns (target, replaced call, resume on failure), or `None` when it was already over.
    pub(crate) fn settle_transfer(
        &mut self,
        cx: &mut Cx<'_>,
        id: CallId,
        outcome: TransferOutcome,
        detail: Option<&str>,
    ) -> Option<(String, Option<CallId>, bool)> {
        let transfer = self.calls.get_mut(&id)?.transfer.as_mut()?;
        if transfer.status.released_unconfirmed() && outcome != TransferOutcome::Unconfirmed {
            self.late_outcome(cx, id, outcome, detail);
            return None;
        }
        if transfer.status.is_over() {
            return None;
        }
        transfer.status = TransferStatus::Over {
            outcome,
            detail: detail.map(str::to_owned),
        };
        let settled = (
            transfer.target.clone(),
            transfer.replaces,
            transfer.resume_on_failure,
        );
        cx.timers.clear(TimerId::TransferGiveUp(id));
        cx.timers.clear(TimerId::TransferGrace(id));
        let target = settled.0.clone();
        self.interaction_step(cx, id, |i, at| i.transfer(at, &target, outcome, detail));
        Some(settled)
    }

    /// The peer is with the target now: our part of the call ends (RFC 5589 §6: the
    /// transferor sends BYE); an attended transfer's consultation is ended by the target.
    pub(crate) fn transfer_succeeded(&mut self, cx: &mut Cx<'_>, id: CallId, detail: Option<&str>) {
        let Some((target, replaces, _)) =
            self.settle_transfer(cx, id, TransferOutcome::Confirmed, detail)
        else {
            return;
        };
        info!(call = %id, %target, "transferred");
        if self
            .calls
            .get(&id)
            .is_some_and(|c| c.state() != CallState::Ended)
        {
            let _ = self.end_locally(cx, id, format!("transferred to {target}"));
        }
        if let Some(other) = replaces {
            // The target should end the replaced call; if it has not within a moment, do.
            cx.timers.set(
                TimerId::ReplacedCleanup(other),
                cx.now + Duration::from_secs(2),
            );
        }
        self.emit_call(cx, id);
    }

    /// The transfer did not happen: say why and give the call back.
    pub(crate) fn transfer_failed(&mut self, cx: &mut Cx<'_>, id: CallId, why: &str) {
        let Some((_, _, resume)) = self.settle_transfer(cx, id, TransferOutcome::Failed, Some(why))
        else {
            return;
        };
        warn!(call = %id, why, "transfer failed");
        if resume
            && self
                .calls
                .get(&id)
                .is_some_and(|c| c.state() == CallState::Held)
            && let Err(e) = self.hold(cx, id, false)
        {
            warn!(call = %id, error = %e, "cannot take the call off hold");
        }
        self.emit_call(cx, id);
    }

    /// The grace of an accepted blind transfer is over with no failure: release the agent's
    /// leg (BYE) and call it unconfirmed. A queue or IVR at an Asterisk-style PBX takes the
    /// peer on its own channel and never sends a final sipfrag; late NOTIFYs are still taken.
    pub(crate) fn transfer_grace_over(&mut self, cx: &mut Cx<'_>, id: CallId) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let leg = call.leg;
        let waiting = call
            .transfer
            .as_ref()
            .is_some_and(|t| t.accepted && !t.status.is_over());
        if !waiting || call.state() == CallState::Ended {
            return;
        }
        let Some((target, _, _)) = self.settle_transfer(cx, id, TransferOutcome::Unconfirmed, None)
        else {
            return;
        };
        info!(call = %id, %target, "transfer accepted and not refused in time: releasing the call");
        self.released.insert(leg, id);
        let _ = self.end_locally(cx, id, format!("transferred to {target} (unconfirmed)"));
        self.emit_call(cx, id);
    }

    /// The peer ended the call (BYE) while a transfer it had accepted was under way: the PBX
    /// completed the transfer. Returns whether that is what happened.
    pub(crate) fn transfer_completed_by_peer(&mut self, cx: &mut Cx<'_>, id: CallId) -> bool {
        let accepted = self
            .calls
            .get(&id)
            .and_then(|c| c.transfer.as_ref())
            .is_some_and(|t| t.accepted && !t.status.is_over());
        if !accepted {
            return false;
        }
        let detail = "completed by the PBX (it ended our call)";
        let Some((target, _, _)) =
            self.settle_transfer(cx, id, TransferOutcome::Confirmed, Some(detail))
        else {
            return false;
        };
        info!(call = %id, %target, "the PBX ended the call it was transferring: transferred");
        self.end_call(
            cx,
            id,
            format!("transferred to {target} (completed by the PBX)"),
        );
        true
    }

    /// The peer asks us to call someone (we are the transferee): place that call, carrying
    /// Replaces and Referred-By, and report its progress back in NOTIFYs.
    pub(crate) fn on_refer_received(
        &mut self,
        cx: &mut Cx<'_>,
        leg: LegId,
        target: String,
        replaces: Option<String>,
        referred_by: Option<String>,
    ) {
        let Some(original) = self.by_leg.get(&leg).copied() else {
            return;
        };
        let _ = cx.ua.notify_transfer(cx.now, leg, 100, "Trying", false);
        let mut headers = Vec::new();
        if let Some(replaces) = replaces {
            headers.push(("Replaces".to_owned(), replaces));
        }
        if let Some(by) = referred_by {
            headers.push(("Referred-By".to_owned(), by));
        }
        info!(call = %original, %target, "transferred by the peer: calling the target");
        match self.dial_with(cx, &target, None, headers) {
            Ok(view) => {
                let interaction = self
                    .calls
                    .get_mut(&original)
                    .and_then(|c| c.interaction.take());
                if let Some(call) = self.calls.get_mut(&view.id) {
                    call.referred_from = Some(original);
                    call.interaction = interaction;
                }
                self.emit_call(cx, view.id);
            }
            Err(e) => {
                warn!(call = %original, error = %e, "cannot call the transfer target");
                let _ = cx
                    .ua
                    .notify_transfer(cx.now, leg, 503, "Service Unavailable", true);
            }
        }
    }

    /// A call we placed because of a REFER changed: tell the referrer (RFC 3515 §2.4.5).
    pub(crate) fn report_to_referrer(
        &mut self,
        cx: &mut Cx<'_>,
        id: CallId,
        status: u16,
        reason: &str,
    ) {
        let Some(original) = self.calls.get(&id).and_then(|c| c.referred_from) else {
            return;
        };
        let Some(leg) = self
            .calls
            .get(&original)
            .filter(|c| c.state() != CallState::Ended)
            .map(|c| c.leg)
        else {
            return;
        };
        let done = status >= 200;
        let _ = cx.ua.notify_transfer(cx.now, leg, status, reason, done);
        if done && let Some(call) = self.calls.get_mut(&id) {
            call.referred_from = None;
        }
    }
}

/// A reason phrase for a status, for messages.
fn sip_reason(status: u16) -> &'static str {
    match status {
        404 => "Not Found",
        408 => "Request Timeout",
        480 => "Temporarily Unavailable",
        486 => "Busy Here",
        487 => "Request Terminated",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::escape_header;

    #[test]
    fn replaces_is_escaped_for_a_uri_header() {
        assert_eq!(
            escape_header("abc@host;to-tag=1;from-tag=2"),
            "abc%40host%3Bto-tag%3D1%3Bfrom-tag%3D2"
        );
    }
}
