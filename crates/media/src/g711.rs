//! G.711 µ-law and A-law (ITU-T G.711), sample by sample.

const BIAS: i32 = 0x84;
const CLIP: i32 = 32635;

/// Encodes one 16-bit linear sample as µ-law.
///
/// The segment and the step within it are read off the biased magnitude converted to `f32`
/// (exact: it is below 2^15): its exponent is the segment + 7, its top four mantissa bits the
/// step. Only uniform shifts, so a frame's loop vectorises on any x86-64, where searching for
/// the segment (`leading_zeros`, a shift per sample by it) left it scalar at about 3 ns a
/// sample, 4 % of an auto-answering lab's CPU. The tests hold it to that search for every
/// input.
#[must_use]
#[inline]
pub fn ulaw_encode(sample: i16) -> u8 {
    let s = i32::from(sample);
    let negative = s >> 31;
    let pcm = ((s ^ negative) - negative).min(CLIP) + BIAS;
    let code = ((pcm as f32).to_bits() >> 19) as i32 - ((127 + 7) << 4);
    !((negative & 0x80) as u8 | code as u8)
}

/// Encodes one 16-bit linear sample as A-law: as `ulaw_encode`, the segment and step from the
/// 13-bit magnitude as an `f32` (segment + 4, above the linear first two segments).
#[must_use]
#[inline]
pub fn alaw_encode(sample: i16) -> u8 {
    let pcm = i32::from(sample) >> 3; // 13-bit
    let negative = pcm >> 31;
    // -pcm - 1 for a negative sample.
    let magnitude = (pcm ^ negative).min(0x0fff);
    let sign = 0xd5u8 ^ (negative & 0x80) as u8;
    let logarithmic = ((magnitude as f32).to_bits() >> 19) as i32 - ((127 + 4) << 4);
    let code = if magnitude < 0x20 {
        magnitude >> 1
    } else {
        logarithmic
    };
    (code as u8) ^ sign
}

/// Decodes one µ-law byte to a 16-bit linear sample.
#[must_use]
pub fn ulaw_decode(byte: u8) -> i16 {
    let byte = !byte;
    let sign = byte & 0x80;
    let exponent = i32::from((byte >> 4) & 0x07);
    let mantissa = i32::from(byte & 0x0f);
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    if sign != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// Decodes one A-law byte to a 16-bit linear sample.
#[must_use]
pub fn alaw_decode(byte: u8) -> i16 {
    let value = byte ^ 0x55;
    let segment = i32::from((value & 0x70) >> 4);
    let mut magnitude = i32::from(value & 0x0f) << 4;
    magnitude = match segment {
        0 => magnitude + 8,
        1 => magnitude + 0x108,
        _ => (magnitude + 0x108) << (segment - 1),
    };
    if value & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_round_trip_stays_within_the_quantisation_step() {
        for sample in (i16::MIN..=i16::MAX).step_by(7) {
            let back = i32::from(ulaw_decode(ulaw_encode(sample)));
            let s = i32::from(sample).clamp(-CLIP, CLIP);
            let step = (s.abs() / 16).max(8);
            assert!((back - s).abs() <= step, "{sample} -> {back}");
        }
    }

    #[test]
    fn alaw_round_trip_stays_within_the_quantisation_step() {
        for sample in (i16::MIN..=i16::MAX).step_by(7) {
            let back = i32::from(alaw_decode(alaw_encode(sample)));
            let s = i32::from(sample);
            let step = (s.abs() / 16).max(16);
            assert!((back - s).abs() <= step, "{sample} -> {back}");
        }
    }

    /// G.711's encoders as the recommendation describes them: find the segment, then take
    /// four bits from within it.
    fn ulaw_by_segment(sample: i16) -> u8 {
        let mut pcm = i32::from(sample);
        let sign = if pcm < 0 {
            pcm = -pcm;
            0x80
        } else {
            0
        };
        pcm = pcm.min(CLIP) + BIAS;
        let mut segment = 0;
        while segment < 7 && pcm >= 0x100 << segment {
            segment += 1;
        }
        let step = (pcm >> (segment + 3)) & 0x0f;
        !(sign | (segment << 4) as u8 | step as u8)
    }

    fn alaw_by_segment(sample: i16) -> u8 {
        let pcm = i32::from(sample) >> 3;
        let (sign, magnitude) = if pcm >= 0 {
            (0xd5u8, pcm)
        } else {
            (0x55u8, -pcm - 1)
        };
        let magnitude = magnitude.min(0x0fff);
        let mut segment = 0;
        while segment < 7 && magnitude >= 0x20 << segment {
            segment += 1;
        }
        let code = if segment == 0 {
            magnitude >> 1
        } else {
            (segment << 4) | ((magnitude >> segment) & 0x0f)
        };
        (code as u8) ^ sign
    }

    #[test]
    fn every_sample_encodes_as_the_segment_search_does() {
        for sample in i16::MIN..=i16::MAX {
            assert_eq!(
                ulaw_encode(sample),
                ulaw_by_segment(sample),
                "µ-law {sample}"
            );
            assert_eq!(
                alaw_encode(sample),
                alaw_by_segment(sample),
                "A-law {sample}"
            );
        }
    }

    #[test]
    fn known_code_points_match_g711() {
        // Silence encodes to the standard idle patterns.
        assert_eq!(ulaw_encode(0), 0xff);
        assert_eq!(alaw_encode(0), 0xd5);
        assert_eq!(ulaw_decode(0xff), 0);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(alaw_decode(0xd5), 8);
        assert_eq!(alaw_decode(0x2a), -32256);
        // Full scale, both signs, and the edges of the first segments.
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(alaw_encode(i16::MAX), 0xaa);
        assert_eq!(alaw_encode(i16::MIN), 0x2a);
        assert_eq!(alaw_encode(-1), 0x55);
    }
}
