//! A headset's HID reports: any report descriptor, then any input reports against it and the
//! light reports made from it. Nothing may panic; a light report is never longer than the
//! descriptor's largest output report plus its id byte.
//!
//! Input: the first byte is the descriptor's length; the descriptor; then input reports, each
//! a length byte and its bytes.
#![no_main]

use headset::{Headset, Lights};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&len, rest)) = data.split_first() else {
        return;
    };
    let (descriptor, mut reports) = rest.split_at(usize::from(len).min(rest.len()));
    let _ = headset::descriptor::parse(descriptor);
    let Ok(mut headset) = Headset::new(descriptor) else {
        return;
    };
    while let Some((&n, more)) = reports.split_first() {
        let (report, more) = more.split_at(usize::from(n).min(more.len()));
        let _ = headset.input(report);
        reports = more;
    }
    let longest = headset
        .layout()
        .lengths
        .iter()
        .map(|(_, bits)| bits.div_ceil(8) as usize)
        .max()
        .unwrap_or(0);
    for bits in 0..8u8 {
        let lights = Lights {
            off_hook: bits & 1 != 0,
            ring: bits & 2 != 0,
            mute: bits & 4 != 0,
        };
        for report in headset.lights(lights) {
            assert!(report.len() <= longest + 1, "{report:?}");
        }
    }
});
