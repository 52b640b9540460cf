//! The store's suite, run against both back ends: each case takes an opener (the same
//! database, opened again as the named agent) and runs once on a SQLite file and once on a
//! fresh PostgreSQL database of a throw-away cluster.

use super::*;
use interaction::{AttachedData, CallbackInfo, default_dispositions};
use std::time::Duration;

use time::macros::datetime;

/// Opens the case's database (again) as the named agent.
type Open<'a> = &'a dyn Fn(&str) -> Store;

fn sample(id: u64) -> Interaction {
    let t = datetime!(2026-11-25 15:31:02.113 UTC);
    let mut i = Interaction::notified(
        InteractionId(id),
        t,
        CallbackInfo {
            customer_number: Some("+1 555 0100".to_owned()),
            ..CallbackInfo::default()
        },
        AttachedData::default(),
    );
    i.accept(t).expect("accept");
    i.set_note(t, "Paid by card").expect("note");
    i.set_disposition(t, "resolved", &default_dispositions())
        .expect("disposition");
    i
}

fn temp_db(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("recall-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    dir.join("recall.db")
}

fn ids(found: &[Interaction]) -> Vec<u64> {
    found.iter().map(|i| i.id.0).collect()
}

fn reads_back_after_reopening(open: Open<'_>) {
    {
        let mut store = open("ana");
        store.save(&sample(1)).expect("save");
        let mut changed = sample(1);
        changed
            .set_note(datetime!(2026-11-25 15:40:00 UTC), "Changed")
            .expect("note");
        store.save(&changed).expect("save again");
    }
    let store = open("ana");
    let all = store.load_all().expect("load");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].note.as_deref(), Some("Changed"));
    assert_eq!(all[0].disposition.as_deref(), Some("resolved"));
    assert_eq!(
        store.load(InteractionId(1)).expect("load").map(|i| i.id),
        Some(InteractionId(1))
    );
    assert_eq!(store.load(InteractionId(2)).expect("load"), None);
    assert_eq!(store.version().expect("version"), SCHEMA_VERSION);
}

fn contacts_and_responses_get_ids(open: Open<'_>) {
    let mut store = open("ana");
    let ana = store
        .save_contact(Contact {
            name: "Ana".to_owned(),
            numbers: vec!["+34 600 123 456".to_owned()],
            ..Contact::default()
        })
        .expect("save");
    let bo = store
        .save_contact(Contact {
            name: "Bo".to_owned(),
            ..Contact::default()
        })
        .expect("save");
    assert_eq!((ana.id, bo.id), (1, 2));
    let renamed = Contact {
        name: "Ana María".to_owned(),
        ..ana
    };
    store.save_contact(renamed).expect("update");
    assert_eq!(store.contacts().expect("list")[0].name, "Ana María");
    assert!(store.delete_contact(2).expect("delete"));
    assert!(!store.delete_contact(2).expect("delete again"));
    let response = store
        .save_response(StandardResponse {
            title: "Refunds".to_owned(),
            body: "Five working days.".to_owned(),
            ..StandardResponse::default()
        })
        .expect("save");
    assert_eq!(response.id, 1);
    assert_eq!(
        store.responses().expect("list"),
        std::slice::from_ref(&response)
    );
    // The directory is the team's: another agent sees it, and its next id follows on.
    let mut other = open("bo");
    assert_eq!(other.responses().expect("list"), [response]);
    let cy = other
        .save_contact(Contact {
            name: "Cy".to_owned(),
            ..Contact::default()
        })
        .expect("save");
    assert_eq!(cy.id, 2);
    assert_eq!(
        store
            .contacts()
            .expect("list")
            .iter()
            .map(|c| c.id)
            .collect::<Vec<_>>(),
        [1, 2]
    );
}

fn answers_a_query_as_the_query_itself_does(open: Open<'_>) {
    let mut store = open("ana");
    let base = datetime!(2026-11-25 15:00:00 UTC);
    let mut batch: Vec<Interaction> = (1..=6).map(sample).collect();
    for (n, interaction) in batch.iter_mut().enumerate() {
        // Half a second apart, so that fractions of a second matter at the bounds.
        interaction.timeline[0].at = base + time::Duration::milliseconds(500 * n as i64);
    }
    batch[2].callback.customer_number = Some("+44 20 7946 0000".to_owned());
    batch[3].set_note(base, "50%_off REFUND").expect("note");
    batch[4].state = interaction::InteractionState::Done;
    batch[5]
        .set_note(base, "Señora MARÍA \"VIP\" 50% off")
        .expect("note");
    store.save_batch(&batch).expect("batch");
    let text = |t: &str| Query {
        text: Some(t.to_owned()),
        ..Query::default()
    };
    let queries = [
        Query::default(),
        text("7946"),
        text("50%_OFF"),
        text("%"),
        text("refund"),
        text("señora maría"),
        text("\"vip\" 50"),
        text("0% "),
        text("no such words"),
        Query {
            limit: 1,
            ..text("off")
        },
        Query {
            state: Some(interaction::InteractionState::Done),
            ..Query::default()
        },
        Query {
            from: Some(base + time::Duration::milliseconds(500)),
            to: Some(base + time::Duration::milliseconds(2000)),
            ..Query::default()
        },
        Query {
            from: Some(base + time::Duration::milliseconds(501)),
            ..Query::default()
        },
        Query {
            limit: 2,
            ..Query::default()
        },
    ];
    for query in &queries {
        assert_eq!(
            ids(&store.query(query).expect("query")),
            ids(&query.select(batch.clone().into_iter())),
            "{query:?}"
        );
    }
    assert_eq!(ids(&store.query(&queries[11]).expect("query")), [2, 3, 4]);
    assert_eq!(ids(&store.query(&queries[2]).expect("query")), [4]);
    assert_eq!(ids(&store.query(&queries[13]).expect("query")), [5, 6]);
    assert_eq!(ids(&store.query(&queries[4]).expect("query")), [4]);
    assert_eq!(ids(&store.query(&queries[5]).expect("query")), [6]);
    assert_eq!(ids(&store.query(&queries[6]).expect("query")), [6]);
    assert_eq!(ids(&store.query(&queries[9]).expect("query")), [6]);
    // A record rewritten is found by what it says now, not by what it said.
    batch[3].set_note(base, "settled").expect("note");
    store.save(&batch[3]).expect("save");
    assert!(store.query(&queries[4]).expect("query").is_empty());
    assert_eq!(ids(&store.query(&text("SETTLED")).expect("query")), [4]);
    // On a shared database the history is the agent's own: another agent finds none of these.
    let other = open("bo");
    if other.is_shared() {
        assert!(other.query(&Query::default()).expect("query").is_empty());
    }
}

fn saves_changes_together_with_outcomes_in_order(open: Open<'_>) {
    let mut store = open("ana");
    let (one, two, three) = (sample(1), sample(2), sample(3));
    let items = store
        .save_all_reporting(&[
            (&one, Some("done")),
            (&two, None),
            (&three, Some("rescheduled")),
        ])
        .expect("saved");
    assert_eq!(
        items
            .iter()
            .map(|i| (i.interaction.0, i.event.as_str()))
            .collect::<Vec<_>>(),
        [(1, "done"), (3, "rescheduled")]
    );
    assert!(items[0].id < items[1].id);
    assert_eq!(store.load_all().expect("load").len(), 3);
    assert_eq!(store.pending_outbox().expect("pending"), items);
}

fn outcomes_wait_in_the_outbox(open: Open<'_>) {
    let first = {
        let mut store = open("ana");
        let first = store
            .save_reporting(&sample(1), Some("disposition"))
            .expect("save")
            .expect("queued");
        assert_eq!(store.save_reporting(&sample(2), None).expect("save"), None);
        let second = store.enqueue(&sample(2), "done").expect("queue");
        assert!(second.id > first.id);
        store.outbox_failed(second.id, "HTTP 400").expect("fail");
        first
    };
    let mut store = open("ana");
    assert_eq!(
        store.pending_outbox().expect("pending"),
        std::slice::from_ref(&first)
    );
    assert_eq!(store.outbox_failed_count().expect("count"), 1);
    let body: Interaction = serde_json::from_str(&first.body).expect("json");
    assert_eq!(body.disposition.as_deref(), Some("resolved"));
    store.outbox_delivered(first.id).expect("delivered");
    assert!(store.pending_outbox().expect("pending").is_empty());
    // Keys are never reused, even after the outbox empties.
    let third = store.enqueue(&sample(3), "done").expect("queue");
    assert!(third.id > first.id + 1);
}

/// An interaction for the case tests: a number, a case id, a note.
fn case_sample(id: u64, minute: u8, number: &str, case: Option<&str>, note: &str) -> Interaction {
    let mut i = sample(id);
    i.timeline[0].at = datetime!(2026-11-25 09:00 UTC) + time::Duration::minutes(minute.into());
    i.callback.customer_number = Some(number.to_owned());
    if let Some(case) = case {
        i.attached.push("CaseID", case.to_owned());
    }
    i.set_note(i.timeline[0].at, note).expect("note");
    i
}

fn finds_the_case_by_number_and_case_id(open: Open<'_>) {
    let mut store = open("ana");
    let keys = ["CaseID".to_owned()];
    let earlier = [
        // The same line written differently: same case.
        case_sample(1, 0, "+34 600 123 456", None, "asked for a refund"),
        // Another number, same case id: same case.
        case_sample(
            2,
            5,
            "+34 911 000 111",
            Some("CASE-4711"),
            "refund approved",
        ),
        // Neither: another customer, whose note names the case id under another key.
        case_sample(3, 10, "+1 555 0199", None, "see CASE-4711 for the refund"),
        // A case id that contains ours is another case.
        case_sample(4, 15, "+1 555 0177", Some("CASE-47110"), "other"),
    ];
    store.save_batch(&earlier).expect("save");
    let now = case_sample(9, 30, "0034600123456", Some("CASE-4711"), "calling back");
    store.save(&now).expect("save");
    let case = store.case_history(&now, &keys, 10).expect("case");
    assert_eq!(
        case.iter()
            .map(|e| (e.interaction.0, e.matched.as_str(), e.agent.as_str()))
            .collect::<Vec<_>>(),
        [(2, "CaseID", "ana"), (1, "number", "ana")]
    );
    assert_eq!(case[0].note.as_deref(), Some("refund approved"));
    assert_eq!(case[0].disposition.as_deref(), Some("resolved"));
    assert_eq!(store.case_history(&now, &keys, 1).expect("case").len(), 1);
    // Without case keys only the number counts; without a number or keys there is no case.
    assert_eq!(store.case_history(&now, &[], 10).expect("case").len(), 1);
    let mut nobody = now.clone();
    nobody.callback.customer_number = None;
    assert!(
        store
            .case_history(&nobody, &[], 10)
            .expect("case")
            .is_empty()
    );
}

/// Every case of the suite, by name.
/// A case of the suite.
type Case = fn(Open<'_>);

const SUITE: &[(&str, Case)] = &[
    ("reads_back_after_reopening", reads_back_after_reopening),
    (
        "contacts_and_responses_get_ids",
        contacts_and_responses_get_ids,
    ),
    (
        "answers_a_query_as_the_query_itself_does",
        answers_a_query_as_the_query_itself_does,
    ),
    (
        "saves_changes_together_with_outcomes_in_order",
        saves_changes_together_with_outcomes_in_order,
    ),
    ("outcomes_wait_in_the_outbox", outcomes_wait_in_the_outbox),
    (
        "finds_the_case_by_number_and_case_id",
        finds_the_case_by_number_and_case_id,
    ),
];

fn on_sqlite(name: &str) {
    let (_, case) = SUITE
        .iter()
        .find(|(n, _)| *n == name)
        .expect("a case of the suite");
    let path = temp_db(name);
    case(&|agent| Store::open(&path).expect("open").named(agent));
}

#[test]
fn sqlite_reads_back_after_reopening() {
    on_sqlite("reads_back_after_reopening");
}

#[test]
fn sqlite_contacts_and_responses_get_ids() {
    on_sqlite("contacts_and_responses_get_ids");
}

#[test]
fn sqlite_answers_a_query_as_the_query_itself_does() {
    on_sqlite("answers_a_query_as_the_query_itself_does");
}

#[test]
fn sqlite_saves_changes_together_with_outcomes_in_order() {
    on_sqlite("saves_changes_together_with_outcomes_in_order");
}

#[test]
fn sqlite_outcomes_wait_in_the_outbox() {
    on_sqlite("outcomes_wait_in_the_outbox");
}

#[test]
fn sqlite_finds_the_case_by_number_and_case_id() {
    on_sqlite("finds_the_case_by_number_and_case_id");
}

#[test]
fn every_case_of_the_suite_runs_on_sqlite() {
    // The #[test]s above name each case; this fails when one is added without its test.
    let source = include_str!("tests.rs");
    for (name, _) in SUITE {
        assert!(
            source.contains(&format!("fn sqlite_{name}()")),
            "no SQLite test for {name}"
        );
    }
}

/// FTS5's own check of the text index against its table.
fn text_index_intact(store: &sqlite::Sqlite) {
    store
        .connection
        .execute(
            "INSERT INTO interactions_text (interactions_text, rank) VALUES ('integrity-check', 1)",
            [],
        )
        .expect("text index intact");
}

#[test]
fn the_sqlite_text_index_follows_batches_and_rewrites() {
    let mut store = sqlite::Sqlite::in_memory().expect("open");
    let batch: Vec<Interaction> = (1..=6).map(sample).collect();
    let changes: Vec<_> = batch.iter().map(|i| (i, None)).collect();
    store.save_all(&changes).expect("batch");
    text_index_intact(&store);
    let mut changed = batch[3].clone();
    changed
        .set_note(datetime!(2026-11-25 15:40:00 UTC), "settled")
        .expect("note");
    store.save_all(&[(&changed, None)]).expect("save");
    text_index_intact(&store);
    // One row written twice in a batch: the index ends with its last text only.
    let mut first = batch[4].clone();
    first
        .set_note(datetime!(2026-11-25 15:41:00 UTC), "wrongnumber")
        .expect("note");
    let mut second = first.clone();
    second
        .set_note(datetime!(2026-11-25 15:42:00 UTC), "rightnumber")
        .expect("note");
    store
        .save_all(&[(&first, None), (&second, Some("done"))])
        .expect("save twice");
    text_index_intact(&store);
    let found = |store: &sqlite::Sqlite, text: &str| {
        store
            .query(&Query {
                text: Some(text.to_owned()),
                ..Query::default()
            })
            .expect("search")
            .len()
    };
    assert_eq!(found(&store, "rightnumber"), 1);
    assert_eq!(found(&store, "wrongnumber"), 0);
    // A batch as large as an import's, which leaves the index merged.
    let big: Vec<Interaction> = (10..1300).map(sample).collect();
    let changes: Vec<_> = big.iter().map(|i| (i, None)).collect();
    store.save_all(&changes).expect("big batch");
    text_index_intact(&store);
    assert_eq!(found(&store, "rightnumber"), 1);
}

#[test]
fn sqlite_migrations_run_from_empty_and_from_every_earlier_version() {
    for start in 0..=SCHEMA_VERSION {
        let path = temp_db(&format!("migrate-{start}"));
        {
            let connection = rusqlite::Connection::open(&path).expect("open");
            for (index, migration) in MIGRATIONS.iter().enumerate().take(start) {
                connection
                    .execute_batch(migration.sqlite)
                    .expect("old schema");
                connection
                    .pragma_update(None, "user_version", index as i64 + 1)
                    .expect("version");
            }
            if start >= 1 {
                // A row written by the older schema must survive the upgrade.
                connection
                    .execute(
                        "INSERT INTO interactions (id, state, customer_number, created_at, document)
                         VALUES (1, 'done', NULL, '2026-01-01', ?1)",
                        rusqlite::params![serde_json::to_string(&sample(1)).expect("json")],
                    )
                    .expect("old row");
            }
        }
        let store = Store::open(&path).expect("migrates");
        assert_eq!(
            store.version().expect("version"),
            SCHEMA_VERSION,
            "from {start}"
        );
        assert_eq!(
            store.load_all().expect("load").len(),
            usize::from(start >= 1)
        );
        text_index_intact(&sqlite::Sqlite::open(&path).expect("open"));
        // Rows written before the text index and the number key existed are in them.
        let paid = Query {
            text: Some("paid by CARD".to_owned()),
            ..Query::default()
        };
        assert_eq!(
            store.query(&paid).expect("search").len(),
            usize::from(start >= 1),
            "from {start}"
        );
        let mut now = sample(2);
        now.callback.customer_number = Some("+1 555 0100".to_owned());
        assert_eq!(
            store.case_history(&now, &[], 10).expect("case").len(),
            usize::from(start >= 1),
            "from {start}"
        );
    }
}

#[test]
fn a_corrupt_or_newer_file_is_refused_with_a_clear_message() {
    let path = temp_db("corrupt");
    std::fs::write(
        &path,
        b"this is not a database, just some text that is long enough",
    )
    .expect("write");
    let error = Store::open(&path).expect_err("corrupt");
    assert!(error.to_string().contains("is not usable"), "{error}");
    assert!(error.to_string().contains("choose another --db"), "{error}");

    let path = temp_db("newer");
    {
        let connection = rusqlite::Connection::open(&path).expect("open");
        connection
            .pragma_update(None, "user_version", 99)
            .expect("version");
    }
    let error = Store::open(&path).expect_err("too new");
    assert!(error.to_string().contains("schema version 99"), "{error}");

    let error =
        Store::open(std::path::Path::new("/nonexistent-dir/recall.db")).expect_err("no dir");
    assert!(
        error
            .to_string()
            .starts_with("cannot open the database /nonexistent-dir/recall.db"),
        "{error}"
    );
}

/// The whole suite on PostgreSQL (one throw-away cluster, a fresh database per case), then
/// what only a shared server has: agents migrating at once, one customer's case across agents,
/// a server that is not there, a schema from a newer recall.
#[test]
fn the_suite_passes_on_postgresql() {
    let cluster = test_support::PgCluster::start().expect("PostgreSQL starts");
    for (name, case) in SUITE {
        let url = cluster.create_database(name).expect("database");
        case(&|agent| Store::connect(&url, agent).unwrap_or_else(|e| panic!("{name}: {e}")));
    }

    // Eight agents starting at once on an empty database: each migration runs once.
    let url = cluster.create_database("together").expect("database");
    let started: Vec<_> = (0..8)
        .map(|n| {
            let url = url.clone();
            std::thread::spawn(move || Store::connect(&url, &format!("agent{n}")).map(drop))
        })
        .collect();
    for agent in started {
        agent
            .join()
            .expect("thread")
            .expect("connects and migrates");
    }
    assert_eq!(
        cluster
            .psql("together", "SELECT version FROM recall_schema")
            .expect("psql"),
        SCHEMA_VERSION.to_string()
    );
    assert_eq!(
        cluster
            .psql("together", "SELECT count(*) FROM recall_schema")
            .expect("psql"),
        "1"
    );

    // One customer's case across agents: Bo sees what Ana wrote, and Ana what Bo wrote.
    let url = cluster.create_database("team").expect("database");
    let keys = ["CaseID".to_owned()];
    let mut ana = Store::connect(&url, "ana").expect("ana");
    let mut bo = Store::connect(&url, "bo").expect("bo");
    ana.save(&case_sample(
        1,
        0,
        "+34 600 123 456",
        Some("CASE-9"),
        "card declined",
    ))
    .expect("save");
    bo.save(&case_sample(
        1,
        10,
        "+34 699 999 999",
        Some("CASE-9"),
        "paid by transfer",
    ))
    .expect("save");
    let now = case_sample(2, 20, "600123456", None, "calling back");
    let seen_by_bo = bo.case_history(&now, &keys, 10).expect("case");
    assert_eq!(
        seen_by_bo
            .iter()
            .map(|e| (e.agent.as_str(), e.interaction.0, e.note.as_deref()))
            .collect::<Vec<_>>(),
        [("ana", 1, Some("card declined"))]
    );
    let with_case = case_sample(2, 20, "+1 555 0100", Some("CASE-9"), "calling back");
    let seen_by_ana = ana.case_history(&with_case, &keys, 10).expect("case");
    assert_eq!(
        seen_by_ana
            .iter()
            .map(|e| (e.agent.as_str(), e.matched.as_str()))
            .collect::<Vec<_>>(),
        [("bo", "CaseID"), ("ana", "CaseID")]
    );
    // Ana's own interaction 1 is not Bo's interaction 1.
    assert_eq!(
        ana.load(InteractionId(1))
            .expect("load")
            .and_then(|i| i.note),
        Some("card declined".to_owned())
    );

    team_callbacks_are_claimed_once(&cluster);
    let mut cluster = cluster;
    writes_wait_in_the_journal_while_the_server_is_away(&mut cluster);

    // A newer schema is refused, as on SQLite.
    cluster
        .psql("team", "UPDATE recall_schema SET version = 99")
        .expect("psql");
    let error = Store::connect(&url, "cy").expect_err("too new");
    assert!(error.to_string().contains("schema version 99"), "{error}");

    // A server that is not there: a clear error, the password left out.
    let port = cluster.port();
    drop(cluster);
    let error = Store::connect(
        &format!("postgres://recall:secret@127.0.0.1:{port}/team?connect_timeout=2"),
        "ana",
    )
    .expect_err("no server");
    let text = error.to_string();
    assert!(
        text.starts_with(&format!(
            "cannot reach the database postgres://recall:***@127.0.0.1:{port}/team"
        )),
        "{text}"
    );
    assert!(!text.contains("secret"), "{text}");
    assert!(
        Store::connect("postgres://127.0.0.1/x", " ")
            .expect_err("no agent")
            .to_string()
            .contains("[store] agent")
    );
}

/// An interaction rescheduled back to the queue (`personal: false`) for `due`.
fn to_the_queue(id: u64, due: time::OffsetDateTime) -> Interaction {
    rescheduled(id, due, false)
}

/// An interaction rescheduled for `due`, to this agent (`personal`) or to the queue.
fn rescheduled(id: u64, due: time::OffsetDateTime, personal: bool) -> Interaction {
    let mut i = sample(id);
    let request = interaction::Reschedule {
        at: due,
        time_zone: None,
        number: Some(format!("+34 600 000 {id:03}")),
        personal,
    };
    i.reschedule(datetime!(2026-11-25 15:40 UTC), request)
        .expect("reschedule");
    i
}

/// Team callbacks on PostgreSQL: 200 due at once, three agents claiming together: each is
/// raised exactly once; a claim that is not renewed passes to another agent after its lease;
/// one given back is claimed again; one made personal leaves the queue.
fn team_callbacks_are_claimed_once(cluster: &test_support::PgCluster) {
    let url = cluster.create_database("callbacks").expect("database");
    let mut origin = Store::connect(&url, "origin").expect("origin");
    let past = time::OffsetDateTime::now_utc() - time::Duration::minutes(1);
    let queued: Vec<Interaction> = (1..=200).map(|n| to_the_queue(n, past)).collect();
    let changes: Vec<_> = queued.iter().map(|i| (i, Some("rescheduled"))).collect();
    origin.save_all_reporting(&changes).expect("queued");
    // Rescheduled again to the queue: still one callback, not two.
    origin
        .save_reporting(&to_the_queue(7, past), Some("rescheduled"))
        .expect("again");
    // Nothing is due in the future, and SQLite has no team queue.
    let lease = Duration::from_secs(30);
    let claimed: Vec<Vec<(i64, String)>> = std::thread::scope(|s| {
        let agents: Vec<_> = ["ana", "bo", "cy"]
            .into_iter()
            .map(|name| {
                let url = url.clone();
                s.spawn(move || {
                    let agent = Store::connect(&url, name).expect("agent");
                    let mut mine = Vec::new();
                    while let Some(claim) = agent.claim_callback(lease).expect("claim") {
                        let number = claim
                            .origin
                            .reschedule
                            .as_ref()
                            .and_then(|r| r.number.clone());
                        agent
                            .settle_callback(claim.id, "connected", InteractionId(1))
                            .expect("settle");
                        mine.push((claim.id, number.unwrap_or_default()));
                    }
                    mine
                })
            })
            .collect();
        agents
            .into_iter()
            .map(|a| a.join().expect("agent"))
            .collect()
    });
    let mut all: Vec<i64> = claimed.iter().flatten().map(|(id, _)| *id).collect();
    let total = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!((total, all.len()), (200, 200), "each once, none missed");
    assert!(
        claimed.iter().filter(|mine| !mine.is_empty()).count() >= 2,
        "shared between agents: {:?}",
        claimed.iter().map(Vec::len).collect::<Vec<_>>()
    );
    assert!(
        claimed
            .iter()
            .flatten()
            .all(|(_, n)| n.starts_with("+34 600 000 "))
    );

    // A claim nobody renews: another agent gets it when the lease runs out, not before.
    origin
        .save_reporting(&to_the_queue(300, past), Some("rescheduled"))
        .expect("queued");
    let dies = Store::connect(&url, "dies").expect("agent");
    let short = Duration::from_millis(1500);
    let held = dies.claim_callback(short).expect("claim").expect("one due");
    assert!(dies.renew_callback(held.id, short).expect("renew"));
    let heir = Store::connect(&url, "heir").expect("agent");
    assert!(heir.claim_callback(lease).expect("claim").is_none(), "held");
    std::thread::sleep(Duration::from_millis(1700));
    let taken = heir
        .claim_callback(lease)
        .expect("claim")
        .expect("lease ran out");
    assert_eq!(taken.id, held.id);
    assert!(
        !dies.renew_callback(held.id, short).expect("renew"),
        "no longer its"
    );
    // Given back: claimable again at once.
    heir.release_callback(taken.id).expect("release");
    let again = dies
        .claim_callback(lease)
        .expect("claim")
        .expect("given back");
    assert_eq!(again.id, held.id);
    dies.settle_callback(again.id, "connected", InteractionId(2))
        .expect("settle");
    assert!(
        heir.claim_callback(lease).expect("claim").is_none(),
        "settled"
    );

    // Made personal before anyone claims it: it leaves the queue. Not yet due: not claimed.
    let future = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    origin
        .save_reporting(&to_the_queue(400, future), Some("rescheduled"))
        .expect("queued");
    assert!(
        heir.claim_callback(lease).expect("claim").is_none(),
        "not due"
    );
    origin
        .save_reporting(&rescheduled(400, past, true), None)
        .expect("personal");
    assert_eq!(
        cluster
            .psql(
                "callbacks",
                "SELECT count(*) FROM callbacks WHERE origin_id = 400"
            )
            .expect("psql"),
        "0"
    );
    assert!(
        Store::in_memory()
            .expect("sqlite")
            .claim_callback(lease)
            .expect("claim")
            .is_none()
    );
}

/// PostgreSQL stopped: writes are kept in the journal (acknowledged), in order; back, they
/// are replayed once, outcomes and all.
fn writes_wait_in_the_journal_while_the_server_is_away(cluster: &mut test_support::PgCluster) {
    let url = cluster.create_database("journal").expect("database");
    let dir = temp_db("journal");
    let mut store = Store::connect(&url, "ana")
        .expect("agent")
        .with_journal(Some(&dir))
        .expect("journal");
    store.save(&sample(1)).expect("saved");
    assert_eq!(store.pending(), 0);
    cluster.stop();
    let mut changed = sample(1);
    changed
        .set_note(
            datetime!(2026-11-25 15:41 UTC),
            "written while the server was away",
        )
        .expect("note");
    store
        .save_reporting(&changed, Some("disposition"))
        .expect("kept in the journal");
    store.save(&sample(2)).expect("kept in the journal");
    assert_eq!(store.pending(), 2);
    assert!(matches!(store.replay(), Err(StoreError::Unreachable(_))));
    assert_eq!(store.pending(), 2);
    cluster.resume().expect("back");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let items = loop {
        match store.replay() {
            Ok(items) => break items,
            Err(StoreError::Unreachable(_)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("replay: {e}"),
        }
    };
    assert_eq!(store.pending(), 0);
    assert_eq!(
        items
            .iter()
            .map(|i| (i.interaction.0, i.event.as_str()))
            .collect::<Vec<_>>(),
        [(1, "disposition")]
    );
    let all = store.load_all().expect("load");
    assert_eq!(ids(&all), [1, 2]);
    assert_eq!(
        all[0].note.as_deref(),
        Some("written while the server was away")
    );
    // Replayed once: nothing is waiting, and a second replay writes nothing more.
    assert!(store.replay().expect("nothing").is_empty());
    assert_eq!(
        cluster
            .psql("journal", "SELECT count(*) FROM interactions")
            .expect("psql"),
        "2"
    );
}
