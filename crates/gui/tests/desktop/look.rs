//! How the desktop looks and is reached: the high-contrast theme and the UI scale (chosen in
//! Settings, applied at once, saved), the layout at 1280×800 and 1920×1080 in both languages
//! (nothing off the screen, nothing on top of anything else), and every control of a working
//! call reachable with Tab in the order it reads.

use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable, by};
use gui::i18n::Language;
use gui::{AppState, Theme};

use super::{Desk, call, interaction, saved_settings, sized, state_with};

const CONTROLS: [Role; 7] = [
    Role::Button,
    Role::TextInput,
    Role::MultilineTextInput,
    Role::RadioButton,
    Role::ComboBox,
    Role::CheckBox,
    Role::DisclosureTriangle,
];

/// A callback being worked: connected, its case, contact, dispositions, note, responses.
fn working(language: Language) -> AppState {
    let mut state = state_with(
        vec![interaction(3, "connected", "immediate", Some(3))],
        vec![call(3, "connected", Some(3))],
    );
    state.settings.language = language;
    state.selected = Some(api::InteractionId(3));
    state
}

/// The enabled controls outside floating windows, with their bounds.
fn controls(h: &Harness<'static, Desk>) -> Vec<(String, egui::accesskit::Rect)> {
    controls_in(h, false)
}

/// The enabled controls (with those in floating windows: toasts, dialogs), with their bounds.
fn controls_in(h: &Harness<'static, Desk>, windows: bool) -> Vec<(String, egui::accesskit::Rect)> {
    let mut found = Vec::new();
    for node in h.query_all(by().predicate(|n| CONTROLS.contains(&n.role()))) {
        let mut up = node.parent();
        let mut in_window = false;
        while let Some(parent) = up {
            // The root is the viewport's own window; a floating one sits below it.
            if parent.accesskit_node().role() == Role::Window && parent.parent().is_some() {
                in_window = true;
                break;
            }
            up = parent.parent();
        }
        let ak = node.accesskit_node();
        if let (false, false, Some(bounds)) =
            (in_window && !windows, ak.is_disabled(), ak.bounding_box())
        {
            found.push((ak.label().unwrap_or_default(), bounds));
        }
    }
    found
}

#[test]
fn the_layout_holds_at_1280_by_800_and_1920_by_1080_in_both_languages() {
    for size in [[1280.0, 800.0], [1920.0, 1080.0]] {
        for language in Language::ALL {
            let mut h = sized(working(language), size);
            h.run();
            let found = controls(&h);
            assert!(
                found.len() > 20,
                "{size:?} {language:?}: {} controls",
                found.len()
            );
            for (label, r) in &found {
                assert!(
                    r.x0 >= -0.5 && r.x1 <= f64::from(size[0]) + 0.5 && r.y0 >= -0.5,
                    "{size:?} {language:?}: {label:?} is off the screen at {r:?}"
                );
            }
            for (i, (a, ra)) in found.iter().enumerate() {
                for (b, rb) in &found[i + 1..] {
                    let w = ra.x1.min(rb.x1) - ra.x0.max(rb.x0);
                    let t = ra.y1.min(rb.y1) - ra.y0.max(rb.y0);
                    assert!(
                        w <= 0.5 || t <= 0.5,
                        "{size:?} {language:?}: {a:?} {ra:?} overlaps {b:?} {rb:?}"
                    );
                }
            }
            // The call's actions all fit on the first screen, above the case.
            let hang_up = match language {
                Language::English => "Hang up",
                Language::Spanish => "Colgar",
            };
            let bounds = h
                .get_by_role_and_label(Role::Button, hang_up)
                .accesskit_node()
                .bounding_box()
                .expect("bounds");
            assert!(bounds.y1 < 200.0, "{size:?} {language:?}: {bounds:?}");
        }
    }
}

#[test]
fn every_control_of_a_working_call_is_reached_with_tab_in_reading_order() {
    let mut h = sized(working(Language::English), [1280.0, 800.0]);
    h.run();
    let all: Vec<String> = controls(&h)
        .into_iter()
        .map(|(label, _)| label)
        .filter(|label| !label.is_empty())
        .collect();
    let mut reached: Vec<(String, f64, f64)> = Vec::new();
    for _ in 0..all.len() + 10 {
        h.key_press(egui::Key::Tab);
        h.run();
        if let Some(node) = h.query_all(by().predicate(|n| n.is_focused())).next() {
            let ak = node.accesskit_node();
            let b = ak.bounding_box().expect("bounds");
            reached.push((ak.label().unwrap_or_default(), b.x0, b.y0));
        }
    }
    let names: Vec<&str> = reached.iter().map(|(l, _, _)| l.as_str()).collect();
    for control in &all {
        assert!(
            names.contains(&control.as_str()),
            "{control:?} is never reached with Tab: {names:?}"
        );
    }
    // The status bar first, then the lists on the left, then the call's actions.
    let first = |label: &str| {
        names
            .iter()
            .position(|n| *n == label)
            .unwrap_or_else(|| panic!("{label:?} not reached"))
    };
    assert!(first("Settings") < first("Number to dial"), "{names:?}");
    assert!(first("Number to dial") < first("Hang up"), "{names:?}");
    assert!(first("Hang up") < first("Hold"), "{names:?}");
    assert!(first("Hold") < first("Mute"), "{names:?}");
    assert!(first("Mute") < first("Transfer"), "{names:?}");
    assert!(first("Transfer") < first("Resolved"), "{names:?}");
    assert!(first("Resolved") < first("Note"), "{names:?}");
}

/// Presses Tab until every enabled control (in windows too) has had the focus; fails naming
/// the ones never reached.
fn assert_tab_reaches_everything(h: &mut Harness<'static, Desk>, view: &str) {
    let all: Vec<String> = controls_in(h, true)
        .into_iter()
        .map(|(label, _)| label)
        .filter(|label| !label.is_empty())
        .collect();
    let mut reached = Vec::new();
    for _ in 0..all.len() * 2 + 10 {
        h.key_press(egui::Key::Tab);
        h.run();
        if let Some(node) = h.query_all(by().predicate(|n| n.is_focused())).next() {
            reached.push(node.accesskit_node().label().unwrap_or_default());
        }
    }
    let missed: Vec<&String> = all.iter().filter(|c| !reached.contains(c)).collect();
    assert!(
        missed.is_empty(),
        "{view}: never reached with Tab: {missed:?}\nreached: {reached:?}"
    );
}

#[test]
fn every_view_is_walked_with_tab() {
    // A callback ringing: its toast's Accept and Reject.
    let ringing = state_with(
        vec![interaction(1, "notified", "immediate", Some(1))],
        vec![call(1, "ringing", Some(1))],
    );
    let mut h = sized(ringing, [1280.0, 800.0]);
    h.run();
    assert_tab_reaches_everything(&mut h, "a ringing callback");

    // A preview, then its reschedule dialog.
    let mut preview = state_with(vec![interaction(2, "previewing", "preview", None)], vec![]);
    preview.selected = Some(api::InteractionId(2));
    let mut h = sized(preview, [1280.0, 800.0]);
    h.run();
    assert_tab_reaches_everything(&mut h, "a preview");
    h.get_by_role_and_label(Role::Button, "Schedule callback")
        .click();
    h.run();
    assert_tab_reaches_everything(&mut h, "the reschedule dialog");

    // The Team Communicator from a working call.
    let mut h = sized(working(Language::English), [1280.0, 800.0]);
    h.run();
    h.get_by_role_and_label(Role::Button, "Transfer").click();
    h.run();
    assert_tab_reaches_everything(&mut h, "the Team Communicator");

    // Settings, every page.
    let mut h = sized(state_with(vec![], vec![]), [1280.0, 800.0]);
    h.run();
    h.state_mut().state.apply(saved_settings());
    h.run();
    for tab in ["Accounts", "Audio", "Codecs", "Callbacks", "Appearance"] {
        h.get_by_role_and_label(Role::Button, tab).click();
        h.run();
        assert_tab_reaches_everything(&mut h, &format!("Settings, {tab}"));
    }
}

#[test]
fn high_contrast_and_a_larger_scale_apply_at_once_and_are_saved() {
    let mut h = sized(working(Language::English), [1280.0, 800.0]);
    h.run();
    assert!((h.ctx.zoom_factor() - 1.0).abs() < f32::EPSILON);
    h.get_by_role_and_label(Role::Button, "Settings").click();
    h.run();
    h.state_mut().state.apply(saved_settings());
    h.run();
    h.get_by_role_and_label(Role::Button, "Appearance").click();
    h.run();
    h.get_by_role_and_label(Role::ComboBox, "Theme").click();
    h.run();
    h.get_by_label("High contrast").click();
    h.run();
    h.run();
    assert_eq!(h.state().state.settings.theme, Theme::HighContrast);
    let visuals = h.ctx.global_style().visuals.clone();
    assert_eq!(visuals.panel_fill, egui::Color32::BLACK);
    let text = visuals.override_text_color.expect("one text colour");
    let ratio = gui::contrast(text, visuals.panel_fill);
    assert!(ratio >= 7.0, "WCAG AAA needs 7:1, text has {ratio:.1}:1");
    let normal = egui::Visuals::dark();
    let normal_ratio = gui::contrast(normal.text_color(), normal.panel_fill);
    assert!(
        ratio > normal_ratio,
        "{ratio} vs the dark theme's {normal_ratio}"
    );

    h.get_by_role_and_label(Role::ComboBox, "Scale").click();
    h.run();
    h.get_by_label("150 %").click();
    h.run();
    h.run();
    assert!(
        (h.ctx.zoom_factor() - 1.5).abs() < f32::EPSILON,
        "{}",
        h.ctx.zoom_factor()
    );
    h.get_by_role_and_label(Role::Button, "Save").click();
    h.run();
    let saved = super::saved_request(&h.state().asked).expect("saved");
    assert_eq!(saved.theme.as_deref(), Some("high_contrast"));
    assert_eq!(saved.scale, Some(150));
}
