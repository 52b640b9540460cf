//! Which interactions a history search wants: by state, text, creation time; newest first,
//! at most `limit`. The store answers the same question in SQL.

use time::OffsetDateTime;

use crate::interaction::{Interaction, InteractionState};

/// A history search (`GET /v1/interactions?state=&q=&from=&to=&limit=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Only interactions in this state.
    pub state: Option<InteractionState>,
    /// Only those whose record contains this text anywhere (attached data, callback fields,
    /// note, contact, disposition), case-insensitively.
    pub text: Option<String>,
    /// Created at or after.
    pub from: Option<OffsetDateTime>,
    /// Created before.
    pub to: Option<OffsetDateTime>,
    /// The newest this many.
    pub limit: usize,
}

impl Default for Query {
    fn default() -> Self {
        Self {
            state: None,
            text: None,
            from: None,
            to: None,
            limit: 1000,
        }
    }
}

impl Query {
    /// Whether `interaction` is wanted (the limit aside).
    #[must_use]
    pub fn matches(&self, interaction: &Interaction) -> bool {
        let created = interaction.created_at();
        self.state.is_none_or(|s| interaction.state == s)
            && self.from.is_none_or(|f| created.is_some_and(|c| c >= f))
            && self.to.is_none_or(|t| created.is_some_and(|c| c < t))
            && self.text.as_deref().is_none_or(|needle| {
                interaction
                    .search_text()
                    .to_lowercase()
                    .contains(&needle.to_lowercase())
            })
    }

    /// The wanted interactions among `all` (oldest first), oldest first.
    #[must_use]
    pub fn select(&self, all: impl DoubleEndedIterator<Item = Interaction>) -> Vec<Interaction> {
        let mut newest: Vec<Interaction> = all
            .rev()
            .filter(|i| self.matches(i))
            .take(self.limit)
            .collect();
        newest.reverse();
        newest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attached::AttachedData;
    use crate::callback::CallbackInfo;
    use crate::interaction::InteractionId;
    use time::macros::datetime;

    fn at(id: u64, created: OffsetDateTime, number: &str) -> Interaction {
        Interaction::notified(
            InteractionId(id),
            created,
            CallbackInfo {
                customer_number: Some(number.to_owned()),
                ..CallbackInfo::default()
            },
            AttachedData::default(),
        )
    }

    #[test]
    fn filters_by_state_text_and_time_newest_kept_oldest_first() {
        let mut all = vec![
            at(1, datetime!(2026-11-24 09:00 UTC), "+1 555 0100"),
            at(2, datetime!(2026-11-25 09:00 UTC), "+1 555 0101"),
            at(3, datetime!(2026-11-26 09:00 UTC), "+1 555 0102"),
        ];
        all[1]
            .set_note(datetime!(2026-11-25 09:05 UTC), "Wants a REFUND")
            .expect("note");
        let ids = |q: &Query| {
            q.select(all.clone().into_iter())
                .iter()
                .map(|i| i.id.0)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&Query::default()), [1, 2, 3]);
        let text = Query {
            text: Some("refund".to_owned()),
            ..Query::default()
        };
        assert_eq!(ids(&text), [2]);
        let range = Query {
            from: Some(datetime!(2026-11-25 00:00 UTC)),
            to: Some(datetime!(2026-11-26 09:00 UTC)),
            ..Query::default()
        };
        assert_eq!(ids(&range), [2], "from is inclusive, to exclusive");
        let notified = Query {
            state: Some(InteractionState::Notified),
            limit: 2,
            ..Query::default()
        };
        assert_eq!(ids(&notified), [2, 3], "the newest two");
    }
}
