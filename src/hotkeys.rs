//! Global shortcuts (X11, through `global-hotkey`): accept or reject the ringing callback
//! while another application has the keyboard. Wayland gives applications no global keys; there
//! the in-window F5 and F6 remain.

use global_hotkey::hotkey::HotKey;
use global_hotkey::{GlobalHotKeyEvent, GlobalHotKeyManager, HotKeyState};
use gui::{Control, DeskCommand};

/// The shortcuts by default: the in-window keys with Ctrl+Shift.
pub(crate) const ACCEPT: &str = "Ctrl+Shift+F5";
/// See [`ACCEPT`].
pub(crate) const REJECT: &str = "Ctrl+Shift+F6";

/// A shortcut from the config: `None` for `off` (or empty), else the key it names.
///
/// # Errors
/// The text names no key combination (`Ctrl+Shift+F5`, `Alt+A`, `Super+F12` …).
pub(crate) fn parse(
    key: &'static str,
    text: Option<&str>,
    default: &str,
) -> Result<Option<HotKey>, String> {
    let text = text.unwrap_or(default).trim();
    if text.is_empty() || text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    text.parse::<HotKey>().map(Some).map_err(|e| {
        format!(
            "config: desktop.{key} is {text:?}: {e}; write it like \"Ctrl+Shift+F5\", or \"off\""
        )
    })
}

/// The shortcuts, held while the window runs (dropping the manager releases them).
pub(crate) struct Shortcuts {
    _manager: GlobalHotKeyManager,
}

/// Grabs the shortcuts and sends what they ask to the window; says why when it cannot (no X11
/// display, a key another program holds).
pub(crate) fn spawn(
    accept: Option<HotKey>,
    reject: Option<HotKey>,
    control: Control,
) -> Result<Shortcuts, String> {
    let manager = GlobalHotKeyManager::new().map_err(|e| e.to_string())?;
    let mut ids = Vec::new();
    for (hotkey, command) in [(accept, DeskCommand::Accept), (reject, DeskCommand::Reject)] {
        if let Some(hotkey) = hotkey {
            manager.register(hotkey).map_err(|e| e.to_string())?;
            ids.push((hotkey.id(), command));
        }
    }
    GlobalHotKeyEvent::set_event_handler(Some(move |event: GlobalHotKeyEvent| {
        tracing::debug!(id = event.id(), state = ?event.state(), "global shortcut");
        if event.state() == HotKeyState::Pressed
            && let Some((_, command)) = ids.iter().find(|(id, _)| *id == event.id())
        {
            control.send(*command);
        }
    }));
    Ok(Shortcuts { _manager: manager })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortcuts_read_from_the_config_or_say_what_is_wrong() {
        assert!(
            parse("accept_shortcut", None, ACCEPT)
                .expect("default")
                .is_some()
        );
        assert!(
            parse("accept_shortcut", Some("off"), ACCEPT)
                .expect("off")
                .is_none()
        );
        assert!(
            parse("accept_shortcut", Some("Alt+F9"), ACCEPT)
                .expect("alt")
                .is_some()
        );
        let error = parse("reject_shortcut", Some("Ctrl+Banana"), REJECT).expect_err("bad");
        assert!(
            error.starts_with("config: desktop.reject_shortcut is \"Ctrl+Banana\": "),
            "{error}"
        );
    }
}
