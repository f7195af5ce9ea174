//! Units as types: quantities that must never be mixed (cycles, bytes, bits, energy, MACs).
//!
//! Every count that crosses a module boundary in the simulator is one of these newtypes, so a
//! bytes/bits mix-up or adding cycles to picojoules does not compile. Integer counts use
//! saturating arithmetic: a user can make a layer as large as they like, and a saturated count
//! is caught by validation instead of wrapping silently.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Mul};

macro_rules! int_unit {
    ($(#[$doc:meta])* $name:ident, $suffix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub u64);

        impl $name {
            /// Zero of this unit.
            pub const ZERO: Self = Self(0);
            /// The raw count.
            pub const fn get(self) -> u64 {
                self.0
            }
            /// Saturating multiplication by a plain count.
            pub const fn times(self, n: u64) -> Self {
                Self(self.0.saturating_mul(n))
            }
            /// Saturating subtraction.
            pub const fn saturating_sub(self, other: Self) -> Self {
                Self(self.0.saturating_sub(other.0))
            }
            /// The larger of two values.
            pub fn max(self, other: Self) -> Self {
                Self(self.0.max(other.0))
            }
            /// The smaller of two values.
            pub fn min(self, other: Self) -> Self {
                Self(self.0.min(other.0))
            }
        }

        impl Add for $name {
            type Output = Self;
            fn add(self, rhs: Self) -> Self {
                Self(self.0.saturating_add(rhs.0))
            }
        }

        impl AddAssign for $name {
            fn add_assign(&mut self, rhs: Self) {
                self.0 = self.0.saturating_add(rhs.0);
            }
        }

        impl Sum for $name {
            fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
                iter.fold(Self::ZERO, |a, b| a + b)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", self.0, $suffix)
            }
        }
    };
}

int_unit!(
    /// Clock cycles of the accelerator's clock.
    Cycles,
    " cycles"
);
int_unit!(
    /// A size or an amount of traffic in bytes (8 bits).
    Bytes,
    " B"
);
int_unit!(
    /// A size or an amount of traffic in bits, before packing into bytes.
    Bits,
    " bit"
);
int_unit!(
    /// Multiply-accumulate operations.
    Macs,
    " MACs"
);

impl Bits {
    /// The bytes needed to hold these bits, rounded up (packed storage).
    pub const fn to_bytes_ceil(self) -> Bytes {
        Bytes(self.0.div_ceil(8))
    }
}

impl Bytes {
    /// The same amount in bits.
    pub const fn to_bits(self) -> Bits {
        Bits(self.0.saturating_mul(8))
    }
}

/// Energy in picojoules.
#[derive(Debug, Clone, Copy, Default, PartialEq, PartialOrd)]
pub struct PicoJoules(pub f64);

impl PicoJoules {
    /// No energy.
    pub const ZERO: Self = Self(0.0);
    /// The raw value in pJ.
    pub const fn get(self) -> f64 {
        self.0
    }
}

impl Add for PicoJoules {
    type Output = Self;
    fn add(self, rhs: Self) -> Self {
        Self(self.0 + rhs.0)
    }
}

impl AddAssign for PicoJoules {
    fn add_assign(&mut self, rhs: Self) {
        self.0 += rhs.0;
    }
}

impl Sum for PicoJoules {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::ZERO, |a, b| a + b)
    }
}

impl Mul<u64> for PicoJoules {
    type Output = Self;
    fn mul(self, n: u64) -> Self {
        Self(self.0 * n as f64)
    }
}

/// A frequency in hertz.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Hertz(pub f64);

impl Hertz {
    /// How long the given number of cycles takes at this clock.
    pub fn duration(self, cycles: Cycles) -> Seconds {
        Seconds(cycles.0 as f64 / self.0)
    }
}

/// A duration in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, PartialOrd)]
pub struct Seconds(pub f64);

impl Seconds {
    /// The raw value.
    pub const fn get(self) -> f64 {
        self.0
    }
}

impl Add for Seconds {
    type Output = Self;
    fn add(self, rhs: Self) -> Self {
        Self(self.0 + rhs.0)
    }
}

/// A bandwidth in bytes per second.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct BytesPerSecond(pub f64);

impl BytesPerSecond {
    /// Bytes this bandwidth moves per cycle of the given clock.
    pub fn per_cycle(self, clock: Hertz) -> f64 {
        self.0 / clock.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_up_to_bytes() {
        assert_eq!(Bits(0).to_bytes_ceil(), Bytes(0));
        assert_eq!(Bits(1).to_bytes_ceil(), Bytes(1));
        assert_eq!(Bits(24).to_bytes_ceil(), Bytes(3));
        assert_eq!(Bits(25).to_bytes_ceil(), Bytes(4));
    }

    #[test]
    fn counts_saturate_instead_of_wrapping() {
        assert_eq!(Cycles(u64::MAX) + Cycles(5), Cycles(u64::MAX));
        assert_eq!(Bytes(u64::MAX / 2).times(3), Bytes(u64::MAX));
    }

    #[test]
    fn clock_converts_cycles_to_seconds() {
        let s = Hertz(1e9).duration(Cycles(2_000_000));
        assert!((s.get() - 2e-3).abs() < 1e-15);
    }
}
