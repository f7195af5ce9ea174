//! The rotary position embedding family ([`Rotary`], RoPE): Llama's and GPT-NeoX's way of
//! giving queries and keys their positions, a rotation of each head's feature pairs by an
//! angle that grows with the position, so that a query-key product depends on the two
//! positions' distance only.
//!
//! Cost: vector work of three operations per output element (two products and a sum),
//! reading the input and the cosine / sine table (one row of `head_dim / 2` cosines and
//! `head_dim / 2` sines per position of a sequence, shared by the heads and by the
//! sequences of a batch) at the activation width, and writing the output. No MACs (as
//! norms', element-wise products are not counted as MACs). No parameters: the table is a
//! function of the positions.
//!
//! Float only for now: LiteRT has no rotary operator (converters lower it to slices, MUL,
//! ADD and CONCATENATION), so the integer path refuses these layers by name and
//! quantization keeps them in float, as it does norms.

use super::work::{Phase, VectorWork};
use super::{
    DataFree, IntKernel, LayerCx, Moments, OnTheFly, OpFamily, QuantRule, WeightLayout, WorkbookRow, NO_WORKBOOK_ROW,
};
use crate::ir::{RopeScaling, Rotary};
use crate::kernels::Arithmetic;
use crate::units::Macs;

impl RopeScaling {
    /// Llama 3's rescaled frequency of `f` (radians per position).
    pub fn rescale(&self, f: f64) -> f64 {
        let old = self.original_max_positions as f64;
        let (factor, low, high) =
            (f64::from(self.factor), f64::from(self.low_freq_factor), f64::from(self.high_freq_factor));
        let wavelength = std::f64::consts::TAU / f;
        if wavelength < old / high {
            f
        } else if wavelength > old / low {
            f / factor
        } else {
            let smooth = (old / wavelength - low) / (high - low);
            (1.0 - smooth) * f / factor + smooth * f
        }
    }

    fn check(&self) -> Result<(), String> {
        let finite_positive = |v: f32| v.is_finite() && v > 0.0;
        if !finite_positive(self.factor)
            || !finite_positive(self.low_freq_factor)
            || !(self.high_freq_factor.is_finite() && self.high_freq_factor > self.low_freq_factor)
            || self.original_max_positions == 0
        {
            return Err(format!(
                "rope scaling {self:?}: expected factor > 0, 0 < low_freq_factor < high_freq_factor and original_max_positions > 0"
            ));
        }
        Ok(())
    }
}

impl Rotary {
    /// The features per head of a last axis of `width`, or why it does not split.
    fn head_dim(&self, width: usize) -> Result<usize, String> {
        match width.checked_div(self.heads) {
            Some(d) if d * self.heads == width && d > 0 && d % 2 == 0 => Ok(d),
            _ => Err(format!(
                "a last axis of {width} does not split into {} heads of an even, non-zero head_dim",
                self.heads
            )),
        }
    }

    /// The rotation frequencies `f_i` of `head_dim` features, `i < head_dim / 2`, in
    /// radians per position.
    pub fn frequencies(&self, head_dim: usize) -> Vec<f64> {
        (0..head_dim / 2)
            .map(|i| {
                let f = f64::from(self.theta).powf(-((2 * i) as f64) / head_dim as f64);
                self.scaling.map_or(f, |s| s.rescale(f))
            })
            .collect()
    }

    fn check(&self, width: usize) -> Result<usize, String> {
        if !(self.theta.is_finite() && self.theta > 0.0) {
            return Err(format!("theta must be a positive number, got {}", self.theta));
        }
        if let Some(s) = &self.scaling {
            s.check()?;
        }
        self.head_dim(width)
    }
}

/// Positions per sequence among `rows` rows: the graph's tokens per sequence when the rows
/// are whole sequences of them (`--batch` stacks sequences), else all rows.
fn sequence_len(cx: &LayerCx, rows: usize) -> usize {
    match cx.g.sequence_rows {
        Some(s) if s > 0 && rows % s == 0 => s,
        _ => rows,
    }
}

/// The input's last axis and its rows (the product of the others).
fn rows_and_width(cx: &LayerCx) -> (usize, usize) {
    let shape = &cx.x().shape;
    let width = shape.last().copied().unwrap_or(0);
    (shape.iter().rev().skip(1).product(), width)
}

/// Rotates every head (`head_dim` features) of every row of `width` features of `x`: row `r`
/// is position `start + r mod seq`, the pair `(a, b) = (x[i], x[i + head_dim / 2])` becomes
/// `(a cos - b sin, b cos + a sin)` of the angle `position * freqs[i]` (computed in double).
pub fn rotary_f32(x: &[f32], width: usize, head_dim: usize, freqs: &[f64], start: usize, seq: usize) -> Vec<f32> {
    let half = head_dim / 2;
    let mut out = vec![0f32; x.len()];
    if width == 0 || half == 0 {
        return out;
    }
    let mut cos_sin = vec![(0f64, 0f64); half];
    for (r, (row, o)) in x.chunks(width).zip(out.chunks_mut(width)).enumerate() {
        let p = (start + r % seq.max(1)) as f64;
        for (cs, &f) in cos_sin.iter_mut().zip(freqs) {
            *cs = ((p * f).cos(), (p * f).sin());
        }
        for (h, oh) in row.chunks(head_dim).zip(o.chunks_mut(head_dim)) {
            for (i, &(c, s)) in cos_sin.iter().enumerate() {
                let (a, b) = (f64::from(h[i]), f64::from(h[i + half]));
                oh[i] = (a * c - b * s) as f32;
                oh[i + half] = (b * c + a * s) as f32;
            }
        }
    }
    out
}

impl OpFamily for Rotary {
    fn name(&self) -> &'static str {
        "rotary"
    }

    fn infer_shapes(&self, cx: &LayerCx) -> Result<Vec<Vec<usize>>, String> {
        let (_, width) = rows_and_width(cx);
        self.check(width)?;
        Ok(vec![cx.x().shape.clone()])
    }

    fn macs(&self, _cx: &LayerCx) -> Macs {
        Macs::ZERO
    }

    fn work(&self, cx: &LayerCx) -> Vec<Phase> {
        let (rows, width) = rows_and_width(cx);
        // One row of head_dim / 2 cosines and as many sines per position: head_dim values.
        let head_dim = width.checked_div(self.heads).unwrap_or(0) as u64;
        let table = (sequence_len(cx, rows) as u64).saturating_mul(head_dim);
        let out = cx.out().elements();
        vec![Phase::Vector(VectorWork {
            in_elements: cx.x().elements().saturating_add(table),
            out_elements: out,
            weights: 0,
            ops: out.saturating_mul(3),
            pooling: false,
        })]
    }

    fn quant_rule(&self, _input_bits: u8, _output_bits: u8) -> QuantRule {
        QuantRule::FloatOnly
    }

    fn fused_activation(&self) -> bool {
        false
    }

    fn weight_layout(&self) -> WeightLayout<'_> {
        WeightLayout::None
    }

    fn dequantizes(&self) -> bool {
        false
    }

    fn on_the_fly(&self, _cx: &LayerCx) -> OnTheFly {
        OnTheFly::No
    }

    fn workbook_row(&self, _cx: &LayerCx) -> WorkbookRow<'_> {
        NO_WORKBOOK_ROW
    }

    /// Positions restart with every sequence (`sequence_len`): the attributes stay.
    fn set_batch(&mut self, _n: usize) {}

    fn eval_float(&self, cx: &LayerCx, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, String> {
        let (rows, width) = rows_and_width(cx);
        let head_dim = self.check(width)?;
        let x = inputs.first().ok_or("missing input")?;
        let freqs = self.frequencies(head_dim);
        Ok(vec![rotary_f32(x, width, head_dim, &freqs, self.start, sequence_len(cx, rows))])
    }

    fn prepare_int(&self, _cx: &LayerCx, _arith: &Arithmetic) -> Result<IntKernel, String> {
        Err("ROTARY runs in float32 only (LiteRT has no rotary kernel to follow; its integer form is not implemented yet)".into())
    }

    /// Each output feature's moments over the layer's positions, the pair's two features
    /// taken as independent: `a cos - b sin` has mean `avg(m_a cos - m_b sin)` and second
    /// moment `avg(cos^2 E[a^2] + sin^2 E[b^2] - 2 cos sin m_a m_b)`.
    fn data_free(&self, cx: &LayerCx, inputs: &[Option<&Moments>]) -> Option<DataFree> {
        let (rows, width) = rows_and_width(cx);
        let head_dim = self.check(width).ok()?;
        let x = inputs.first().copied().flatten()?;
        // Per feature, or one entry for all of them (collapsed over channels).
        let fits = |v: &[f64]| v.len() == width || v.len() == 1;
        if !fits(&x.mean) || !fits(&x.var) {
            return None;
        }
        let at = |v: &[f64], j: usize| if v.len() == 1 { v[0] } else { v[j] };
        let half = head_dim / 2;
        let freqs = self.frequencies(head_dim);
        let seq = sequence_len(cx, rows).max(1);
        let mut moments = Moments { mean: vec![0.0; width], var: vec![0.0; width] };
        for head in 0..width / head_dim {
            for (i, &f) in freqs.iter().enumerate() {
                let (ja, jb) = (head * head_dim + i, head * head_dim + i + half);
                let (ma, mb) = (at(&x.mean, ja), at(&x.mean, jb));
                let (sa, sb) = (at(&x.var, ja) + ma * ma, at(&x.var, jb) + mb * mb);
                let (mut mean_a, mut mean_b, mut sq_a, mut sq_b) = (0.0, 0.0, 0.0, 0.0);
                for r in 0..seq {
                    let angle = (self.start + r) as f64 * f;
                    let (s, c) = angle.sin_cos();
                    mean_a += ma * c - mb * s;
                    mean_b += mb * c + ma * s;
                    sq_a += c * c * sa + s * s * sb - 2.0 * c * s * ma * mb;
                    sq_b += c * c * sb + s * s * sa + 2.0 * c * s * ma * mb;
                }
                let n = seq as f64;
                for (j, mean, sq) in [(ja, mean_a / n, sq_a / n), (jb, mean_b / n, sq_b / n)] {
                    moments.mean[j] = mean;
                    moments.var[j] = (sq - mean * mean).max(0.0);
                }
            }
        }
        Some(DataFree { moments, within_input_range: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rope(theta: f32) -> Rotary {
        Rotary { heads: 1, theta, scaling: None, start: 0 }
    }

    #[test]
    fn position_zero_is_the_identity_and_a_pair_turns_by_its_angle() {
        let x = [0.5f32, -1.0, 2.0, 3.0];
        let freqs = rope(10_000.0).frequencies(4);
        assert_eq!(rotary_f32(&x, 4, 4, &freqs, 0, 1), x);
        // head_dim 2: one pair at frequency theta^0 = 1, so position p turns (1, 0) by p radians.
        for p in [1usize, 2, 7] {
            let out = rotary_f32(&[1.0, 0.0], 2, 2, &[1.0], p, 1);
            assert!((out[0] - (p as f32).cos()).abs() < 1e-6 && (out[1] - (p as f32).sin()).abs() < 1e-6);
        }
        // Frequencies theta^(-2i/d): 1, 10000^(-1/2) = 0.01 for d = 4.
        assert!((freqs[0] - 1.0).abs() < 1e-12 && (freqs[1] - 0.01).abs() < 1e-12);
    }

    /// The property RoPE exists for: a query at position p and a key at m have a product
    /// that depends on p - m only; and rotations keep every pair's length.
    #[test]
    fn products_depend_on_the_distance_only() {
        let (d, heads) = (8, 2);
        let q: Vec<f32> = (0..d * heads).map(|i| ((i * 7 % 5) as f32 - 2.0) * 0.3).collect();
        let k: Vec<f32> = (0..d * heads).map(|i| ((i * 3 % 7) as f32 - 3.0) * 0.2).collect();
        let freqs = Rotary { heads, ..rope(10_000.0) }.frequencies(d);
        let at = |v: &[f32], p: usize| rotary_f32(v, d * heads, d, &freqs, p, 1);
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum::<f64>();
        let base = dot(&at(&q, 5), &at(&k, 2));
        for shift in [1, 10, 1000] {
            assert!((dot(&at(&q, 5 + shift), &at(&k, 2 + shift)) - base).abs() < 1e-4, "shift {shift}");
        }
        assert!((dot(&at(&q, 5), &at(&k, 5)) - dot(&q, &k)).abs() < 1e-5);
        let norm = |v: &[f32]| dot(v, v);
        assert!((norm(&at(&q, 123)) - norm(&q)).abs() < 1e-4);
    }

    #[test]
    fn rows_restart_their_positions_with_every_sequence() {
        let x: Vec<f32> = (0..12).map(|i| i as f32 * 0.25 - 1.0).collect();
        let freqs = rope(100.0).frequencies(2);
        // 6 rows of width 2: two sequences of 3 positions starting at 4.
        let both = rotary_f32(&x, 2, 2, &freqs, 4, 3);
        assert_eq!(both[..6], rotary_f32(&x[..6], 2, 2, &freqs, 4, 3)[..]);
        assert_eq!(both[6..], rotary_f32(&x[6..], 2, 2, &freqs, 4, 3)[..]);
        assert_ne!(both[6..], rotary_f32(&x, 2, 2, &freqs, 4, 6)[6..]);
    }

    /// Llama 3.2's scaling (factor 32, low 1, high 4, 8192 positions): wavelengths under
    /// 2048 positions keep their frequency, over 8192 are slowed 32 times, and the band
    /// between is interpolated continuously.
    #[test]
    fn llama3_scaling_keeps_high_and_slows_low_frequencies() {
        let s = RopeScaling { factor: 32.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_positions: 8192 };
        let f_of = |wavelength: f64| std::f64::consts::TAU / wavelength;
        assert_eq!(s.rescale(f_of(100.0)), f_of(100.0));
        assert!((s.rescale(f_of(20_000.0)) - f_of(20_000.0) / 32.0).abs() < 1e-15);
        for edge in [2048.0, 8192.0] {
            let (below, above) = (s.rescale(f_of(edge * (1.0 - 1e-9))), s.rescale(f_of(edge * (1.0 + 1e-9))));
            assert!((below / above - 1.0).abs() < 1e-6, "continuous at {edge}");
        }
        let mid = s.rescale(f_of(4096.0));
        assert!(mid < f_of(4096.0) && mid > f_of(4096.0) / 32.0);
        let r = Rotary { heads: 32, theta: 500_000.0, scaling: Some(s), start: 0 };
        let freqs = r.frequencies(64);
        assert_eq!(freqs.len(), 32);
        assert!(freqs.windows(2).all(|w| w[1] < w[0]), "frequencies fall with i");
    }

    /// The moments are exact for independent features: each feature takes its mean plus or
    /// minus its standard deviation with equal chances (16 combinations), at each of the
    /// layer's 4 positions.
    #[test]
    fn data_free_moments_are_the_rotated_features_moments() {
        use crate::ir::{Activation, Graph, Layer, Op, Tensor, TensorKind, WeightSource};
        let mut g = Graph::new("r", WeightSource::Imported { path: "t".into() });
        let x = g.add_tensor(Tensor::float("x", vec![4, 4], TensorKind::Activation));
        let y = g.add_tensor(Tensor::float("y", vec![4, 4], TensorKind::Activation));
        let r = Rotary { heads: 1, theta: 3.0, scaling: None, start: 2 };
        let l = Layer {
            name: "l".into(),
            op: Op::Rotary(r),
            inputs: vec![x],
            outputs: vec![y],
            activation: Activation::None,
        };
        let m = Moments { mean: vec![1.0, -0.5, 0.25, 2.0], var: vec![0.5, 1.0, 2.0, 0.25] };
        let got = r.data_free(&LayerCx::new(&g, &l), &[Some(&m)]).expect("moments").moments;
        let freqs = r.frequencies(4);
        let (mut sum, mut sq) = ([0f64; 4], [0f64; 4]);
        for signs in 0..16u32 {
            let v: Vec<f32> = (0..4)
                .map(|j| (m.mean[j] + if signs >> j & 1 == 1 { 1.0 } else { -1.0 } * m.var[j].sqrt()) as f32)
                .collect();
            for p in 2..6 {
                for (j, o) in rotary_f32(&v, 4, 4, &freqs, p, 1).iter().enumerate() {
                    sum[j] += f64::from(*o);
                    sq[j] += f64::from(*o).powi(2);
                }
            }
        }
        for j in 0..4 {
            let mean = sum[j] / 64.0;
            let var = sq[j] / 64.0 - mean * mean;
            assert!((got.mean[j] - mean).abs() < 1e-6 && (got.var[j] - var).abs() < 1e-6, "{j}: {got:?}");
        }
    }

    #[test]
    fn bad_attributes_are_named() {
        let r = Rotary { heads: 3, ..rope(10_000.0) };
        assert!(r.check(64).unwrap_err().contains("does not split into 3 heads"));
        assert!(Rotary { heads: 2, ..rope(10_000.0) }.check(6).is_err(), "odd head_dim");
        assert!(rope(-1.0).check(4).unwrap_err().contains("theta"));
        let s = RopeScaling { factor: 8.0, low_freq_factor: 4.0, high_freq_factor: 1.0, original_max_positions: 8192 };
        let bad = Rotary { scaling: Some(s), ..rope(10_000.0) };
        assert!(bad.check(4).unwrap_err().contains("low_freq_factor < high_freq_factor"));
    }
}
