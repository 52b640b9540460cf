//! Writes calls' recordings: one stereo 16-bit WAV file per recording, the agent on the left
//! channel and the customer on the right. The header is brought up to date every second, so
//! a process killed mid-call (kill -9, a power cut after the page cache reached the disk)
//! leaves a file that plays up to the last second before it died.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;

use api::CallId;
use engine::RecordingOutput;
use tracing::{info, warn};

/// Frames between header updates: one second of 20 ms frames.
const FLUSH_EVERY: u32 = 50;

struct Open {
    writer: hound::WavWriter<BufWriter<File>>,
    path: String,
    rate: u32,
    frames: u32,
}

/// The recordings being written.
#[derive(Default)]
pub(crate) struct Recorder {
    open: HashMap<CallId, Open>,
}

impl Recorder {
    pub(crate) fn handle(&mut self, output: RecordingOutput) {
        match output {
            RecordingOutput::Open { call, path, rate } => match create(&path, rate) {
                Ok(writer) => {
                    info!(%call, %path, rate, "recording started");
                    if let Some(old) = self.open.insert(
                        call,
                        Open {
                            writer,
                            path,
                            rate,
                            frames: 0,
                        },
                    ) {
                        finish(old);
                    }
                }
                Err(e) => warn!(%call, %path, error = %e, "cannot record the call"),
            },
            RecordingOutput::Frame {
                call,
                rate,
                agent,
                customer,
            } => {
                let Some(open) = self.open.get_mut(&call) else {
                    return;
                };
                let (agent, customer) = if rate == open.rate {
                    (agent, customer)
                } else {
                    // The call changed codec (a re-INVITE): the file keeps its rate.
                    (
                        convert(&agent, rate, open.rate),
                        convert(&customer, rate, open.rate),
                    )
                };
                let written = agent.iter().zip(&customer).try_for_each(|(&a, &c)| {
                    open.writer.write_sample(a)?;
                    open.writer.write_sample(c)
                });
                open.frames += 1;
                let flushed = if open.frames.is_multiple_of(FLUSH_EVERY) {
                    open.writer.flush()
                } else {
                    Ok(())
                };
                if let Err(e) = written.and(flushed) {
                    warn!(%call, path = %open.path, error = %e, "the recording stopped: cannot write");
                    self.open.remove(&call);
                }
            }
            RecordingOutput::Close { call } => {
                if let Some(open) = self.open.remove(&call) {
                    finish(open);
                }
            }
        }
    }

    /// Finishes every file (the phone is stopping).
    pub(crate) fn close_all(&mut self) {
        for (_, open) in self.open.drain() {
            finish(open);
        }
    }
}

fn create(path: &str, rate: u32) -> Result<hound::WavWriter<BufWriter<File>>, hound::Error> {
    if let Some(dir) = std::path::Path::new(path).parent() {
        std::fs::create_dir_all(dir)?;
    }
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    hound::WavWriter::create(path, spec)
}

fn finish(open: Open) {
    let seconds = f64::from(open.writer.duration()) / f64::from(open.rate);
    match open.writer.finalize() {
        Ok(()) => info!(path = %open.path, seconds, "recording written"),
        Err(e) => warn!(path = %open.path, error = %e, "cannot finish the recording"),
    }
}

/// A frame at `from` Hz as `to` Hz, by linear interpolation (only when a call's codec changed
/// under its recording).
fn convert(samples: &[i16], from: u32, to: u32) -> Vec<i16> {
    let n = (samples.len() as u64 * u64::from(to) / u64::from(from.max(1))) as usize;
    (0..n)
        .map(|i| {
            let x = i as f64 * f64::from(from) / f64::from(to);
            let j = x as usize;
            let a = f64::from(samples.get(j).copied().unwrap_or(0));
            let b = f64::from(samples.get(j + 1).copied().unwrap_or(a as i16));
            (a + (b - a) * (x - j as f64)) as i16
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recording_plays_up_to_its_last_second_before_it_is_finished() {
        let dir = std::env::temp_dir().join(format!("recall-recorder-{}", std::process::id()));
        let path = dir.join("sub").join("r.wav").to_string_lossy().into_owned();
        let mut recorder = Recorder::default();
        let call = CallId(1);
        recorder.handle(RecordingOutput::Open {
            call,
            path: path.clone(),
            rate: 8000,
        });
        for i in 0..120 {
            recorder.handle(RecordingOutput::Frame {
                call,
                rate: 8000,
                agent: vec![i; 160],
                customer: vec![-i; 160],
            });
        }
        // Never finished (as after kill -9): the header says the first two seconds.
        let reader = hound::WavReader::open(&path).expect("a playable file");
        assert_eq!(reader.spec().channels, 2);
        assert_eq!(reader.duration(), 100 * 160);
        let samples: Vec<i16> = reader.into_samples().map(|s| s.expect("sample")).collect();
        assert_eq!(&samples[..2], &[0, 0]);
        assert_eq!(
            &samples[samples.len() - 2..],
            &[99, -99],
            "left agent, right customer"
        );
        // A frame at another rate is converted; closing finishes the file.
        recorder.handle(RecordingOutput::Frame {
            call,
            rate: 16_000,
            agent: vec![7; 320],
            customer: vec![7; 320],
        });
        recorder.handle(RecordingOutput::Close { call });
        let reader = hound::WavReader::open(&path).expect("finished");
        assert_eq!(reader.duration(), 121 * 160);
        let _ = std::fs::remove_dir_all(dir);
    }
}
