//! Call-progress tones the calls call for: ringback while our call alerts, busy or reorder
//! for a few seconds after it failed, the test tone, on the headset; the ringtone while a
//! call rings, on the ring device. The audio is told only when that changes.

use std::time::{Duration, Instant};

use media::Tone;

use crate::config::AudioFactory;

/// How long busy and reorder play after an outgoing call fails.
pub(crate) const PROGRESS_TONE: Duration = Duration::from_secs(3);
/// How long the test tone plays.
pub(crate) const TEST_TONE: Duration = Duration::from_secs(2);

/// The tones playing, and a busy, reorder or test tone until when.
#[derive(Debug, Default)]
pub(crate) struct Tones {
    /// A tone played for a while (busy, reorder, test), until when.
    timed: Option<(Tone, Instant)>,
    /// The tones playing now: (headset, ring device).
    playing: (Option<Tone>, Option<Tone>),
}

impl Tones {
    /// Plays `tone` on the headset until `until` (unless a call needs the headset).
    pub(crate) fn play_until(&mut self, tone: Option<Tone>, until: Instant) {
        self.timed = tone.map(|t| (t, until));
    }

    /// The tones playing now: (headset, ring device).
    pub(crate) fn playing(&self) -> (Option<Tone>, Option<Tone>) {
        self.playing
    }

    /// Tells the audio which tones to play when that changed: `ringing`, a call rings in;
    /// `alerting`, a call we placed alerts; `talking` says whether a call is connected (asked
    /// only when a busy, reorder or test tone would otherwise play).
    pub(crate) fn update(
        &mut self,
        ringing: bool,
        alerting: bool,
        talking: impl FnOnce() -> bool,
        now: Instant,
        audio: &mut dyn AudioFactory,
    ) {
        if self.timed.is_some_and(|(_, until)| until <= now) {
            self.timed = None;
        }
        let timed = self
            .timed
            .filter(|(_, until)| *until > now)
            .map(|(tone, _)| tone);
        let headset = if alerting {
            Some(Tone::Ringback)
        } else if timed.is_none() || talking() {
            None
        } else {
            timed
        };
        let wanted = (headset, ringing.then_some(Tone::Ring));
        if wanted != self.playing {
            self.playing = wanted;
            audio.tones(wanted.0, wanted.1);
        }
    }
}
