//! The Team Communicator's watched colleagues: one subscription each, to their dialog state
//! (BLF, RFC 4235) or their presence (RFC 3856), read into idle / ringing / on a call /
//! offline / unknown.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use api::{Event, PresenceState, PresenceView};
use sip::{AccountId, Subscribe, SubscriptionId, UserAgent};
use tracing::{debug, info, warn};

use crate::phone::Output;

/// Which event package colleagues are watched with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WatchEvent {
    /// Not watched.
    #[default]
    Off,
    /// Their dialogs (BLF): ringing and on a call.
    Dialog,
    /// Their presence: open or closed (and on the phone, when the document says).
    Presence,
}

impl WatchEvent {
    fn package(self) -> Option<(&'static str, &'static str)> {
        match self {
            Self::Off => None,
            Self::Dialog => Some(("dialog", "application/dialog-info+xml")),
            Self::Presence => Some(("presence", "application/pidf+xml")),
        }
    }
}

/// Whom the phone watches, and how.
#[derive(Debug, Clone, Default)]
pub struct PresenceSettings {
    /// The event package.
    pub event: WatchEvent,
    /// (name, SIP URI) of each colleague.
    pub targets: Vec<(String, String)>,
}

/// How long a watch subscription asks to last.
const EXPIRES: Duration = Duration::from_secs(600);

struct Watched {
    name: String,
    uri: String,
    subscription: Option<SubscriptionId>,
    state: PresenceState,
    /// Their dialogs' states by dialog id (a partial dialog-info document updates these).
    dialogs: BTreeMap<String, String>,
}

impl Watched {
    fn view(&self) -> PresenceView {
        PresenceView {
            name: self.name.clone(),
            uri: self.uri.clone(),
            state: self.state,
        }
    }
}

/// The watched colleagues.
pub(crate) struct Presence {
    event: WatchEvent,
    watched: Vec<Watched>,
}

impl Presence {
    pub(crate) fn new(settings: PresenceSettings) -> Self {
        Self {
            event: settings.event,
            watched: settings
                .targets
                .into_iter()
                .map(|(name, uri)| Watched {
                    name,
                    uri,
                    subscription: None,
                    state: PresenceState::Unknown,
                    dialogs: BTreeMap::new(),
                })
                .collect(),
        }
    }

    pub(crate) fn views(&self) -> Vec<PresenceView> {
        self.watched.iter().map(Watched::view).collect()
    }

    /// Subscribes to every colleague not yet subscribed to, as `account` (its proxy and
    /// credentials) when there is one.
    pub(crate) fn watch(&mut self, ua: &mut UserAgent, now: Instant, account: Option<AccountId>) {
        let Some((event, accept)) = self.event.package() else {
            return;
        };
        for watched in self.watched.iter_mut().filter(|w| w.subscription.is_none()) {
            let asked = Subscribe {
                target: watched.uri.clone(),
                event: event.to_owned(),
                accept: accept.to_owned(),
                account,
                dest: None,
                expires: EXPIRES,
            };
            match ua.subscribe(now, asked) {
                Ok(id) => watched.subscription = Some(id),
                Err(e) => warn!(target = %watched.uri, error = %e, "cannot watch"),
            }
        }
    }

    /// Ends every subscription (the phone is stopping).
    pub(crate) fn unwatch(&mut self, ua: &mut UserAgent, now: Instant) {
        for watched in &mut self.watched {
            if let Some(id) = watched.subscription.take() {
                ua.unsubscribe(now, id);
            }
        }
    }

    /// Takes a NOTIFY or a failure of one of its subscriptions; `false` when the event is not
    /// about them.
    pub(crate) fn on_sip_event(&mut self, event: &sip::Event, out: &mut VecDeque<Output>) -> bool {
        let (id, state) = match event {
            sip::Event::Notified {
                subscription: Some(id),
                event,
                state,
                body,
                ..
            } => {
                let Some(watched) = self
                    .watched
                    .iter_mut()
                    .find(|w| w.subscription == Some(*id))
                else {
                    return false;
                };
                let text = String::from_utf8_lossy(body);
                let read = match event.as_str() {
                    _ if text.trim().is_empty() => {
                        // An empty NOTIFY (pending, or nothing published yet).
                        if *state == sip::SubscriptionState::Terminated {
                            Some(PresenceState::Unknown)
                        } else {
                            None
                        }
                    }
                    "dialog" => dialog_state(&text, &mut watched.dialogs),
                    "presence" => presence_state(&text),
                    _ => None,
                };
                match read {
                    Some(state) => (*id, state),
                    None => {
                        debug!(target = %watched.uri, "a NOTIFY that says nothing of the state");
                        return true;
                    }
                }
            }
            sip::Event::SubscriptionFailed { subscription, .. } => {
                if !self
                    .watched
                    .iter()
                    .any(|w| w.subscription == Some(*subscription))
                {
                    return false;
                }
                (*subscription, PresenceState::Unknown)
            }
            _ => return false,
        };
        if let Some(watched) = self.watched.iter_mut().find(|w| w.subscription == Some(id))
            && watched.state != state
        {
            info!(target = %watched.uri, state = state.as_str(), "colleague");
            watched.state = state;
            out.push_back(Output::Event(Box::new(Event::Presence {
                target: watched.view(),
            })));
        }
        true
    }
}

/// A dialog-info document (RFC 4235) folded into `dialogs` (a `full` one replaces them, a
/// `partial` one updates them): ringing while any dialog is early (or trying, proceeding),
/// on a call while any is confirmed, else idle. `None` when it is not dialog-info.
pub(crate) fn dialog_state(
    xml: &str,
    dialogs: &mut BTreeMap<String, String>,
) -> Option<PresenceState> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    let root = doc.root_element();
    if root.tag_name().name() != "dialog-info" {
        return None;
    }
    if root.attribute("state") != Some("partial") {
        dialogs.clear();
    }
    for dialog in root
        .children()
        .filter(|n| n.is_element() && n.tag_name().name() == "dialog")
    {
        let id = dialog.attribute("id").unwrap_or_default().to_owned();
        let state = dialog
            .children()
            .find(|n| n.is_element() && n.tag_name().name() == "state")
            .and_then(|n| n.text())
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if state == "terminated" {
            dialogs.remove(&id);
        } else {
            dialogs.insert(id, state);
        }
    }
    let any = |states: &[&str]| dialogs.values().any(|s| states.contains(&s.as_str()));
    Some(if any(&["confirmed"]) {
        PresenceState::OnCall
    } else if any(&["early", "trying", "proceeding"]) {
        PresenceState::Ringing
    } else {
        PresenceState::Idle
    })
}

/// A PIDF document (RFC 3863, with RPID's on-the-phone, RFC 4480): on a call, idle (`open`)
/// or offline (`closed`). `None` when it is not PIDF.
pub(crate) fn presence_state(xml: &str) -> Option<PresenceState> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    let root = doc.root_element();
    if root.tag_name().name() != "presence" {
        return None;
    }
    let named = |name: &str| {
        doc.descendants()
            .any(|n| n.is_element() && n.tag_name().name() == name)
    };
    if named("on-the-phone") {
        return Some(PresenceState::OnCall);
    }
    let open = doc
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "basic")
        .filter_map(|n| n.text())
        .any(|t| t.trim().eq_ignore_ascii_case("open"));
    Some(if open {
        PresenceState::Idle
    } else {
        PresenceState::Offline
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL_EARLY: &str = r#"<?xml version="1.0"?>
<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="1" state="full"
  entity="sip:bob@example.com">
  <dialog id="as7d900as8" call-id="a84b4c76e66710" direction="recipient">
    <state>early</state>
  </dialog>
</dialog-info>"#;

    #[test]
    fn dialog_info_reads_ringing_on_a_call_and_idle() {
        let mut dialogs = BTreeMap::new();
        assert_eq!(
            dialog_state(FULL_EARLY, &mut dialogs),
            Some(PresenceState::Ringing)
        );
        let confirmed = FULL_EARLY.replace("early", "confirmed");
        assert_eq!(
            dialog_state(&confirmed, &mut dialogs),
            Some(PresenceState::OnCall)
        );
        // A partial document ending the one dialog: idle.
        let ended = confirmed
            .replace("state=\"full\"", "state=\"partial\"")
            .replace("confirmed", "terminated");
        assert_eq!(
            dialog_state(&ended, &mut dialogs),
            Some(PresenceState::Idle)
        );
        let empty = r#"<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="0"
            state="full" entity="sip:bob@example.com"/>"#;
        assert_eq!(dialog_state(empty, &mut dialogs), Some(PresenceState::Idle));
        assert_eq!(dialog_state("<presence/>", &mut dialogs), None);
        assert_eq!(dialog_state("not xml <", &mut dialogs), None);
    }

    #[test]
    fn pidf_reads_open_closed_and_on_the_phone() {
        let pidf = |basic: &str, extra: &str| {
            format!(
                r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:bob@example.com"
                  xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"
                  xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid">
                  <tuple id="t1"><status><basic>{basic}</basic></status></tuple>{extra}</presence>"#
            )
        };
        assert_eq!(presence_state(&pidf("open", "")), Some(PresenceState::Idle));
        assert_eq!(
            presence_state(&pidf("closed", "")),
            Some(PresenceState::Offline)
        );
        let busy = "<dm:person id=\"p\"><rpid:activities><rpid:on-the-phone/></rpid:activities></dm:person>";
        assert_eq!(
            presence_state(&pidf("open", busy)),
            Some(PresenceState::OnCall)
        );
        assert_eq!(presence_state("<dialog-info/>"), None);
    }
}
