//! IEEE-754 half precision and bfloat16 conversions, written for this crate.

/// Converts IEEE binary16 bits to `f32` exactly.
pub fn f16_to_f32(bits: u16) -> f32 {
    let sign = u32::from(bits >> 15) << 31;
    let exp = u32::from((bits >> 10) & 0x1f);
    let man = u32::from(bits & 0x3ff);
    let out = match (exp, man) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: value = man * 2^-24; normalise it.
            let shift = man.leading_zeros() - 21; // bring the top bit to bit 10
            let man = (man << shift) & 0x3ff;
            let exp = 127 - 15 + 1 - shift;
            sign | (exp << 23) | (man << 13)
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, _) => sign | 0x7fc0_0000 | (man << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (man << 13),
    };
    f32::from_bits(out)
}

/// Converts `f32` to IEEE binary16 bits, rounding to nearest, ties to even.
///
/// Values too large become infinity; NaN stays NaN (quiet).
pub fn f32_to_f16(value: f32) -> u16 {
    let x = value.to_bits();
    let sign = ((x >> 16) & 0x8000) as u16;
    let exp = ((x >> 23) & 0xff) as i32;
    let man = x & 0x7f_ffff;

    if exp == 0xff {
        if man == 0 {
            return sign | 0x7c00;
        }
        return sign | 0x7e00 | ((man >> 13) as u16 & 0x3ff);
    }

    // Unbiased exponent, then re-biased for half.
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        // Result is subnormal or zero in half precision.
        if e < -10 {
            return sign;
        }
        let full = man | 0x80_0000; // implicit leading bit
        let shift = (14 - e) as u32; // 13 + (1 - e)
        let half_man = full >> shift;
        let rem = full & ((1 << shift) - 1);
        let halfway = 1 << (shift - 1);
        let round_up = rem > halfway || (rem == halfway && half_man & 1 == 1);
        return sign | (half_man + u32::from(round_up)) as u16;
    }

    let half_man = man >> 13;
    let rem = man & 0x1fff;
    let mut out = ((e as u32) << 10) | half_man;
    if rem > 0x1000 || (rem == 0x1000 && half_man & 1 == 1) {
        // A carry out of the mantissa correctly bumps the exponent (and may
        // produce infinity).
        out += 1;
    }
    sign | out as u16
}

/// Converts bfloat16 bits to `f32` exactly.
pub fn bf16_to_f32(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_half_round_trips() {
        for bits in 0..=u16::MAX {
            let f = f16_to_f32(bits);
            let back = f32_to_f16(f);
            if f.is_nan() {
                assert!(f16_to_f32(back).is_nan(), "{bits:#06x}");
            } else {
                assert_eq!(back, bits, "{bits:#06x} -> {f} -> {back:#06x}");
            }
        }
    }

    #[test]
    fn known_values() {
        assert_eq!(f32_to_f16(1.0), 0x3c00);
        assert_eq!(f32_to_f16(-2.0), 0xc000);
        assert_eq!(f32_to_f16(65504.0), 0x7bff);
        assert_eq!(f32_to_f16(65520.0), 0x7c00); // rounds up to infinity
        assert_eq!(f32_to_f16(1e-8), 0x0000);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f32_to_f16(2f32.powi(-24)), 0x0001);
        // 1 + 2^-11 is a tie between 1.0 and 1 + 2^-10: round to even (1.0).
        assert_eq!(f32_to_f16(1.0 + 2f32.powi(-11)), 0x3c00);
        assert_eq!(f32_to_f16(1.0 + 3.0 * 2f32.powi(-11)), 0x3c02);
        assert_eq!(bf16_to_f32(0x3f80), 1.0);
    }
}
