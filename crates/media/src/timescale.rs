//! Playout speed adjustment without clicks: remove or repeat one pitch period of decoded audio,
//! cross-fading across it (pitch-synchronous overlap-add, the idea behind WSOLA and NetEq's
//! accelerate / preemptive expand). The jitter buffer uses it to follow its target delay
//! smoothly instead of dropping or inserting whole frames.

/// The shortest and longest period searched, in ms (a voice's pitch lies between).
const MIN_PERIOD_MS: usize = 2;
const MAX_PERIOD_MS: usize = 15;

/// The least audio `shorten` or `lengthen` work with (two of the shortest periods, and some).
#[must_use]
pub(crate) fn enough(rate: u32) -> usize {
    rate as usize * 10 / 1000
}

/// The audio it is worth having for the best result (two of the longest periods).
#[must_use]
pub(crate) fn ample(rate: u32) -> usize {
    2 * rate as usize * MAX_PERIOD_MS / 1000
}

/// The stretch to remove or repeat: 10 ms of quiet audio, else a pitch period.
fn period(x: &[i16], rate: u32, quiet: bool) -> usize {
    if quiet {
        (rate as usize / 100).min(x.len() / 2).max(1)
    } else {
        best_period(x, rate)
    }
}

/// The period (in samples) at which `x` best repeats itself: the lag maximising the
/// normalised correlation of `x[..lag]` with `x[lag..2*lag]`. Searched on an 8 kHz view of
/// the signal, then refined at full rate.
fn best_period(x: &[i16], rate: u32) -> usize {
    let step = (rate as usize / 8000).max(1);
    let (min, max) = (
        rate as usize * MIN_PERIOD_MS / 1000,
        (rate as usize * MAX_PERIOD_MS / 1000).min(x.len() / 2),
    );
    if max <= min {
        return max.max(1);
    }
    let score = |lag: usize, stride: usize| {
        let (mut cross, mut a2, mut b2) = (0.0f64, 0.0f64, 0.0f64);
        let mut i = 0;
        while i < lag {
            let (a, b) = (f64::from(x[i]), f64::from(x[i + lag]));
            cross += a * b;
            a2 += a * a;
            b2 += b * b;
            i += stride;
        }
        if a2 * b2 <= 1.0 {
            0.0
        } else {
            cross / (a2 * b2).sqrt()
        }
    };
    let mut best = (min, f64::MIN);
    let mut lag = min;
    while lag <= max {
        let s = score(lag, step);
        if s > best.1 {
            best = (lag, s);
        }
        lag += step;
    }
    let coarse = best.0;
    for lag in coarse.saturating_sub(step).max(min)..=(coarse + step).min(max) {
        let s = score(lag, 1);
        if s > best.1 {
            best = (lag, s);
        }
    }
    best.0
}

/// Removes one period from the front of `x` (which must hold at least [`enough`] samples; the
/// longest period searched is half of what it holds): the first two periods become one,
/// cross-faded. Returns how many samples were removed.
/// Quiet audio has no pitch to follow: a fixed 10 ms goes at once.
pub(crate) fn shorten(x: &mut Vec<i16>, rate: u32, quiet: bool) -> usize {
    if x.len() < enough(rate) {
        return 0;
    }
    let p = period(x, rate, quiet);
    for i in 0..p {
        let w = (i + 1) as f32 / (p + 1) as f32;
        x[i] = (f32::from(x[i]) * (1.0 - w) + f32::from(x[i + p]) * w) as i16;
    }
    x.drain(p..2 * p);
    p
}

/// Removes `n` samples of quiet audio from the front of `x` (which must hold `2 * n`),
/// cross-faded. Returns how many were removed.
pub(crate) fn cut_quiet(x: &mut Vec<i16>, n: usize) -> usize {
    if n == 0 || x.len() < 2 * n {
        return 0;
    }
    for i in 0..n {
        let w = (i + 1) as f32 / (n + 1) as f32;
        x[i] = (f32::from(x[i]) * (1.0 - w) + f32::from(x[i + n]) * w) as i16;
    }
    x.drain(n..2 * n);
    n
}

/// Inserts one period after the first: a cross-fade from the audio that follows into a
/// repeat of the first period. Returns how many samples were added.
/// Quiet audio has no pitch to follow: a fixed 10 ms is added at once.
pub(crate) fn lengthen(x: &mut Vec<i16>, rate: u32, quiet: bool) -> usize {
    if x.len() < enough(rate) {
        return 0;
    }
    let p = period(x, rate, quiet);
    let inserted: Vec<i16> = (0..p)
        .map(|i| {
            let w = (i + 1) as f32 / (p + 1) as f32;
            (f32::from(x[p + i]) * (1.0 - w) + f32::from(x[i]) * w) as i16
        })
        .collect();
    x.splice(p..p, inserted);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, hz: f32, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                ((i as f32 * hz * 2.0 * std::f32::consts::PI / rate as f32).sin() * 8000.0) as i16
            })
            .collect()
    }

    /// The largest sample-to-sample step: a click shows up as a jump a sine never makes.
    fn largest_step(x: &[i16]) -> i32 {
        x.windows(2)
            .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn a_period_of_a_tone_is_removed_or_added_without_a_click() {
        for rate in [8000, 48_000] {
            let original = tone(rate, 125.0, ample(rate) * 2);
            let smooth = largest_step(&original);
            let mut shorter = original.clone();
            let removed = shorten(&mut shorter, rate, false);
            // 125 Hz repeats every 8 ms.
            assert_eq!(removed, rate as usize * 8 / 1000, "at {rate} Hz");
            assert_eq!(shorter.len(), original.len() - removed);
            assert!(
                largest_step(&shorter) <= smooth + smooth / 10,
                "no click at {rate} Hz"
            );

            let mut longer = original.clone();
            let added = lengthen(&mut longer, rate, false);
            assert_eq!(added, removed);
            assert_eq!(longer.len(), original.len() + added);
            assert!(
                largest_step(&longer) <= smooth + smooth / 10,
                "no click at {rate} Hz"
            );
        }
    }

    #[test]
    fn too_little_audio_is_left_alone() {
        let mut x = vec![1; 10];
        assert_eq!(shorten(&mut x, 8000, true), 0);
        assert_eq!(lengthen(&mut x, 8000, false), 0);
        assert_eq!(x.len(), 10);
    }
}
