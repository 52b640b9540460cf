//! Headset buttons and lights over the USB HID telephony page (HID Usage Tables, page 0x0B
//! Telephony and page 0x08 LEDs), pure: no device is opened here. The runtime reads the
//! device's report descriptor and input reports (hidraw) and writes the output reports this
//! crate makes.
//!
//! - [`descriptor::parse`] places every field of a report descriptor.
//! - [`Headset::input`] turns input reports into [`Button`] presses: the hook switch as a
//!   state (Jabra, EPOS) or as a toggle (Poly), mute, flash, redial and drop as presses,
//!   variable or array fields alike.
//! - [`Headset::action`] says what a press means for the call in hand ([`Action`]).
//! - [`Headset::lights`] makes the output reports that set the off-hook, ring and mute LEDs
//!   (and the telephony ringer) for a [`Lights`] state, however the device numbers them: one
//!   report with every LED or one report per LED.

pub mod descriptor;

use descriptor::{Direction, Field, Layout, Usage, Values, get_bits, set_bits};

/// The telephony page.
pub const TELEPHONY: u16 = 0x0B;
/// The LED page.
pub const LED: u16 = 0x08;

const HOOK_SWITCH: u16 = 0x20;
const FLASH: u16 = 0x21;
const REDIAL: u16 = 0x24;
const DROP: u16 = 0x26;
const PHONE_MUTE: u16 = 0x2F;
const RINGER: u16 = 0x9E;
const LED_MUTE: u16 = 0x09;
const LED_OFF_HOOK: u16 = 0x17;
const LED_RING: u16 = 0x18;

/// What the agent did on the headset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Button {
    /// The hook switch went off hook (the call button on a headset that reports the hook's state).
    OffHook,
    /// The hook switch went back on hook.
    OnHook,
    /// The call button on a headset that reports the hook switch as a press (a toggle).
    HookToggle,
    /// Mute pressed (the headset toggles; recall owns the state and lights the LED).
    Mute,
    /// Flash (hold or reject, as the call stands).
    Flash,
    /// Redial.
    Redial,
    /// Drop: end the call.
    Drop,
}

/// The call as the headset needs to know it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallState {
    /// A call is ringing in.
    pub ringing: bool,
    /// A call is connected (or being placed).
    pub in_call: bool,
}

/// What a press does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Answer the ringing call.
    Answer,
    /// Refuse the ringing call.
    Reject,
    /// End the call in hand.
    HangUp,
    /// Mute or unmute the microphone.
    ToggleMute,
    /// Hold or resume.
    ToggleHold,
    /// Call the last number again.
    Redial,
}

/// The lights to show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lights {
    /// On a call.
    pub off_hook: bool,
    /// A call is ringing in.
    pub ring: bool,
    /// The microphone is muted.
    pub mute: bool,
}

/// A device that is not a telephony headset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadsetError {
    /// The descriptor does not read.
    #[error(transparent)]
    Descriptor(#[from] descriptor::DescriptorError),
    /// No hook switch on the telephony page: not a headset recall can answer from.
    #[error(
        "not a telephony headset: its report descriptor has no hook switch (HID page 0x0B, usage 0x20)"
    )]
    NoHookSwitch,
}

/// One headset: its layout and the last state of its inputs.
#[derive(Debug, Clone)]
pub struct Headset {
    layout: Layout,
    /// The last value of every input field, by index into `layout.fields`.
    last: Vec<u32>,
    /// The hook switch's state as we last saw it (for headsets that report it absolutely).
    off_hook: bool,
}

impl Headset {
    /// A headset from its report descriptor.
    ///
    /// # Errors
    /// The descriptor does not read, or has no hook switch.
    pub fn new(descriptor: &[u8]) -> Result<Self, HeadsetError> {
        let layout = descriptor::parse(descriptor)?;
        let hook = |f: &Field| {
            f.direction == Direction::Input
                && match &f.values {
                    Values::Variable { usage, .. } => *usage == tel(HOOK_SWITCH),
                    Values::Array { usages, .. } => usages.contains(&tel(HOOK_SWITCH)),
                }
        };
        if !layout.fields.iter().any(hook) {
            return Err(HeadsetError::NoHookSwitch);
        }
        let last = vec![0; layout.fields.len()];
        Ok(Self {
            layout,
            last,
            off_hook: false,
        })
    }

    /// The layout read from the descriptor.
    #[must_use]
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The presses an input report carries (the report as hidraw gives it: the id byte first
    /// when the device numbers its reports). A report too short or for another id is ignored.
    pub fn input(&mut self, report: &[u8]) -> Vec<Button> {
        let (id, data) = if self.layout.numbered {
            match report.split_first() {
                Some((id, data)) => (*id, data),
                None => return Vec::new(),
            }
        } else {
            (0, report)
        };
        let mut pressed = Vec::new();
        let mut array_now: Vec<Usage> = Vec::new();
        let mut array_before: Vec<Usage> = Vec::new();
        for (i, field) in self.layout.fields.iter().enumerate() {
            if field.direction != Direction::Input || field.report_id != id {
                continue;
            }
            let Some(value) = get_bits(data, field.offset, field.size) else {
                continue;
            };
            let before = std::mem::replace(&mut self.last[i], value);
            match &field.values {
                Values::Variable { usage, relative } if usage.page == TELEPHONY => {
                    let rose = before == 0 && value != 0;
                    let fell = before != 0 && value == 0;
                    match (usage.id, relative) {
                        (HOOK_SWITCH, false) => {
                            if rose && !self.off_hook {
                                self.off_hook = true;
                                pressed.push(Button::OffHook);
                            } else if fell && self.off_hook {
                                self.off_hook = false;
                                pressed.push(Button::OnHook);
                            }
                        }
                        (HOOK_SWITCH, true) if rose => pressed.push(Button::HookToggle),
                        (id, _) if rose => pressed.extend(press(id)),
                        _ => {}
                    }
                }
                Values::Array { usages, min } => {
                    let pick = |v: u32| {
                        let index = i64::from(v) - i64::from(*min);
                        usize::try_from(index)
                            .ok()
                            .and_then(|i| usages.get(i))
                            .copied()
                    };
                    // Zero (or out of range) is "nothing pressed".
                    if value != 0 {
                        array_now.extend(pick(value));
                    }
                    if before != 0 {
                        array_before.extend(pick(before));
                    }
                }
                Values::Variable { .. } => {}
            }
        }
        // Array fields: a usage present now and not before was pressed; the hook switch in an
        // array is held while off hook.
        for usage in &array_now {
            if usage.page == TELEPHONY && !array_before.contains(usage) {
                if usage.id == HOOK_SWITCH {
                    if !self.off_hook {
                        self.off_hook = true;
                        pressed.push(Button::OffHook);
                    }
                } else {
                    pressed.extend(press(usage.id));
                }
            }
        }
        if array_before.contains(&tel(HOOK_SWITCH))
            && !array_now.contains(&tel(HOOK_SWITCH))
            && self.off_hook
        {
            self.off_hook = false;
            pressed.push(Button::OnHook);
        }
        pressed
    }

    /// What a press means for the call in hand, if anything.
    #[must_use]
    pub fn action(button: Button, call: CallState) -> Option<Action> {
        match (button, call.ringing, call.in_call) {
            (Button::OffHook | Button::HookToggle, true, _) => Some(Action::Answer),
            (Button::OnHook | Button::HookToggle | Button::Drop, false, true) => {
                Some(Action::HangUp)
            }
            (Button::Drop | Button::Flash, true, _) => Some(Action::Reject),
            (Button::Mute, _, true) => Some(Action::ToggleMute),
            (Button::Flash, false, true) => Some(Action::ToggleHold),
            (Button::Redial, false, false) => Some(Action::Redial),
            _ => None,
        }
    }

    /// Tells the headset the hook state recall decided (after the call ends from the screen, a
    /// headset that reports the hook absolutely goes back on hook with the off-hook light).
    pub fn set_off_hook(&mut self, off_hook: bool) {
        self.off_hook = off_hook;
    }

    /// The output reports that show `lights`, each as hidraw writes it (the id byte first,
    /// 0 when the device numbers no reports). Reports with none of the lights are not sent.
    #[must_use]
    pub fn lights(&self, lights: Lights) -> Vec<Vec<u8>> {
        let wanted = |usage: Usage| -> Option<bool> {
            match (usage.page, usage.id) {
                (LED, LED_OFF_HOOK) => Some(lights.off_hook),
                (LED, LED_RING) | (TELEPHONY, RINGER) => Some(lights.ring),
                (LED, LED_MUTE) => Some(lights.mute),
                _ => None,
            }
        };
        let mut reports = Vec::new();
        for ((direction, id), bits) in &self.layout.lengths {
            if *direction != Direction::Output {
                continue;
            }
            let mut data = vec![0u8; bits.div_ceil(8) as usize];
            let mut any = false;
            for field in &self.layout.fields {
                if field.direction != Direction::Output || field.report_id != *id {
                    continue;
                }
                if let Values::Variable { usage, .. } = &field.values
                    && let Some(on) = wanted(*usage)
                {
                    set_bits(&mut data, field.offset, field.size, u32::from(on));
                    any = true;
                }
            }
            if any {
                let mut report = Vec::with_capacity(data.len() + 1);
                report.push(*id);
                report.extend(data);
                reports.push(report);
            }
        }
        reports
    }
}

fn tel(id: u16) -> Usage {
    Usage {
        page: TELEPHONY,
        id,
    }
}

fn press(id: u16) -> Option<Button> {
    match id {
        PHONE_MUTE => Some(Button::Mute),
        FLASH => Some(Button::Flash),
        REDIAL => Some(Button::Redial),
        DROP => Some(Button::Drop),
        _ => None,
    }
}
