//! The local conference: calls mixed together by the phone (each member hears the others
//! through the mixer, mixer.rs).

use api::{CallId, CallState, CallView};
use tracing::warn;

use crate::calls::{Calls, Cx};
use crate::error::EngineError;

impl Calls {
    /// `Command::Conference`: dial `target` and mix it with the call, or mix the call with
    /// `with`.
    pub(crate) fn conference(
        &mut self,
        cx: &mut Cx<'_>,
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
                let view = self.dial_with(cx, &target, None, Vec::new())?;
                if let Some(call) = self.calls.get_mut(&view.id) {
                    call.conference = Some(group);
                }
            }
            (None, Some(other)) => {
                if other == id {
                    return Err(EngineError::WithItself("conferenced with"));
                }
                self.live(other, "conference")?;
                self.join_conference(cx, other, group);
            }
            _ => {
                return Err(EngineError::MissingTarget(
                    "give \"target\" (call and add) or \"with\": the other call (merge)",
                ));
            }
        }
        self.join_conference(cx, id, group);
        self.view(id)
    }

    /// Puts a call in a conference group, taking it off hold.
    pub(crate) fn join_conference(&mut self, cx: &mut Cx<'_>, id: CallId, group: u64) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.conference = Some(group);
        call.consultation_of = None;
        let held = call.state() == CallState::Held;
        if held && let Err(e) = self.hold(cx, id, false) {
            warn!(call = %id, error = %e, "cannot resume for the conference");
        }
        self.interaction_step(cx, id, |i, at| i.conference(at));
        self.emit_call(cx, id);
    }
}
