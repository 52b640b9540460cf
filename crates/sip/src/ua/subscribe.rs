//! Subscriptions we hold (RFC 6665): SUBSCRIBE out (challenged, refreshed, ended), NOTIFY in.

#[allow(clippy::wildcard_imports)]
use super::*;
use crate::subscription::{
    StateHeader, Sub, Subscribe, SubscriptionId, SubscriptionState, refresh_after,
};

/// How long an unsubscribe may take before the subscription is forgotten anyway.
const UNSUBSCRIBE_GRACE: Duration = Duration::from_secs(32);
/// A refusal that may pass (a 404 before the colleague's phone exists, a 503): try again then.
const RETRY_REFUSED: Duration = Duration::from_secs(300);
/// No answer, or the transport failed: try again then.
const RETRY_UNANSWERED: Duration = Duration::from_secs(60);

impl UserAgent {
    /// Subscribes to `request.event` at `request.target`; its NOTIFYs come as
    /// [`Event::Notified`], a refusal as [`Event::SubscriptionFailed`].
    ///
    /// # Errors
    /// The target is not a SIP URI, or there is nowhere to send the SUBSCRIBE from or to.
    pub fn subscribe(
        &mut self,
        now: Instant,
        request: Subscribe,
    ) -> Result<SubscriptionId, CommandError> {
        self.now = now;
        let id = SubscriptionId(self.next_subscription);
        self.next_subscription += 1;
        let sub = self.new_subscription(request)?;
        self.subscription_dialogs.insert(
            (sub.dialog.call_id.clone(), sub.dialog.local_tag.clone()),
            id,
        );
        self.subscriptions_held.insert(id, sub);
        self.send_subscribe(id);
        Ok(id)
    }

    /// Ends a subscription: SUBSCRIBE with `Expires: 0` when it has a dialog, then it is
    /// forgotten (at the answer, or after a grace).
    pub fn unsubscribe(&mut self, now: Instant, id: SubscriptionId) {
        self.now = now;
        let Some(sub) = self.subscriptions_held.get_mut(&id) else {
            return;
        };
        if sub.ending {
            return;
        }
        sub.ending = true;
        self.timers.clear(TimerId::SubscribeRefresh(id));
        if sub.established && sub.state != SubscriptionState::Terminated {
            self.send_subscribe(id);
            self.timers
                .set(TimerId::SubscribeRefresh(id), self.now + UNSUBSCRIBE_GRACE);
        } else {
            self.forget_subscription(id);
        }
    }

    /// Where a subscription is.
    #[must_use]
    pub fn subscription_state(&self, id: SubscriptionId) -> Option<SubscriptionState> {
        self.subscriptions_held.get(&id).map(|s| s.state)
    }

    fn new_subscription(&mut self, request: Subscribe) -> Result<Sub, CommandError> {
        let target = sip_target(&request.target, "subscribed to")?;
        let account = request
            .account
            .and_then(|a| self.accounts.get(a.0 as usize))
            .map(|r| r.config.clone());
        let first_dest = request
            .dest
            .or(account.as_ref().map(|a| a.proxy))
            .or_else(|| uri_dest(&target, Transport::Udp))
            .ok_or_else(|| CommandError::Unroutable(request.target.clone()))?;
        let local = self.local_for(first_dest)?;
        let local_uri = match &account {
            Some(a) => format!("<{}>", a.aor),
            None => format!("<sip:{}@{}>", self.config.contact_user, sock_text(local)),
        };
        let dialog = Dialog {
            call_id: format!("{}@{}", self.token(20), local.ip()),
            local_tag: self.token(10),
            remote_tag: None,
            local_uri,
            remote_uri: format!("<{target}>"),
            local_seq: self.rng.u32(1..0x7fff_ffff),
            remote_seq: None,
            remote_target: target,
            route_set: Vec::new(),
            peer: first_dest,
        };
        Ok(Sub {
            request,
            dialog,
            first_dest,
            state: SubscriptionState::Subscribing,
            established: false,
            auth: None,
            auth_attempts: 0,
            tx: None,
            ending: false,
        })
    }

    /// Starts a subscription over in a new dialog (the notifier forgot the old one, or ended
    /// it and allows another).
    fn restart_subscription(&mut self, id: SubscriptionId) {
        let Some(old) = self.subscriptions_held.remove(&id) else {
            return;
        };
        self.subscription_dialogs
            .remove(&(old.dialog.call_id.clone(), old.dialog.local_tag.clone()));
        match self.new_subscription(old.request) {
            Ok(sub) => {
                self.subscription_dialogs.insert(
                    (sub.dialog.call_id.clone(), sub.dialog.local_tag.clone()),
                    id,
                );
                self.subscriptions_held.insert(id, sub);
                self.send_subscribe(id);
            }
            Err(e) => warn!(subscription = %id, error = %e, "cannot subscribe again"),
        }
    }

    fn forget_subscription(&mut self, id: SubscriptionId) {
        self.timers.clear(TimerId::SubscribeRefresh(id));
        if let Some(sub) = self.subscriptions_held.remove(&id) {
            self.subscription_dialogs
                .remove(&(sub.dialog.call_id, sub.dialog.local_tag));
        }
    }

    pub(super) fn on_subscribe_timer(&mut self, id: SubscriptionId) {
        let Some(sub) = self.subscriptions_held.get(&id) else {
            return;
        };
        if sub.ending {
            self.forget_subscription(id);
        } else if sub.state == SubscriptionState::Terminated || !sub.established {
            self.restart_subscription(id);
        } else {
            self.send_subscribe(id);
        }
    }

    fn send_subscribe(&mut self, id: SubscriptionId) {
        let Some(sub) = self.subscriptions_held.get_mut(&id) else {
            return;
        };
        let expires = if sub.ending {
            0
        } else {
            sub.request.expires.as_secs()
        };
        let established = sub.established;
        let first_dest = sub.first_dest;
        let Ok((builder, dest)) = sub.dialog.request(Method::Subscribe, None) else {
            return;
        };
        let dest = if established { dest } else { first_dest };
        let request_uri = sub.dialog.remote_target.to_string();
        let (event, accept) = (sub.request.event.clone(), sub.request.accept.clone());
        let account = sub
            .request
            .account
            .and_then(|a| self.accounts.get(a.0 as usize))
            .map(|r| r.config.clone());
        let authorization = match (
            &mut sub.auth,
            account.as_ref().and_then(|a| a.credentials.as_ref()),
        ) {
            (Some(auth), Some(credentials)) => {
                Some(auth.authorize(credentials, "SUBSCRIBE", &request_uri))
            }
            _ => None,
        };
        let Ok(local) = self.local_for(dest) else {
            self.subscription_failed(id, 503, "nowhere to send it from".to_owned(), None);
            return;
        };
        let user = account
            .as_ref()
            .and_then(|a| user_of(&a.aor))
            .unwrap_or_else(|| self.config.contact_user.clone());
        let via = self.via(dest.transport, local);
        let built = builder
            .header(HeaderName::Via, via)
            .and_then(|b| b.header(HeaderName::Contact, contact(&user, local, dest.transport)))
            .and_then(|b| b.header(HeaderName::Event, event))
            .and_then(|b| b.header(HeaderName::Accept, accept))
            .and_then(|b| b.header(HeaderName::Expires, expires.to_string()))
            .and_then(|b| b.header(HeaderName::Allow, ALLOW))
            .and_then(|b| b.header(HeaderName::UserAgent, self.config.user_agent.clone()));
        let Ok(mut builder) = built else {
            return;
        };
        if let Some((name, value)) = authorization {
            builder = match builder.header(name, value) {
                Ok(b) => b,
                Err(_) => return,
            };
        }
        let tx = self.send_request(builder.build(), dest, Owner::Subscription(id));
        if let Some(sub) = self.subscriptions_held.get_mut(&id) {
            sub.tx = tx;
        }
    }

    pub(super) fn on_subscribe_response(&mut self, id: SubscriptionId, response: &Response) {
        let status = response.status.code();
        if status < 200 {
            return;
        }
        let cnonce = self.token(16);
        let Some(sub) = self.subscriptions_held.get_mut(&id) else {
            return;
        };
        sub.tx = None;
        if sub.ending {
            self.forget_subscription(id);
            return;
        }
        if response.status.is_success() {
            sub.auth_attempts = 0;
            if !sub.established {
                sub.established = true;
                sub.dialog.remote_tag = tag_of(&response.headers, &HeaderName::To);
                if let Some(target) = contact_uri(&response.headers) {
                    sub.dialog.remote_target = target;
                }
                // RFC 3261 §12.1.2: the UAC's route set is the Record-Route reversed.
                let mut routes = record_routes(&response.headers);
                routes.reverse();
                sub.dialog.route_set = routes;
            }
            if sub.state == SubscriptionState::Subscribing {
                sub.state = SubscriptionState::Pending;
            }
            let granted = response
                .headers
                .typed::<Expires>()
                .and_then(Result::ok)
                .map_or(sub.request.expires, |Expires(s)| {
                    Duration::from_secs(u64::from(s))
                });
            self.timers.set(
                TimerId::SubscribeRefresh(id),
                self.now + refresh_after(granted),
            );
            return;
        }
        if matches!(status, 401 | 407) {
            let credentials = sub
                .request
                .account
                .and_then(|a| self.accounts.get(a.0 as usize))
                .and_then(|r| r.config.credentials.clone());
            let Some(sub) = self.subscriptions_held.get_mut(&id) else {
                return;
            };
            let auth = DigestAuth::from_response(response, cnonce);
            let refused =
                sub.auth_attempts >= 1 && !auth.as_ref().is_some_and(DigestAuth::is_stale);
            match auth {
                Some(auth) if credentials.is_some() && !refused && sub.auth_attempts < 3 => {
                    sub.auth_attempts += 1;
                    sub.auth = Some(auth);
                    self.send_subscribe(id);
                }
                _ => {
                    let realm = realm_of(response).unwrap_or_default();
                    self.subscription_failed(
                        id,
                        status,
                        format!("authentication failed (realm {realm:?})"),
                        None,
                    );
                }
            }
            return;
        }
        if status == 423
            && let Some(Ok(Expires(min))) = response
                .headers
                .get(&HeaderName::MinExpires)
                .map(|h| <Expires as sipx_sip::TypedHeader>::decode(&h.value()))
        {
            sub.request.expires = Duration::from_secs(u64::from(min));
            self.send_subscribe(id);
            return;
        }
        if status == 481 && sub.established {
            // RFC 6665 §4.1.2.2: the notifier no longer knows the subscription.
            self.restart_subscription(id);
            return;
        }
        let (status, reason) = status_line(response);
        // A notifier without the package will not grow one; anything else may pass.
        let retry = if matches!(status, 405 | 489 | 501) {
            None
        } else {
            let after = response
                .headers
                .get(&HeaderName::RetryAfter)
                .and_then(|h| {
                    String::from_utf8_lossy(&h.value())
                        .split(|c: char| !c.is_ascii_digit())
                        .next()
                        .and_then(|s| s.parse::<u64>().ok())
                })
                .map_or(RETRY_REFUSED, Duration::from_secs);
            Some(after)
        };
        self.subscription_failed(id, status, reason, retry);
    }

    pub(super) fn on_subscribe_unanswered(&mut self, id: SubscriptionId, timeout: bool) {
        let ending = self.subscriptions_held.get(&id).is_some_and(|s| s.ending);
        if ending {
            self.forget_subscription(id);
            return;
        }
        let reason = if timeout {
            "no answer".to_owned()
        } else {
            self.transport_detail
                .clone()
                .unwrap_or_else(|| "transport error".to_owned())
        };
        self.subscription_failed(id, 408, reason, Some(RETRY_UNANSWERED));
    }

    fn subscription_failed(
        &mut self,
        id: SubscriptionId,
        status: u16,
        reason: String,
        retry: Option<Duration>,
    ) {
        let Some(sub) = self.subscriptions_held.get_mut(&id) else {
            return;
        };
        sub.tx = None;
        sub.state = SubscriptionState::Terminated;
        warn!(subscription = %id, target = %sub.request.target, event = %sub.request.event,
            status, %reason, "subscription failed");
        self.timers.clear(TimerId::SubscribeRefresh(id));
        if let Some(retry) = retry {
            self.timers
                .set(TimerId::SubscribeRefresh(id), self.now + retry);
        }
        self.out.push_back(Output::Event(Event::SubscriptionFailed {
            subscription: id,
            status,
            reason,
            retry,
        }));
    }

    /// A NOTIFY in one of our subscriptions' dialogs (which it may create: RFC 6665
    /// §4.1.2.4 lets it come before the SUBSCRIBE's 2xx).
    pub(super) fn on_subscription_notify(
        &mut self,
        id: SubscriptionId,
        tx: TxId,
        request: &Request,
        source: Dest,
    ) {
        let package = event_package(request);
        let Some(sub) = self.subscriptions_held.get_mut(&id) else {
            self.reply(tx, request, 481, None);
            return;
        };
        if package != sub.request.event.to_ascii_lowercase() {
            self.reply(tx, request, 489, None);
            return;
        }
        let sequence = cseq_of(request);
        if let (Some(seen), Some(sequence)) = (sub.dialog.remote_seq, sequence)
            && sequence <= seen
        {
            self.reply(tx, request, 500, Some("Out of order CSeq"));
            return;
        }
        sub.dialog.remote_seq = sequence.or(sub.dialog.remote_seq);
        if !sub.established {
            sub.established = true;
            sub.dialog.remote_tag = tag_of(&request.headers, &HeaderName::From);
            sub.dialog.route_set = record_routes(&request.headers);
            sub.dialog.peer = source;
        }
        if let Some(target) = contact_uri(&request.headers) {
            sub.dialog.remote_target = target;
        }
        let header = StateHeader::parse(
            &header_text(&request.headers, &HeaderName::SubscriptionState).unwrap_or_default(),
        );
        sub.state = header.state;
        let ending = sub.ending;
        self.reply(tx, request, 200, None);
        if ending {
            return;
        }
        match header.state {
            SubscriptionState::Terminated => {
                self.timers.clear(TimerId::SubscribeRefresh(id));
                if let Some(wait) = header.resubscribe_after() {
                    self.timers
                        .set(TimerId::SubscribeRefresh(id), self.now + wait);
                }
            }
            _ => {
                if let Some(seconds) = header.expires {
                    self.timers.set(
                        TimerId::SubscribeRefresh(id),
                        self.now + refresh_after(Duration::from_secs(seconds)),
                    );
                }
            }
        }
        self.out.push_back(Output::Event(Event::Notified {
            subscription: Some(id),
            event: package,
            state: header.state,
            content_type: header_text(&request.headers, &HeaderName::ContentType),
            body: request.body().clone(),
        }));
    }

    /// A NOTIFY outside any dialog we know: an unsolicited message summary (RFC 3842 §3:
    /// Asterisk and others send them to registered phones) is taken; anything else is 481.
    pub(super) fn on_unsolicited_notify(&mut self, tx: TxId, request: &Request) -> bool {
        let package = event_package(request);
        if package != "message-summary" {
            return false;
        }
        self.reply(tx, request, 200, None);
        self.out.push_back(Output::Event(Event::Notified {
            subscription: None,
            event: package,
            state: SubscriptionState::Active,
            content_type: header_text(&request.headers, &HeaderName::ContentType),
            body: request.body().clone(),
        }));
        true
    }
}

/// The event package a request names (`Event: dialog;id=1` → `dialog`).
fn event_package(request: &Request) -> String {
    header_text(&request.headers, &HeaderName::Event)
        .map(|e| {
            e.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}
