//! The properties the reader and command-path fuzz targets check, as plain functions of the
//! input bytes: the libFuzzer targets call them, and the root test suite
//! (`tests/fuzz_corpus.rs`) replays every committed corpus file through the same
//! functions, so CI runs each target's corpus on stable Rust without libFuzzer.
//!
//! Each takes any bytes; it must return (never panic, never allocate from an unchecked
//! size, never hang), and what it returns must be valid: an error names the file, a loaded
//! graph is valid, executes or is refused with an error, and costs to finite numbers.
#![allow(dead_code)]

#[path = "gen_onnx.rs"]
pub mod gen_onnx;

use accelsim::import::{aqm, model_file, npy, LoadOptions};
use accelsim::ir::{Graph, TensorKind};
use accelsim::kernels::{Arithmetic, Executor};
use accelsim::quant::{assign_uniform, Precision};

/// Largest graph (total tensor elements) a check executes: fuzzing wants many small runs.
const MAX_EXEC_ELEMENTS: u64 = 1 << 16;

/// Costs `g` on the systolic32 preset at w8a8; every layer must be finite.
pub fn cost_is_finite(mut g: Graph) {
    let hw = accelsim::hw::load_hw("systolic32", &[]).expect("preset");
    assign_uniform(&mut g, Precision { weight_bits: 8, activation_bits: 8 }, 32);
    if let Ok(r) = accelsim::pipeline::run(&g, &hw) {
        for l in &r.layers {
            assert!(l.energy.total().get().is_finite() && l.latency.0.is_finite(), "{}", l.name);
        }
    }
}

fn small(g: &Graph) -> bool {
    g.tensors
        .iter()
        .map(|t| t.elements())
        .try_fold(0u64, |a, n| a.checked_add(n))
        .is_some_and(|n| n <= MAX_EXEC_ELEMENTS)
}

/// Executes a small graph on its seeded synthetic input (integer or float path): errors
/// are fine, panics are not; integer outputs stay in their type's range.
pub fn executes(g: &Graph) {
    if !small(g) || accelsim::accuracy::unsupported_reason(g).is_some() {
        return;
    }
    let Ok(x) = accelsim::accuracy::synthetic_input(g, 1) else { return };
    let Ok(exec) = Executor::new(g, Arithmetic::default()) else { return };
    if let Ok(vals) = exec.run(&[x]) {
        for &o in &g.outputs {
            let t = g.tensor(o);
            if let (Some(accelsim::kernels::Values::Int(v)), accelsim::ir::DataType::Int { bits, signed }) =
                (&vals[o.0], t.dtype)
            {
                let bits = u32::from(bits).min(32);
                let (lo, hi) =
                    if signed { (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1) } else { (0, (1i64 << bits) - 1) };
                assert!(v.iter().all(|&x| (lo..=hi).contains(&(x as i64))), "output '{}' out of {}", t.name, t.dtype);
            }
        }
    }
}

/// `.aqm` reader: a valid graph (costed, executed) or an error naming the file.
pub fn aqm_bytes(data: &[u8]) {
    match aqm::from_bytes(data, "fuzz.aqm") {
        Ok(g) => {
            executes(&g);
            cost_is_finite(g);
        }
        Err(e) => assert!(e.to_string().contains("fuzz.aqm"), "{e}"),
    }
}

/// `.npy` reader: finite float32 values, exactly the shape's count, or an error naming the file.
pub fn npy_bytes(data: &[u8]) {
    match npy::parse_npy_f32(data, "fuzz.npy") {
        Ok(a) => {
            assert_eq!(a.len(), a.shape().iter().product::<usize>());
            assert!(a.iter().all(|x| x.is_finite()));
        }
        Err(e) => assert!(e.to_string().contains("fuzz.npy"), "{e}"),
    }
}

/// `.tflite` import followed by execution of the imported graph.
pub fn tflite_exec_bytes(data: &[u8]) {
    match accelsim::import::tflite::import_tflite_bytes(data, "fuzz.tflite") {
        Ok(m) => executes(&m.graph),
        Err(e) => assert!(e.to_string().contains("fuzz.tflite"), "{e}"),
    }
}

/// `.onnx` import followed by execution of the imported graph.
pub fn onnx_exec_bytes(data: &[u8]) {
    match accelsim::import::onnx::import_onnx_bytes(data, "fuzz.onnx") {
        Ok(g) => executes(&g),
        Err(e) => assert!(e.to_string().contains("fuzz.onnx"), "{e}"),
    }
}

/// The `quantize` command path on a model TOML: the first two bytes choose the widths, the
/// rest is the model. A small float graph is calibrated on synthetic inputs, quantized,
/// validated, written as `.aqm` and read back identically, and executed.
pub fn quantize_bytes(data: &[u8]) {
    let [w, a, rest @ ..] = data else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let Ok(mut g) = model_file::parse("fuzz.toml", text, &LoadOptions::default()) else { return };
    if !small(&g) {
        return;
    }
    accelsim::quant::synthetic::materialize(&mut g, 1);
    let [input] = g.inputs[..] else { return };
    let n = g.tensor(input).elements() as usize;
    let inputs = accelsim::quant::synthetic::uniform_inputs(2, n, 7);
    let Ok(cal) = accelsim::quant::calib::calibrate(&g, &inputs) else { return };
    let cfg = accelsim::quant::ptq::PtqConfig {
        // Group-wise fully connected weights (groups of 1..=64) on one seed in two.
        widths: accelsim::quant::WidthPlan::uniform(
            &g,
            Precision { weight_bits: 2 + w % 15, activation_bits: 2 + a % 15 },
        )
        .with_weight_groups(
            (w & 0x40 != 0)
                .then(|| accelsim::quant::weight_groups("group", 1 + i64::from(*a) % 64, 0).expect("1..=64")),
        ),
        per_channel: w & 0x80 != 0,
        symmetric_weights: a & 0x80 != 0,
        weight_method: accelsim::quant::clip::ClipMethod::MinMax,
        act_method: accelsim::quant::clip::ClipMethod::MinMax,
        bias_correction: false,
        litert: false,
    };
    if let Ok(q) = accelsim::quant::ptq::quantize_graph(&g, &cal, &cfg) {
        q.validate().expect("a quantized graph is valid");
        assert!(q.tensors.iter().filter(|t| t.kind == TensorKind::Weight).all(|t| t.quant.is_some()));
        let back = aqm::from_bytes(&aqm::to_bytes(&q), "fuzz.aqm").expect("own .aqm reads back");
        assert_eq!(back.tensors.len(), q.tensors.len());
        executes(&q);
    }
}

/// Sweep TOML: a plan whose point count is countable, whose points decode, or an error.
pub fn sweep_config_bytes(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match accelsim::sweep::SweepSpec::from_toml("fuzz.toml", text) {
        Ok(spec) => {
            let n = spec.checked_len().expect("a checked plan has a countable number of points");
            if n > 0 {
                let _ = (spec.point(0), spec.point(n - 1));
                let _ = accelsim::sweep::run::used_by_range(&spec, n / 2..n);
            }
        }
        Err(e) => assert!(e.to_string().contains("fuzz.toml"), "{e}"),
    }
}

/// `plot` input: every figure kind draws or returns an error, never panics or hangs.
pub fn plot_csv_bytes(data: &[u8]) {
    use accelsim::plot::{svg, PlotKind, PlotOptions, Table};
    let Ok(text) = std::str::from_utf8(data) else { return };
    // CSV or JSON, chosen as `accelsim plot` does (by the first character).
    let t = if text.trim_start().starts_with('[') { Table::from_json(text) } else { Table::from_csv(text) };
    let Ok(t) = t else { return };
    if t.rows.len() > 64 {
        return;
    }
    for kind in [
        PlotKind::LatencyVsBits,
        PlotKind::EnergyBreakdown,
        PlotKind::PerLayer,
        PlotKind::Roofline,
        PlotKind::Pareto,
        PlotKind::Speedup,
    ] {
        let _ = svg(&t, &PlotOptions::new(kind));
    }
}

/// `compare` input: two JSON documents separated by a NUL byte; a table or an error.
pub fn compare_json_bytes(data: &[u8]) {
    let mut parts = data.splitn(2, |&b| b == 0);
    let (Some(a), Some(b)) = (parts.next(), parts.next()) else { return };
    let (Ok(a), Ok(b)) = (serde_json::from_slice(a), serde_json::from_slice(b)) else { return };
    for f in [accelsim::report::compare::CompareFormat::Markdown, accelsim::report::compare::CompareFormat::Latex] {
        let _ = accelsim::report::compare::compare(&a, &b, f);
    }
}

/// Structure-aware TFLite generator: the bytes choose a small network (conv, depthwise,
/// pooling, add, fully connected layers with their sizes and activations), which is
/// quantized to int8 with LiteRT's conventions, exported as a `.tflite`, imported back and
/// executed: the imported model must compute exactly what the in-memory quantized graph
/// computes.
pub fn tflite_roundtrip_bytes(data: &[u8]) {
    let Some(text) = generated_model(data) else { return };
    let Ok(mut g) = model_file::parse("gen.toml", &text, &LoadOptions::default()) else { return };
    accelsim::quant::synthetic::materialize(&mut g, 3);
    let [input] = g.inputs[..] else { return };
    let n = g.tensor(input).elements() as usize;
    let Ok(cal) = accelsim::quant::calib::calibrate(&g, &accelsim::quant::synthetic::uniform_inputs(2, n, 5)) else {
        return;
    };
    let cfg = accelsim::quant::ptq::PtqConfig {
        widths: accelsim::quant::WidthPlan::uniform(&g, Precision { weight_bits: 8, activation_bits: 8 }),
        per_channel: data.first().is_some_and(|b| b & 1 == 1),
        symmetric_weights: true,
        weight_method: accelsim::quant::clip::ClipMethod::MinMax,
        act_method: accelsim::quant::clip::ClipMethod::MinMax,
        bias_correction: false,
        litert: true,
    };
    let Ok(q) = accelsim::quant::ptq::quantize_graph(&g, &cal, &cfg) else { return };
    let Ok(bytes) = accelsim::export::tflite::to_tflite(&q) else { return };
    let m = accelsim::import::tflite::import_tflite_bytes(&bytes, "gen.tflite").expect("own export imports");
    let (Ok(x), Ok(e1), Ok(e2)) = (
        accelsim::accuracy::synthetic_input(&m.graph, 9),
        Executor::new(&q, Arithmetic::default()),
        Executor::new(&m.graph, Arithmetic::default()),
    ) else {
        return;
    };
    let (Ok(a), Ok(b)) = (e1.run(std::slice::from_ref(&x)), e2.run(&[x])) else { return };
    let outs = |g: &Graph, v: &[Option<accelsim::kernels::Values>]| -> Vec<_> {
        g.outputs.iter().map(|o| v[o.0].clone()).collect()
    };
    if q.inputs.len() == 1 && q.tensor(q.inputs[0]).dtype == m.graph.tensor(m.graph.inputs[0]).dtype {
        assert_eq!(outs(&q, &a), outs(&m.graph, &b), "exported model computes differently");
    }
}

/// Structure-aware ONNX generator ([`gen_onnx`]): the bytes choose a small float CNN written
/// in two equivalent forms (as exporters write it, with BatchNormalization, Gemm alpha/beta
/// and transB, MatMul + Add, Identity, Dropout and Clip; and folded by the generator). Both
/// must import to the same number of layers, execute in float to the same outputs (up to
/// f32 rounding of the folding) and cost exactly the same.
pub fn onnx_gen_bytes(data: &[u8]) {
    let Some(pair) = gen_onnx::generate(data) else { return };
    let import = |b: &[u8], name: &str| {
        accelsim::import::onnx::import_onnx_bytes(b, name)
            .unwrap_or_else(|e| panic!("a generated model must import: {e}"))
    };
    let (a, f) = (import(&pair.exported, "exported.onnx"), import(&pair.folded, "folded.onnx"));
    assert_eq!(a.layers.len(), f.layers.len(), "the exported form imports to other layers than the folded one");
    let n: usize = pair.input.iter().product();
    let mut s = 0x2545_F491_4F6C_DD1Du64 ^ data.len() as u64;
    let x: Vec<f32> = (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % 2001) as f32 / 1000.0 - 1.0
        })
        .collect();
    let run = |g: &Graph| {
        accelsim::kernels::run_float(g, std::slice::from_ref(&x))
            .unwrap_or_else(|e| panic!("a generated model must execute: {e}"))
    };
    let (va, vf) = (run(&a), run(&f));
    for (oa, of) in a.outputs.iter().zip(&f.outputs) {
        let (Some(accelsim::kernels::Values::F32(ya)), Some(accelsim::kernels::Values::F32(yf))) =
            (&va[oa.0], &vf[of.0])
        else {
            panic!("float outputs expected");
        };
        assert_eq!(ya.len(), yf.len());
        let scale = yf.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (i, (p, q)) in ya.iter().zip(yf).enumerate() {
            assert!(p.is_finite() && (p - q).abs() <= 1e-3 * scale, "output {i}: exported {p}, folded {q}");
        }
    }
    let hw = accelsim::hw::load_hw("systolic32", &[]).expect("preset");
    let cost = |mut g: Graph| {
        assign_uniform(&mut g, Precision { weight_bits: 8, activation_bits: 8 }, 32);
        accelsim::pipeline::run(&g, &hw).map(|r| r.totals.cycles).map_err(|e| e.to_string())
    };
    assert_eq!(cost(a), cost(f), "the two forms cost differently");
}

/// A model TOML chosen by `data`: an input of 1..=8 square pixels and 1..=4 channels, then
/// up to 6 layers.
fn generated_model(data: &[u8]) -> Option<String> {
    let mut it = data.iter().copied();
    let mut next = || it.next();
    let hw = 1 + next()? as usize % 8;
    let c = 1 + next()? as usize % 4;
    let mut s = format!("name = \"gen\"\ninput = {{ name = \"input\", shape = [1, {hw}, {hw}, {c}] }}\n");
    let acts = ["none", "relu", "relu6"];
    let mut prev: Option<String> = None;
    for i in 0..6 {
        let Some(op) = next() else { break };
        let arg = next().unwrap_or(0) as usize;
        let act = acts[arg % 3];
        let layer = match op % 6 {
            0 => format!(
                "op = \"conv2d\"\nfilters = {}\nkernel = {}\nstride = {}\npadding = \"same\"\nactivation = \"{act}\"\n",
                1 + arg % 8,
                1 + arg % 3,
                1 + (arg >> 3) % 2
            ),
            1 => format!("op = \"depthwise\"\nkernel = 3\nstride = 1\npadding = \"same\"\nactivation = \"{act}\"\n"),
            2 => "op = \"maxpool\"\nkernel = 2\nstride = 2\npadding = \"same\"\n".into(),
            3 => "op = \"avgpool\"\nkernel = 2\nstride = 2\npadding = \"same\"\n".into(),
            4 => match &prev {
                Some(p) => format!("op = \"add\"\ninputs = [\"{p}\", \"{p}\"]\n"),
                None => continue,
            },
            _ => format!("op = \"fc\"\nunits = {}\nactivation = \"{act}\"\n", 1 + arg % 10),
        };
        let name = format!("l{i}");
        s += &format!("\n[[layer]]\nname = \"{name}\"\n{layer}");
        prev = Some(name);
    }
    prev.map(|_| s)
}

fn hw_is_valid(hw: &accelsim::hw::HwDesc) {
    assert!(hw.clock.0 > 0.0 && hw.clock.0.is_finite());
    assert!(hw.dram_bytes_per_cycle() > 0.0 && hw.dram_bytes_per_cycle().is_finite());
    assert!(!hw.precisions.is_empty() && !hw.buffers.is_empty());
}

/// Accelerator TOML: a valid description or an error naming the file.
pub fn hw_toml_bytes(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match accelsim::hw::parse_hw("fuzz.toml", text, &[]) {
        Ok(hw) => hw_is_valid(&hw),
        Err(e) => assert!(e.to_string().starts_with("fuzz.toml:"), "{e}"),
    }
}

/// SCALE-Sim `.cfg`: a valid description or an error naming the file.
pub fn scalesim_cfg_bytes(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match accelsim::hw::scalesim_cfg::parse("fuzz.cfg", text, &[]) {
        Ok(hw) => hw_is_valid(&hw),
        Err(e) => assert!(e.to_string().starts_with("fuzz.cfg"), "{e}"),
    }
}

/// Model TOML: a valid graph, costed to finite numbers, or an error naming the file.
pub fn model_toml_bytes(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match model_file::parse("fuzz.toml", text, &LoadOptions::default()) {
        Ok(g) => cost_is_finite(g),
        Err(e) => assert!(e.to_string().starts_with("fuzz.toml:"), "{e}"),
    }
}

/// SCALE-Sim topology CSV: a graph, costed to finite numbers, or an error naming the file.
pub fn scalesim_topology_bytes(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match accelsim::import::scalesim::parse("fuzz.csv", text) {
        Ok(g) => cost_is_finite(g),
        Err(e) => assert!(e.to_string().starts_with("fuzz.csv"), "{e}"),
    }
}

/// `.tflite`: a validated graph, prepared for execution and costed, or an error naming the file.
pub fn tflite_bytes(data: &[u8]) {
    match accelsim::import::tflite::import_tflite_bytes(data, "fuzz.tflite") {
        Ok(m) => {
            let _ = Executor::new(&m.graph, Arithmetic::default());
            cost_is_finite(m.graph);
        }
        Err(e) => assert!(e.to_string().contains("fuzz.tflite"), "{e}"),
    }
}

/// `.onnx`: a validated graph, costed, or an error naming the file.
pub fn onnx_bytes(data: &[u8]) {
    match accelsim::import::onnx::import_onnx_bytes(data, "fuzz.onnx") {
        Ok(g) => cost_is_finite(g),
        Err(e) => assert!(e.to_string().contains("fuzz.onnx"), "{e}"),
    }
}

/// Numeric fields `--set` can reach in the presets (some only in some presets), for
/// [`pipeline`].
const PIPELINE_FIELDS: &[&str] = &[
    "clock_mhz",
    "accumulator_bits",
    "mac.rows",
    "mac.cols",
    "nvdla.atomic_c",
    "nvdla.atomic_k",
    "nvdla.stripe",
    "nvdla.weight_load_cycles",
    "nvdla.pdp_elements_per_cycle",
    "dsp.vector_bits",
    "dsp.hvx_contexts",
    "dsp.invocation_overhead_us",
    "precision.0.macs_per_cycle",
    "precision.0.weight_bits",
    "precision.0.energy_pj_per_mac",
    "buffer.0.size_kib",
    "buffer.1.size_kib",
    "buffer.2.size_kib",
    "buffer.0.banks",
    "buffer.0.port_bits",
    "dram.bandwidth_gbps",
    "dram.efficiency",
    "dram.latency_ns",
    "vector.elements_per_cycle",
];

/// The `pipeline` target's input: a preset, a built-in network, widths, width multiplier,
/// resolution and up to four `--set` overrides, each chosen by index.
#[derive(arbitrary::Arbitrary, Debug)]
pub struct PipelineInput {
    hw: u8,
    model: u8,
    wbits: u8,
    abits: u8,
    width: Option<u8>,
    resolution: Option<u16>,
    sets: Vec<(u8, f64)>,
}

/// `pipeline`'s bytes decoded as libFuzzer's typed targets decode them (`None`: too short,
/// or not decodable; the target skips those and libFuzzer keeps none in the corpus).
pub fn pipeline_input(data: &[u8]) -> Option<PipelineInput> {
    use arbitrary::{Arbitrary, Unstructured};
    if data.len() < PipelineInput::size_hint(0).0 {
        return None;
    }
    PipelineInput::arbitrary_take_rest(Unstructured::new(data)).ok()
}

/// [`pipeline`] of the bytes decoded ([`pipeline_input`]; skipped when they do not decode).
pub fn pipeline_bytes(data: &[u8]) {
    if let Some(i) = pipeline_input(data) {
        pipeline(i);
    }
}

/// The cost pipeline on a preset with overrides and a built-in network: a report with
/// finite numbers or an error.
pub fn pipeline(i: PipelineInput) {
    use accelsim::import::{builtin, load_model};
    let presets = accelsim::hw::presets::names();
    let models = builtin::names();
    let hw_name = presets[i.hw as usize % presets.len()];
    let model = models[i.model as usize % models.len()];
    let sets: Vec<(String, f64)> = i
        .sets
        .iter()
        .take(4)
        .map(|(f, v)| (PIPELINE_FIELDS[*f as usize % PIPELINE_FIELDS.len()].to_string(), *v))
        .collect();
    let Ok(hw) = accelsim::hw::load_hw(hw_name, &sets) else { return };
    let width = i.width.map(|w| w as f64 / 64.0).unwrap_or(1.0);
    let opts = LoadOptions { width, resolution: i.resolution.map(|r| r as usize), ..Default::default() };
    let Ok(mut g) = load_model(model, &opts) else { return };
    let (Ok(wb), Ok(ab)) = (
        accelsim::quant::check_width("--wbits", i.wbits as i64),
        accelsim::quant::check_width("--abits", i.abits as i64),
    ) else {
        return;
    };
    let acc = hw.accumulator.bits.min(64) as u8;
    assign_uniform(&mut g, Precision { weight_bits: wb, activation_bits: ab }, acc);
    if let Ok(r) = accelsim::pipeline::run(&g, &hw) {
        for l in &r.layers {
            assert!(l.energy.total().get().is_finite() && l.latency.0.is_finite(), "{}", l.name);
            assert!(l.utilization.is_finite(), "{}", l.name);
        }
        assert!(r.totals.energy.total().get().is_finite());
    }
}
