//! G.711 µ-law and A-law (ITU-T G.711), sample by sample.

const BIAS: i32 = 0x84;
const CLIP: i32 = 32635;

/// Encodes one 16-bit linear sample as µ-law.
#[must_use]
pub fn ulaw_encode(sample: i16) -> u8 {
    let mut pcm = i32::from(sample);
    let sign = if pcm < 0 {
        pcm = -pcm;
        0x80
    } else {
        0
    };
    pcm = pcm.min(CLIP) + BIAS;
    let exponent = (7 - (pcm << 17).leading_zeros().min(7)) as i32;
    let mantissa = (pcm >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) as u8 | mantissa as u8)
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

/// Encodes one 16-bit linear sample as A-law.
#[must_use]
pub fn alaw_encode(sample: i16) -> u8 {
    let pcm = i32::from(sample) >> 3; // 13-bit
    let (sign, magnitude) = if pcm >= 0 {
        (0xd5u8, pcm)
    } else {
        (0x55u8, -pcm - 1)
    };
    let magnitude = magnitude.min(0x0fff);
    let segment = match magnitude {
        m if m < 0x20 => 0,
        m => (32 - (m as u32).leading_zeros() - 5) as i32,
    };
    let code = if segment == 0 {
        magnitude >> 1
    } else {
        (segment << 4) | ((magnitude >> segment) & 0x0f)
    };
    (code as u8) ^ sign
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

    #[test]
    fn known_code_points_match_g711() {
        // Silence encodes to the standard idle patterns.
        assert_eq!(ulaw_encode(0), 0xff);
        assert_eq!(alaw_encode(0), 0xd5);
        assert_eq!(ulaw_decode(0xff), 0);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(alaw_decode(0xd5), 8);
        assert_eq!(alaw_decode(0x2a), -32256);
    }
}
