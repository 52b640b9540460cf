//! Which microphone processing stages are on: plain data the engine carries from the settings
//! to the audio backend (the processing itself runs in the audio crate, beside the devices).

/// The microphone processing an agent switches in Settings (`[media] echo_cancellation`,
/// `noise_suppression`, `auto_gain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoiceSettings {
    /// Take the far end's voice out of the microphone (agents on speakers).
    pub echo_cancellation: bool,
    /// Take steady and babble noise out of the microphone.
    pub noise_suppression: bool,
    /// Bring a quiet or loud voice to a steady level.
    pub auto_gain: bool,
}

impl Default for VoiceSettings {
    /// Echo cancellation and noise suppression on, gain control off (a headset microphone's
    /// level is set once by the system mixer; a gain that moves surprises agents).
    fn default() -> Self {
        Self {
            echo_cancellation: true,
            noise_suppression: true,
            auto_gain: false,
        }
    }
}

impl VoiceSettings {
    /// Every stage off: the microphone goes out as captured.
    pub const OFF: Self = Self {
        echo_cancellation: false,
        noise_suppression: false,
        auto_gain: false,
    };

    /// Whether any stage is on.
    #[must_use]
    pub fn any(&self) -> bool {
        self.echo_cancellation || self.noise_suppression || self.auto_gain
    }
}
