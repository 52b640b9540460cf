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

pub use look::{SCALES, Theme, contrast};
pub use settings::{
    AccountDraft, CODECS, FormError, SaveOutcome, SettingsDraft, SettingsTab, TestOutcome,
};
pub use state::{
    AppState, DeskSettings, RescheduleDraft, Target, TeamAction, WindowState, call_state_key,
    kind_key, state_key, summary,
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

/// What the tray (or the process) asks of the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeskCommand {
    /// Show the window again (it was closed to the tray or minimised).
    Show,
    /// Close the window for good: recall stops (and un-registers).
    Quit,
    /// Accept the oldest ringing callback (a global shortcut).
    Accept,
    /// Reject the oldest ringing callback (a global shortcut).
    Reject,
}

/// A way to the window from other threads: the tray's menu, the signal that stops recall.
#[derive(Clone)]
pub struct Control {
    tx: mpsc::Sender<DeskCommand>,
    ctx: Arc<OnceLock<egui::Context>>,
    /// The language the window speaks now (0 English, 1 Spanish), for the tray's words.
    language: Arc<std::sync::atomic::AtomicU8>,
}

impl Control {
    /// The language the window speaks now (switched live in Settings).
    #[must_use]
    pub fn language(&self) -> i18n::Language {
        match self.language.load(std::sync::atomic::Ordering::Relaxed) {
            1 => i18n::Language::Spanish,
            _ => i18n::Language::English,
        }
    }

    fn set_language(&self, language: i18n::Language) {
        let code = u8::from(language == i18n::Language::Spanish);
        self.language
            .store(code, std::sync::atomic::Ordering::Relaxed);
    }

    /// Asks the window for `command` and wakes it.
    pub fn send(&self, command: DeskCommand) {
        if self.tx.send(command).is_ok()
            && let Some(ctx) = self.ctx.get()
        {
            ctx.request_repaint();
        }
    }
}

/// What the window must do now, from the state and whether its close button was pressed:
/// with a tray, closing hides the window and recall keeps running (and ringing); a callback
/// ringing in shows it again, raised above other windows until no callback rings; Quit (or
/// closing without a tray) lets it close.
pub fn window_commands(state: &mut AppState, close_requested: bool) -> Vec<egui::ViewportCommand> {
    use egui::ViewportCommand as V;
    let mut out = Vec::new();
    if state.window.quit {
        if !close_requested {
            out.push(V::Close);
        }
        return out;
    }
    if close_requested && state.window.tray {
        out.push(V::CancelClose);
        out.push(V::Visible(false));
        state.window.hidden = true;
    }
    match state.ringing().first().map(|i| i.id) {
        Some(id) if state.window.raised_for != Some(id) => {
            if state.window.hidden {
                out.push(V::Visible(true));
                state.window.hidden = false;
            }
            out.push(V::Minimized(false));
            out.push(V::WindowLevel(egui::WindowLevel::AlwaysOnTop));
            out.push(V::Focus);
            out.push(V::RequestUserAttention(egui::UserAttentionType::Critical));
            state.window.raised_for = Some(id);
        }
        Some(_) => {}
        None if state.window.raised_for.is_some() => {
            out.push(V::WindowLevel(egui::WindowLevel::Normal));
            state.window.raised_for = None;
        }
        None => {}
    }
    out
}

/// The desktop application.
pub struct Desktop {
    state: AppState,
    inbox: Inbox,
    send: Box<dyn Fn(Request)>,
    /// When the status (levels, registrations) was last asked for.
    status_asked: Option<std::time::Instant>,
    commands: mpsc::Receiver<DeskCommand>,
    control: Control,
}

impl Desktop {
    /// A desktop showing what arrives in `inbox` and sending the agent's requests to `send`.
    pub fn new(settings: DeskSettings, inbox: Inbox, send: Box<dyn Fn(Request)>) -> Self {
        send(Request::Directory);
        let (tx, commands) = mpsc::channel();
        let control = Control {
            tx,
            ctx: inbox.ctx.clone(),
            language: Arc::default(),
        };
        control.set_language(settings.language);
        Self {
            state: AppState::new(settings),
            inbox,
            send,
            status_asked: None,
            commands,
            control,
        }
    }

    /// The way to this window from other threads.
    #[must_use]
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// Whether a tray icon keeps recall running when the window is closed.
    pub fn set_tray(&mut self, tray: bool) {
        self.state.window.tray = tray;
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
        self.control.set_language(self.state.settings.language);
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
        self.tick(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let _ = self.inbox.ctx.set(ui.ctx().clone());
        self.frame(ui);
    }
}

impl Desktop {
    /// What runs every pass, even while the window is hidden (a callback is never missed for
    /// want of a draw): takes in what was posted and asked, and tells the window what to do.
    pub fn tick(&mut self, ctx: &egui::Context) {
        let _ = self.inbox.ctx.set(ctx.clone());
        self.drain();
        while let Ok(command) = self.commands.try_recv() {
            match command {
                DeskCommand::Show => {
                    self.state.window.hidden = false;
                    ctx.send_viewport_cmd(egui::ViewportCommand::Visible(true));
                    ctx.send_viewport_cmd(egui::ViewportCommand::Minimized(false));
                    ctx.send_viewport_cmd(egui::ViewportCommand::Focus);
                }
                DeskCommand::Quit => self.state.window.quit = true,
                DeskCommand::Accept | DeskCommand::Reject => {
                    if let Some(id) = self.state.ringing().first().map(|i| i.id) {
                        let command = if command == DeskCommand::Accept {
                            api::InteractionCommand::Accept
                        } else {
                            api::InteractionCommand::Reject { status: None }
                        };
                        (self.send)(Request::Interaction { id, command });
                    }
                }
            }
        }
        let close_requested = ctx.input(|i| i.viewport().close_requested());
        for command in window_commands(&mut self.state, close_requested) {
            ctx.send_viewport_cmd(command);
        }
        if !self.state.ringing().is_empty() || self.state.window.hidden {
            // Hidden, the window still takes in what the core posts: it wakes on each post.
            ctx.request_repaint_after(std::time::Duration::from_millis(500));
        }
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
