//! `recall call`: one scripted call — dial, send digits once connected, hang up after a
//! while — and its outcome.

use std::time::{Duration, Instant};

use api::{CallId, CallState, Command, Event};

/// What `recall call` asks for.
#[derive(Debug, Clone)]
pub struct CallPlan {
    /// The URI to call.
    pub to: String,
    /// Hang up this long after the call connects; `None` waits for the peer to hang up.
    pub duration: Option<Duration>,
    /// Digits to send once connected.
    pub dtmf: Option<String>,
}

/// How the call went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    /// Answered and ended normally.
    Completed,
    /// Not answered, or failed; the reason in one line.
    Failed(String),
}

/// The plan being carried out.
#[derive(Debug)]
pub(crate) struct PlanRun {
    plan: CallPlan,
    call: Option<CallId>,
    connected: bool,
    hangup_at: Option<Instant>,
    outcome: Option<CallOutcome>,
}

impl PlanRun {
    pub(crate) fn new(plan: CallPlan) -> Self {
        Self {
            plan,
            call: None,
            connected: false,
            hangup_at: None,
            outcome: None,
        }
    }

    /// The first command: dial.
    pub(crate) fn dial(&self) -> Command {
        Command::Dial {
            to: self.plan.to.clone(),
            account: None,
        }
    }

    /// The dial command was carried out (or refused).
    pub(crate) fn dialed(&mut self, result: Result<CallId, engine::EngineError>) {
        match result {
            Ok(call) => self.call = Some(call),
            Err(e) => self.outcome = Some(CallOutcome::Failed(e.to_string())),
        }
    }

    /// Reacts to an event; returns commands to carry out.
    pub(crate) fn on_event(&mut self, event: &Event, now: Instant) -> Vec<Command> {
        let Event::Call { call } = event else {
            return Vec::new();
        };
        if Some(call.id) != self.call {
            return Vec::new();
        }
        let mut commands = Vec::new();
        match call.state {
            CallState::Connected if !self.connected => {
                self.connected = true;
                if let Some(digits) = self.plan.dtmf.clone().filter(|d| !d.is_empty()) {
                    commands.push(Command::Dtmf {
                        call: call.id,
                        digits,
                    });
                }
                self.hangup_at = self.plan.duration.map(|d| now + d);
            }
            CallState::Ended => {
                self.outcome = Some(if self.connected {
                    CallOutcome::Completed
                } else {
                    CallOutcome::Failed(
                        call.end_reason
                            .clone()
                            .unwrap_or_else(|| "call failed".to_owned()),
                    )
                });
            }
            _ => {}
        }
        commands
    }

    /// When the plan next needs to act.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.hangup_at
    }

    /// Time passed; returns commands to carry out.
    pub(crate) fn on_time(&mut self, now: Instant) -> Vec<Command> {
        match (self.hangup_at, self.call) {
            (Some(at), Some(call)) if at <= now => {
                self.hangup_at = None;
                vec![Command::Hangup { call }]
            }
            _ => Vec::new(),
        }
    }

    /// The outcome, once known.
    pub(crate) fn outcome(&self) -> Option<&CallOutcome> {
        self.outcome.as_ref()
    }
}
