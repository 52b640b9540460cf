//! Settings changed while the phone runs (the desktop's Settings window): accounts, codecs and
//! callback options; a one-off registration test; the headset's test tone.

use std::time::{Duration, Instant};

use api::{Event, RegistrationState};

use crate::config::{AccountSettings, CallbackSettings, MediaSettings};
use crate::error::EngineError;
use crate::phone::{Account, Output, Phone};
use crate::timers::TimerId;
use media::Tone;

/// How long the test tone plays.
const TEST_TONE: Duration = Duration::from_secs(2);

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
        let mut old = std::mem::take(&mut self.accounts);
        for settings in accounts {
            if let Some(index) = old.iter().position(|a| a.settings == settings) {
                self.accounts.push(old.swap_remove(index));
                continue;
            }
            let registers = settings.register;
            let config = settings.sip.clone();
            let mut account = Account::new(settings);
            account.id = Some(if registers {
                account.state = RegistrationState::Registering;
                self.ua.register(now, config)
            } else {
                self.ua.add_account(config)
            });
            self.accounts.push(account);
            if registers {
                self.emit_registration(self.accounts.len() - 1);
            }
        }
        for gone in old {
            let Some(id) = gone.id else { continue };
            if self
                .accounts
                .iter()
                .any(|a| a.settings.sip.aor == gone.settings.sip.aor)
            {
                self.ua.forget(id);
            } else {
                self.ua.unregister(now, id);
            }
        }
        self.pump();
    }

    /// REGISTERs once as `account` (not one of the phone's accounts) and reports the outcome
    /// as [`Event::RegistrationTest`]. The binding is then removed again, unless one of the
    /// phone's accounts has the same address-of-record (its own refreshes keep it).
    pub fn test_registration(&mut self, now: Instant, account: AccountSettings) {
        self.now = now;
        let id = self.ua.register(now, account.sip);
        self.probes.insert(id, account.name);
        self.pump();
    }

    /// Handles a REGISTER outcome if it was a test's; `false` when it was not.
    pub(crate) fn probe_outcome(
        &mut self,
        id: sip::AccountId,
        outcome: Result<Duration, &sip::RegistrationFailure>,
    ) -> bool {
        let Some(name) = self.probes.remove(&id) else {
            return false;
        };
        let registered = outcome.is_ok();
        let detail = match outcome {
            Ok(expires) => format!("registered for {} s", expires.as_secs()),
            Err(why) => why.to_string(),
        };
        let shared = self.ua.account(id).is_some_and(|probe| {
            self.accounts.iter().any(|a| {
                a.settings.sip.aor == probe.aor
                    && matches!(
                        a.state,
                        RegistrationState::Registered | RegistrationState::Registering
                    )
            })
        });
        if registered && !shared {
            self.ua.unregister(self.now, id);
        } else {
            self.ua.forget(id);
        }
        self.out
            .push_back(Output::Event(Box::new(Event::RegistrationTest {
                account: name,
                registered,
                detail,
            })));
        true
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
        self.progress_tone = Some((Tone::Test, now + TEST_TONE));
        self.timers.set(TimerId::ProgressTone, now + TEST_TONE);
        self.update_tones();
        Ok(())
    }
}
