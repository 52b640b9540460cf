//! Call recording in virtual time: policy `always` records a call from its start, pause
//! writes silence on both channels and says so in the timeline, `always` refuses a stop,
//! `never` refuses a start, and the call's end closes the file.

#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use crate::harness::{Ask, World, rms};
use api::{CallId, Command, RecordAction};
use engine::{RecordingOutput, RecordingPolicy, RecordingSettings};

fn world(policy: RecordingPolicy) -> World {
    World::registered_recording(
        11,
        0.0,
        Duration::ZERO,
        RecordingSettings {
            policy,
            dir: "/recordings".to_owned(),
        },
    )
}

/// Alice calls Bob, who answers by himself: Bob's (the agent's) call.
fn bobs_call(world: &mut World) -> CallId {
    world.alice_calls_bob();
    world
        .b
        .phone
        .calls()
        .into_iter()
        .find(|c| c.direction == api::CallDirection::Inbound)
        .expect("bob's call")
        .id
}

fn record(world: &mut World, call: CallId, action: RecordAction) -> Result<api::CallView, String> {
    world
        .b
        .phone
        .command(world.now, Command::Record { call, action })
        .map_err(|e| e.to_string())
}

/// The frames written since `from`: (agent, customer) samples, concatenated.
fn frames(world: &World, from: usize) -> (Vec<i16>, Vec<i16>) {
    let mut agent = Vec::new();
    let mut customer = Vec::new();
    for output in &world.b.recordings[from..] {
        if let RecordingOutput::Frame {
            agent: a,
            customer: c,
            rate,
            ..
        } = output
        {
            assert_eq!(*rate, 8000);
            agent.extend_from_slice(a);
            customer.extend_from_slice(c);
        }
    }
    (agent, customer)
}

fn timeline(world: &World, call: CallId) -> Vec<String> {
    let interaction = world.b.phone.call(call).and_then(|c| c.interaction_id);
    world
        .b
        .phone
        .interactions()
        .into_iter()
        .find(|i| Some(i.id) == interaction)
        .map(|i| {
            i.timeline
                .iter()
                .filter_map(|e| match &e.kind {
                    interaction::TimelineKind::Recording { action, .. } => Some(action.clone()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn policy_always_records_from_the_start_and_a_pause_is_silence_on_both_channels() {
    let mut world = world(RecordingPolicy::Always);
    let call = bobs_call(&mut world);
    world.run_until(world.now + Duration::from_secs(2));
    let Some(RecordingOutput::Open { path, rate, .. }) = world.b.recordings.first().cloned() else {
        panic!("no file opened: {:?}", world.b.recordings.first());
    };
    assert!(
        path.starts_with("/recordings/2026") && path.ends_with(".wav"),
        "{path}"
    );
    assert_eq!(rate, 8000);
    let view = world.b.phone.call(call).expect("call");
    assert_eq!(view.recording.as_deref(), Some("recording"));
    assert_eq!(view.recording_file.as_deref(), Some(path.as_str()));
    let (agent, customer) = frames(&world, 1);
    assert!(
        agent.len() >= 8000 * 19 / 10,
        "about 2 s written: {}",
        agent.len()
    );
    assert!(rms(&agent[4000..]) > 3000.0, "the agent's tone on the left");
    assert!(rms(&customer[4000..]) > 3000.0, "bob's tone on the right");

    let stop = record(&mut world, call, RecordAction::Stop).expect_err("always: no stop");
    assert!(stop.contains("pause it instead"), "{stop}");
    let paused = record(&mut world, call, RecordAction::Pause).expect("pause");
    assert_eq!(paused.recording.as_deref(), Some("paused"));
    assert!(
        record(&mut world, call, RecordAction::Pause).is_err(),
        "paused already"
    );
    let mark = world.b.recordings.len();
    world.run_until(world.now + Duration::from_secs(5));
    let (agent, customer) = frames(&world, mark);
    assert!(
        agent.len().abs_diff(5 * 8000) <= 320,
        "5 s go by: {}",
        agent.len()
    );
    assert!(
        agent.iter().chain(&customer).all(|&s| s == 0),
        "silence while paused"
    );
    record(&mut world, call, RecordAction::Resume).expect("resume");
    let mark = world.b.recordings.len();
    world.run_until(world.now + Duration::from_secs(1));
    let (agent, customer) = frames(&world, mark);
    assert!(
        rms(&agent) > 3000.0 && rms(&customer) > 3000.0,
        "both sides again"
    );

    world
        .b
        .phone
        .command(world.now, Command::Hangup { call })
        .expect("hang up");
    world.run_until(world.now + Duration::from_secs(1));
    assert!(
        matches!(world.b.recordings.last(), Some(RecordingOutput::Close { call: c }) if *c == call),
        "the end closes the file"
    );
    assert_eq!(timeline(&world, call), ["start", "pause", "resume", "stop"]);
}

#[test]
fn on_demand_starts_and_stops_when_asked_and_never_refuses() {
    let mut world = world(RecordingPolicy::OnDemand);
    let call = bobs_call(&mut world);
    world.run_until(world.now + Duration::from_secs(1));
    assert!(world.b.recordings.is_empty(), "nothing until asked");
    assert!(
        record(&mut world, call, RecordAction::Pause).is_err(),
        "not recorded yet"
    );
    record(&mut world, call, RecordAction::Start).expect("start");
    assert!(
        record(&mut world, call, RecordAction::Start).is_err(),
        "started already"
    );
    world.run_until(world.now + Duration::from_secs(1));
    let view = record(&mut world, call, RecordAction::Stop).expect("stop");
    assert_eq!(view.recording, None);
    assert!(view.recording_file.is_some(), "the file is still named");
    world.run_until(world.now + Duration::from_secs(1));
    assert!(
        matches!(
            world.b.recordings.last(),
            Some(RecordingOutput::Close { .. })
        ),
        "closed, and no frame after the stop"
    );
    assert_eq!(timeline(&world, call), ["start", "stop"]);

    let mut world = world_never();
    let call = bobs_call(&mut world);
    let refused = record(&mut world, call, RecordAction::Start).expect_err("never");
    assert!(refused.contains("policy = \"never\""), "{refused}");
}

fn world_never() -> World {
    world(RecordingPolicy::Never)
}
