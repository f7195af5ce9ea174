//! LiteRT's integer LSTM, "8x8_16": int8 input, weights and hidden state, int16 gates and
//! cell state, no peepholes, projection, layer normalization or CIFG. One forward pass over a
//! sequence, bit for bit with `lstm_eval.cc`'s `EvalInteger8x8_16` and the portable
//! `tensor_utils` functions it calls (read from LiteRT's sources; parameters as LiteRT's
//! `PopulateQuantizedLstmParams8x8_16` and `PopulatePrecomputedZPTimesWeightsWithBias`
//! derive them, here in [`IntLstmParams::new`]):
//!
//! - each gate is `sat16(M_x(b + W_x x) + sat16(M_h(W_h h)))`, the zero points folded into
//!   the biases (`b - z_x * rowsum(W_x)`, `-z_h * rowsum(W_h)`), the multipliers
//!   `s_x s_W / 2^-12` (the gates are Q3.12);
//! - input, forget and output gates through the 16-bit logistic, the cell gate through the
//!   16-bit tanh of a Q3.12 value ([`super::gemmlowp`]);
//! - `c = sat16(round(f c / 2^15) + round(i g / 2^(30 + log2 s_c)))`, clipped to the
//!   quantized `cell_clip`;
//! - `h = sat8(M_hidden(o * tanh(c)) + z_hidden)`, `tanh` of the cell state read with
//!   `15 + log2 s_c` integer bits, `M_hidden = 2^-30 / s_hidden`.

use super::fixedpoint::{requantize, rounding_divide_by_pot, Arithmetic, QuantMultiplier, Requant};
use super::gemmlowp;

/// The gates in LiteRT's order.
pub const GATES: [&str; 4] = ["input", "forget", "cell", "output"];

/// One gate's constants.
#[derive(Debug, Clone)]
pub struct Gate {
    /// Input-to-gate weights `[H, I]`.
    pub w_x: Vec<i8>,
    /// Recurrent weights `[H, H]`.
    pub w_h: Vec<i8>,
    /// The bias with the input's zero point folded in, `[H]`.
    pub bias_x: Vec<i32>,
    /// The hidden state's zero point times the recurrent weights' row sums, `[H]`.
    pub bias_h: Vec<i32>,
    /// Input projection to Q3.12.
    pub m_x: QuantMultiplier,
    /// Recurrent projection to Q3.12.
    pub m_h: QuantMultiplier,
}

/// What a layer's quantized tensors give (LiteRT's own parameters are derived from these).
#[derive(Debug, Clone)]
pub struct LstmQuant {
    /// Input scale and zero point.
    pub input: (f32, i32),
    /// Per gate (LiteRT's order), the input-to-gate and the recurrent weights' scales.
    pub weight_scales: [(f32, f32); 4],
    /// The hidden state's scale and zero point as the recurrence reads it (LiteRT's output
    /// state tensor).
    pub state: (f32, i32),
    /// The hidden state's scale and zero point as the cell writes it (LiteRT's
    /// `effective_hidden_scale_intermediate`; the same as `state` in converted models).
    pub hidden: (f32, i32),
    /// The cell state's scale (a power of two).
    pub cell_scale: f32,
    /// `cell_clip` in real units, `None` for none.
    pub cell_clip: Option<f32>,
}

/// Everything one direction of the layer needs.
#[derive(Debug, Clone)]
pub struct IntLstmParams {
    /// Input features `I`.
    pub input: usize,
    /// Hidden units `H`.
    pub hidden: usize,
    /// Per gate, LiteRT's order.
    pub gates: [Gate; 4],
    /// `log2` of the cell state's scale (at most -9, as LiteRT requires).
    pub cell_shift: i32,
    /// The quantized cell clip; 0 for none.
    pub cell_clip: i16,
    /// `o * tanh(c)` (Q0.15 times Q0.15) to the hidden state's scale.
    pub m_hidden: QuantMultiplier,
    /// The hidden state's zero point as written.
    pub hidden_zp: i32,
}

/// LiteRT's `CheckedLog2`: the exponent of a power-of-two scale, `None` when the scale is not
/// one (to 1e-3 in the exponent).
fn checked_log2(x: f32) -> Option<i32> {
    let l = x.ln() * (1.0 / 2f32.ln());
    let r = l.round();
    ((l - r).abs() < 1e-3 && r.is_finite()).then_some(r as i32)
}

impl IntLstmParams {
    /// The parameters of a layer with `hidden` units and `input` features from its weights
    /// (per gate, `[H, I]` and `[H, H]`), its int32 gate biases (`[H]` each) and its
    /// quantization; an error says which value LiteRT's kernel cannot take.
    pub fn new(
        input: usize,
        hidden: usize,
        weights: [(Vec<i8>, Vec<i8>); 4],
        biases: [Vec<i32>; 4],
        q: &LstmQuant,
    ) -> Result<Self, String> {
        let cell_shift = checked_log2(q.cell_scale).filter(|&s| (-15..=-9).contains(&s)).ok_or_else(|| {
            format!(
                "the cell state's scale {:e} must be a power of two from 2^-15 to 2^-9 (LiteRT's integer LSTM)",
                q.cell_scale
            )
        })?;
        // Float arithmetic as LiteRT's (f32 products; the gates' Q3.12 scale is exact).
        let gate_scale = 2f32.powi(-12);
        let multiplier = |what: &str, s: f32| -> Result<QuantMultiplier, String> {
            QuantMultiplier::checked(f64::from(s)).map_err(|e| format!("{what}: {e}"))
        };
        let (sx, zx) = q.input;
        let (sh, zh) = q.state;
        let mut gates = Vec::with_capacity(4);
        for (k, ((w_x, w_h), bias)) in weights.into_iter().zip(biases).enumerate() {
            let (swx, swh) = q.weight_scales[k];
            if w_x.len() != hidden * input || w_h.len() != hidden * hidden || bias.len() != hidden {
                return Err(format!("the {} gate's constants do not match {hidden} units of {input} inputs", GATES[k]));
            }
            let row_sums = |w: &[i8], n: usize| -> Vec<i32> {
                w.chunks(n.max(1)).map(|r| r.iter().map(|&v| i32::from(v)).sum()).collect()
            };
            let bias_x = bias
                .iter()
                .zip(row_sums(&w_x, input))
                .map(|(&b, s)| b.wrapping_add(s.wrapping_mul(zx.wrapping_neg())))
                .collect();
            let bias_h = row_sums(&w_h, hidden).into_iter().map(|s| s.wrapping_mul(zh.wrapping_neg())).collect();
            gates.push(Gate {
                w_x,
                w_h,
                bias_x,
                bias_h,
                m_x: multiplier(&format!("the {} gate's input rescale", GATES[k]), swx * sx / gate_scale)?,
                m_h: multiplier(&format!("the {} gate's recurrent rescale", GATES[k]), swh * sh / gate_scale)?,
            });
        }
        let gates: [Gate; 4] = gates.try_into().map_err(|_| "four gates".to_string())?;
        // LiteRT: 2^-15 / s_hidden * 2^-15 in double, stored as float.
        let hidden_scale = (2f64.powi(-15) / f64::from(q.hidden.0) * 2f64.powi(-15)) as f32;
        let m_hidden = multiplier("the hidden state's rescale", hidden_scale)?;
        let cell_clip = match q.cell_clip {
            Some(c) if c > 0.0 => (c / q.cell_scale).clamp(-32768.0, 32767.0) as i16,
            _ => 0,
        };
        Ok(Self { input, hidden, gates, cell_shift, cell_clip, m_hidden, hidden_zp: q.hidden.1 })
    }

    /// Runs the sequence `x` (`[T, B, I]`, time-major) from the states `h` (int8) and `c`
    /// (int16), `[B, H]` each and updated in place; returns the hidden state of every step,
    /// `[T, B, H]`. The projections accumulate and requantize under `arith` (LiteRT's int32
    /// accumulators and double rounding by default); the gates' 16-bit arithmetic is LiteRT's.
    pub fn run(
        &self,
        steps: usize,
        batch: usize,
        x: &[i32],
        h: &mut [i32],
        c: &mut [i32],
        arith: &Arithmetic,
    ) -> Vec<i32> {
        let (ni, nh) = (self.input, self.hidden);
        let mut y = vec![0i32; steps * batch * nh];
        let mut gate = [vec![0i16; nh], vec![0i16; nh], vec![0i16; nh], vec![0i16; nh]];
        for t in 0..steps {
            for b in 0..batch {
                let xt = &x[(t * batch + b) * ni..(t * batch + b + 1) * ni];
                let hb = &mut h[b * nh..(b + 1) * nh];
                for (k, g) in self.gates.iter().enumerate() {
                    for (u, out) in gate[k].iter_mut().enumerate() {
                        let projected = |w: &[i8], v: &[i32], bias: i32, m: QuantMultiplier, n: usize| {
                            let acc = w[u * n..(u + 1) * n]
                                .iter()
                                .zip(v)
                                .fold(arith.fit(i64::from(bias)), |a, (&wv, &xv)| {
                                    arith.acc_add(a, i64::from(wv) * i64::from(xv))
                                });
                            requantize(acc, m, Requant::Double, arith)
                        };
                        let from_x = projected(&g.w_x, xt, g.bias_x[u], g.m_x, ni).clamp(-32768, 32767);
                        let v = projected(&g.w_h, hb, g.bias_h[u], g.m_h, nh).wrapping_add(from_x).clamp(-32768, 32767)
                            as i16;
                        // Q3.12 in; the cell gate through tanh, the others through the logistic.
                        *out = if k == 2 { gemmlowp::tanh(v, 3) } else { gemmlowp::logistic(v, 3) };
                    }
                }
                let [ig, fg, cg, og] = &gate;
                let cb = &mut c[b * nh..(b + 1) * nh];
                for u in 0..nh {
                    let kept = rounding_divide_by_pot(i32::from(fg[u]).wrapping_mul(cb[u]), 15) as i16;
                    let added =
                        rounding_divide_by_pot(i32::from(ig[u]) * i32::from(cg[u]), 30 + self.cell_shift) as i16;
                    let mut cell = kept.saturating_add(added);
                    if self.cell_clip > 0 {
                        cell = cell.clamp(-self.cell_clip, self.cell_clip);
                    }
                    cb[u] = i32::from(cell);
                    let squashed = gemmlowp::tanh(cell, (15 + self.cell_shift) as u32);
                    let product = i64::from(og[u]) * i64::from(squashed);
                    let hv = requantize(product, self.m_hidden, Requant::Double, arith).wrapping_add(self.hidden_zp);
                    hb[u] = hv.clamp(-128, 127);
                }
                let at = (t * batch + b) * nh;
                y[at..at + nh].copy_from_slice(hb);
            }
        }
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One unit, one input, one step, by hand: W_x = 64 for every gate (scale 1/64 each),
    /// W_h = 0, biases 0, x = 0.5 (scale 1/128, zero point 0), zero state, cell scale 2^-11.
    /// Every gate's pre-activation is 0.5 (2048 in Q3.12), so i = f = o = logistic(0.5)
    /// (20397 in Q0.15) and g = tanh(0.5) (15143), each within gemmlowp's 16-bit error (a few
    /// LSB); c = i*g = 0.2876 (589 at 2^-11), h = o*tanh(c) = 0.1743 (22 at scale 1/128).
    #[test]
    fn one_step_by_hand() {
        let q = LstmQuant {
            input: (1.0 / 128.0, 0),
            weight_scales: [(1.0 / 64.0, 1.0 / 64.0); 4],
            state: (1.0 / 128.0, 0),
            hidden: (1.0 / 128.0, 0),
            cell_scale: 2f32.powi(-11),
            cell_clip: None,
        };
        let w = || (vec![64i8], vec![0i8]);
        let p = IntLstmParams::new(1, 1, [w(), w(), w(), w()], [vec![0], vec![0], vec![0], vec![0]], &q).unwrap();
        let (mut h, mut c) = (vec![0], vec![0]);
        let y = p.run(1, 1, &[64], &mut h, &mut c, &Arithmetic::default());
        let close = |got: i16, real: f64| (f64::from(got) - real * 32768.0).abs() <= 8.0;
        assert!(close(gemmlowp::logistic(2048i16, 3), 1.0 / (1.0 + (-0.5f64).exp())));
        assert!(close(gemmlowp::tanh(2048i16, 3), 0.5f64.tanh()));
        assert_eq!(c, [589]);
        assert_eq!(y, [22]);
        assert_eq!(h, [22]);
    }

    #[test]
    fn a_cell_scale_that_is_no_power_of_two_is_refused() {
        let q = LstmQuant {
            input: (0.1, 0),
            weight_scales: [(0.1, 0.1); 4],
            state: (0.1, 0),
            hidden: (0.1, 0),
            cell_scale: 3e-4,
            cell_clip: None,
        };
        let w = || (vec![1i8], vec![1i8]);
        let e = IntLstmParams::new(1, 1, [w(), w(), w(), w()], [vec![0], vec![0], vec![0], vec![0]], &q).unwrap_err();
        assert!(e.contains("power of two"), "{e}");
    }
}
