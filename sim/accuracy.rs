//! Functional accuracy of a model on an accelerator's integer datapath: the model is run
//! with the accelerator's arithmetic (accumulator width and overflow behaviour) and each
//! layer's output is compared, as SQNR in dB, with a float32 execution of the same graph
//! and with the ideal integer execution (LiteRT's 32-bit accumulators), plus the output's
//! top-1 agreement.
//!
//! This is separate from the cost path on purpose (architecture invariant: mapping,
//! simulation and cost never read tensor values): the CLI calls [`evaluate`] on a model
//! with real weights (an imported `.tflite`) and attaches the result to the report.

use crate::hw::{self, HwDesc};
use crate::ir::{Convert, DataType, Graph, TensorKind};
use crate::kernels::{
    self, dequantize_per_tensor, fixedpoint, layer_sqnr, sqnr_db, top1_agreement, Arithmetic, ExecError, Executor,
    Overflow, Rounding, Values,
};

/// One layer's accuracy.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerAccuracy {
    /// Layer name.
    pub layer: String,
    /// SQNR in dB of the hardware result against the float execution.
    pub sqnr_db: f64,
    /// SQNR in dB of the hardware result against the ideal integer execution (infinite
    /// when identical).
    pub sqnr_vs_ideal_db: f64,
}

/// The accuracy of one functional run on an accelerator's arithmetic.
#[derive(Debug, Clone, PartialEq)]
pub struct Accuracy {
    /// Where the input came from ("synthetic (seed 1)" or the file).
    pub input: String,
    /// The datapath emulated.
    pub arithmetic: Arithmetic,
    /// Per layer, in graph order (layers with a quantized output).
    pub layers: Vec<LayerAccuracy>,
    /// SQNR in dB of the model output against the float execution.
    pub output_sqnr_db: f64,
    /// SQNR in dB of the model output against the ideal integer execution.
    pub output_sqnr_vs_ideal_db: f64,
    /// Fraction of output rows whose arg-max equals the float execution's.
    pub top1_agreement: f64,
    /// Fraction of output rows whose arg-max equals the ideal integer execution's.
    pub top1_agreement_vs_ideal: f64,
}

/// Why a model cannot be evaluated functionally, or `None` when it can: every conv and
/// FC layer needs constant weight values and the graph a single input, either integer and
/// quantized or float and quantized by the graph's own `Quantize` layers.
pub fn unsupported_reason(g: &Graph) -> Option<String> {
    if let Err(e) = crate::kernels::check_size(g) {
        return Some(e.to_string());
    }
    let missing = g.tensors.iter().any(|t| matches!(t.kind, TensorKind::Weight | TensorKind::Bias) && t.data.is_none());
    if missing {
        return Some("the network has no weight values (built-in or shape-only model)".into());
    }
    let [input] = g.inputs[..] else { return Some(format!("the network has {} inputs, not 1", g.inputs.len())) };
    if input_encoding(g, input).is_none() {
        let t = g.tensor(input);
        return Some(format!(
            "the input '{}' is neither a quantized integer tensor nor a float tensor fed only to Quantize layers ({})",
            t.name, t.dtype
        ));
    }
    None
}

/// How the graph's input is encoded: its integer type and quantization, taken from the
/// input itself when it is quantized, or from the `Quantize` layers it feeds when it is a
/// float input (a QDQ ONNX model's graph starts with QuantizeLinear). The flag says
/// whether the input itself is float. `None` when neither holds.
fn input_encoding(g: &Graph, input: crate::ir::TensorId) -> Option<(DataType, &crate::ir::QuantParams, bool)> {
    let t = g.tensor(input);
    if t.dtype.is_int() {
        return t.quant.as_ref().map(|q| (t.dtype, q, false));
    }
    let mut consumers = g.layers.iter().filter(|l| l.inputs.contains(&input)).peekable();
    consumers.peek()?;
    let mut found: Option<(DataType, &crate::ir::QuantParams)> = None;
    for l in consumers {
        if !matches!(l.op, crate::ir::Op::Convert(Convert::Quantize)) {
            return None;
        }
        let out = g.output(l);
        let q = out.quant.as_ref()?;
        match found {
            None => found = Some((out.dtype, q)),
            Some((d, fq)) if d == out.dtype && fq == q => {}
            Some(_) => return None,
        }
    }
    found.map(|(d, q)| (d, q, true))
}

/// The integer arithmetic of an accelerator: its accumulator width and overflow
/// behaviour, with LiteRT's requantization rounding.
pub fn arithmetic_of(hw: &HwDesc) -> Arithmetic {
    Arithmetic {
        acc_bits: hw.accumulator.bits.clamp(2, 64),
        overflow: match hw.accumulator.overflow {
            hw::Overflow::Wrap => Overflow::Wrap,
            hw::Overflow::Saturate => Overflow::Saturate,
        },
        rounding: Rounding::TfliteDouble,
    }
}

/// A deterministic synthetic input for the graph's single input: a smooth image (sums of
/// sines over x, y and channel with seeded phases, plus 10% seeded noise) spanning the
/// central 90% of the input's real range, quantized with its parameters.
pub fn synthetic_input(g: &Graph, seed: u64) -> Result<Values, ExecError> {
    let [input] = g.inputs[..] else { return Err(ExecError::Input("the graph needs exactly one input".into())) };
    let t = g.tensor(input);
    let Some((DataType::Int { bits, signed }, q, float_input)) = input_encoding(g, input) else {
        return Err(ExecError::Input(format!(
            "input '{}' is neither a quantized integer tensor nor a float tensor fed to Quantize layers",
            t.name
        )));
    };
    let (qmin, qmax) =
        if signed { fixedpoint::int_range(bits as u32) } else { (0, ((1i64 << (bits as u32).min(31)) - 1) as i32) };
    let (scale, zp) = q.channel(0);
    let scale = if scale > 0.0 { scale as f64 } else { 1.0 };
    let (lo, hi) = (scale * (qmin as f64 - zp as f64), scale * (qmax as f64 - zp as f64));
    let (mid, half) = ((lo + hi) / 2.0, (hi - lo) / 2.0 * 0.9);
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let phase = [rnd() * std::f64::consts::TAU, rnd() * std::f64::consts::TAU, rnd() * std::f64::consts::TAU];
    let shape = &t.shape;
    let c = shape.last().copied().unwrap_or(1).max(1);
    let w = if shape.len() >= 3 { shape[shape.len() - 2].max(1) } else { 1 };
    let n = t.elements() as usize;
    let v = (0..n)
        .map(|i| {
            let (ch, x, y) = (i % c, (i / c) % w, i / (c * w));
            let smooth = 0.5 * (0.11 * x as f64 + phase[0] + ch as f64).sin()
                + 0.4 * (0.07 * y as f64 + phase[1] - 0.5 * ch as f64).sin();
            let r = (smooth + 0.1 * (2.0 * rnd() - 1.0)).clamp(-1.0, 1.0);
            let real = mid + half * r;
            ((real / scale).round() as i64 + zp).clamp(qmin as i64, qmax as i64) as i32
        })
        .collect::<Vec<i32>>();
    if float_input {
        // A float input that the graph quantizes itself: give it values on the quantization
        // grid, so the float reference and the quantized graph see the same image.
        return Ok(Values::F32(v.iter().map(|&x| (scale * (x as i64 - zp) as f64) as f32).collect()));
    }
    Ok(Values::Int(v))
}

fn to_f32(g: &Graph, vals: &[Option<Values>]) -> Vec<Option<Values>> {
    vals.iter()
        .zip(&g.tensors)
        .map(|(v, t)| match v {
            Some(Values::Int(x)) => t.quant.as_ref().map(|q| Values::F32(dequantize_per_tensor(x, q))),
            other => other.clone(),
        })
        .collect()
}

fn output_f32(g: &Graph, vals: &[Option<Values>]) -> Option<Vec<f32>> {
    let o = *g.outputs.first()?;
    kernels::value_of(vals, o)?.real(g.tensor(o).quant.as_ref())
}

/// Runs `g` on `input` three ways — with `arith` (the hardware), with LiteRT's arithmetic
/// (ideal) and in float32 on the dequantized input — and compares them.
pub fn evaluate(g: &Graph, arith: Arithmetic, input: Values, input_desc: &str) -> Result<Accuracy, ExecError> {
    let [input_id] = g.inputs[..] else { return Err(ExecError::Input("the graph needs exactly one input".into())) };
    let t = g.tensor(input_id);
    let real = input.real(t.quant.as_ref()).ok_or_else(|| ExecError::Input("the input is not quantized".into()))?;
    let hw_run = Executor::new(g, arith)?.run(std::slice::from_ref(&input))?;
    let ideal_run = Executor::new(g, Arithmetic::default())?.run(std::slice::from_ref(&input))?;
    let float_run = kernels::run_float(g, &[real])?;
    let ideal_f = to_f32(g, &ideal_run);
    let vs_float = layer_sqnr(g, &hw_run, &float_run);
    let vs_ideal = layer_sqnr(g, &hw_run, &ideal_f);
    let layers = vs_float
        .iter()
        .map(|l| LayerAccuracy {
            layer: l.layer.clone(),
            sqnr_db: l.sqnr_db,
            sqnr_vs_ideal_db: vs_ideal.iter().find(|i| i.layer == l.layer).map_or(f64::NAN, |i| i.sqnr_db),
        })
        .collect();
    let missing = || ExecError::Input("the output was not computed".into());
    let hw_out = output_f32(g, &hw_run).ok_or_else(missing)?;
    let ideal_out = output_f32(g, &ideal_run).ok_or_else(missing)?;
    let float_out = output_f32(g, &float_run).ok_or_else(missing)?;
    let depth = g.outputs.first().and_then(|&o| g.tensor(o).shape.last().copied()).unwrap_or(1);
    Ok(Accuracy {
        input: input_desc.to_string(),
        arithmetic: arith,
        layers,
        output_sqnr_db: sqnr_db(&float_out, &hw_out),
        output_sqnr_vs_ideal_db: sqnr_db(&ideal_out, &hw_out),
        top1_agreement: top1_agreement(&hw_out, &float_out, depth),
        top1_agreement_vs_ideal: top1_agreement(&hw_out, &ideal_out, depth),
    })
}
