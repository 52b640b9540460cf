//! Wall-clock times in a named time zone: what an agent means by "Monday 10:00, Madrid".
//!
//! A callback is stored and raised as an instant; the agent picks it as a date and a time in a
//! zone. With a fixed offset the instant is wrong for any date on the other side of a daylight
//! saving change; with an IANA zone the offset is the one in force on the chosen date. The rules
//! come from the IANA database compiled into the program (jiff's bundled tzdb), so the answer is
//! the same on every machine and nothing is read from disk here.

use jiff::tz::{AmbiguousOffset, TimeZone};
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// A zone as the agent names it: an IANA name or a fixed offset.
#[derive(Debug, Clone)]
pub struct Zone {
    name: String,
    rules: Rules,
}

#[derive(Debug, Clone)]
enum Rules {
    Named(TimeZone),
    Fixed(UtcOffset),
}

/// A zone, date or time that does not read, or a local time the zone skips.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    /// Neither an IANA name nor an offset.
    #[error(
        "unknown time zone {0:?}: use an IANA name such as Europe/Madrid or an offset such as +01:00"
    )]
    Unknown(String),
    /// The date is not `YYYY-MM-DD` or the time not `HH:MM`.
    #[error("the date or time is not valid: use 2026-12-24 and 09:30 (got {0:?})")]
    Unreadable(String),
    /// Clocks go forward over this local time: it never happens in the zone.
    #[error("{time} does not exist in {zone}: the clocks go forward then (pick {suggestion})")]
    Skipped {
        /// The local date and time asked for.
        time: String,
        /// The zone.
        zone: String,
        /// The same wall time after the change.
        suggestion: String,
    },
}

impl Zone {
    /// Coordinated universal time.
    #[must_use]
    pub fn utc() -> Self {
        Self {
            name: "UTC".to_owned(),
            rules: Rules::Fixed(UtcOffset::UTC),
        }
    }

    /// Reads `Europe/Madrid` (any case), `UTC`, `Z`, `+01:00`, `-0530` or `+01`.
    ///
    /// # Errors
    /// Neither a zone in the IANA database nor an offset.
    pub fn parse(text: &str) -> Result<Self, ZoneError> {
        let text = text.trim();
        if let Some(offset) = fixed_offset(text) {
            let name = if offset.is_utc() {
                "UTC".to_owned()
            } else {
                offset_text(offset)
            };
            return Ok(Self {
                name,
                rules: Rules::Fixed(offset),
            });
        }
        let zone = TimeZone::get(text).map_err(|_| ZoneError::Unknown(text.to_owned()))?;
        let name = zone.iana_name().unwrap_or(text).to_owned();
        Ok(Self {
            name,
            rules: Rules::Named(zone),
        })
    }

    /// The zone's canonical name: `Europe/Madrid`, `UTC` or `+05:30`.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The offset in force at an instant.
    #[must_use]
    pub fn offset_at(&self, at: OffsetDateTime) -> UtcOffset {
        match &self.rules {
            Rules::Fixed(offset) => *offset,
            Rules::Named(zone) => {
                let seconds = jiff::Timestamp::from_second(at.unix_timestamp())
                    .map(|ts| zone.to_offset(ts).seconds())
                    .unwrap_or(0);
                UtcOffset::from_whole_seconds(seconds).unwrap_or(UtcOffset::UTC)
            }
        }
    }

    /// An instant shown in this zone.
    #[must_use]
    pub fn local(&self, at: OffsetDateTime) -> OffsetDateTime {
        at.to_offset(self.offset_at(at))
    }

    /// The instant a wall-clock date and time in this zone means. A time the clocks pass twice
    /// (the hour after a change back) is the first of the two; a time they skip is an error
    /// that names the time to pick instead.
    ///
    /// # Errors
    /// The local time does not exist in the zone.
    pub fn instant(&self, local: PrimitiveDateTime) -> Result<OffsetDateTime, ZoneError> {
        let zone = match &self.rules {
            Rules::Fixed(offset) => return Ok(local.assume_offset(*offset)),
            Rules::Named(zone) => zone,
        };
        let civil = jiff::civil::DateTime::new(
            i16::try_from(local.year()).map_err(|_| self.unreadable(local))?,
            i8::try_from(u8::from(local.month())).map_err(|_| self.unreadable(local))?,
            i8::try_from(local.day()).map_err(|_| self.unreadable(local))?,
            i8::try_from(local.hour()).map_err(|_| self.unreadable(local))?,
            i8::try_from(local.minute()).map_err(|_| self.unreadable(local))?,
            i8::try_from(local.second()).map_err(|_| self.unreadable(local))?,
            0,
        )
        .map_err(|_| self.unreadable(local))?;
        let seconds = match zone.to_ambiguous_zoned(civil).offset() {
            AmbiguousOffset::Unambiguous { offset } => offset.seconds(),
            AmbiguousOffset::Fold { before, .. } => before.seconds(),
            AmbiguousOffset::Gap { before, after } => {
                let shifted =
                    local + time::Duration::seconds(i64::from(after.seconds() - before.seconds()));
                return Err(ZoneError::Skipped {
                    time: wall_text(local),
                    zone: self.name.clone(),
                    suggestion: wall_text(shifted),
                });
            }
        };
        let offset = UtcOffset::from_whole_seconds(seconds).map_err(|_| self.unreadable(local))?;
        Ok(local.assume_offset(offset))
    }

    /// The instant of a date (`YYYY-MM-DD`) and a time (`HH:MM` or `HH:MM:SS`) in this zone.
    ///
    /// # Errors
    /// The date or time does not read, or the zone skips that time.
    pub fn instant_of(&self, date: &str, time: &str) -> Result<OffsetDateTime, ZoneError> {
        let local = parse_wall(date, time)?;
        self.instant(local)
    }

    fn unreadable(&self, local: PrimitiveDateTime) -> ZoneError {
        ZoneError::Unreadable(format!("{} in {}", wall_text(local), self.name))
    }
}

/// A date and a time of day as the agent typed them.
///
/// # Errors
/// Not `YYYY-MM-DD` and `HH:MM[:SS]`.
pub fn parse_wall(date: &str, time: &str) -> Result<PrimitiveDateTime, ZoneError> {
    let bad = || ZoneError::Unreadable(format!("{} {}", date.trim(), time.trim()));
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    let date = Date::parse(date.trim(), &date_format).map_err(|_| bad())?;
    let short = time::macros::format_description!("[hour]:[minute]");
    let long = time::macros::format_description!("[hour]:[minute]:[second]");
    let clock = Time::parse(time.trim(), &short)
        .or_else(|_| Time::parse(time.trim(), &long))
        .map_err(|_| bad())?;
    Ok(PrimitiveDateTime::new(date, clock))
}

/// `+01:00`, `-05:30`.
#[must_use]
pub fn offset_text(offset: UtcOffset) -> String {
    let (h, m, _) = offset.as_hms();
    let sign = if offset.is_negative() { '-' } else { '+' };
    format!("{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs())
}

fn wall_text(local: PrimitiveDateTime) -> String {
    format!(
        "{}-{:02}-{:02} {:02}:{:02}",
        local.year(),
        u8::from(local.month()),
        local.day(),
        local.hour(),
        local.minute()
    )
}

fn fixed_offset(text: &str) -> Option<UtcOffset> {
    if text.eq_ignore_ascii_case("utc") || text.eq_ignore_ascii_case("z") {
        return Some(UtcOffset::UTC);
    }
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (hours, minutes) = match (rest.len(), rest.split_once(':')) {
        (1 | 2, None) if all_digits(rest) => (rest.parse::<i8>().ok()?, 0),
        (4, None) if all_digits(rest) => {
            (rest[..2].parse::<i8>().ok()?, rest[2..].parse::<i8>().ok()?)
        }
        (5, Some((h, m))) if h.len() == 2 && all_digits(h) && all_digits(m) => {
            (h.parse::<i8>().ok()?, m.parse::<i8>().ok()?)
        }
        _ => return None,
    };
    if hours > 14 || minutes > 59 {
        return None;
    }
    UtcOffset::from_hms(sign * hours, sign * minutes, 0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_time_after_the_spring_change_takes_the_summer_offset() {
        let madrid = Zone::parse("europe/madrid").expect("zone");
        assert_eq!(madrid.name(), "Europe/Madrid");
        // Chosen in November (+01:00) for a Monday after the clocks went forward (+02:00).
        let at = madrid.instant_of("2027-03-29", "10:00").expect("instant");
        assert_eq!(at, datetime!(2027-03-29 08:00 UTC));
        let winter = madrid.instant_of("2026-11-30", "10:00").expect("instant");
        assert_eq!(winter, datetime!(2026-11-30 09:00 UTC));
        assert_eq!(madrid.local(at).offset(), time::macros::offset!(+2));
        let new_york = Zone::parse("America/New_York").expect("zone");
        assert_eq!(
            new_york.instant_of("2027-03-15", "09:30").expect("instant"),
            datetime!(2027-03-15 13:30 UTC)
        );
    }

    #[test]
    fn a_skipped_time_is_refused_and_a_repeated_one_is_the_first() {
        let madrid = Zone::parse("Europe/Madrid").expect("zone");
        let skipped = madrid
            .instant_of("2027-03-28", "02:30")
            .expect_err("skipped");
        assert_eq!(
            skipped.to_string(),
            "2027-03-28 02:30 does not exist in Europe/Madrid: the clocks go forward then (pick 2027-03-28 03:30)"
        );
        // 02:30 happens twice on 25 October 2026: first at +02:00.
        assert_eq!(
            madrid.instant_of("2026-10-25", "02:30").expect("instant"),
            datetime!(2026-10-25 00:30 UTC)
        );
    }

    #[test]
    fn offsets_and_bad_names_read_as_expected() {
        for (text, name, offset) in [
            ("+01:00", "+01:00", time::macros::offset!(+1)),
            ("-0530", "-05:30", time::macros::offset!(-5:30)),
            ("+02", "+02:00", time::macros::offset!(+2)),
            ("utc", "UTC", UtcOffset::UTC),
            ("Z", "UTC", UtcOffset::UTC),
        ] {
            let zone = Zone::parse(text).expect(text);
            assert_eq!(zone.name(), name);
            assert_eq!(zone.offset_at(datetime!(2027-07-01 00:00 UTC)), offset);
        }
        for bad in ["Mars/Olympus", "+25:00", "+1:2", "", "Europe/"] {
            assert!(
                matches!(Zone::parse(bad), Err(ZoneError::Unknown(_))),
                "{bad:?}"
            );
        }
        let zone = Zone::parse("UTC").expect("utc");
        for (date, time) in [
            ("2026-13-01", "10:00"),
            ("tomorrow", "10:00"),
            ("2026-12-01", "25:00"),
        ] {
            assert!(matches!(
                zone.instant_of(date, time),
                Err(ZoneError::Unreadable(_))
            ));
        }
    }

    #[test]
    fn a_reschedule_keeps_the_zone_it_was_chosen_in() {
        let request = crate::Reschedule::local("2027-03-29", "10:00", "europe/madrid", None, true)
            .expect("reschedule");
        assert_eq!(request.at, datetime!(2027-03-29 08:00 UTC));
        assert_eq!(request.time_zone.as_deref(), Some("Europe/Madrid"));
        assert_eq!(request.wall_text(), "2027-03-29 10:00 Europe/Madrid");
        let mut unknown = request.clone();
        unknown.time_zone = Some("Nowhere/Else".to_owned());
        assert_eq!(unknown.wall_text(), "2027-03-29 08:00 UTC");
        assert!(
            crate::Reschedule::local("2027-03-29", "10:00", "Nowhere/Else", None, true).is_err()
        );
    }
}
