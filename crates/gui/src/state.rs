//! What the desktop knows: reduced from the core's deliveries, changed by the agent's typing,
//! read by the views. No egui here, so it is tested without a window.

use std::collections::BTreeMap;

use crate::i18n::{Language, t};
use crate::settings::{SaveOutcome, SettingsDraft, TestOutcome};
use api::{
    AgentState, AgentStatus, CallId, CallState, CallView, Contact, Delivery, Disposition, Event,
    Interaction, InteractionId, InteractionState, Reply, RequestKind, StandardResponse, StatusView,
};

/// Someone to transfer to, consult or conference in, from the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// What the agent sees.
    pub name: String,
    /// `agent`, `queue` or `routing point`.
    pub kind: String,
    /// Where it is called.
    pub uri: String,
}

/// What the desktop is set up with (from the config).
#[derive(Debug, Clone)]
pub struct DeskSettings {
    /// Dispositions offered.
    pub dispositions: Vec<Disposition>,
    /// Whether Done needs a disposition first.
    pub disposition_mandatory: bool,
    /// Case fields shown, in order: (attached-data key, label).
    pub case_fields: Vec<(String, String)>,
    /// The contact's own fields shown, in order: (key, label).
    pub contact_fields: Vec<(String, String)>,
    /// Internal targets for the Team Communicator.
    pub targets: Vec<Target>,
    /// How a bare number is dialled: `{number}` is replaced.
    pub dial_plan: String,
    /// The agent's time zone (read at start, before any thread: see `time`'s soundness note).
    pub utc_offset: time::UtcOffset,
    /// The agent's IANA time zone (`Europe/Madrid`), when the system names one: reschedules are
    /// chosen in it and times are shown with the offset it has on their date.
    pub time_zone: Option<String>,
    /// The language the desktop speaks (`[desktop] language`, else the locale's).
    pub language: Language,
    /// The colour theme (`[desktop] theme`).
    pub theme: crate::Theme,
    /// The UI scale in percent (`[desktop] scale`).
    pub scale: u16,
}

impl Default for DeskSettings {
    fn default() -> Self {
        Self {
            dispositions: api::default_dispositions(),
            disposition_mandatory: true,
            case_fields: [
                ("CaseID", "Case"),
                ("AccountNumber", "Account"),
                ("Language", "Language"),
                ("Reason", "Reason"),
            ]
            .into_iter()
            .map(|(k, l)| (k.to_owned(), l.to_owned()))
            .collect(),
            contact_fields: Vec::new(),
            targets: Vec::new(),
            dial_plan: "sip:{number}@127.0.0.1".to_owned(),
            utc_offset: time::UtcOffset::UTC,
            time_zone: None,
            language: Language::English,
            theme: crate::Theme::Dark,
            scale: 100,
        }
    }
}

/// The window's own state (see [`crate::window_commands`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowState {
    /// A tray icon is up: closing the window hides it and recall keeps running.
    pub tray: bool,
    /// The window is hidden (closed to the tray).
    pub hidden: bool,
    /// The ringing interaction the window was raised for.
    pub raised_for: Option<InteractionId>,
    /// Quit was asked: the window closes for good.
    pub quit: bool,
}

/// What the Team Communicator is open for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeamAction {
    /// Blind transfer of the call.
    Transfer,
    /// Consultation from the call.
    Consult,
    /// Instant conference with the call.
    Conference,
}

/// The reschedule dialog's fields, as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RescheduleDraft {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// `HH:MM`.
    pub time: String,
    /// An IANA zone such as `Europe/Madrid` or an offset such as `+01:00` (empty: UTC).
    pub zone: String,
    /// Call a different number.
    pub number: String,
    /// Keep it for this agent.
    pub personal: bool,
}

/// The desktop's whole state.
#[derive(Debug, Default)]
pub struct AppState {
    /// How it is set up.
    pub settings: DeskSettings,
    /// The latest status (registrations, audio, version).
    pub status: Option<StatusView>,
    /// The agent's state per channel.
    pub agent: AgentStatus,
    /// Calls by id.
    pub calls: BTreeMap<CallId, CallView>,
    /// Interactions by id (the newest last).
    pub interactions: BTreeMap<InteractionId, Interaction>,
    /// The directory.
    pub contacts: Vec<Contact>,
    /// Standard responses.
    pub responses: Vec<StandardResponse>,
    /// The interaction shown in the work area.
    pub selected: Option<InteractionId>,
    /// The last refusal, shown until dismissed.
    pub notice: Option<String>,
    /// The dial pad's number.
    pub dial: String,
    /// Note drafts by interaction (saved as typed).
    pub notes: BTreeMap<InteractionId, String>,
    /// The responses search box.
    pub response_query: String,
    /// The Team Communicator: open for which call and action, and its search box.
    pub team: Option<(CallId, TeamAction)>,
    /// The Team Communicator's search text.
    pub team_query: String,
    /// The reschedule dialog, when open, for which interaction.
    pub reschedule: Option<(InteractionId, RescheduleDraft)>,
    /// The DTMF keypad is open.
    pub keypad: bool,
    /// The history list's search box.
    pub history_query: String,
    /// The Settings window, when open (it opens when the core sends the settings).
    pub settings_window: Option<SettingsDraft>,
    /// The theme and scale the window was last given (set again only when they change).
    pub applied_look: Option<(crate::Theme, u16)>,
    /// The window itself: closed to the tray, raised for a callback, quitting.
    pub window: WindowState,
    /// Case histories as the store answered them, by the interaction they were asked for.
    pub cases: BTreeMap<InteractionId, Vec<api::CaseEntry>>,
    /// The interactions whose case history has been asked for (once each).
    pub cases_asked: std::collections::BTreeSet<InteractionId>,
    /// Bumped by every delivery: what the history cache was built from.
    generation: u64,
    /// Each interaction's summary in lower case, made once when it arrives (the history
    /// search reads these, not fresh strings every keystroke).
    search_keys: BTreeMap<InteractionId, (bool, String)>,
    /// The language the search keys were made in (they are made again when it changes).
    keys_language: Language,
    /// The history as last filtered: (generation, query, ids newest first).
    history_cache: Option<(u64, String, Vec<InteractionId>)>,
}

impl AppState {
    /// A state set up with `settings`.
    #[must_use]
    pub fn new(settings: DeskSettings) -> Self {
        Self {
            settings,
            ..Self::default()
        }
    }

    /// Takes in what the core delivered.
    pub fn apply(&mut self, delivery: Delivery) {
        self.generation += 1;
        match delivery {
            Delivery::Event(event) => self.apply_event(event),
            Delivery::Refused {
                request,
                what,
                refusal,
            } => {
                let reason = refusal.message;
                if let Some(draft) = &mut self.settings_window {
                    match &request {
                        RequestKind::SaveSettings | RequestKind::TestTone => {
                            draft.saving = false;
                            draft.outcome = Some(SaveOutcome::Refused(t!(
                                "refused",
                                what = what,
                                reason = reason
                            )));
                            return;
                        }
                        RequestKind::TestRegistration { account } => {
                            if let Some(test) = draft.tests.get_mut(account) {
                                *test = TestOutcome::Done(false, reason);
                                return;
                            }
                        }
                        _ => {}
                    }
                }
                self.notice = Some(t!("refused", what = what, reason = reason));
            }
            Delivery::Reply(Reply::Status(status)) => {
                self.agent = status.agent;
                self.status = Some(status);
            }
            Delivery::Reply(Reply::Settings {
                settings,
                inputs,
                outputs,
                devices_note,
                headsets,
                file,
            }) => {
                let mut draft = SettingsDraft::new(settings, inputs, outputs, devices_note, file);
                draft.headsets = headsets;
                self.settings_window = Some(draft);
            }
            Delivery::Reply(Reply::SettingsSaved { on_restart }) => {
                if let Some(draft) = &mut self.settings_window {
                    draft.saving = false;
                    self.settings.disposition_mandatory = draft.disposition_mandatory;
                    let place = draft.file.as_deref().map_or_else(
                        || t!("settings-saved-until-stop"),
                        |f| t!("settings-saved-to", file = f),
                    );
                    draft.outcome = Some(SaveOutcome::Saved(if on_restart.is_empty() {
                        t!("settings-saved", place = place)
                    } else {
                        t!(
                            "settings-saved-restart",
                            place = place,
                            things = on_restart
                                .iter()
                                .map(|what| crate::i18n::ours(
                                    &format!("restart-{}", what.replace(' ', "-")),
                                    what
                                ))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }));
                }
            }
            Delivery::Reply(Reply::Directory {
                contacts,
                responses,
            }) => {
                self.contacts = contacts;
                self.responses = responses;
            }
            Delivery::Reply(Reply::Case { id, entries }) => {
                self.cases.insert(id, entries);
            }
            // The desk sends only the replies above; what came of the rest the events show.
            Delivery::Reply(_) => {}
        }
    }

    fn apply_event(&mut self, event: Event) {
        match event {
            Event::Snapshot {
                status,
                calls,
                interactions,
            } => {
                self.agent = status.agent;
                self.status = Some(status);
                self.calls = calls.into_iter().map(|c| (c.id, c)).collect();
                self.interactions = interactions.into_iter().map(|i| (i.id, i)).collect();
                self.search_keys = self
                    .interactions
                    .values()
                    .map(|i| (i.id, search_key(i)))
                    .collect();
                if self
                    .selected
                    .is_some_and(|id| !self.interactions.contains_key(&id))
                {
                    self.selected = None;
                }
            }
            Event::Interaction { interaction } => {
                let id = interaction.id;
                // A note saved elsewhere (the API, another desk) replaces the draft unless the
                // agent has typed past what was saved.
                let saved = self.interactions.get(&id).and_then(|i| i.note.clone());
                if let Some(draft) = self.notes.get_mut(&id)
                    && *draft == saved.unwrap_or_default()
                {
                    *draft = interaction.note.clone().unwrap_or_default();
                }
                let picked = matches!(
                    interaction.state,
                    InteractionState::Previewing | InteractionState::Connected
                );
                self.search_keys.insert(id, search_key(&interaction));
                self.interactions.insert(id, *interaction);
                // Work moves to what the agent just took up.
                if picked
                    && self.selected != Some(id)
                    && self.work_in_hand().is_none_or(|w| w == id)
                {
                    self.selected = Some(id);
                }
            }
            Event::Agent { agent } => {
                self.agent = agent;
                if let Some(status) = &mut self.status {
                    status.agent = agent;
                }
            }
            Event::Call { call } => {
                self.calls.insert(call.id, call);
            }
            Event::Dtmf { .. } => {}
            Event::RegistrationTest {
                account,
                registered,
                detail,
            } => {
                if let Some(draft) = &mut self.settings_window {
                    draft
                        .tests
                        .insert(account, TestOutcome::Done(registered, detail));
                }
            }
            Event::Presence { target } => {
                if let Some(status) = &mut self.status {
                    match status.presence.iter_mut().find(|p| p.uri == target.uri) {
                        Some(p) => *p = target,
                        None => status.presence.push(target),
                    }
                }
            }
            Event::Registration { registration } => {
                if let Some(status) = &mut self.status {
                    match status
                        .registrations
                        .iter_mut()
                        .find(|r| r.account == registration.account)
                    {
                        Some(r) => *r = registration,
                        None => status.registrations.push(registration),
                    }
                }
            }
        }
    }

    /// Another interaction the agent is working (connected, held or previewing), if any.
    fn work_in_hand(&self) -> Option<InteractionId> {
        self.selected.filter(|id| {
            self.interactions.get(id).is_some_and(|i| {
                matches!(
                    i.state,
                    InteractionState::Previewing
                        | InteractionState::Connected
                        | InteractionState::Held
                        | InteractionState::Dialing
                )
            })
        })
    }

    /// Interactions waiting for Accept or Reject: the toasts, oldest first.
    #[must_use]
    pub fn ringing(&self) -> Vec<&Interaction> {
        self.interactions
            .values()
            .filter(|i| i.state == InteractionState::Notified)
            .collect()
    }

    /// Interactions being worked (not notified, not closed), oldest first.
    #[must_use]
    pub fn current(&self) -> Vec<&Interaction> {
        self.interactions
            .values()
            .filter(|i| {
                !matches!(
                    i.state,
                    InteractionState::Notified
                        | InteractionState::Done
                        | InteractionState::Rejected
                        | InteractionState::Missed
                )
            })
            .collect()
    }

    /// The ids of closed interactions matching the history search, newest first. Filtered
    /// again only when a delivery or the search text changed, not every frame, and then over
    /// the search keys alone.
    pub fn history_ids(&mut self) -> &[InteractionId] {
        // The state words in the keys follow a live language switch.
        let language = crate::i18n::language();
        if language != self.keys_language {
            self.keys_language = language;
            self.search_keys = self
                .interactions
                .iter()
                .map(|(id, interaction)| (*id, search_key(interaction)))
                .collect();
            self.generation += 1;
        }
        let fresh = self
            .history_cache
            .as_ref()
            .is_some_and(|(generation, query, _)| {
                *generation == self.generation && *query == self.history_query
            });
        if !fresh {
            let query = self.history_query.to_lowercase();
            let ids = self
                .search_keys
                .iter()
                .rev()
                .filter(|(_, (closed, key))| *closed && (query.is_empty() || key.contains(&query)))
                .map(|(id, _)| *id)
                .collect();
            self.history_cache = Some((self.generation, self.history_query.clone(), ids));
        }
        self.history_cache
            .as_ref()
            .map_or(&[][..], |(_, _, ids)| ids)
    }

    /// Closed interactions matching the history search, newest first.
    pub fn history(&mut self) -> Vec<&Interaction> {
        let ids = self.history_ids().to_vec();
        ids.iter()
            .filter_map(|id| self.interactions.get(id))
            .collect()
    }

    /// The call an interaction follows now.
    #[must_use]
    pub fn call_of(&self, interaction: &Interaction) -> Option<&CallView> {
        let id: CallId = interaction.call_id.as_deref()?.parse().ok()?;
        self.calls.get(&id)
    }

    /// Calls not ended, oldest first.
    #[must_use]
    pub fn live_calls(&self) -> Vec<&CallView> {
        self.calls
            .values()
            .filter(|c| c.state != CallState::Ended)
            .collect()
    }

    /// Whether Done may be pressed for this interaction now, or why not (a message id).
    ///
    /// # Errors
    /// The message id of what must happen first.
    pub fn can_finish(&self, interaction: &Interaction) -> Result<(), &'static str> {
        if self.settings.disposition_mandatory && interaction.disposition.is_none() {
            return Err("done-needs-disposition");
        }
        if matches!(
            interaction.state,
            InteractionState::Connected | InteractionState::Held | InteractionState::Dialing
        ) {
            return Err("done-needs-hang-up");
        }
        Ok(())
    }

    /// Team Communicator matches for the search text: internal targets, contacts and recent
    /// remote parties, as (label, uri).
    #[must_use]
    pub fn team_matches(&self) -> Vec<(String, String)> {
        let query = self.team_query.trim().to_lowercase();
        let hit = |text: &str| query.is_empty() || text.to_lowercase().contains(&query);
        let mut found: Vec<(String, String)> = Vec::new();
        for target in &self.settings.targets {
            if hit(&target.name) || hit(&target.uri) || hit(&target.kind) {
                // A watched colleague's state (BLF or presence) beside the name.
                let state = self
                    .status
                    .as_ref()
                    .and_then(|s| s.presence.iter().find(|p| p.uri == target.uri))
                    .map(|p| p.state.as_str().replace(' ', "-"));
                let kind = crate::i18n::ours(
                    &format!("target-kind-{}", target.kind.replace(' ', "-")),
                    &target.kind,
                );
                let label = match state {
                    Some(state) => t!(
                        "team-target-state",
                        name = &target.name,
                        kind = kind,
                        state = state
                    ),
                    None => t!("team-target", name = &target.name, kind = kind),
                };
                found.push((label, target.uri.clone()));
            }
        }
        for contact in &self.contacts {
            for number in &contact.numbers {
                if hit(&contact.name) || hit(number) {
                    found.push((format!("{} {number}", contact.name), self.dial_uri(number)));
                }
            }
        }
        let mut recent: Vec<&str> = Vec::new();
        for call in self.calls.values().rev() {
            if !recent.contains(&call.remote.as_str()) && hit(&call.remote) {
                recent.push(&call.remote);
            }
        }
        for remote in recent.into_iter().take(10) {
            found.push((t!("team-recent", remote = remote), remote.to_owned()));
        }
        // A typed URI or number is always offered.
        let typed = self.team_query.trim();
        if !typed.is_empty() && found.iter().all(|(_, uri)| uri != typed) {
            found.push((t!("team-call-typed", typed = typed), self.dial_uri(typed)));
        }
        found
    }

    /// A number or URI as a SIP URI, through the dial plan.
    #[must_use]
    pub fn dial_uri(&self, typed: &str) -> String {
        let typed = typed.trim();
        if typed.starts_with("sip:") || typed.starts_with("sips:") {
            return typed.to_owned();
        }
        let number: String = typed
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '*' | '#'))
            .collect();
        self.settings.dial_plan.replace("{number}", &number)
    }

    /// Standard responses matching the search box.
    #[must_use]
    pub fn found_responses(&self) -> Vec<&StandardResponse> {
        let words: Vec<String> = self
            .response_query
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        self.responses
            .iter()
            .filter(|r| {
                let text = format!("{} {}", r.title, r.body).to_lowercase();
                words.iter().all(|w| text.contains(w))
            })
            .collect()
    }

    /// Whether the agent takes new voice interactions.
    #[must_use]
    pub fn ready(&self) -> bool {
        self.agent.voice == AgentState::Ready
    }
}

/// What the history search looks in (lower case), and whether the interaction is closed
/// (only closed ones are history).
fn search_key(interaction: &Interaction) -> (bool, String) {
    let closed = matches!(
        interaction.state,
        InteractionState::Done | InteractionState::Rejected | InteractionState::Missed
    );
    (closed, summary(interaction).to_lowercase())
}

/// One line about an interaction: type, customer, state.
#[must_use]
pub fn summary(interaction: &Interaction) -> String {
    let who = interaction
        .contact
        .as_ref()
        .map(|c| c.name.clone())
        .or_else(|| interaction.callback.customer_number.clone())
        .or_else(|| interaction.remote.clone())
        .unwrap_or_default();
    t!(
        "interaction-summary",
        id = interaction.id.to_string(),
        kind = interaction.callback.kind.map_or("call", kind_key),
        who = who,
        state = state_key(interaction.state)
    )
}

/// A callback type's key in the catalogs' selectors (and the API).
#[must_use]
pub fn kind_key(kind: api::CallbackType) -> &'static str {
    match kind {
        api::CallbackType::Immediate => "immediate",
        api::CallbackType::Delayed => "delayed",
        api::CallbackType::Scheduled => "scheduled",
        api::CallbackType::Preview => "preview",
        api::CallbackType::Web => "web",
    }
}

/// An interaction state's key in the catalogs' selectors.
#[must_use]
pub fn state_key(state: InteractionState) -> &'static str {
    match state {
        InteractionState::Notified => "notified",
        InteractionState::Previewing => "previewing",
        InteractionState::Dialing => "dialing",
        InteractionState::Connected => "connected",
        InteractionState::Held => "held",
        InteractionState::Ended => "ended",
        InteractionState::Rejected => "rejected",
        InteractionState::Missed => "missed",
        InteractionState::Done => "done",
    }
}

/// A call state's key in the catalogs' selectors.
#[must_use]
pub fn call_state_key(state: CallState) -> &'static str {
    match state {
        CallState::Ringing => "ringing",
        CallState::Dialing => "dialing",
        CallState::Connected => "connected",
        CallState::Held => "held",
        CallState::Ended => "ended",
    }
}
