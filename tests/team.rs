//! Team mode: agents sharing one PostgreSQL (a throw-away cluster started and stopped by the
//! test). A customer's case follows them from agent to agent.

use std::time::Duration;

use crate::support::{
    Headless, get_json, post_json, run_sipp, scratch, sipp_call_args, sipp_counts, wait_until,
};

/// `recall headless` as agent `name` on the team's database.
fn agent(dir: &std::path::Path, name: &str, url: &str) -> Headless {
    agent_with(dir, name, url, "")
}

/// [`agent`] with more `[store]` lines.
fn agent_with(dir: &std::path::Path, name: &str, url: &str, more: &str) -> Headless {
    let dir = dir.join(name);
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("recall.toml");
    std::fs::write(
        &config,
        format!("[store]\nurl = \"{url}\"\nagent = \"{name}\"\ncase_keys = [\"CaseID\"]\n{more}"),
    )
    .expect("config");
    Headless::start(&dir, &["--config", &config.display().to_string()])
}

/// One callback of the case to `to`, from `customer` (percent-encoded) with case id `case`,
/// accepted through the API while it rings; its interaction id once the call is over.
fn callback(
    dir: &std::path::Path,
    to: &Headless,
    name: &str,
    customer: &str,
    case: &str,
) -> String {
    let mut args = sipp_call_args("sipp/uac_callback_case.xml", to.sip);
    args.extend(["-key", "customer", customer, "-key", "case", case].map(str::to_owned));
    let (dir, name) = (dir.to_owned(), name.to_owned());
    let sipp = std::thread::spawn(move || run_sipp(&dir, &name, &args, Duration::from_secs(40)));
    let mut id = String::new();
    assert!(wait_until(Duration::from_secs(10), || {
        let list = get_json(to.control, "/v1/interactions?state=notified");
        list[0]["id"]
            .as_str()
            .map(|found| id = found.to_owned())
            .is_some()
    }));
    let (status, body) = post_json(to.control, &format!("/v1/interactions/{id}/accept"), "");
    assert_eq!(status, 200, "{body}");
    let (_, screen) = sipp.join().expect("sipp");
    assert_eq!(sipp_counts(&screen), (1, 0), "{screen}");
    id
}

#[test]
fn a_note_and_disposition_written_by_one_agent_show_in_the_next_agents_case_history() {
    let dir = scratch("team-case");
    let cluster = test_support::PgCluster::start().expect("PostgreSQL starts");
    let url = cluster.create_database("team").expect("database");
    // Both start at once on an empty database: one migrates, the other waits for it.
    let (ana, bo) = std::thread::scope(|s| {
        let ana = s.spawn(|| agent_with(&dir, "ana", &url, "responses_editor = true\n"));
        let bo = s.spawn(|| agent(&dir, "bo", &url));
        (ana.join().expect("ana"), bo.join().expect("bo"))
    });
    assert_eq!(
        ana.status()["store"].as_str(),
        Some(&*format!("postgres 127.0.0.1:{}/team", cluster.port()))
    );

    // Ana takes the first call of the case and writes what happened.
    let first = callback(
        &dir,
        &ana,
        "sipp-ana",
        "%2B34%20600%20123%20456",
        "CASE-4711",
    );
    for (action, body) in [
        ("disposition", r#"{"code": "resolved"}"#),
        ("note", r#"{"text": "Card declined; will pay by transfer"}"#),
    ] {
        let (status, reply) = post_json(
            ana.control,
            &format!("/v1/interactions/{first}/{action}"),
            body,
        );
        assert_eq!(status, 200, "{action}: {reply}");
    }
    let (status, reply) = post_json(ana.control, &format!("/v1/interactions/{first}/done"), "");
    assert_eq!(
        (status, reply["state"].as_str()),
        (200, Some("done")),
        "{reply}"
    );

    // The customer calls again, from the same line written another way, and reaches Bo.
    let second = callback(&dir, &bo, "sipp-bo", "0034600123456", "CASE-4711");
    let case = get_json(bo.control, &format!("/v1/interactions/{second}/case"));
    let entries = case.as_array().expect("a list");
    assert_eq!(entries.len(), 1, "{case}");
    assert_eq!(entries[0]["agent"], "ana", "{case}");
    assert_eq!(entries[0]["interaction"], first.as_str(), "{case}");
    assert_eq!(entries[0]["disposition"], "resolved", "{case}");
    assert_eq!(
        entries[0]["note"], "Card declined; will pay by transfer",
        "{case}"
    );
    assert_eq!(entries[0]["state"], "done", "{case}");
    assert_eq!(entries[0]["matched"], "number", "{case}");

    // Bo's call is in Ana's case history too, found by the case id from another number.
    let third = callback(
        &dir,
        &ana,
        "sipp-ana-2",
        "%2B44%2020%207946%200000",
        "CASE-4711",
    );
    let case = get_json(ana.control, &format!("/v1/interactions/{third}/case"));
    let seen: Vec<(String, String)> = case
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| {
            (
                e["agent"].as_str().unwrap_or_default().to_owned(),
                e["matched"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("bo".to_owned(), "CaseID".to_owned()),
            ("ana".to_owned(), "CaseID".to_owned())
        ],
        "{case}"
    );
    // The standard responses are the team's: Ana (an editor) changes them, Bo sees them and
    // may not.
    let response = r#"{"title": "Refunds", "body": "Five working days."}"#;
    let (status, body) = post_json(ana.control, "/v1/responses", response);
    assert_eq!(status, 201, "{body}");
    let (status, body) = post_json(bo.control, "/v1/responses", response);
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("responses_editor")),
        "{body}"
    );
    let (status, body) = crate::support::http(bo.control, "DELETE", "/v1/responses/1", None, None);
    assert_eq!(status, 403, "{body}");
    let seen = get_json(bo.control, "/v1/responses");
    assert_eq!(seen[0]["title"], "Refunds", "{seen}");

    // Each agent's own history stays its own.
    let own = get_json(bo.control, "/v1/interactions");
    assert_eq!(own.as_array().map(Vec::len), Some(1), "{own}");
    // Asking about an interaction that does not exist is a 404 with a message.
    let (status, body) =
        crate::support::http(bo.control, "GET", "/v1/interactions/i-999/case", None, None);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("\"error\""), "{body}");
    assert!(wait_until(Duration::from_secs(1), || true));
}

#[test]
fn an_unreachable_team_database_stops_the_start_with_a_clear_message() {
    let dir = scratch("team-unreachable");
    let port = crate::support::free_port();
    let config = dir.join("recall.toml");
    std::fs::write(
        &config,
        format!("[store]\nurl = \"postgres://recall:secret@127.0.0.1:{port}/team?connect_timeout=2\"\nagent = \"ana\"\n"),
    )
    .expect("config");
    let out = crate::support::recall()
        .args([
            "headless",
            "--listen",
            "udp:127.0.0.1:0",
            "--config",
            &config.display().to_string(),
        ])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot reach the database postgres://recall:***@127.0.0.1:{port}/team"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("secret"), "{stderr}");
}

/// The team callbacks an agent has raised and not yet handled: (interaction id, number).
fn raised(agent: &Headless) -> Vec<(String, String)> {
    get_json(agent.control, "/v1/interactions?state=notified")
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|i| i["direction"] == "outbound")
        .map(|i| {
            (
                i["id"].as_str().unwrap_or_default().to_owned(),
                i["callback"]["customer_number"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_callback_back_to_the_queue_rings_on_one_ready_agent_and_passes_on_when_it_dies() {
    let dir = scratch("team-callback");
    let cluster = test_support::PgCluster::start().expect("PostgreSQL starts");
    let url = cluster.create_database("queue").expect("database");
    let lease = "lease_s = 3\n";
    let mut agents: Vec<(String, Headless)> = ["ana", "bo", "cy"]
        .into_iter()
        .map(|name| (name.to_owned(), agent_with(&dir, name, &url, lease)))
        .collect();
    // Cy is Not Ready: it never gets a team callback.
    let (status, body) = crate::support::http(
        agents[2].1.control,
        "PUT",
        "/v1/agent/state",
        Some(r#"{"voice": "not_ready"}"#),
        None,
    );
    assert_eq!(status, 200, "{body}");

    // Ana takes a callback and sends it back to the queue for two seconds from now, with a
    // new number.
    let first = callback(
        &dir,
        &agents[0].1,
        "sipp-queue",
        "%2B34%20600%20123%20456",
        "CASE-77",
    );
    let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let at = at
        .format(&time::format_description::well_known::Rfc3339)
        .expect("time");
    let (status, body) = post_json(
        agents[0].1.control,
        &format!("/v1/interactions/{first}/reschedule"),
        // On a team's store "back to the queue" is the default.
        &format!(r#"{{"at": "{at}", "number": "+34 699 000 111"}}"#),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reschedule"]["personal"], false, "{body}");

    // Raised on exactly one Ready agent, and only once, however long they all wait.
    let holders = |agents: &[(String, Headless)]| -> Vec<(String, Vec<(String, String)>)> {
        agents
            .iter()
            .map(|(name, a)| (name.clone(), raised(a)))
            .filter(|(_, r)| !r.is_empty())
            .collect()
    };
    assert!(
        wait_until(Duration::from_secs(10), || !holders(&agents).is_empty()),
        "raised nowhere"
    );
    std::thread::sleep(Duration::from_secs(3));
    let held = holders(&agents);
    assert_eq!(held.len(), 1, "{held:?}");
    let (holder, callbacks) = &held[0];
    assert_eq!(callbacks.len(), 1, "{held:?}");
    assert_eq!(callbacks[0].1, "+34 699 000 111");
    assert_ne!(holder, "cy", "a Not Ready agent took it");

    // The holder dies before acting: after its lease another Ready agent raises it.
    let index = agents
        .iter()
        .position(|(n, _)| n == holder)
        .expect("holder");
    let (dead, mut proc) = agents.remove(index);
    proc.proc.kill_hard();
    assert!(
        wait_until(Duration::from_secs(12), || !holders(&agents).is_empty()),
        "{dead} died and nobody got its callback"
    );
    let held = holders(&agents);
    assert_eq!(held.len(), 1, "{held:?}");
    assert_ne!(held[0].0, "cy");
    assert_eq!(held[0].1[0].1, "+34 699 000 111");
    // Settled once the new holder calls the customer back: it leaves the queue.
    assert_eq!(
        cluster
            .psql(
                "queue",
                "SELECT count(*) FROM callbacks WHERE settled_at IS NULL"
            )
            .expect("psql"),
        "1"
    );
}

#[test]
fn calls_go_on_while_the_team_database_is_down_and_every_acknowledged_write_arrives_once() {
    let dir = scratch("team-outage");
    let mut cluster = test_support::PgCluster::start().expect("PostgreSQL starts");
    let url = cluster.create_database("outage").expect("database");
    let ana_dir = dir.join("ana");
    std::fs::create_dir_all(&ana_dir).expect("dir");
    let config = ana_dir.join("recall.toml");
    std::fs::write(
        &config,
        format!("[store]\nurl = \"{url}\"\nagent = \"ana\"\n"),
    )
    .expect("config");
    // Its own file is the journal of the team store.
    let journal = ana_dir.join("journal.db");
    let ana = Headless::start(
        &ana_dir,
        &[
            "--config",
            &config.display().to_string(),
            "--db",
            &journal.display().to_string(),
        ],
    );
    let before = callback(
        &dir,
        &ana,
        "sipp-before",
        "%2B34%20600%20000%20001",
        "CASE-1",
    );

    // PostgreSQL goes away for 30 s, mid-shift.
    cluster.stop();
    let down = std::time::Instant::now();
    let during = callback(
        &dir,
        &ana,
        "sipp-during",
        "%2B34%20600%20000%20002",
        "CASE-2",
    );
    for (action, body) in [
        ("disposition", r#"{"code": "resolved"}"#),
        ("note", r#"{"text": "Written while the database was down"}"#),
    ] {
        let (status, reply) = post_json(
            ana.control,
            &format!("/v1/interactions/{during}/{action}"),
            body,
        );
        assert_eq!(status, 200, "{action}: {reply}");
    }
    let (status, reply) = post_json(ana.control, &format!("/v1/interactions/{during}/done"), "");
    assert_eq!(
        (status, reply["state"].as_str()),
        (200, Some("done")),
        "{reply}"
    );
    let (status, reply) = post_json(
        ana.control,
        &format!("/v1/interactions/{before}/note"),
        r#"{"text": "Amended during the outage"}"#,
    );
    assert_eq!(status, 200, "{reply}");
    let pending = ana.status()["store_pending"].as_u64().unwrap_or(0);
    assert!(pending > 0, "{}", ana.status());
    std::thread::sleep(Duration::from_secs(30).saturating_sub(down.elapsed()));

    // Back: the journal goes over in order, and empties.
    cluster.resume().expect("PostgreSQL back");
    assert!(
        wait_until(Duration::from_secs(15), || ana.status()["store_pending"]
            == 0),
        "{}",
        ana.status()
    );
    let count = |sql: &str| cluster.psql("outage", sql).expect("psql");
    assert_eq!(
        count("SELECT count(*) FROM interactions WHERE agent = 'ana'"),
        "2"
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM interactions WHERE document LIKE '%Written while the database was down%' AND state = 'done'"
        ),
        "1"
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM interactions WHERE document LIKE '%Amended during the outage%'"
        ),
        "1"
    );
    // And the agent reads it back from the team's database.
    let stored = get_json(ana.control, "/v1/interactions?q=written%20while");
    assert_eq!(stored.as_array().map(Vec::len), Some(1), "{stored}");
}

#[test]
fn two_hundred_team_callbacks_each_ring_on_exactly_one_of_three_ready_agents() {
    let dir = scratch("team-trials");
    let cluster = test_support::PgCluster::start().expect("PostgreSQL starts");
    let url = cluster.create_database("trials").expect("database");
    let agents: Vec<(String, Headless)> = std::thread::scope(|s| {
        let started: Vec<_> = ["ana", "bo", "cy"]
            .into_iter()
            .map(|name| {
                let (dir, url) = (&dir, &url);
                s.spawn(move || (name.to_owned(), agent(dir, name, url)))
            })
            .collect();
        started
            .into_iter()
            .map(|a| a.join().expect("agent"))
            .collect()
    });

    // 200 callbacks sent back to the queue by an agent of another shift, all due now; each
    // calls its own number.
    let mut origin = interaction::Interaction::notified(
        interaction::InteractionId(1),
        time::OffsetDateTime::now_utc() - time::Duration::hours(1),
        interaction::CallbackInfo {
            customer_number: Some("+34 600 000 000".to_owned()),
            ..interaction::CallbackInfo::default()
        },
        interaction::AttachedData::default(),
    );
    origin
        .reschedule(
            time::OffsetDateTime::now_utc() - time::Duration::hours(1),
            interaction::Reschedule {
                at: time::OffsetDateTime::now_utc() - time::Duration::minutes(1),
                time_zone: None,
                number: Some("NUMBER".to_owned()),
                personal: false,
            },
        )
        .expect("reschedule");
    let document = serde_json::to_string(&origin)
        .expect("json")
        .replace('\'', "''");
    cluster
        .psql(
            "trials",
            &format!(
                "INSERT INTO callbacks (origin_agent, origin_id, due_at, document)
                 SELECT 'night', g, now(), replace('{document}', 'NUMBER', '+34 699 ' || lpad(g::text, 6, '0'))
                 FROM generate_series(1, 200) g"
            ),
        )
        .expect("callbacks");

    // Each agent works what rings: accept (a preview: the agent could call now), a
    // disposition, done — then the next one rings.
    let mut handled: Vec<(String, String)> = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    while handled.len() < 200 && std::time::Instant::now() < deadline {
        let mut idle = true;
        for (name, agent) in &agents {
            for (id, number) in raised(agent) {
                idle = false;
                for (action, body) in [
                    ("accept", ""),
                    ("disposition", r#"{"code": "resolved"}"#),
                    ("done", ""),
                ] {
                    let (status, reply) = post_json(
                        agent.control,
                        &format!("/v1/interactions/{id}/{action}"),
                        body,
                    );
                    assert_eq!(status, 200, "{name} {id} {action}: {reply}");
                }
                handled.push((name.clone(), number));
            }
        }
        if idle {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let mut numbers: Vec<&str> = handled.iter().map(|(_, n)| n.as_str()).collect();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(
        (handled.len(), numbers.len()),
        (200, 200),
        "every callback rang once, on one agent"
    );
    for (name, _) in &agents {
        let share = handled.iter().filter(|(n, _)| n == name).count();
        assert!(
            share > 0,
            "{name} got none: the work is shared among the Ready agents"
        );
    }
    assert!(wait_until(Duration::from_secs(5), || {
        cluster
            .psql(
                "trials",
                "SELECT count(*) FROM callbacks WHERE settled_at IS NULL",
            )
            .is_ok_and(|n| n == "0")
    }));
    assert_eq!(
        cluster
            .psql(
                "trials",
                "SELECT count(DISTINCT raised_as::text || claimed_by) FROM callbacks"
            )
            .expect("psql"),
        "200"
    );
}
