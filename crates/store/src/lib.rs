//! Durable state of recall: SQLite (bundled, WAL, `synchronous=FULL`) holding every
//! interaction, written before the control API acknowledges a change, so a crash or `kill -9`
//! loses nothing that was shown as saved. Versioned migrations bring older files up to date.

use std::path::Path;

use interaction::{Contact, Interaction, InteractionId, Query, StandardResponse};
use rusqlite::{Connection, OptionalExtension, params};
use thiserror::Error;

/// The schema versions, in order; `MIGRATIONS[n]` takes a database from version `n` to `n + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: interactions as JSON documents, with the columns lists and searches need.
    "CREATE TABLE interactions (
        id INTEGER PRIMARY KEY,
        state TEXT NOT NULL,
        customer_number TEXT,
        created_at TEXT NOT NULL,
        document TEXT NOT NULL
    );
    CREATE INDEX interactions_state ON interactions(state);",
    // 2: when each was last written, for export ranges and sync.
    "ALTER TABLE interactions ADD COLUMN updated_at TEXT;
     UPDATE interactions SET updated_at = created_at;",
    // 3: time ranges (export) without a scan.
    "CREATE INDEX interactions_created ON interactions(created_at);",
    // 4: the agent's directory: contacts and standard responses.
    "CREATE TABLE contacts (id INTEGER PRIMARY KEY, document TEXT NOT NULL);
     CREATE TABLE responses (id INTEGER PRIMARY KEY, document TEXT NOT NULL);",
    // 5: outcomes waiting for the webhook; ids never reused (they are the delivery key).
    "CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        interaction INTEGER NOT NULL,
        event TEXT NOT NULL,
        body TEXT NOT NULL,
        failed TEXT
    );",
    // 6: the history's text search: the text a search looks through (`search_text`, filled
    // from the document by `Interaction::search_text`; older rows are filled when the file is
    // opened) in a trigram index (FTS5) kept by triggers — a row is in the index exactly
    // when its search text is not NULL — so a search of three or more characters reads the
    // index instead of every row.
    "ALTER TABLE interactions ADD COLUMN search_text TEXT;
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

/// The open database.
#[derive(Debug)]
pub struct Store {
    connection: Connection,
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let name = path.display().to_string();
        let connection = Connection::open(path).map_err(|source| StoreError::Open {
            path: name.clone(),
            source,
        })?;
        Self::prepare(connection, &name)
    }

    /// An in-memory database (tests, or running without `--db`).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::prepare(Connection::open_in_memory()?, ":memory:")
    }

    fn prepare(connection: Connection, name: &str) -> Result<Self, StoreError> {
        let unusable = |e: rusqlite::Error| StoreError::Unusable {
            path: name.to_owned(),
            reason: e.to_string(),
        };
        // WAL with FULL sync: a committed write survives power loss and kill -9.
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(unusable)?;
        connection
            .pragma_update(None, "synchronous", "FULL")
            .map_err(unusable)?;
        let mut store = Self { connection };
        store.migrate(name)?;
        Ok(store)
    }

    /// The schema version of the open database.
    pub fn version(&self) -> Result<usize, StoreError> {
        let version: i64 = self
            .connection
            .pragma_query_value(None, "user_version", |row| row.get(0))?;
        Ok(usize::try_from(version).unwrap_or(0))
    }

    fn migrate(&mut self, name: &str) -> Result<(), StoreError> {
        let found = self.version()?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: name.to_owned(),
                found,
                known: SCHEMA_VERSION,
            });
        }
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(found) {
            let tx = self.connection.transaction()?;
            tx.execute_batch(sql).map_err(|e| StoreError::Unusable {
                path: name.to_owned(),
                reason: format!("migration to version {} failed: {e}", index + 1),
            })?;
            tx.pragma_update(None, "user_version", index as i64 + 1)?;
            tx.commit()?;
        }
        self.fill_search_text(name)
    }

    /// Fills the search text of rows written before it existed (schema 5 and older).
    fn fill_search_text(&mut self, name: &str) -> Result<(), StoreError> {
        let tx = self.connection.transaction()?;
        let rows: Vec<(i64, String)> = tx
            .prepare("SELECT id, document FROM interactions WHERE search_text IS NULL")?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (id, document) in rows {
            let interaction: Interaction =
                serde_json::from_str(&document).map_err(|e| StoreError::Unusable {
                    path: name.to_owned(),
                    reason: format!("stored interaction {id} does not read back: {e}"),
                })?;
            tx.execute(
                "UPDATE interactions SET search_text = ?2 WHERE id = ?1",
                params![id, interaction.search_text()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Writes an interaction (insert or replace); durable when this returns.
    pub fn save(&mut self, interaction: &Interaction) -> Result<(), StoreError> {
        save_on(&self.connection, interaction).map(drop)
    }

    /// Writes an interaction and, when `event` is given, queues it for the webhook in the same
    /// transaction: both are durable when this returns, or neither is.
    pub fn save_reporting(
        &mut self,
        interaction: &Interaction,
        event: Option<&str>,
    ) -> Result<Option<OutboxItem>, StoreError> {
        let tx = self.connection.transaction()?;
        let document = save_on(&tx, interaction)?;
        let item = match event {
            Some(event) => Some(enqueue_on(&tx, interaction.id, event, document)?),
            None => None,
        };
        tx.commit()?;
        Ok(item)
    }

    /// [`Store::save_reporting`] for several changes in one transaction (one sync to disk):
    /// all are durable when this returns, or none is. The outbox items, in order.
    pub fn save_all_reporting(
        &mut self,
        changes: &[(&Interaction, Option<&str>)],
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let tx = self.connection.transaction()?;
        let mut items = Vec::new();
        for (interaction, event) in changes {
            let document = save_on(&tx, interaction)?;
            if let Some(event) = event {
                items.push(enqueue_on(&tx, interaction.id, event, document)?);
            }
        }
        tx.commit()?;
        Ok(items)
    }

    /// Queues an interaction for the webhook (without saving the interaction itself).
    pub fn enqueue(
        &mut self,
        interaction: &Interaction,
        event: &str,
    ) -> Result<OutboxItem, StoreError> {
        let body = to_document(interaction)?;
        enqueue_on(&self.connection, interaction.id, event, body)
    }

    /// The outcomes still to deliver, oldest first (those given up on are left out).
    pub fn pending_outbox(&self) -> Result<Vec<OutboxItem>, StoreError> {
        let mut statement = self.connection.prepare(
            "SELECT id, interaction, event, body FROM outbox WHERE failed IS NULL ORDER BY id",
        )?;
        let rows = statement.query_map([], |row| {
            Ok(OutboxItem {
                id: row.get::<_, i64>(0)? as u64,
                interaction: InteractionId(row.get::<_, i64>(1)? as u64),
                event: row.get(2)?,
                body: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The webhook took an outcome: it leaves the outbox.
    pub fn outbox_delivered(&mut self, id: u64) -> Result<(), StoreError> {
        self.connection
            .execute("DELETE FROM outbox WHERE id = ?1", params![id as i64])?;
        Ok(())
    }

    /// The webhook refused an outcome for good: it stays, marked with why, and is not retried.
    pub fn outbox_failed(&mut self, id: u64, reason: &str) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE outbox SET failed = ?2 WHERE id = ?1",
            params![id as i64, reason],
        )?;
        Ok(())
    }

    /// How many outcomes were given up on.
    pub fn outbox_failed_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self.connection.query_row(
            "SELECT COUNT(*) FROM outbox WHERE failed IS NOT NULL",
            [],
            |row| row.get(0),
        )?;
        Ok(n as u64)
    }

    /// Writes many interactions in one transaction (imports, benchmarks).
    pub fn save_batch(&mut self, interactions: &[Interaction]) -> Result<(), StoreError> {
        let tx = self.connection.transaction()?;
        for interaction in interactions {
            save_on(&tx, interaction)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The interactions a history search wants, oldest first (see [`Query`]: state, text
    /// anywhere in the record, creation time, the newest `limit`).
    pub fn query(&self, query: &Query) -> Result<Vec<Interaction>, StoreError> {
        let utc = |t: time::OffsetDateTime| {
            t.to_offset(time::UtcOffset::UTC)
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        };
        // Whole-second text bounds let the created_at index narrow the range; unixepoch()
        // then compares exactly (stored times may carry fractions).
        let second = |t: time::OffsetDateTime| {
            let t = t.to_offset(time::UtcOffset::UTC);
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        };
        let from_floor = query.from.map(second);
        let to_ceiling = query.to.map(|t| second(t + time::Duration::SECOND));
        let pattern = query.text.as_deref().map(|text| {
            let escaped = text
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        });
        // Text of three characters or more is looked up in the trigram index as a phrase:
        // every trigram of it, in order, is the text as a substring in any case (Unicode case
        // folding, as the query itself compares). Shorter text is scanned for with LIKE.
        let phrase = query
            .text
            .as_deref()
            .filter(|text| text.chars().count() >= 3)
            .map(|text| format!("\"{}\"", text.replace('"', "\"\"")));
        let pattern = pattern.filter(|_| phrase.is_none());
        // With a phrase the index drives, newest first: a rare text is found at once, and a
        // common one stops at the newest `limit` without reading every match.
        let (rows_from, text_match, newest_first) = if phrase.is_some() {
            (
                "interactions_text AS t JOIN interactions AS i ON i.id = t.rowid",
                "t.interactions_text MATCH ?8",
                "t.rowid DESC",
            )
        } else {
            ("interactions AS i", "?8 IS NULL", "i.id DESC")
        };
        let sql = format!(
            "SELECT i.id, i.document FROM {rows_from}
             WHERE {text_match}
               AND (?1 IS NULL OR i.state = ?1)
               AND (?2 IS NULL OR i.search_text LIKE ?2 ESCAPE '\\')
               AND (?3 IS NULL OR (i.created_at >= ?3
                    AND unixepoch(i.created_at, 'subsec') >= unixepoch(?4, 'subsec')))
               AND (?5 IS NULL OR (i.created_at < ?5
                    AND unixepoch(i.created_at, 'subsec') < unixepoch(?6, 'subsec')))
             ORDER BY {newest_first} LIMIT ?7"
        );
        let mut statement = self.connection.prepare_cached(&sql)?;
        let rows = statement.query_map(
            params![
                query.state.map(|s| s.to_string()),
                pattern,
                from_floor,
                query.from.map(utc),
                to_ceiling,
                query.to.map(utc),
                i64::try_from(query.limit).unwrap_or(i64::MAX),
                phrase
            ],
            |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?)),
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (id, document) = row?;
            out.push(
                serde_json::from_str(&document)
                    .map_err(|source| StoreError::Corrupt { id, source })?,
            );
        }
        out.reverse();
        Ok(out)
    }

    /// Every stored interaction, oldest first.
    pub fn load_all(&self) -> Result<Vec<Interaction>, StoreError> {
        let mut statement = self
            .connection
            .prepare("SELECT id, document FROM interactions ORDER BY id")?;
        let rows = statement.query_map([], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, document) = row?;
            let interaction = serde_json::from_str(&document)
                .map_err(|source| StoreError::Corrupt { id, source })?;
            out.push(interaction);
        }
        Ok(out)
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

    /// Every contact, by id.
    pub fn contacts(&self) -> Result<Vec<Contact>, StoreError> {
        self.documents("contacts")
    }

    /// Writes a contact; an id of 0 gets the next free one, which is returned.
    pub fn save_contact(&mut self, mut contact: Contact) -> Result<Contact, StoreError> {
        contact.id = self.assign_id("contacts", contact.id)?;
        self.put_document("contacts", contact.id, &contact)?;
        Ok(contact)
    }

    /// Deletes a contact; says whether it existed.
    pub fn delete_contact(&mut self, id: u64) -> Result<bool, StoreError> {
        self.delete_document("contacts", id)
    }

    /// Every standard response, by id.
    pub fn responses(&self) -> Result<Vec<StandardResponse>, StoreError> {
        self.documents("responses")
    }

    /// Writes a standard response; an id of 0 gets the next free one.
    pub fn save_response(
        &mut self,
        mut response: StandardResponse,
    ) -> Result<StandardResponse, StoreError> {
        response.id = self.assign_id("responses", response.id)?;
        self.put_document("responses", response.id, &response)?;
        Ok(response)
    }

    /// Deletes a standard response; says whether it existed.
    pub fn delete_response(&mut self, id: u64) -> Result<bool, StoreError> {
        self.delete_document("responses", id)
    }

    fn assign_id(&self, table: &str, id: u64) -> Result<u64, StoreError> {
        if id != 0 {
            return Ok(id);
        }
        let max: i64 = self.connection.query_row(
            &format!("SELECT COALESCE(MAX(id), 0) FROM {table}"),
            [],
            |row| row.get(0),
        )?;
        Ok(max as u64 + 1)
    }

    fn put_document<T: serde::Serialize>(
        &self,
        table: &str,
        id: u64,
        value: &T,
    ) -> Result<(), StoreError> {
        let document = serde_json::to_string(value).map_err(|source| StoreError::Corrupt {
            id: id as i64,
            source,
        })?;
        self.connection.execute(
            &format!(
                "INSERT INTO {table} (id, document) VALUES (?1, ?2)
                 ON CONFLICT(id) DO UPDATE SET document = ?2"
            ),
            params![id as i64, document],
        )?;
        Ok(())
    }

    fn delete_document(&self, table: &str, id: u64) -> Result<bool, StoreError> {
        let n = self.connection.execute(
            &format!("DELETE FROM {table} WHERE id = ?1"),
            params![id as i64],
        )?;
        Ok(n > 0)
    }

    fn documents<T: serde::de::DeserializeOwned>(&self, table: &str) -> Result<Vec<T>, StoreError> {
        let mut statement = self
            .connection
            .prepare(&format!("SELECT id, document FROM {table} ORDER BY id"))?;
        let rows = statement.query_map([], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, document) = row?;
            out.push(
                serde_json::from_str(&document)
                    .map_err(|source| StoreError::Corrupt { id, source })?,
            );
        }
        Ok(out)
    }

    /// One stored interaction.
    pub fn load(&self, id: InteractionId) -> Result<Option<Interaction>, StoreError> {
        let document: Option<String> = self
            .connection
            .query_row(
                "SELECT document FROM interactions WHERE id = ?1",
                params![id.0 as i64],
                |row| row.get(0),
            )
            .optional()?;
        document
            .map(|d| {
                serde_json::from_str(&d).map_err(|source| StoreError::Corrupt {
                    id: id.0 as i64,
                    source,
                })
            })
            .transpose()
    }
}

fn to_document(interaction: &Interaction) -> Result<String, StoreError> {
    serde_json::to_string(interaction).map_err(|source| StoreError::Corrupt {
        id: interaction.id.0 as i64,
        source,
    })
}

fn enqueue_on(
    connection: &Connection,
    interaction: InteractionId,
    event: &str,
    body: String,
) -> Result<OutboxItem, StoreError> {
    connection
        .prepare_cached("INSERT INTO outbox (interaction, event, body) VALUES (?1, ?2, ?3)")?
        .execute(params![interaction.0 as i64, event, body])?;
    Ok(OutboxItem {
        id: connection.last_insert_rowid() as u64,
        interaction,
        event: event.to_owned(),
        body,
    })
}

/// Writes an interaction; returns the JSON document it stored.
fn save_on(connection: &Connection, interaction: &Interaction) -> Result<String, StoreError> {
    let document = to_document(interaction)?;
    let stamp = |at: Option<&interaction::TimelineEntry>| {
        at.and_then(|e| {
            e.at.to_offset(time::UtcOffset::UTC)
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
    };
    // UTC RFC 3339, so that text order is time order for ranges.
    let created = stamp(interaction.timeline.first());
    let updated = stamp(interaction.timeline.last());
    connection
        .prepare_cached(
            "INSERT INTO interactions
                 (id, state, customer_number, created_at, updated_at, document, search_text)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(id) DO UPDATE SET state = ?2, customer_number = ?3, updated_at = ?5,
                 document = ?6, search_text = ?7",
        )?
        .execute(params![
            interaction.id.0 as i64,
            interaction.state.to_string(),
            interaction.callback.customer_number,
            created,
            updated,
            &document,
            interaction.search_text()
        ])?;
    Ok(document)
}

#[cfg(test)]
mod tests {
    use super::*;
    use interaction::{AttachedData, CallbackInfo, default_dispositions};
    use time::macros::datetime;

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

    #[test]
    fn an_interaction_reads_back_after_reopening() {
        let path = temp_db("reopen");
        {
            let mut store = Store::open(&path).expect("open");
            store.save(&sample(1)).expect("save");
            let mut changed = sample(1);
            changed
                .set_note(datetime!(2026-11-25 15:40:00 UTC), "Changed")
                .expect("note");
            store.save(&changed).expect("save again");
        }
        let store = Store::open(&path).expect("reopen");
        let all = store.load_all().expect("load");
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].note.as_deref(), Some("Changed"));
        assert_eq!(all[0].disposition.as_deref(), Some("resolved"));
        assert_eq!(
            store.load(InteractionId(1)).expect("load").map(|i| i.id),
            Some(InteractionId(1))
        );
        assert_eq!(store.load(InteractionId(2)).expect("load"), None);
    }

    #[test]
    fn contacts_and_responses_get_ids_and_read_back() {
        let mut store = Store::in_memory().expect("open");
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
        assert_eq!(store.responses().expect("list"), [response]);
    }

    #[test]
    fn the_store_answers_a_query_as_the_query_itself_does() {
        let mut store = Store::in_memory().expect("open");
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
        store
            .connection
            .execute(
                "INSERT INTO interactions_text (interactions_text, rank) VALUES ('integrity-check', 1)",
                [],
            )
            .expect("text index intact after the batch");
        let queries = [
            Query::default(),
            Query {
                text: Some("7946".to_owned()),
                ..Query::default()
            },
            Query {
                text: Some("50%_OFF".to_owned()),
                ..Query::default()
            },
            Query {
                text: Some("%".to_owned()),
                ..Query::default()
            },
            Query {
                text: Some("refund".to_owned()),
                ..Query::default()
            },
            Query {
                text: Some("señora maría".to_owned()),
                ..Query::default()
            },
            Query {
                text: Some("\"vip\" 50".to_owned()),
                ..Query::default()
            },
            Query {
                text: Some("0% ".to_owned()),
                ..Query::default()
            },
            Query {
                text: Some("no such words".to_owned()),
                ..Query::default()
            },
            Query {
                text: Some("off".to_owned()),
                limit: 1,
                ..Query::default()
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
        let ids = |found: Vec<Interaction>| found.iter().map(|i| i.id.0).collect::<Vec<_>>();
        for query in &queries {
            assert_eq!(
                ids(store.query(query).expect("query")),
                ids(query.select(batch.clone().into_iter())),
                "{query:?}"
            );
        }
        assert_eq!(ids(store.query(&queries[11]).expect("query")), [2, 3, 4]);
        assert_eq!(ids(store.query(&queries[2]).expect("query")), [4]);
        assert_eq!(ids(store.query(&queries[13]).expect("query")), [5, 6]);
        assert_eq!(ids(store.query(&queries[4]).expect("query")), [4]);
        assert_eq!(ids(store.query(&queries[5]).expect("query")), [6]);
        assert_eq!(ids(store.query(&queries[6]).expect("query")), [6]);
        assert_eq!(ids(store.query(&queries[9]).expect("query")), [6]);
        // A record rewritten is found by what it says now, not by what it said.
        batch[3].set_note(base, "settled").expect("note");
        store.save(&batch[3]).expect("save");
        assert!(store.query(&queries[4]).expect("query").is_empty());
        let settled = Query {
            text: Some("SETTLED".to_owned()),
            ..Query::default()
        };
        assert_eq!(ids(store.query(&settled).expect("query")), [4]);
        store
            .connection
            .execute(
                "INSERT INTO interactions_text (interactions_text, rank) VALUES ('integrity-check', 1)",
                [],
            )
            .expect("text index intact");
    }

    #[test]
    fn changes_saved_together_are_all_there_with_their_outcomes_in_order() {
        let mut store = Store::in_memory().expect("open");
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

    #[test]
    fn outcomes_wait_in_the_outbox_until_delivered_or_given_up() {
        let path = temp_db("outbox");
        let first = {
            let mut store = Store::open(&path).expect("open");
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
        let mut store = Store::open(&path).expect("reopen");
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

    #[test]
    fn migrations_run_from_empty_and_from_every_earlier_version() {
        for start in 0..=SCHEMA_VERSION {
            let path = temp_db(&format!("migrate-{start}"));
            {
                let connection = Connection::open(&path).expect("open");
                for (index, sql) in MIGRATIONS.iter().enumerate().take(start) {
                    connection.execute_batch(sql).expect("old schema");
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
                            params![serde_json::to_string(&sample(1)).expect("json")],
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
            // The text index agrees with the table (FTS5's check against the content table).
            store
                .connection
                .execute(
                    "INSERT INTO interactions_text (interactions_text, rank) VALUES ('integrity-check', 1)",
                    [],
                )
                .expect("text index intact");
            // Rows written before the text index existed are in it.
            let paid = Query {
                text: Some("paid by CARD".to_owned()),
                ..Query::default()
            };
            assert_eq!(
                store.query(&paid).expect("search").len(),
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
            let connection = Connection::open(&path).expect("open");
            connection
                .pragma_update(None, "user_version", 99)
                .expect("version");
        }
        let error = Store::open(&path).expect_err("too new");
        assert!(error.to_string().contains("schema version 99"), "{error}");

        let error = Store::open(Path::new("/nonexistent-dir/recall.db")).expect_err("no dir");
        assert!(
            error
                .to_string()
                .starts_with("cannot open the database /nonexistent-dir/recall.db"),
            "{error}"
        );
    }
}
