//! Team mode on PostgreSQL (a throw-away cluster started here): the case-history lookups by
//! number and by case id over `TEAM_ROWS` interactions of 50 agents (default 1 000 000;
//! target p99 ≤ 20 ms), and the latency of claiming a due team callback while 50 agents poll
//! together (target p99 ≤ 50 ms).
//!
//! `cargo bench -p recall-store --bench team` (needs Debian's postgresql; `TEAM_ROWS` changes
//! the size).

#![allow(clippy::disallowed_methods)] // a benchmark measures wall time

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use interaction::{AttachedData, CallbackInfo, Interaction, InteractionId, default_dispositions};
use store::Store;
use time::macros::datetime;

const AGENTS: u64 = 50;
/// Distinct customer lines and case ids: each is met by about `rows / LINES` interactions.
const LINES: u64 = 200_000;
const CASES: u64 = 250_000;

/// A worked interaction whose number, case id and id are placeholders the SQL fills in.
fn template() -> Interaction {
    let t = datetime!(2026-11-25 15:31:02.113 UTC);
    let mut attached = AttachedData::default();
    attached.push("CaseID", "CASEXXXXXX".to_owned());
    attached.push("_service_name", "Billing".to_owned());
    attached.push("Language", "es".to_owned());
    let mut i = Interaction::notified(
        InteractionId(987_654_321),
        t,
        CallbackInfo {
            customer_number: Some("NUMBERXXXXXX".to_owned()),
            ..CallbackInfo::default()
        },
        attached,
    );
    i.accept(t).expect("accept");
    i.end(t).expect("end");
    i.set_disposition(t, "resolved", &default_dispositions())
        .expect("disposition");
    i.set_note(t, "Customer asked for a refund; processed.")
        .expect("note");
    i.done(t, true).expect("done");
    i
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    (at(0.50), at(0.99))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let rows: u64 = std::env::var("TEAM_ROWS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1_000_000);
    let cluster = test_support::PgCluster::start().expect("PostgreSQL starts");
    let url = cluster.create_database("team").expect("database");
    drop(Store::connect(&url, "agent0").expect("migrates"));

    // The rows, written by the server from one real document (a million through the client
    // would measure the client); numbers +34 6NNNNNNNN, case ids CASE-N, 50 agents.
    let template = template();
    let document = serde_json::to_string(&template).expect("json");
    let search = template.search_text();
    let quote = |s: &str| s.replace('\'', "''");
    let started = Instant::now();
    cluster
        .psql(
            "team",
            &format!(
                "INSERT INTO interactions (agent, id, state, customer_number, created_at,
                     updated_at, document, search_text, number_key)
                 SELECT 'agent' || (g % {AGENTS}), g / {AGENTS} + 1, 'done', n.number,
                     now() - g * interval '1 second', now() - g * interval '1 second',
                     replace(replace(replace('{doc}', 'NUMBERXXXXXX', n.number),
                         'CASEXXXXXX', n.case_id), 'i-987654321', 'i-' || (g / {AGENTS} + 1)),
                     replace(replace('{search}', 'NUMBERXXXXXX', n.number), 'CASEXXXXXX', n.case_id),
                     '6' || lpad((g % {LINES})::text, 8, '0')
                 FROM generate_series(0, {last}) g,
                     LATERAL (SELECT '+34 6' || lpad((g % {LINES})::text, 8, '0') AS number,
                                     'CASE-' || (g % {CASES}) AS case_id) n;
                 ANALYZE interactions;",
                doc = quote(&document),
                search = quote(&search),
                last = rows - 1,
            ),
        )
        .expect("rows");
    println!(
        "{rows} interactions of {AGENTS} agents written in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Lookups as an agent's case view makes them: a new interaction of a known customer.
    let agent = Store::connect(&url, "agent-new").expect("agent");
    let keys = ["CaseID".to_owned()];
    let mut rng = fastrand::Rng::with_seed(7);
    let lookups = 1000;
    let mut by_number = Vec::new();
    let mut by_case = Vec::new();
    let mut found = (0, 0);
    for _ in 0..lookups {
        let mut asked = template.clone();
        asked.id = InteractionId(1);
        let line = rng.u64(0..LINES.min(rows));
        asked.callback.customer_number = Some(format!("0034 6{line:08}"));
        asked.attached = AttachedData::default();
        let t = Instant::now();
        found.0 += agent.case_history(&asked, &keys, 50).expect("case").len();
        by_number.push(t.elapsed());

        let case = rng.u64(0..CASES.min(rows));
        asked.callback.customer_number = None;
        asked.attached.push("CaseID", format!("CASE-{case}"));
        let t = Instant::now();
        found.1 += agent.case_history(&asked, &keys, 50).expect("case").len();
        by_case.push(t.elapsed());
    }
    let (n50, n99) = percentiles(by_number);
    let (c50, c99) = percentiles(by_case);
    println!(
        "case history by number:  p50 {:.2} ms, p99 {:.2} ms ({:.1} earlier interactions each; target p99 <= 20 ms)",
        ms(n50),
        ms(n99),
        found.0 as f64 / lookups as f64
    );
    println!(
        "case history by case id: p50 {:.2} ms, p99 {:.2} ms ({:.1} earlier interactions each; target p99 <= 20 ms)",
        ms(c50),
        ms(c99),
        found.1 as f64 / lookups as f64
    );

    // Claims: 2 000 due callbacks, 50 agents polling together, each claim settled at once.
    let due = 2000_u64;
    cluster
        .psql(
            "team",
            &format!(
                "INSERT INTO callbacks (origin_agent, origin_id, due_at, document)
                 SELECT 'agent0', g, now() - interval '1 minute', '{doc}'
                 FROM generate_series(1, {due}) g",
                doc = quote(&document)
            ),
        )
        .expect("callbacks");
    let start = Arc::new(Barrier::new(AGENTS as usize));
    let lease = Duration::from_secs(30);
    let workers: Vec<_> = (0..AGENTS)
        .map(|n| {
            let (url, start) = (url.clone(), start.clone());
            std::thread::spawn(move || {
                let agent = Store::connect(&url, &format!("poller{n}")).expect("agent");
                start.wait();
                let mut claims = Vec::new();
                loop {
                    let t = Instant::now();
                    let Some(claim) = agent.claim_callback(lease).expect("claim") else {
                        break;
                    };
                    claims.push(t.elapsed());
                    agent
                        .settle_callback(claim.id, "connected", InteractionId(1))
                        .expect("settle");
                }
                claims
            })
        })
        .collect();
    let started = Instant::now();
    let claims: Vec<Duration> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("poller"))
        .collect();
    let wall = started.elapsed();
    let count = claims.len();
    let (p50, p99) = percentiles(claims);
    println!(
        "claim of a due callback, {AGENTS} agents polling: {count} claims of {due} in {:.2} s, p50 {:.2} ms, p99 {:.2} ms (target p99 <= 50 ms)",
        wall.as_secs_f64(),
        ms(p50),
        ms(p99)
    );
    assert_eq!(count as u64, due, "every callback claimed exactly once");

    // As recall polls: each agent once a second (a random phase), callbacks coming due one
    // every 20 ms for 10 s. The claim's round trip, and how long a due callback waits for an
    // agent to claim it.
    let spread = 500_u64;
    cluster
        .psql(
            "team",
            &format!(
                "INSERT INTO callbacks (origin_agent, origin_id, due_at, document)
                 SELECT 'agent1', g, now() + interval '2 seconds' + g * interval '20 milliseconds',
                     '{doc}'
                 FROM generate_series(1, {spread}) g",
                doc = quote(&document)
            ),
        )
        .expect("callbacks");
    let due_at: std::collections::HashMap<i64, f64> = cluster
        .psql(
            "team",
            "SELECT id || ' ' || extract(epoch FROM due_at) FROM callbacks WHERE settled_at IS NULL",
        )
        .expect("due times")
        .lines()
        .filter_map(|line| {
            let (id, at) = line.split_once(' ')?;
            Some((id.parse().ok()?, at.parse().ok()?))
        })
        .collect();
    let due_at = Arc::new(due_at);
    let until = Instant::now() + Duration::from_secs(14);
    let workers: Vec<_> = (0..AGENTS)
        .map(|n| {
            let (url, due_at) = (url.clone(), due_at.clone());
            std::thread::spawn(move || {
                let agent = Store::connect(&url, &format!("agent{n}")).expect("agent");
                let mut rng = fastrand::Rng::with_seed(n);
                std::thread::sleep(Duration::from_millis(rng.u64(0..1000)));
                let (mut trips, mut waits) = (Vec::new(), Vec::new());
                while Instant::now() < until {
                    let t = Instant::now();
                    if let Some(claim) = agent.claim_callback(lease).expect("claim") {
                        trips.push(t.elapsed());
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .expect("clock")
                            .as_secs_f64();
                        if let Some(due) = due_at.get(&claim.id) {
                            waits.push(Duration::from_secs_f64((now - due).max(0.0)));
                        }
                        agent
                            .settle_callback(claim.id, "connected", InteractionId(1))
                            .expect("settle");
                    } else {
                        trips.push(t.elapsed());
                    }
                    std::thread::sleep(Duration::from_secs(1).saturating_sub(t.elapsed()));
                }
                (trips, waits)
            })
        })
        .collect();
    let (mut trips, mut waits) = (Vec::new(), Vec::new());
    for worker in workers {
        let (t, w) = worker.join().expect("agent");
        trips.extend(t);
        waits.extend(w);
    }
    let claimed = waits.len();
    let (t50, t99) = percentiles(trips);
    let (w50, w99) = percentiles(waits);
    println!(
        "claims as recall polls ({AGENTS} agents, once a second each): {claimed} of {spread} claimed; claim round trip p50 {:.2} ms, p99 {:.2} ms (target p99 <= 50 ms); a due callback waited p50 {:.0} ms, p99 {:.0} ms for an agent",
        ms(t50),
        ms(t99),
        ms(w50),
        ms(w99)
    );
    assert_eq!(
        claimed as u64, spread,
        "every callback claimed exactly once"
    );
}
