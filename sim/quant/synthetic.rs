//! Deterministic synthetic weights for built-in networks, whose model files describe shapes
//! only. Weights are He-normal (He et al., ICCV 2015): `N(0, 2 / fan_in)` with `fan_in =
//! kh * kw * in_channels / groups` (the elements of one output channel); biases are 0.
//! Normal deviates come from Box-Muller over SplitMix64 seeded with the graph's seed, drawn
//! tensor by tensor in tensor order, so a (network, seed) pair always gives the same values.

use crate::ir::{DataType, Graph, TensorData, TensorKind, WeightSource};

/// SplitMix64 (Steele, Lea, Flood 2014).
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller, cosine branch).
    pub fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// Fills every weight and bias without values of a graph with synthetic weights. Returns
/// whether anything was generated. The seed is the graph's [`WeightSource::Synthetic`] seed
/// (or `seed` for other graphs).
pub fn materialize(g: &mut Graph, seed: u64) -> bool {
    let seed = match g.weights {
        WeightSource::Synthetic { seed } => seed,
        _ => seed,
    };
    let mut rng = SplitMix64(seed);
    let mut any = false;
    for t in &mut g.tensors {
        if t.data.is_some() || !matches!(t.kind, TensorKind::Weight | TensorKind::Bias) {
            continue;
        }
        let n = t.elements() as usize;
        let v = if t.kind == TensorKind::Bias {
            vec![0f32; n]
        } else {
            let fan_in = (n / t.shape.first().copied().unwrap_or(1).max(1)).max(1);
            let sd = (2.0 / fan_in as f64).sqrt();
            (0..n).map(|_| (rng.normal() * sd) as f32).collect()
        };
        t.data = Some(TensorData::F32(v));
        t.dtype = DataType::F32;
        any = true;
    }
    any
}

/// `n` seeded images uniform on [-1, 1] of `len` values each, for calibrating networks that
/// come without data.
pub fn uniform_inputs(n: usize, len: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = SplitMix64(seed ^ 0xC0FF_EE00);
    (0..n).map(|_| (0..len).map(|_| (rng.uniform() * 2.0 - 1.0) as f32).collect()).collect()
}
