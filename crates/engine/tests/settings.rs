//! Settings changed while the phone runs, in virtual time against the scripted registrar: a
//! registration test reports and cleans up after itself, reconfigured accounts register
//! afresh or un-register, and the test tone plays for two seconds but never over a call.

#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use crate::harness::{Ask, World, account};
use api::Event;
use media::Tone;

/// The registration tests Alice's phone has reported: (account, registered, detail).
fn tests_reported(world: &World) -> Vec<(String, bool, String)> {
    world
        .a
        .events
        .iter()
        .filter_map(|e| match e {
            Event::RegistrationTest {
                account,
                registered,
                detail,
            } => Some((account.clone(), *registered, detail.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_registration_test_reports_and_cleans_up_after_itself() {
    let mut world = World::registered(21, 0.0, Duration::ZERO);
    world
        .registrar
        .users
        .insert("carol".to_owned(), "carol-secret".to_owned());

    // Carol is no account of the phone: registered, then the binding removed again.
    world
        .a
        .phone
        .test_registration(world.now, account("carol", "carol-secret"));
    world.run_while(Duration::from_secs(5), |w| tests_reported(w).len() == 1);
    assert_eq!(
        tests_reported(&world)[0],
        ("carol".to_owned(), true, "registered for 60 s".to_owned())
    );
    world.run_until(world.now + Duration::from_secs(2));
    assert!(
        !world.registrar.bindings.contains_key("carol"),
        "the test's binding is removed"
    );

    // Alice's own account, with a wrong password: refused, and her registration untouched.
    world
        .a
        .phone
        .test_registration(world.now, account("alice", "wrong"));
    world.run_while(Duration::from_secs(5), |w| tests_reported(w).len() == 2);
    let (name, registered, detail) = tests_reported(&world)[1].clone();
    assert_eq!((name.as_str(), registered), ("alice", false));
    assert!(detail.contains("authentication failed"), "{detail}");
    // With the right one: registered, and the binding stays (her account shares it).
    world
        .a
        .phone
        .test_registration(world.now, account("alice", "alice-secret"));
    world.run_while(Duration::from_secs(5), |w| tests_reported(w).len() == 3);
    assert!(tests_reported(&world)[2].1);
    world.run_until(world.now + Duration::from_secs(2));
    assert!(world.registrar.bindings.contains_key("alice"));
    let status = world.a.phone.status(Vec::new());
    assert_eq!(status.registrations.len(), 1, "a test adds no account");
    assert_eq!(status.registrations[0].state, "registered");
}

#[test]
fn reconfigured_accounts_register_afresh_and_removed_ones_unregister() {
    let mut world = World::registered(22, 0.0, Duration::ZERO);
    let media = engine::MediaSettings::default();
    let callbacks = engine::CallbackSettings::default();

    // The same account again: nothing is sent.
    let before = world.registrar.requests;
    world.a.phone.reconfigure(
        world.now,
        vec![account("alice", "alice-secret")],
        media.clone(),
        callbacks.clone(),
    );
    world.run_until(world.now + Duration::from_secs(1));
    assert_eq!(world.registrar.requests, before, "unchanged: no REGISTER");
    // The microphone's processing was set once, at start; the same again changes nothing.
    let voice = |w: &World| w.a.processing.lock().expect("lock").clone();
    assert_eq!(voice(&world), [media::VoiceSettings::default()]);
    // Switched in Settings: the audio is told at once.
    let quiet_room = engine::MediaSettings {
        voice: media::VoiceSettings {
            noise_suppression: false,
            ..media::VoiceSettings::default()
        },
        ..media.clone()
    };
    world.a.phone.reconfigure(
        world.now,
        vec![account("alice", "alice-secret")],
        quiet_room.clone(),
        callbacks.clone(),
    );
    assert_eq!(voice(&world).last(), Some(&quiet_room.voice));
    assert_eq!(voice(&world).len(), 2);
    world.a.phone.reconfigure(
        world.now,
        vec![account("alice", "alice-secret")],
        media.clone(),
        callbacks.clone(),
    );

    // A changed one (a shorter lifetime): registered afresh.
    let mut shorter = account("alice", "alice-secret");
    shorter.expires = 120;
    world.a.events.clear();
    world
        .a
        .phone
        .reconfigure(world.now, vec![shorter], media.clone(), callbacks.clone());
    world.run_while(Duration::from_secs(5), |w| w.a.registered());
    assert!(world.registrar.requests > before);
    assert!(world.registrar.bindings.contains_key("alice"));

    // Removed: un-registered, gone from the status.
    world
        .a
        .phone
        .reconfigure(world.now, Vec::new(), media, callbacks);
    world.run_until(world.now + Duration::from_secs(2));
    assert!(!world.registrar.bindings.contains_key("alice"));
    assert!(world.a.phone.status(Vec::new()).registrations.is_empty());
}

#[test]
fn the_test_tone_plays_two_seconds_and_never_over_a_call() {
    let mut world = World::registered(23, 0.0, Duration::ZERO);
    world.a.phone.test_tone(world.now).expect("idle: it plays");
    assert_eq!(world.a.phone.tones(), (Some(Tone::Test), None));
    assert_eq!(
        world.a.phone.status(Vec::new()).audio.tone.as_deref(),
        Some("test")
    );
    world.run_until(world.now + Duration::from_millis(1900));
    assert_eq!(world.a.phone.tones().0, Some(Tone::Test));
    world.run_until(world.now + Duration::from_millis(200));
    assert_eq!(world.a.phone.tones(), (None, None), "over after 2 s");

    world.alice_calls_bob();
    let refused = world.a.phone.test_tone(world.now).expect_err("refused");
    assert_eq!(
        refused.to_string(),
        "the test tone plays only between calls"
    );
}
