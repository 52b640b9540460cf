//! Durable state of recall, in one of two back ends behind one [`Store`]:
//! - **SQLite** (bundled, WAL, `synchronous=FULL`), the embedded default for one agent: a file
//!   (`--db PATH`) or memory;
//! - **PostgreSQL** (`[store] url = "postgres://…"` or `--db postgres://…`), shared by a team:
//!   every agent's interactions (keyed by agent), contacts and standard responses in one place.
//!
//! Every change is written before the control API acknowledges it, so a crash or `kill -9`
//! loses nothing that was shown as saved. The schema is versioned: [`MIGRATIONS`] lists each
//! version's change in both dialects, applied in order by whichever recall opens the database
//! first (PostgreSQL: under an advisory lock, so agents starting together apply each once).

use interaction::{
    CaseEntry, CaseKey, Contact, Interaction, InteractionId, Query, StandardResponse,
};
use std::time::Duration;

use thiserror::Error;

mod postgres;
mod sqlite;

#[cfg(test)]
mod tests;

/// One schema version's change, in each back end's SQL.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// What it brings.
    pub what: &'static str,
    /// SQLite's statements.
    pub sqlite: &'static str,
    /// PostgreSQL's statements.
    pub postgres: &'static str,
}

/// The schema versions, in order; `MIGRATIONS[n]` takes a database from version `n` to `n + 1`.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        what: "interactions as JSON documents, with the columns lists and searches need",
        sqlite: "CREATE TABLE interactions (
            id INTEGER PRIMARY KEY,
            state TEXT NOT NULL,
            customer_number TEXT,
            created_at TEXT NOT NULL,
            document TEXT NOT NULL
        );
        CREATE INDEX interactions_state ON interactions(state);",
        // Keyed by agent as well: each agent numbers its own interactions.
        postgres: "CREATE TABLE interactions (
            agent TEXT NOT NULL,
            id BIGINT NOT NULL,
            state TEXT NOT NULL,
            customer_number TEXT,
            created_at TIMESTAMPTZ NOT NULL,
            document TEXT NOT NULL,
            PRIMARY KEY (agent, id)
        );
        CREATE INDEX interactions_state ON interactions(agent, state);",
    },
    Migration {
        what: "when each was last written, for export ranges and sync",
        sqlite: "ALTER TABLE interactions ADD COLUMN updated_at TEXT;
            UPDATE interactions SET updated_at = created_at;",
        postgres: "ALTER TABLE interactions ADD COLUMN updated_at TIMESTAMPTZ;
            UPDATE interactions SET updated_at = created_at;",
    },
    Migration {
        what: "time ranges (export) without a scan",
        sqlite: "CREATE INDEX interactions_created ON interactions(created_at);",
        postgres: "CREATE INDEX interactions_created ON interactions(agent, created_at);",
    },
    Migration {
        what: "the directory: contacts and standard responses (shared by the team)",
        sqlite: "CREATE TABLE contacts (id INTEGER PRIMARY KEY, document TEXT NOT NULL);
            CREATE TABLE responses (id INTEGER PRIMARY KEY, document TEXT NOT NULL);",
        postgres: "CREATE TABLE contacts (id BIGINT PRIMARY KEY, document TEXT NOT NULL);
            CREATE TABLE responses (id BIGINT PRIMARY KEY, document TEXT NOT NULL);",
    },
    Migration {
        what: "outcomes waiting for the webhook; ids never reused (they are the delivery key)",
        sqlite: "CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            interaction INTEGER NOT NULL,
            event TEXT NOT NULL,
            body TEXT NOT NULL,
            failed TEXT
        );",
        // Each agent delivers its own.
        postgres: "CREATE TABLE outbox (
            id BIGSERIAL PRIMARY KEY,
            agent TEXT NOT NULL,
            interaction BIGINT NOT NULL,
            event TEXT NOT NULL,
            body TEXT NOT NULL,
            failed TEXT
        );
        CREATE INDEX outbox_agent ON outbox(agent, id);",
    },
    Migration {
        what: "the history's text search in a trigram index",
        // The text a search looks through (`search_text`, filled from the document by
        // `Interaction::search_text`; older rows are filled when the file is opened) in a
        // trigram index (FTS5) kept by triggers — a row is in the index exactly when its
        // search text is not NULL — so a search of three or more characters reads the index
        // instead of every row.
        sqlite: "ALTER TABLE interactions ADD COLUMN search_text TEXT;
        CREATE VIRTUAL TABLE interactions_text USING fts5(
            search_text, content = 'interactions', content_rowid = 'id', tokenize = 'trigram'
        );
        CREATE TRIGGER interactions_text_insert AFTER INSERT ON interactions
        WHEN new.search_text IS NOT NULL BEGIN
            INSERT INTO interactions_text (rowid, search_text) VALUES (new.id, new.search_text);
        END;
        CREATE TRIGGER interactions_text_delete AFTER DELETE ON interactions
        WHEN old.search_text IS NOT NULL BEGIN
            INSERT INTO interactions_text (interactions_text, rowid, search_text)
                VALUES ('delete', old.id, old.search_text);
        END;
        CREATE TRIGGER interactions_text_update AFTER UPDATE OF search_text ON interactions
        WHEN old.search_text IS NOT new.search_text BEGIN
            INSERT INTO interactions_text (interactions_text, rowid, search_text)
                SELECT 'delete', old.id, old.search_text WHERE old.search_text IS NOT NULL;
            INSERT INTO interactions_text (rowid, search_text)
                SELECT new.id, new.search_text WHERE new.search_text IS NOT NULL;
        END;",
        // pg_trgm's GIN index serves ILIKE '%text%' (a trusted extension: the database's
        // owner may create it).
        postgres: "CREATE EXTENSION IF NOT EXISTS pg_trgm;
        ALTER TABLE interactions ADD COLUMN search_text TEXT;
        CREATE INDEX interactions_text ON interactions USING gin (search_text gin_trgm_ops);",
    },
    Migration {
        what: "the case history: interactions by the customer's number (its last nine digits)",
        sqlite: "ALTER TABLE interactions ADD COLUMN number_key TEXT;
        CREATE INDEX interactions_number ON interactions(number_key);",
        postgres: "ALTER TABLE interactions ADD COLUMN number_key TEXT;
        CREATE INDEX interactions_number ON interactions(number_key);",
    },
    Migration {
        what: "the team's callbacks: rescheduled back to the queue, claimed by one agent at a time",
        // One agent's file has no team: a callback back to the queue goes to the server's
        // queue through the outcome webhook.
        sqlite: "",
        // A claim holds a lease (`lease_until`, on the server's clock); a callback is raised
        // by the agent holding an unexpired lease, and settled once handled.
        postgres: "CREATE TABLE callbacks (
            id BIGSERIAL PRIMARY KEY,
            origin_agent TEXT NOT NULL,
            origin_id BIGINT NOT NULL,
            due_at TIMESTAMPTZ NOT NULL,
            document TEXT NOT NULL,
            claimed_by TEXT,
            lease_until TIMESTAMPTZ,
            raised_as BIGINT,
            settled_at TIMESTAMPTZ,
            outcome TEXT,
            UNIQUE (origin_agent, origin_id)
        );
        CREATE INDEX callbacks_due ON callbacks(due_at) WHERE settled_at IS NULL;",
    },
    Migration {
        what: "the journal: writes made while a team's database was unreachable, in order",
        // An agent's own file is the journal of its team store (`--db` beside `[store] url`).
        sqlite: "CREATE TABLE pending (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            document TEXT NOT NULL,
            event TEXT
        );",
        postgres: "",
    },
    Migration {
        what: "the text index written with each batch, not by triggers",
        // FTS5 flushes its pending terms to a new segment at every savepoint, and the
        // triggers ran inside each row's upsert, a statement with one: a segment written (and
        // later merged) per row. `save_all` writes the index itself, after the batch's other
        // statements, so the terms are flushed once, at commit. Deletes keep their trigger.
        sqlite: "DROP TRIGGER interactions_text_insert;
            DROP TRIGGER interactions_text_update;",
        postgres: "",
    },
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// Why the store could not be used.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The file could not be opened or created.
    #[error("cannot open the database {path}: {source}")]
    Open {
        /// The path.
        path: String,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The database server could not be reached or refused us.
    #[error("cannot reach the database {url}: {reason}")]
    Connect {
        /// The URL, without its password.
        url: String,
        /// Why.
        reason: String,
    },
    /// The file is not a database recall can use.
    #[error("the database {path} is not usable ({reason}); move it aside or choose another --db")]
    Unusable {
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
    /// The file was written by a newer recall.
    #[error("the database {path} has schema version {found}; this recall knows up to {known}")]
    TooNew {
        /// The path.
        path: String,
        /// Its version.
        found: usize,
        /// Ours.
        known: usize,
    },
    /// A read or write failed.
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A read or write on PostgreSQL failed.
    #[error("database: {0}")]
    Server(String),
    /// PostgreSQL did not answer (down, restarting, the network): writes wait in the journal.
    #[error("database unreachable: {0}")]
    Unreachable(String),
    /// A stored document did not read back.
    #[error("stored interaction {id} does not read back: {source}")]
    Corrupt {
        /// Which.
        id: i64,
        /// Why.
        source: serde_json::Error,
    },
}

/// An outcome waiting to be posted to the webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    /// Its key, never reused: the receiver can drop a delivery it has seen.
    pub id: u64,
    /// The interaction it reports.
    pub interaction: InteractionId,
    /// `done`, `rescheduled` or `disposition`.
    pub event: String,
    /// The interaction's JSON as it was then.
    pub body: String,
}

/// The directory's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Contacts,
    Responses,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Self::Contacts => "contacts",
            Self::Responses => "responses",
        }
    }
}

/// What each back end does; [`Store`] builds the rest on it.
trait Backend: Send + std::fmt::Debug {
    /// The schema version of the open database.
    fn version(&self) -> Result<usize, StoreError>;
    /// Writes interactions and queues outcomes in one transaction.
    fn save_all(
        &mut self,
        changes: &[(&Interaction, Option<&str>)],
    ) -> Result<Vec<OutboxItem>, StoreError>;
    /// Queues an outcome alone.
    fn enqueue(
        &mut self,
        interaction: InteractionId,
        event: &str,
        body: String,
    ) -> Result<OutboxItem, StoreError>;
    fn pending_outbox(&self) -> Result<Vec<OutboxItem>, StoreError>;
    fn outbox_delivered(&mut self, id: u64) -> Result<(), StoreError>;
    fn outbox_failed(&mut self, id: u64, reason: &str) -> Result<(), StoreError>;
    fn outbox_failed_count(&self) -> Result<u64, StoreError>;
    /// (id, document) of this agent's interactions a query wants, newest first.
    fn query(&self, query: &Query) -> Result<Vec<(i64, String)>, StoreError>;
    /// (id, document) of every one of this agent's interactions, oldest first.
    fn load_all(&self) -> Result<Vec<(i64, String)>, StoreError>;
    fn load(&self, id: InteractionId) -> Result<Option<String>, StoreError>;
    /// (id, document) of a directory table, by id.
    fn documents(&self, table: Table) -> Result<Vec<(i64, String)>, StoreError>;
    /// Writes a directory document; id 0 takes the next free id. Returns the id.
    fn put_document(&mut self, table: Table, id: u64, document: &str) -> Result<u64, StoreError>;
    fn delete_document(&mut self, table: Table, id: u64) -> Result<bool, StoreError>;
    /// (agent, id, document) of the newest `limit` interactions of any agent whose number key is
    /// `number_key` or that carry one of the (attached-data key, value) pairs — at least their
    /// search text holds the value: the candidates of a case.
    fn case_candidates(
        &self,
        number_key: Option<&str>,
        keys: &[(String, String)],
        limit: usize,
    ) -> Result<Vec<(String, i64, String)>, StoreError>;
    /// Claims the team callback due longest ago that nobody holds, for `lease`.
    fn claim_callback(&self, _lease: Duration) -> Result<Option<(i64, String)>, StoreError> {
        Ok(None)
    }
    /// Extends a claim; false when it is no longer this agent's (its lease ran out and
    /// another agent took it, or it was settled).
    fn renew_callback(&self, _id: i64, _lease: Duration) -> Result<bool, StoreError> {
        Ok(false)
    }
    /// Ends a claim: settled with `outcome` (raised as interaction `raised_as`), or given back
    /// to the team when `outcome` is `None`.
    fn end_claim(
        &self,
        _id: i64,
        _outcome: Option<&str>,
        _raised_as: Option<InteractionId>,
    ) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A team callback this agent holds: the store's key and the interaction it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// The callback's key in the team's queue.
    pub id: i64,
    /// The interaction that was rescheduled back to the queue (any agent's).
    pub origin: Interaction,
}

/// The open database.
#[derive(Debug)]
pub struct Store {
    backend: Box<dyn Backend>,
    /// Whose interactions this store writes and reads (its own).
    agent: String,
    /// What it is, for the status and logs: `sqlite PATH` or `postgres HOST:PORT/DB`.
    describe: String,
    /// Where a team store keeps the writes it could not make while the server was
    /// unreachable, until [`Store::replay`] brings them over in order.
    journal: Option<sqlite::Sqlite>,
}

/// Where the store lives: `postgres://…` (or `postgresql://…`) is a server, anything else a
/// SQLite file.
#[must_use]
pub fn is_server_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

impl Store {
    /// Opens (creating if needed) and migrates the SQLite database at `path`.
    pub fn open(path: &std::path::Path) -> Result<Self, StoreError> {
        Ok(Self {
            describe: format!("sqlite {}", path.display()),
            backend: Box::new(sqlite::Sqlite::open(path)?),
            agent: String::new(),
            journal: None,
        })
    }

    /// An in-memory SQLite database (tests, or running without `--db`).
    pub fn in_memory() -> Result<Self, StoreError> {
        Ok(Self {
            describe: "memory".to_owned(),
            backend: Box::new(sqlite::Sqlite::in_memory()?),
            agent: String::new(),
            journal: None,
        })
    }

    /// Connects to the PostgreSQL database at `url` as agent `agent`, and migrates it.
    pub fn connect(url: &str, agent: &str) -> Result<Self, StoreError> {
        let backend = postgres::Postgres::connect(url, agent)?;
        Ok(Self {
            describe: format!("postgres {}", backend.shown()),
            backend: Box::new(backend),
            agent: agent.to_owned(),
            journal: None,
        })
    }

    /// The same team store, keeping the writes it cannot make (the server unreachable) in the
    /// SQLite file at `path` (memory when `None`) until they can be replayed.
    pub fn with_journal(mut self, path: Option<&std::path::Path>) -> Result<Self, StoreError> {
        self.journal = Some(match path {
            Some(path) => sqlite::Sqlite::open(path)?,
            None => sqlite::Sqlite::in_memory()?,
        });
        Ok(self)
    }

    /// How many writes wait in the journal for the team's database.
    pub fn pending(&self) -> u64 {
        self.journal
            .as_ref()
            .and_then(|j| j.pending_count().ok())
            .unwrap_or(0)
    }

    /// Brings the journal's writes over to the team's database, in order, in one transaction;
    /// the outcomes they queue for the webhook. Nothing happens while it is still unreachable.
    pub fn replay(&mut self) -> Result<Vec<OutboxItem>, StoreError> {
        let Some(journal) = self.journal.as_mut() else {
            return Ok(Vec::new());
        };
        let waiting = journal.pending()?;
        let Some(last) = waiting.last().map(|(seq, _, _)| *seq) else {
            return Ok(Vec::new());
        };
        let interactions: Vec<(Interaction, Option<String>)> = waiting
            .into_iter()
            .map(|(seq, document, event)| Ok((read(seq, &document)?, event)))
            .collect::<Result<_, StoreError>>()?;
        let changes: Vec<(&Interaction, Option<&str>)> = interactions
            .iter()
            .map(|(i, event)| (i, event.as_deref()))
            .collect();
        // Upserts by (agent, id): written again after a crash between the two steps, a record
        // is still there once.
        let items = self.backend.save_all(&changes)?;
        journal.drop_pending(last)?;
        Ok(items)
    }

    /// A PostgreSQL URL or a SQLite path, as `--db` takes it.
    pub fn at(location: &str, agent: &str) -> Result<Self, StoreError> {
        if is_server_url(location) {
            Self::connect(location, agent)
        } else {
            Self::open(std::path::Path::new(location)).map(|s| s.named(agent))
        }
    }

    /// The same store, naming its agent (SQLite keeps one agent's interactions: the name is
    /// what its case history says).
    #[must_use]
    pub fn named(mut self, agent: &str) -> Self {
        agent.clone_into(&mut self.agent);
        self
    }

    /// The agent whose interactions this store holds.
    #[must_use]
    pub fn agent(&self) -> &str {
        &self.agent
    }

    /// Whether agents share it (PostgreSQL): the case history then spans the team.
    #[must_use]
    pub fn is_shared(&self) -> bool {
        self.describe.starts_with("postgres")
    }

    /// `sqlite PATH`, `memory` or `postgres HOST:PORT/DB`.
    #[must_use]
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// The schema version of the open database.
    pub fn version(&self) -> Result<usize, StoreError> {
        self.backend.version()
    }

    /// Writes an interaction (insert or replace); durable when this returns.
    pub fn save(&mut self, interaction: &Interaction) -> Result<(), StoreError> {
        self.save_all_reporting(&[(interaction, None)]).map(drop)
    }

    /// Writes an interaction and, when `event` is given, queues it for the webhook in the same
    /// transaction: both are durable when this returns, or neither is.
    pub fn save_reporting(
        &mut self,
        interaction: &Interaction,
        event: Option<&str>,
    ) -> Result<Option<OutboxItem>, StoreError> {
        Ok(self
            .save_all_reporting(&[(interaction, event)])?
            .into_iter()
            .next())
    }

    /// [`Store::save_reporting`] for several changes in one transaction (one sync to disk):
    /// all are durable when this returns, or none is. The outbox items, in order.
    /// With a journal, a write the team's database cannot take now (unreachable) is kept in
    /// the journal and acknowledged: durable here, replayed in order later (its outcomes reach
    /// the webhook then). Once anything waits, later writes queue behind it.
    pub fn save_all_reporting(
        &mut self,
        changes: &[(&Interaction, Option<&str>)],
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let Some(journal) = self.journal.as_mut() else {
            return self.backend.save_all(changes);
        };
        if journal.pending_count()? == 0 {
            match self.backend.save_all(changes) {
                Err(StoreError::Unreachable(_)) => {}
                done => return done,
            }
        }
        journal.push_pending(changes)?;
        Ok(Vec::new())
    }

    /// Queues an interaction for the webhook (without saving the interaction itself).
    pub fn enqueue(
        &mut self,
        interaction: &Interaction,
        event: &str,
    ) -> Result<OutboxItem, StoreError> {
        let body = to_document(interaction)?;
        self.backend.enqueue(interaction.id, event, body)
    }

    /// The outcomes still to deliver, oldest first (those given up on are left out).
    pub fn pending_outbox(&self) -> Result<Vec<OutboxItem>, StoreError> {
        self.backend.pending_outbox()
    }

    /// The webhook took an outcome: it leaves the outbox.
    pub fn outbox_delivered(&mut self, id: u64) -> Result<(), StoreError> {
        self.backend.outbox_delivered(id)
    }

    /// The webhook refused an outcome for good: it stays, marked with why, and is not retried.
    pub fn outbox_failed(&mut self, id: u64, reason: &str) -> Result<(), StoreError> {
        self.backend.outbox_failed(id, reason)
    }

    /// How many outcomes were given up on.
    pub fn outbox_failed_count(&self) -> Result<u64, StoreError> {
        self.backend.outbox_failed_count()
    }

    /// Writes many interactions in one transaction (imports, benchmarks).
    pub fn save_batch(&mut self, interactions: &[Interaction]) -> Result<(), StoreError> {
        let changes: Vec<_> = interactions.iter().map(|i| (i, None)).collect();
        self.backend.save_all(&changes).map(drop)
    }

    /// The interactions a history search wants, oldest first (see [`Query`]: state, text
    /// anywhere in the record, creation time, the newest `limit`).
    pub fn query(&self, query: &Query) -> Result<Vec<Interaction>, StoreError> {
        let mut found = read_all(self.backend.query(query)?)?;
        found.reverse();
        Ok(found)
    }

    /// Every stored interaction of this agent, oldest first.
    pub fn load_all(&self) -> Result<Vec<Interaction>, StoreError> {
        read_all(self.backend.load_all()?)
    }

    /// The interactions created in `[from, to)` (either bound may be open), oldest first.
    pub fn load_range(
        &self,
        from: Option<time::OffsetDateTime>,
        to: Option<time::OffsetDateTime>,
    ) -> Result<Vec<Interaction>, StoreError> {
        self.query(&Query {
            from,
            to,
            limit: usize::MAX,
            ..Query::default()
        })
    }

    /// One stored interaction of this agent.
    pub fn load(&self, id: InteractionId) -> Result<Option<Interaction>, StoreError> {
        self.backend
            .load(id)?
            .map(|d| read(id.0 as i64, &d))
            .transpose()
    }

    /// The case `interaction` belongs to, newest first: every other interaction of any agent
    /// (all of them on PostgreSQL, this agent's on SQLite) with the same customer number or
    /// the same value of one of `case_keys`, at most `limit`.
    pub fn case_history(
        &self,
        interaction: &Interaction,
        case_keys: &[String],
        limit: usize,
    ) -> Result<Vec<CaseEntry>, StoreError> {
        let case = CaseKey::of(interaction, case_keys);
        if case.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let number = case.number.as_deref().map(interaction::number_key);
        // Candidates are a superset (a value may appear under another key, a number key may
        // belong to another line): read more than asked, then keep what truly matches.
        let candidates = self.backend.case_candidates(
            number.as_deref(),
            &case.keys,
            limit.saturating_mul(4).max(50),
        )?;
        let mut entries = Vec::new();
        for (agent, id, document) in candidates {
            let agent = if agent.is_empty() {
                self.agent.clone()
            } else {
                agent
            };
            if agent == self.agent && id == interaction.id.0 as i64 {
                continue;
            }
            let other = read(id, &document)?;
            if let Some(matched) = case.matches(&other) {
                entries.push(CaseEntry::new(&agent, &other, matched));
            }
        }
        entries.sort_by(|a, b| {
            b.at.cmp(&a.at)
                .then_with(|| b.interaction.cmp(&a.interaction))
        });
        entries.truncate(limit);
        Ok(entries)
    }

    /// Claims the team callback that is due (the oldest first) and that no agent holds, for
    /// `lease`; `None` when there is none (always, on SQLite: one agent has no team).
    pub fn claim_callback(&self, lease: Duration) -> Result<Option<Claim>, StoreError> {
        self.backend
            .claim_callback(lease)?
            .map(|(id, document)| {
                Ok(Claim {
                    id,
                    origin: read(id, &document)?,
                })
            })
            .transpose()
    }

    /// Extends this agent's claim; false when it is no longer this agent's.
    pub fn renew_callback(&self, id: i64, lease: Duration) -> Result<bool, StoreError> {
        self.backend.renew_callback(id, lease)
    }

    /// The claimed callback was handled (`outcome`, e.g. `accepted`): it leaves the queue.
    pub fn settle_callback(
        &self,
        id: i64,
        outcome: &str,
        raised_as: InteractionId,
    ) -> Result<(), StoreError> {
        self.backend.end_claim(id, Some(outcome), Some(raised_as))
    }

    /// The claimed callback goes back to the team (rejected or missed here).
    pub fn release_callback(&self, id: i64) -> Result<(), StoreError> {
        self.backend.end_claim(id, None, None)
    }

    /// Every contact, by id.
    pub fn contacts(&self) -> Result<Vec<Contact>, StoreError> {
        self.documents(Table::Contacts, |c: &mut Contact, id| c.id = id)
    }

    /// Writes a contact; an id of 0 gets the next free one, which is returned.
    pub fn save_contact(&mut self, mut contact: Contact) -> Result<Contact, StoreError> {
        contact.id = self.put(Table::Contacts, contact.id, &contact)?;
        Ok(contact)
    }

    /// Deletes a contact; says whether it existed.
    pub fn delete_contact(&mut self, id: u64) -> Result<bool, StoreError> {
        self.backend.delete_document(Table::Contacts, id)
    }

    /// Every standard response, by id.
    pub fn responses(&self) -> Result<Vec<StandardResponse>, StoreError> {
        self.documents(Table::Responses, |r: &mut StandardResponse, id| r.id = id)
    }

    /// Writes a standard response; an id of 0 gets the next free one.
    pub fn save_response(
        &mut self,
        mut response: StandardResponse,
    ) -> Result<StandardResponse, StoreError> {
        response.id = self.put(Table::Responses, response.id, &response)?;
        Ok(response)
    }

    /// Deletes a standard response; says whether it existed.
    pub fn delete_response(&mut self, id: u64) -> Result<bool, StoreError> {
        self.backend.delete_document(Table::Responses, id)
    }

    fn put<T: serde::Serialize>(
        &mut self,
        table: Table,
        id: u64,
        value: &T,
    ) -> Result<u64, StoreError> {
        // The row's id is the record's: a document written with id 0 reads back with the id
        // it was given.
        let document = serde_json::to_string(value).map_err(|source| StoreError::Corrupt {
            id: id as i64,
            source,
        })?;
        self.backend.put_document(table, id, &document)
    }

    fn documents<T: serde::de::DeserializeOwned>(
        &self,
        table: Table,
        set_id: impl Fn(&mut T, u64),
    ) -> Result<Vec<T>, StoreError> {
        self.backend
            .documents(table)?
            .into_iter()
            .map(|(id, document)| {
                let mut value: T = serde_json::from_str(&document)
                    .map_err(|source| StoreError::Corrupt { id, source })?;
                set_id(&mut value, id as u64);
                Ok(value)
            })
            .collect()
    }
}

fn read(id: i64, document: &str) -> Result<Interaction, StoreError> {
    Interaction::from_stored(document).map_err(|source| StoreError::Corrupt { id, source })
}

fn read_all(rows: Vec<(i64, String)>) -> Result<Vec<Interaction>, StoreError> {
    rows.into_iter().map(|(id, d)| read(id, &d)).collect()
}

fn to_document(interaction: &Interaction) -> Result<String, StoreError> {
    serde_json::to_string(interaction).map_err(|source| StoreError::Corrupt {
        id: interaction.id.0 as i64,
        source,
    })
}

/// An interaction's time as UTC RFC 3339 (text order is time order).
fn utc_text(at: time::OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// What a saved row's columns hold besides its document.
struct Columns {
    state: String,
    customer_number: Option<String>,
    number_key: String,
    created: String,
    updated: String,
    search_text: String,
    document: String,
    /// When this save is a reschedule (its last timeline entry): the time it goes back to the
    /// team's queue, or `None` when it is personal.
    rescheduled: Option<Option<String>>,
}

impl Columns {
    fn of(interaction: &Interaction) -> Result<Self, StoreError> {
        let stamp = |at: Option<&interaction::TimelineEntry>| {
            at.map(|e| utc_text(e.at)).unwrap_or_default()
        };
        Ok(Self {
            state: interaction.state.to_string(),
            customer_number: interaction.callback.customer_number.clone(),
            number_key: interaction
                .callback
                .customer_number
                .as_deref()
                .map(interaction::number_key)
                .unwrap_or_default(),
            created: stamp(interaction.timeline.first()),
            updated: stamp(interaction.timeline.last()),
            search_text: interaction.search_text(),
            rescheduled: match interaction.timeline.last().map(|e| &e.kind) {
                Some(interaction::TimelineKind::Rescheduled { request }) => {
                    Some((!request.personal).then(|| utc_text(request.at)))
                }
                _ => None,
            },
            document: to_document(interaction)?,
        })
    }
}
