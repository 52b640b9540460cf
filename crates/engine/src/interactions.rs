//! The agent's desk: the interactions (every incoming call opens one, with its attached data),
//! the agent's Ready state per channel, the callback settings and the directory's contacts.
//! A state machine of its own: the phone tells it what the calls did (steps applied to the
//! interaction a call belongs to) and asks it for what the agent's commands mean; changes go
//! out as events on the queue it is handed.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use api::{AgentState, AgentStatus, CallId, Event, Interaction, InteractionId, InteractionState};
use interaction::{AttachedData, BodyPart, CallbackInfo, Channel, InteractionError, Limits};
use time::OffsetDateTime;
use tracing::{debug, info};

use crate::config::CallbackSettings;
use crate::error::EngineError;
use crate::phone::Output;

/// The interactions and what decides how they are handled.
pub(crate) struct Desk {
    interactions: BTreeMap<InteractionId, Interaction>,
    next: u64,
    pub(crate) agent: AgentStatus,
    pub(crate) callbacks: CallbackSettings,
    /// The directory's contacts, matched to incoming interactions by number.
    contacts: Vec<interaction::Contact>,
    /// The instant the phone was made and the wall-clock time then.
    epoch: (Instant, OffsetDateTime),
}

impl Desk {
    pub(crate) fn new(callbacks: CallbackSettings, epoch: (Instant, OffsetDateTime)) -> Self {
        Self {
            interactions: BTreeMap::new(),
            next: 1,
            agent: AgentStatus::default(),
            callbacks,
            contacts: Vec::new(),
            epoch,
        }
    }

    /// The wall-clock time at `now`, from the epoch the phone was given.
    pub(crate) fn wall(&self, now: Instant) -> OffsetDateTime {
        self.epoch.1 + now.saturating_duration_since(self.epoch.0)
    }

    /// The wall-clock time at the epoch's instant.
    pub(crate) fn epoch(&self) -> (Instant, OffsetDateTime) {
        self.epoch
    }

    /// Opens the interaction of an incoming call; says whether the agent is Ready for its
    /// channel (web callbacks have their own).
    pub(crate) fn open(
        &mut self,
        invite: &sip::IncomingInvite,
        call: CallId,
        remote: &str,
        now: Instant,
        out: &mut VecDeque<Output>,
    ) -> (InteractionId, bool) {
        let parts = BodyPart::all(invite.parts.iter().map(|(t, b)| (t.as_str(), &b[..])));
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
        let id = self.next_id();
        let mut interaction = Interaction::notified(id, self.wall(now), callback, attached);
        interaction.contact = contact;
        interaction.call_id = Some(call.to_string());
        interaction.remote = Some(remote.to_owned());
        info!(interaction = %id, %call, kind = ?interaction.callback.kind, "interaction notified");
        self.interactions.insert(id, interaction);
        self.emit(id, out);
        (id, ready)
    }

    /// Applies a step to an interaction (from what its call did) and reports the change. A
    /// step the state machine refuses is not an error for the call: it is logged and skipped.
    pub(crate) fn step(
        &mut self,
        id: InteractionId,
        now: Instant,
        out: &mut VecDeque<Output>,
        step: impl FnOnce(&mut Interaction, OffsetDateTime) -> Result<(), InteractionError>,
    ) {
        let at = self.wall(now);
        let Some(interaction) = self.interactions.get_mut(&id) else {
            return;
        };
        let before = interaction.timeline.len();
        match step(interaction, at) {
            Ok(()) => {
                if interaction.timeline.len() != before {
                    self.emit(id, out);
                }
            }
            Err(e) => debug!(interaction = %id, error = %e, "step skipped"),
        }
    }

    /// Applies the agent's change to an interaction; a refused change is the agent's error.
    pub(crate) fn change(
        &mut self,
        id: InteractionId,
        out: &mut VecDeque<Output>,
        change: impl FnOnce(&mut Interaction) -> Result<(), InteractionError>,
    ) -> Result<(), EngineError> {
        let interaction = self
            .interactions
            .get_mut(&id)
            .ok_or(EngineError::NoSuchInteraction(id))?;
        change(interaction)?;
        self.emit(id, out);
        Ok(())
    }

    fn emit(&self, id: InteractionId, out: &mut VecDeque<Output>) {
        if let Some(interaction) = self.interactions.get(&id) {
            out.push_back(Output::Event(Box::new(Event::Interaction {
                interaction: Box::new(interaction.clone()),
            })));
        }
    }

    fn next_id(&mut self) -> InteractionId {
        let id = InteractionId(self.next);
        self.next += 1;
        id
    }

    pub(crate) fn get(&self, id: InteractionId) -> Option<&Interaction> {
        self.interactions.get(&id)
    }

    pub(crate) fn all(&self) -> impl Iterator<Item = &Interaction> {
        self.interactions.values()
    }

    /// Forgets an interaction (one replaced by another, or pruned once settled).
    pub(crate) fn forget(&mut self, id: InteractionId) {
        self.interactions.remove(&id);
    }

    /// Forgets an interaction once it is settled (it stays in the store when there is one).
    pub(crate) fn forget_if_settled(&mut self, id: InteractionId) {
        let settled = self.interactions.get(&id).is_some_and(|i| {
            matches!(
                i.state,
                InteractionState::Ended
                    | InteractionState::Done
                    | InteractionState::Missed
                    | InteractionState::Rejected
            )
        });
        if settled {
            self.interactions.remove(&id);
        }
    }

    /// Brings back interactions from the store after a start: ids continue after the highest,
    /// and what was live when the process stopped is recovered (missed or ended). Returns the
    /// reschedules not raised before the stop, to arm again.
    pub(crate) fn restore(
        &mut self,
        now: Instant,
        stored: Vec<Interaction>,
        out: &mut VecDeque<Output>,
    ) -> Vec<(OffsetDateTime, InteractionId)> {
        let at = self.wall(now);
        for mut interaction in stored {
            let id = interaction.id;
            self.next = self.next.max(id.0 + 1);
            let changed = interaction.recover(at);
            self.interactions.insert(id, interaction);
            if changed {
                self.emit(id, out);
            }
        }
        let raised: Vec<InteractionId> = self
            .interactions
            .values()
            .filter_map(|i| i.origin)
            .collect();
        self.interactions
            .values()
            .filter(|i| !raised.contains(&i.id))
            .filter_map(|i| {
                i.reschedule
                    .as_ref()
                    .filter(|r| r.personal)
                    .map(|r| (r.at, i.id))
            })
            .collect()
    }

    /// How long from `now` until the wall-clock time `at` (nothing when it is past).
    pub(crate) fn until(&self, at: OffsetDateTime, now: Instant) -> Duration {
        Duration::try_from(at - self.wall(now)).unwrap_or_default()
    }

    /// A rescheduled callback's time has come: raise it as a new notified interaction.
    pub(crate) fn raise(
        &mut self,
        parent: InteractionId,
        now: Instant,
        out: &mut VecDeque<Output>,
    ) {
        let id = InteractionId(self.next);
        let Some(original) = self.interactions.get(&parent) else {
            return;
        };
        let raised = Interaction::rescheduled_from(id, self.wall(now), original);
        self.next += 1;
        info!(interaction = %id, origin = %parent, "rescheduled callback raised");
        self.interactions.insert(id, raised);
        self.emit(id, out);
    }

    /// A team callback claimed from the shared store: raised as a new notified interaction
    /// from `origin` (another agent's, or this one's from before) — its callback fields,
    /// attached data and the number the reschedule named. Returns the new id.
    pub(crate) fn raise_team(
        &mut self,
        origin: &Interaction,
        now: Instant,
        out: &mut VecDeque<Output>,
    ) -> InteractionId {
        let id = InteractionId(self.next);
        self.next += 1;
        let mut raised = Interaction::rescheduled_from(id, self.wall(now), origin);
        // The origin's id is another agent's numbering: not one of ours to point at.
        raised.origin = None;
        info!(interaction = %id, "team callback raised");
        self.interactions.insert(id, raised);
        self.emit(id, out);
        id
    }

    /// Replaces the directory's contacts.
    pub(crate) fn set_contacts(&mut self, contacts: Vec<interaction::Contact>) {
        self.contacts = contacts;
    }

    /// Sets the agent's state per channel (`None` leaves a channel as it is).
    pub(crate) fn set_agent(
        &mut self,
        voice: Option<AgentState>,
        web_callback: Option<AgentState>,
        out: &mut VecDeque<Output>,
    ) -> AgentStatus {
        if let Some(voice) = voice {
            self.agent.voice = voice;
        }
        if let Some(web) = web_callback {
            self.agent.web_callback = web;
        }
        out.push_back(Output::Event(Box::new(Event::Agent { agent: self.agent })));
        self.agent
    }

    /// The SIP URI an interaction's customer is called at: its customer number through the
    /// dial plan, `sip:{number}@{domain}` with spaces, dashes, dots and brackets removed, at
    /// `callbacks.dial_domain` or else `account_domain`.
    pub(crate) fn customer_uri(
        &self,
        id: InteractionId,
        account_domain: Option<&str>,
    ) -> Result<String, EngineError> {
        let number = self
            .interactions
            .get(&id)
            .and_then(|i| i.callback.customer_number.clone())
            .ok_or(EngineError::NoCustomerNumber)?;
        if number.starts_with("sip:") {
            return Ok(number);
        }
        let digits: String = number
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let domain = self
            .callbacks
            .dial_domain
            .as_deref()
            .or(account_domain)
            .ok_or(EngineError::NoDialDomain)?;
        Ok(format!("sip:{digits}@{domain}"))
    }
}
