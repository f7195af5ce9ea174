//! Reading accelerator descriptions from TOML: a serde "raw" mirror of the file, validated
//! field by field into a [`HwDesc`]. Every error names the file, line and field and says
//! what was expected. The schema is documented in `accelerators/README.md`.

use super::*;
use crate::diag::FileError;
use crate::source::Source;
use serde::Deserialize;
use std::ops::Range;
use toml::Spanned;

/// An accelerator description could not be loaded.
pub type HwError = FileError;

type S<T> = Spanned<T>;

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    name: S<String>,
    kind: S<String>,
    #[serde(default)]
    description: Option<String>,
    /// Optional: default true (`HwDesc::onchip_reuse`).
    #[serde(default)]
    onchip_reuse: Option<bool>,
    clock_mhz: S<f64>,
    accumulator_bits: S<i64>,
    #[serde(default)]
    accumulator_energy_pj_per_bit: Option<S<f64>>,
    #[serde(default)]
    overflow: Option<S<String>>,
    mac: Option<S<RawMac>>,
    nvdla: Option<S<RawNvdla>>,
    dsp: Option<S<RawDsp>>,
    eyeriss: Option<S<RawEyeriss>>,
    #[serde(default)]
    precision: Vec<S<RawPrecision>>,
    #[serde(default)]
    buffer: Vec<S<RawBuffer>>,
    dram: S<RawDram>,
    vector: S<RawVector>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMac {
    rows: S<i64>,
    cols: S<i64>,
    dataflow: S<String>,
    /// Optional: default the widest mode's wider operand.
    pe_bits: Option<S<i64>>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNvdla {
    atomic_c: S<i64>,
    atomic_k: S<i64>,
    winograd: bool,
    stripe: S<i64>,
    weight_load_cycles: S<i64>,
    pdp_elements_per_cycle: S<i64>,
    /// Optional: default true (NVDLA's SDP element-wise online mode).
    eltwise_on_the_fly: Option<bool>,
    /// Optional: default true (PDP mode 0, input from SDP).
    pool_on_the_fly: Option<bool>,
    /// Optional: default 7 KiB (unit description, PDP share line buffer).
    pdp_line_buffer_kib: Option<S<f64>>,
    /// Optional: "groups" (default, as nvdla/sw) or "expanded".
    grouped_conv: Option<S<String>>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDsp {
    vector_bits: S<i64>,
    hvx_contexts: S<i64>,
    multiply_slots: S<i64>,
    scalar_threads: S<i64>,
    invocation_overhead_us: S<f64>,
    per_op_overhead_us: S<f64>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEyeriss {
    rows: S<i64>,
    cols: S<i64>,
    filter_spad: S<i64>,
    ifmap_spad: S<i64>,
    psum_spad: S<i64>,
    filter_bus_bits: S<i64>,
    ifmap_bus_bits: S<i64>,
    psum_bus_bits: S<i64>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrecision {
    weight_bits: S<i64>,
    activation_bits: S<i64>,
    /// Optional for a MAC array (derived from rows x cols x the PE rate).
    macs_per_cycle: Option<S<i64>>,
    energy_pj_per_mac: S<f64>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBuffer {
    name: String,
    holds: S<Vec<String>>,
    size_kib: S<f64>,
    banks: S<i64>,
    /// Optional for a MAC array (derived from what its edge consumes).
    port_bits: Option<S<i64>>,
    read_energy_pj: S<f64>,
    write_energy_pj: S<f64>,
    #[serde(default = "yes")]
    double_buffered: bool,
    /// Optional: "shared" (default) or "pe_local".
    level: Option<S<String>>,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDram {
    bandwidth_gbps: S<f64>,
    efficiency: S<f64>,
    latency_ns: S<f64>,
    energy_pj_per_bit: S<f64>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVector {
    elements_per_cycle: S<i64>,
    energy_pj_per_op: S<f64>,
}

impl Raw {
    /// Every family section's name and span (`None` when absent).
    fn family_sections(&self) -> [(&'static str, Option<Range<usize>>); 4] {
        [
            ("mac", self.mac.as_ref().map(|s| s.span())),
            ("nvdla", self.nvdla.as_ref().map(|s| s.span())),
            ("dsp", self.dsp.as_ref().map(|s| s.span())),
            ("eyeriss", self.eyeriss.as_ref().map(|s| s.span())),
        ]
    }
}

/// A value `--set` gives a field of the description: a number (`mac.rows=16`) or text
/// (`mac.dataflow=ws`). The field decides which it must be.
#[derive(Debug, Clone, PartialEq)]
pub enum SetValue {
    /// A number, for integer and float fields.
    Num(f64),
    /// Text, for string fields.
    Text(String),
}

impl SetValue {
    /// A number when the text parses as one, else the text.
    pub fn parse(text: &str) -> SetValue {
        let t = text.trim();
        t.parse::<f64>().map(SetValue::Num).unwrap_or_else(|_| SetValue::Text(t.to_string()))
    }
}

impl std::fmt::Display for SetValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetValue::Num(v) if v.is_finite() && v.abs() >= 1e15 => write!(f, "{v:e}"),
            SetValue::Num(v) => write!(f, "{v}"),
            SetValue::Text(t) => write!(f, "{t}"),
        }
    }
}

/// One `--set PATH=VALUE`: the dotted path of a field and its value.
pub type Override = (String, SetValue);

fn numeric(overrides: &[(String, f64)]) -> Vec<Override> {
    overrides.iter().map(|(k, v)| (k.clone(), SetValue::Num(*v))).collect()
}

/// The extensions `--hw` reads as files.
pub const HW_EXTENSIONS: &[&str] = &["toml", "cfg"];

/// Where a description comes from: a file, or a preset's embedded text.
enum HwSource<'a> {
    Toml(&'a str),
    ScaleSimCfg(&'a str),
    Preset(&'a str, &'static str),
}

/// Resolves `spec` (see [`crate::source`]): an existing file, a path-looking argument that
/// must exist (an error otherwise, never a preset of the same name), or a preset name.
fn hw_source(spec: &str) -> Result<HwSource<'_>, HwError> {
    match crate::source::resolve(spec, HW_EXTENSIONS) {
        Source::File(p) if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("cfg")) => {
            Ok(HwSource::ScaleSimCfg(spec))
        }
        Source::File(_) => Ok(HwSource::Toml(spec)),
        Source::Missing(p) => {
            Err(FileError::whole(spec, crate::source::missing_message(p, "preset", &presets::names())))
        }
        Source::Name(name) => {
            let name = name.strip_suffix(".toml").unwrap_or(name);
            match presets::source(name) {
                Some(text) => Ok(HwSource::Preset(name, text)),
                None => Err(FileError::whole(
                    spec,
                    format!("no such file, and not a preset; presets are: {}", presets::names().join(", ")),
                )),
            }
        }
    }
}

/// Loads a description by path or by preset name (`dsp`): an argument that looks like a
/// path (`./my/dsp.toml`, `dsp.toml`) must name an existing file.
pub fn load_hw(spec: &str, overrides: &[(String, f64)]) -> Result<HwDesc, HwError> {
    load_hw_with(spec, &numeric(overrides))
}

/// [`load_hw`] with overrides that may set text fields (`mac.dataflow=ws`).
pub fn load_hw_with(spec: &str, overrides: &[Override]) -> Result<HwDesc, HwError> {
    match hw_source(spec)? {
        HwSource::ScaleSimCfg(p) => super::scalesim_cfg::load(p, overrides),
        HwSource::Toml(p) => {
            let text = crate::bounded_read::read_text(std::path::Path::new(p), crate::bounded_read::MAX_TEXT_BYTES)
                .map_err(|e| FileError::whole(p, format!("cannot read: {e}")))?;
            parse_hw_with(p, &text, overrides)
        }
        HwSource::Preset(name, text) => parse_hw_with(&format!("accelerators/{name}.toml"), text, overrides),
    }
}

/// The TOML text of a description (a file or a preset) with `overrides` applied, checked
/// to load first: what the Python package's `Accelerator.to_toml()` returns. Without
/// overrides it is the file's own text; with them, the rewritten table (comments dropped).
pub fn hw_toml_with(spec: &str, overrides: &[Override]) -> Result<String, HwError> {
    load_hw_with(spec, overrides)?;
    let (file, text) = match hw_source(spec)? {
        HwSource::ScaleSimCfg(p) => return Err(FileError::whole(p, "a SCALE-Sim .cfg has no TOML form")),
        HwSource::Toml(p) => (
            p.to_string(),
            crate::bounded_read::read_text(std::path::Path::new(p), crate::bounded_read::MAX_TEXT_BYTES)
                .map_err(|e| FileError::whole(p, format!("cannot read: {e}")))?,
        ),
        HwSource::Preset(name, text) => (format!("accelerators/{name}.toml"), text.to_string()),
    };
    if overrides.is_empty() {
        return Ok(text);
    }
    apply_overrides(&file, &text, overrides)
}

/// Parses a description's text. `overrides` set numeric fields by dotted path
/// (`mac.rows`, `dram.bandwidth_gbps`, `buffer.0.size_kib`) before validation.
///
/// An error in the file itself names its line; an error an override causes names the
/// `--set` argument (`--set mac.rows=0: mac.rows must be in ...`), not a line of the
/// rewritten text.
pub fn parse_hw(file: &str, text: &str, overrides: &[(String, f64)]) -> Result<HwDesc, HwError> {
    parse_hw_with(file, text, &numeric(overrides))
}

/// [`parse_hw`] with overrides that may set text fields (`mac.dataflow=ws`).
pub fn parse_hw_with(file: &str, text: &str, overrides: &[Override]) -> Result<HwDesc, HwError> {
    let base = parse_text(file, text)?;
    if overrides.is_empty() {
        return Ok(base);
    }
    let with = |n: usize| apply_overrides(file, text, &overrides[..n]).and_then(|t| parse_text(file, &t));
    match with(overrides.len()) {
        Ok(hw) => Ok(hw),
        Err(e) => {
            // Name the first override that breaks the description.
            let i = (1..overrides.len()).find(|&n| with(n).is_err()).map_or(overrides.len() - 1, |n| n - 1);
            let (path, value) = &overrides[i];
            let prefix = format!("--set {path}");
            let message = if e.message.starts_with(&prefix) {
                e.message
            } else {
                format!("{}: {}", set_arg(path, value), e.message)
            };
            Err(FileError::whole(file, message))
        }
    }
}

/// `--set path=value` as the user would have typed it.
fn set_arg(path: &str, value: &SetValue) -> String {
    format!("--set {path}={value}")
}

fn parse_text(file: &str, text: &str) -> Result<HwDesc, HwError> {
    let raw: Raw = toml::from_str(text).map_err(|e| FileError::from_toml(file, text, &e))?;
    Validator { file, text }.desc(raw)
}

fn apply_overrides(file: &str, text: &str, overrides: &[Override]) -> Result<String, HwError> {
    let mut doc: toml::Table = toml::from_str(text).map_err(|e| FileError::from_toml(file, text, &e))?;
    for (path, value) in overrides {
        let parts: Vec<&str> = path.split('.').collect();
        // An optional switch a description leaves at its default.
        if let Some(&(_, default, _)) = OPTIONAL_SWITCHES.iter().find(|(f, ..)| parts == [*f]) {
            doc.entry(path.clone()).or_insert(toml::Value::Boolean(default));
        }
        let mut node: &mut toml::Value = doc.get_mut(parts[0]).ok_or_else(|| no_field(file, path))?;
        for (depth, p) in parts.iter().enumerate().skip(1) {
            node = match node {
                // A derived value a description leaves out can be pinned by `--set`.
                toml::Value::Table(t) => {
                    if depth + 1 == parts.len() && DERIVABLE.contains(p) && !t.contains_key(*p) {
                        t.insert(p.to_string(), toml::Value::Integer(0));
                    }
                    // An optional text field a description leaves at its default.
                    if let Some(&(_, _, default)) = OPTIONAL_TEXT
                        .iter()
                        .find(|(s, f, _)| depth == 1 && parts.len() == 2 && parts[0] == *s && p == f)
                    {
                        t.entry(p.to_string()).or_insert_with(|| toml::Value::String(default().to_string()));
                    }
                    t.get_mut(*p)
                }
                toml::Value::Array(a) => p.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
                _ => None,
            }
            .ok_or_else(|| no_field(file, path))?;
        }
        let arg = set_arg(path, value);
        *node = match (&*node, value) {
            // Every whole number an i64 holds converts; the description's validation then
            // reports the field's own range.
            (toml::Value::Integer(_), SetValue::Num(v)) if v.fract() == 0.0 && v.abs() < 9.2e18 => {
                toml::Value::Integer(*v as i64)
            }
            (toml::Value::Integer(_), SetValue::Num(v)) if v.fract() == 0.0 => {
                return Err(FileError::whole(file, format!("{arg}: far outside the range of this integer field")))
            }
            (toml::Value::Integer(_), _) => {
                return Err(FileError::whole(file, format!("{arg}: field takes a whole number")))
            }
            (toml::Value::Float(_), SetValue::Num(v)) => toml::Value::Float(*v),
            (toml::Value::Float(_), SetValue::Text(_)) => {
                return Err(FileError::whole(file, format!("{arg}: field takes a number")))
            }
            (toml::Value::String(_), v) => toml::Value::String(v.to_string()),
            (toml::Value::Boolean(_), SetValue::Text(t)) if t == "true" || t == "false" => {
                toml::Value::Boolean(t == "true")
            }
            (toml::Value::Boolean(_), _) => {
                return Err(FileError::whole(file, format!("{arg}: field takes true or false")))
            }
            _ => return Err(FileError::whole(file, format!("--set {path}: not a number, text or true/false field"))),
        };
    }
    toml::to_string(&doc).map_err(|e| FileError::whole(file, format!("cannot apply overrides: {e}")))
}

/// A TOML description parsed once, instantiated per design point with `--set` overrides.
///
/// [`HwTemplate::instantiate`] gives exactly what [`parse_hw`] gives for the same text and
/// overrides: each override is applied to the parsed raw form (the type of the value, whole
/// number or not, is decided by the node the dotted path reaches in the file, as
/// `parse_hw` does) and the result goes through the same validation. Whenever that fast
/// path cannot apply an override or validation fails, it falls back to `parse_hw`, so
/// errors (and their file positions) are the same too.
#[derive(Clone)]
pub struct HwTemplate {
    file: String,
    text: String,
    doc: toml::Table,
    raw: Raw,
}

/// A value an override sets: the kind of node it replaces decides which.
#[derive(Clone, Copy)]
enum Num {
    Int(i64),
    Float(f64),
}

impl HwTemplate {
    /// Parses a description's text; fails as [`parse_hw`] without overrides would.
    pub fn parse(file: &str, text: &str) -> Result<Self, HwError> {
        let raw: Raw = toml::from_str(text).map_err(|e| FileError::from_toml(file, text, &e))?;
        let doc: toml::Table = toml::from_str(text).map_err(|e| FileError::from_toml(file, text, &e))?;
        Ok(HwTemplate { file: file.to_string(), text: text.to_string(), doc, raw })
    }

    /// The template of a description given as to [`load_hw`] (a TOML file or a preset);
    /// `None` for a SCALE-Sim `.cfg` file or a description that does not load (use
    /// [`load_hw`] for those, which reports the error).
    pub fn load(spec: &str) -> Option<Self> {
        match hw_source(spec).ok()? {
            HwSource::ScaleSimCfg(_) => None,
            HwSource::Toml(p) => HwTemplate::parse(
                p,
                &crate::bounded_read::read_text(std::path::Path::new(p), crate::bounded_read::MAX_TEXT_BYTES).ok()?,
            )
            .ok(),
            HwSource::Preset(name, text) => HwTemplate::parse(&format!("accelerators/{name}.toml"), text).ok(),
        }
    }

    /// The validated description with `overrides` applied (see [`parse_hw`]).
    pub fn instantiate(&self, overrides: &[Override]) -> Result<HwDesc, HwError> {
        match self.fast(overrides) {
            Some(hw) => Ok(hw),
            None => parse_hw_with(&self.file, &self.text, overrides),
        }
    }

    fn fast(&self, overrides: &[Override]) -> Option<HwDesc> {
        let mut raw = self.raw.clone();
        for (path, value) in overrides {
            // A switch (`onchip_reuse=true,false`, swept against every other field).
            if let (Some(&(_, _, set)), SetValue::Text(t)) = (OPTIONAL_SWITCHES.iter().find(|(f, ..)| f == path), value)
            {
                match t.as_str() {
                    "true" => set(&mut raw, true),
                    "false" => set(&mut raw, false),
                    // Anything else is refused by the slow path, which names it.
                    _ => return None,
                }
                continue;
            }
            // Other text values (rare: `mac.dataflow`) take the slow path.
            let SetValue::Num(value) = value else { return None };
            let num = match self.node(path)? {
                toml::Value::Integer(_) if value.fract() == 0.0 && value.abs() < 9e15 => Num::Int(*value as i64),
                toml::Value::Float(_) => Num::Float(*value),
                _ => return None,
            };
            set_raw(&mut raw, path, num)?;
        }
        Validator { file: &self.file, text: &self.text }.desc(raw).ok()
    }

    /// The node a dotted path reaches in the file, walked as `apply_overrides` walks it.
    fn node(&self, path: &str) -> Option<&toml::Value> {
        let mut parts = path.split('.');
        let mut node = self.doc.get(parts.next()?)?;
        for p in parts {
            node = match node {
                toml::Value::Table(t) => t.get(p),
                toml::Value::Array(a) => p.parse::<usize>().ok().and_then(|i| a.get(i)),
                _ => None,
            }?;
        }
        Some(node)
    }
}

/// Sets the numeric field of `raw` at a dotted path; `None` if the path is not one.
fn set_raw(raw: &mut Raw, path: &str, v: Num) -> Option<()> {
    fn i(f: &mut S<i64>, v: Num) -> Option<()> {
        match v {
            Num::Int(x) => *f.get_mut() = x,
            Num::Float(_) => return None,
        }
        Some(())
    }
    fn f(f: &mut S<f64>, v: Num) -> Option<()> {
        *f.get_mut() = match v {
            Num::Int(x) => x as f64,
            Num::Float(x) => x,
        };
        Some(())
    }
    let parts: Vec<&str> = path.split('.').collect();
    match parts.as_slice() {
        ["clock_mhz"] => f(&mut raw.clock_mhz, v),
        ["accumulator_bits"] => i(&mut raw.accumulator_bits, v),
        ["accumulator_energy_pj_per_bit"] => f(raw.accumulator_energy_pj_per_bit.as_mut()?, v),
        ["mac", field] => {
            let m = raw.mac.as_mut()?.get_mut();
            match *field {
                "rows" => i(&mut m.rows, v),
                "cols" => i(&mut m.cols, v),
                "pe_bits" => i(m.pe_bits.as_mut()?, v),
                _ => None,
            }
        }
        ["nvdla", field] => {
            let n = raw.nvdla.as_mut()?.get_mut();
            match *field {
                "atomic_c" => i(&mut n.atomic_c, v),
                "atomic_k" => i(&mut n.atomic_k, v),
                "stripe" => i(&mut n.stripe, v),
                "weight_load_cycles" => i(&mut n.weight_load_cycles, v),
                "pdp_elements_per_cycle" => i(&mut n.pdp_elements_per_cycle, v),
                "pdp_line_buffer_kib" => f(n.pdp_line_buffer_kib.as_mut()?, v),
                _ => None,
            }
        }
        ["dsp", field] => {
            let d = raw.dsp.as_mut()?.get_mut();
            match *field {
                "vector_bits" => i(&mut d.vector_bits, v),
                "hvx_contexts" => i(&mut d.hvx_contexts, v),
                "multiply_slots" => i(&mut d.multiply_slots, v),
                "scalar_threads" => i(&mut d.scalar_threads, v),
                "invocation_overhead_us" => f(&mut d.invocation_overhead_us, v),
                "per_op_overhead_us" => f(&mut d.per_op_overhead_us, v),
                _ => None,
            }
        }
        ["eyeriss", field] => {
            let e = raw.eyeriss.as_mut()?.get_mut();
            match *field {
                "rows" => i(&mut e.rows, v),
                "cols" => i(&mut e.cols, v),
                "filter_spad" => i(&mut e.filter_spad, v),
                "ifmap_spad" => i(&mut e.ifmap_spad, v),
                "psum_spad" => i(&mut e.psum_spad, v),
                "filter_bus_bits" => i(&mut e.filter_bus_bits, v),
                "ifmap_bus_bits" => i(&mut e.ifmap_bus_bits, v),
                "psum_bus_bits" => i(&mut e.psum_bus_bits, v),
                _ => None,
            }
        }
        ["precision", idx, field] => {
            let p = raw.precision.get_mut(idx.parse::<usize>().ok()?)?.get_mut();
            match *field {
                "weight_bits" => i(&mut p.weight_bits, v),
                "activation_bits" => i(&mut p.activation_bits, v),
                "macs_per_cycle" => i(p.macs_per_cycle.as_mut()?, v),
                "energy_pj_per_mac" => f(&mut p.energy_pj_per_mac, v),
                _ => None,
            }
        }
        ["buffer", idx, field] => {
            let b = raw.buffer.get_mut(idx.parse::<usize>().ok()?)?.get_mut();
            match *field {
                "size_kib" => f(&mut b.size_kib, v),
                "banks" => i(&mut b.banks, v),
                "port_bits" => i(b.port_bits.as_mut()?, v),
                "read_energy_pj" => f(&mut b.read_energy_pj, v),
                "write_energy_pj" => f(&mut b.write_energy_pj, v),
                _ => None,
            }
        }
        ["dram", field] => {
            let d = raw.dram.get_mut();
            match *field {
                "bandwidth_gbps" => f(&mut d.bandwidth_gbps, v),
                "efficiency" => f(&mut d.efficiency, v),
                "latency_ns" => f(&mut d.latency_ns, v),
                "energy_pj_per_bit" => f(&mut d.energy_pj_per_bit, v),
                _ => None,
            }
        }
        ["vector", field] => {
            let e = raw.vector.get_mut();
            match *field {
                "elements_per_cycle" => i(&mut e.elements_per_cycle, v),
                "energy_pj_per_op" => f(&mut e.energy_pj_per_op, v),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Integer fields a description may leave to be derived (`--set` pins them).
const DERIVABLE: [&str; 3] = ["pe_bits", "macs_per_cycle", "port_bits"];

/// Optional text fields (section, field, default) that `--set` may set although the
/// description leaves them out (the runs' notes name them as knobs).
/// The default is the one the description's validation takes when the field is absent.
const OPTIONAL_TEXT: [(&str, &str, fn() -> &'static str); 1] =
    [("nvdla", "grouped_conv", || NvdlaGroupedMapping::default().name())];

/// Optional top-level switches that `--set` may set although the description leaves them
/// out (`--set onchip_reuse=true,false` sweeps on-chip reuse): the field, its default (the
/// one the description's validation takes when it is absent) and how the template's fast
/// path sets it.
type SetSwitch = fn(&mut Raw, bool);
const OPTIONAL_SWITCHES: [(&str, bool, SetSwitch); 1] = [("onchip_reuse", true, |r, v| r.onchip_reuse = Some(v))];

fn no_field(file: &str, path: &str) -> FileError {
    FileError::whole(file, format!("--set {path}: the description has no such field"))
}

struct Validator<'a> {
    file: &'a str,
    text: &'a str,
}

impl Validator<'_> {
    fn err(&self, span: Range<usize>, msg: String) -> FileError {
        FileError::at(self.file, self.text, Some(span), msg)
    }

    fn int(&self, v: &S<i64>, field: &str, lo: i64, hi: i64) -> Result<u64, FileError> {
        let x = *v.get_ref();
        if x < lo || x > hi {
            return Err(self.err(v.span(), format!("{field} must be in {lo}..={hi}, got {x}")));
        }
        Ok(x as u64)
    }

    fn float(&self, v: &S<f64>, field: &str, lo: f64, hi: f64, lo_open: bool) -> Result<f64, FileError> {
        let x = *v.get_ref();
        let ok = x.is_finite() && (if lo_open { x > lo } else { x >= lo }) && x <= hi;
        if !ok {
            let open = if lo_open { "(" } else { "[" };
            return Err(self.err(v.span(), format!("{field} must be in {open}{lo}, {hi}], got {x}")));
        }
        Ok(x)
    }

    /// The family section `own` of `raw` (`section`), which must be present; any other
    /// family's section is an error.
    fn section<'r, T>(&self, raw: &Raw, own: &str, section: &'r Option<S<T>>) -> Result<&'r T, FileError> {
        let kind = raw.kind.get_ref();
        let s = section
            .as_ref()
            .ok_or_else(|| self.err(raw.kind.span(), format!("kind = \"{kind}\" needs a [{own}] section")))?;
        if let Some((name, Some(span))) = raw.family_sections().into_iter().find(|(n, s)| *n != own && s.is_some()) {
            return Err(self.err(span, format!("[{name}] does not apply to kind = \"{kind}\"")));
        }
        Ok(s.get_ref())
    }

    /// The `[mac]` section of a `mac_array`.
    fn mac_array(&self, m: &RawMac, precision: &[S<RawPrecision>]) -> Result<Family, FileError> {
        Ok(Family::MacArray(MacArray {
            rows: self.int(&m.rows, "mac.rows", 1, 1 << 16)?,
            cols: self.int(&m.cols, "mac.cols", 1, 1 << 16)?,
            depthwise: DepthwiseMapping::Native,
            pe_bits: match &m.pe_bits {
                Some(p) => self.int(p, "mac.pe_bits", 1, 64)? as u32,
                // The widest mode runs one MAC per PE per cycle.
                None => precision
                    .iter()
                    .map(|p| *p.get_ref().weight_bits.get_ref().max(p.get_ref().activation_bits.get_ref()))
                    .max()
                    .map_or(8, |b| b.clamp(1, 64) as u32),
            },
            dataflow: m.dataflow.get_ref().parse().map_err(|bad: UnknownDataflow| {
                self.err(m.dataflow.span(), format!("mac.dataflow must be \"os\", \"ws\" or \"is\", got \"{}\"", bad.0))
            })?,
        }))
    }

    /// The `[nvdla]` section of an `nvdla`.
    fn nvdla(&self, n: &RawNvdla) -> Result<Family, FileError> {
        Ok(Family::Nvdla(Nvdla {
            atomic_c: self.int(&n.atomic_c, "nvdla.atomic_c", 1, 4096)?,
            atomic_k: self.int(&n.atomic_k, "nvdla.atomic_k", 1, 4096)?,
            winograd: n.winograd,
            stripe: self.int(&n.stripe, "nvdla.stripe", 1, 1 << 16)?,
            weight_load_cycles: self.int(&n.weight_load_cycles, "nvdla.weight_load_cycles", 0, 1 << 20)?,
            pdp_elements_per_cycle: self.int(&n.pdp_elements_per_cycle, "nvdla.pdp_elements_per_cycle", 1, 1 << 16)?,
            eltwise_on_the_fly: n.eltwise_on_the_fly.unwrap_or(true),
            pool_on_the_fly: n.pool_on_the_fly.unwrap_or(true),
            pdp_line_buffer: match &n.pdp_line_buffer_kib {
                Some(k) => {
                    let kib = self.float(k, "nvdla.pdp_line_buffer_kib", 0.0, 1024.0, false)?;
                    Bytes((kib * 1024.0).round() as u64)
                }
                None => Bytes(PDP_LINE_BUFFER_BYTES),
            },
            grouped: match &n.grouped_conv {
                None => NvdlaGroupedMapping::default(),
                Some(g) => NvdlaGroupedMapping::ALL.into_iter().find(|m| m.name() == g.get_ref()).ok_or_else(|| {
                    let names: Vec<String> =
                        NvdlaGroupedMapping::ALL.iter().map(|m| format!("\"{}\"", m.name())).collect();
                    self.err(
                        g.span(),
                        format!("nvdla.grouped_conv must be {}, got \"{}\"", names.join(" or "), g.get_ref()),
                    )
                })?,
            },
        }))
    }

    /// The `[dsp]` section of a `dsp`.
    fn dsp(&self, d: &RawDsp) -> Result<Family, FileError> {
        let vb = self.int(&d.vector_bits, "dsp.vector_bits", 32, 1 << 16)?;
        if vb % 32 != 0 {
            return Err(self.err(d.vector_bits.span(), format!("dsp.vector_bits must be a multiple of 32, got {vb}")));
        }
        Ok(Family::Dsp(Dsp {
            vector_bits: vb,
            hvx_contexts: self.int(&d.hvx_contexts, "dsp.hvx_contexts", 1, 64)?,
            multiply_slots: self.int(&d.multiply_slots, "dsp.multiply_slots", 1, 16)?,
            scalar_threads: self.int(&d.scalar_threads, "dsp.scalar_threads", 1, 64)?,
            invocation_overhead_us: self.float(
                &d.invocation_overhead_us,
                "dsp.invocation_overhead_us",
                0.0,
                1e7,
                false,
            )?,
            per_op_overhead_us: self.float(&d.per_op_overhead_us, "dsp.per_op_overhead_us", 0.0, 1e7, false)?,
        }))
    }

    /// The `[eyeriss]` section of an `eyeriss`.
    fn eyeriss(&self, e: &RawEyeriss) -> Result<Family, FileError> {
        Ok(Family::Eyeriss(Eyeriss {
            rows: self.int(&e.rows, "eyeriss.rows", 1, 1 << 16)?,
            cols: self.int(&e.cols, "eyeriss.cols", 1, 1 << 16)?,
            filter_spad: self.int(&e.filter_spad, "eyeriss.filter_spad", 1, 1 << 20)?,
            ifmap_spad: self.int(&e.ifmap_spad, "eyeriss.ifmap_spad", 1, 1 << 20)?,
            psum_spad: self.int(&e.psum_spad, "eyeriss.psum_spad", 1, 1 << 20)?,
            filter_bus_bits: self.int(&e.filter_bus_bits, "eyeriss.filter_bus_bits", 1, 1 << 16)?,
            ifmap_bus_bits: self.int(&e.ifmap_bus_bits, "eyeriss.ifmap_bus_bits", 1, 1 << 16)?,
            psum_bus_bits: self.int(&e.psum_bus_bits, "eyeriss.psum_bus_bits", 1, 1 << 16)?,
        }))
    }

    fn desc(&self, raw: Raw) -> Result<HwDesc, FileError> {
        let family = match raw.kind.get_ref().as_str() {
            "mac_array" => self.mac_array(self.section(&raw, "mac", &raw.mac)?, &raw.precision)?,
            "nvdla" => self.nvdla(self.section(&raw, "nvdla", &raw.nvdla)?)?,
            "dsp" => self.dsp(self.section(&raw, "dsp", &raw.dsp)?)?,
            "eyeriss" => self.eyeriss(self.section(&raw, "eyeriss", &raw.eyeriss)?)?,
            other => {
                return Err(self.err(
                    raw.kind.span(),
                    format!("kind must be \"mac_array\", \"nvdla\", \"dsp\" or \"eyeriss\", got \"{other}\""),
                ))
            }
        };
        let kind = family.kind();
        // 1 MHz to 100 GHz: beyond, latencies are off by many orders of magnitude (a typo
        // or a unit mistake), not a design point.
        let clock_mhz = self.float(&raw.clock_mhz, "clock_mhz", 1.0, 1e5, false)?;
        let acc_bits = self.int(&raw.accumulator_bits, "accumulator_bits", 8, 64)? as u32;
        // Up to 1 pJ per bit (a 32-bit add at 32 pJ is three orders above 45 nm figures).
        let acc_energy = match &raw.accumulator_energy_pj_per_bit {
            Some(e) => self.float(e, "accumulator_energy_pj_per_bit", 0.0, 1.0, false)?,
            None => 0.0,
        };
        let overflow = match raw.overflow.as_ref().map(|o| (o.get_ref().as_str(), o.span())) {
            None | Some(("wrap", _)) => Overflow::Wrap,
            Some(("saturate", _)) => Overflow::Saturate,
            Some((other, span)) => {
                return Err(self.err(span, format!("overflow must be \"wrap\" or \"saturate\", got \"{other}\"")))
            }
        };
        if raw.precision.is_empty() {
            return Err(self.err(raw.name.span(), "at least one [[precision]] mode is required".into()));
        }
        let mut precisions = Vec::new();
        for p in &raw.precision {
            let r = p.get_ref();
            let weight_bits = self.int(&r.weight_bits, "precision.weight_bits", 1, 32)? as u32;
            let activation_bits = self.int(&r.activation_bits, "precision.activation_bits", 1, 32)? as u32;
            let derived = match &family {
                Family::MacArray(a) => Some(a.peak_macs(weight_bits, activation_bits)),
                // One MAC per PE per cycle in every mode (no narrow-operand fusion).
                Family::Eyeriss(e) => Some(e.rows * e.cols),
                Family::Nvdla(_) | Family::Dsp(_) => None,
            };
            let (macs_per_cycle, macs_origin) = match (&r.macs_per_cycle, derived) {
                (Some(v), _) => (self.int(v, "precision.macs_per_cycle", 1, 1 << 40)?, Origin::Pinned { derived }),
                (None, Some(d)) => (d, Origin::Derived),
                (None, None) => {
                    return Err(self.err(
                        p.span(),
                        format!("precision {weight_bits}x{activation_bits}: macs_per_cycle is required for kind = \"{kind}\" (only a mac_array or an eyeriss derives it)"),
                    ))
                }
            };
            let m = PrecisionMode {
                weight_bits,
                activation_bits,
                macs_per_cycle,
                macs_origin,
                energy_per_mac: PicoJoules(self.float(
                    &r.energy_pj_per_mac,
                    "precision.energy_pj_per_mac",
                    0.0,
                    1e6,
                    false,
                )?),
            };
            if precisions
                .iter()
                .any(|q: &PrecisionMode| q.weight_bits == m.weight_bits && q.activation_bits == m.activation_bits)
            {
                return Err(
                    self.err(p.span(), format!("precision {}x{} is listed twice", m.weight_bits, m.activation_bits))
                );
            }
            if m.activation_bits > acc_bits || m.weight_bits > acc_bits {
                return Err(self.err(
                    p.span(),
                    format!(
                        "accumulator_bits = {acc_bits} is narrower than the {}x{} operands",
                        m.weight_bits, m.activation_bits
                    ),
                ));
            }
            precisions.push(m);
        }
        let mut buffers = Vec::new();
        for b in &raw.buffer {
            let r = b.get_ref();
            let mut holds = Roles::default();
            for h in r.holds.get_ref() {
                match h.as_str() {
                    "inputs" => holds.inputs = true,
                    "weights" => holds.weights = true,
                    "outputs" => holds.outputs = true,
                    other => {
                        return Err(self.err(
                            r.holds.span(),
                            format!(
                                "buffer '{}': holds entry \"{other}\": expected \"inputs\", \"weights\" or \"outputs\"",
                                r.name
                            ),
                        ))
                    }
                }
            }
            let kib = self.float(&r.size_kib, &format!("buffer '{}' size_kib", r.name), 0.0, 1e9, true)?;
            let size = (kib * 1024.0).round() as u64;
            if size == 0 {
                return Err(self.err(r.size_kib.span(), format!("buffer '{}' size_kib is below one byte", r.name)));
            }
            let banks = self.int(&r.banks, &format!("buffer '{}' banks", r.name), 1, 1 << 16)?;
            // A MAC array's buffer feeds its edge: the port (over all banks) moves what the
            // edge consumes per cycle for the roles it holds, rounded up to whole bytes.
            let derived = match &family {
                Family::MacArray(a) => {
                    let edge: u64 = [Role::Inputs, Role::Weights, Role::Outputs]
                        .into_iter()
                        .filter(|&role| holds.has(role))
                        .map(|role| a.edge_bits(role, &precisions))
                        .sum();
                    Some(edge)
                }
                Family::Nvdla(_) | Family::Dsp(_) | Family::Eyeriss(_) => None,
            };
            let (port, port_origin) = match (&r.port_bits, derived) {
                (Some(v), _) => {
                    (self.int(v, &format!("buffer '{}' port_bits", r.name), 8, 1 << 16)?, Origin::Pinned { derived })
                }
                (None, Some(edge)) => ((edge.div_ceil(banks).div_ceil(8) * 8).clamp(8, 1 << 16), Origin::Derived),
                (None, None) => {
                    return Err(self.err(
                        b.span(),
                        format!(
                            "buffer '{}': port_bits is required for kind = \"{kind}\" (only a mac_array derives it)",
                            r.name
                        ),
                    ))
                }
            };
            buffers.push(Buffer {
                name: r.name.as_str().into(),
                size: Bytes(size),
                banks,
                port: Bits(port),
                port_origin,
                read_energy: PicoJoules(self.float(&r.read_energy_pj, "read_energy_pj", 0.0, 1e9, false)?),
                write_energy: PicoJoules(self.float(&r.write_energy_pj, "write_energy_pj", 0.0, 1e9, false)?),
                holds,
                double_buffered: r.double_buffered,
                level: match &r.level {
                    None => BufferLevel::Shared,
                    Some(l) => BufferLevel::ALL.into_iter().find(|v| v.name() == l.get_ref()).ok_or_else(|| {
                        self.err(
                            l.span(),
                            format!(
                                "buffer '{}' level: expected \"shared\" or \"pe_local\", got \"{}\"",
                                r.name,
                                l.get_ref()
                            ),
                        )
                    })?,
                },
            });
        }
        for (role, name) in [(Role::Inputs, "inputs"), (Role::Weights, "weights"), (Role::Outputs, "outputs")] {
            if !buffers.iter().any(|b| b.holds.has(role) && b.level == BufferLevel::Shared) {
                let only_local = if buffers.iter().any(|b| b.holds.has(role)) {
                    " (only level = \"pe_local\" ones; tiles are loaded into a shared buffer)"
                } else {
                    ""
                };
                return Err(self.err(raw.name.span(), format!("no [[buffer]] holds \"{name}\"{only_local}")));
            }
        }
        let d = raw.dram.get_ref();
        let dram = Dram {
            bandwidth: BytesPerSecond(self.float(&d.bandwidth_gbps, "dram.bandwidth_gbps", 0.0, 1e6, true)? * 1e9),
            efficiency: self.float(&d.efficiency, "dram.efficiency", 0.0, 1.0, true)?,
            latency_ns: self.float(&d.latency_ns, "dram.latency_ns", 0.0, 1e6, false)?,
            energy_per_bit: PicoJoules(self.float(&d.energy_pj_per_bit, "dram.energy_pj_per_bit", 0.0, 1e6, false)?),
            sized_to_demand: false,
        };
        let v = raw.vector.get_ref();
        let vector = VectorUnit {
            elements_per_cycle: self.int(&v.elements_per_cycle, "vector.elements_per_cycle", 1, 1 << 20)?,
            energy_per_op: PicoJoules(self.float(&v.energy_pj_per_op, "vector.energy_pj_per_op", 0.0, 1e6, false)?),
        };
        Ok(HwDesc {
            name: raw.name.get_ref().clone(),
            description: raw.description.unwrap_or_default(),
            onchip_reuse: raw.onchip_reuse.unwrap_or(true),
            family,
            clock: Hertz(clock_mhz * 1e6),
            precisions,
            accumulator: Accumulator { bits: acc_bits, overflow, energy_per_bit: PicoJoules(acc_energy) },
            buffers,
            dram,
            vector,
            notes: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_err(edit: impl Fn(&str) -> String, expect: &str) {
        let base = presets::source("systolic32").expect("preset");
        let text = edit(base);
        let e = parse_hw("x.toml", &text, &[]).unwrap_err().to_string();
        assert!(e.contains(expect), "error '{e}' does not contain '{expect}'");
    }

    #[test]
    fn toml_with_overrides_round_trips() {
        let ov = vec![("mac.rows".to_string(), SetValue::Num(16.0))];
        let text = hw_toml_with("systolic32", &ov).expect("preset with an override");
        let back = parse_hw("x.toml", &text, &[]).expect("the written TOML loads");
        assert_eq!(back, load_hw_with("systolic32", &ov).expect("preset"));
        assert_eq!(hw_toml_with("systolic32", &[]).expect("preset"), presets::source("systolic32").expect("preset"));
        let bad = vec![("mac.rows".to_string(), SetValue::Num(0.0))];
        assert!(hw_toml_with("systolic32", &bad).is_err());
    }

    #[test]
    fn buffer_levels() {
        let base = presets::source("systolic32").expect("preset");
        let rf = "\n[[buffer]]\nname = \"rf\"\nholds = [\"weights\"]\nsize_kib = 0.5\nbanks = 1\nport_bits = 8\nread_energy_pj = 0.1\nwrite_energy_pj = 0.1\nlevel = \"pe_local\"\n";
        let hw = parse_hw("x.toml", &format!("{base}{rf}"), &[]).expect("a PE-local buffer is valid");
        let last = hw.buffers.len() - 1;
        assert_eq!(hw.buffers[last].level, BufferLevel::PeLocal);
        assert_eq!(hw.buffer_at(Role::Weights, BufferLevel::PeLocal), Some(last));
        assert_ne!(hw.buffer_at(Role::Weights, BufferLevel::Shared), Some(last));
        let e = parse_hw("x.toml", &format!("{base}{}", rf.replace("pe_local", "pe")), &[]).unwrap_err();
        assert!(e.to_string().contains("level: expected \"shared\" or \"pe_local\", got \"pe\""), "{e}");
        // A role held only by a PE-local buffer has nowhere to load tiles into.
        let only_local = base.replace("holds = [\"weights\"]", "holds = [\"weights\"]\nlevel = \"pe_local\"");
        let e = parse_hw("x.toml", &only_local, &[]).unwrap_err();
        assert!(e.to_string().contains("no [[buffer]] holds \"weights\" (only level = \"pe_local\""), "{e}");
    }

    #[test]
    fn every_preset_is_valid() {
        for name in presets::names() {
            let hw = load_hw(name, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!hw.precisions.is_empty());
        }
    }

    #[test]
    fn errors_name_line_and_field() {
        check_err(|t| t.replace("rows = 32", "rows = 0"), "mac.rows must be in 1..=65536, got 0");
        check_err(|t| t.replace("rows = 32", "rows = \"a\""), "invalid type");
        check_err(|t| t.replace("rows = 32", "rows = 32\nrowz = 3"), "unknown field `rowz`");
        check_err(|t| t.replace("dataflow = \"os\"", "dataflow = \"xs\""), "mac.dataflow must be");
        check_err(|t| t.replace("kind = \"mac_array\"", "kind = \"gpu\""), "kind must be");
        check_err(|t| t.replace("bandwidth_gbps = 10.0", "bandwidth_gbps = 0.0"), "dram.bandwidth_gbps must be in (0");
        check_err(
            |t| t.replace("accumulator_energy_pj_per_bit = 0.003125", "accumulator_energy_pj_per_bit = -0.1"),
            "accumulator_energy_pj_per_bit must be in [0, 1], got -0.1",
        );
        let e = parse_hw("x.toml", &presets::source("systolic32").unwrap().replace("rows = 32", "rows = 0"), &[])
            .unwrap_err();
        assert!(e.line > 0 && e.file == "x.toml", "{e}");
    }

    #[test]
    fn overrides_set_fields_by_dotted_path() {
        let hw = load_hw("systolic32", &[("mac.rows".into(), 16.0), ("dram.bandwidth_gbps".into(), 5.0)]).unwrap();
        match hw.family {
            Family::MacArray(m) => assert_eq!(m.rows, 16),
            _ => unreachable!(),
        }
        assert_eq!(hw.dram.bandwidth.0, 5e9);
        assert!(load_hw("systolic32", &[("mac.nope".into(), 1.0)]).unwrap_err().to_string().contains("no such field"));
        assert!(load_hw("systolic32", &[("mac.rows".into(), 1.5)]).is_err());
    }

    /// The grouped-convolution mapping a run's note names as a knob can be set on a preset
    /// that leaves it at its default; a wrong value names the choices.
    #[test]
    fn the_nvdla_grouped_mapping_can_be_set_where_the_description_leaves_it_out() {
        let set = |v: &str| load_hw_with("nvdla_full", &[("nvdla.grouped_conv".into(), SetValue::Text(v.into()))]);
        let grouped = |hw: HwDesc| match hw.family {
            Family::Nvdla(n) => n.grouped,
            other => panic!("nvdla_full is an NVDLA: {other:?}"),
        };
        assert_eq!(grouped(set("expanded").expect("expanded")), NvdlaGroupedMapping::ChannelExpanded);
        assert_eq!(grouped(set("groups").expect("groups")), NvdlaGroupedMapping::GroupEmulation);
        assert_eq!(grouped(load_hw("nvdla_full", &[]).expect("preset")), NvdlaGroupedMapping::GroupEmulation);
        let e = set("diagonal").expect_err("not a mapping").to_string();
        assert!(e.contains("\"groups\" or \"expanded\""), "{e}");
        // Not a field of other families.
        assert!(
            load_hw_with("systolic32", &[("nvdla.grouped_conv".into(), SetValue::Text("expanded".into()))]).is_err()
        );
    }

    #[test]
    fn override_errors_name_the_set_argument_not_a_line() {
        let sets = [("mac.rows".to_string(), 16.0), ("dram.bandwidth_gbps".to_string(), 0.0)];
        let e = load_hw("systolic32", &sets).unwrap_err();
        assert_eq!(e.line, 0, "{e}");
        let s = e.to_string();
        assert!(s.starts_with("accelerators/systolic32.toml: --set dram.bandwidth_gbps=0: dram.bandwidth_gbps"), "{s}");
        let s = load_hw("systolic32", &[("mac.rows".into(), 1.5)]).unwrap_err().to_string();
        assert!(s.contains(": --set mac.rows=1.5: field takes a whole number"), "{s}");
        let s = load_hw("systolic32", &[("mac.rows".into(), 1e300)]).unwrap_err().to_string();
        assert!(s.contains("--set mac.rows=1e300:"), "{s}");
    }

    /// `onchip_reuse`, which presets leave at its default, is a switch `--set` takes as
    /// `true` or `false` (so a sweep can compare the two); anything else is named.
    #[test]
    fn set_switches_onchip_reuse() {
        let set = |v: SetValue| load_hw_with("systolic32", &[("onchip_reuse".into(), v)]);
        assert!(!set(SetValue::Text("false".into())).expect("false").onchip_reuse);
        assert!(set(SetValue::Text("true".into())).expect("true").onchip_reuse);
        for bad in [SetValue::Num(0.0), SetValue::Text("off".into())] {
            let e = set(bad).expect_err("not a switch value").to_string();
            assert!(e.contains("field takes true or false") && e.contains("--set onchip_reuse="), "{e}");
        }
        let t = HwTemplate::load("dsp").expect("template");
        let off = t.instantiate(&[("onchip_reuse".into(), SetValue::Text("false".into()))]).expect("off");
        assert!(!off.onchip_reuse && t.instantiate(&[]).expect("default").onchip_reuse);
        // The template's fast path gives what the full parse gives.
        let slow = load_hw_with("dsp", &[("onchip_reuse".into(), SetValue::Text("false".into()))]).expect("slow");
        assert_eq!(t.fast(&[("onchip_reuse".into(), SetValue::Text("false".into()))]), Some(slow));
        assert!(t.fast(&[("onchip_reuse".into(), SetValue::Text("off".into()))]).is_none(), "refused by the slow path");
    }

    #[test]
    fn template_instantiates_exactly_what_parse_hw_gives() {
        let sets: &[&[(&str, f64)]] = &[
            &[],
            &[("mac.rows", 16.0), ("mac.cols", 8.0), ("dram.bandwidth_gbps", 12.5)],
            &[("mac.rows", 0.0)],
            &[("mac.rows", 1.5)],
            &[("mac.rows", f64::NAN)],
            &[("clock_mhz", 800.0), ("accumulator_bits", 24.0), ("dram.latency_ns", 7.0)],
            &[("buffer.0.size_kib", 0.0001)],
            &[("buffer.1.size_kib", 3.0), ("buffer.+1.banks", 2.0), ("buffer.9.size_kib", 3.0)],
            &[("precision.0.macs_per_cycle", 64.0), ("precision.0.energy_pj_per_mac", 0.1)],
            &[("nvdla.atomic_c", 8.0), ("nvdla.winograd", 1.0), ("dsp.hvx_contexts", 2.0)],
            &[("vector.elements_per_cycle", 3.0), ("dram.efficiency", 2.0), ("name", 1.0), ("mac", 1.0)],
            &[("dram.bandwidth_gbps", 1e300), ("dram.energy_pj_per_bit", -0.0), ("mac.rows.x", 1.0)],
        ];
        for name in presets::names() {
            let t = HwTemplate::load(name).expect("preset");
            for set in sets {
                let prefixes = (0..=set.len()).map(|k| &set[..k]);
                let singles = (0..set.len()).map(|k| &set[k..=k]);
                for part in prefixes.chain(singles) {
                    let o: Vec<Override> = part.iter().map(|(p, v)| (p.to_string(), SetValue::Num(*v))).collect();
                    let want = parse_hw_with(&t.file, &t.text, &o).map_err(|e| e.to_string());
                    assert_eq!(t.instantiate(&o).map_err(|e| e.to_string()), want, "{name} {o:?}");
                }
            }
        }
    }

    #[test]
    fn mode_selection_prefers_exact_then_narrowest_wider() {
        let hw = load_hw("dsp", &[]).unwrap();
        assert_eq!(hw.mode_for(8, 8).map(|m| m.weight_bits), Some(8));
        assert_eq!(hw.mode_for(4, 8).map(|m| m.weight_bits), Some(8));
        assert!(hw.mode_for(32, 32).is_none());
    }
}
