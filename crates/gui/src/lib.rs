//! recall's agent desktop (egui/eframe). The window runs on the main thread; the core runs on
//! its own thread and is reached only through two one-way links: requests go out through a
//! sender the caller supplies, deliveries (events, refusals) come in through a [`Postbox`]
//! that wakes the window. The window reduces them into an [`AppState`] and draws it; views
//! return requests. Nothing here blocks on the network, the sound card or the disk.

pub mod i18n;
mod icons;
mod look;
mod settings;
mod settings_view;
mod state;
mod views;

use std::sync::mpsc;
use std::sync::{Arc, OnceLock};

use api::{Delivery, Request};

pub use look::{SCALE_RANGE, SCALES, Theme, contrast};
pub use settings::{
    AccountDraft, CODECS, FormError, SaveOutcome, SettingsDraft, SettingsTab, TestOutcome,
};
pub use state::{
    AppState, DeskSettings, RescheduleDraft, Target, TeamAction, call_state_key, kind_key,
    state_key, summary,
};
pub use views::{BadReschedule, desktop, mailto, parse_reschedule};

/// The core's way in: hands the window a delivery and wakes it, even while it is minimised.
#[derive(Clone)]
pub struct Postbox {
    tx: mpsc::Sender<Delivery>,
    ctx: Arc<OnceLock<egui::Context>>,
}

impl Postbox {
    /// Hands over one delivery.
    pub fn post(&self, delivery: Delivery) {
        if self.tx.send(delivery).is_ok()
            && let Some(ctx) = self.ctx.get()
        {
            ctx.request_repaint();
        }
    }
}

/// The window's end: what the core has posted.
pub struct Inbox {
    rx: mpsc::Receiver<Delivery>,
    ctx: Arc<OnceLock<egui::Context>>,
}

/// A linked postbox and inbox.
#[must_use]
pub fn mailbox() -> (Postbox, Inbox) {
    let (tx, rx) = mpsc::channel();
    let ctx = Arc::new(OnceLock::new());
    (
        Postbox {
            tx,
            ctx: ctx.clone(),
        },
        Inbox { rx, ctx },
    )
}

/// The desktop application.
pub struct Desktop {
    state: AppState,
    inbox: Inbox,
    send: Box<dyn Fn(Request)>,
    /// When the status (levels, registrations) was last asked for.
    status_asked: Option<std::time::Instant>,
}

impl Desktop {
    /// A desktop showing what arrives in `inbox` and sending the agent's requests to `send`.
    pub fn new(settings: DeskSettings, inbox: Inbox, send: Box<dyn Fn(Request)>) -> Self {
        send(Request::Directory);
        Self {
            state: AppState::new(settings),
            inbox,
            send,
            status_asked: None,
        }
    }

    /// Takes in everything posted so far.
    pub fn drain(&mut self) {
        while let Ok(delivery) = self.inbox.rx.try_recv() {
            self.state.apply(delivery);
        }
    }

    /// Draws one frame into `ui` and sends what the agent asked for.
    pub fn frame(&mut self, ui: &mut egui::Ui) {
        self.drain();
        let requests = desktop(ui, &mut self.state, time::OffsetDateTime::now_utc());
        for request in requests {
            (self.send)(request);
        }
        // Durations and countdowns tick while something is live.
        if !self.state.live_calls().is_empty() || !self.state.ringing().is_empty() {
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(500));
        }
        // Levels move: the Settings window's meters four times a second, the status bar's
        // once a second during calls.
        let every = if self.state.settings_window.is_some() {
            Some(std::time::Duration::from_millis(250))
        } else if !self.state.live_calls().is_empty() {
            Some(std::time::Duration::from_secs(1))
        } else {
            None
        };
        if let Some(every) = every {
            let now = std::time::Instant::now();
            if self.status_asked.is_none_or(|at| now - at >= every) {
                self.status_asked = Some(now);
                (self.send)(Request::Status);
            }
            ui.ctx().request_repaint_after(every);
        }
    }

    /// The state, for tests and benchmarks.
    #[must_use]
    pub fn state(&self) -> &AppState {
        &self.state
    }
}

impl eframe::App for Desktop {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        // Runs even while the window is hidden: a callback is never missed for want of a draw.
        let _ = self.inbox.ctx.set(ctx.clone());
        self.drain();
        if !self.state.ringing().is_empty() {
            ctx.send_viewport_cmd(egui::ViewportCommand::RequestUserAttention(
                egui::UserAttentionType::Critical,
            ));
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let _ = self.inbox.ctx.set(ui.ctx().clone());
        self.frame(ui);
    }
}

/// Opens the window and runs it until it is closed.
///
/// # Errors
/// When no window can be opened (no display).
pub fn run(desktop: Desktop, title: &str) -> Result<(), eframe::Error> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_inner_size([1280.0, 800.0])
            .with_title(title),
        ..Default::default()
    };
    eframe::run_native(title, options, Box::new(|_cc| Ok(Box::new(desktop))))
}
