//! The native half of the `accelsim` Python package: thin wrappers that build the CLI's
//! argument structs and call the same library functions as `accelsim run` / `sweep` /
//! `models`, returning the CLI's JSON text (parsed into dicts by `accelsim/__init__.py`), so
//! Python and the CLI give the same numbers. Long work runs with the GIL released.

use accelsim::cli::run::{run_report, Format, RunArgs};
use accelsim::cli::sweep::{sweep_to, SweepArgs, SweepFormat};
use accelsim::import::{builtin, model_file, LoadOptions};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use std::io::Write;
use std::sync::{Arc, Mutex};

create_exception!(accelsim, Error, PyException, "An accelsim error (the message the CLI prints).");

/// The message of an error with its causes, outermost first, as the CLI prints them.
fn to_py(e: miette::Report) -> PyErr {
    let msg: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    Error::new_err(msg.join(": "))
}

/// `accelsim run ... --format json`, as text.
#[pyfunction]
#[pyo3(signature = (hw, model, wbits=None, abits=None, sets=Vec::new(), objective="latency".to_string(),
    layer_bits=Vec::new(), width=1.0, resolution=None, accuracy=true))]
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
) -> PyResult<String> {
    let args = RunArgs {
        hw,
        model,
        wbits,
        abits,
        layer_bits,
        width,
        resolution,
        input_shapes: Vec::new(),
        overrides: sets,
        objective,
        format: Format::Json,
        out: None,
        input: None,
        no_accuracy: !accuracy,
        scalesim_reports: None,
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

/// `accelsim sweep ... --format json`, as text.
#[pyfunction]
#[pyo3(signature = (hw, model, wbits=Vec::new(), abits=Vec::new(), sets=Vec::new(), names=Vec::new(),
    width=1.0, resolution=None, per_layer=false, functional=false, objective=None, threads=None))]
#[allow(clippy::too_many_arguments)]
fn sweep_json(
    py: Python<'_>,
    hw: Vec<String>,
    model: Vec<String>,
    wbits: Vec<i64>,
    abits: Vec<i64>,
    sets: Vec<String>,
    names: Vec<String>,
    width: f64,
    resolution: Option<usize>,
    per_layer: bool,
    functional: bool,
    objective: Option<String>,
    threads: Option<usize>,
) -> PyResult<String> {
    let args = SweepArgs {
        hw,
        name: names,
        model,
        wbits,
        abits,
        sets,
        width,
        resolution,
        config: None,
        per_layer,
        functional,
        calib: None,
        eval: None,
        labels: None,
        granularity: None,
        shard: None,
        threads,
        objective,
        format: SweepFormat::Json,
        out: None,
        resume: false,
    };
    let buf = Shared::default();
    let sink = buf.clone();
    py.detach(move || sweep_to(&args, Box::new(sink))).map_err(to_py)?;
    let bytes = buf.0.lock().map_err(|_| Error::new_err("poisoned buffer"))?.clone();
    String::from_utf8(bytes).map_err(|e| Error::new_err(e.to_string()))
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
    m.add_function(wrap_pyfunction!(models, m)?)?;
    m.add_function(wrap_pyfunction!(hw_toml, m)?)?;
    Ok(())
}
