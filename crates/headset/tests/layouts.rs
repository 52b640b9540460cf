//! Headset buttons and lights on three report layouts (fixtures/hid): every telephony control
//! in one numbered report, a report per LED with the hook switch as a toggle, and an
//! unnumbered array. Each test walks a call: it rings (ring light), the agent answers from the
//! headset (off-hook light), mutes (mute light), unmutes and hangs up (lights off).

use headset::descriptor::{self, Direction, Values};
use headset::{Action, Button, CallState, Headset, HeadsetError, Lights};

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/hid")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("fixture");
    text.lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .flat_map(str::split_whitespace)
        .map(|byte| u8::from_str_radix(byte, 16).expect("hex"))
        .collect()
}

const RINGING: CallState = CallState {
    ringing: true,
    in_call: false,
};
const CONNECTED: CallState = CallState {
    ringing: false,
    in_call: true,
};
const IDLE: CallState = CallState {
    ringing: false,
    in_call: false,
};

fn lights(off_hook: bool, ring: bool, mute: bool) -> Lights {
    Lights {
        off_hook,
        ring,
        mute,
    }
}

/// The buttons a report carries and what they do in `call`.
fn act(headset: &mut Headset, report: &[u8], call: CallState) -> Vec<Action> {
    headset
        .input(report)
        .into_iter()
        .filter_map(|b| Headset::action(b, call))
        .collect()
}

#[test]
fn one_report_layout_answers_mutes_and_hangs_up_with_its_lights() {
    let mut headset = Headset::new(&fixture("one-report.hex")).expect("a headset");
    let layout = headset.layout();
    assert!(layout.numbered);
    // Five inputs (hook, busy, mute, flash, redial), five outputs (four LEDs and the ringer).
    let count = |d| layout.fields.iter().filter(|f| f.direction == d).count();
    assert_eq!((count(Direction::Input), count(Direction::Output)), (5, 5));

    // Ringing: the ring LED (bit 2) and the ringer (bit 4) of report 2.
    assert_eq!(
        headset.lights(lights(false, true, false)),
        [vec![2, 0b1_0100]]
    );
    // The call button: hook switch off hook → answer.
    assert_eq!(
        act(&mut headset, &[2, 0b0000_0001], RINGING),
        [Action::Answer]
    );
    assert_eq!(
        headset.lights(lights(true, false, false)),
        [vec![2, 0b0001]]
    );
    // The same state again is no press.
    assert_eq!(act(&mut headset, &[2, 0b0000_0001], CONNECTED), []);
    // Mute pressed and released (relative: a press each time it rises).
    assert_eq!(
        act(&mut headset, &[2, 0b0000_0101], CONNECTED),
        [Action::ToggleMute]
    );
    assert_eq!(act(&mut headset, &[2, 0b0000_0001], CONNECTED), []);
    assert_eq!(headset.lights(lights(true, false, true)), [vec![2, 0b0011]]);
    assert_eq!(
        act(&mut headset, &[2, 0b0000_0101], CONNECTED),
        [Action::ToggleMute]
    );
    assert_eq!(act(&mut headset, &[2, 0b0000_0001], CONNECTED), []);
    // Flash holds.
    assert_eq!(
        act(&mut headset, &[2, 0b0000_1001], CONNECTED),
        [Action::ToggleHold]
    );
    assert_eq!(act(&mut headset, &[2, 0b0000_0001], CONNECTED), []);
    // Back on hook → hang up; every light off.
    assert_eq!(
        act(&mut headset, &[2, 0b0000_0000], CONNECTED),
        [Action::HangUp]
    );
    assert_eq!(headset.lights(Lights::default()), [vec![2, 0]]);
    // Idle: redial calls the last number; a report for another id or too short is ignored.
    assert_eq!(act(&mut headset, &[2, 0b0001_0000], IDLE), [Action::Redial]);
    assert_eq!(act(&mut headset, &[7, 0xFF], IDLE), []);
    assert_eq!(act(&mut headset, &[], IDLE), []);
}

#[test]
fn flash_while_ringing_rejects() {
    let mut headset = Headset::new(&fixture("one-report.hex")).expect("a headset");
    assert_eq!(act(&mut headset, &[2, 0b1000], RINGING), [Action::Reject]);
}

#[test]
fn report_per_led_layout_with_a_toggling_call_button() {
    let mut headset = Headset::new(&fixture("report-per-led.hex")).expect("a headset");
    // Volume keys in the consumer collection are not telephony: no press.
    assert_eq!(headset.input(&[3, 0b01]), []);
    // Ringing: three reports, one per LED, only the ring LED lit.
    assert_eq!(
        headset.lights(lights(false, true, false)),
        [vec![0x09, 0], vec![0x17, 0], vec![0x18, 1]]
    );
    // The call button is a toggle: press (rise) answers, the release does nothing.
    assert_eq!(headset.input(&[1, 0b001]), [Button::HookToggle]);
    assert_eq!(
        Headset::action(Button::HookToggle, RINGING),
        Some(Action::Answer)
    );
    assert_eq!(headset.input(&[1, 0b000]), []);
    assert_eq!(
        headset.lights(lights(true, false, false)),
        [vec![0x09, 0], vec![0x17, 1], vec![0x18, 0]]
    );
    assert_eq!(
        act(&mut headset, &[1, 0b010], CONNECTED),
        [Action::ToggleMute]
    );
    assert_eq!(act(&mut headset, &[1, 0b000], CONNECTED), []);
    assert_eq!(
        headset.lights(lights(true, false, true)),
        [vec![0x09, 1], vec![0x17, 1], vec![0x18, 0]]
    );
    // The next press of the call button hangs up; so does Drop.
    assert_eq!(act(&mut headset, &[1, 0b001], CONNECTED), [Action::HangUp]);
    assert_eq!(act(&mut headset, &[1, 0b000], CONNECTED), []);
    assert_eq!(act(&mut headset, &[1, 0b100], CONNECTED), [Action::HangUp]);
    assert_eq!(act(&mut headset, &[1, 0b000], RINGING), []);
    assert_eq!(act(&mut headset, &[1, 0b100], RINGING), [Action::Reject]);
}

#[test]
fn array_layout_holds_the_hook_while_other_buttons_come_and_go() {
    let mut headset = Headset::new(&fixture("array.hex")).expect("a headset");
    let layout = headset.layout();
    assert!(!layout.numbered);
    assert!(matches!(
        &layout.fields[0].values,
        Values::Array { usages, min: 1 } if usages.len() == 3
    ));
    // Unnumbered: output reports start with 0 for hidraw.
    assert_eq!(headset.lights(lights(false, true, false)), [vec![0, 0b010]]);
    assert_eq!(act(&mut headset, &[1, 0], RINGING), [Action::Answer]);
    assert_eq!(headset.lights(lights(true, false, false)), [vec![0, 0b001]]);
    // Mute held beside the hook, then released: one press; the hook stays off.
    assert_eq!(act(&mut headset, &[1, 2], CONNECTED), [Action::ToggleMute]);
    assert_eq!(act(&mut headset, &[1, 0], CONNECTED), []);
    assert_eq!(headset.lights(lights(true, false, true)), [vec![0, 0b101]]);
    // The slots may swap order: still no press.
    assert_eq!(act(&mut headset, &[0, 1], CONNECTED), []);
    // The hook released: hang up.
    assert_eq!(act(&mut headset, &[0, 0], CONNECTED), [Action::HangUp]);
    assert_eq!(headset.lights(Lights::default()), [vec![0, 0]]);
}

#[test]
fn a_mouse_or_a_broken_descriptor_is_refused_with_a_reason() {
    assert_eq!(
        Headset::new(&fixture("mouse.hex")).err(),
        Some(HeadsetError::NoHookSwitch)
    );
    let mut cut = fixture("one-report.hex");
    cut.truncate(cut.len() - 4);
    cut.push(0x26); // a two-byte item with one byte left
    cut.push(0x01);
    let error = Headset::new(&cut).expect_err("truncated");
    assert!(error.to_string().contains("ends inside an item"), "{error}");
}

#[test]
fn random_descriptors_and_reports_never_panic() {
    let mut rng = fastrand::Rng::with_seed(0x4844);
    let good = fixture("one-report.hex");
    for _ in 0..20_000 {
        let mut bytes = if rng.bool() {
            good.clone()
        } else {
            (0..rng.usize(0..64)).map(|_| rng.u8(..)).collect()
        };
        for _ in 0..rng.usize(0..4) {
            if !bytes.is_empty() {
                let i = rng.usize(..bytes.len());
                bytes[i] = rng.u8(..);
            }
        }
        let _ = descriptor::parse(&bytes);
        if let Ok(mut headset) = Headset::new(&bytes) {
            for _ in 0..8 {
                let report: Vec<u8> = (0..rng.usize(0..6)).map(|_| rng.u8(..)).collect();
                let _ = headset.input(&report);
            }
            let _ = headset.lights(lights(rng.bool(), rng.bool(), rng.bool()));
        }
    }
}
