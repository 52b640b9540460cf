//! Interactions inside the phone: every incoming call opens one (with its attached data), the
//! call's life drives it, and the agent's commands act on it.

use std::time::Instant;

use api::{
    AgentState, AgentStatus, CallId, CallState, Command, Event, Interaction, InteractionCommand,
    InteractionId, InteractionState,
};
use interaction::{AttachedData, BodyPart, CallbackInfo, Channel, InteractionError, Limits};
use time::OffsetDateTime;
use tracing::{debug, info};

use crate::error::EngineError;
use crate::phone::Phone;
use crate::timers::TimerId;

impl Phone {
    /// The wall-clock time now, from the epoch the phone was given.
    pub(crate) fn wall(&self) -> OffsetDateTime {
        let elapsed = self.now.saturating_duration_since(self.epoch.0);
        self.epoch.1 + elapsed
    }

    /// Opens the interaction of an incoming call; says whether the agent is Ready for its
    /// channel (web callbacks have their own).
    pub(crate) fn open_interaction(
        &mut self,
        invite: &sip::IncomingInvite,
        call: CallId,
        remote: &str,
    ) -> (InteractionId, bool) {
        let parts: Vec<BodyPart> = invite
            .parts
            .iter()
            .map(|(content_type, body)| BodyPart {
                content_type: content_type.clone(),
                body: body.to_vec(),
            })
            .collect();
        let map = &self.callbacks.key_map;
        let attached = AttachedData::extract(
            invite.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            &parts,
            map,
            Limits::default(),
        );
        let callback = CallbackInfo::from_attached(&attached, map);
        let ready = match Channel::of(callback.kind) {
            Channel::WebCallback => self.agent.web_callback == AgentState::Ready,
            Channel::Voice => self.agent.voice == AgentState::Ready,
        };
        // The contact: by the customer number, else by the caller's user part.
        let caller = invite.caller_user.as_deref();
        let contact = callback
            .customer_number
            .as_deref()
            .and_then(|n| interaction::find_contact(&self.contacts, n))
            .or_else(|| caller.and_then(|n| interaction::find_contact(&self.contacts, n)))
            .cloned();
        let id = InteractionId(self.next_interaction);
        self.next_interaction += 1;
        let mut interaction = Interaction::notified(id, self.wall(), callback, attached);
        interaction.contact = contact;
        interaction.call_id = Some(call.to_string());
        interaction.remote = Some(remote.to_owned());
        info!(interaction = %id, %call, kind = ?interaction.callback.kind, "interaction notified");
        self.interactions.insert(id, interaction);
        self.emit_interaction(id);
        (id, ready)
    }

    /// Applies a step to the interaction of a call, if it has one, and reports the change.
    /// A step the state machine refuses is not an error for the call: it is logged and skipped.
    pub(crate) fn interaction_step(
        &mut self,
        call: CallId,
        step: impl FnOnce(&mut Interaction, OffsetDateTime) -> Result<(), InteractionError>,
    ) {
        let Some(id) = self.calls.get(&call).and_then(|c| c.interaction) else {
            return;
        };
        let at = self.wall();
        let Some(interaction) = self.interactions.get_mut(&id) else {
            return;
        };
        let before = interaction.timeline.len();
        match step(interaction, at) {
            Ok(()) => {
                if interaction.timeline.len() != before {
                    self.emit_interaction(id);
                }
            }
            Err(e) => debug!(interaction = %id, %call, error = %e, "step skipped"),
        }
    }

    fn emit_interaction(&mut self, id: InteractionId) {
        if let Some(interaction) = self.interactions.get(&id) {
            self.out
                .push_back(crate::phone::Output::Event(Box::new(Event::Interaction {
                    interaction: Box::new(interaction.clone()),
                })));
        }
    }

    /// An interaction, if the phone remembers it.
    #[must_use]
    pub fn interaction(&self, id: InteractionId) -> Option<Interaction> {
        self.interactions.get(&id).cloned()
    }

    /// Every interaction the phone remembers, oldest first.
    #[must_use]
    pub fn interactions(&self) -> Vec<Interaction> {
        self.interactions.values().cloned().collect()
    }

    /// Brings back interactions from the store after a start: ids continue after the highest,
    /// and what was live when the process stopped is recovered (missed or ended).
    pub fn restore_interactions(&mut self, now: Instant, stored: Vec<Interaction>) {
        self.now = now;
        let at = self.wall();
        for mut interaction in stored {
            let id = interaction.id;
            self.next_interaction = self.next_interaction.max(id.0 + 1);
            let changed = interaction.recover(at);
            self.interactions.insert(id, interaction);
            if changed {
                self.emit_interaction(id);
            }
        }
        // Re-arm reschedules that were not raised before the stop.
        let raised: Vec<InteractionId> = self
            .interactions
            .values()
            .filter_map(|i| i.origin)
            .collect();
        let pending: Vec<(OffsetDateTime, InteractionId)> = self
            .interactions
            .values()
            .filter(|i| !raised.contains(&i.id))
            .filter_map(|i| i.reschedule.as_ref().map(|r| (r.at, i.id)))
            .collect();
        for (at, id) in pending {
            self.schedule(at, id);
        }
    }

    /// Arms the local scheduler to raise `id`'s callback again at the wall-clock time `at`.
    pub(crate) fn schedule(&mut self, at: OffsetDateTime, id: InteractionId) {
        let wait = std::time::Duration::try_from(at - self.wall()).unwrap_or_default();
        self.timers.set(TimerId::Raise(id), self.now + wait);
    }

    /// A rescheduled callback's time has come: raise it as a new notified interaction.
    pub(crate) fn raise_scheduled(&mut self, parent: InteractionId) {
        let Some(original) = self.interactions.get(&parent) else {
            return;
        };
        let id = InteractionId(self.next_interaction);
        self.next_interaction += 1;
        let raised = Interaction::rescheduled_from(id, self.wall(), original);
        info!(interaction = %id, origin = %parent, "rescheduled callback raised");
        self.interactions.insert(id, raised);
        self.emit_interaction(id);
    }

    /// Replaces the directory's contacts (after a change through the API or at start).
    pub fn set_contacts(&mut self, contacts: Vec<interaction::Contact>) {
        self.contacts = contacts;
    }

    /// Changes how callbacks are handled from now on.
    pub fn set_callback_settings(&mut self, callbacks: crate::config::CallbackSettings) {
        self.callbacks = callbacks;
    }

    /// Sets the agent's state per channel (`None` leaves a channel as it is).
    pub fn set_agent_state(
        &mut self,
        now: Instant,
        voice: Option<AgentState>,
        web_callback: Option<AgentState>,
    ) -> AgentStatus {
        self.now = now;
        if let Some(voice) = voice {
            self.agent.voice = voice;
        }
        if let Some(web) = web_callback {
            self.agent.web_callback = web;
        }
        self.out
            .push_back(crate::phone::Output::Event(Box::new(Event::Agent {
                agent: self.agent,
            })));
        self.agent
    }

    /// Carries out the agent's action on an interaction.
    pub fn interaction_command(
        &mut self,
        now: Instant,
        id: InteractionId,
        command: InteractionCommand,
    ) -> Result<Interaction, EngineError> {
        self.now = now;
        let state = self
            .interactions
            .get(&id)
            .map(|i| i.state)
            .ok_or(EngineError::NoSuchInteraction(id))?;
        let live_call = self
            .calls
            .values()
            .filter(|c| c.interaction == Some(id) && c.state != CallState::Ended)
            .map(|c| (c.id, c.state))
            .next_back();
        let at = self.wall();
        match command {
            InteractionCommand::Accept => match live_call {
                Some((call, CallState::Ringing)) => {
                    self.command(now, Command::Answer { call })?;
                }
                _ => self.with_interaction(id, |i| i.accept(at))?,
            },
            InteractionCommand::Reject { status } => {
                let status = status.unwrap_or(self.callbacks.reject_status);
                match live_call {
                    Some((call, CallState::Ringing)) => {
                        self.command(
                            now,
                            Command::Reject {
                                call,
                                status: Some(status),
                            },
                        )?;
                    }
                    _ => self.with_interaction(id, |i| i.reject(at, status))?,
                }
            }
            InteractionCommand::Call => self.call_customer(id, state, live_call)?,
            InteractionCommand::Done => {
                let mandatory = self.callbacks.disposition_mandatory;
                self.with_interaction(id, |i| i.done(at, mandatory))?;
            }
            InteractionCommand::Disposition { code } => {
                let allowed = self.callbacks.dispositions.clone();
                self.with_interaction(id, |i| i.set_disposition(at, &code, &allowed))?;
            }
            InteractionCommand::Note { text } => {
                self.with_interaction(id, |i| i.set_note(at, &text))?;
            }
            InteractionCommand::Reschedule { request } => {
                let when = request.at;
                self.with_interaction(id, |i| i.reschedule(at, request))?;
                self.schedule(when, id);
            }
        }
        self.interaction(id)
            .ok_or(EngineError::NoSuchInteraction(id))
    }

    fn with_interaction(
        &mut self,
        id: InteractionId,
        step: impl FnOnce(&mut Interaction) -> Result<(), InteractionError>,
    ) -> Result<(), EngineError> {
        let interaction = self
            .interactions
            .get_mut(&id)
            .ok_or(EngineError::NoSuchInteraction(id))?;
        step(interaction)?;
        self.emit_interaction(id);
        Ok(())
    }

    /// Call: the customer number, dialled through the dial plan, as a new outbound call that
    /// the interaction follows. A preview leg still up is released first.
    fn call_customer(
        &mut self,
        id: InteractionId,
        state: InteractionState,
        live_call: Option<(CallId, CallState)>,
    ) -> Result<(), EngineError> {
        if !matches!(
            state,
            InteractionState::Previewing | InteractionState::Ended
        ) {
            return Err(InteractionError::InvalidTransition {
                state,
                action: "call",
            }
            .into());
        }
        let number = self
            .interactions
            .get(&id)
            .and_then(|i| i.callback.customer_number.clone())
            .ok_or_else(|| {
                EngineError::Invalid("the interaction has no customer number to call".to_owned())
            })?;
        let target = self.dial_plan(&number)?;
        if let Some((previous, _)) = live_call {
            if let Some(call) = self.calls.get_mut(&previous) {
                call.interaction = None;
            }
            let _ = self.command(self.now, Command::Hangup { call: previous });
        }
        let view = self.command(
            self.now,
            Command::Dial {
                to: target,
                account: None,
            },
        )?;
        if let Some(call) = self.calls.get_mut(&view.id) {
            call.interaction = Some(id);
        }
        let at = self.wall();
        self.with_interaction(id, |i| {
            i.call_id = Some(view.id.to_string());
            i.remote = Some(view.remote.clone());
            i.direction = interaction::Direction::Outbound;
            i.dial(at, &view.remote)
        })
    }

    /// `sip:{number}@{domain}` with the number's spaces, dashes, dots and brackets removed.
    fn dial_plan(&self, number: &str) -> Result<String, EngineError> {
        if number.starts_with("sip:") {
            return Ok(number.to_owned());
        }
        let digits: String = number
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let domain = self
            .callbacks
            .dial_domain
            .clone()
            .or_else(|| self.registrations.first_domain().map(str::to_owned))
            .ok_or_else(|| {
                EngineError::Invalid(
                    "no domain to dial the customer number at: set callbacks.dial_domain or an account"
                        .to_owned(),
                )
            })?;
        Ok(format!("sip:{digits}@{domain}"))
    }
}
