//! The typed callback fields an agent works with, read from attached data through the key map.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::attached::{AttachedData, KeyMap};

/// The kinds of callback (PRODUCT.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackType {
    /// Call the customer now.
    Immediate,
    /// Call when an agent is free.
    Delayed,
    /// Call at the desired time.
    Scheduled,
    /// The agent previews the case, then calls (Agent Preview).
    Preview,
    /// Requested on the web; previewed before dialling.
    Web,
}

impl CallbackType {
    /// Reads a type name (case-insensitive; `agent_preview` means `preview`).
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "immediate" => Some(Self::Immediate),
            "delayed" => Some(Self::Delayed),
            "scheduled" => Some(Self::Scheduled),
            "preview" | "agent_preview" | "agent-preview" => Some(Self::Preview),
            "web" | "web_callback" => Some(Self::Web),
            _ => None,
        }
    }

    /// Whether the agent sees a preview before any call is placed.
    #[must_use]
    pub fn is_previewed(self) -> bool {
        matches!(self, Self::Preview | Self::Web)
    }
}

/// When the customer wants to be called.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DesiredTime {
    /// A time that parsed (RFC 3339 / ISO 8601, or Unix seconds).
    #[serde(with = "time::serde::rfc3339")]
    At(OffsetDateTime),
    /// A value that did not parse, kept as received.
    Unreadable(String),
}

impl DesiredTime {
    /// Reads RFC 3339 (`2026-11-25T15:30:00.000Z`) or Unix seconds.
    #[must_use]
    pub fn parse(text: &str) -> Self {
        let text = text.trim();
        if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
            return Self::At(at);
        }
        if let Some(at) = text
            .parse::<i64>()
            .ok()
            .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        {
            return Self::At(at);
        }
        Self::Unreadable(text.to_owned())
    }
}

/// The callback information of an interaction. `kind: None` is an ordinary voice call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackInfo {
    /// The callback type, if this is a callback.
    #[serde(rename = "type")]
    pub kind: Option<CallbackType>,
    /// The server's id for the interaction (`CallUUID`).
    pub server_id: Option<String>,
    /// The number to call back.
    pub customer_number: Option<String>,
    /// When the customer wants the call.
    pub desired_time: Option<DesiredTime>,
    /// Callback state, as the server says it.
    pub state: Option<String>,
    /// Callback reason.
    pub reason: Option<String>,
    /// Service name.
    pub service_name: Option<String>,
    /// Callback id.
    pub callback_id: Option<String>,
    /// Free text for the agent.
    pub instructions: Option<String>,
    /// How long a preview may wait for the agent, overriding the configured default.
    #[serde(with = "optional_seconds")]
    pub preview_timeout: Option<Duration>,
}

impl CallbackInfo {
    /// Reads the typed fields out of attached data.
    #[must_use]
    pub fn from_attached(data: &AttachedData, map: &KeyMap) -> Self {
        let text = |key: &str| data.get(key).map(str::to_owned).filter(|v| !v.is_empty());
        let agent_preview = data
            .get(&map.agent_preview)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        let kind = data
            .get(&map.callback_type)
            .and_then(CallbackType::parse)
            .or(agent_preview.then_some(CallbackType::Preview));
        Self {
            kind,
            server_id: text(&map.call_uuid),
            customer_number: text(&map.customer_number),
            desired_time: data.get(&map.desired_time).map(DesiredTime::parse),
            state: text(&map.callback_state),
            reason: text(&map.callback_reason),
            service_name: text(&map.service_name),
            callback_id: text(&map.callback_id),
            instructions: text(&map.instructions),
            preview_timeout: data
                .get(&map.preview_timeout)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
        }
    }
}

mod optional_seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_some(&d.as_secs()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attached::{BodyPart, Limits};

    fn info(headers: &[(&str, &str)]) -> CallbackInfo {
        let map = KeyMap::default();
        let data = AttachedData::extract(
            headers.iter().copied(),
            &[] as &[BodyPart],
            &map,
            Limits::default(),
        );
        CallbackInfo::from_attached(&data, &map)
    }

    #[test]
    fn every_callback_type_is_read_and_agent_preview_means_preview() {
        for (value, kind) in [
            ("immediate", CallbackType::Immediate),
            ("Delayed", CallbackType::Delayed),
            ("SCHEDULED", CallbackType::Scheduled),
            ("preview", CallbackType::Preview),
            ("web", CallbackType::Web),
        ] {
            assert_eq!(
                info(&[("X-Genesys-_callback_type", value)]).kind,
                Some(kind)
            );
        }
        assert_eq!(
            info(&[("X-Genesys-_agent_preview", "true")]).kind,
            Some(CallbackType::Preview)
        );
        assert_eq!(info(&[]).kind, None, "no callback data: an ordinary call");
    }

    #[test]
    fn the_typed_fields_come_from_the_key_map() {
        let info = info(&[
            ("X-Genesys-CallUUID", "00A1B2"),
            ("X-Genesys-_callback_type", "scheduled"),
            ("X-Genesys-_customer_number", "%2B1%20555%200100"),
            ("X-Genesys-_desired_time", "2026-11-25T15:30:00.000Z"),
            ("X-Genesys-_callback_state", "PROCESSING"),
            ("X-Genesys-_callback_reason", "CUSTOMER_REQUEST"),
            ("X-Genesys-_service_name", "Billing"),
            ("X-Genesys-_id", "cb-42"),
            ("X-Genesys-_instructions", "Call%20after%20lunch"),
            ("X-Genesys-_agent_preview_timeout", "45"),
        ]);
        assert_eq!(info.server_id.as_deref(), Some("00A1B2"));
        assert_eq!(info.customer_number.as_deref(), Some("+1 555 0100"));
        assert_eq!(
            info.desired_time,
            Some(DesiredTime::At(
                OffsetDateTime::parse("2026-11-25T15:30:00Z", &Rfc3339).expect("time")
            ))
        );
        assert_eq!(info.state.as_deref(), Some("PROCESSING"));
        assert_eq!(info.reason.as_deref(), Some("CUSTOMER_REQUEST"));
        assert_eq!(info.service_name.as_deref(), Some("Billing"));
        assert_eq!(info.callback_id.as_deref(), Some("cb-42"));
        assert_eq!(info.instructions.as_deref(), Some("Call after lunch"));
        assert_eq!(info.preview_timeout, Some(Duration::from_secs(45)));
    }

    #[test]
    fn desired_time_reads_rfc3339_or_unix_seconds_and_keeps_the_unreadable() {
        let unix = DesiredTime::parse("1795620600");
        let rfc = DesiredTime::parse("2026-11-25T15:30:00+00:00");
        assert_eq!(unix, rfc);
        assert_eq!(
            DesiredTime::parse("tomorrow-ish"),
            DesiredTime::Unreadable("tomorrow-ish".to_owned())
        );
    }

    #[test]
    fn callback_info_serialises_with_the_api_field_names() {
        let info = info(&[
            ("X-Genesys-_callback_type", "scheduled"),
            ("X-Genesys-_desired_time", "2026-11-25T15:30:00Z"),
        ]);
        let json = serde_json::to_value(&info).expect("json");
        assert_eq!(json["type"], "scheduled");
        assert_eq!(json["desired_time"], "2026-11-25T15:30:00Z");
    }
}
