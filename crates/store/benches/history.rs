//! The interaction store with 100 000 interactions: durable single writes (what the agent's
//! actions cost), bulk insert throughput, and list / search latency (p50, p99).
//!
//! `cargo bench -p recall-store --bench history` (`HISTORY_ROWS` changes the size).

#![allow(clippy::disallowed_methods)] // a benchmark measures wall time

use std::time::{Duration, Instant};

use interaction::{
    AttachedData, CallbackInfo, Interaction, InteractionId, InteractionState, Query,
    default_dispositions,
};
use store::Store;
use time::macros::datetime;

/// The newest `limit`, nothing else asked.
fn newest(limit: usize) -> Query {
    Query {
        limit,
        ..Query::default()
    }
}

fn sample(id: u64) -> Interaction {
    let t = datetime!(2026-11-25 15:31:02.113 UTC) + time::Duration::seconds(id as i64);
    let mut attached = AttachedData::default();
    attached.push("CallUUID", format!("00FA{id:08X}"));
    attached.push("_service_name", "Billing".to_owned());
    attached.push("Language", "es".to_owned());
    let mut i = Interaction::notified(
        InteractionId(id),
        t,
        CallbackInfo {
            customer_number: Some(format!("+1 555 {:07}", id % 10_000_000)),
            ..CallbackInfo::default()
        },
        attached,
    );
    i.accept(t).expect("accept");
    i.dtmf(t, "12#").expect("dtmf");
    i.end(t).expect("end");
    i.set_disposition(t, "resolved", &default_dispositions())
        .expect("disposition");
    i.set_note(t, "Customer asked for a refund; processed.")
        .expect("note");
    if !id.is_multiple_of(3) {
        i.done(t, true).expect("done");
    }
    i
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    (at(0.50), at(0.99))
}

fn main() {
    let rows: u64 = std::env::var("HISTORY_ROWS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(100_000);
    let dir = std::env::temp_dir().join(format!("recall-history-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("history.db");
    let mut store = Store::open(&path).expect("open");

    let started = Instant::now();
    let batch: Vec<Interaction> = (1..=rows).map(sample).collect();
    for chunk in batch.chunks(10_000) {
        store.save_batch(chunk).expect("batch");
    }
    let bulk = started.elapsed();
    println!(
        "bulk insert: {rows} interactions in {:.2} s = {:.0} per second",
        bulk.as_secs_f64(),
        rows as f64 / bulk.as_secs_f64()
    );
    let size = |name: &str| std::fs::metadata(dir.join(name)).map_or(0, |m| m.len());
    println!(
        "database: {:.1} MB ({:.2} KB per interaction)",
        (size("history.db") + size("history.db-wal")) as f64 / 1e6,
        (size("history.db") + size("history.db-wal")) as f64 / 1e3 / rows as f64
    );

    // What an agent's action costs: one durable (fsync'd) write of a changed interaction.
    let mut writes = Vec::new();
    for id in 1..=500 {
        let mut i = sample(id);
        i.note = Some(format!("changed {id}"));
        let t = Instant::now();
        store.save(&i).expect("save");
        writes.push(t.elapsed());
    }
    let (p50, p99) = percentiles(writes.clone());
    let total: Duration = writes.iter().sum();
    println!(
        "durable single write: p50 {:.3} ms, p99 {:.3} ms, {:.0} writes per second",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        writes.len() as f64 / total.as_secs_f64()
    );

    let time = |f: &mut dyn FnMut() -> usize, n: usize| {
        let mut samples = Vec::new();
        let mut found = 0;
        for _ in 0..n {
            let t = Instant::now();
            found = f();
            samples.push(t.elapsed());
        }
        let (p50, p99) = percentiles(samples);
        (p50, p99, found)
    };
    type Case<'a> = (&'static str, Box<dyn FnMut() -> usize + 'a>, usize);
    let cases: Vec<Case<'_>> = vec![
        (
            "list newest 100",
            Box::new(|| store.query(&newest(100)).expect("list").len()),
            200,
        ),
        (
            "search state=ended (newest 100)",
            Box::new(|| {
                let query = Query {
                    state: Some(InteractionState::Ended),
                    ..newest(100)
                };
                store.query(&query).expect("search").len()
            }),
            200,
        ),
        (
            "search text \"555 00042\" anywhere (newest 100)",
            Box::new(|| {
                let query = Query {
                    text: Some("555 00042".to_owned()),
                    ..newest(100)
                };
                store.query(&query).expect("search").len()
            }),
            50,
        ),
        (
            "search text \"00fa0000beef\" (a case id, any case; newest 100)",
            Box::new(|| {
                let query = Query {
                    text: Some("00fa0000beef".to_owned()),
                    ..newest(100)
                };
                store.query(&query).expect("search").len()
            }),
            50,
        ),
        (
            "search text \"refund\" (in every record; newest 100)",
            Box::new(|| {
                let query = Query {
                    text: Some("refund".to_owned()),
                    ..newest(100)
                };
                store.query(&query).expect("search").len()
            }),
            50,
        ),
        (
            "search text \"refund\" and state=ended (newest 100)",
            Box::new(|| {
                let query = Query {
                    text: Some("refund".to_owned()),
                    state: Some(InteractionState::Ended),
                    ..newest(100)
                };
                store.query(&query).expect("search").len()
            }),
            50,
        ),
    ];
    for (name, mut f, n) in cases {
        let (p50, p99, found) = time(&mut *f, n);
        println!(
            "{name}: p50 {:.3} ms, p99 {:.3} ms ({found} found)",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    let t = Instant::now();
    let all = store.load_all().expect("load");
    println!(
        "load all {} interactions (restart): {:.2} s",
        all.len(),
        t.elapsed().as_secs_f64()
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
