//! The phone's accounts and their registrations: registering at start, following the user
//! agent's registration events, putting changed settings in force, and one-off registration
//! tests. A small state machine of its own: the phone hands it the user agent to act through
//! and the queue its events go to.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use api::{Event, RegistrationState, RegistrationView};
use sip::{AccountId, RegistrationFailure, UserAgent};
use tracing::info;

use crate::account::{Resolved, resolve};
use crate::phone::Output;

/// One account as the phone keeps it.
struct Account {
    settings: api::Account,
    /// What the phone uses of it, or why it cannot (then it stays `failed` with that reason).
    resolved: Option<Resolved>,
    /// Its id in the user agent, once added there.
    id: Option<AccountId>,
    state: RegistrationState,
    reason: Option<String>,
}

impl Account {
    fn new(settings: api::Account) -> Self {
        let (resolved, state, reason) = match resolve(&settings) {
            Ok(resolved) => (Some(resolved), RegistrationState::Unregistered, None),
            Err(e) => (None, RegistrationState::Failed, Some(e.to_string())),
        };
        Self {
            settings,
            resolved,
            id: None,
            state,
            reason,
        }
    }

    fn view(&self) -> RegistrationView {
        RegistrationView {
            account: self.settings.name.clone(),
            aor: self.settings.aor.clone(),
            state: self.state,
            reason: self.reason.clone(),
        }
    }

    /// Whether it registers (it asks to, and it can).
    fn registers(&self) -> bool {
        self.settings.register && self.resolved.is_some()
    }

    /// Adds it to the user agent: registering when it asks to, otherwise only lending its
    /// identity, proxy and credentials to calls.
    fn add(&mut self, ua: &mut UserAgent, now: Instant) {
        let Some(config) = self.resolved.as_ref().map(|r| r.sip.clone()) else {
            return;
        };
        self.id = Some(if self.settings.register {
            self.state = RegistrationState::Registering;
            ua.register(now, config)
        } else {
            ua.add_account(config)
        });
    }
}

/// The accounts, in the order the config lists them, and the registration tests in flight.
pub(crate) struct Registrations {
    accounts: Vec<Account>,
    /// Registration tests in flight: the test account's id and the name the form gave it.
    probes: HashMap<AccountId, String>,
}

impl Registrations {
    pub(crate) fn new(accounts: Vec<api::Account>) -> Self {
        Self {
            accounts: accounts.into_iter().map(Account::new).collect(),
            probes: HashMap::new(),
        }
    }

    /// Registers the accounts that ask for it.
    pub(crate) fn start(&mut self, ua: &mut UserAgent, now: Instant, out: &mut VecDeque<Output>) {
        for account in &mut self.accounts {
            account.add(ua, now);
            if account.settings.register {
                // Registering, or failed (an account that cannot be used says why).
                emit(out, account);
            }
        }
    }

    /// Puts new account settings in force: an unchanged account keeps its registration, a
    /// changed or new one registers afresh, and one no longer listed is un-registered —
    /// unless a new account has its address-of-record, whose REGISTER takes its binding over.
    pub(crate) fn reconfigure(
        &mut self,
        ua: &mut UserAgent,
        now: Instant,
        accounts: Vec<api::Account>,
        out: &mut VecDeque<Output>,
    ) {
        let mut old = std::mem::take(&mut self.accounts);
        for settings in accounts {
            if let Some(index) = old.iter().position(|a| a.settings == settings) {
                self.accounts.push(old.swap_remove(index));
                continue;
            }
            let mut account = Account::new(settings);
            account.add(ua, now);
            if account.settings.register {
                emit(out, &account);
            }
            self.accounts.push(account);
        }
        for gone in old {
            let Some(id) = gone.id else { continue };
            if self
                .accounts
                .iter()
                .any(|a| a.registers() && a.settings.aor == gone.settings.aor)
            {
                ua.forget(id);
            } else {
                ua.unregister(now, id);
            }
        }
    }

    /// REGISTERs once as `account` (not one of the phone's accounts); the outcome comes as
    /// [`Event::RegistrationTest`] (at once, when the account cannot be used).
    pub(crate) fn test(
        &mut self,
        ua: &mut UserAgent,
        now: Instant,
        account: api::Account,
        out: &mut VecDeque<Output>,
    ) {
        match resolve(&account) {
            Ok(resolved) => {
                let id = ua.register(now, resolved.sip);
                self.probes.insert(id, account.name);
            }
            Err(e) => out.push_back(Output::Event(Box::new(Event::RegistrationTest {
                account: account.name,
                registered: false,
                detail: e.to_string(),
            }))),
        }
    }

    /// Follows the user agent's registration events; `false` for any other event.
    pub(crate) fn on_sip_event(
        &mut self,
        ua: &mut UserAgent,
        now: Instant,
        event: &sip::Event,
        out: &mut VecDeque<Output>,
    ) -> bool {
        match event {
            sip::Event::Registered { account, expires } => {
                if !self.probe_outcome(ua, now, *account, Ok(*expires), out)
                    && let Some(a) = self.by_id(*account)
                {
                    info!(account = %a.settings.name, ?expires, "registered");
                    a.state = RegistrationState::Registered;
                    a.reason = None;
                    emit(out, a);
                }
            }
            sip::Event::RegistrationFailed { account, reason } => {
                if !self.probe_outcome(ua, now, *account, Err(reason), out)
                    && let Some(a) = self.by_id(*account)
                {
                    a.state = RegistrationState::Failed;
                    a.reason = Some(reason.to_string());
                    emit(out, a);
                }
            }
            sip::Event::Unregistered { account } => {
                if let Some(a) = self.by_id(*account) {
                    a.state = RegistrationState::Unregistered;
                    emit(out, a);
                }
            }
            _ => return false,
        }
        true
    }

    /// Handles a REGISTER outcome if it was a test's; `false` when it was not. The test's
    /// binding is removed again, unless one of the phone's accounts has the same
    /// address-of-record (its own refreshes keep it).
    fn probe_outcome(
        &mut self,
        ua: &mut UserAgent,
        now: Instant,
        id: AccountId,
        outcome: Result<Duration, &RegistrationFailure>,
        out: &mut VecDeque<Output>,
    ) -> bool {
        let Some(name) = self.probes.remove(&id) else {
            return false;
        };
        let registered = outcome.is_ok();
        let detail = match outcome {
            Ok(expires) => format!("registered for {} s", expires.as_secs()),
            Err(why) => why.to_string(),
        };
        let shared = ua.account(id).is_some_and(|probe| {
            self.accounts.iter().any(|a| {
                a.settings.aor.trim() == probe.aor
                    && matches!(
                        a.state,
                        RegistrationState::Registered | RegistrationState::Registering
                    )
            })
        });
        if registered && !shared {
            ua.unregister(now, id);
        } else {
            ua.forget(id);
        }
        out.push_back(Output::Event(Box::new(Event::RegistrationTest {
            account: name,
            registered,
            detail,
        })));
        true
    }

    fn by_id(&mut self, id: AccountId) -> Option<&mut Account> {
        self.accounts.iter_mut().find(|a| a.id == Some(id))
    }

    /// Every account's registration, in config order.
    pub(crate) fn views(&self) -> Vec<RegistrationView> {
        self.accounts.iter().map(Account::view).collect()
    }

    /// The position of the account named `name`.
    pub(crate) fn index_of(&self, name: &str) -> Option<usize> {
        self.accounts.iter().position(|a| a.settings.name == name)
    }

    /// What the phone uses of the account at `index` (`None` when it cannot be used).
    pub(crate) fn settings(&self, index: usize) -> Option<&Resolved> {
        self.accounts.get(index).and_then(|a| a.resolved.as_ref())
    }

    /// The user agent's id of the account at `index`.
    pub(crate) fn sip_id(&self, index: usize) -> Option<AccountId> {
        self.accounts.get(index).and_then(|a| a.id)
    }

    /// The first account's settings (incoming calls are taken as its).
    pub(crate) fn first(&self) -> Option<&Resolved> {
        self.settings(0)
    }

    /// The domain of the first account's address-of-record, to dial bare numbers at.
    pub(crate) fn first_domain(&self) -> Option<&str> {
        self.first().and_then(|a| a.sip.aor.split('@').nth(1))
    }

    /// Whether there are no accounts.
    pub(crate) fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }
}

fn emit(out: &mut VecDeque<Output>, account: &Account) {
    out.push_back(Output::Event(Box::new(Event::Registration {
        registration: account.view(),
    })));
}
