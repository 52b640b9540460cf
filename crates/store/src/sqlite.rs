//! The SQLite back end: one agent's file (WAL, `synchronous=FULL`) or memory.

use std::path::Path;

use interaction::{Interaction, InteractionId, Query};
use rusqlite::{Connection, OptionalExtension, params};

use crate::{Backend, Columns, MIGRATIONS, OutboxItem, SCHEMA_VERSION, StoreError, Table};

/// An open SQLite database.
#[derive(Debug)]
pub(crate) struct Sqlite {
    pub(crate) connection: Connection,
}

impl Sqlite {
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let name = path.display().to_string();
        let connection = Connection::open(path).map_err(|source| StoreError::Open {
            path: name.clone(),
            source,
        })?;
        Self::prepare(connection, &name)
    }

    pub(crate) fn in_memory() -> Result<Self, StoreError> {
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

    fn user_version(&self) -> Result<usize, StoreError> {
        let version: i64 = self
            .connection
            .pragma_query_value(None, "user_version", |row| row.get(0))?;
        Ok(usize::try_from(version).unwrap_or(0))
    }

    fn migrate(&mut self, name: &str) -> Result<(), StoreError> {
        let found = self.user_version()?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: name.to_owned(),
                found,
                known: SCHEMA_VERSION,
            });
        }
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(found) {
            let tx = self.connection.transaction()?;
            tx.execute_batch(migration.sqlite)
                .map_err(|e| StoreError::Unusable {
                    path: name.to_owned(),
                    reason: format!("migration to version {} failed: {e}", index + 1),
                })?;
            tx.pragma_update(None, "user_version", index as i64 + 1)?;
            tx.commit()?;
        }
        self.fill_derived(name)
    }

    /// Fills the columns derived from the document in rows written before they existed (the
    /// search text before version 6, the number key before version 7).
    fn fill_derived(&mut self, name: &str) -> Result<(), StoreError> {
        let tx = self.connection.transaction()?;
        let rows: Vec<(i64, String, Option<String>)> = tx
            .prepare(
                "SELECT id, document, search_text FROM interactions
                 WHERE search_text IS NULL OR number_key IS NULL",
            )?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
            .collect::<Result<_, _>>()?;
        let mut texts = Vec::new();
        for (id, document, old) in rows {
            let interaction: Interaction =
                Interaction::from_stored(&document).map_err(|e| StoreError::Unusable {
                    path: name.to_owned(),
                    reason: format!("stored interaction {id} does not read back: {e}"),
                })?;
            let columns = Columns::of(&interaction)?;
            tx.execute(
                "UPDATE interactions SET search_text = ?2, number_key = ?3 WHERE id = ?1",
                params![id, columns.search_text, columns.number_key],
            )?;
            texts.extend(TextChange::of(id, old, columns.search_text));
        }
        index_text(&tx, &texts)?;
        tx.commit()?;
        Ok(())
    }
}

impl Sqlite {
    /// Keeps writes a team's database could not take, in order.
    pub(crate) fn push_pending(
        &mut self,
        changes: &[(&Interaction, Option<&str>)],
    ) -> Result<(), StoreError> {
        let tx = self.connection.transaction()?;
        for (interaction, event) in changes {
            tx.prepare_cached("INSERT INTO pending (document, event) VALUES (?1, ?2)")?
                .execute(params![crate::to_document(interaction)?, event])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The writes waiting, oldest first: (seq, document, event).
    pub(crate) fn pending(&self) -> Result<Vec<(i64, String, Option<String>)>, StoreError> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT seq, document, event FROM pending ORDER BY seq")?;
        let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many writes wait.
    pub(crate) fn pending_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .connection
            .query_row("SELECT COUNT(*) FROM pending", [], |row| row.get(0))?;
        Ok(n as u64)
    }

    /// The writes up to `seq` reached the team's database.
    pub(crate) fn drop_pending(&mut self, seq: i64) -> Result<(), StoreError> {
        self.connection
            .execute("DELETE FROM pending WHERE seq <= ?1", params![seq])?;
        Ok(())
    }
}

fn rows(
    statement: &mut rusqlite::CachedStatement<'_>,
    params: impl rusqlite::Params,
) -> Result<Vec<(i64, String)>, StoreError> {
    let rows = statement.query_map(params, |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

impl Backend for Sqlite {
    fn version(&self) -> Result<usize, StoreError> {
        self.user_version()
    }

    fn save_all(
        &mut self,
        changes: &[(&Interaction, Option<&str>)],
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let tx = self.connection.transaction()?;
        let mut items = Vec::new();
        let mut texts = Vec::new();
        for (interaction, event) in changes {
            let document = save_on(&tx, interaction, &mut texts)?;
            if let Some(event) = event {
                items.push(enqueue_on(&tx, interaction.id, event, document)?);
            }
        }
        // Last: once the text index is written in a transaction, every later statement that
        // opens a savepoint makes FTS5 flush its pending terms to a new segment.
        index_text(&tx, &texts)?;
        if texts.len() >= BIG_BATCH {
            tx.execute(
                "INSERT INTO interactions_text (interactions_text) VALUES ('optimize')",
                [],
            )?;
        }
        tx.commit()?;
        Ok(items)
    }

    fn enqueue(
        &mut self,
        interaction: InteractionId,
        event: &str,
        body: String,
    ) -> Result<OutboxItem, StoreError> {
        enqueue_on(&self.connection, interaction, event, body)
    }

    fn pending_outbox(&self) -> Result<Vec<OutboxItem>, StoreError> {
        let mut statement = self.connection.prepare_cached(
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

    fn outbox_delivered(&mut self, id: u64) -> Result<(), StoreError> {
        self.connection
            .execute("DELETE FROM outbox WHERE id = ?1", params![id as i64])?;
        Ok(())
    }

    fn outbox_failed(&mut self, id: u64, reason: &str) -> Result<(), StoreError> {
        self.connection.execute(
            "UPDATE outbox SET failed = ?2 WHERE id = ?1",
            params![id as i64, reason],
        )?;
        Ok(())
    }

    fn outbox_failed_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self.connection.query_row(
            "SELECT COUNT(*) FROM outbox WHERE failed IS NOT NULL",
            [],
            |row| row.get(0),
        )?;
        Ok(n as u64)
    }

    fn query(&self, query: &Query) -> Result<Vec<(i64, String)>, StoreError> {
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
        let pattern = query.text.as_deref().map(like_pattern);
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
        rows(
            &mut statement,
            params![
                query.state.map(|s| s.to_string()),
                pattern,
                from_floor,
                query.from.map(crate::utc_text),
                to_ceiling,
                query.to.map(crate::utc_text),
                i64::try_from(query.limit).unwrap_or(i64::MAX),
                phrase
            ],
        )
    }

    fn load_all(&self) -> Result<Vec<(i64, String)>, StoreError> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT id, document FROM interactions ORDER BY id")?;
        rows(&mut statement, [])
    }

    fn load(&self, id: InteractionId) -> Result<Option<String>, StoreError> {
        Ok(self
            .connection
            .query_row(
                "SELECT document FROM interactions WHERE id = ?1",
                params![id.0 as i64],
                |row| row.get(0),
            )
            .optional()?)
    }

    fn documents(&self, table: Table) -> Result<Vec<(i64, String)>, StoreError> {
        let mut statement = self.connection.prepare_cached(&format!(
            "SELECT id, document FROM {} ORDER BY id",
            table.name()
        ))?;
        rows(&mut statement, [])
    }

    fn put_document(&mut self, table: Table, id: u64, document: &str) -> Result<u64, StoreError> {
        let table = table.name();
        let id = if id == 0 {
            let max: i64 = self.connection.query_row(
                &format!("SELECT COALESCE(MAX(id), 0) FROM {table}"),
                [],
                |row| row.get(0),
            )?;
            max as u64 + 1
        } else {
            id
        };
        self.connection.execute(
            &format!(
                "INSERT INTO {table} (id, document) VALUES (?1, ?2)
                 ON CONFLICT(id) DO UPDATE SET document = ?2"
            ),
            params![id as i64, document],
        )?;
        Ok(id)
    }

    fn delete_document(&mut self, table: Table, id: u64) -> Result<bool, StoreError> {
        let n = self.connection.execute(
            &format!("DELETE FROM {} WHERE id = ?1", table.name()),
            params![id as i64],
        )?;
        Ok(n > 0)
    }

    fn case_candidates(
        &self,
        number_key: Option<&str>,
        keys: &[(String, String)],
        limit: usize,
    ) -> Result<Vec<(String, i64, String)>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut found: Vec<(i64, String)> = Vec::new();
        if let Some(key) = number_key {
            let mut statement = self.connection.prepare_cached(
                "SELECT id, document FROM interactions WHERE number_key = ?1
                 ORDER BY id DESC LIMIT ?2",
            )?;
            found.extend(rows(&mut statement, params![key, limit])?);
        }
        for (_, text) in keys {
            let mut statement = self.connection.prepare_cached(
                "SELECT id, document FROM interactions WHERE search_text LIKE ?1 ESCAPE '\\'
                 ORDER BY id DESC LIMIT ?2",
            )?;
            found.extend(rows(&mut statement, params![like_pattern(text), limit])?);
        }
        found.sort_by_key(|(id, _)| std::cmp::Reverse(*id));
        found.dedup_by_key(|(id, _)| *id);
        Ok(found
            .into_iter()
            .map(|(id, document)| (String::new(), id, document))
            .collect())
    }
}

/// `%text%` for LIKE with `\` as the escape.
pub(crate) fn like_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
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

/// Writes an interaction; returns the JSON document it stored. A change of its search text
/// goes to `texts`, for [`index_text`] once the batch's other statements are done.
fn save_on(
    connection: &Connection,
    interaction: &Interaction,
    texts: &mut Vec<TextChange>,
) -> Result<String, StoreError> {
    let columns = Columns::of(interaction)?;
    let id = interaction.id.0 as i64;
    let old: Option<String> = connection
        .prepare_cached("SELECT search_text FROM interactions WHERE id = ?1")?
        .query_row([id], |row| row.get(0))
        .optional()?
        .flatten();
    connection
        .prepare_cached(
            "INSERT INTO interactions
                 (id, state, customer_number, created_at, updated_at, document, search_text,
                  number_key)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(id) DO UPDATE SET state = ?2, customer_number = ?3, updated_at = ?5,
                 document = ?6, search_text = ?7, number_key = ?8",
        )?
        .execute(params![
            id,
            columns.state,
            columns.customer_number,
            columns.created,
            columns.updated,
            &columns.document,
            columns.search_text,
            columns.number_key
        ])?;
    texts.extend(TextChange::of(id, old, columns.search_text));
    Ok(columns.document)
}

/// A batch with this many text changes or more (an import; the running phone's batches are
/// tens) leaves the text index merged into one segment. Its terms went in as large new
/// segments, and FTS5's automatic merging would otherwise fold them in a few pages per
/// later write: after 100 000 rows, a single write's p99 went from 1.2 to 9.7 ms.
const BIG_BATCH: usize = 1000;

/// One row's search text before and after a write (unchanged ones are left out).
struct TextChange {
    id: i64,
    old: Option<String>,
    new: String,
}

impl TextChange {
    fn of(id: i64, old: Option<String>, new: String) -> Option<Self> {
        (old.as_deref() != Some(new.as_str())).then_some(Self { id, old, new })
    }
}

/// Keeps the text index (`interactions_text`, FTS5 over `search_text`) up with a batch's
/// writes, in their order. It is written here rather than by triggers: a trigger runs inside
/// its row's upsert, a statement with a savepoint, and FTS5 flushes its pending terms to a new
/// segment at every savepoint — a segment written, and later merged, per row. Written after
/// the batch's other statements, one-row inserts each, the terms are flushed once, at commit.
fn index_text(connection: &Connection, changes: &[TextChange]) -> Result<(), StoreError> {
    for change in changes {
        if let Some(old) = &change.old {
            connection
                .prepare_cached(
                    "INSERT INTO interactions_text (interactions_text, rowid, search_text)
                     VALUES ('delete', ?1, ?2)",
                )?
                .execute(params![change.id, old])?;
        }
        connection
            .prepare_cached("INSERT INTO interactions_text (rowid, search_text) VALUES (?1, ?2)")?
            .execute(params![change.id, change.new])?;
    }
    Ok(())
}
