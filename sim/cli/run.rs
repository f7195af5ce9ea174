//! `accelsim run`, `accelsim models` and `accelsim hw show`.

use super::output::{write_output, Input};
use crate::hw::{load_hw_with, HwDesc, Override, SetValue};
use crate::import::{builtin, load_model, model_file, LoadOptions, SeqPhase};
use crate::ir::{DynamicActivations, WeightGroups};
use crate::map::tiling::Objective;
use crate::quant::{assign_widths, check_width, is_quantized, layer_bits, LayerRequest, Precision, WidthPlan};
use crate::report::{to_csv, to_json, to_table, RunReport};
use miette::{miette, IntoDiagnostic, Result, WrapErr};
use std::io::Write;
use std::path::Path;

/// Output formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A table for the terminal.
    Table,
    /// JSON with `totals` and `layers`.
    Json,
    /// CSV, one row per layer and a TOTAL row.
    Csv,
}

/// Arguments of `accelsim run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Accelerator: a TOML file, or a preset name (dsp, nvdla_full, systolic32, ...).
    #[arg(long)]
    pub hw: String,
    /// Network: a built-in name (mnv1, resnet50, ...) or a model file.
    #[arg(long)]
    pub model: String,
    /// Weight bits (2-16; default 8).
    #[arg(long, allow_negative_numbers = true)]
    pub wbits: Option<i64>,
    /// Activation bits (2-16; default 8).
    #[arg(long, allow_negative_numbers = true)]
    pub abits: Option<i64>,
    /// Per-layer widths: `NAME=w4a8` (repeatable; `NAME=w4` or `NAME=a6` set one width; a
    /// suffix `g32` sets the layer's weight groups, `g-1` per channel) or a TOML file of them (`[layers]` table, see `quant/layer_bits.rs`); the other layers take
    /// --wbits/--abits.
    #[arg(long = "layer-bits", value_name = "NAME=wWaA|FILE.toml")]
    pub layer_bits: Vec<String>,
    /// MobileNet width multiplier.
    #[arg(long, default_value_t = 1.0)]
    pub width: f64,
    /// Input resolution (square) for networks that allow it.
    #[arg(long)]
    pub resolution: Option<usize>,
    /// Images per batch: the network runs on this many images at once (weights fetched
    /// once per tile for all of them where the schedule allows, activations scale with
    /// the batch); every figure is per batch. The accuracy run takes one image. For a
    /// transformer phase: sequences, each with its own prompt or KV cache.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Shape of an ONNX input with dynamic dimensions, in the model's order
    /// (`NAME=1x3x224x224`); repeat for several inputs.
    #[arg(long = "input-shape", value_name = "NAME=DIMS")]
    pub input_shapes: Vec<crate::import::InputShape>,
    /// Set a field of the accelerator description: `--set mac.rows=16`, `--set mac.dataflow=ws`.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub overrides: Vec<String>,
    /// What each layer's schedule is chosen for: latency, energy or edp (the energy-delay
    /// product).
    #[arg(long, default_value = "latency", value_parser = clap::builder::PossibleValuesParser::new(Objective::NAMES))]
    pub objective: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the output to this file (atomically) instead of standard output.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    /// Raw input for the functional accuracy run of a model with real weights (an imported
    /// .tflite): little-endian NHWC in the input's element type, as for `exec`. Default: a
    /// deterministic synthetic image (seed 1), for networks of up to 8 G MACs and 512 MiB of
    /// tensor values (larger ones are evaluated only when given an input).
    #[arg(long, value_name = "FILE")]
    pub input: Option<std::path::PathBuf>,
    /// Skip the functional accuracy run (per-layer SQNR on the accelerator's arithmetic).
    #[arg(long)]
    pub no_accuracy: bool,
    /// Move every layer's output through DRAM: no tensor stays in the on-chip buffer for the
    /// next layers (the description's `onchip_reuse = false`; the numbers before on-chip
    /// reuse). Fused intermediates (NVDLA's SDP / PDP) stay on chip either way.
    #[arg(long)]
    pub no_onchip_reuse: bool,
    /// Also write a SCALE-Sim-style COMPUTE_REPORT.csv into this directory (mac_array only).
    #[arg(long, value_name = "DIR")]
    pub scalesim_reports: Option<std::path::PathBuf>,
    /// The inference phase of a transformer.
    #[command(flatten)]
    pub seq: SeqArgs,
    /// Group-wise weight scales.
    #[command(flatten)]
    pub groups: GroupArgs,
}

/// Quantization granularity: group-wise weights (`--wgroup`) and dynamic activation scales
/// (`--act-scales`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct GroupArgs {
    /// Weights quantized in groups of this many along each output channel's reduction axis,
    /// one fp16 scale per group (`--wbits 4 --wgroup 128`: W4 g128); the scales are costed
    /// with the weights and each group's partial sum is rescaled on the vector unit.
    #[arg(long, allow_negative_numbers = true, value_name = "G")]
    pub wgroup: Option<i64>,
    /// With --wgroup: asymmetric weights, one zero point per group at the weight width.
    #[arg(long = "wgroup-zero-point", requires = "wgroup")]
    pub wgroup_zero_point: bool,
    /// Activation scales: `static` (calibrated ahead, one set per tensor) or `dynamic` /
    /// `dynamic-asym` (as W8A8 / W4A8 LLM runtimes: activations held at 16 bits between
    /// layers, and every matrix product with constant weights quantizes its input to --abits
    /// when it runs, one scale per token row -- per image for a convolution -- found and
    /// applied on the vector unit; `-asym` adds a zero point per row).
    #[arg(long = "act-scales", value_enum, default_value_t = ActScales::Static)]
    pub act_scales: ActScales,
}

/// `--act-scales` (the modes live with the width plan).
pub use crate::quant::ActScales;

impl GroupArgs {
    /// The weight groups asked for (`None`: per-channel weights), with zero points at
    /// `wbits` when asymmetric.
    pub fn resolve(&self, wbits: u8) -> Result<Option<WeightGroups>> {
        self.wgroup
            .map(|g| {
                crate::quant::weight_groups("--wgroup", g, if self.wgroup_zero_point { wbits } else { 0 })
                    .map_err(|e| miette!("{e}"))
            })
            .transpose()
    }

    /// The dynamic activation scales asked for (`None`: static) with rows quantized to
    /// `abits`, which must be narrower than the 16 bits activations are then held at.
    pub fn dynamic_activations(&self, abits: u8) -> Result<Option<DynamicActivations>> {
        self.act_scales.dynamic_activations(abits).map_err(|e| miette!("{e}"))
    }
}

/// The phase flags of a transformer run (built-ins gpt2, bert_base, llama_1b; model files
/// with a `[sequence]` axis).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SeqArgs {
    /// Transformers: `prefill` (the prompt at once, --seq-len tokens; the default, at the
    /// model's default length) or `decode` (one new token attending to --kv-len positions
    /// held in the KV cache).
    #[arg(long, value_enum)]
    pub phase: Option<PhaseArg>,
    /// Prefill: tokens in the prompt.
    #[arg(long)]
    pub seq_len: Option<usize>,
    /// Decode: positions in the KV cache (the new token's own among them).
    #[arg(long)]
    pub kv_len: Option<usize>,
    /// Decode: bits of the KV cache (2-16; default: the activation width).
    #[arg(long, allow_negative_numbers = true)]
    pub kv_bits: Option<i64>,
    /// Decode: the KV cache quantized in groups of G along each head's features, one fp16
    /// scale per group and position (as KV-cache quantizers do); keys are rescaled per
    /// group after Q K^T, values dequantized as P V loads them.
    #[arg(long, allow_negative_numbers = true, value_name = "G")]
    pub kv_group: Option<i64>,
    /// With --kv-group: asymmetric groups, one zero point per group at the cache's width.
    #[arg(long = "kv-group-zero-point", requires = "kv_group")]
    pub kv_group_zero_point: bool,
}

/// What `--kv-bits` and `--kv-group` ask of a decode step's KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KvCache {
    /// The cache's width (`None`: the activation width).
    pub bits: Option<u8>,
    /// Its groups along each head's features; `zero_point_bits` is nonzero when asymmetric
    /// (the zero points are at the cache's width, set when the widths are assigned).
    pub groups: Option<WeightGroups>,
}

/// `--phase`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhaseArg {
    /// The whole prompt at once.
    Prefill,
    /// One new token with a KV cache.
    Decode,
}

impl SeqArgs {
    /// The phase asked for (`None` without phase flags) and the KV cache's width and
    /// groups, or which flags do not go together.
    pub fn resolve(&self) -> Result<(Option<SeqPhase>, KvCache)> {
        let phase = match (self.phase, self.seq_len, self.kv_len) {
            (Some(PhaseArg::Decode), _, None) => return Err(miette!("--phase decode needs --kv-len L")),
            (Some(PhaseArg::Decode), Some(_), Some(_)) => {
                return Err(miette!("--seq-len applies to --phase prefill (a decode step is one token)"))
            }
            (Some(PhaseArg::Decode), None, Some(kv_len)) => Some(SeqPhase::Decode { kv_len }),
            (Some(PhaseArg::Prefill) | None, _, Some(_)) => return Err(miette!("--kv-len applies to --phase decode")),
            (Some(PhaseArg::Prefill), None, None) => None,
            (Some(PhaseArg::Prefill) | None, Some(len), None) => Some(SeqPhase::Prefill { len }),
            (None, None, None) => None,
        };
        let kv_bits = match (self.kv_bits, phase) {
            (None, _) => None,
            (Some(b), Some(SeqPhase::Decode { .. })) => Some(check_width("--kv-bits", b).into_diagnostic()?),
            (Some(_), _) => {
                return Err(miette!("--kv-bits applies to --phase decode (the KV cache a decode step reads)"))
            }
        };
        let groups = match (self.kv_group, phase) {
            (None, _) => None,
            (Some(n), Some(SeqPhase::Decode { .. })) => Some(
                crate::quant::weight_groups("--kv-group", n, u8::from(self.kv_group_zero_point))
                    .map_err(|e| miette!("{e}"))?,
            ),
            (Some(_), _) => {
                return Err(miette!("--kv-group applies to --phase decode (the KV cache a decode step reads)"))
            }
        };
        Ok((phase, KvCache { bits: kv_bits, groups }))
    }
}

/// Parses `--set path=value` pairs (a number, or text for text fields).
pub fn parse_overrides(raw: &[String]) -> Result<Vec<Override>> {
    raw.iter()
        .map(|s| {
            let (k, v) = s.split_once('=').ok_or_else(|| miette!("--set {s}: expected PATH=VALUE"))?;
            Ok((k.trim().to_string(), SetValue::parse(v)))
        })
        .collect()
}

/// Loads the hardware description.
pub fn hw_from(spec: &str, overrides: &[Override]) -> Result<HwDesc> {
    load_hw_with(spec, overrides).map_err(|e| miette::Report::new(e)).wrap_err("invalid accelerator description")
}

/// `accelsim run`: the report of [`run_report`], written in the chosen format.
pub fn run(a: &RunArgs) -> Result<()> {
    let mut inputs = vec![Input::spec("--hw", &a.hw), Input::spec("--model", &a.model)];
    inputs.extend(a.input.as_deref().map(|p| Input::new("--input", p)));
    let (report, hw) = run_report(a)?;
    if let Some(dir) = &a.scalesim_reports {
        let files = crate::report::scalesim::reports(&hw, &report).ok_or_else(|| {
            miette!("--scalesim-reports needs a mac_array accelerator, {} is {}", hw.name, hw.family.kind())
        })?;
        std::fs::create_dir_all(dir).into_diagnostic().wrap_err_with(|| format!("cannot create {}", dir.display()))?;
        for (name, csv) in &files {
            write_output("--scalesim-reports", &dir.join(name), csv.as_bytes(), &inputs)
                .map_err(miette::Report::new)?;
        }
    }
    let text = match a.format {
        Format::Table => to_table(&report),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&to_json(&report)).into_diagnostic()?;
            s.push('\n');
            s
        }
        Format::Csv => to_csv(&report),
    };
    emit(a.out.as_deref(), &text, &inputs)
}

/// The report of `accelsim run` for these arguments (with the accelerator it ran on), before
/// any output: the CLI writes it in a format, the Python package returns it.
pub fn run_report(a: &RunArgs) -> Result<(RunReport, HwDesc)> {
    let wbits = check_width("--wbits", a.wbits.unwrap_or(8)).into_diagnostic()?;
    let abits = check_width("--abits", a.abits.unwrap_or(8)).into_diagnostic()?;
    let overrides = parse_overrides(&a.overrides)?;
    let mut hw = hw_from(&a.hw, &overrides)?;
    if a.no_onchip_reuse {
        hw.onchip_reuse = false;
    }
    let (phase, kv) = a.seq.resolve()?;
    let opts = LoadOptions {
        width: a.width,
        resolution: a.resolution,
        input_shapes: a.input_shapes.clone(),
        phase,
        ..Default::default()
    };
    let mut g = load_model(&a.model, &opts).map_err(miette::Report::new).wrap_err("cannot load the network")?;
    // The accuracy run uses the model's own quantization, so it keeps the graph as loaded.
    let acc_graph = (!a.no_accuracy).then(|| g.clone());
    let acc = hw.accumulator.bits.min(64) as u8;
    // A model that carries its own quantization (.tflite, QDQ .onnx, .aqm from `accelsim
    // quantize`) keeps its widths, layer by layer, unless the user asks for others; so do
    // the float tensors of its interface (a float input before QUANTIZE, a float output
    // after DEQUANTIZE).
    let requests = layer_requests(&a.layer_bits)?;
    let mut widened = Vec::new();
    let groups = a.groups.resolve(wbits)?;
    let dynamic = a.groups.dynamic_activations(abits)?;
    let retarget = a.wbits.is_some() || a.abits.is_some() || !requests.is_empty();
    if is_quantized(&g) && !retarget && groups.is_some() {
        return Err(miette!(
            "--wgroup on {}, which carries its own quantization: give --wbits (and --abits) to re-target its weights in groups",
            a.model
        ));
    }
    if let Some(r) = requests.iter().find(|r| r.activation.is_some()).filter(|_| dynamic.is_some()) {
        return Err(miette!(
            "{}: --act-scales dynamic quantizes every layer's input to --abits; '{}' asks for its own activation width (give it weight widths or groups only)",
            r.source,
            r.layer
        ));
    }
    if is_quantized(&g) && !retarget && dynamic.is_some() {
        return Err(miette!(
            "--act-scales dynamic on {}, which carries its own quantization: give --wbits and --abits to re-target it",
            a.model
        ));
    }
    if !is_quantized(&g) || retarget {
        let plan = WidthPlan::resolve(&g, Precision { weight_bits: wbits, activation_bits: abits }, &requests)
            .into_diagnostic()?
            .with_kv_bits(kv.bits)
            .with_kv_groups(kv.groups)
            .with_weight_groups(groups)
            .with_dynamic_activations(dynamic);
        widened = plan.widened(&g);
        assign_widths(&mut g, &plan, acc);
    }
    let objective = crate::sweep::plan::objective("--objective", &a.objective).map_err(|e| miette!("{e}"))?;
    if a.batch == 0 {
        return Err(miette!("--batch must be at least 1, got 0"));
    }
    let mut report = crate::pipeline::run_batch(&g, a.batch, &hw, objective, None)
        .map_err(|e| match &e {
            // A float32 layer the model file keeps (a QDQ model's float GRU / LSTM) on an
            // integer accelerator: the cost model does not choose a width the file does not
            // have, but the user can.
            crate::pipeline::RunError::Precision { layer, weight_bits: 32, activation_bits: 32, .. } => miette!(
                "{e}\n(the model keeps this layer in float32: `--layer-bits '{layer}=w8a8'` costs it at a width the accelerator has, `--wbits` / `--abits` every layer)"
            ),
            _ => miette!("{e}"),
        })
        .wrap_err(format!("{}: cannot run {} on {}", a.model, g.name, a.hw))?;
    report.notes.extend(widened);
    report.sequence = phase.map(|phase| crate::report::Sequence {
        phase,
        kv_bits: g.kv_cache.first().map(|&t| g.tensor(t).dtype.bits()),
        kv_groups: g.kv_cache.first().and_then(|&t| g.tensor(t).groups),
        batch: a.batch,
    });
    if let Some(g0) = &acc_graph {
        super::exec::attach_accuracy(&mut report, g0, &hw, a.input.as_deref())?;
    }
    Ok((report, hw))
}

/// The per-layer width requests of `--layer-bits` values: `NAME=wWaA` flags, or TOML files
/// (read here, parsed by [`layer_bits::parse_file`]).
pub fn layer_requests(values: &[String]) -> Result<Vec<LayerRequest>> {
    let mut out = Vec::new();
    for v in values {
        if layer_bits::is_file(v) {
            let text = crate::bounded_read::read_text(Path::new(v), crate::bounded_read::MAX_TEXT_BYTES)
                .into_diagnostic()
                .wrap_err_with(|| format!("--layer-bits: cannot read {v}"))?;
            out.extend(layer_bits::parse_file(v, &text)?);
        } else {
            out.push(layer_bits::parse_flag(v)?);
        }
    }
    Ok(out)
}

/// Writes `text` to standard output, or to `out` (the value of `--out`) through the one
/// output writer ([`super::output`]), which refuses to overwrite any of `inputs`.
pub fn emit(out: Option<&Path>, text: &str, inputs: &[Input]) -> Result<()> {
    match out {
        None => {
            let mut so = std::io::stdout().lock();
            match so.write_all(text.as_bytes()).and_then(|()| so.flush()) {
                // The reader stopped early (`accelsim models | head -1`): not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                r => r.into_diagnostic(),
            }
        }
        Some(p) => write_output("--out", p, text.as_bytes(), inputs).map_err(miette::Report::new),
    }
}

/// `accelsim models`.
pub fn list_models() -> Result<()> {
    let mut s = String::new();
    for name in builtin::names() {
        let src = builtin::source(name).unwrap_or_default();
        let line = match model_file::parse_with_info(name, src, &LoadOptions::default()) {
            Ok((g, info)) => format!(
                "{:<14} {:<50} {:>9.1} M MACs {:>8.2} M params{}\n",
                name,
                info.title.unwrap_or_default(),
                g.total_macs().get() as f64 / 1e6,
                g.total_params() as f64 / 1e6,
                info.default_len.map(|s| format!(" (prefill of {s} tokens)")).unwrap_or_default()
            ),
            Err(e) => format!("{name:<14} (broken: {e})\n"),
        };
        s.push_str(&line);
    }
    emit(None, &s, &[])
}

/// `accelsim hw show`.
pub fn show_hw(spec: &str) -> Result<()> {
    use std::fmt::Write as _;
    let hw = hw_from(spec, &[])?;
    let mut s = String::new();
    let _ = writeln!(s, "name        {}", hw.name);
    let _ = writeln!(s, "kind        {}", hw.family.kind());
    if !hw.description.is_empty() {
        let _ = writeln!(s, "description {}", hw.description);
    }
    let _ = writeln!(s, "clock       {:.1} MHz", hw.clock.0 / 1e6);
    // The family's own parameters (its module in `map/family/` says how).
    s.push_str(&hw.family.describe());
    let _ = writeln!(s, "accumulator {} bits, {:?} on overflow", hw.accumulator.bits, hw.accumulator.overflow);
    for m in &hw.precisions {
        let _ = writeln!(
            s,
            "precision   {:>2}x{:<2} bits: {} MACs/cycle ({}; {:.1} GMAC/s), {} pJ/MAC",
            m.weight_bits,
            m.activation_bits,
            m.macs_per_cycle,
            m.macs_origin.label(),
            m.macs_per_cycle as f64 * hw.clock.0 / 1e9,
            m.energy_per_mac.get()
        );
    }
    for b in &hw.buffers {
        let roles: Vec<&str> = [(b.holds.inputs, "inputs"), (b.holds.weights, "weights"), (b.holds.outputs, "outputs")]
            .iter()
            .filter(|(h, _)| *h)
            .map(|(_, n)| *n)
            .collect();
        let _ = writeln!(
            s,
            "buffer      {:<12} {} bytes, {} banks x {} bits ({}; {:.0} B/cycle), {} / {} pJ per read / write, holds {}{}{}",
            b.name,
            b.size.get(),
            b.banks,
            b.port.get(),
            b.port_origin.label(),
            b.bytes_per_cycle(),
            b.read_energy.get(),
            b.write_energy.get(),
            roles.join(", "),
            if b.double_buffered { ", double-buffered" } else { "" },
            if b.level == crate::hw::BufferLevel::PeLocal { ", PE-local" } else { "" }
        );
    }
    let _ = writeln!(
        s,
        "dram        {:.2} GB/s x {:.0}% = {:.2} B/cycle, {} ns latency ({} cycles), {} pJ/bit",
        hw.dram.bandwidth.0 / 1e9,
        hw.dram.efficiency * 100.0,
        hw.dram_bytes_per_cycle(),
        hw.dram.latency_ns,
        hw.dram_latency_cycles(),
        hw.dram.energy_per_bit.get()
    );
    let _ = writeln!(
        s,
        "vector      {} elements/cycle, {} pJ/op",
        hw.vector.elements_per_cycle,
        hw.vector.energy_per_op.get()
    );
    for note in hw.throttle_notes() {
        let _ = writeln!(s, "note        {note}");
    }
    emit(None, &s, &[])
}
