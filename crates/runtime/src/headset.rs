//! The agent's USB headset (HID telephony page) through Linux hidraw: the report descriptor
//! from sysfs, input reports read on a thread of their own (a read blocks until a button
//! moves) and handed to the phone as presses, and the lights written as output reports when
//! what the phone says they show changes. What the reports mean is the `headset` crate's.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use headset::{Button, Headset, Lights};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// `[headset]`: which device, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum HeadsetChoice {
    /// No headset buttons or lights.
    Off,
    /// The first hidraw device whose descriptor has a telephony hook switch (the default).
    #[default]
    Auto,
    /// This device node (`/dev/hidraw3`). `descriptor` names its report descriptor when the
    /// node is not a hidraw device with one in sysfs (a virtual device in a lab or a test).
    Device {
        /// The node to read and write.
        path: PathBuf,
        /// The report descriptor's file, when not in sysfs.
        descriptor: Option<PathBuf>,
    },
}

/// An open headset: the node to write lights to and the lights last written.
pub(crate) struct HeadsetLink {
    name: String,
    device: File,
    headset: Headset,
    shown: Option<Lights>,
}

impl std::fmt::Debug for HeadsetLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadsetLink")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

const SYS_HIDRAW: &str = "/sys/class/hidraw";

/// Opens the chosen headset and starts reading its buttons into `buttons`; `None` (and a
/// line in the log that says why) when there is none or it cannot be opened.
pub(crate) fn open(
    choice: &HeadsetChoice,
    buttons: mpsc::UnboundedSender<Button>,
) -> Option<HeadsetLink> {
    let (path, descriptor) = match choice {
        HeadsetChoice::Off => return None,
        HeadsetChoice::Auto => match find() {
            Some(found) => found,
            None => {
                debug!("no telephony headset among the hidraw devices");
                return None;
            }
        },
        HeadsetChoice::Device { path, descriptor } => {
            let bytes = match descriptor {
                Some(file) => std::fs::read(file),
                None => std::fs::read(sysfs_descriptor(path)),
            };
            match bytes {
                Ok(bytes) => (path.clone(), bytes),
                Err(e) => {
                    warn!(device = %path.display(), error = %e, "headset: cannot read its report descriptor");
                    return None;
                }
            }
        }
    };
    let headset = match Headset::new(&descriptor) {
        Ok(headset) => headset,
        Err(e) => {
            warn!(device = %path.display(), error = %e, "headset not used");
            return None;
        }
    };
    let device = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
    {
        Ok(device) => device,
        Err(e) => {
            warn!(device = %path.display(), error = %e, "headset: cannot open (is the user in the group of the hidraw node, or is a udev rule missing?)");
            return None;
        }
    };
    let reader = match device.try_clone() {
        Ok(reader) => reader,
        Err(e) => {
            warn!(device = %path.display(), error = %e, "headset: cannot read");
            return None;
        }
    };
    let name = path.display().to_string();
    spawn_reader(name.clone(), reader, headset.clone(), buttons);
    info!(device = %name, "headset buttons and lights in use");
    Some(HeadsetLink {
        name,
        device,
        headset,
        shown: None,
    })
}

impl HeadsetLink {
    /// Writes the lights when they changed.
    pub(crate) fn show(&mut self, lights: Lights) {
        if self.shown == Some(lights) {
            return;
        }
        self.shown = Some(lights);
        for report in self.headset.lights(lights) {
            // hidraw takes the report number first; 0 for a device that numbers none.
            if let Err(e) = self.device.write_all(&report) {
                warn!(device = %self.name, error = %e, "headset: lights not written");
                return;
            }
        }
        debug!(device = %self.name, ?lights, "headset lights");
    }
}

fn spawn_reader(
    name: String,
    mut device: File,
    mut headset: Headset,
    buttons: mpsc::UnboundedSender<Button>,
) {
    let spawned = std::thread::Builder::new()
        .name("headset".to_owned())
        .spawn(move || {
            let mut report = [0u8; 256];
            loop {
                match device.read(&mut report) {
                    Ok(0) => break,
                    Ok(n) => {
                        for button in headset.input(&report[..n]) {
                            debug!(device = %name, ?button, "headset button");
                            if buttons.send(button).is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        warn!(device = %name, error = %e, "headset: stopped reading (unplugged?)");
                        break;
                    }
                }
            }
        });
    if let Err(e) = spawned {
        warn!(error = %e, "headset: no reader thread");
    }
}

/// `/dev/hidraw3` → `/sys/class/hidraw/hidraw3/device/report_descriptor`.
fn sysfs_descriptor(node: &Path) -> PathBuf {
    let name = node
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    Path::new(SYS_HIDRAW)
        .join(name)
        .join("device/report_descriptor")
}

/// The hidraw nodes that are telephony headsets (`/dev/hidraw3`), for the Settings window.
pub(crate) fn list() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(SYS_HIDRAW) else {
        return Vec::new();
    };
    let mut nodes: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            std::fs::read(e.path().join("device/report_descriptor"))
                .is_ok_and(|d| Headset::new(&d).is_ok())
        })
        .map(|e| Path::new("/dev").join(e.file_name()).display().to_string())
        .collect();
    nodes.sort();
    nodes
}

/// The first hidraw device that is a telephony headset.
fn find() -> Option<(PathBuf, Vec<u8>)> {
    let mut nodes: Vec<_> = std::fs::read_dir(SYS_HIDRAW)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    nodes.sort();
    nodes.into_iter().find_map(|name| {
        let descriptor = std::fs::read(
            Path::new(SYS_HIDRAW)
                .join(&name)
                .join("device/report_descriptor"),
        )
        .ok()?;
        Headset::new(&descriptor).ok()?;
        Some((Path::new("/dev").join(name), descriptor))
    })
}
