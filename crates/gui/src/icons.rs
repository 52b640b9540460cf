//! Icons on the call actions and the toolbar: glyphs of the monochrome emoji and icon fonts
//! egui bundles (Noto Emoji, emoji-icon-font), so nothing is loaded at run time. A button
//! shows its icon before its words; screen readers and tests read the words alone.

use egui::{Color32, Response, RichText, Ui};

pub(crate) const CALL: &str = "📞";
pub(crate) const HANG_UP: &str = "📞";
pub(crate) const HOLD: &str = "⏸";
pub(crate) const RESUME: &str = "▶";
pub(crate) const MUTE: &str = "🔇";
pub(crate) const UNMUTE: &str = "🎤";
pub(crate) const TRANSFER: &str = "➡";
pub(crate) const CONSULT: &str = "💬";
pub(crate) const CONFERENCE: &str = "👥";
pub(crate) const KEYPAD: &str = "🔢";
pub(crate) const RECORD: &str = "⏺";
pub(crate) const STOP: &str = "⏹";
pub(crate) const SCHEDULE: &str = "📅";
pub(crate) const DONE: &str = "✔";
pub(crate) const PARTICIPANTS: &str = "👤";
pub(crate) const SETTINGS: &str = "⚙";
pub(crate) const REJECT: &str = "✖";
pub(crate) const COPY: &str = "📋";
pub(crate) const MAIL: &str = "✉";
pub(crate) const SAVE: &str = "💾";

/// Green for what starts a call, red for what ends or refuses one.
pub(crate) const GO: Color32 = Color32::from_rgb(60, 170, 80);
pub(crate) const STOP_RED: Color32 = Color32::from_rgb(210, 70, 60);

/// A button with an icon before its words, enabled or not; named by its words.
pub(crate) fn button(
    ui: &mut Ui,
    enabled: bool,
    icon: &str,
    color: Option<Color32>,
    text: &str,
) -> Response {
    let glyph = match color {
        Some(color) => RichText::new(icon).color(color),
        None => RichText::new(icon),
    };
    let response = ui.add_enabled(enabled, egui::Button::new((glyph, text)));
    name(&response, egui::Role::Button, enabled, text);
    response
}

/// A toggle with an icon before its words; named by its words.
pub(crate) fn toggle(ui: &mut Ui, on: &mut bool, icon: &str, text: &str) -> Response {
    let response = ui.toggle_value(on, format!("{icon} {text}"));
    name(&response, egui::Role::Button, true, text);
    response
}

/// The icon and words as one string (for menus and window titles).
pub(crate) fn with(icon: &str, text: &str) -> String {
    format!("{icon} {text}")
}

/// Names a widget by its words alone.
pub(crate) fn name(response: &Response, role: egui::Role, enabled: bool, text: &str) {
    response.widget_info(|| egui::WidgetInfo::labeled(role, enabled, text));
}
