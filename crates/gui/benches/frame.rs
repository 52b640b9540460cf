//! CPU time per desktop frame with 10 000 interactions in the history and a connected call
//! being worked: layout and tessellation, as eframe does them each frame (the GPU's share is
//! not counted). Prints mean, p50, p99 and max.

#![allow(clippy::disallowed_methods, missing_docs)]

use api::{
    CallId, CallView, Delivery, Event, Interaction, InteractionId, InteractionState, Request,
};
use gui::{AppState, DeskSettings};
use time::OffsetDateTime;

fn interaction(id: u64, state: InteractionState, call: Option<u64>) -> Interaction {
    let mut data = interaction::AttachedData::default();
    for (key, value) in [
        (
            "_callback_type",
            ["immediate", "delayed", "scheduled", "preview", "web"][(id % 5) as usize],
        ),
        ("_customer_number", "+1 555 0100"),
        ("_desired_time", "2026-11-25T15:30:00Z"),
        ("CaseID", "4711"),
        ("Language", "es"),
    ] {
        data.push(key, value.to_owned());
    }
    let callback = interaction::CallbackInfo::from_attached(&data, &interaction::KeyMap::default());
    let at = OffsetDateTime::from_unix_timestamp(1_795_000_000 + id as i64).expect("time");
    let mut made = Interaction::notified(InteractionId(id), at, callback, data);
    made.state = state;
    made.call_id = call.map(|c| format!("c-{c}"));
    made.note = Some(format!("Note of interaction {id}"));
    made.disposition = (state == InteractionState::Done).then(|| "resolved".to_owned());
    made
}

/// The thread's CPU time, in ns.
fn cpu_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we own.
    unsafe {
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t);
    }
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

fn main() {
    let mut state = AppState::new(DeskSettings::default());
    for id in 1..=10_000 {
        state.apply(Delivery::Event(Event::Interaction {
            interaction: Box::new(interaction(id, InteractionState::Done, None)),
        }));
    }
    let call = CallView {
        id: CallId(1),
        state: api::CallState::Connected,
        direction: api::CallDirection::Inbound,
        remote: "sip:customer@127.0.0.1".to_owned(),
        interaction_id: Some(InteractionId(10_001)),
        codec: Some("PCMU".to_owned()),
        muted: false,
        stats: api::CallStats::default(),
        sip_call_id: "x".to_owned(),
        end_reason: None,
        dtmf_received: String::new(),
        transfer: None,
        conference: None,
        consultation_of: None,
        early_media: false,
        encryption: None,
        ice: None,
        recording: None,
        recording_file: None,
    };
    state.apply(Delivery::Event(Event::Call { call }));
    state.apply(Delivery::Event(Event::Interaction {
        interaction: Box::new(interaction(10_001, InteractionState::Connected, Some(1))),
    }));
    state.selected = Some(InteractionId(10_001));
    assert_eq!(state.history().len(), 10_000);

    let ctx = egui::Context::default();
    let now = OffsetDateTime::now_utc();
    let input = || egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(
            egui::Pos2::ZERO,
            egui::vec2(1280.0, 800.0),
        )),
        ..Default::default()
    };
    let frame = |state: &mut AppState| -> (u64, Vec<Request>) {
        let start = cpu_ns();
        let mut asked = Vec::new();
        let output = ctx.run_ui(input(), |ui| asked = gui::desktop(ui, state, now));
        let primitives = ctx.tessellate(output.shapes, output.pixels_per_point);
        std::hint::black_box(primitives);
        (cpu_ns() - start, asked)
    };
    for _ in 0..20 {
        frame(&mut state);
    }
    let mut times: Vec<u64> = (0..500).map(|_| frame(&mut state).0).collect();
    // Typing a history search: every frame's query differs, so all 10 000 are filtered.
    let mut searching: Vec<u64> = (0..200)
        .map(|n| {
            state.history_query = ["sched", "schedu", "scheduled", "i-99"][n % 4].to_owned();
            frame(&mut state).0
        })
        .collect();
    println!("# desktop frame CPU time: 10 000 interactions in history, a connected callback open");
    println!("# (egui layout + tessellation on this thread; 1280x800)");
    println!("case                 frames   mean ms   p50 ms   p99 ms   max ms");
    for (name, t) in [
        ("idle view", &mut times),
        ("typing a search", &mut searching),
    ] {
        t.sort_unstable();
        let ms = |ns: u64| ns as f64 / 1e6;
        let mean = t.iter().sum::<u64>() as f64 / t.len() as f64 / 1e6;
        println!(
            "{name:<20} {:>6} {:>9.3} {:>8.3} {:>8.3} {:>8.3}",
            t.len(),
            mean,
            ms(t[t.len() / 2]),
            ms(t[t.len() * 99 / 100]),
            ms(t[t.len() - 1])
        );
    }
}
