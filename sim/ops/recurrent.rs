//! The recurrent family: LSTM and GRU over a whole sequence, as ONNX's `LSTM` and `GRU`
//! define them (layout 0: `X` `[T, B, I]`; default activations; no ONNX clip (LiteRT's cell-state `cell_clip` is kept), no peepholes,
//! every sequence the full length -- the importer refuses the rest by name).
//!
//! Inputs, by position: `X` (data), `W` `[D, G*H, I]` and `R` `[D, G*H, H]` (weights, gates
//! in ONNX's order: LSTM `iofc`, GRU `zrh`), `B` `[D, 2*G*H]` (bias: `Wb` then `Rb`), then
//! optionally the initial `h` `[D, B, H]` and, for LSTM, the initial `c` (activations or
//! constants; zeros when absent). Outputs: `Y` `[T, D, B, H]`, `Y_h` and (LSTM) `Y_c`
//! `[D, B, H]`.
//!
//! Cost, in phases: the input projection of every step at once (a GEMM of `T*B` rows by the
//! constant `W` of all directions: every `X_t` is known before the first step); per
//! direction, the recurrent projection, which is sequential -- step `t` multiplies the
//! hidden state step `t - 1` produced, so it is `T` GEMMs of `B` rows by `R`
//! ([`Operand::Sequential`]), never one batched GEMM (a GRU with `linear_before_reset = 0`
//! needs the reset gate before its candidate's projection: two sequential GEMMs per step);
//! then the gates' element-wise work on the vector unit.
//!
//! Integer execution: a forward LSTM whose tensors are LiteRT's integer LSTM's (int8 input,
//! weights and hidden state, int32 gate biases, an int16 cell state of a power-of-two scale;
//! what full-integer TFLite conversion writes) runs LiteRT's kernel bit for bit
//! ([`crate::kernels::lstm`]). No runtime defines an integer GRU or a reverse or
//! bidirectional integer LSTM, so those are refused by name, and `quantize` keeps every
//! recurrent layer in float ([`QuantRule::FloatOnly`]).

use super::work::{ConvWork, Operand, Phase, VectorWork};
use super::{
    DataFree, IntKernel, LayerCx, Moments, OnTheFly, OpFamily, QuantRule, WeightLayout, WorkbookRow, NO_WORKBOOK_ROW,
};
use crate::ir::{DataType, Direction, Recurrent, RecurrentKind, Tensor, TensorKind};
use crate::kernels::lstm::{IntLstmParams, LstmQuant};
use crate::kernels::{const_f32, const_i32, Arithmetic, Values, View};
use crate::ops::unary::logistic;
use crate::units::Macs;

/// The sizes of a layer: steps `T`, batch `B`, input `I`, hidden `H`, directions `D`,
/// gates `G`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dims {
    t: usize,
    b: usize,
    i: usize,
    h: usize,
    d: usize,
    g: usize,
}

impl RecurrentKind {
    /// Gates per cell: LSTM 4 (`iofc`), GRU 3 (`zrh`).
    pub fn gates(self) -> usize {
        match self {
            RecurrentKind::Lstm => 4,
            RecurrentKind::Gru => 3,
        }
    }

    /// States carried from step to step: LSTM `h` and `c`, GRU `h`.
    pub fn states(self) -> usize {
        match self {
            RecurrentKind::Lstm => 2,
            RecurrentKind::Gru => 1,
        }
    }
}

impl Recurrent {
    /// Gates per cell ([`RecurrentKind::gates`]).
    pub fn gates(&self) -> usize {
        self.kind.gates()
    }

    /// Outputs of a layer: `Y`, then each state's last value (`Y_h` and, for LSTM, `Y_c`).
    pub fn outputs(&self) -> usize {
        1 + self.kind.states()
    }

    /// The operator's name in ONNX (and in errors).
    pub fn label(&self) -> &'static str {
        match self.kind {
            RecurrentKind::Lstm => "LSTM",
            RecurrentKind::Gru => "GRU",
        }
    }

    /// Vector operations per hidden unit, step and direction besides the two projections:
    /// LSTM adds the recurrent projection and the bias to each of its 4 gates (8), applies
    /// 3 sigmoids and 2 tanh (5; a table lookup each, as LOGISTIC and TANH are costed),
    /// `c = f*c + i*g` (3) and `h = o*tanh(c)` (1): 17. GRU adds the projection and the
    /// bias to the update and reset gates (4), forms the candidate's pre-activation from
    /// its two projections, its two biases and the reset gate (4), applies 2 sigmoids and
    /// a tanh (3) and `h = g + z*(h - g)` (3): 14.
    fn ops_per_unit(&self) -> u64 {
        match self.kind {
            RecurrentKind::Lstm => 17,
            RecurrentKind::Gru => 14,
        }
    }

    /// The sizes, after checking every input's shape; an error names the input.
    fn dims(&self, cx: &LayerCx) -> Result<Dims, String> {
        let n = cx.l.inputs.len();
        let max = 4 + self.outputs() - 1;
        if !(4..=max).contains(&n) {
            return Err(format!(
                "{} takes X, W, R, B{}, got {n} inputs",
                self.label(),
                if max == 6 { " and optionally the initial h and c" } else { " and optionally the initial h" }
            ));
        }
        let t = |k: usize| cx.g.tensor(cx.l.inputs[k]);
        let x = t(0);
        let [steps, b, i] = x.shape[..] else {
            return Err(format!("X has shape {:?}, expected [steps, batch, input]", x.shape));
        };
        let (h, d, g) = (self.hidden, self.direction.count(), self.gates());
        let dims = Dims { t: steps, b, i, h, d, g };
        let expect = |k: usize, name: &str, kind: &[TensorKind], shape: Vec<usize>| -> Result<(), String> {
            let tt = t(k);
            if !kind.contains(&tt.kind) {
                return Err(format!("{name} ('{}') must be a {:?} tensor", tt.name, kind[0]));
            }
            if tt.shape != shape {
                return Err(format!("{name} ('{}') has shape {:?}, expected {shape:?}", tt.name, tt.shape));
            }
            Ok(())
        };
        expect(1, "W", &[TensorKind::Weight], vec![d, g * h, i])?;
        expect(2, "R", &[TensorKind::Weight], vec![d, g * h, h])?;
        expect(3, "B", &[TensorKind::Bias], vec![d, 2 * g * h])?;
        let state = [TensorKind::Activation, TensorKind::Constant];
        if n > 4 {
            expect(4, "the initial h", &state, vec![d, b, h])?;
        }
        if n > 5 {
            expect(5, "the initial c", &state, vec![d, b, h])?;
        }
        if self.linear_before_reset && self.kind == RecurrentKind::Lstm {
            return Err("linear_before_reset is a GRU attribute".into());
        }
        match (self.kind, self.cell_clip) {
            (_, None) | (RecurrentKind::Lstm, Some(_)) => {}
            (RecurrentKind::Gru, Some(_)) => return Err("cell_clip is an LSTM attribute".into()),
        }
        if self.cell_clip.is_some_and(|c| !(c > 0.0 && c.is_finite())) {
            return Err(format!("cell_clip {:?} must be a positive finite number", self.cell_clip));
        }
        Ok(dims)
    }

    /// The value of input `k` (an initial state): the next data input if it is an
    /// activation, its constant values otherwise, zeros (`len`) when absent.
    fn state<'v>(
        &self,
        cx: &LayerCx,
        k: usize,
        len: usize,
        data: &mut impl Iterator<Item = &'v Vec<f32>>,
    ) -> Result<Vec<f32>, String> {
        let Some(&id) = cx.l.inputs.get(k) else { return Ok(vec![0.0; len]) };
        let t: &Tensor = cx.g.tensor(id);
        if t.kind == TensorKind::Activation {
            data.next().cloned().ok_or_else(|| format!("input {k} ('{}') not computed", t.name))
        } else {
            const_f32(t).ok_or_else(|| format!("input {k} ('{}') has no values", t.name))
        }
    }
}

/// The constants of one direction: `W` `[G*H, I]`, `R` `[G*H, H]`, `Wb`, `Rb` `[G*H]`.
struct Cell<'a> {
    w: &'a [f32],
    r: &'a [f32],
    wb: &'a [f32],
    rb: &'a [f32],
}

/// `out[j] = sum_k m[j][k] * v[k]` over the `rows` rows of `m` (`v.len()` wide), accumulated
/// in double.
fn matvec(m: &[f32], v: &[f32], rows: usize, out: &mut [f64]) {
    let n = v.len();
    for (j, o) in out.iter_mut().enumerate().take(rows) {
        *o = m[j * n..(j + 1) * n].iter().zip(v).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum();
    }
}

fn sigmoid(x: f64) -> f32 {
    logistic(x as f32)
}

/// Runs one direction of the cell over the sequence `x` (`[T, B, I]`) from the states `h`
/// and `c` (`[B, H]`, updated in place), writing each step's hidden state into `y` at
/// `[t, dir, b, :]` of `[T, D, B, H]`.
#[allow(clippy::too_many_arguments)]
fn run_direction(
    op: &Recurrent,
    dims: Dims,
    cell: &Cell,
    x: &[f32],
    reverse: bool,
    dir: usize,
    h: &mut [f32],
    c: &mut [f32],
    y: &mut [f32],
) {
    let Dims { t: steps, b, i, h: hs, d, g } = dims;
    let gh = g * hs;
    let mut xp = vec![0f64; gh];
    let mut hp = vec![0f64; gh];
    for s in 0..steps {
        let t = if reverse { steps - 1 - s } else { s };
        for bb in 0..b {
            let xt = &x[(t * b + bb) * i..(t * b + bb + 1) * i];
            matvec(cell.w, xt, gh, &mut xp);
            let hb = &mut h[bb * hs..(bb + 1) * hs];
            let cb = &mut c[bb * hs..(bb + 1) * hs];
            match op.kind {
                RecurrentKind::Lstm => {
                    matvec(cell.r, hb, gh, &mut hp);
                    let pre = |k: usize| xp[k] + hp[k] + f64::from(cell.wb[k]) + f64::from(cell.rb[k]);
                    for u in 0..hs {
                        let ig = sigmoid(pre(u));
                        let og = sigmoid(pre(hs + u));
                        let fg = sigmoid(pre(2 * hs + u));
                        let cg = (pre(3 * hs + u) as f32).tanh();
                        cb[u] = fg * cb[u] + ig * cg;
                        if let Some(clip) = op.cell_clip {
                            cb[u] = cb[u].min(clip).max(-clip);
                        }
                        hb[u] = og * cb[u].tanh();
                    }
                }
                RecurrentKind::Gru => {
                    // Update and reset gates from the state before the step.
                    matvec(cell.r, hb, 2 * hs, &mut hp[..2 * hs]);
                    let gate =
                        |k: usize, hp: &[f64]| sigmoid(xp[k] + hp[k] + f64::from(cell.wb[k]) + f64::from(cell.rb[k]));
                    let z: Vec<f32> = (0..hs).map(|u| gate(u, &hp)).collect();
                    let r: Vec<f32> = (0..hs).map(|u| gate(hs + u, &hp)).collect();
                    let rh = &cell.r[2 * hs * hs..];
                    let mut cand = vec![0f64; hs];
                    if op.linear_before_reset {
                        matvec(rh, hb, hs, &mut cand);
                        for u in 0..hs {
                            cand[u] = f64::from(r[u]) * (cand[u] + f64::from(cell.rb[2 * hs + u]));
                        }
                    } else {
                        let reset: Vec<f32> = hb.iter().zip(&r).map(|(&hv, &rv)| rv * hv).collect();
                        matvec(rh, &reset, hs, &mut cand);
                        for u in 0..hs {
                            cand[u] += f64::from(cell.rb[2 * hs + u]);
                        }
                    }
                    for u in 0..hs {
                        let k = 2 * hs + u;
                        let gv = ((xp[k] + f64::from(cell.wb[k]) + cand[u]) as f32).tanh();
                        hb[u] = (1.0 - z[u]) * gv + z[u] * hb[u];
                    }
                }
            }
            let at = ((t * d + dir) * b + bb) * hs;
            y[at..at + hs].copy_from_slice(hb);
        }
    }
}

impl OpFamily for Recurrent {
    fn name(&self) -> &'static str {
        match self.kind {
            RecurrentKind::Lstm => "lstm",
            RecurrentKind::Gru => "gru",
        }
    }

    fn infer_shapes(&self, cx: &LayerCx) -> Result<Vec<Vec<usize>>, String> {
        let Dims { t, b, h, d, .. } = self.dims(cx)?;
        let mut shapes = vec![vec![t, d, b, h], vec![d, b, h]];
        if self.kind == RecurrentKind::Lstm {
            shapes.push(vec![d, b, h]);
        }
        Ok(shapes)
    }

    /// `T * B * D * G * H * (I + H)`: the input and the recurrent projections.
    fn macs(&self, cx: &LayerCx) -> Macs {
        let Ok(Dims { t, b, i, h, d, g }) = self.dims(cx) else { return Macs::ZERO };
        let per_step = (b * d * g * h) as u64;
        Macs((t as u64).saturating_mul(per_step).saturating_mul((i + h) as u64))
    }

    fn work(&self, cx: &LayerCx) -> Vec<Phase> {
        let Ok(Dims { t, b, i, h, d, g }) = self.dims(cx) else { return Vec::new() };
        let u = |v: usize| v as u64;
        // Every step's input projection at once, all directions' W stacked.
        let mut phases = vec![Phase::Gemm {
            work: ConvWork::fully_connected(u(t * b), u(i), u(d * g * h)),
            operand: Operand::Constant,
        }];
        // Per direction, one step's recurrent GEMM (two for a GRU that resets before its
        // candidate's projection), `T` times in sequence.
        let steps = Operand::Sequential { steps: u(t) };
        for _ in 0..d {
            if self.kind == RecurrentKind::Gru && !self.linear_before_reset {
                phases.push(Phase::Gemm { work: ConvWork::fully_connected(u(b), u(h), u(2 * h)), operand: steps });
                phases.push(Phase::Gemm { work: ConvWork::fully_connected(u(b), u(h), u(h)), operand: steps });
            } else {
                phases.push(Phase::Gemm { work: ConvWork::fully_connected(u(b), u(h), u(g * h)), operand: steps });
            }
        }
        // The gates: both projections read, the biases, every output written.
        let units = u(t).saturating_mul(u(d * b * h));
        let out_elements = cx.l.outputs.iter().map(|&o| cx.g.tensor(o).elements()).fold(0, u64::saturating_add);
        phases.push(Phase::Vector(VectorWork {
            in_elements: units.saturating_mul(2 * u(g)),
            out_elements,
            weights: u(d * 2 * g * h),
            ops: units.saturating_mul(self.ops_per_unit()),
            pooling: false,
        }));
        phases
    }

    fn quant_rule(&self, _input_bits: u8, _output_bits: u8) -> QuantRule {
        QuantRule::FloatOnly
    }

    fn fused_activation(&self) -> bool {
        false
    }

    fn weight_layout(&self) -> WeightLayout<'_> {
        WeightLayout::Float
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

    /// The output's batch follows from the inputs'.
    fn set_batch(&mut self, _n: usize) {}

    fn eval_float(&self, cx: &LayerCx, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, String> {
        let dims = self.dims(cx)?;
        let Dims { t, b, h, d, g, .. } = dims;
        let mut data = inputs.iter();
        let x = data.next().ok_or("missing input X")?;
        let constant = |k: usize, name: &str| {
            const_f32(cx.g.tensor(cx.l.inputs[k])).ok_or_else(|| format!("{name} has no values"))
        };
        let (w, r, bias) = (constant(1, "W")?, constant(2, "R")?, constant(3, "B")?);
        let mut hs = self.state(cx, 4, d * b * h, &mut data)?;
        let mut cs = match self.kind {
            RecurrentKind::Lstm => self.state(cx, 5, d * b * h, &mut data)?,
            RecurrentKind::Gru => vec![0.0; d * b * h],
        };
        let mut y = vec![0f32; t * d * b * h];
        let gh = g * h;
        for dir in 0..d {
            let wlen = w.len() / d;
            let rlen = r.len() / d;
            let bb = &bias[dir * 2 * gh..(dir + 1) * 2 * gh];
            let cell = Cell {
                w: &w[dir * wlen..(dir + 1) * wlen],
                r: &r[dir * rlen..(dir + 1) * rlen],
                wb: &bb[..gh],
                rb: &bb[gh..],
            };
            let reverse = match self.direction {
                crate::ir::Direction::Forward => false,
                crate::ir::Direction::Reverse => true,
                crate::ir::Direction::Bidirectional => dir == 1,
            };
            let span = dir * b * h..(dir + 1) * b * h;
            run_direction(self, dims, &cell, x, reverse, dir, &mut hs[span.clone()], &mut cs[span], &mut y);
        }
        let mut outs = vec![y, hs];
        if self.kind == RecurrentKind::Lstm {
            outs.push(cs);
        }
        Ok(outs)
    }

    /// LiteRT's integer LSTM (module documentation); the rest is refused by name.
    fn prepare_int(&self, cx: &LayerCx, _arith: &Arithmetic) -> Result<IntKernel, String> {
        let dims = self.dims(cx)?;
        if self.kind != RecurrentKind::Lstm || self.direction != Direction::Forward {
            return Err(format!(
                "{} in integers: only a forward LSTM has an integer kernel (LiteRT's); run this layer in float",
                self.label()
            ));
        }
        Ok(IntKernel::Recurrent(IntRecurrent(Box::new(int_lstm(cx, dims, self.cell_clip)?))))
    }

    /// Unknown: the hidden state depends on the whole sequence.
    fn data_free(&self, _cx: &LayerCx, _inputs: &[Option<&Moments>]) -> Option<DataFree> {
        None
    }
}

/// A per-tensor quantized integer tensor's scale and zero point; an error names the tensor.
fn per_tensor(t: &Tensor, bits: u8, what: &str) -> Result<(f32, i32), String> {
    match (t.dtype, &t.quant) {
        (DataType::Int { bits: b, signed: true }, Some(q)) if b == bits && !q.is_per_channel() => {
            let (s, z) = q.channel(0);
            Ok((s, z as i32))
        }
        _ => Err(format!("{what} ('{}') must be signed {bits}-bit integers quantized per tensor", t.name)),
    }
}

/// A stacked weight tensor (`[1, 4H, n]`, int8, symmetric, one scale per gate) as LiteRT's
/// per-gate matrices and scales, in LiteRT's gate order.
fn gate_weights(t: &Tensor, h: usize, n: usize, what: &str) -> Result<([Vec<i8>; 4], [f32; 4]), String> {
    let bad = || format!("{what} ('{}') must be int8 constants with one scale and a zero point of 0 per gate", t.name);
    let (DataType::Int { bits: 8, signed: true }, Some(q)) = (t.dtype, &t.quant) else { return Err(bad()) };
    let values = const_i32(t).ok_or_else(bad)?;
    let mut mats = Vec::with_capacity(4);
    let mut scales = [0f32; 4];
    for (k, block) in LITERT_TO_IOFC.into_iter().enumerate() {
        let rows = block * h..(block + 1) * h;
        let params: Vec<(f32, i64)> = rows.clone().map(|r| q.channel(if q.is_per_channel() { r } else { 0 })).collect();
        if params.iter().any(|&p| p != params[0]) || params[0].1 != 0 {
            return Err(bad());
        }
        scales[k] = params[0].0;
        let m: Result<Vec<i8>, _> = values[rows.start * n..rows.end * n].iter().map(|&v| i8::try_from(v)).collect();
        mats.push(m.map_err(|_| bad())?);
    }
    let mats: [Vec<i8>; 4] = mats.try_into().map_err(|_| bad())?;
    Ok((mats, scales))
}

/// The IR's gate block (`iofc`) of each of LiteRT's gates (input, forget, cell, output).
const LITERT_TO_IOFC: [usize; 4] = [0, 2, 3, 1];

/// The integer LSTM of a layer: LiteRT's parameters from its tensors, and its initial states
/// where they are constants.
fn int_lstm(cx: &LayerCx, dims: Dims, cell_clip: Option<f32>) -> Result<IntRecurrentParams, String> {
    let Dims { t, b, i, h, .. } = dims;
    let input = |k: usize| cx.l.inputs.get(k).map(|&id| cx.g.tensor(id));
    let output = |k: usize| {
        cx.l.outputs.get(k).map(|&id| cx.g.tensor(id)).ok_or_else(|| "an LSTM has outputs Y, Y_h and Y_c".to_string())
    };
    let x = per_tensor(cx.g.tensor(cx.l.inputs[0]), 8, "X")?;
    let (wx, sx) = gate_weights(cx.g.tensor(cx.l.inputs[1]), h, i, "W")?;
    let (wh, sh) = gate_weights(cx.g.tensor(cx.l.inputs[2]), h, h, "R")?;
    let bt = cx.g.tensor(cx.l.inputs[3]);
    let bias = match (bt.dtype, const_i32(bt)) {
        (DataType::Int { bits: 32, signed: true }, Some(v)) if v[4 * h..].iter().all(|&x| x == 0) => v,
        _ => {
            return Err(format!(
                "B ('{}') must be int32 gate biases with no recurrent bias (LiteRT's integer LSTM has none)",
                bt.name
            ))
        }
    };
    let biases = LITERT_TO_IOFC.map(|block| bias[block * h..(block + 1) * h].to_vec());
    // The states' quantization: the initial values' where given, else the final values'.
    let h_tensor = match input(4) {
        Some(t) => t,
        None => output(1)?,
    };
    let c_tensor = match input(5) {
        Some(t) => t,
        None => output(2)?,
    };
    let state = per_tensor(h_tensor, 8, "the hidden state")?;
    let cell = per_tensor(c_tensor, 16, "the cell state")?;
    if cell.1 != 0 {
        return Err(format!("the cell state ('{}') must have a zero point of 0", c_tensor.name));
    }
    let q = LstmQuant {
        input: x,
        weight_scales: std::array::from_fn(|k| (sx[k], sh[k])),
        state,
        hidden: per_tensor(output(0)?, 8, "Y")?,
        cell_scale: cell.0,
        cell_clip,
    };
    let weights = {
        let [a, b2, c, d] = wx;
        let [e, f, g, hh] = wh;
        [(a, e), (b2, f), (c, g), (d, hh)]
    };
    let params = IntLstmParams::new(i, h, weights, biases, &q)?;
    let constant = |k: usize| -> Result<Option<Vec<i32>>, String> {
        match input(k) {
            None => Ok(Some(vec![if k == 4 { state.1 } else { 0 }; b * h])),
            Some(tt) if tt.kind == TensorKind::Activation => Ok(None),
            Some(tt) => const_i32(tt).map(Some).ok_or_else(|| format!("input {k} ('{}') has no values", tt.name)),
        }
    };
    Ok(IntRecurrentParams { params, steps: t, batch: b, h0: constant(4)?, c0: constant(5)? })
}

/// What a layer's integer LSTM runs with.
#[derive(Debug, Clone)]
pub struct IntRecurrentParams {
    params: IntLstmParams,
    steps: usize,
    batch: usize,
    /// The initial hidden and cell states when they are constants (`None`: a data input).
    h0: Option<Vec<i32>>,
    c0: Option<Vec<i32>>,
}

/// LiteRT's integer LSTM on a recurrent layer ([`crate::kernels::lstm`]).
#[derive(Debug, Clone)]
pub struct IntRecurrent(Box<IntRecurrentParams>);

impl IntRecurrent {
    /// Runs on the layer's data inputs: `X`, then the initial states that are activations.
    /// Outputs `Y` `[T, 1, B, H]`, `Y_h` and `Y_c` `[1, B, H]`.
    pub fn run(&self, inputs: &[&Values], arith: &Arithmetic) -> Result<Vec<Values>, String> {
        let p = &self.0;
        let mut data = inputs.iter();
        let mut next = |what: &str| match data.next().map(|v| v.view()) {
            Some(View::Int(v)) => Ok(v.into_owned()),
            Some(View::F32(_)) => Err(format!("{what} must be integers")),
            None => Err(format!("missing input {what}")),
        };
        let x = next("X")?;
        let mut h = match &p.h0 {
            Some(v) => v.clone(),
            None => next("the initial h")?,
        };
        let mut c = match &p.c0 {
            Some(v) => v.clone(),
            None => next("the initial c")?,
        };
        let n = p.batch * p.params.hidden;
        if x.len() != p.steps * p.batch * p.params.input || h.len() != n || c.len() != n {
            return Err("input sizes do not match the layer's".into());
        }
        let y = p.params.run(p.steps, p.batch, &x, &mut h, &mut c, arith);
        Ok(vec![Values::Int(y), Values::Int(h), Values::Int(c)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Direction;

    fn one_step(kind: RecurrentKind, lbr: bool, cell: &Cell, h0: f32) -> (f32, f32) {
        let op =
            Recurrent { kind, hidden: 1, direction: Direction::Forward, linear_before_reset: lbr, cell_clip: None };
        let dims = Dims { t: 1, b: 1, i: 1, h: 1, d: 1, g: op.gates() };
        let (mut h, mut c, mut y) = ([h0], [0.0f32], [0.0f32]);
        run_direction(&op, dims, cell, &[0.5], false, 0, &mut h, &mut c, &mut y);
        assert_eq!(y[0], h[0]);
        (h[0], c[0])
    }

    /// One step of one unit, x = 0.5, by hand. LSTM (W = 1 for every gate, R and biases 0,
    /// zero state): i = o = f = sigmoid(0.5) = 0.622459, g = tanh(0.5) = 0.462117, so
    /// c = i*g = 0.287649 and h = o*tanh(c) = 0.174270. GRU (W = 1, R = 0.5, Rb_h = 0.25,
    /// h0 = 1): z = r = sigmoid(1) = 0.731059; the candidate is tanh(0.5 + 0.5*r + 0.25)
    /// resetting first, tanh(0.5 + r*(0.5 + 0.25)) with linear_before_reset; h = (1-z)*g + z:
    /// 0.947828 and 0.941140.
    #[test]
    fn one_step_by_hand() {
        let close = |a: f32, b: f32| assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        let lstm = Cell { w: &[1.0; 4], r: &[0.0; 4], wb: &[0.0; 4], rb: &[0.0; 4] };
        let (h, c) = one_step(RecurrentKind::Lstm, false, &lstm, 0.0);
        close(c, 0.287_649);
        close(h, 0.174_270);
        let gru = Cell { w: &[1.0; 3], r: &[0.5; 3], wb: &[0.0; 3], rb: &[0.0, 0.0, 0.25] };
        close(one_step(RecurrentKind::Gru, false, &gru, 1.0).0, 0.947_828);
        close(one_step(RecurrentKind::Gru, true, &gru, 1.0).0, 0.941_140);
    }
}
