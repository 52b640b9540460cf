//! The interaction state machine (PRODUCT.md §2): notified → accepted (previewing, or
//! connected) → … → ended → done; or rejected, or missed. Every step is timestamped on the
//! timeline by the caller's clock.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;
use time::OffsetDateTime;

use crate::attached::AttachedData;
use crate::callback::{CallbackInfo, CallbackType};

/// Identifies an interaction: `i-1`, `i-2`, …
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InteractionId(pub u64);

impl fmt::Display for InteractionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "i-{}", self.0)
    }
}

/// Text that is not an id of the kind wanted (`c-N`, `i-N`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not {what} (expected {form})")]
pub struct IdError {
    /// The text given.
    pub text: String,
    /// What was wanted, `an interaction id`.
    pub what: &'static str,
    /// Its form, `i-N`.
    pub form: &'static str,
}

impl FromStr for InteractionId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.strip_prefix("i-")
            .and_then(|n| n.parse().ok())
            .map(Self)
            .ok_or_else(|| IdError {
                text: s.to_owned(),
                what: "an interaction id",
                form: "i-N",
            })
    }
}

impl Serialize for InteractionId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for InteractionId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Where an interaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InteractionState {
    /// Ringing in; the agent has not decided.
    Notified,
    /// Accepted; the agent is reading the case before calling.
    Previewing,
    /// The agent's call to the customer is being placed.
    Dialing,
    /// Talking.
    Connected,
    /// The call is on hold.
    Held,
    /// The call is over; wrap-up (disposition, note) remains.
    Ended,
    /// The agent refused it.
    Rejected,
    /// Nobody took it (cancelled by the server, timed out, agent not ready).
    Missed,
    /// Closed by the agent.
    Done,
}

impl InteractionState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Notified => "notified",
            Self::Previewing => "previewing",
            Self::Dialing => "dialing",
            Self::Connected => "connected",
            Self::Held => "held",
            Self::Ended => "ended",
            Self::Rejected => "rejected",
            Self::Missed => "missed",
            Self::Done => "done",
        }
    }
}

impl fmt::Display for InteractionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The media channel an interaction arrived on; the agent is Ready or Not Ready per channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Voice calls and voice callbacks.
    #[default]
    Voice,
    /// Web callbacks (type `web`).
    WebCallback,
}

impl Channel {
    /// The channel of a callback of this type (`None`: an ordinary call).
    #[must_use]
    pub fn of(kind: Option<CallbackType>) -> Self {
        match kind {
            Some(CallbackType::Web) => Self::WebCallback,
            _ => Self::Voice,
        }
    }
}

/// Who placed the interaction's current call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// It rang in.
    #[default]
    Inbound,
    /// The agent called out (a preview's Call, or a callback raised by the local scheduler).
    Outbound,
}

/// A new date, time and number for a callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reschedule {
    /// When to call.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The IANA time zone the agent chose the time in, for display.
    pub time_zone: Option<String>,
    /// A new number to call, if it changed.
    pub number: Option<String>,
    /// Back to this agent (true) or back to the queue (false).
    pub personal: bool,
}

impl Reschedule {
    /// A callback for a wall-clock date (`YYYY-MM-DD`) and time (`HH:MM`) in a zone (an IANA name
    /// such as `Europe/Madrid`, or an offset): the instant is the one the zone means on that date,
    /// daylight saving included, and the zone is kept by its canonical name for display.
    ///
    /// # Errors
    /// The zone, date or time does not read, or the zone skips that time.
    pub fn local(
        date: &str,
        time: &str,
        zone: &str,
        number: Option<String>,
        personal: bool,
    ) -> Result<Self, crate::ZoneError> {
        let zone = crate::Zone::parse(zone)?;
        Ok(Self {
            at: zone.instant_of(date, time)?,
            time_zone: Some(zone.name().to_owned()),
            number,
            personal,
        })
    }

    /// The time as the agent chose it: `2027-03-29 10:00 Europe/Madrid` (in UTC when the zone
    /// is missing or unknown).
    #[must_use]
    pub fn wall_text(&self) -> String {
        let zone = self
            .time_zone
            .as_deref()
            .and_then(|name| crate::Zone::parse(name).ok())
            .unwrap_or_else(crate::Zone::utc);
        let local = zone.local(self.at);
        format!(
            "{}-{:02}-{:02} {:02}:{:02} {}",
            local.year(),
            u8::from(local.month()),
            local.day(),
            local.hour(),
            local.minute(),
            zone.name()
        )
    }
}

/// What happened, on the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimelineKind {
    /// It rang in.
    Notified,
    /// The agent accepted.
    Accepted,
    /// The agent refused, with this SIP status.
    Rejected {
        /// The status sent.
        status: u16,
    },
    /// Nobody took it.
    Missed {
        /// Why.
        reason: String,
    },
    /// The agent's call to the customer is being placed.
    Dialing {
        /// The SIP URI dialled.
        target: String,
    },
    /// The call connected.
    Connected,
    /// Put on hold.
    Held,
    /// Taken off hold.
    Resumed,
    /// Digits sent from the keypad.
    Dtmf {
        /// The digits.
        digits: String,
    },
    /// Transferred to someone, with how it went.
    Transferred {
        /// To whom.
        target: String,
        /// Whether the target took the call (absent in histories written before outcomes).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outcome: Option<TransferOutcome>,
        /// Why it failed, or how it was confirmed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        /// The outcome came after the agent's call was released.
        #[serde(default, skip_serializing_if = "is_false")]
        late: bool,
    },
    /// Made a conference.
    Conferenced,
    /// The call's recording started, paused, resumed or stopped.
    Recording {
        /// `start`, `pause`, `resume` or `stop`.
        action: String,
        /// The file, on `start`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<String>,
    },
    /// A new time (and perhaps number) was set.
    Rescheduled {
        /// The new request (its own object: flattened, its `at` would clash with the entry's).
        request: Reschedule,
    },
    /// A disposition was chosen.
    Disposition {
        /// Its code.
        code: String,
    },
    /// The note was written or changed.
    Note,
    /// The call ended.
    Ended,
    /// Closed.
    Done,
}

/// How a transfer of the call's peer went, as far as the agent's side can know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferOutcome {
    /// The target took the call: a 2xx sipfrag, or the PBX ended our call after accepting.
    Confirmed,
    /// The peer accepted the transfer and reported no failure in time (a queue or an IVR
    /// answers on the transferred party's own channel, so no final word ever comes).
    Unconfirmed,
    /// The transfer did not happen.
    Failed,
}

impl TransferOutcome {
    /// The outcome in the words the API and the history use.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Unconfirmed => "unconfirmed",
            Self::Failed => "failed",
        }
    }
}

// serde's skip_serializing_if takes a reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_false(value: &bool) -> bool {
    !*value
}

/// One timeline entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// What.
    #[serde(flatten)]
    pub kind: TimelineKind,
}

/// A disposition code the agent can pick, with its label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disposition {
    /// The code stored and reported.
    pub code: String,
    /// What the agent reads.
    pub label: String,
}

/// The default disposition set (PRODUCT.md §2).
#[must_use]
pub fn default_dispositions() -> Vec<Disposition> {
    [
        ("resolved", "Resolved"),
        ("no_answer", "No answer"),
        ("busy", "Busy"),
        ("wrong_number", "Wrong number"),
        ("callback_rescheduled", "Callback rescheduled"),
        ("escalated", "Escalated"),
    ]
    .into_iter()
    .map(|(code, label)| Disposition {
        code: code.to_owned(),
        label: label.to_owned(),
    })
    .collect()
}

/// Why an action on an interaction was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InteractionError {
    /// The action does not fit the state (accepting twice, calling while connected…).
    #[error("interaction is {state}; cannot {action}")]
    InvalidTransition {
        /// The state it is in.
        state: InteractionState,
        /// What was asked.
        action: &'static str,
    },
    /// Done needs a disposition when dispositions are mandatory.
    #[error("choose a disposition before marking the interaction done")]
    DispositionRequired,
    /// The code is not in the configured set.
    #[error("unknown disposition {0:?}")]
    UnknownDisposition(String),
    /// A reschedule into the past.
    #[error("the new callback time {0} is in the past")]
    InThePast(String),
    /// Nothing to record.
    #[error("no DTMF digits")]
    NoDigits,
}

/// One interaction: a callback (or ordinary call) from notification to Done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interaction {
    /// Its id.
    pub id: InteractionId,
    /// The call it follows now (`c-3`), if any.
    #[serde(default)]
    pub call_id: Option<String>,
    /// Where it stands.
    pub state: InteractionState,
    /// Voice or web callback.
    #[serde(default)]
    pub channel: Channel,
    /// Whether its call rang in or went out.
    #[serde(default)]
    pub direction: Direction,
    /// The peer of its call: the server that rang it in, or the customer called.
    #[serde(default)]
    pub remote: Option<String>,
    /// The typed callback fields.
    pub callback: CallbackInfo,
    /// Everything attached, as received.
    #[serde(rename = "attached_data")]
    pub attached: AttachedData,
    /// What was wrong with the attached data (kept raw and flagged, never fatal).
    pub attached_data_flags: Vec<crate::attached::DataFlag>,
    /// The chosen disposition code.
    pub disposition: Option<String>,
    /// The agent's note.
    pub note: Option<String>,
    /// The last reschedule request.
    pub reschedule: Option<Reschedule>,
    /// What happened, in order.
    pub timeline: Vec<TimelineEntry>,
    /// The interaction this one was rescheduled from, when a local scheduler raised it.
    #[serde(default)]
    pub origin: Option<InteractionId>,
    /// The directory contact matched by number when it rang in.
    #[serde(default)]
    pub contact: Option<crate::directory::Contact>,
}

type Outcome = Result<(), InteractionError>;

impl Interaction {
    /// What a history search looks through (PRODUCT.md §4, `q=`), one value a line: the
    /// remote party, the callback fields, every attached-data key and value, the contact,
    /// the disposition, the note, and what the timeline names (digits, targets, numbers,
    /// reasons). The store indexes exactly this text, so a search means the same in memory
    /// and in the database.
    #[must_use]
    pub fn search_text(&self) -> String {
        let mut lines: Vec<&str> = Vec::new();
        lines.extend(self.remote.as_deref());
        let c = &self.callback;
        for field in [
            &c.server_id,
            &c.customer_number,
            &c.state,
            &c.reason,
            &c.service_name,
            &c.callback_id,
            &c.instructions,
        ] {
            lines.extend(field.as_deref());
        }
        let desired = match &c.desired_time {
            Some(crate::callback::DesiredTime::Unreadable(text)) => Some(text.as_str()),
            _ => None,
        };
        lines.extend(desired);
        for (key, values) in self.attached.iter() {
            lines.push(key);
            lines.extend(values.iter().map(String::as_str));
        }
        if let Some(contact) = &self.contact {
            lines.push(&contact.name);
            lines.extend(contact.numbers.iter().map(String::as_str));
            lines.extend(contact.email.as_deref());
            lines.extend(contact.notes.as_deref());
        }
        lines.extend(self.disposition.as_deref());
        lines.extend(self.note.as_deref());
        if let Some(r) = &self.reschedule {
            lines.extend(r.number.as_deref());
        }
        for entry in &self.timeline {
            match &entry.kind {
                TimelineKind::Missed { reason } => lines.push(reason),
                TimelineKind::Dialing { target } => lines.push(target),
                TimelineKind::Dtmf { digits } => lines.push(digits),
                TimelineKind::Transferred { target, detail, .. } => {
                    lines.push(target);
                    lines.extend(detail.as_deref());
                }
                TimelineKind::Rescheduled { request } => lines.extend(request.number.as_deref()),
                TimelineKind::Disposition { code } => lines.push(code),
                _ => {}
            }
        }
        lines.join("\n")
    }

    /// A new interaction ringing in at `at`.
    #[must_use]
    pub fn notified(
        id: InteractionId,
        at: OffsetDateTime,
        callback: CallbackInfo,
        attached: AttachedData,
    ) -> Self {
        Self {
            id,
            call_id: None,
            state: InteractionState::Notified,
            channel: Channel::of(callback.kind),
            direction: Direction::Inbound,
            remote: None,
            callback,
            attached_data_flags: attached.flags.clone(),
            attached,
            disposition: None,
            note: None,
            reschedule: None,
            timeline: vec![TimelineEntry {
                at,
                kind: TimelineKind::Notified,
            }],
            origin: None,
            contact: None,
        }
    }

    /// A callback raised again by the local scheduler at the time `parent` was rescheduled to:
    /// type `scheduled`, the new number if one was given, previewed before calling.
    #[must_use]
    pub fn rescheduled_from(id: InteractionId, at: OffsetDateTime, parent: &Self) -> Self {
        let mut callback = parent.callback.clone();
        callback.kind = Some(CallbackType::Scheduled);
        if let Some(request) = &parent.reschedule {
            callback.desired_time = Some(crate::callback::DesiredTime::At(request.at));
            if let Some(number) = &request.number {
                callback.customer_number = Some(number.clone());
            }
        }
        let mut raised = Self::notified(id, at, callback, parent.attached.clone());
        raised.origin = Some(parent.id);
        raised.direction = Direction::Outbound;
        raised
    }

    fn record(&mut self, at: OffsetDateTime, kind: TimelineKind) {
        self.timeline.push(TimelineEntry { at, kind });
    }

    fn expect(
        &self,
        allowed: &[InteractionState],
        action: &'static str,
    ) -> Result<(), InteractionError> {
        if allowed.contains(&self.state) {
            Ok(())
        } else {
            Err(InteractionError::InvalidTransition {
                state: self.state,
                action,
            })
        }
    }

    /// The agent accepts: a previewed callback goes to `previewing`; anything else is answered
    /// and `connected`.
    pub fn accept(&mut self, at: OffsetDateTime) -> Outcome {
        self.expect(&[InteractionState::Notified], "accept")?;
        self.record(at, TimelineKind::Accepted);
        // A raised callback (by this agent's scheduler, or claimed from the team's queue: the
        // agent calls out) has no call yet: the agent previews, then calls.
        if self.origin.is_some()
            || self.direction == Direction::Outbound
            || self.callback.kind.is_some_and(|k| k.is_previewed())
        {
            self.state = InteractionState::Previewing;
        } else {
            self.state = InteractionState::Connected;
            self.record(at, TimelineKind::Connected);
        }
        Ok(())
    }

    /// The agent refuses, with the SIP status sent.
    pub fn reject(&mut self, at: OffsetDateTime, status: u16) -> Outcome {
        self.expect(&[InteractionState::Notified], "reject")?;
        self.state = InteractionState::Rejected;
        self.record(at, TimelineKind::Rejected { status });
        Ok(())
    }

    /// Nobody took it (server CANCEL, local timeout, agent not ready).
    pub fn miss(&mut self, at: OffsetDateTime, reason: &str) -> Outcome {
        self.expect(&[InteractionState::Notified], "miss")?;
        self.state = InteractionState::Missed;
        self.record(
            at,
            TimelineKind::Missed {
                reason: reason.to_owned(),
            },
        );
        Ok(())
    }

    /// The agent calls the customer (from the preview, or again after a call).
    pub fn dial(&mut self, at: OffsetDateTime, target: &str) -> Outcome {
        self.expect(
            &[InteractionState::Previewing, InteractionState::Ended],
            "call",
        )?;
        self.state = InteractionState::Dialing;
        self.record(
            at,
            TimelineKind::Dialing {
                target: target.to_owned(),
            },
        );
        Ok(())
    }

    /// The call connected.
    pub fn connect(&mut self, at: OffsetDateTime) -> Outcome {
        self.expect(&[InteractionState::Dialing], "connect")?;
        self.state = InteractionState::Connected;
        self.record(at, TimelineKind::Connected);
        Ok(())
    }

    /// Put on hold.
    pub fn hold(&mut self, at: OffsetDateTime) -> Outcome {
        self.expect(&[InteractionState::Connected], "hold")?;
        self.state = InteractionState::Held;
        self.record(at, TimelineKind::Held);
        Ok(())
    }

    /// Taken off hold.
    pub fn resume(&mut self, at: OffsetDateTime) -> Outcome {
        self.expect(&[InteractionState::Held], "resume")?;
        self.state = InteractionState::Connected;
        self.record(at, TimelineKind::Resumed);
        Ok(())
    }

    /// The call's recording started (into `file`), paused, resumed or stopped.
    pub fn recording(&mut self, at: OffsetDateTime, action: &str, file: Option<&str>) -> Outcome {
        self.expect(
            &[InteractionState::Connected, InteractionState::Held],
            "record",
        )?;
        self.record(
            at,
            TimelineKind::Recording {
                action: action.to_owned(),
                file: file.map(str::to_owned),
            },
        );
        Ok(())
    }

    /// The files this interaction's calls were recorded into, in order.
    #[must_use]
    pub fn recordings(&self) -> Vec<&str> {
        self.timeline
            .iter()
            .filter_map(|e| match &e.kind {
                TimelineKind::Recording {
                    file: Some(file), ..
                } => Some(file.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Digits sent from the keypad go into the case history.
    pub fn dtmf(&mut self, at: OffsetDateTime, digits: &str) -> Outcome {
        self.expect(
            &[InteractionState::Connected, InteractionState::Held],
            "send DTMF",
        )?;
        if digits.is_empty() {
            return Err(InteractionError::NoDigits);
        }
        self.record(
            at,
            TimelineKind::Dtmf {
                digits: digits.to_owned(),
            },
        );
        Ok(())
    }

    /// The call ended (either side hung up, or the dial failed).
    pub fn end(&mut self, at: OffsetDateTime) -> Outcome {
        self.expect(
            &[
                InteractionState::Connected,
                InteractionState::Held,
                InteractionState::Dialing,
            ],
            "end",
        )?;
        self.state = InteractionState::Ended;
        self.record(at, TimelineKind::Ended);
        Ok(())
    }

    /// A transfer of the call's peer to `target` (blind or attended) came to `outcome`
    /// while the call was up.
    pub fn transfer(
        &mut self,
        at: OffsetDateTime,
        target: &str,
        outcome: TransferOutcome,
        detail: Option<&str>,
    ) -> Outcome {
        self.expect(
            &[InteractionState::Connected, InteractionState::Held],
            "transfer",
        )?;
        self.record_transfer(at, target, outcome, detail, false);
        Ok(())
    }

    /// The final word on a transfer came after the agent's call was released (a PBX's late
    /// NOTIFY): recorded until Done.
    pub fn late_transfer_outcome(
        &mut self,
        at: OffsetDateTime,
        target: &str,
        outcome: TransferOutcome,
        detail: Option<&str>,
    ) -> Outcome {
        self.not_done("record a transfer's outcome")?;
        self.record_transfer(at, target, outcome, detail, true);
        Ok(())
    }

    fn record_transfer(
        &mut self,
        at: OffsetDateTime,
        target: &str,
        outcome: TransferOutcome,
        detail: Option<&str>,
        late: bool,
    ) {
        self.record(
            at,
            TimelineKind::Transferred {
                target: target.to_owned(),
                outcome: Some(outcome),
                detail: detail.map(str::to_owned),
                late,
            },
        );
    }

    /// The call joined a local conference.
    pub fn conference(&mut self, at: OffsetDateTime) -> Outcome {
        self.expect(
            &[
                InteractionState::Connected,
                InteractionState::Held,
                InteractionState::Dialing,
            ],
            "conference",
        )?;
        self.record(at, TimelineKind::Conferenced);
        Ok(())
    }

    /// Picks (or changes) the disposition, until Done.
    pub fn set_disposition(
        &mut self,
        at: OffsetDateTime,
        code: &str,
        allowed: &[Disposition],
    ) -> Outcome {
        self.not_done("set a disposition")?;
        if !allowed.iter().any(|d| d.code == code) {
            return Err(InteractionError::UnknownDisposition(code.to_owned()));
        }
        self.disposition = Some(code.to_owned());
        self.record(
            at,
            TimelineKind::Disposition {
                code: code.to_owned(),
            },
        );
        Ok(())
    }

    /// Writes (or rewrites) the note, until Done.
    pub fn set_note(&mut self, at: OffsetDateTime, text: &str) -> Outcome {
        self.not_done("write a note")?;
        self.note = Some(text.to_owned());
        self.record(at, TimelineKind::Note);
        Ok(())
    }

    /// Asks for the callback again at a new time; the time must be after `at`.
    pub fn reschedule(&mut self, at: OffsetDateTime, request: Reschedule) -> Outcome {
        self.not_done("reschedule")?;
        if request.at <= at {
            let when = request
                .at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            return Err(InteractionError::InThePast(when));
        }
        self.reschedule = Some(request.clone());
        self.record(at, TimelineKind::Rescheduled { request });
        Ok(())
    }

    /// Closes the interaction; with mandatory dispositions, only once one is chosen.
    pub fn done(&mut self, at: OffsetDateTime, disposition_mandatory: bool) -> Outcome {
        self.expect(
            &[InteractionState::Previewing, InteractionState::Ended],
            "mark done (hang up first)",
        )?;
        if disposition_mandatory && self.disposition.is_none() {
            return Err(InteractionError::DispositionRequired);
        }
        self.state = InteractionState::Done;
        self.record(at, TimelineKind::Done);
        Ok(())
    }

    /// When it rang in (or was raised): its first timeline entry.
    #[must_use]
    pub fn created_at(&self) -> Option<OffsetDateTime> {
        self.timeline.first().map(|e| e.at)
    }

    /// The outcome the last change reports to the server (the webhook's event), if it was one:
    /// `done`, `rescheduled` or `disposition`.
    #[must_use]
    pub fn outcome_event(&self) -> Option<&'static str> {
        match self.timeline.last().map(|e| &e.kind) {
            Some(TimelineKind::Done) => Some("done"),
            Some(TimelineKind::Rescheduled { .. }) => Some("rescheduled"),
            Some(TimelineKind::Disposition { .. }) => Some("disposition"),
            _ => None,
        }
    }

    /// After a restart the calls are gone: a ringing interaction was missed, a live one ended.
    /// Returns whether anything changed.
    pub fn recover(&mut self, at: OffsetDateTime) -> bool {
        match self.state {
            InteractionState::Notified => self.miss(at, "recall restarted").is_ok(),
            InteractionState::Dialing | InteractionState::Connected | InteractionState::Held => {
                self.end(at).is_ok()
            }
            _ => false,
        }
    }

    fn not_done(&self, action: &'static str) -> Outcome {
        if self.state == InteractionState::Done {
            return Err(InteractionError::InvalidTransition {
                state: self.state,
                action,
            });
        }
        Ok(())
    }
}

impl Interaction {
    /// Reads an interaction as stored, including records written before a reschedule's
    /// timeline entry had its own `request` object (then its fields sat beside the entry's
    /// own and both were named `at`: the entry keeps the reschedule's time).
    ///
    /// # Errors
    /// The text is not an interaction in either form.
    pub fn from_stored(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json).or_else(|first| {
            let mut value: serde_json::Value = serde_json::from_str(json)?;
            let Some(timeline) = value
                .get_mut("timeline")
                .and_then(serde_json::Value::as_array_mut)
            else {
                return Err(first);
            };
            let mut repaired = false;
            for entry in timeline.iter_mut() {
                let Some(fields) = entry.as_object_mut() else {
                    continue;
                };
                if fields.get("kind").and_then(serde_json::Value::as_str) == Some("rescheduled")
                    && !fields.contains_key("request")
                {
                    let mut request = serde_json::Map::new();
                    for key in ["at", "time_zone", "number", "personal"] {
                        let taken = if key == "at" {
                            fields.get(key).cloned()
                        } else {
                            fields.remove(key)
                        };
                        if let Some(v) = taken {
                            request.insert(key.to_owned(), v);
                        }
                    }
                    fields.insert("request".to_owned(), serde_json::Value::Object(request));
                    repaired = true;
                }
            }
            if repaired {
                serde_json::from_value(value)
            } else {
                Err(first)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;
    use time::macros::datetime;

    fn callback(kind: Option<CallbackType>) -> Interaction {
        Interaction::notified(
            InteractionId(7),
            datetime!(2026-11-25 15:31:02 UTC),
            CallbackInfo {
                kind,
                ..CallbackInfo::default()
            },
            AttachedData::default(),
        )
    }

    fn kinds(i: &Interaction) -> Vec<&'static str> {
        i.timeline
            .iter()
            .map(|e| match e.kind {
                TimelineKind::Notified => "notified",
                TimelineKind::Accepted => "accepted",
                TimelineKind::Rejected { .. } => "rejected",
                TimelineKind::Missed { .. } => "missed",
                TimelineKind::Dialing { .. } => "dialing",
                TimelineKind::Connected => "connected",
                TimelineKind::Held => "held",
                TimelineKind::Resumed => "resumed",
                TimelineKind::Dtmf { .. } => "dtmf",
                TimelineKind::Transferred { .. } => "transferred",
                TimelineKind::Conferenced => "conferenced",
                TimelineKind::Recording { .. } => "recording",
                TimelineKind::Rescheduled { .. } => "rescheduled",
                TimelineKind::Disposition { .. } => "disposition",
                TimelineKind::Note => "note",
                TimelineKind::Ended => "ended",
                TimelineKind::Done => "done",
            })
            .collect()
    }

    #[test]
    fn a_rescheduled_interaction_reads_back_in_both_stored_forms() {
        let mut i = callback(Some(CallbackType::Scheduled));
        let entered = datetime!(2026-11-25 15:40 UTC);
        let request = Reschedule {
            at: datetime!(2026-11-26 09:00 UTC),
            time_zone: Some("Europe/Madrid".to_owned()),
            number: Some("+34 600 123 456".to_owned()),
            personal: false,
        };
        i.reschedule(entered, request.clone()).expect("reschedule");
        let json = serde_json::to_string(&i).expect("json");
        assert_eq!(
            json.matches("\"at\":\"2026-11-26T09:00:00Z\"").count(),
            2,
            "{json}"
        );
        assert_eq!(Interaction::from_stored(&json).expect("reads"), i);
        assert_eq!(
            serde_json::from_str::<Interaction>(&json).expect("reads"),
            i
        );
        // As written before: the request's fields beside the entry's, `at` twice.
        let mut value: serde_json::Value = serde_json::from_str(&json).expect("value");
        let entry = value["timeline"]
            .as_array_mut()
            .and_then(|t| t.last_mut())
            .and_then(serde_json::Value::as_object_mut)
            .expect("entry");
        entry.remove("request");
        entry.insert("time_zone".to_owned(), "Europe/Madrid".into());
        entry.insert("number".to_owned(), "+34 600 123 456".into());
        entry.insert("personal".to_owned(), false.into());
        let old = value.to_string().replace(
            "\"kind\":\"rescheduled\"",
            "\"kind\":\"rescheduled\",\"at\":\"2026-11-26T09:00:00Z\"",
        );
        assert!(serde_json::from_str::<Interaction>(&old).is_err(), "{old}");
        let read = Interaction::from_stored(&old).expect("the old form reads");
        assert_eq!(read.reschedule, Some(request.clone()));
        assert_eq!(
            read.timeline.last().map(|e| &e.kind),
            Some(&TimelineKind::Rescheduled { request })
        );
        assert!(Interaction::from_stored("{\"timeline\": 3}").is_err());
    }

    #[test]
    fn only_done_reschedule_and_disposition_are_outcomes_for_the_server() {
        let t = datetime!(2026-11-25 15:31:02 UTC);
        let mut i = callback(Some(CallbackType::Scheduled));
        assert_eq!(i.outcome_event(), None);
        i.accept(t).expect("accept");
        assert_eq!(i.outcome_event(), None);
        i.end(t).expect("end");
        i.set_disposition(t, "busy", &default_dispositions())
            .expect("disposition");
        assert_eq!(i.outcome_event(), Some("disposition"));
        i.set_note(t, "Line busy").expect("note");
        assert_eq!(i.outcome_event(), None);
        let request = Reschedule {
            at: t + Duration::hours(2),
            time_zone: None,
            number: None,
            personal: false,
        };
        i.reschedule(t, request).expect("reschedule");
        assert_eq!(i.outcome_event(), Some("rescheduled"));
        i.done(t, true).expect("done");
        assert_eq!(i.outcome_event(), Some("done"));
    }

    #[test]
    fn a_scheduled_callback_goes_from_notified_to_done() {
        let t = datetime!(2026-11-25 15:31:02 UTC);
        let mut i = callback(Some(CallbackType::Scheduled));
        i.accept(t).expect("accept");
        assert_eq!(i.state, InteractionState::Connected);
        i.hold(t).expect("hold");
        i.resume(t).expect("resume");
        i.dtmf(t, "12#").expect("dtmf");
        i.end(t).expect("end");
        assert_eq!(i.done(t, true), Err(InteractionError::DispositionRequired));
        i.set_disposition(t, "resolved", &default_dispositions())
            .expect("disposition");
        i.set_note(t, "Paid by card").expect("note");
        i.done(t, true).expect("done");
        assert_eq!(
            kinds(&i),
            [
                "notified",
                "accepted",
                "connected",
                "held",
                "resumed",
                "dtmf",
                "ended",
                "disposition",
                "note",
                "done"
            ]
        );
    }

    #[test]
    fn a_preview_is_previewed_then_called_or_closed_without_calling() {
        let t = datetime!(2026-11-25 15:31:02 UTC);
        for kind in [CallbackType::Preview, CallbackType::Web] {
            let mut i = callback(Some(kind));
            i.accept(t).expect("accept");
            assert_eq!(i.state, InteractionState::Previewing);
            i.dial(t, "sip:5550100@pbx").expect("call");
            i.connect(t).expect("connected");
            i.end(t).expect("end");
            i.done(t, false).expect("done");
            let mut j = callback(Some(kind));
            j.accept(t).expect("accept");
            j.done(t, false).expect("done without calling");
        }
    }

    #[test]
    fn invalid_transitions_are_refused_with_the_state_named() {
        let t = datetime!(2026-11-25 15:31:02 UTC);
        let mut i = callback(None);
        i.accept(t).expect("accept");
        let error = i.accept(t).expect_err("twice");
        assert_eq!(error.to_string(), "interaction is connected; cannot accept");
        assert!(i.done(t, false).is_err(), "not while connected");
        assert!(i.reject(t, 486).is_err());
        let mut missed = callback(None);
        missed
            .miss(t, "cancelled by the caller (487)")
            .expect("miss");
        assert!(missed.accept(t).is_err());
        let mut rejected = callback(None);
        rejected.reject(t, 603).expect("reject");
        assert_eq!(rejected.state, InteractionState::Rejected);
    }

    #[test]
    fn note_and_disposition_change_until_done_and_unknown_codes_are_refused() {
        let t = datetime!(2026-11-25 15:31:02 UTC);
        let codes = default_dispositions();
        let mut i = callback(Some(CallbackType::Preview));
        i.accept(t).expect("accept");
        i.set_disposition(t, "busy", &codes).expect("first");
        i.set_disposition(t, "resolved", &codes).expect("changed");
        i.set_note(t, "a").expect("note");
        i.set_note(t, "b").expect("note again");
        assert_eq!(
            i.set_disposition(t, "nope", &codes),
            Err(InteractionError::UnknownDisposition("nope".to_owned()))
        );
        i.done(t, true).expect("done");
        assert_eq!(
            (i.disposition.as_deref(), i.note.as_deref()),
            (Some("resolved"), Some("b"))
        );
        assert!(i.set_note(t, "too late").is_err());
    }

    #[test]
    fn a_reschedule_must_be_in_the_future() {
        let t = datetime!(2026-11-25 15:31:02 UTC);
        let mut i = callback(Some(CallbackType::Scheduled));
        let past = Reschedule {
            at: t - Duration::minutes(1),
            time_zone: Some("Europe/Madrid".to_owned()),
            number: None,
            personal: true,
        };
        assert!(matches!(
            i.reschedule(t, past),
            Err(InteractionError::InThePast(_))
        ));
        let later = Reschedule {
            at: t + Duration::hours(2),
            time_zone: Some("Europe/Madrid".to_owned()),
            number: Some("+1 555 0199".to_owned()),
            personal: false,
        };
        i.reschedule(t, later.clone()).expect("reschedule");
        assert_eq!(i.reschedule, Some(later));
    }

    #[test]
    fn recovery_after_a_restart_ends_live_interactions_and_misses_ringing_ones() {
        let t = datetime!(2026-11-25 15:31:02 UTC);
        let mut ringing = callback(None);
        assert!(ringing.recover(t));
        assert_eq!(ringing.state, InteractionState::Missed);
        let mut talking = callback(None);
        talking.accept(t).expect("accept");
        assert!(talking.recover(t));
        assert_eq!(talking.state, InteractionState::Ended);
        let mut previewing = callback(Some(CallbackType::Preview));
        previewing.accept(t).expect("accept");
        assert!(!previewing.recover(t), "a preview needs no call");
    }

    #[test]
    fn the_json_shape_matches_the_api() {
        let t = datetime!(2026-11-25 15:31:02.113 UTC);
        let mut i = callback(Some(CallbackType::Scheduled));
        i.accept(t).expect("accept");
        i.dtmf(t, "12#").expect("dtmf");
        let json = serde_json::to_value(&i).expect("json");
        assert_eq!(json["id"], "i-7");
        assert_eq!(json["state"], "connected");
        assert_eq!(json["callback"]["type"], "scheduled");
        assert_eq!(json["disposition"], serde_json::Value::Null);
        assert_eq!(json["timeline"][0]["kind"], "notified");
        assert_eq!(json["timeline"][1]["at"], "2026-11-25T15:31:02.113Z");
        assert_eq!(json["timeline"][3]["kind"], "dtmf");
        assert_eq!(json["timeline"][3]["digits"], "12#");
    }
}
