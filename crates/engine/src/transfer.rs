//! Call control beyond one call: blind and attended transfer (RFC 3515 REFER, RFC 3891
//! Replaces, RFC 5589), consultation, the local conference, and being transferred (as the
//! transferee that receives a REFER, and as the target an INVITE with Replaces arrives at).

use std::time::{Duration, Instant};

use api::{CallId, CallState, CallView, Command};
use sip::LegId;
use tracing::{info, warn};

use crate::error::EngineError;
use crate::phone::Phone;

/// How long a transfer may go without an outcome (a final NOTIFY) before the call comes back.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(60);

/// A transfer of a call's peer that we started.
#[derive(Debug, Clone)]
pub(crate) struct Transfer {
    /// Where the peer is sent (shown to the agent, and on the timeline).
    pub(crate) target: String,
    /// `trying`, `ringing`, `failed: …`, `done`.
    pub(crate) status: String,
    /// We put the call on hold for the transfer, so a failure resumes it.
    pub(crate) resume_on_failure: bool,
    /// The consultation call whose peer takes over (attended transfer).
    pub(crate) replaces: Option<CallId>,
    /// When the attempt is given up.
    pub(crate) deadline: Instant,
    /// The REFER's `Refer-To`, while it waits for the hold to complete.
    pub(crate) pending_refer: Option<String>,
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

impl Phone {
    /// Whether a call can be worked on (talking or held).
    fn live(&self, id: CallId, action: &'static str) -> Result<(), EngineError> {
        let call = self.calls.get(&id).ok_or(EngineError::NoSuchCall(id))?;
        if matches!(call.state, CallState::Connected | CallState::Held) {
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
        id: CallId,
        target: Option<String>,
        replaces: Option<CallId>,
    ) -> Result<CallView, EngineError> {
        self.live(id, "transfer")?;
        if self.calls.get(&id).is_some_and(|c| {
            c.transfer
                .as_ref()
                .is_some_and(|t| t.status != "done" && !t.status.starts_with("failed"))
        }) {
            return Err(EngineError::Invalid(format!(
                "{id} is already being transferred"
            )));
        }
        let (refer_to, shown) = match (target, replaces) {
            (Some(target), None) => {
                let uri = self.dial_target(&target)?;
                (uri.clone(), uri)
            }
            (None, Some(other)) => {
                if other == id {
                    return Err(EngineError::Invalid(
                        "a call cannot be transferred to itself".to_owned(),
                    ));
                }
                self.live(other, "complete a transfer to")?;
                let other_leg = self
                    .calls
                    .get(&other)
                    .map(|c| c.leg)
                    .ok_or(EngineError::NoSuchCall(other))?;
                let (_contact, value) = self.ua.replaces_for(other_leg).ok_or_else(|| {
                    EngineError::Invalid(format!(
                        "{other} is not an established call to transfer to"
                    ))
                })?;
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
                return Err(EngineError::Invalid(
                    "give \"target\" (blind transfer) or \"replaces\": the consultation call (attended)".to_owned(),
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
            .is_some_and(|c| c.state == CallState::Connected);
        // The peer waits on hold while the target rings (it comes back if that fails); the
        // REFER goes once the hold is done, so the peer sees them in that order.
        let hold_first = connected && replaces.is_none();
        if hold_first {
            self.command(self.now, Command::Hold { call: id })?;
        } else {
            self.ua
                .refer(self.now, leg, &refer_to)
                .map_err(|e| EngineError::from_sip(id, e))?;
        }
        info!(call = %id, target = %shown, attended = replaces.is_some(), "transferring");
        let deadline = self.now + TRANSFER_TIMEOUT;
        if let Some(call) = self.calls.get_mut(&id) {
            call.transfer = Some(Transfer {
                target: shown,
                status: "trying".to_owned(),
                resume_on_failure: hold_first,
                replaces,
                deadline,
                pending_refer: hold_first.then_some(refer_to),
            });
        }
        self.transfer_deadlines.insert((deadline, id));
        self.emit_call(id);
        self.view(id)
    }

    /// `Command::Consult`: hold the call and dial `target`.
    pub(crate) fn consult(&mut self, id: CallId, target: &str) -> Result<CallView, EngineError> {
        self.live(id, "consult")?;
        if self
            .calls
            .get(&id)
            .is_some_and(|c| c.state == CallState::Connected)
        {
            self.command(self.now, Command::Hold { call: id })?;
        }
        let view = self.command(
            self.now,
            Command::Dial {
                to: target.to_owned(),
                account: None,
            },
        )?;
        if let Some(call) = self.calls.get_mut(&view.id) {
            call.consultation_of = Some(id);
            // The consultation belongs to the same interaction (shown with it).
            call.interaction = None;
        }
        self.emit_call(view.id);
        self.view(view.id)
    }

    /// `Command::Conference`: dial `target` and mix it with the call, or mix the call with
    /// `with`.
    pub(crate) fn conference(
        &mut self,
        id: CallId,
        target: Option<String>,
        with: Option<CallId>,
    ) -> Result<CallView, EngineError> {
        self.live(id, "conference")?;
        let group = self
            .calls
            .get(&id)
            .and_then(|c| c.conference)
            .unwrap_or_else(|| {
                self.next_conference += 1;
                self.next_conference
            });
        match (target, with) {
            (Some(target), None) => {
                let view = self.command(
                    self.now,
                    Command::Dial {
                        to: target,
                        account: None,
                    },
                )?;
                if let Some(call) = self.calls.get_mut(&view.id) {
                    call.conference = Some(group);
                }
            }
            (None, Some(other)) => {
                if other == id {
                    return Err(EngineError::Invalid(
                        "a call cannot be conferenced with itself".to_owned(),
                    ));
                }
                self.live(other, "conference")?;
                self.join_conference(other, group);
            }
            _ => {
                return Err(EngineError::Invalid(
                    "give \"target\" (call and add) or \"with\": the other call (merge)".to_owned(),
                ));
            }
        }
        self.join_conference(id, group);
        self.view(id)
    }

    /// Puts a call in a conference group, taking it off hold.
    fn join_conference(&mut self, id: CallId, group: u64) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.conference = Some(group);
        call.consultation_of = None;
        let held = call.state == CallState::Held;
        if held && let Err(e) = self.command(self.now, Command::Resume { call: id }) {
            warn!(call = %id, error = %e, "cannot resume for the conference");
        }
        self.interaction_step(id, |i, at| i.conference(at));
        self.emit_call(id);
    }

    /// A re-INVITE of a call finished: a REFER waiting for the hold goes now (whether the hold
    /// worked or not: the transfer is what the agent asked for).
    pub(crate) fn send_pending_refer(&mut self, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(refer_to) = call.transfer.as_mut().and_then(|t| t.pending_refer.take()) else {
            return;
        };
        let leg = call.leg;
        if let Err(e) = self.ua.refer(self.now, leg, &refer_to) {
            self.transfer_failed(id, &format!("cannot send the REFER: {e}"));
        }
    }

    /// Our REFER was answered.
    pub(crate) fn on_refer_answered(&mut self, leg: LegId, status: u16) {
        let Some(id) = self.by_leg.get(&leg).copied() else {
            return;
        };
        if (200..300).contains(&status) {
            self.set_transfer_status(id, if status == 202 { "accepted" } else { "trying" });
        } else {
            self.transfer_failed(id, &format!("the peer refused the transfer ({status})"));
        }
    }

    /// A NOTIFY about our REFER.
    pub(crate) fn on_transfer_progress(&mut self, leg: LegId, status: u16, done: bool) {
        let Some(id) = self.by_leg.get(&leg).copied() else {
            return;
        };
        match status {
            100..=179 | 181..=199 => self.set_transfer_status(id, "trying"),
            180 => self.set_transfer_status(id, "ringing"),
            200..=299 => self.transfer_succeeded(id),
            _ => {
                let reason = sip_reason(status);
                self.transfer_failed(id, &format!("the target answered {status} {reason}"));
            }
        }
        if done && status < 200 {
            self.transfer_failed(id, "the transfer ended without an answer");
        }
    }

    fn set_transfer_status(&mut self, id: CallId, status: &str) {
        if let Some(transfer) = self.calls.get_mut(&id).and_then(|c| c.transfer.as_mut()) {
            transfer.status = status.to_owned();
        }
        self.emit_call(id);
    }

    /// The peer is with the target now: our part of the call ends (RFC 5589 §6: the
    /// transferor sends BYE); an attended transfer's consultation is ended by the target.
    fn transfer_succeeded(&mut self, id: CallId) {
        let Some(transfer) = self.calls.get_mut(&id).and_then(|c| c.transfer.as_mut()) else {
            return;
        };
        if transfer.status == "done" {
            return;
        }
        transfer.status = "done".to_owned();
        let (target, replaces, deadline) = (
            transfer.target.clone(),
            transfer.replaces,
            transfer.deadline,
        );
        self.transfer_deadlines.remove(&(deadline, id));
        info!(call = %id, %target, "transferred");
        self.interaction_step(id, |i, at| i.transfer(at, &target));
        if self
            .calls
            .get(&id)
            .is_some_and(|c| c.state != CallState::Ended)
        {
            let _ = self.command(self.now, Command::Hangup { call: id });
        }
        if let Some(other) = replaces {
            // The target should end the replaced call; if it has not within a moment, do.
            self.transfer_cleanup
                .insert((self.now + Duration::from_secs(2), other));
        }
    }

    /// The transfer did not happen: say why and give the call back.
    fn transfer_failed(&mut self, id: CallId, why: &str) {
        let Some(transfer) = self.calls.get_mut(&id).and_then(|c| c.transfer.as_mut()) else {
            return;
        };
        if transfer.status == "done" || transfer.status.starts_with("failed") {
            return;
        }
        warn!(call = %id, why, "transfer failed");
        transfer.status = format!("failed: {why}");
        let (resume, deadline) = (transfer.resume_on_failure, transfer.deadline);
        self.transfer_deadlines.remove(&(deadline, id));
        if resume
            && self
                .calls
                .get(&id)
                .is_some_and(|c| c.state == CallState::Held)
        {
            let _ = self.command(self.now, Command::Resume { call: id });
        }
        self.emit_call(id);
    }

    /// Gives up transfers that got no outcome in time; ends replaced calls the target left up.
    pub(crate) fn transfers_due(&mut self, now: Instant) {
        while let Some(&(due, id)) = self.transfer_deadlines.first() {
            if due > now {
                break;
            }
            self.transfer_deadlines.remove(&(due, id));
            self.transfer_failed(id, "no outcome from the peer in time");
        }
        while let Some(&(due, id)) = self.transfer_cleanup.first() {
            if due > now {
                break;
            }
            self.transfer_cleanup.remove(&(due, id));
            if self
                .calls
                .get(&id)
                .is_some_and(|c| c.state != CallState::Ended)
            {
                let _ = self.command(now, Command::Hangup { call: id });
            }
        }
    }

    /// The earliest transfer deadline.
    pub(crate) fn next_transfer_deadline(&self) -> Option<Instant> {
        let a = self.transfer_deadlines.first().map(|(at, _)| *at);
        let b = self.transfer_cleanup.first().map(|(at, _)| *at);
        a.into_iter().chain(b).min()
    }

    /// The peer asks us to call someone (we are the transferee): place that call, carrying
    /// Replaces and Referred-By, and report its progress back in NOTIFYs.
    pub(crate) fn on_refer_received(
        &mut self,
        leg: LegId,
        target: String,
        replaces: Option<String>,
        referred_by: Option<String>,
    ) {
        let Some(original) = self.by_leg.get(&leg).copied() else {
            return;
        };
        let _ = self.ua.notify_transfer(self.now, leg, 100, "Trying", false);
        let mut headers = Vec::new();
        if let Some(replaces) = replaces {
            headers.push(("Replaces".to_owned(), replaces));
        }
        if let Some(by) = referred_by {
            headers.push(("Referred-By".to_owned(), by));
        }
        info!(call = %original, %target, "transferred by the peer: calling the target");
        match self.dial_with(&target, None, headers) {
            Ok(view) => {
                let interaction = self
                    .calls
                    .get_mut(&original)
                    .and_then(|c| c.interaction.take());
                if let Some(call) = self.calls.get_mut(&view.id) {
                    call.referred_from = Some(original);
                    call.interaction = interaction;
                }
                self.emit_call(view.id);
            }
            Err(e) => {
                warn!(call = %original, error = %e, "cannot call the transfer target");
                let _ = self
                    .ua
                    .notify_transfer(self.now, leg, 503, "Service Unavailable", true);
            }
        }
    }

    /// A call we placed because of a REFER changed: tell the referrer (RFC 3515 §2.4.5).
    pub(crate) fn report_to_referrer(&mut self, id: CallId, status: u16, reason: &str) {
        let Some(original) = self.calls.get(&id).and_then(|c| c.referred_from) else {
            return;
        };
        let Some(leg) = self
            .calls
            .get(&original)
            .filter(|c| c.state != CallState::Ended)
            .map(|c| c.leg)
        else {
            return;
        };
        let done = status >= 200;
        let _ = self.ua.notify_transfer(self.now, leg, status, reason, done);
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
