//! Attached data: the key/value pairs a contact centre attaches to a call, read from SIP header
//! fields (a configurable prefix, `X-Genesys-` by default), a `GMS_UserData` JSON object, JSON
//! body parts and `User-to-User` hex — whatever arrives is kept, bad values raw and flagged.

use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};

/// Which attached-data keys mean what (PRODUCT.md §2, "Default key map"). Keys are matched
/// case-insensitively after the prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KeyMap {
    /// Header prefix that marks attached data.
    pub prefix: String,
    /// The interaction's server id.
    pub call_uuid: String,
    /// Callback type (`immediate`, `delayed`, `scheduled`, `preview`, `web`).
    pub callback_type: String,
    /// `true` also means a preview callback.
    pub agent_preview: String,
    /// The number to call back.
    pub customer_number: String,
    /// When the customer wants the call.
    pub desired_time: String,
    /// Callback state.
    pub callback_state: String,
    /// Callback reason.
    pub callback_reason: String,
    /// Service name.
    pub service_name: String,
    /// Callback id.
    pub callback_id: String,
    /// Free text for the agent.
    pub instructions: String,
    /// Seconds before an unanswered preview returns to the queue.
    pub preview_timeout: String,
    /// A JSON object whose members are merged into the attached data.
    pub gms_user_data: String,
}

impl Default for KeyMap {
    fn default() -> Self {
        Self {
            prefix: "X-Genesys-".to_owned(),
            call_uuid: "CallUUID".to_owned(),
            callback_type: "_callback_type".to_owned(),
            agent_preview: "_agent_preview".to_owned(),
            customer_number: "_customer_number".to_owned(),
            desired_time: "_desired_time".to_owned(),
            callback_state: "_callback_state".to_owned(),
            callback_reason: "_callback_reason".to_owned(),
            service_name: "_service_name".to_owned(),
            callback_id: "_id".to_owned(),
            instructions: "_instructions".to_owned(),
            preview_timeout: "_agent_preview_timeout".to_owned(),
            gms_user_data: "GMS_UserData".to_owned(),
        }
    }
}

/// Bounds on what is accepted as attached data; beyond them values are kept raw and flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest value decoded (longer ones are kept raw, flagged `Oversized`).
    pub max_value_bytes: usize,
    /// Most keys kept; the rest are dropped and flagged.
    pub max_keys: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_value_bytes: 16 * 1024,
            max_keys: 512,
        }
    }
}

/// Something wrong with the attached data, kept beside it so an agent or admin can see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "flag", rename_all = "snake_case")]
pub enum DataFlag {
    /// A value's percent-encoding is broken or not UTF-8; kept as received.
    InvalidEncoding {
        /// The key.
        key: String,
    },
    /// A JSON object (header or body part) did not parse; kept as received.
    InvalidJson {
        /// The key (or `body` for a body part).
        key: String,
        /// What the parser said.
        error: String,
    },
    /// `User-to-User` was not hex; kept as received.
    InvalidHex {
        /// The header.
        key: String,
    },
    /// A value longer than the limit; kept raw, undecoded.
    Oversized {
        /// The key.
        key: String,
        /// Its length in bytes.
        bytes: usize,
    },
    /// More keys than the limit; the rest were dropped.
    TooManyKeys {
        /// How many were dropped.
        dropped: usize,
    },
}

/// A body part of the message that carried the call (RFC 5621 multipart, or the whole body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyPart {
    /// Its Content-Type, e.g. `application/json`.
    pub content_type: String,
    /// Its bytes.
    pub body: Vec<u8>,
}

impl BodyPart {
    /// The parts of a message body as (Content-Type, bytes) pairs, owned.
    pub fn all<'a>(parts: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Vec<Self> {
        parts
            .into_iter()
            .map(|(content_type, body)| Self {
                content_type: content_type.to_owned(),
                body: body.to_vec(),
            })
            .collect()
    }
}

/// Attached data: keys in arrival order, each with one or more values, plus flags. It reads
/// and writes as a JSON object whose values are a string, or a list for repeated keys
/// (`{"CallUUID": "…", "Language": ["es", "en"]}`); the flags are not part of that object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttachedData {
    entries: Vec<(String, Vec<String>)>,
    /// What was wrong with it.
    pub flags: Vec<DataFlag>,
}

impl AttachedData {
    /// Reads attached data from header fields (name, value) and body parts.
    #[must_use]
    pub fn extract<'a>(
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
        parts: &[BodyPart],
        map: &KeyMap,
        limits: Limits,
    ) -> Self {
        let mut data = Self::default();
        let mut dropped = 0;
        for (name, value) in headers {
            let before = data.entries.len();
            if let Some(key) = strip_prefix_ignore_case(name, &map.prefix) {
                if key.eq_ignore_ascii_case(&map.gms_user_data) {
                    data.merge_json(key, value.as_bytes(), limits);
                } else {
                    data.add_encoded(key, value, limits);
                }
            } else if name.eq_ignore_ascii_case(&map.gms_user_data) {
                data.merge_json(name, value.as_bytes(), limits);
            } else if name.eq_ignore_ascii_case("User-to-User")
                || name.eq_ignore_ascii_case("X-UserToUser")
            {
                data.add_user_to_user(name, value, limits);
            }
            if data.entries.len() > limits.max_keys {
                data.entries.truncate(before);
                dropped += 1;
            }
        }
        for part in parts {
            let kind = part.content_type.to_ascii_lowercase();
            if kind.starts_with("application/json") {
                data.merge_json("body", &part.body, limits);
            }
        }
        if dropped > 0 {
            data.flags.push(DataFlag::TooManyKeys { dropped });
        }
        data
    }

    /// All values of a key (case-insensitive).
    #[must_use]
    pub fn get_all(&self, key: &str) -> &[String] {
        self.entries
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map_or(&[], |(_, v)| v.as_slice())
    }

    /// The first value of a key (case-insensitive).
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.get_all(key).first().map(String::as_str)
    }

    /// Keys and values in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// How many keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no attached data at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds a value; a repeated key keeps every value (PRODUCT.md §2).
    pub fn push(&mut self, key: &str, value: String) {
        match self
            .entries
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
        {
            Some((_, values)) => values.push(value),
            None => self.entries.push((key.to_owned(), vec![value])),
        }
    }

    fn add_encoded(&mut self, key: &str, value: &str, limits: Limits) {
        let value = value.trim();
        if value.len() > limits.max_value_bytes {
            self.flags.push(DataFlag::Oversized {
                key: key.to_owned(),
                bytes: value.len(),
            });
            self.push(key, value.to_owned());
            return;
        }
        match decode_percent(value) {
            Some(decoded) => self.push(key, decoded),
            None => {
                self.flags.push(DataFlag::InvalidEncoding {
                    key: key.to_owned(),
                });
                self.push(key, value.to_owned());
            }
        }
    }

    fn add_user_to_user(&mut self, name: &str, value: &str, limits: Limits) {
        // RFC 7433: hex data, then parameters such as `;encoding=hex;purpose=…`.
        let data = value.split(';').next().unwrap_or_default().trim();
        if data.len() > limits.max_value_bytes {
            self.flags.push(DataFlag::Oversized {
                key: name.to_owned(),
                bytes: data.len(),
            });
            self.push(name, data.to_owned());
            return;
        }
        match hex::decode(data) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => self.push(name, text),
                Err(_) => self.push(name, data.to_owned()),
            },
            Err(_) => {
                self.flags.push(DataFlag::InvalidHex {
                    key: name.to_owned(),
                });
                self.push(name, data.to_owned());
            }
        }
    }

    /// Merges the members of a JSON object; anything else is kept raw under `key` and flagged.
    fn merge_json(&mut self, key: &str, bytes: &[u8], limits: Limits) {
        if bytes.len() > limits.max_value_bytes {
            self.flags.push(DataFlag::Oversized {
                key: key.to_owned(),
                bytes: bytes.len(),
            });
            self.push(key, String::from_utf8_lossy(bytes).into_owned());
            return;
        }
        // A header value may itself be percent-encoded JSON.
        let text = String::from_utf8_lossy(bytes);
        let decoded = decode_percent(text.trim()).unwrap_or_else(|| text.trim().to_owned());
        match serde_json::from_str::<serde_json::Value>(&decoded) {
            Ok(serde_json::Value::Object(members)) => {
                for (member, value) in members {
                    match value {
                        serde_json::Value::Array(items) => {
                            for item in items {
                                self.push(&member, json_text(item));
                            }
                        }
                        other => self.push(&member, json_text(other)),
                    }
                }
            }
            Ok(_) => {
                self.flags.push(DataFlag::InvalidJson {
                    key: key.to_owned(),
                    error: "not a JSON object".to_owned(),
                });
                self.push(key, decoded);
            }
            Err(e) => {
                self.flags.push(DataFlag::InvalidJson {
                    key: key.to_owned(),
                    error: e.to_string(),
                });
                self.push(key, decoded);
            }
        }
    }
}

impl Serialize for AttachedData {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.entries.len()))?;
        for (key, values) in &self.entries {
            match values.as_slice() {
                [one] => map.serialize_entry(key, one)?,
                many => map.serialize_entry(key, many)?,
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for AttachedData {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Values {
            One(String),
            Many(Vec<String>),
        }
        // serde_json's map keeps insertion order only with a feature; read pairs instead.
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = AttachedData;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of strings or lists of strings")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut access: A,
            ) -> Result<AttachedData, A::Error> {
                let mut data = AttachedData::default();
                while let Some((key, values)) = access.next_entry::<String, Values>()? {
                    match values {
                        Values::One(v) => data.push(&key, v),
                        Values::Many(vs) => {
                            for v in vs {
                                data.push(&key, v);
                            }
                        }
                    }
                }
                Ok(data)
            }
        }
        d.deserialize_map(Visitor)
    }
}

fn json_text(value: serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s,
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Percent-decodes to UTF-8; `None` when an escape is broken or the bytes are not UTF-8.
fn decode_percent(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
        }
    }
    percent_decode_str(value)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

fn strip_prefix_ignore_case<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    let head = name.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &name[prefix.len()..])
        .filter(|rest| !rest.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extract(headers: &[(&str, &str)], parts: &[BodyPart]) -> AttachedData {
        AttachedData::extract(
            headers.iter().copied(),
            parts,
            &KeyMap::default(),
            Limits::default(),
        )
    }

    #[test]
    fn prefixed_headers_are_decoded_and_repeated_keys_keep_every_value() {
        let data = extract(
            &[
                ("X-Genesys-_customer_number", "%2B1%20555%200100"),
                ("x-genesys-Language", "es"),
                ("X-GENESYS-language", "en"),
                ("X-Genesys-Name", "Jos%C3%A9"),
                ("Subject", "not attached data"),
            ],
            &[],
        );
        assert_eq!(data.get("_CUSTOMER_NUMBER"), Some("+1 555 0100"));
        assert_eq!(data.get_all("Language"), ["es", "en"]);
        assert_eq!(data.get("name"), Some("José"));
        assert_eq!(data.get("Subject"), None);
        assert!(data.flags.is_empty());
    }

    #[test]
    fn gms_user_data_json_and_json_body_parts_are_merged() {
        let data = extract(
            &[(
                "X-Genesys-GMS_UserData",
                r#"{"_callback_type":"scheduled","Tier":3,"Tags":["vip","es"]}"#,
            )],
            &[BodyPart {
                content_type: "application/json".to_owned(),
                body: br#"{"_service_name":"Billing"}"#.to_vec(),
            }],
        );
        assert_eq!(data.get("_callback_type"), Some("scheduled"));
        assert_eq!(data.get("Tier"), Some("3"));
        assert_eq!(data.get_all("tags"), ["vip", "es"]);
        assert_eq!(data.get("_service_name"), Some("Billing"));
    }

    #[test]
    fn user_to_user_hex_is_decoded() {
        let data = extract(&[("User-to-User", "6361736531323334;encoding=hex")], &[]);
        assert_eq!(data.get("User-to-User"), Some("case1234"));
    }

    #[test]
    fn bad_values_are_kept_raw_and_flagged_never_fatal() {
        let long = "x".repeat(20_000);
        let data = extract(
            &[
                ("X-Genesys-Broken", "100%zz"),
                ("X-Genesys-GMS_UserData", "{not json"),
                ("X-UserToUser", "zz-not-hex"),
                ("X-Genesys-Huge", &long),
            ],
            &[],
        );
        assert_eq!(data.get("Broken"), Some("100%zz"));
        assert_eq!(data.get("GMS_UserData"), Some("{not json"));
        assert_eq!(data.get("X-UserToUser"), Some("zz-not-hex"));
        assert_eq!(data.get("Huge").map(str::len), Some(20_000));
        let kinds: Vec<&str> = data
            .flags
            .iter()
            .map(|f| match f {
                DataFlag::InvalidEncoding { .. } => "encoding",
                DataFlag::InvalidJson { .. } => "json",
                DataFlag::InvalidHex { .. } => "hex",
                DataFlag::Oversized { .. } => "oversized",
                DataFlag::TooManyKeys { .. } => "keys",
            })
            .collect();
        assert_eq!(kinds, ["encoding", "json", "hex", "oversized"]);
    }

    #[test]
    fn attached_data_reads_and_writes_as_an_object_in_order() {
        let data = extract(
            &[
                ("X-Genesys-CallUUID", "abc"),
                ("X-Genesys-Language", "es"),
                ("X-Genesys-Language", "en"),
            ],
            &[],
        );
        let json = serde_json::to_string(&data).expect("json");
        assert_eq!(json, r#"{"CallUUID":"abc","Language":["es","en"]}"#);
        let back: AttachedData = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, data);
    }

    #[test]
    fn too_many_keys_are_dropped_and_counted() {
        let names: Vec<String> = (0..600).map(|i| format!("X-Genesys-k{i}")).collect();
        let headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
        let data = extract(&headers, &[]);
        assert_eq!(data.len(), 512);
        assert_eq!(data.flags, [DataFlag::TooManyKeys { dropped: 88 }]);
    }
}
