//! A customer's case across the team: the earlier interactions any agent had with the same
//! customer, found by number or by an attached-data key such as the case id.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{Interaction, InteractionId, InteractionState, same_number};

/// One earlier interaction of the case, with who handled it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseEntry {
    /// The agent whose interaction it was (`[store] agent`).
    pub agent: String,
    /// Its id on that agent.
    pub interaction: InteractionId,
    /// When it began.
    #[serde(with = "time::serde::rfc3339::option")]
    pub at: Option<OffsetDateTime>,
    /// Where it stands.
    pub state: InteractionState,
    /// The disposition chosen.
    pub disposition: Option<String>,
    /// The agent's note.
    pub note: Option<String>,
    /// The customer's number on it.
    pub number: Option<String>,
    /// Why it belongs to the case: `number`, or the attached-data key whose value matched.
    pub matched: String,
}

/// How a case is recognised: the customer's number and the values of the case keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseKey {
    /// The customer's number.
    pub number: Option<String>,
    /// (attached-data key, value) pairs, such as `("CaseID", "CASE-4711")`.
    pub keys: Vec<(String, String)>,
}

impl CaseKey {
    /// The case `interaction` belongs to, by its number and the given attached-data keys.
    #[must_use]
    pub fn of(interaction: &Interaction, case_keys: &[String]) -> Self {
        Self {
            number: interaction
                .callback
                .customer_number
                .clone()
                .filter(|n| !crate::number_key(n).is_empty()),
            keys: case_keys
                .iter()
                .filter_map(|key| {
                    interaction
                        .attached
                        .get(key)
                        .filter(|v| !v.trim().is_empty())
                        .map(|v| (key.clone(), v.to_owned()))
                })
                .collect(),
        }
    }

    /// Whether there is anything to look for.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.number.is_none() && self.keys.is_empty()
    }

    /// Why `other` belongs to this case (`number` or the key that matched), if it does.
    #[must_use]
    pub fn matches(&self, other: &Interaction) -> Option<String> {
        if let (Some(ours), Some(theirs)) = (&self.number, &other.callback.customer_number)
            && same_number(ours, theirs)
        {
            return Some("number".to_owned());
        }
        self.keys
            .iter()
            .find(|(key, value)| other.attached.get(key) == Some(value.as_str()))
            .map(|(key, _)| key.clone())
    }
}

impl CaseEntry {
    /// The entry for `interaction`, handled by `agent`, matched by `matched`.
    #[must_use]
    pub fn new(agent: &str, interaction: &Interaction, matched: String) -> Self {
        Self {
            agent: agent.to_owned(),
            interaction: interaction.id,
            at: interaction.created_at(),
            state: interaction.state,
            disposition: interaction.disposition.clone(),
            note: interaction.note.clone(),
            number: interaction.callback.customer_number.clone(),
            matched,
        }
    }
}
