//! Sound devices through cpal: the microphone, the headset and the ring device, each chosen
//! by name, wired to a [`Bus`](crate::bus::Bus).
//!
//! The callbacks built here only move samples between the device buffers and the bus's
//! lock-free rings (see `bus`). Opening a device that is not there fails with a message
//! naming the device and what the sound system said, so a machine with no sound card gets one
//! clear line instead of a hang or a silent call.

use std::fmt::Write as _;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, Sample, SampleFormat, SizedSample, StreamConfig};

use crate::bus::{CaptureSide, PlaybackSide, RingSide, SharedBus, bus};

/// The rate asked of devices first: Opus's, so wide-band calls need no resampling.
const PREFERRED_RATE: u32 = 48_000;

/// A sound device could not be listed or opened.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DeviceError(String);

/// Which devices to use; `None` (or "default") is the system default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceChoice {
    /// The microphone.
    pub input: Option<String>,
    /// The headset or speaker.
    pub output: Option<String>,
    /// Where the ringtone plays; `None` rings on the output device.
    pub ring: Option<String>,
}

/// One device as `recall devices` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The stable id (for ALSA `alsa:NAME`).
    pub id: String,
    /// The human name.
    pub name: String,
    /// It can capture.
    pub input: bool,
    /// It can play.
    pub output: bool,
    /// Its default rate and channels, if it has a default configuration.
    pub default_config: Option<(u32, u16)>,
}

/// Runs `f` with ALSA's own error printing caught; returns its result and what ALSA said.
fn quietly<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[cfg(target_os = "linux")]
    {
        let buffer = alsa::Output::local_error_handler().ok();
        let result = f();
        let said = buffer
            .map(|b| b.borrow().to_string())
            .unwrap_or_default()
            .lines()
            .last()
            .map(|line| format!("ALSA: {}", line.trim()))
            .unwrap_or_default();
        (result, said)
    }
    #[cfg(not(target_os = "linux"))]
    {
        (f(), String::new())
    }
}

/// The sound devices this machine has.
///
/// # Errors
/// The sound system could not be asked.
pub fn list() -> Result<Vec<DeviceInfo>, DeviceError> {
    let (devices, _) = quietly(|| {
        let host = cpal::default_host();
        let devices = host
            .devices()
            .map_err(|e| DeviceError(format!("cannot list sound devices: {e}")))?;
        Ok(devices
            .map(|device| DeviceInfo {
                id: device.id().map(|id| id.to_string()).unwrap_or_default(),
                name: device.to_string(),
                input: device.supports_input(),
                output: device.supports_output(),
                default_config: device
                    .default_output_config()
                    .or_else(|_| device.default_input_config())
                    .ok()
                    .map(|c| (c.sample_rate(), c.channels())),
            })
            .collect())
    });
    devices
}

/// Formats the device list for people.
#[must_use]
pub fn describe(devices: &[DeviceInfo]) -> String {
    let mut text = String::new();
    if devices.is_empty() {
        text.push_str("no sound devices\n");
    }
    for device in devices {
        let kind = match (device.input, device.output) {
            (true, true) => "input+output",
            (true, false) => "input",
            (false, true) => "output",
            (false, false) => "unusable",
        };
        let config = device
            .default_config
            .map(|(rate, channels)| format!(", {rate} Hz, {channels} ch"))
            .unwrap_or_default();
        let _ = writeln!(text, "{:<28} {kind:<12} {}{config}", device.id, device.name);
    }
    text
}

fn find(host: &cpal::Host, wanted: Option<&str>, input: bool) -> Result<cpal::Device, DeviceError> {
    let what = if input { "input" } else { "output" };
    let (device, said) = quietly(|| match wanted {
        None | Some("default") => {
            if input {
                host.default_input_device()
            } else {
                host.default_output_device()
            }
        }
        Some(name) => host.devices().ok().and_then(|mut devices| {
            let lower = name.to_lowercase();
            devices.find(|d| {
                let id = d.id().map(|id| id.to_string()).unwrap_or_default();
                id == name
                    || id.strip_prefix("alsa:") == Some(name)
                    || d.to_string().to_lowercase().contains(&lower)
            })
        }),
    });
    device.ok_or_else(|| {
        let name = wanted.unwrap_or("default");
        DeviceError(format!(
            "no sound {what} device {name:?}{}; `recall devices` lists them, or use --audio null or file:IN.wav,OUT.wav",
            if said.is_empty() { String::new() } else { format!(" ({said})") }
        ))
    })
}

/// The configuration to open `device` with: 48 kHz if it can, 16-bit or float, fewest channels.
fn choose(device: &cpal::Device, input: bool) -> Result<(StreamConfig, SampleFormat), DeviceError> {
    let what = if input { "input" } else { "output" };
    let (ranges, said) = quietly(|| {
        if input {
            device
                .supported_input_configs()
                .map(Iterator::collect::<Vec<_>>)
        } else {
            device
                .supported_output_configs()
                .map(Iterator::collect::<Vec<_>>)
        }
    });
    let ranges = ranges.map_err(|e| open_failed(what, device, &e, &said))?;
    let usable = |f: SampleFormat| matches!(f, SampleFormat::I16 | SampleFormat::F32);
    let best = ranges
        .iter()
        .filter(|r| usable(r.sample_format()))
        .filter_map(|r| r.try_with_sample_rate(PREFERRED_RATE))
        .min_by_key(|c| (c.channels(), c.sample_format() != SampleFormat::I16));
    let config = match best {
        Some(config) => config,
        None => {
            let (default, said) = quietly(|| {
                if input {
                    device.default_input_config()
                } else {
                    device.default_output_config()
                }
            });
            let default = default.map_err(|e| open_failed(what, device, &e, &said))?;
            if !usable(default.sample_format()) {
                return Err(open_failed(
                    what,
                    device,
                    &"it offers no 16-bit or float format",
                    "",
                ));
            }
            default
        }
    };
    Ok((config.config(), config.sample_format()))
}

fn open_failed(
    what: &str,
    device: &cpal::Device,
    error: &dyn std::fmt::Display,
    said: &str,
) -> DeviceError {
    let detail = if said.is_empty() {
        String::new()
    } else {
        format!(" ({said})")
    };
    DeviceError(format!(
        "cannot open sound {what} device {:?}: {error}{detail}; `recall devices` lists them, or use --audio null or file:IN.wav,OUT.wav",
        device.to_string()
    ))
}

fn capture_stream<T>(
    device: &cpal::Device,
    config: StreamConfig,
    mut side: CaptureSide,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample,
    i16: FromSample<T>,
{
    let channels = usize::from(config.channels.max(1));
    device.build_input_stream::<T, _, _>(
        config,
        move |data: &[T], _| {
            for frame in data.chunks(channels) {
                side.push(i16::from_sample(frame[0]));
            }
        },
        |_| {},
        None,
    )
}

fn play_stream<T>(
    device: &cpal::Device,
    config: StreamConfig,
    mut next: impl FnMut() -> i16 + Send + 'static,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + FromSample<i16>,
{
    let channels = usize::from(config.channels.max(1));
    device.build_output_stream::<T, _, _>(
        config,
        move |data: &mut [T], _| {
            for frame in data.chunks_mut(channels) {
                let sample = T::from_sample(next());
                frame.fill(sample);
            }
        },
        |_| {},
        None,
    )
}

/// Open sound devices, feeding a bus; dropping this closes them.
pub struct Devices {
    bus: SharedBus,
    _streams: Vec<cpal::Stream>,
    /// What was opened, for the log.
    pub description: String,
}

impl Devices {
    /// Opens the chosen devices and starts them.
    ///
    /// # Errors
    /// A device is missing or refuses to open.
    pub fn open(choice: &DeviceChoice) -> Result<Self, DeviceError> {
        let host = cpal::default_host();
        let mic = find(&host, choice.input.as_deref(), true)?;
        let headset = find(&host, choice.output.as_deref(), false)?;
        let ringer = choice
            .ring
            .as_deref()
            .map(|name| find(&host, Some(name), false))
            .transpose()?;
        let (in_config, in_format) = choose(&mic, true)?;
        let (out_config, out_format) = choose(&headset, false)?;
        let (bus, capture, playback) = bus(in_config.sample_rate, out_config.sample_rate);
        let shared = bus.shared().clone();
        shared.ring_on_output(ringer.is_none());
        let mut streams = Vec::new();
        let (stream, said) = quietly(|| match in_format {
            SampleFormat::I16 => capture_stream::<i16>(&mic, in_config, capture),
            _ => capture_stream::<f32>(&mic, in_config, capture),
        });
        streams.push(stream.map_err(|e| open_failed("input", &mic, &e, &said))?);
        let (stream, said) = quietly(|| {
            let mut side: PlaybackSide = playback;
            let next = move || side.next_sample();
            match out_format {
                SampleFormat::I16 => play_stream::<i16>(&headset, out_config, next),
                _ => play_stream::<f32>(&headset, out_config, next),
            }
        });
        streams.push(stream.map_err(|e| open_failed("output", &headset, &e, &said))?);
        let mut description = format!(
            "input {:?} {} Hz, output {:?} {} Hz",
            mic.to_string(),
            in_config.sample_rate,
            headset.to_string(),
            out_config.sample_rate
        );
        if let Some(ringer) = &ringer {
            let (config, format) = choose(ringer, false)?;
            let mut side = RingSide::new(shared.clone(), config.sample_rate);
            let (stream, said) = quietly(|| {
                let next = move || side.next_sample();
                match format {
                    SampleFormat::I16 => play_stream::<i16>(ringer, config, next),
                    _ => play_stream::<f32>(ringer, config, next),
                }
            });
            streams.push(stream.map_err(|e| open_failed("ring", ringer, &e, &said))?);
            let _ = write!(description, ", ring {:?}", ringer.to_string());
        }
        for stream in &streams {
            let (played, said) = quietly(|| stream.play());
            played.map_err(|e| DeviceError(format!("cannot start sound device: {e} {said}")))?;
        }
        Ok(Self {
            bus: SharedBus::new(bus),
            _streams: streams,
            description,
        })
    }

    /// The bus calls connect to.
    #[must_use]
    pub fn bus(&self) -> &SharedBus {
        &self.bus
    }
}
