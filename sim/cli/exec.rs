//! `accelsim exec`: runs a `.tflite` model bit-exactly on one raw input and writes the raw
//! output, optionally dumping every intermediate tensor. Inputs and outputs are raw
//! little-endian NHWC in the tensor's element type, as in the LiteRT golden files. ONNX
//! models (float, or quantized in QDQ form) take float32, and since a raw file does not
//! say its layout, a rank-4 ONNX input needs `--layout nchw` (the ONNX tensor as is: it is
//! transposed to the IR's NHWC, and rank-4 outputs back to NCHW) or `--layout nhwc`.
//!
//! A batch is one process: `--input X.npy` (float32 `[N, ...]`, each item the model input
//! without its batch dimension, in the layout of `--layout`) runs the N items (in
//! parallel) and writes their outputs one after another, exactly as N runs on the items'
//! raw files would. An integer input takes the float items quantized with the input's
//! parameters as TFLite's QUANTIZE does (`round(x / scale) + zero point`, half away from
//! zero, clamped to the type).
//!
//! A stateful model (resource variables: the graph's states) runs its inputs as steps, in
//! order, on one state that starts from the states' initial values, as LiteRT invoking one
//! interpreter repeatedly: several raw `--input` files, a `.npy` holding one step per item,
//! or both; every step's outputs are written one after another (`--dump`: the last step's
//! tensors).

use std::path::{Path, PathBuf};

use super::output::{write_output, Input};
use crate::import::tflite::import_tflite;
use crate::ir::{DataType, Graph, Tensor};
use crate::kernels::io::{input_from_f32, transpose_values};
use crate::kernels::{Arithmetic, ExecError, Executor, States, Values, View};
use miette::{miette, IntoDiagnostic, WrapErr};

/// Arguments of `accelsim exec`.
#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    /// The model: `.tflite`, `.onnx` (float, or QDQ-quantized: runs on the integer kernels),
    /// or `.aqm` (from `accelsim quantize`).
    #[arg(long)]
    pub model: PathBuf,
    /// Raw little-endian input tensor (the model input's element type), in the layout of
    /// --layout (NHWC for `.tflite` and `.aqm`); or a batch: float32 `.npy` `[N, ...]`
    /// whose N outputs are written one after another. For a stateful model (resource
    /// variables) the inputs are steps run in order on one state: repeat --input for
    /// several raw files, a `.npy` holding one step per item; every step's output is written.
    #[arg(long, required = true)]
    pub input: Vec<PathBuf>,
    /// Layout of rank-4 input and output files: `nhwc` (the default for `.tflite` and
    /// `.aqm`) or `nchw`. Required for `.onnx` models with an NCHW input (raw files cannot
    /// tell); an ONNX input stored NHWC (tf2onnx's) is read as NHWC only.
    #[arg(long, value_enum)]
    pub layout: Option<Layout>,
    /// Where to write the raw output tensor(s), concatenated in output order (for a batch,
    /// item after item).
    #[arg(long)]
    pub output: PathBuf,
    /// Directory to write every computed tensor into (`tNNNN_<name>.bin` plus `index.json`).
    #[arg(long)]
    pub dump: Option<PathBuf>,
    /// Shape of an ONNX input with dynamic dimensions, in the model's order
    /// (`NAME=1x3x224x224`); repeat for several inputs.
    #[arg(long = "input-shape", value_name = "NAME=DIMS")]
    pub input_shapes: Vec<crate::import::InputShape>,
    /// Worker threads for a batch (default: all cores): its images run in parallel, each
    /// on one thread; the output is the same for any number.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print on standard error which instruction set the integer kernels run on (the best
    /// this CPU has: AMX-INT8, AVX-512 VNNI, AVX2 or portable code; all give the same results).
    #[arg(long)]
    pub show_kernels: bool,
}

/// The layout of a rank-4 raw tensor file.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// [N, H, W, C], as the IR and LiteRT store it.
    Nhwc,
    /// [N, C, H, W], as ONNX defines it.
    Nchw,
}

/// Largest total size of the activations `exec` holds (every computed tensor is kept, for
/// `--dump`, as 4-byte values): a model whose shapes claim more is rejected before anything
/// is allocated from them.
const MAX_ACTIVATION_BYTES: u64 = 1 << 31;

/// Rejects a model whose activation shapes (fields of the file, not backed by its bytes)
/// would make the executor allocate more than [`MAX_ACTIVATION_BYTES`].
fn check_activation_sizes(model: &Path, g: &Graph) -> miette::Result<()> {
    let mut total = 0u64;
    for t in g.tensors.iter().filter(|t| t.data.is_none()) {
        let bytes = t.shape.iter().try_fold(4u64, |a, &d| a.checked_mul(d as u64));
        total = match bytes.and_then(|b| total.checked_add(b)) {
            Some(b) if b <= MAX_ACTIVATION_BYTES => b,
            _ => {
                return Err(miette!(
                    "'{}': too large to execute: tensor '{}' of shape {:?} brings its activations over {} GiB",
                    model.display(),
                    t.name,
                    t.shape,
                    MAX_ACTIVATION_BYTES >> 30
                ))
            }
        };
    }
    Ok(())
}

/// Element width in bytes of a tensor as stored in raw files.
fn width(dtype: DataType) -> usize {
    match dtype {
        DataType::F32 => 4,
        DataType::F16 => 2,
        DataType::Int { bits, .. } => (bits as usize).div_ceil(8).next_power_of_two(),
    }
}

/// Reads the raw input file `path` (option `flag`) of tensor `t`: exactly the tensor's
/// size, known before reading, so an endless or huge file is refused without being read.
pub(crate) fn read_input(flag: &str, path: &Path, t: &Tensor) -> miette::Result<Values> {
    let w = width(t.dtype) as u64;
    let expected =
        t.shape.iter().try_fold(w, |a, &d| a.checked_mul(d as u64)).filter(|&b| b <= MAX_ACTIVATION_BYTES).ok_or_else(
            || {
                miette!(
                    "{flag} {}: input '{}' of shape {:?} is larger than the {} GiB accepted",
                    path.display(),
                    t.name,
                    t.shape,
                    MAX_ACTIVATION_BYTES >> 30
                )
            },
        )?;
    let bytes = crate::bounded_read::read_exactly(path, expected).map_err(|e| {
        miette!(
            "{flag} {}: input '{}' has shape {:?} of {} ({expected} bytes): {e}",
            path.display(),
            t.name,
            t.shape,
            t.dtype
        )
    })?;
    decode(t, &bytes)
}

/// Checks that an array of `shape` with `n` items is a batch of items of input
/// `t`: `[N, ...]` with N >= 1 and each item `t`'s shape without its batch dimension of 1
/// (NCHW for a rank-4 input read in `layout` NCHW).
pub fn check_batch_shape(t: &Tensor, layout: Layout, shape: &[usize], n: usize) -> Result<(), String> {
    if let Some(&b) = t.shape.first().filter(|&&b| b != 1) {
        return Err(format!(
            "input '{}' has a batch of {b} built in (shape {:?}); an array of items is read for inputs of batch 1 only: give the whole tensor as a raw file",
            t.name, t.shape
        ));
    }
    let mut item: Vec<usize> = t.shape.iter().skip(1).copied().collect();
    if layout == Layout::Nchw && item.len() == 3 {
        item = vec![item[2], item[0], item[1]];
    }
    if shape.len() != item.len() + 1 || shape[1..] != item[..] || t.shape.first() != Some(&1) || n == 0 {
        return Err(format!(
            "a batch of shape {shape:?} does not hold items of input '{}' (shape {:?}{}): expected [N, {}] with N >= 1",
            t.name,
            t.shape,
            if layout == Layout::Nchw { ", read as NCHW" } else { "" },
            item.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(())
}

/// Reads a batch input file (`.npy`, float32 `[N, ...]`): each item must have the shape of
/// input `t` without its batch dimension (in `layout` for rank-4 inputs). Items become
/// executor values: float as they are, integer quantized with `t`'s parameters as TFLite's
/// QUANTIZE does.
fn read_batch(path: &Path, t: &Tensor, layout: Layout) -> miette::Result<Vec<Values>> {
    let a = crate::import::npy::map_npy_f32(path).map_err(miette::Report::new)?;
    let n = a.shape().first().copied().unwrap_or(0);
    check_batch_shape(t, layout, a.shape(), n).map_err(|e| miette!("--input {}: {e}", path.display()))?;
    if let Err(e) = input_from_f32(t, Vec::new()) {
        return Err(miette!("--input {}: {e}; give a raw file", path.display()));
    }
    let chw = layout == Layout::Nchw && t.shape.len() == 4;
    let item_shape = &a.shape()[1..];
    // Each item decoded from the file's bytes, checked and quantized on the current rayon
    // pool's workers (`exec`'s `--threads` pool): decoding the whole file first was 10-15%
    // of a 64-image run on one thread, all of it serial. The first error in item order is
    // reported, as a whole-file check would.
    use rayon::prelude::*;
    (0..n)
        .into_par_iter()
        .map(|i| {
            let x = a.item(i).map_err(miette::Report::new)?;
            let x = if chw && item_shape.len() == 3 {
                let view = ndarray::ArrayViewD::from_shape(item_shape, &x).into_diagnostic()?;
                crate::kernels::io::batch_item(view, true)
            } else {
                x
            };
            input_from_f32(t, x).map_err(|e| miette!("--input {}: {e}", path.display()))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .collect()
}

/// Decodes raw bytes already checked to hold `t`'s elements.
fn decode(t: &Tensor, bytes: &[u8]) -> miette::Result<Values> {
    let w = width(t.dtype);
    Ok(match (t.dtype, w) {
        (DataType::F32, _) => {
            Values::F32(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
        }
        (DataType::Int { signed: false, .. }, 1) => Values::Int(bytes.iter().map(|&b| b as i32).collect()),
        (DataType::Int { .. }, 1) => Values::Int(bytes.iter().map(|&b| b as i8 as i32).collect()),
        (DataType::Int { .. }, 2) => {
            Values::Int(bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]]) as i32).collect())
        }
        (DataType::Int { .. }, 4) => {
            Values::Int(bytes.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
        }
        _ => return Err(miette!("input '{}': unsupported element type {}", t.name, t.dtype)),
    })
}

fn encode(t: &Tensor, v: &Values, out: &mut Vec<u8>) {
    match v.view() {
        View::F32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        View::Int(v) => match width(t.dtype) {
            1 => out.extend(v.iter().map(|&x| x as u8)),
            2 => v.iter().for_each(|&x| out.extend_from_slice(&(x as i16).to_le_bytes())),
            _ => v.iter().for_each(|&x| out.extend_from_slice(&x.to_le_bytes())),
        },
    }
}

fn sanitize(name: &str) -> String {
    let s: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' }).collect();
    s.chars().take(80).collect()
}

fn dump(graph: &Graph, vals: &[Option<Values>], dir: &Path, inputs: &[Input]) -> miette::Result<()> {
    std::fs::create_dir_all(dir).into_diagnostic().wrap_err_with(|| format!("creating {}", dir.display()))?;
    let mut index = Vec::new();
    for (i, (t, v)) in graph.tensors.iter().zip(vals).enumerate() {
        let Some(v) = v else { continue };
        let file = format!("t{i:04}_{}.bin", sanitize(&t.name));
        let mut bytes = Vec::new();
        encode(t, v, &mut bytes);
        write_output("--dump", &dir.join(&file), &bytes, inputs).map_err(miette::Report::new)?;
        let (scale, zp) = t.quant.as_ref().map_or((None, None), |q| (Some(q.scales[0]), Some(q.zero_points[0])));
        index.push(serde_json::json!({
            "index": i, "name": t.name, "file": file, "shape": t.shape,
            "dtype": t.dtype.to_string(), "scale": scale, "zero_point": zp,
        }));
    }
    let json = serde_json::to_vec_pretty(&serde_json::json!({ "tensors": index })).into_diagnostic()?;
    write_output("--dump", &dir.join("index.json"), &json, inputs).map_err(miette::Report::new)
}

/// The most MACs `run` simulates for its accuracy note when not given an input: the float
/// reference and the accelerator's arithmetic each execute every MAC, so this keeps the
/// note to seconds (ResNet-50 at 224x224 is 4.1 G MACs).
const UNASKED_ACCURACY_MACS: u64 = 8_000_000_000;

/// The most tensor-value bytes (as 4-byte values, [`crate::kernels::value_bytes`]) `run`
/// simulates unasked: the evaluation holds several copies of every tensor.
const UNASKED_ACCURACY_BYTES: u64 = 512 << 20;

/// Why `g` is too large for `run`'s accuracy note unless an input asks for it, if it is.
fn too_costly_unasked(g: &Graph) -> Option<String> {
    let macs = g.total_macs().get();
    let bytes = crate::kernels::value_bytes(g).unwrap_or(u64::MAX);
    (macs > UNASKED_ACCURACY_MACS || bytes > UNASKED_ACCURACY_BYTES).then(|| {
        format!(
            "the network's {:.1} G MACs and {} MiB of tensor values pass what run simulates unasked ({} G MACs, {} MiB)",
            macs as f64 / 1e9,
            bytes >> 20,
            UNASKED_ACCURACY_MACS / 1_000_000_000,
            UNASKED_ACCURACY_BYTES >> 20
        )
    })
}

/// Runs the functional accuracy evaluation of `accelsim run` (see [`crate::accuracy`]) on
/// a model with real weights and attaches it to the report; other models get a note saying
/// why it was skipped. `input` is a raw file as for `exec`; without it, a seeded synthetic
/// input is used.
pub(crate) fn attach_accuracy(
    report: &mut crate::report::RunReport,
    g: &Graph,
    hw: &crate::hw::HwDesc,
    input: Option<&Path>,
) -> miette::Result<()> {
    use crate::accuracy;
    if let Some(reason) = accuracy::unsupported_reason(g) {
        if let Some(p) = input {
            return Err(miette!("--input {}: no functional run is possible: {reason}", p.display()));
        }
        report.notes.push(format!("accuracy (SQNR) not evaluated: {reason}"));
        return Ok(());
    }
    if input.is_none() {
        if let Some(reason) = too_costly_unasked(g) {
            report.notes.push(format!("accuracy (SQNR) not evaluated: {reason}; give --input to evaluate it"));
            return Ok(());
        }
    }
    let (x, desc) = match input {
        Some(p) => (read_input("--input", p, g.tensor(g.inputs[0]))?, p.display().to_string()),
        None => (accuracy::synthetic_input(g, 1).into_diagnostic()?, "synthetic (seed 1)".to_string()),
    };
    match accuracy::evaluate(g, accuracy::arithmetic_of(hw), x, &desc) {
        Ok(a) => report.accuracy = Some(a),
        Err(e) => report.notes.push(format!("accuracy (SQNR) not evaluated: {e}")),
    }
    Ok(())
}

/// Loads a model for execution (`.tflite`, `.onnx`, `.aqm`; `input_shapes` for ONNX dynamic
/// dimensions) and checks that its activations fit what `exec` holds.
pub fn load(model: &Path, input_shapes: &[crate::import::InputShape]) -> miette::Result<Graph> {
    let is_tflite = model.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("tflite"));
    if is_tflite && !input_shapes.is_empty() {
        return Err(miette!("--input-shape applies to .onnx models only"));
    }
    let graph = if is_tflite {
        import_tflite(model).into_diagnostic()?.graph
    } else {
        // Other formats (e.g. `.aqm` from `accelsim quantize`) through the common loader.
        let spec = model.to_string_lossy();
        let opts = crate::import::LoadOptions { input_shapes: input_shapes.to_vec(), ..Default::default() };
        crate::import::load_model(&spec, &opts).map_err(miette::Report::new)?
    };
    check_activation_sizes(model, &graph)?;
    Ok(graph)
}

/// Runs the items `xs` (one value per graph input each) in parallel and keeps only their
/// outputs: `result[i]` holds item `i`'s values of `g.outputs`, in that order (every
/// intermediate tensor of every item held to the end cost 21 MB per MobileNet-v1 image).
/// The items of a stateful graph are steps, run in order on one state from the initial
/// values (as LiteRT invoking one interpreter repeatedly).
pub fn run_batch(g: &Graph, xs: Vec<Vec<Values>>) -> Result<Vec<Vec<Option<Values>>>, ExecError> {
    use rayon::prelude::*;
    let exec = Executor::new(g, Arithmetic::default())?;
    if !g.states.is_empty() {
        let mut states = States::initial(g, false);
        return xs
            .into_iter()
            .map(|x| {
                let mut vals = exec.step(&x, &mut states)?;
                Ok(g.outputs.iter().map(|o| vals[o.0].take()).collect())
            })
            .collect();
    }
    xs.into_par_iter().map(|x| exec.run_outputs(x)).collect()
}

/// The layout of `model`'s rank-4 input and output files: `given`, else NHWC, except that an
/// ONNX model's NCHW input must be given one (a raw file cannot say which it holds), and an
/// ONNX model whose input is NHWC in the file (tf2onnx's) takes NHWC files only.
pub fn layout_for(model: &Path, g: &Graph, given: Option<Layout>) -> miette::Result<Layout> {
    let is_onnx = model.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("onnx"));
    let Some(&input) = g.inputs.first() else { return Ok(given.unwrap_or(Layout::Nhwc)) };
    let t = g.tensor(input);
    let native_nchw = g.nchw_inputs.contains(&input);
    match given {
        // A rank-4 input of an ONNX file held as it is (tf2onnx's NHWC input, whose readers
        // transpose or reshape it): "the ONNX tensor as is" and NCHW would disagree.
        Some(Layout::Nchw) if is_onnx && t.shape.len() == 4 && !native_nchw => Err(miette!(
            "'{}': input '{}' is {:?} as it is in this ONNX file (its readers transpose it to NCHW or \
             reshape it), so its raw files hold it as it is: give --layout nhwc",
            model.display(),
            t.name,
            t.shape
        )),
        Some(l) => Ok(l),
        None if is_onnx && native_nchw => Err(miette!(
            "'{}': an ONNX model's input is NCHW, but a raw input file does not say its layout: \
             give --layout nchw (the file holds the ONNX tensor {:?} as is) or --layout nhwc (transposed to {:?})",
            model.display(),
            [t.shape[0], t.shape[3], t.shape[1], t.shape[2]],
            t.shape
        )),
        None => Ok(Layout::Nhwc),
    }
}

/// Runs `f` on `pool` (`--threads N`), else on rayon's global pool.
fn on_pool<R: Send>(pool: Option<&rayon::ThreadPool>, f: impl FnOnce() -> R + Send) -> R {
    match pool {
        Some(p) => p.install(f),
        None => f(),
    }
}

/// Runs `accelsim exec`.
pub fn exec(args: &ExecArgs) -> miette::Result<()> {
    if args.show_kernels {
        eprintln!("kernels: {}", crate::kernels::conv::Isa::best().describe());
    }
    let graph = load(&args.model, &args.input_shapes)?;
    let g = &graph;
    let [input_id] = g.inputs[..] else {
        return Err(miette!("the model has {} inputs; exec takes models with one input", g.inputs.len()));
    };
    let rank4 = g.tensor(input_id).shape.len() == 4;
    let layout = layout_for(&args.model, g, args.layout)?;
    let stateful = !g.states.is_empty();
    if args.input.len() > 1 && !stateful {
        return Err(miette!(
            "several --input files are the steps of a stateful model (resource variables), and '{}' has no state: \
             give one raw file, or a batch as one .npy",
            args.model.display()
        ));
    }
    // `--threads N`: one pool reads the batch (each item quantized on a worker) and runs it.
    let pool = match args.threads {
        None => None,
        Some(0) => return Err(miette!("--threads must be at least 1, got 0")),
        Some(n) => Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .into_diagnostic()
                .wrap_err("cannot start the worker threads")?,
        ),
    };
    let mut xs = Vec::new();
    for path in &args.input {
        if path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("npy")) {
            if args.dump.is_some() && !stateful {
                return Err(miette!("--dump writes one run's tensors; give a raw --input, not a batch (.npy)"));
            }
            xs.extend(on_pool(pool.as_ref(), || read_batch(path, g.tensor(input_id), layout))?);
        } else {
            let x = read_input("--input", path, g.tensor(input_id))?;
            xs.push(if layout == Layout::Nchw && rank4 {
                transpose_values(&x, &g.tensor(input_id).shape, true)
            } else {
                x
            });
        }
    }
    let outputs_of =
        |vals: &[Option<Values>]| -> Vec<Option<Values>> { g.outputs.iter().map(|o| vals[o.0].clone()).collect() };
    let cannot = || format!("cannot execute '{}'", args.model.display());
    let (runs, all) = if stateful && args.dump.is_some() {
        // Steps in order on one state (as `run_batch`); `--dump` keeps the last step's tensors.
        let exec = Executor::new(g, Arithmetic::default()).into_diagnostic().wrap_err_with(cannot)?;
        let mut states = States::initial(g, false);
        let (mut runs, mut last) = (Vec::with_capacity(xs.len()), None);
        for x in xs {
            let vals = exec.step(&[x], &mut states).into_diagnostic().wrap_err_with(cannot)?;
            runs.push(outputs_of(&vals));
            last = Some(vals);
        }
        (runs, last)
    } else if args.dump.is_some() {
        // `--dump` runs one item (a raw input) and keeps every tensor.
        let exec = Executor::new(g, Arithmetic::default()).into_diagnostic().wrap_err_with(cannot)?;
        let vals = exec.run(&xs).into_diagnostic().wrap_err_with(cannot)?;
        (vec![outputs_of(&vals)], Some(vals))
    } else {
        let items = xs.into_iter().map(|x| vec![x]).collect();
        let runs = on_pool(pool.as_ref(), || run_batch(g, items));
        (runs.into_diagnostic().wrap_err_with(cannot)?, None)
    };
    let mut out = Vec::new();
    for outs in &runs {
        for (&o, v) in g.outputs.iter().zip(outs) {
            let t = g.tensor(o);
            let v = v.as_ref().ok_or_else(|| miette!("output '{}' was not computed", t.name))?;
            if layout == Layout::Nchw && t.shape.len() == 4 {
                encode(t, &transpose_values(v, &t.shape, false), &mut out);
            } else {
                encode(t, v, &mut out);
            }
        }
    }
    let inputs: Vec<Input> = std::iter::once(Input::new("--model", &args.model))
        .chain(args.input.iter().map(|p| Input::new("--input", p)))
        .collect();
    if let (Some(dir), Some(vals)) = (&args.dump, &all) {
        dump(g, vals, dir, &inputs)?;
    }
    write_output("--output", &args.output, &out, &inputs).map_err(miette::Report::new)
}
