//! Attached data as it reaches the engine: an INVITE (header fields with the `X-Genesys-`
//! prefix, `GMS_UserData` JSON, `User-to-User` hex, JSON body parts of a multipart body) read
//! into attached data and the typed callback fields. Nothing may panic, and what the store and
//! the control API write must read back the same: the attached data's JSON object and the
//! callback fields' JSON.
#![no_main]

use bytes::Bytes;
use interaction::{AttachedData, BodyPart, CallbackInfo, KeyMap, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(message) =
        sipx_sip::parse_datagram(Bytes::copy_from_slice(data), &sipx_sip::Limits::datagram())
    else {
        return;
    };
    let sipx_sip::Message::Request(request) = message else {
        return;
    };
    let invite = sip::IncomingInvite::read(&request);
    let parts = BodyPart::all(invite.parts.iter().map(|(t, b)| (t.as_str(), &b[..])));
    let map = KeyMap::default();
    for limits in [
        Limits::default(),
        Limits {
            max_value_bytes: 8,
            max_keys: 2,
        },
    ] {
        let attached = AttachedData::extract(
            invite.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            &parts,
            &map,
            limits,
        );
        assert!(attached.len() <= limits.max_keys, "more keys than the limit");
        let json = serde_json::to_string(&attached).expect("attached data writes as JSON");
        let back: AttachedData = serde_json::from_str(&json).expect("and reads back");
        assert!(
            back.iter().eq(attached.iter()),
            "attached data changed through JSON: {json}"
        );
        let callback = CallbackInfo::from_attached(&attached, &map);
        let json = serde_json::to_string(&callback).expect("callback fields write as JSON");
        let back: CallbackInfo = serde_json::from_str(&json).expect("and read back");
        assert_eq!(back, callback, "callback fields changed through JSON: {json}");
    }
});
