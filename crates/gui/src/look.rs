//! How the desktop looks: the theme (dark, light, or high contrast for low vision and bright
//! rooms) and the UI scale, both chosen in Settings → Appearance and applied on the next frame.

use egui::{Color32, Stroke, Visuals};

/// A colour theme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Theme {
    /// egui's dark theme.
    #[default]
    Dark,
    /// egui's light theme.
    Light,
    /// White and yellow on black, with strong outlines (contrast ratio 21:1 for text).
    HighContrast,
}

impl Theme {
    /// Every theme, in the order Settings offers them.
    pub const ALL: [Self; 3] = [Self::Dark, Self::Light, Self::HighContrast];

    /// Its name in the config (`dark`, `light`, `high_contrast`).
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Dark => "dark",
            Self::Light => "light",
            Self::HighContrast => "high_contrast",
        }
    }

    /// The theme the config names.
    #[must_use]
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code() == code.trim())
    }

    /// egui's visuals for it.
    #[must_use]
    pub fn visuals(self) -> Visuals {
        match self {
            Self::Dark => Visuals::dark(),
            Self::Light => Visuals::light(),
            Self::HighContrast => high_contrast(),
        }
    }
}

/// The UI scales Settings offers, in percent.
pub const SCALES: [u16; 7] = [75, 90, 100, 125, 150, 175, 200];

fn high_contrast() -> Visuals {
    let yellow = Color32::from_rgb(255, 220, 0);
    let mut v = Visuals::dark();
    v.override_text_color = Some(Color32::WHITE);
    v.panel_fill = Color32::BLACK;
    v.window_fill = Color32::BLACK;
    v.extreme_bg_color = Color32::BLACK;
    v.faint_bg_color = Color32::from_gray(24);
    v.code_bg_color = Color32::BLACK;
    v.window_stroke = Stroke::new(2.0, Color32::WHITE);
    v.hyperlink_color = Color32::from_rgb(0, 230, 255);
    v.selection.bg_fill = yellow;
    v.selection.stroke = Stroke::new(2.0, Color32::BLACK);
    v.widgets.noninteractive.bg_fill = Color32::BLACK;
    v.widgets.noninteractive.weak_bg_fill = Color32::BLACK;
    v.widgets.noninteractive.bg_stroke = Stroke::new(1.0, Color32::WHITE);
    v.widgets.noninteractive.fg_stroke = Stroke::new(1.0, Color32::WHITE);
    for widget in [&mut v.widgets.inactive, &mut v.widgets.open] {
        widget.bg_fill = Color32::BLACK;
        widget.weak_bg_fill = Color32::BLACK;
        widget.bg_stroke = Stroke::new(1.5, Color32::WHITE);
        widget.fg_stroke = Stroke::new(1.5, Color32::WHITE);
    }
    v.widgets.hovered.bg_fill = Color32::BLACK;
    v.widgets.hovered.weak_bg_fill = Color32::BLACK;
    v.widgets.hovered.bg_stroke = Stroke::new(2.5, yellow);
    v.widgets.hovered.fg_stroke = Stroke::new(2.0, yellow);
    v.widgets.active.bg_fill = yellow;
    v.widgets.active.weak_bg_fill = yellow;
    v.widgets.active.bg_stroke = Stroke::new(2.5, yellow);
    v.widgets.active.fg_stroke = Stroke::new(2.0, Color32::BLACK);
    v
}

/// The WCAG 2 contrast ratio of two colours (1 to 21).
#[must_use]
pub fn contrast(a: Color32, b: Color32) -> f32 {
    fn luminance(c: Color32) -> f32 {
        let channel = |v: u8| {
            let v = f32::from(v) / 255.0;
            if v <= 0.039_28 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(c.r()) + 0.7152 * channel(c.g()) + 0.0722 * channel(c.b())
    }
    let (la, lb) = (luminance(a), luminance(b));
    let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}
