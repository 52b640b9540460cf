//! Call recording: the policy (`never`, `on_demand`, `always`), start, pause, resume and stop,
//! and the frames to write. The phone names each file and hands out 20 ms stereo frames (the
//! agent left, the customer right; silence while paused); the runtime writes them.

use api::{CallId, CallState, CallView, RecordAction};

use crate::calls::{Calls, Cx};
use crate::config::RecordingPolicy;
use crate::error::EngineError;
use crate::phone::Output;

/// A call's recording while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rec {
    /// Paused: silence is written meanwhile.
    pub(crate) paused: bool,
}

/// What the runtime does for a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordingOutput {
    /// Create `path`, a stereo WAV file at `rate` Hz.
    Open {
        /// The call recorded.
        call: CallId,
        /// The file.
        path: String,
        /// Samples per second of each channel.
        rate: u32,
    },
    /// 20 ms more: what the agent said (left) and what the customer said (right), at `rate`
    /// (the call's codec's; a file opened at another rate converts).
    Frame {
        /// The call recorded.
        call: CallId,
        /// The frames' sample rate.
        rate: u32,
        /// The agent's side.
        agent: Vec<i16>,
        /// The customer's side.
        customer: Vec<i16>,
    },
    /// The recording is over: finish the file.
    Close {
        /// The call recorded.
        call: CallId,
    },
}

impl Calls {
    /// The agent's (or the API's) recording action on a call.
    pub(crate) fn record(
        &mut self,
        cx: &mut Cx<'_>,
        id: CallId,
        action: RecordAction,
    ) -> Result<CallView, EngineError> {
        let call = self.calls.get(&id).ok_or(EngineError::NoSuchCall(id))?;
        if !matches!(call.state(), CallState::Connected | CallState::Held) {
            return Err(EngineError::WrongState {
                call: id,
                state: call.state_name(),
                action: "record",
            });
        }
        let recording = call.recording;
        let refuse = |why| Err(EngineError::Recording { call: id, why });
        match action {
            RecordAction::Start => {
                if self.recording.policy == RecordingPolicy::Never {
                    return Err(EngineError::RecordingPolicy(
                        "recording is off here ([recording] policy = \"never\")",
                    ));
                }
                if recording.is_some() {
                    return refuse("it is already being recorded");
                }
                self.start_recording(cx, id);
            }
            RecordAction::Pause | RecordAction::Resume => {
                let pause = action == RecordAction::Pause;
                match recording {
                    None => return refuse("it is not being recorded"),
                    Some(r) if r.paused == pause => {
                        return refuse(if pause {
                            "its recording is paused already"
                        } else {
                            "its recording is not paused"
                        });
                    }
                    Some(_) => {}
                }
                if let Some(call) = self.calls.get_mut(&id) {
                    call.recording = Some(Rec { paused: pause });
                }
                self.interaction_step(cx, id, |i, at| i.recording(at, action.as_str(), None));
                self.emit_call(cx, id);
            }
            RecordAction::Stop => {
                if self.recording.policy == RecordingPolicy::Always {
                    return Err(EngineError::RecordingPolicy(
                        "every call is recorded here ([recording] policy = \"always\"): pause it instead",
                    ));
                }
                if recording.is_none() {
                    return refuse("it is not being recorded");
                }
                self.finish_recording(cx, id);
                self.emit_call(cx, id);
            }
        }
        self.view(id)
    }

    /// Starts recording a connected call into a new file named for when and what it is.
    fn start_recording(&mut self, cx: &mut Cx<'_>, id: CallId) {
        let at = cx.desk.wall(cx.now);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let rate = call.media().map_or(8000, |m| m.codec().sample_rate());
        let name = match call.interaction {
            Some(interaction) => format!("{interaction}-{id}"),
            None => id.to_string(),
        };
        let dir = self.recording.dir.trim_end_matches('/');
        let path = format!(
            "{dir}/{:04}{:02}{:02}-{:02}{:02}{:02}-{name}.wav",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second()
        );
        call.recording = Some(Rec { paused: false });
        call.recording_file = Some(path.clone());
        tracing::info!(call = %id, %path, "recording");
        cx.out.push_back(Output::Recording(RecordingOutput::Open {
            call: id,
            path: path.clone(),
            rate,
        }));
        self.interaction_step(cx, id, |i, at| i.recording(at, "start", Some(&path)));
        self.emit_call(cx, id);
    }

    /// Ends a call's recording, if it has one (stopped, or the call ends).
    pub(crate) fn finish_recording(&mut self, cx: &mut Cx<'_>, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.recording.take().is_none() {
            return;
        }
        cx.out
            .push_back(Output::Recording(RecordingOutput::Close { call: id }));
        self.interaction_step(cx, id, |i, at| i.recording(at, "stop", None));
    }

    /// Policy `always`: every connected call with its audio open is recorded from its start.
    pub(crate) fn record_always(&mut self, cx: &mut Cx<'_>) {
        if self.recording.policy != RecordingPolicy::Always {
            return;
        }
        let due: Vec<CallId> = self
            .calls
            .values()
            .filter(|c| c.recording.is_none() && c.state() == CallState::Connected)
            .filter(|c| c.talk().is_some_and(|t| t.audio.is_some()))
            .map(|c| c.id)
            .collect();
        for id in due {
            self.start_recording(cx, id);
        }
    }
}
