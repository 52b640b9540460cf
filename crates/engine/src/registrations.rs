//! The phone's accounts and their registrations: registering at start, following the user
//! agent's registration events, putting changed settings in force, and one-off registration
//! tests. A small state machine of its own: the phone hands it the user agent to act through
//! and the queue its events go to.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use api::{Event, RegistrationState, RegistrationView};
use sip::{AccountId, LookupId, RegistrationFailure, ResolveError, Resolver, Target, UserAgent};
use tracing::{info, warn};

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
    /// Where DNS located its registrar, when it is given by name.
    route: Option<Route>,
    /// Its mailbox subscription (RFC 3842), when it asks for the voicemail indicator.
    mwi: Option<sip::SubscriptionId>,
    /// What the mailbox last said.
    voicemail: Option<api::Voicemail>,
}

/// How long a mailbox subscription asks to last.
const MWI_EXPIRES: Duration = Duration::from_secs(3600);

/// The servers DNS located for an account's registrar (RFC 3263), and the one in use.
#[derive(Debug, Default)]
struct Route {
    /// The lookup in flight.
    lookup: Option<LookupId>,
    /// The targets in the order to try them.
    targets: Vec<Target>,
    /// The one in use.
    current: usize,
}

impl Route {
    fn target(&self) -> Option<&Target> {
        self.targets.get(self.current)
    }
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
            route: None,
            mwi: None,
            voicemail: None,
        }
    }

    fn view(&self) -> RegistrationView {
        let server = match (&self.route, &self.resolved) {
            (Some(route), _) => route.target().map(ToString::to_string),
            (None, Some(resolved)) => Some(resolved.sip.proxy.to_string()),
            (None, None) => None,
        };
        RegistrationView {
            account: self.settings.name.clone(),
            aor: self.settings.aor.clone(),
            state: self.state,
            reason: self.reason.clone(),
            server,
            voicemail: self.voicemail,
        }
    }

    /// Whether it registers (it asks to, and it can).
    fn registers(&self) -> bool {
        self.settings.register && self.resolved.is_some()
    }

    /// Adds it to the user agent: registering when it asks to, otherwise only lending its
    /// identity, proxy and credentials to calls. A registrar given by name is located first.
    fn add(
        &mut self,
        ua: &mut UserAgent,
        resolver: &mut Resolver,
        now: Instant,
        out: &mut VecDeque<Output>,
    ) {
        let Some(resolved) = self.resolved.as_ref() else {
            return;
        };
        if let Some(server) = resolved.locate.clone() {
            if self.settings.register {
                self.state = RegistrationState::Registering;
            }
            self.reason = Some(format!("looking up {} in DNS", server.host));
            self.route = Some(Route {
                lookup: Some(resolver.resolve(now, server)),
                ..Route::default()
            });
            return;
        }
        self.use_proxy(ua, now, out);
    }

    /// Adds it to the user agent with the proxy its settings (or DNS) give; over TLS, first
    /// tells the runtime whom the proxy's certificate must name.
    fn use_proxy(&mut self, ua: &mut UserAgent, now: Instant, out: &mut VecDeque<Output>) {
        let Some(mut config) = self.resolved.as_ref().map(|r| r.sip.clone()) else {
            return;
        };
        if let Some(target) = self.route.as_ref().and_then(Route::target) {
            config.proxy = target.dest;
            info!(account = %self.settings.name, %target, "registrar located");
            if let Some(resolved) = self.resolved.as_mut() {
                resolved.sip.proxy = target.dest;
            }
        }
        if let Some(peer) = self
            .resolved
            .as_ref()
            .and_then(|r| r.tls_peer(config.proxy))
        {
            if peer.insecure {
                warn!(
                    account = %self.settings.name,
                    server = %peer.addr,
                    "tls_insecure is set: the server's certificate is NOT checked; anyone on \
                     the path can read and change this account's signalling"
                );
            }
            out.push_back(Output::TlsPeer(peer));
        }
        let aor = config.aor.clone();
        let id = if self.settings.register {
            self.state = RegistrationState::Registering;
            ua.register(now, config)
        } else {
            ua.add_account(config)
        };
        self.id = Some(id);
        if self.settings.mwi && self.mwi.is_none() {
            let asked = sip::Subscribe {
                target: aor,
                event: "message-summary".to_owned(),
                accept: "application/simple-message-summary".to_owned(),
                account: Some(id),
                dest: None,
                expires: MWI_EXPIRES,
            };
            match ua.subscribe(now, asked) {
                Ok(subscription) => self.mwi = Some(subscription),
                Err(e) => {
                    warn!(account = %self.settings.name, error = %e, "cannot subscribe to the mailbox")
                }
            }
        }
    }

    /// What a message summary says of its mailbox, taken in; whether it changed anything.
    fn voicemail(&mut self, body: &[u8]) -> bool {
        let Some(summary) = sip::MessageSummary::parse(&String::from_utf8_lossy(body)) else {
            warn!(account = %self.settings.name, "a message summary without Messages-Waiting");
            return false;
        };
        let (new, old) = summary.voice.unwrap_or((0, 0));
        let voicemail = Some(api::Voicemail {
            waiting: summary.waiting,
            new,
            old,
        });
        info!(account = %self.settings.name, waiting = summary.waiting, new, old, "mailbox");
        let changed = self.voicemail != voicemail;
        self.voicemail = voicemail;
        changed
    }
}

/// The accounts, in the order the config lists them, and the registration tests in flight.
pub(crate) struct Registrations {
    accounts: Vec<Account>,
    /// Registration tests in flight: the test account's id and the name the form gave it.
    probes: HashMap<AccountId, String>,
    /// Registration tests waiting for DNS to locate their registrar.
    probe_lookups: HashMap<LookupId, (String, Resolved)>,
}

impl Registrations {
    pub(crate) fn new(accounts: Vec<api::Account>) -> Self {
        Self {
            accounts: accounts.into_iter().map(Account::new).collect(),
            probes: HashMap::new(),
            probe_lookups: HashMap::new(),
        }
    }

    /// Registers the accounts that ask for it.
    pub(crate) fn start(
        &mut self,
        ua: &mut UserAgent,
        resolver: &mut Resolver,
        now: Instant,
        out: &mut VecDeque<Output>,
    ) {
        for account in &mut self.accounts {
            account.add(ua, resolver, now, out);
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
        resolver: &mut Resolver,
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
            account.add(ua, resolver, now, out);
            if account.settings.register {
                emit(out, &account);
            }
            self.accounts.push(account);
        }
        for gone in old {
            if let Some(subscription) = gone.mwi {
                ua.unsubscribe(now, subscription);
            }
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
        resolver: &mut Resolver,
        now: Instant,
        account: api::Account,
        out: &mut VecDeque<Output>,
    ) {
        match resolve(&account) {
            Ok(resolved) => match resolved.locate.clone() {
                Some(server) => {
                    let lookup = resolver.resolve(now, server);
                    self.probe_lookups.insert(lookup, (account.name, resolved));
                }
                None => {
                    if let Some(peer) = resolved.tls_peer(resolved.sip.proxy) {
                        out.push_back(Output::TlsPeer(peer));
                    }
                    let id = ua.register(now, resolved.sip);
                    self.probes.insert(id, account.name);
                }
            },
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
                    if a.fail_over(ua, now, reason, out) {
                        emit(out, a);
                        return true;
                    }
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
            sip::Event::Notified {
                subscription,
                event,
                body,
                ..
            } if event == "message-summary" => {
                let mailbox = self.mailbox(*subscription, body);
                if let Some(a) = mailbox.and_then(|i| self.accounts.get_mut(i))
                    && a.voicemail(body)
                {
                    emit(out, a);
                }
            }
            sip::Event::SubscriptionFailed {
                subscription,
                status,
                reason,
                ..
            } if self.accounts.iter().any(|a| a.mwi == Some(*subscription)) => {
                if let Some(a) = self.accounts.iter().find(|a| a.mwi == Some(*subscription)) {
                    warn!(account = %a.settings.name, status, %reason, "the mailbox subscription failed");
                }
            }
            _ => return false,
        }
        true
    }

    /// The account a message summary is for: its subscription's; unsolicited, the account
    /// whose address-of-record the summary's `Message-Account` names, else the first one
    /// (a PBX sends them to the phone registered for the mailbox).
    fn mailbox(&self, subscription: Option<sip::SubscriptionId>, body: &[u8]) -> Option<usize> {
        if let Some(subscription) = subscription {
            return self
                .accounts
                .iter()
                .position(|a| a.mwi == Some(subscription));
        }
        let named = sip::MessageSummary::parse(&String::from_utf8_lossy(body))
            .and_then(|s| s.account)
            .and_then(|named| {
                let user = |uri: &str| {
                    uri.trim_start_matches('<')
                        .split(['>', ';'])
                        .next()
                        .unwrap_or_default()
                        .to_ascii_lowercase()
                };
                self.accounts
                    .iter()
                    .position(|a| user(&a.settings.aor) == user(&named))
            });
        named.or((!self.accounts.is_empty()).then_some(0))
    }

    /// Ends the mailbox subscriptions (the phone is stopping).
    pub(crate) fn unsubscribe_all(&mut self, ua: &mut UserAgent, now: Instant) {
        for account in &mut self.accounts {
            if let Some(subscription) = account.mwi.take() {
                ua.unsubscribe(now, subscription);
            }
        }
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

    /// A lookup finished: the account whose registrar it located registers through the
    /// first target, or fails naming the name that did not resolve.
    pub(crate) fn on_located(
        &mut self,
        ua: &mut UserAgent,
        now: Instant,
        lookup: LookupId,
        result: Result<Vec<Target>, ResolveError>,
        out: &mut VecDeque<Output>,
    ) {
        let result = result.map(|targets| reachable(ua, targets));
        if let Some((name, mut resolved)) = self.probe_lookups.remove(&lookup) {
            match result.as_deref().map(<[Target]>::first) {
                Ok(Some(target)) => {
                    resolved.sip.proxy = target.dest;
                    if let Some(peer) = resolved.tls_peer(target.dest) {
                        out.push_back(Output::TlsPeer(peer));
                    }
                    let id = ua.register(now, resolved.sip);
                    self.probes.insert(id, name);
                }
                Ok(None) | Err(_) => {
                    let detail = result.err().map_or_else(String::new, |e| e.to_string());
                    out.push_back(Output::Event(Box::new(Event::RegistrationTest {
                        account: name,
                        registered: false,
                        detail,
                    })));
                }
            }
            return;
        }
        let Some(a) = self
            .accounts
            .iter_mut()
            .find(|a| a.route.as_ref().is_some_and(|r| r.lookup == Some(lookup)))
        else {
            return;
        };
        let Some(route) = a.route.as_mut() else {
            return;
        };
        route.lookup = None;
        match result {
            Ok(targets) => {
                route.targets = targets;
                route.current = 0;
                a.reason = None;
                a.use_proxy(ua, now, out);
            }
            Err(e) => {
                warn!(account = %a.settings.name, error = %e, "registrar not located");
                a.state = RegistrationState::Failed;
                a.reason = Some(e.to_string());
            }
        }
        if a.settings.register {
            emit(out, a);
        }
    }

    fn by_id(&mut self, id: AccountId) -> Option<&mut Account> {
        self.accounts.iter_mut().find(|a| a.id == Some(id))
    }

    /// Every account's registration, in config order.
    /// The first account's id in the user agent, once it is there.
    pub(crate) fn first_id(&self) -> Option<AccountId> {
        self.accounts.first().and_then(|a| a.id)
    }

    /// Whether there is any account.
    pub(crate) fn any(&self) -> bool {
        !self.accounts.is_empty()
    }

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

impl Account {
    /// RFC 3263 §4.3: a transport error, a timeout or a 503 moves a located registrar's
    /// account on to the next target; `false` when there is none (or it was not located).
    fn fail_over(
        &mut self,
        ua: &mut UserAgent,
        now: Instant,
        why: &RegistrationFailure,
        out: &mut VecDeque<Output>,
    ) -> bool {
        let retry = matches!(
            why,
            RegistrationFailure::Timeout
                | RegistrationFailure::TransportError { .. }
                | RegistrationFailure::Rejected { status: 503, .. }
        );
        let Some(route) = self.route.as_mut() else {
            return false;
        };
        if !retry || route.current + 1 >= route.targets.len() {
            return false;
        }
        let failed = route.targets[route.current].to_string();
        route.current += 1;
        warn!(account = %self.settings.name, %failed, %why, "trying the next server");
        if let Some(id) = self.id.take() {
            ua.forget(id);
        }
        self.reason = Some(format!("{failed}: {why}; trying the next server"));
        self.use_proxy(ua, now, out);
        true
    }
}

/// The targets recall can send to from where it listens: an IPv6 address needs an IPv6
/// socket for its transport, an IPv4 one an IPv4 socket. When none fits, all are kept (the
/// send then fails and says why).
pub(crate) fn reachable(ua: &UserAgent, targets: Vec<Target>) -> Vec<Target> {
    let fits = |t: &Target| ua.local_addr_for(t.dest).is_some();
    if targets.iter().any(fits) {
        targets.into_iter().filter(fits).collect()
    } else {
        targets
    }
}

fn emit(out: &mut VecDeque<Output>, account: &Account) {
    out.push_back(Output::Event(Box::new(Event::Registration {
        registration: account.view(),
    })));
}
