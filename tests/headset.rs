//! The headset end to end: recall headless with `[headset] device` on a virtual headset — a
//! pseudo-terminal in raw mode standing in for the hidraw node (this kernel has no uhid), with
//! the one-report layout's descriptor from fixtures/hid — and a SIPp caller. The test is the
//! headset: it reads the light reports recall writes and writes the button reports a Jabra-style
//! headset sends: ring → answer from the hook switch → mute → back on hook hangs up.

use std::ffi::CStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::support::{
    Headless, fixture, get_json, scratch, sipp_counts, sipp_in_background, wait_until,
};

/// The master side of a pseudo-terminal (the headset's end) and the path recall opens.
struct VirtualHeadset {
    master: File,
    path: PathBuf,
    /// The other end held open in raw mode, so the line discipline passes bytes untouched.
    _slave: File,
}

impl VirtualHeadset {
    fn new() -> Self {
        // SAFETY: plain libc calls on descriptors this function owns; every result is checked.
        unsafe {
            let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
            assert!(master >= 0, "posix_openpt");
            assert_eq!(libc::grantpt(master), 0);
            assert_eq!(libc::unlockpt(master), 0);
            let mut name = [0 as libc::c_char; 128];
            assert_eq!(libc::ptsname_r(master, name.as_mut_ptr(), name.len()), 0);
            let path = PathBuf::from(CStr::from_ptr(name.as_ptr()).to_str().expect("utf-8"));
            let slave = libc::open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
            assert!(slave >= 0, "open {}", path.display());
            let mut raw: libc::termios = std::mem::zeroed();
            assert_eq!(libc::tcgetattr(slave, &mut raw), 0);
            libc::cfmakeraw(&mut raw);
            assert_eq!(libc::tcsetattr(slave, libc::TCSANOW, &raw), 0);
            let flags = libc::fcntl(master, libc::F_GETFL);
            assert_eq!(
                libc::fcntl(master, libc::F_SETFL, flags | libc::O_NONBLOCK),
                0
            );
            Self {
                master: File::from_raw_fd(master),
                path,
                _slave: File::from_raw_fd(slave),
            }
        }
    }

    /// The next light report recall wrote (two bytes: report 2 and its bits).
    fn lights(&mut self) -> [u8; 2] {
        let mut report = [0u8; 2];
        let mut got = 0;
        let end = Instant::now() + Duration::from_secs(10);
        while got < 2 {
            match self.master.read(&mut report[got..]) {
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < end, "no light report from recall");
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("reading the lights: {e}"),
            }
        }
        report
    }

    /// A button report, as the headset sends it.
    fn press(&mut self, report: [u8; 2]) {
        self.master.write_all(&report).expect("button report");
        std::thread::sleep(Duration::from_millis(150));
    }
}

/// The one-report layout's descriptor (fixtures/hid/one-report.hex) as bytes.
fn descriptor() -> Vec<u8> {
    std::fs::read_to_string(fixture("hid/one-report.hex"))
        .expect("fixture")
        .lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .flat_map(str::split_whitespace)
        .map(|byte| u8::from_str_radix(byte, 16).expect("hex"))
        .collect()
}

// Report 2's output bits: off-hook 0, mute 1, ring 2, hold 3, ringer 4.
const DARK: [u8; 2] = [2, 0];
const RINGING: [u8; 2] = [2, 0b1_0100];
const OFF_HOOK: [u8; 2] = [2, 0b0001];
const MUTED: [u8; 2] = [2, 0b0011];
// Report 2's input bits: hook switch 0, line busy 1, mute 2, flash 3, redial 4.
const HOOK_OFF: [u8; 2] = [2, 0b0001];
const HOOK_OFF_MUTE: [u8; 2] = [2, 0b0101];
const HOOK_ON: [u8; 2] = [2, 0];

#[test]
fn a_call_is_answered_muted_and_hung_up_from_the_headset_while_its_lights_follow() {
    let dir = scratch("headset");
    let mut headset = VirtualHeadset::new();
    let descriptor_file = dir.join("headset.desc");
    std::fs::write(&descriptor_file, descriptor()).expect("descriptor");
    let config = dir.join("recall.toml");
    std::fs::write(
        &config,
        format!(
            "[headset]\ndevice = \"{}\"\ndescriptor = \"{}\"\n",
            headset.path.display(),
            descriptor_file.display()
        ),
    )
    .expect("config");
    let agent = Headless::start(&dir, &["--config", config.to_str().expect("path")]);
    assert_eq!(headset.lights(), DARK, "lights off at start");

    let sipp = sipp_in_background(
        &dir,
        "sipp-headset",
        "sipp/uac_hung_up_by_agent.xml",
        agent.sip,
    );
    assert_eq!(headset.lights(), RINGING);
    let call = || agent.calls().first().cloned().unwrap_or_default();
    assert_eq!(call()["state"], "ringing");

    headset.press(HOOK_OFF);
    assert_eq!(headset.lights(), OFF_HOOK);
    assert!(
        wait_until(Duration::from_secs(5), || call()["state"] == "connected"),
        "answered from the hook switch: {}",
        call()
    );

    headset.press(HOOK_OFF_MUTE);
    headset.press(HOOK_OFF);
    assert_eq!(headset.lights(), MUTED);
    assert_eq!(call()["muted"], true);
    headset.press(HOOK_OFF_MUTE);
    headset.press(HOOK_OFF);
    assert_eq!(headset.lights(), OFF_HOOK);
    assert_eq!(call()["muted"], false);

    headset.press(HOOK_ON);
    assert_eq!(headset.lights(), DARK);
    let (status, screen) = sipp.join().expect("sipp");
    assert!(status.success(), "the caller got our BYE: {screen}");
    assert_eq!(sipp_counts(&screen), (1, 0), "{screen}");
    let ended = get_json(agent.control, "/v1/calls");
    assert_eq!(ended[0]["state"], "ended", "{ended}");
    let log = agent.proc.log_text();
    assert!(log.contains("headset buttons and lights in use"), "{log}");
}
