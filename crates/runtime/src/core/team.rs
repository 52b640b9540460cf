//! Team callbacks: on a shared store, a callback rescheduled back to the queue is raised at
//! its time on exactly one agent who is Ready for voice. Once a second the run loop claims
//! the oldest due one nobody holds (with a lease on the database's clock), raises it here,
//! renews the lease while it waits for the agent, and settles it once handled — or gives it
//! back to the team when it is rejected or missed here. An agent that dies stops renewing:
//! its lease runs out and another agent claims the callback.

use std::time::{Duration, Instant};

use api::{AgentState, InteractionId, InteractionState};
use engine::{Reply, Request};
use tracing::{info, warn};

use super::{Core, ask};

/// How long this agent waits before claiming again after giving a callback back (so that
/// another Ready agent gets the one it rejected).
const AFTER_RELEASE: Duration = Duration::from_secs(10);

/// The callback this agent holds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Held {
    /// Its key in the team's queue.
    callback: i64,
    /// The interaction it was raised as here.
    raised: InteractionId,
}

/// What this agent does with team callbacks.
#[derive(Debug)]
pub(crate) struct Team {
    /// How long a claim lasts without renewal.
    pub(crate) lease: Duration,
    /// The callback held now (one at a time).
    held: Option<Held>,
    /// No claim before this (after giving one back).
    quiet_until: Option<Instant>,
    /// The database's absence was logged (once, until it is back).
    away_logged: bool,
}

impl Team {
    pub(crate) fn new(lease: Duration) -> Self {
        Self {
            lease,
            held: None,
            quiet_until: None,
            away_logged: false,
        }
    }
}

impl Core {
    /// Writes kept while the team's database was unreachable go over, in order, once it is
    /// back; the outcomes among them then reach the webhook.
    fn replay_journal(&mut self) {
        let Some(store) = self.store.as_mut().filter(|s| s.pending() > 0) else {
            return;
        };
        let waiting = store.pending();
        match store.replay() {
            Ok(items) => {
                info!(writes = waiting, "journal replayed to the team's database");
                if let Some(webhook) = &self.webhook {
                    for item in items {
                        let _ = webhook.send(item);
                    }
                }
            }
            Err(store::StoreError::Unreachable(_)) => {}
            Err(e) => warn!(error = %e, "journal not replayed"),
        }
    }

    /// Once a second: follow the callback held, or claim one when the agent is free.
    pub(super) fn team_tick(&mut self, now: Instant) {
        self.replay_journal();
        let Some(store) = self
            .store
            .as_ref()
            .filter(|s| s.is_shared() && s.pending() == 0)
        else {
            return;
        };
        let lease = self.team.lease;
        if let Some(held) = self.team.held {
            let state = self.phone.interaction(held.raised).map(|i| i.state);
            let result = match state {
                Some(InteractionState::Notified | InteractionState::Previewing) => {
                    match store.renew_callback(held.callback, lease) {
                        Ok(true) => return,
                        Ok(false) => {
                            warn!(callback = held.callback, "team callback lease lost");
                            self.team.held = None;
                            return;
                        }
                        Err(e) => Err(e),
                    }
                }
                Some(InteractionState::Rejected | InteractionState::Missed) => {
                    self.team.quiet_until = Some(now + AFTER_RELEASE);
                    store.release_callback(held.callback)
                }
                // Handled (memory forgets only settled interactions).
                state => store.settle_callback(
                    held.callback,
                    &state.map_or_else(|| "settled".to_owned(), |s| s.to_string()),
                    held.raised,
                ),
            };
            match result {
                // Free again: the next one may be claimed at once.
                Ok(()) => self.team.held = None,
                // Kept: tried again next second (the lease covers a short outage).
                Err(e) => {
                    warn!(error = %e, "team callback not updated");
                    return;
                }
            }
        }
        if self.team.quiet_until.is_some_and(|t| now < t)
            || self.phone.active_calls() > 0
            || self.phone.status(Vec::new()).agent.voice != AgentState::Ready
        {
            return;
        }
        let claim = match store.claim_callback(lease) {
            Ok(found) => {
                self.team.away_logged = false;
                match found {
                    Some(claim) => claim,
                    None => return,
                }
            }
            Err(e) => {
                if !std::mem::replace(&mut self.team.away_logged, true) {
                    warn!(error = %e, "team callbacks not read (logged once until it works again)");
                }
                return;
            }
        };
        match ask(
            &mut self.phone,
            Request::RaiseTeamCallback(Box::new(claim.origin)),
        ) {
            Ok(Reply::Interaction(raised)) => {
                info!(callback = claim.id, interaction = %raised.id, "team callback claimed");
                self.team.held = Some(Held {
                    callback: claim.id,
                    raised: raised.id,
                });
            }
            other => {
                warn!(?other, "team callback not raised; given back");
                if let Some(store) = &self.store {
                    let _ = store.release_callback(claim.id);
                }
            }
        }
    }
}
