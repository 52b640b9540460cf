//! Settings changed while the phone runs (the desktop's Settings window): accounts, codecs and
//! callback options; a one-off registration test; the headset's test tone.

use std::time::Instant;

use crate::config::{AccountSettings, CallbackSettings, MediaSettings};
use crate::error::EngineError;
use crate::phone::Phone;
use crate::timers::TimerId;
use crate::tones::TEST_TONE;
use media::Tone;

impl Phone {
    /// Puts new settings in force. Media and callback settings apply to calls from now on;
    /// an account whose settings did not change keeps its registration, a changed or new one
    /// registers afresh, and one no longer listed is un-registered — unless a new account
    /// has its address-of-record, whose REGISTER then takes its binding over. Calls in
    /// progress carry on as they were.
    pub fn reconfigure(
        &mut self,
        now: Instant,
        accounts: Vec<AccountSettings>,
        media: MediaSettings,
        callbacks: CallbackSettings,
    ) {
        self.now = now;
        self.media = media;
        self.callbacks = callbacks;
        self.registrations
            .reconfigure(&mut self.ua, now, accounts, &mut self.out);
        self.pump();
    }

    /// REGISTERs once as `account` (not one of the phone's accounts) and reports the outcome
    /// as [`Event::RegistrationTest`]. The binding is then removed again, unless one of the
    /// phone's accounts has the same address-of-record (its own refreshes keep it).
    pub fn test_registration(&mut self, now: Instant, account: AccountSettings) {
        self.now = now;
        self.registrations.test(&mut self.ua, now, account);
        self.pump();
    }

    /// Plays the test tone on the headset for two seconds.
    ///
    /// # Errors
    /// While a call is connected (the tone would be in the agent's ear over the customer).
    pub fn test_tone(&mut self, now: Instant) -> Result<(), EngineError> {
        self.now = now;
        if self.active_calls() > 0 {
            return Err(EngineError::Invalid(
                "the test tone plays only between calls".to_owned(),
            ));
        }
        self.tones.play_until(Some(Tone::Test), now + TEST_TONE);
        self.timers.set(TimerId::ProgressTone, now + TEST_TONE);
        self.update_tones();
        Ok(())
    }
}
