//! `recall export`: the interaction history from the database, as CSV or JSON on stdout.

use std::io::Write;
use std::path::Path;

use interaction::{DesiredTime, Interaction, TimelineKind};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Why an export could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// `--db` names no file.
    #[error("--db {0}: no such database")]
    NoDatabase(String),
    /// The database could not be read.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// Writing to standard output failed.
    #[error(transparent)]
    Write(#[from] std::io::Error),
    /// The JSON could not be written.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// The CSV could not be written.
    #[error(transparent)]
    Csv(#[from] csv::Error),
}

/// A `--from` or `--to` that is not an RFC 3339 time.
#[derive(Debug, thiserror::Error)]
#[error("{text:?} is not an RFC 3339 time (e.g. 2026-11-25T00:00:00Z): {source}")]
pub struct BadTime {
    /// What was given.
    text: String,
    /// What the time reader said.
    source: time::error::Parse,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One row per interaction.
    Csv,
    /// The interactions as the control API shows them.
    Json,
}

/// Reads the database and writes the interactions created in `[from, to)`.
pub fn export(
    db: &Path,
    format: Format,
    from: Option<OffsetDateTime>,
    to: Option<OffsetDateTime>,
    out: &mut impl Write,
) -> Result<usize, ExportError> {
    if !db.is_file() {
        return Err(ExportError::NoDatabase(db.display().to_string()));
    }
    let store = store::Store::open(db)?;
    let interactions = store.load_range(from, to)?;
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &interactions)?;
            writeln!(out)?;
        }
        Format::Csv => write_csv(&interactions, out)?,
    }
    Ok(interactions.len())
}

fn write_csv(interactions: &[Interaction], out: &mut impl Write) -> Result<(), ExportError> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record([
        "id",
        "state",
        "type",
        "customer_number",
        "desired_time",
        "service_name",
        "disposition",
        "note",
        "dtmf",
        "created_at",
        "updated_at",
        "recordings",
    ])?;
    let stamp =
        |at: Option<OffsetDateTime>| at.and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default();
    for i in interactions {
        let kind = i
            .callback
            .kind
            .map(|k| serde_json::to_value(k).ok())
            .and_then(|v| v.and_then(|v| v.as_str().map(str::to_owned)))
            .unwrap_or_default();
        let desired = match &i.callback.desired_time {
            Some(DesiredTime::At(at)) => stamp(Some(*at)),
            Some(DesiredTime::Unreadable(raw)) => raw.clone(),
            None => String::new(),
        };
        let dtmf: String = i
            .timeline
            .iter()
            .filter_map(|e| match &e.kind {
                TimelineKind::Dtmf { digits } => Some(digits.as_str()),
                _ => None,
            })
            .collect();
        writer.write_record([
            i.id.to_string(),
            i.state.to_string(),
            kind,
            i.callback.customer_number.clone().unwrap_or_default(),
            desired,
            i.callback.service_name.clone().unwrap_or_default(),
            i.disposition.clone().unwrap_or_default(),
            i.note.clone().unwrap_or_default(),
            dtmf,
            stamp(i.timeline.first().map(|e| e.at)),
            stamp(i.timeline.last().map(|e| e.at)),
            i.recordings().join(";"),
        ])?;
    }
    writer.flush()?;
    Ok(())
}

/// Reads an RFC 3339 time from the command line.
pub fn parse_time(text: &str) -> Result<OffsetDateTime, BadTime> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|source| BadTime {
        text: text.to_owned(),
        source,
    })
}
