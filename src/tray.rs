//! The tray icon (StatusNotifierItem over D-Bus, through `ksni`): the agent's status, Ready
//! and Not Ready for voice, the window shown again, and Quit — which closes the window for
//! good, so the core stops and un-registers. While the tray is up, closing the window only
//! hides it: recall keeps running and a callback ringing in brings the window back.

use api::{AgentState, AgentStatus, Request};
use gui::i18n;
use gui::{Control, DeskCommand};
use ksni::blocking::TrayMethods;

/// What the tray shows and whom it tells.
pub(crate) struct Tray {
    /// The agent's state per channel (from the core's deliveries).
    pub(crate) agent: AgentStatus,
    /// Callbacks ringing now (the icon asks for attention while any do).
    pub(crate) ringing: std::collections::BTreeSet<api::InteractionId>,
    send: Box<dyn Fn(Request) + Send>,
    control: Control,
}

impl Tray {
    pub(crate) fn new(send: Box<dyn Fn(Request) + Send>, control: Control) -> Self {
        Self {
            agent: AgentStatus::default(),
            ringing: std::collections::BTreeSet::new(),
            send,
            control,
        }
    }

    fn ready(&self) -> bool {
        self.agent.voice == AgentState::Ready
    }

    fn status_line(&self) -> String {
        // The tray's thread speaks the window's language of the moment.
        i18n::set_language(self.control.language());
        if self.ready() {
            i18n::text("agent-voice-ready", &[])
        } else {
            i18n::text("agent-voice-not-ready", &[])
        }
    }
}

impl ksni::Tray for Tray {
    fn id(&self) -> String {
        "recall".to_owned()
    }

    fn title(&self) -> String {
        format!("recall — {}", self.status_line())
    }

    fn icon_name(&self) -> String {
        // The .deb installs it into the hicolor theme.
        "recall".to_owned()
    }

    fn status(&self) -> ksni::Status {
        if !self.ringing.is_empty() {
            ksni::Status::NeedsAttention
        } else {
            ksni::Status::Active
        }
    }

    fn activate(&mut self, _x: i32, _y: i32) {
        self.control.send(DeskCommand::Show);
    }

    fn menu(&self) -> Vec<ksni::MenuItem<Self>> {
        use ksni::menu::{CheckmarkItem, StandardItem};
        // The tray's thread speaks the window's language of the moment.
        i18n::set_language(self.control.language());
        vec![
            StandardItem {
                label: self.status_line(),
                enabled: false,
                ..Default::default()
            }
            .into(),
            CheckmarkItem {
                label: i18n::text("tray-ready", &[]),
                checked: self.ready(),
                activate: Box::new(|tray: &mut Self| {
                    let voice = if tray.ready() {
                        AgentState::NotReady
                    } else {
                        AgentState::Ready
                    };
                    tray.agent.voice = voice;
                    (tray.send)(Request::Agent {
                        voice: Some(voice),
                        web_callback: None,
                    });
                }),
                ..Default::default()
            }
            .into(),
            StandardItem {
                label: i18n::text("tray-show", &[]),
                activate: Box::new(|tray: &mut Self| tray.control.send(DeskCommand::Show)),
                ..Default::default()
            }
            .into(),
            ksni::MenuItem::Separator,
            StandardItem {
                label: i18n::text("tray-quit", &[]),
                activate: Box::new(|tray: &mut Self| tray.control.send(DeskCommand::Quit)),
                ..Default::default()
            }
            .into(),
        ]
    }
}

/// A running tray: the core's deliveries update it.
pub(crate) type Handle = ksni::blocking::Handle<Tray>;

/// Puts the icon in the tray, or says why there is none (no session bus, no tray host): the
/// window then closes as an ordinary window does.
pub(crate) fn spawn(tray: Tray) -> Result<Handle, String> {
    tray.spawn().map_err(|e| e.to_string())
}

/// Keeps the tray's view of the agent in step with a delivery.
pub(crate) fn follow(handle: &Handle, delivery: &api::Delivery) {
    use api::{Delivery, Event, Reply};
    match delivery {
        Delivery::Event(Event::Agent { agent }) => {
            let agent = *agent;
            handle.update(move |tray| tray.agent = agent);
        }
        Delivery::Reply(Reply::Status(status)) => {
            let agent = status.agent;
            handle.update(move |tray| tray.agent = agent);
        }
        Delivery::Event(Event::Interaction { interaction }) => {
            let id = interaction.id;
            let ringing = interaction.state == api::InteractionState::Notified;
            handle.update(move |tray| {
                if ringing {
                    tray.ringing.insert(id);
                } else {
                    tray.ringing.remove(&id);
                }
            });
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ksni::Tray as _;

    fn activate(tray: &mut Tray, label: &str) {
        let menu = tray.menu();
        for item in menu {
            match item {
                ksni::MenuItem::Standard(item) if item.label == label => {
                    (item.activate)(tray);
                    return;
                }
                ksni::MenuItem::Checkmark(item) if item.label == label => {
                    (item.activate)(tray);
                    return;
                }
                _ => {}
            }
        }
        panic!("no {label:?} in the tray's menu");
    }

    #[test]
    fn the_menu_sets_ready_shows_the_window_and_quits_in_the_agents_language() {
        let (sent_tx, sent) = std::sync::mpsc::channel();
        let (_postbox, inbox) = gui::mailbox();
        let settings = gui::DeskSettings {
            language: gui::i18n::Language::Spanish,
            ..gui::DeskSettings::default()
        };
        let desktop = gui::Desktop::new(settings, inbox, Box::new(|_| {}));
        let mut tray = Tray::new(
            Box::new(move |r| {
                let _ = sent_tx.send(r);
            }),
            desktop.control(),
        );
        assert_eq!(tray.title(), "recall — Voz: Disponible");
        let labels: Vec<String> = tray
            .menu()
            .iter()
            .filter_map(|item| match item {
                ksni::MenuItem::Standard(i) => Some(i.label.clone()),
                ksni::MenuItem::Checkmark(i) => Some(format!("[{}] {}", i.checked, i.label)),
                _ => None,
            })
            .collect();
        assert_eq!(
            labels,
            [
                "Voz: Disponible",
                "[true] Disponible",
                "Mostrar recall",
                "Salir"
            ]
        );
        activate(&mut tray, "Disponible");
        assert_eq!(
            sent.try_recv().expect("asked"),
            Request::Agent {
                voice: Some(AgentState::NotReady),
                web_callback: None
            }
        );
        assert_eq!(tray.title(), "recall — Voz: No disponible");
        assert_eq!(tray.status(), ksni::Status::Active);
        tray.ringing.insert(api::InteractionId(1));
        assert_eq!(tray.status(), ksni::Status::NeedsAttention);
        activate(&mut tray, "Salir");
        activate(&mut tray, "Mostrar recall");
    }
}
