//! The PostgreSQL back end: a team's shared database. Interactions and the webhook outbox are
//! keyed by agent (each agent numbers its own interactions); contacts and standard responses are
//! the team's. The client (the `postgres` crate, blocking) lives on a thread of its own, so that
//! the store can be called from anywhere, the runtime's async loop included, as the SQLite
//! back end is.

use std::sync::mpsc;
use std::time::Duration;

use interaction::{Interaction, InteractionId, Query};
use postgres::{Client, NoTls};

use crate::sqlite::like_pattern;
use crate::{Backend, Columns, MIGRATIONS, OutboxItem, SCHEMA_VERSION, StoreError, Table};

type Job = Box<dyn FnOnce(&mut Client) + Send>;

/// The advisory lock that serialises migrations between agents starting together.
const MIGRATION_LOCK: i64 = 0x7265_6361_6c6c; // "recall"

/// A connection to the team's database, on its own thread.
#[derive(Debug)]
pub(crate) struct Postgres {
    jobs: mpsc::Sender<Job>,
    agent: String,
    shown: String,
}

/// What a failed call said, with the server's own message when there is one.
fn said(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}

/// `url` without its password.
pub(crate) fn hide_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split_once(':').map_or(user, |(u, _)| u);
            format!("{scheme}://{user}:***@{host}{path}")
        }
        None => url.to_owned(),
    }
}

impl Postgres {
    /// Connects (five seconds at most unless the URL says `connect_timeout`) and migrates.
    pub(crate) fn connect(url: &str, agent: &str) -> Result<Self, StoreError> {
        let refused = |reason: String| StoreError::Connect {
            url: hide_password(url),
            reason,
        };
        if agent.trim().is_empty() {
            return Err(refused(
                "a shared database needs the agent's name ([store] agent)".to_owned(),
            ));
        }
        let mut config: postgres::Config = url.parse().map_err(|e| refused(said(&e)))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        if config.get_application_name().is_none() {
            config.application_name("recall");
        }
        let hosts: Vec<String> = config
            .get_hosts()
            .iter()
            .map(|h| match h {
                postgres::config::Host::Tcp(name) => name.clone(),
                postgres::config::Host::Unix(path) => path.display().to_string(),
            })
            .collect();
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let shown = format!(
            "{}:{port}/{}",
            hosts.join(","),
            config.get_dbname().unwrap_or_default()
        );
        let (jobs, queue) = mpsc::channel::<Job>();
        let (ready, connected) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("recall-postgres".to_owned())
            .spawn(move || {
                let mut client = match config.connect(NoTls) {
                    Ok(client) => client,
                    Err(e) => {
                        let _ = ready.send(Err(said(&e)));
                        return;
                    }
                };
                let _ = ready.send(Ok(()));
                // A lost connection is made again before the next job, at most every two
                // seconds: meanwhile jobs fail at once (the store keeps their writes in its
                // journal) instead of each waiting for a server that is not there.
                let mut next_try = std::time::Instant::now();
                for job in queue {
                    if client.is_closed() && std::time::Instant::now() >= next_try {
                        match config.connect(NoTls) {
                            Ok(again) => client = again,
                            Err(_) => {
                                next_try = std::time::Instant::now() + Duration::from_secs(2);
                            }
                        }
                    }
                    job(&mut client);
                }
            })
            .map_err(|e| refused(format!("cannot start its thread: {e}")))?;
        connected
            .recv()
            .map_err(|_| refused("its thread stopped".to_owned()))?
            .map_err(refused)?;
        let store = Self {
            jobs,
            agent: agent.to_owned(),
            shown,
        };
        store.migrate()?;
        Ok(store)
    }

    /// `HOST:PORT/DB`.
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    /// Runs `f` on the client's thread and waits for its answer.
    fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<R, postgres::Error> + Send + 'static,
    ) -> Result<R, StoreError> {
        let (answer, answered) = mpsc::sync_channel(1);
        self.jobs
            .send(Box::new(move |client| {
                let _ = answer.send(f(client).map_err(|e| {
                    // No answer from the server, or it is going away: unreachable, so the
                    // write waits in the journal. Anything else is a refusal.
                    let lost = e.is_closed()
                        || e.as_db_error().is_none_or(|db| {
                            let class = &db.code().code()[..2];
                            class == "08" || class == "57"
                        });
                    if lost {
                        StoreError::Unreachable(said(&e))
                    } else {
                        StoreError::Server(said(&e))
                    }
                }));
            }))
            .map_err(|_| StoreError::Server("the database thread stopped".to_owned()))?;
        answered
            .recv()
            .map_err(|_| StoreError::Server("the database thread stopped".to_owned()))?
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let shown = self.shown.clone();
        let found = self.call(|client| {
            let mut tx = client.transaction()?;
            // Agents starting together: one migrates, the others wait here and find it done.
            tx.batch_execute(&format!(
                "SELECT pg_advisory_xact_lock({MIGRATION_LOCK});
                 CREATE TABLE IF NOT EXISTS recall_schema (version INTEGER NOT NULL);"
            ))?;
            let found = match tx.query_opt("SELECT version FROM recall_schema", &[])? {
                Some(row) => row.get::<_, i32>(0),
                None => {
                    tx.execute("INSERT INTO recall_schema (version) VALUES (0)", &[])?;
                    0
                }
            };
            let found = usize::try_from(found).unwrap_or(0);
            if found > SCHEMA_VERSION {
                return Ok(Err(found));
            }
            for (index, migration) in MIGRATIONS.iter().enumerate().skip(found) {
                if !migration.postgres.is_empty() {
                    tx.batch_execute(migration.postgres)?;
                }
                tx.execute(
                    "UPDATE recall_schema SET version = $1",
                    &[&(index as i32 + 1)],
                )?;
            }
            tx.commit()?;
            Ok(Ok(()))
        });
        match found {
            Ok(Ok(())) => Ok(()),
            Ok(Err(found)) => Err(StoreError::TooNew {
                path: shown,
                found,
                known: SCHEMA_VERSION,
            }),
            Err(StoreError::Server(reason) | StoreError::Unreachable(reason)) => {
                Err(StoreError::Unusable {
                    path: shown,
                    reason: format!("migration failed: {reason}"),
                })
            }
            Err(e) => Err(e),
        }
    }
}

fn documents(rows: Vec<postgres::Row>) -> Vec<(i64, String)> {
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

/// A created or updated time for a TIMESTAMPTZ column (the epoch for a record without one).
fn stamp(text: &str) -> String {
    if text.is_empty() {
        "1970-01-01T00:00:00Z".to_owned()
    } else {
        text.to_owned()
    }
}

impl Backend for Postgres {
    fn version(&self) -> Result<usize, StoreError> {
        self.call(|client| {
            let version: i32 = client
                .query_one("SELECT version FROM recall_schema", &[])?
                .get(0);
            Ok(usize::try_from(version).unwrap_or(0))
        })
    }

    fn save_all(
        &mut self,
        changes: &[(&Interaction, Option<&str>)],
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let rows = changes
            .iter()
            .map(|(interaction, event)| {
                Ok((
                    interaction.id,
                    Columns::of(interaction)?,
                    event.map(str::to_owned),
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let agent = self.agent.clone();
        self.call(move |client| {
            let mut tx = client.transaction()?;
            let upsert = tx.prepare(
                "INSERT INTO interactions (agent, id, state, customer_number, created_at,
                     updated_at, document, search_text, number_key)
                 VALUES ($1, $2, $3, $4, $5::text::timestamptz, $6::text::timestamptz, $7, $8, $9)
                 ON CONFLICT (agent, id) DO UPDATE SET state = $3, customer_number = $4,
                     updated_at = $6::text::timestamptz, document = $7, search_text = $8,
                     number_key = $9",
            )?;
            let queue = tx.prepare(
                "INSERT INTO outbox (agent, interaction, event, body) VALUES ($1, $2, $3, $4)
                 RETURNING id",
            )?;
            // A reschedule back to the queue joins the team's callbacks (a new time replaces
            // the old while nobody holds it); one made personal leaves them.
            let to_team = tx.prepare(
                "INSERT INTO callbacks (origin_agent, origin_id, due_at, document)
                 VALUES ($1, $2, $3::text::timestamptz, $4)
                 ON CONFLICT (origin_agent, origin_id) DO UPDATE
                     SET due_at = EXCLUDED.due_at, document = EXCLUDED.document
                     WHERE callbacks.settled_at IS NULL AND callbacks.claimed_by IS NULL",
            )?;
            let personal = tx.prepare(
                "DELETE FROM callbacks WHERE origin_agent = $1 AND origin_id = $2
                 AND settled_at IS NULL AND claimed_by IS NULL",
            )?;
            let mut items = Vec::new();
            for (id, columns, event) in rows {
                tx.execute(
                    &upsert,
                    &[
                        &agent,
                        &(id.0 as i64),
                        &columns.state,
                        &columns.customer_number,
                        &stamp(&columns.created),
                        &stamp(&columns.updated),
                        &columns.document,
                        &columns.search_text,
                        &columns.number_key,
                    ],
                )?;
                match &columns.rescheduled {
                    Some(Some(due)) => {
                        tx.execute(&to_team, &[&agent, &(id.0 as i64), due, &columns.document])?;
                    }
                    Some(None) => {
                        tx.execute(&personal, &[&agent, &(id.0 as i64)])?;
                    }
                    None => {}
                }
                if let Some(event) = event {
                    let key: i64 = tx
                        .query_one(&queue, &[&agent, &(id.0 as i64), &event, &columns.document])?
                        .get(0);
                    items.push(OutboxItem {
                        id: key as u64,
                        interaction: id,
                        event,
                        body: columns.document,
                    });
                }
            }
            tx.commit()?;
            Ok(items)
        })
    }

    fn enqueue(
        &mut self,
        interaction: InteractionId,
        event: &str,
        body: String,
    ) -> Result<OutboxItem, StoreError> {
        let (agent, event) = (self.agent.clone(), event.to_owned());
        self.call(move |client| {
            let key: i64 = client
                .query_one(
                    "INSERT INTO outbox (agent, interaction, event, body) VALUES ($1, $2, $3, $4)
                     RETURNING id",
                    &[&agent, &(interaction.0 as i64), &event, &body],
                )?
                .get(0);
            Ok(OutboxItem {
                id: key as u64,
                interaction,
                event,
                body,
            })
        })
    }

    fn pending_outbox(&self) -> Result<Vec<OutboxItem>, StoreError> {
        let agent = self.agent.clone();
        self.call(move |client| {
            Ok(client
                .query(
                    "SELECT id, interaction, event, body FROM outbox
                     WHERE agent = $1 AND failed IS NULL ORDER BY id",
                    &[&agent],
                )?
                .iter()
                .map(|row| OutboxItem {
                    id: row.get::<_, i64>(0) as u64,
                    interaction: InteractionId(row.get::<_, i64>(1) as u64),
                    event: row.get(2),
                    body: row.get(3),
                })
                .collect())
        })
    }

    fn outbox_delivered(&mut self, id: u64) -> Result<(), StoreError> {
        let agent = self.agent.clone();
        self.call(move |client| {
            client.execute(
                "DELETE FROM outbox WHERE id = $1 AND agent = $2",
                &[&(id as i64), &agent],
            )?;
            Ok(())
        })
    }

    fn outbox_failed(&mut self, id: u64, reason: &str) -> Result<(), StoreError> {
        let (agent, reason) = (self.agent.clone(), reason.to_owned());
        self.call(move |client| {
            client.execute(
                "UPDATE outbox SET failed = $3 WHERE id = $1 AND agent = $2",
                &[&(id as i64), &agent, &reason],
            )?;
            Ok(())
        })
    }

    fn outbox_failed_count(&self) -> Result<u64, StoreError> {
        let agent = self.agent.clone();
        self.call(move |client| {
            let n: i64 = client
                .query_one(
                    "SELECT COUNT(*) FROM outbox WHERE agent = $1 AND failed IS NOT NULL",
                    &[&agent],
                )?
                .get(0);
            Ok(n as u64)
        })
    }

    fn query(&self, query: &Query) -> Result<Vec<(i64, String)>, StoreError> {
        let agent = self.agent.clone();
        let state = query.state.map(|s| s.to_string());
        let pattern = query.text.as_deref().map(like_pattern);
        let from = query.from.map(crate::utc_text);
        let to = query.to.map(crate::utc_text);
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        self.call(move |client| {
            let rows = client.query(
                "SELECT id, document FROM interactions
                 WHERE agent = $1
                   AND ($2::text IS NULL OR state = $2)
                   AND ($3::text IS NULL OR search_text ILIKE $3)
                   AND ($4::text IS NULL OR created_at >= $4::text::timestamptz)
                   AND ($5::text IS NULL OR created_at < $5::text::timestamptz)
                 ORDER BY id DESC LIMIT $6",
                &[&agent, &state, &pattern, &from, &to, &limit],
            )?;
            Ok(documents(rows))
        })
    }

    fn load_all(&self) -> Result<Vec<(i64, String)>, StoreError> {
        let agent = self.agent.clone();
        self.call(move |client| {
            Ok(documents(client.query(
                "SELECT id, document FROM interactions WHERE agent = $1 ORDER BY id",
                &[&agent],
            )?))
        })
    }

    fn load(&self, id: InteractionId) -> Result<Option<String>, StoreError> {
        let agent = self.agent.clone();
        self.call(move |client| {
            Ok(client
                .query_opt(
                    "SELECT document FROM interactions WHERE agent = $1 AND id = $2",
                    &[&agent, &(id.0 as i64)],
                )?
                .map(|row| row.get(0)))
        })
    }

    fn documents(&self, table: Table) -> Result<Vec<(i64, String)>, StoreError> {
        self.call(move |client| {
            Ok(documents(client.query(
                &format!("SELECT id, document FROM {} ORDER BY id", table.name()),
                &[],
            )?))
        })
    }

    fn put_document(&mut self, table: Table, id: u64, document: &str) -> Result<u64, StoreError> {
        let document = document.to_owned();
        self.call(move |client| {
            let table = table.name();
            let mut tx = client.transaction()?;
            let id = if id == 0 {
                // Agents adding at once: one at a time takes the next id.
                tx.batch_execute(&format!("LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE"))?;
                let max: i64 = tx
                    .query_one(&format!("SELECT COALESCE(MAX(id), 0) FROM {table}"), &[])?
                    .get(0);
                max + 1
            } else {
                id as i64
            };
            tx.execute(
                &format!(
                    "INSERT INTO {table} (id, document) VALUES ($1, $2)
                     ON CONFLICT (id) DO UPDATE SET document = $2"
                ),
                &[&id, &document],
            )?;
            tx.commit()?;
            Ok(id as u64)
        })
    }

    fn delete_document(&mut self, table: Table, id: u64) -> Result<bool, StoreError> {
        self.call(move |client| {
            let n = client.execute(
                &format!("DELETE FROM {} WHERE id = $1", table.name()),
                &[&(id as i64)],
            )?;
            Ok(n > 0)
        })
    }

    fn claim_callback(&self, lease: Duration) -> Result<Option<(i64, String)>, StoreError> {
        let agent = self.agent.clone();
        self.call(move |client| {
            // The due callback nobody holds (never claimed, or its lease ran out), oldest
            // first; rows other agents are claiming this instant are skipped, not waited for.
            Ok(client
                .query_opt(
                    "UPDATE callbacks SET claimed_by = $1,
                         lease_until = now() + make_interval(secs => $2)
                     WHERE id = (
                         SELECT id FROM callbacks
                         WHERE settled_at IS NULL AND due_at <= now()
                           AND (lease_until IS NULL OR lease_until < now())
                         ORDER BY due_at, id
                         FOR UPDATE SKIP LOCKED
                         LIMIT 1)
                     RETURNING id, document",
                    &[&agent, &lease.as_secs_f64()],
                )?
                .map(|row| (row.get(0), row.get(1))))
        })
    }

    fn renew_callback(&self, id: i64, lease: Duration) -> Result<bool, StoreError> {
        let agent = self.agent.clone();
        self.call(move |client| {
            let n = client.execute(
                "UPDATE callbacks SET lease_until = now() + make_interval(secs => $3)
                 WHERE id = $1 AND claimed_by = $2 AND settled_at IS NULL
                   AND lease_until >= now()",
                &[&id, &agent, &lease.as_secs_f64()],
            )?;
            Ok(n == 1)
        })
    }

    fn end_claim(
        &self,
        id: i64,
        outcome: Option<&str>,
        raised_as: Option<InteractionId>,
    ) -> Result<(), StoreError> {
        let agent = self.agent.clone();
        let outcome = outcome.map(str::to_owned);
        let raised_as = raised_as.map(|r| r.0 as i64);
        self.call(move |client| {
            match outcome {
                Some(outcome) => client.execute(
                    "UPDATE callbacks SET settled_at = now(), outcome = $3, raised_as = $4
                     WHERE id = $1 AND claimed_by = $2 AND settled_at IS NULL",
                    &[&id, &agent, &outcome, &raised_as],
                )?,
                None => client.execute(
                    "UPDATE callbacks SET claimed_by = NULL, lease_until = NULL
                     WHERE id = $1 AND claimed_by = $2 AND settled_at IS NULL",
                    &[&id, &agent],
                )?,
            };
            Ok(())
        })
    }

    fn case_candidates(
        &self,
        number_key: Option<&str>,
        keys: &[(String, String)],
        limit: usize,
    ) -> Result<Vec<(String, i64, String)>, StoreError> {
        let number_key = number_key.map(str::to_owned);
        let keys: Vec<(String, String, String)> = keys
            .iter()
            .map(|(key, value)| (key.clone(), value.clone(), like_pattern(value)))
            .collect();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.call(move |client| {
            let mut found: Vec<(String, i64, String)> = Vec::new();
            let read = |rows: Vec<postgres::Row>| {
                rows.iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2)))
                    .collect::<Vec<_>>()
            };
            if let Some(key) = &number_key {
                found.extend(read(client.query(
                    "SELECT agent, id, document FROM interactions WHERE number_key = $1
                     ORDER BY created_at DESC LIMIT $2",
                    &[key, &limit],
                )?));
            }
            // The trigram index finds the rows that mention the value; the document then says
            // whether it is that key's value (so near values, such as a longer case id, do
            // not crowd the true ones out of the limit).
            for (key, value, pattern) in &keys {
                found.extend(read(client.query(
                    "SELECT agent, id, document FROM interactions
                     WHERE search_text ILIKE $1
                       AND (document::jsonb -> 'attached_data' -> $2) ? $3
                     ORDER BY created_at DESC LIMIT $4",
                    &[pattern, key, value, &limit],
                )?));
            }
            found.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
            found.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
            Ok(found)
        })
    }
}
