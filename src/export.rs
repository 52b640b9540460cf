//! `recall export`: the interaction history from the database, as CSV or JSON on stdout.

use std::io::Write;
use std::path::Path;

use interaction::{DesiredTime, Interaction, TimelineKind};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

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
) -> Result<usize, String> {
    if !db.is_file() {
        return Err(format!("--db {}: no such database", db.display()));
    }
    let store = store::Store::open(db).map_err(|e| e.to_string())?;
    let interactions = store.load_range(from, to).map_err(|e| e.to_string())?;
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &interactions).map_err(|e| e.to_string())?;
            writeln!(out).map_err(|e| e.to_string())?;
        }
        Format::Csv => write_csv(&interactions, out)?,
    }
    Ok(interactions.len())
}

fn write_csv(interactions: &[Interaction], out: &mut impl Write) -> Result<(), String> {
    let mut writer = csv::Writer::from_writer(out);
    writer
        .write_record([
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
        ])
        .map_err(|e| e.to_string())?;
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
        writer
            .write_record([
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
            ])
            .map_err(|e| e.to_string())?;
    }
    writer.flush().map_err(|e| e.to_string())
}

/// Reads an RFC 3339 time from the command line.
pub fn parse_time(text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| format!("{text:?} is not an RFC 3339 time (e.g. 2026-11-25T00:00:00Z): {e}"))
}
