//! Headset buttons drive the call in hand, and the headset's lights follow the calls: a
//! callback rings (ring light), the call button answers it through its interaction (off-hook
//! light), mute toggles the microphone (mute light), on hook hangs up (lights off); flash
//! refuses the next one; a press with nothing to act on does nothing.

#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use crate::harness::{Ask, Host};
use crate::interactions::{drain, feed};
use api::{CallState, InteractionState};
use engine::{Reply, Request};
use headset::{Button, Lights};
use test_support::sip_fixture;

fn invite(call_id: &str) -> Vec<u8> {
    sip_fixture(
        "sip/invite-callback.sip",
        &[
            ("type", "immediate"),
            ("call_id", call_id),
            ("branch", &call_id.replace('@', "-")),
        ],
    )
}

fn press(host: &mut Host, now: Instant, button: Button) -> (Reply, Vec<String>) {
    let reply = host
        .phone
        .ask(now, Request::Headset(button))
        .expect("a headset press is never refused");
    (reply, drain(host))
}

fn lit(off_hook: bool, ring: bool, mute: bool) -> Lights {
    Lights {
        off_hook,
        ring,
        mute,
    }
}

#[test]
fn the_headset_answers_mutes_and_hangs_up_and_its_lights_follow() {
    let now = Instant::now();
    let mut host = Host::new("agent", "127.0.0.1:5073", 33600, 9, false, now);
    assert_eq!(host.phone.headset_lights(), Lights::default());
    // Idle: mute and on-hook have nothing to act on.
    for button in [Button::Mute, Button::OnHook, Button::Flash] {
        let (reply, sent) = press(&mut host, now, button);
        assert!(
            matches!(reply, Reply::Done) && sent.is_empty(),
            "{button:?}"
        );
    }

    feed(&mut host, now, &invite("hs-1@gms"));
    assert_eq!(host.phone.headset_lights(), lit(false, true, false));

    // The call button: the callback's interaction is accepted, the call answered.
    let t = now + Duration::from_secs(1);
    let (reply, sent) = press(&mut host, t, Button::OffHook);
    let Reply::Interaction(interaction) = reply else {
        panic!("the interaction: {reply:?}");
    };
    assert_eq!(interaction.state, InteractionState::Connected);
    let ok = sent
        .iter()
        .find(|m| m.starts_with("SIP/2.0 200 OK"))
        .unwrap_or_else(|| panic!("answered: {sent:?}"));
    let tag = ok
        .lines()
        .find(|l| l.starts_with("To:"))
        .and_then(|l| l.split("tag=").nth(1))
        .expect("a To tag")
        .trim()
        .to_owned();
    let ack = sip_fixture(
        "sip/ack-in-dialog.sip",
        &[
            ("to_tag", &tag),
            ("call_id", "hs-1@gms"),
            ("cseq", "1"),
            ("branch", "hs1"),
        ],
    );
    feed(&mut host, t, &ack);
    assert_eq!(host.phone.headset_lights(), lit(true, false, false));

    let (reply, _) = press(&mut host, t, Button::Mute);
    assert!(
        matches!(&reply, Reply::Call(view) if view.muted),
        "{reply:?}"
    );
    assert_eq!(host.phone.headset_lights(), lit(true, false, true));
    let (reply, _) = press(&mut host, t, Button::Mute);
    assert!(
        matches!(&reply, Reply::Call(view) if !view.muted),
        "{reply:?}"
    );
    assert_eq!(host.phone.headset_lights(), lit(true, false, false));

    // Back on hook: BYE, the call ends, every light goes out.
    let (_, sent) = press(&mut host, t + Duration::from_secs(5), Button::OnHook);
    assert!(sent.iter().any(|m| m.starts_with("BYE ")), "{sent:?}");
    let call = host.phone.calls().pop().expect("the call");
    assert_eq!(call.state, CallState::Ended);
    assert_eq!(host.phone.headset_lights(), Lights::default());

    // The next callback is refused with flash while it rings.
    let t = t + Duration::from_secs(10);
    feed(&mut host, t, &invite("hs-2@gms"));
    assert_eq!(host.phone.headset_lights(), lit(false, true, false));
    let (reply, sent) = press(&mut host, t, Button::Flash);
    assert!(
        matches!(&reply, Reply::Interaction(i) if i.state != InteractionState::Connected),
        "{reply:?}"
    );
    assert!(
        sent.iter()
            .any(|m| m.starts_with("SIP/2.0 4") || m.starts_with("SIP/2.0 6")),
        "refused: {sent:?}"
    );
    assert_eq!(host.phone.headset_lights(), Lights::default());
}
