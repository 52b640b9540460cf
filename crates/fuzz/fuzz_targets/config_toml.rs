//! The config file: any text read as `config.toml` is either refused with an error that says
//! what is wrong, or accepted — and then everything the program makes of it at start (the
//! phone's, the media's, the callbacks' settings, the limits) is made
//! without a panic and without a second refusal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use recall_config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text, "fuzz.toml") {
        Err(e) => assert!(!e.problem().is_empty(), "a refusal that says nothing"),
        Ok(config) => {
            config
                .limits
                .to_limits(engine::Limits::DESKTOP)
                .expect("limits checked once already");
            config
                .media
                .to_settings()
                .expect("media settings checked once already");
            config.sip.stun().expect("stun checked once already");
            config
                .sip
                .session_expires()
                .expect("session timer checked once already");
            let _ = config.callbacks.to_settings();
        }
    }
});
