//! The native half of the `accelsim` Python package: thin wrappers that build the CLI's
//! argument structs and call the same library functions as `accelsim run` / `sweep` /
//! `models`, returning the CLI's JSON text (parsed into dicts by `accelsim/__init__.py`), so
//! Python and the CLI give the same numbers. Long work runs with the GIL released.

use accelsim::cli::exec::{check_batch_shape, layout_for, load, run_batch, Layout};
use accelsim::cli::run::{run_report, ActScales, Format, GroupArgs, PhaseArg, RunArgs, SeqArgs};
use accelsim::cli::sweep::{sweep_with_progress, SweepArgs, SweepFormat};
use accelsim::import::{builtin, model_file, InputShape, LoadOptions};
use accelsim::ir::{DataType, Graph, Tensor};
use accelsim::kernels::io::{batch_items, input_from_f32, transpose_nchw};
use accelsim::kernels::Values;
use numpy::ndarray::{ArrayD, ArrayViewD, IxDyn};
use numpy::{IntoPyArray, PyReadonlyArrayDyn};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

create_exception!(
    accelsim,
    Error,
    PyException,
    "An accelsim error: the message the CLI prints, and `file`, `line`, `column` of the input file\nit names (None when it names none)."
);

/// The message of an error with its causes, outermost first, as the CLI prints them; the
/// exception's `file`, `line` and `column` attributes name the place in an input file where
/// the error has one (`None` otherwise).
fn to_py(e: miette::Report) -> PyErr {
    let msg: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    let place = e.chain().find_map(|c| c.downcast_ref::<accelsim::diag::FileError>());
    let err = Error::new_err(msg.join(": "));
    Python::attach(|py| {
        let v = err.value(py);
        let file = place.map(|f| f.file.clone());
        let line = place.map(|f| f.line).filter(|&l| l > 0);
        let column = place.map(|f| f.column).filter(|&c| c > 0);
        // Setting attributes on a fresh exception instance cannot fail short of memory.
        let _ = v.setattr("file", file);
        let _ = v.setattr("line", line);
        let _ = v.setattr("column", column);
    });
    err
}

/// A value of one of the CLI's choice flags (`--phase`, `--act-scales`) by its CLI name.
fn choice<T: clap::ValueEnum>(flag: &str, value: &str) -> PyResult<T> {
    T::from_str(value, false).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value())
            .map(|p| p.get_name().to_string())
            .collect();
        Error::new_err(format!("{flag}: '{value}' is not one of {}", names.join(", ")))
    })
}

/// `accelsim run ... --format json`, as text.
#[pyfunction]
#[pyo3(signature = (hw, model, wbits=None, abits=None, sets=Vec::new(), objective="latency".to_string(),
    layer_bits=Vec::new(), width=1.0, resolution=None, accuracy=true, batch=1, phase=None, seq_len=None,
    kv_len=None, kv_bits=None, kv_group=None, kv_group_zero_point=false, wgroup=None, wgroup_zero_point=false,
    act_scales="static".to_string()))]
#[allow(clippy::too_many_arguments)]
fn run_json(
    py: Python<'_>,
    hw: String,
    model: String,
    wbits: Option<i64>,
    abits: Option<i64>,
    sets: Vec<String>,
    objective: String,
    layer_bits: Vec<String>,
    width: f64,
    resolution: Option<usize>,
    accuracy: bool,
    batch: usize,
    phase: Option<String>,
    seq_len: Option<usize>,
    kv_len: Option<usize>,
    kv_bits: Option<i64>,
    kv_group: Option<i64>,
    kv_group_zero_point: bool,
    wgroup: Option<i64>,
    wgroup_zero_point: bool,
    act_scales: String,
) -> PyResult<String> {
    // clap's `requires` for the CLI's flags, said the same way.
    if kv_group_zero_point && kv_group.is_none() {
        return Err(Error::new_err("kv_group_zero_point needs kv_group"));
    }
    if wgroup_zero_point && wgroup.is_none() {
        return Err(Error::new_err("wgroup_zero_point needs wgroup"));
    }
    let phase = phase.as_deref().map(|p| choice::<PhaseArg>("phase", p)).transpose()?;
    let seq = SeqArgs { phase, seq_len, kv_len, kv_bits, kv_group, kv_group_zero_point };
    let groups = GroupArgs { wgroup, wgroup_zero_point, act_scales: choice::<ActScales>("act_scales", &act_scales)? };
    let args = RunArgs {
        hw,
        model,
        wbits,
        abits,
        layer_bits,
        width,
        resolution,
        batch,
        input_shapes: Vec::new(),
        overrides: sets,
        objective,
        format: Format::Json,
        out: None,
        input: None,
        no_accuracy: !accuracy,
        no_onchip_reuse: false,
        scalesim_reports: None,
        seq,
        groups,
    };
    py.detach(|| {
        let (report, _hw) = run_report(&args)?;
        serde_json::to_string(&accelsim::report::to_json(&report)).map_err(|e| miette::miette!("{e}"))
    })
    .map_err(to_py)
}

/// A `Write` into a buffer the caller keeps a handle on.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut v = self.0.lock().map_err(|_| std::io::Error::other("poisoned buffer"))?;
        v.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `accelsim sweep` with these command-line arguments (without the command name), its rows
/// as `--format json` text, whatever `--format` / `--out` say; runs with the GIL released.
/// `progress(done, total)` is called after each batch of points; an exception it raises
/// stops the sweep and is raised here.
#[pyfunction]
#[pyo3(signature = (argv, progress=None))]
fn sweep_json(py: Python<'_>, argv: Vec<String>, progress: Option<Py<PyAny>>) -> PyResult<String> {
    let args = SweepArgs { format: SweepFormat::Json, out: None, ..parse::<SweepArgs>("sweep", argv)? };
    if args.resume {
        return Err(Error::new_err("resume continues the CSV file of out=; give out="));
    }
    let buf = Shared::default();
    sweep_calling_back(py, &args, Box::new(buf.clone()), progress)?;
    let bytes = buf.0.lock().map_err(|_| Error::new_err("poisoned buffer"))?.clone();
    String::from_utf8(bytes).map_err(|e| Error::new_err(e.to_string()))
}

/// `accelsim sweep ARGV...` writing its rows to the file of `--out` (and continuing it with
/// `--resume`) exactly as the CLI does; GIL released, `progress` as for [`sweep_json`].
#[pyfunction]
#[pyo3(signature = (argv, progress=None))]
fn sweep_file(py: Python<'_>, argv: Vec<String>, progress: Option<Py<PyAny>>) -> PyResult<()> {
    let args = parse::<SweepArgs>("sweep", argv)?;
    if args.out.is_none() {
        return Err(Error::new_err("sweep_file writes the file of --out; give --out"));
    }
    sweep_calling_back(py, &args, Box::new(std::io::sink()), progress)
}

/// Runs the sweep with the GIL released, calling `progress(done, total)` (with the GIL)
/// after each batch; its exception stops the sweep and is returned.
fn sweep_calling_back(
    py: Python<'_>,
    args: &SweepArgs,
    stdout: Box<dyn Write + Send>,
    progress: Option<Py<PyAny>>,
) -> PyResult<()> {
    let mut raised: Option<PyErr> = None;
    let mut report = |done: usize, total: usize| match &progress {
        None => true,
        Some(f) => Python::attach(|py| match f.call1(py, (done, total)) {
            Ok(_) => true,
            Err(e) => {
                raised = Some(e);
                false
            }
        }),
    };
    let result = py.detach(|| sweep_with_progress(args, stdout, &mut report));
    if let Some(e) = raised {
        return Err(e);
    }
    result.map_err(to_py)
}

/// A batch handed to `exec`: float items (quantized for an integer input as TFLite's
/// QUANTIZE does) or integers in the input's own type, read in place.
#[derive(FromPyObject)]
enum Batch<'py> {
    F32(PyReadonlyArrayDyn<'py, f32>),
    I8(PyReadonlyArrayDyn<'py, i8>),
    U8(PyReadonlyArrayDyn<'py, u8>),
    I16(PyReadonlyArrayDyn<'py, i16>),
    I32(PyReadonlyArrayDyn<'py, i32>),
}

impl Batch<'_> {
    /// The batch as an ndarray view of numpy's buffer (any strides), which can cross into
    /// work done with the GIL released.
    fn view(&self) -> BatchView<'_> {
        match self {
            Batch::F32(a) => BatchView::F32(a.as_array()),
            Batch::I8(a) => BatchView::I8(a.as_array()),
            Batch::U8(a) => BatchView::U8(a.as_array()),
            Batch::I16(a) => BatchView::I16(a.as_array()),
            Batch::I32(a) => BatchView::I32(a.as_array()),
        }
    }
}

/// A batch's elements in place (see [`Batch::view`]).
enum BatchView<'a> {
    F32(ArrayViewD<'a, f32>),
    I8(ArrayViewD<'a, i8>),
    U8(ArrayViewD<'a, u8>),
    I16(ArrayViewD<'a, i16>),
    I32(ArrayViewD<'a, i32>),
}

impl BatchView<'_> {
    fn shape(&self) -> &[usize] {
        match self {
            BatchView::F32(a) => a.shape(),
            BatchView::I8(a) => a.shape(),
            BatchView::U8(a) => a.shape(),
            BatchView::I16(a) => a.shape(),
            BatchView::I32(a) => a.shape(),
        }
    }

    /// The numpy type name and (bits, signed) of integer batches.
    fn int_type(&self) -> Option<(&'static str, u8, bool)> {
        match self {
            BatchView::F32(_) => None,
            BatchView::I8(_) => Some(("int8", 8, true)),
            BatchView::U8(_) => Some(("uint8", 8, false)),
            BatchView::I16(_) => Some(("int16", 16, true)),
            BatchView::I32(_) => Some(("int32", 32, true)),
        }
    }

    /// The executor values of each item fed to input `t`, cut and (for NCHW, `chw`) moved
    /// by the code that reads `accelsim exec`'s `.npy` batches: floats quantized for an
    /// integer input, integers as they are.
    fn values(&self, t: &Tensor, chw: bool) -> Result<Vec<Vec<Values>>, String> {
        fn ints<T: Copy + Into<i32>>(a: &ArrayViewD<'_, T>, chw: bool) -> Vec<Vec<Values>> {
            batch_items(a.view(), chw)
                .into_iter()
                .map(|x| vec![Values::Int(x.into_iter().map(Into::into).collect())])
                .collect()
        }
        Ok(match self {
            BatchView::F32(a) => batch_items(a.view(), chw)
                .into_iter()
                .map(|x| input_from_f32(t, x).map(|v| vec![v]).map_err(|e| e.to_string()))
                .collect::<Result<_, _>>()?,
            BatchView::I8(a) => ints(a, chw),
            BatchView::U8(a) => ints(a, chw),
            BatchView::I16(a) => ints(a, chw),
            BatchView::I32(a) => ints(a, chw),
        })
    }
}

/// The batch of output `t` (`[N, ...]`, its shape without the batch dimension of 1, NCHW
/// in `layout` NCHW) as a numpy array of its own element type.
fn output_array<'py>(py: Python<'py>, t: &Tensor, outs: Vec<Values>, layout: Layout) -> PyResult<Bound<'py, PyAny>> {
    let nchw = layout == Layout::Nchw && t.shape.len() == 4;
    let mut dims: Vec<usize> = vec![outs.len()];
    let item = if nchw { vec![t.shape[3], t.shape[1], t.shape[2]] } else { t.shape.iter().skip(1).copied().collect() };
    if t.shape.first() == Some(&1) {
        dims.extend(item);
    } else {
        dims.extend(t.shape.iter().copied());
    }
    let shape_err = |e: numpy::ndarray::ShapeError| Error::new_err(format!("output '{}': {e}", t.name));
    macro_rules! array {
        ($ty:ty, $v:expr) => {{
            let v: Vec<$ty> = $v;
            Ok(ArrayD::from_shape_vec(IxDyn(&dims), v).map_err(shape_err)?.into_pyarray(py).into_any())
        }};
    }
    let ints = |outs: Vec<Values>| -> PyResult<Vec<i32>> {
        let mut all = Vec::new();
        for v in outs {
            // Integers as the executor keeps them (8-bit storage widened).
            let Some(x) = v.ints() else {
                return Err(Error::new_err(format!("output '{}' is {}, got floats", t.name, t.dtype)));
            };
            all.extend(if nchw { transpose_nchw(&x, &t.shape, false) } else { x.into_owned() });
        }
        Ok(all)
    };
    match t.dtype {
        DataType::F32 => {
            let mut all = Vec::new();
            for v in outs {
                match v {
                    Values::F32(x) => all.extend(if nchw { transpose_nchw(&x, &t.shape, false) } else { x }),
                    Values::Int(_) | Values::I8(_) => {
                        return Err(Error::new_err(format!("output '{}' is float32, got integers", t.name)))
                    }
                }
            }
            array!(f32, all)
        }
        // The integers are in their type's range (the kernels clamp to it).
        DataType::Int { bits: 1..=8, signed: true } => array!(i8, ints(outs)?.into_iter().map(|x| x as i8).collect()),
        DataType::Int { bits: 1..=8, signed: false } => array!(u8, ints(outs)?.into_iter().map(|x| x as u8).collect()),
        DataType::Int { bits: 9..=16, signed: true } => {
            array!(i16, ints(outs)?.into_iter().map(|x| x as i16).collect())
        }
        DataType::Int { .. } => array!(i32, ints(outs)?),
        DataType::F16 => Err(Error::new_err(format!("output '{}' is float16, which exec does not produce", t.name))),
    }
}

/// `accelsim exec` of a batch held in memory: runs each item of `inputs` (`[N, ...]`) on
/// the model's integer (or float) kernels, in parallel with the GIL released, and returns
/// one array per model output, `[N, ...]` in the output's own element type.
#[pyfunction]
#[pyo3(signature = (model, inputs, layout=None, input_shapes=Vec::new()))]
fn exec_batch<'py>(
    py: Python<'py>,
    model: PathBuf,
    inputs: Batch<'py>,
    layout: Option<String>,
    input_shapes: Vec<String>,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let shapes = input_shapes
        .iter()
        .map(|s| s.parse::<InputShape>().map_err(|e| Error::new_err(format!("input_shapes '{s}': {e}"))))
        .collect::<PyResult<Vec<_>>>()?;
    let layout = match layout.as_deref() {
        None => None,
        Some("nchw") => Some(Layout::Nchw),
        Some("nhwc") => Some(Layout::Nhwc),
        Some(other) => return Err(Error::new_err(format!("layout must be 'nchw' or 'nhwc', got '{other}'"))),
    };
    let g: Graph = py.detach(|| load(&model, &shapes)).map_err(to_py)?;
    let [input] = g.inputs[..] else {
        return Err(Error::new_err(format!(
            "'{}': the model has {} inputs; exec takes models with one input",
            model.display(),
            g.inputs.len()
        )));
    };
    let layout = layout_for(&model, &g, layout).map_err(to_py)?;
    let t = g.tensor(input);
    let items = inputs.view();
    let shape = items.shape();
    let n = shape.first().copied().unwrap_or(0);
    check_batch_shape(t, layout, shape, n).map_err(|e| Error::new_err(format!("inputs: {e}")))?;
    if let Some((name, bits, signed)) = items.int_type() {
        if t.dtype != (DataType::Int { bits, signed }) {
            return Err(Error::new_err(format!(
                "inputs: an {name} array holds raw integers, but input '{}' is {}; give float32 values or the input's own type",
                t.name, t.dtype
            )));
        }
    }
    let chw = layout == Layout::Nchw && t.shape.len() == 4;
    let outs = py
        .detach(|| {
            let xs = items.values(t, chw).map_err(|e| miette::miette!("inputs: {e}"))?;
            run_batch(&g, xs).map_err(|e| miette::miette!("{}: {e}", model.display()))
        })
        .map_err(to_py)?;
    let mut per_output: Vec<Vec<Values>> = g.outputs.iter().map(|_| Vec::with_capacity(n)).collect();
    for item in outs {
        for ((k, v), &o) in item.into_iter().enumerate().zip(&g.outputs) {
            let v = v.ok_or_else(|| Error::new_err(format!("output '{}' was not computed", g.tensor(o).name)))?;
            per_output[k].push(v);
        }
    }
    g.outputs.iter().zip(per_output).map(|(&o, outs)| output_array(py, g.tensor(o), outs, layout)).collect()
}

/// Parses `argv` (without the command name) as the arguments of `accelsim <command>`.
fn parse<A: clap::Args>(command: &str, argv: Vec<String>) -> PyResult<A> {
    #[derive(clap::Parser)]
    struct Command<A: clap::Args> {
        #[command(flatten)]
        args: A,
    }
    <Command<A> as clap::Parser>::try_parse_from(std::iter::once(format!("accelsim {command}")).chain(argv))
        .map(|c| c.args)
        .map_err(|e| Error::new_err(e.render().to_string().trim_end().to_string()))
}

/// `accelsim quantize` with these command-line arguments (without the command name), its
/// report as JSON text; runs with the GIL released.
#[pyfunction]
fn quantize_json(py: Python<'_>, argv: Vec<String>) -> PyResult<String> {
    use accelsim::cli::quantize::{quantize_report, QuantizeArgs, ReportFormat};
    let args = QuantizeArgs { format: ReportFormat::Json, ..parse::<QuantizeArgs>("quantize", argv)? };
    py.detach(|| quantize_report(&args)).map_err(to_py)
}

/// `accelsim search` with these arguments (its front CSV goes to their `--out`); GIL released.
#[pyfunction]
fn search_run(py: Python<'_>, argv: Vec<String>) -> PyResult<()> {
    let args = parse::<accelsim::cli::search::SearchArgs>("search", argv)?;
    py.detach(|| accelsim::cli::search::run(&args)).map_err(to_py)
}

/// `accelsim sensitivity` with these arguments (its CSV goes to their `--out`); GIL released.
#[pyfunction]
fn sensitivity_run(py: Python<'_>, argv: Vec<String>) -> PyResult<()> {
    let args = parse::<accelsim::cli::sensitivity::SensitivityArgs>("sensitivity", argv)?;
    py.detach(|| accelsim::cli::sensitivity::run(&args)).map_err(to_py)
}

/// The built-in networks: (name, title, MACs, parameters), as `accelsim models` lists them.
#[pyfunction]
fn models() -> PyResult<Vec<(String, String, u64, u64)>> {
    let mut out = Vec::new();
    for name in builtin::names() {
        let src = builtin::source(name).unwrap_or_default();
        let (g, info) = model_file::parse_with_info(name, src, &LoadOptions::default())
            .map_err(|e| Error::new_err(format!("{name}: {e}")))?;
        out.push((name.to_string(), info.title.unwrap_or_default(), g.total_macs().get(), g.total_params() as u64));
    }
    Ok(out)
}

/// The TOML of an accelerator (file or preset) with `--set` overrides applied, checked to load.
#[pyfunction]
#[pyo3(signature = (spec, sets=Vec::new()))]
fn hw_toml(spec: &str, sets: Vec<String>) -> PyResult<String> {
    let overrides = accelsim::cli::run::parse_overrides(&sets).map_err(to_py)?;
    accelsim::hw::hw_toml_with(spec, &overrides)
        .map_err(|e| to_py(miette::Report::new(e).wrap_err("invalid accelerator description")))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("Error", m.py().get_type::<Error>())?;
    m.add_function(wrap_pyfunction!(run_json, m)?)?;
    m.add_function(wrap_pyfunction!(sweep_json, m)?)?;
    m.add_function(wrap_pyfunction!(sweep_file, m)?)?;
    m.add_function(wrap_pyfunction!(models, m)?)?;
    m.add_function(wrap_pyfunction!(hw_toml, m)?)?;
    m.add_function(wrap_pyfunction!(exec_batch, m)?)?;
    m.add_function(wrap_pyfunction!(quantize_json, m)?)?;
    m.add_function(wrap_pyfunction!(search_run, m)?)?;
    m.add_function(wrap_pyfunction!(sensitivity_run, m)?)?;
    Ok(())
}
