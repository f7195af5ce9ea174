//! Sweep plans: which design points to cost.
//!
//! Points are the cartesian product, in this nesting order (the last varies fastest):
//! accelerator, network, workload (`--phase` with `--seq-len` / `--kv-len`), weight bits,
//! activation bits, weight groups, activation scales, KV-cache bits, KV-cache groups (the
//! axes of [`super::axes`], one value each unless given), then each `--set` path in the
//! order given. A point's index is its position in that order, so a plan is the same on every
//! machine and shards of it can be merged back.
//!
//! # Sweep file format (`--config sweep.toml`)
//!
//! ```toml
//! hw = ["systolic32", "accelerators/mac8.toml"]   # presets or files (required)
//! name = ["stock", "my_mac8"]                     # names in the output (optional)
//! model = ["mnv1", "resnet18"]                    # built-in names or files (required)
//! wbits = [4, 8]                                  # default [8]; see below
//! abits = [8]                                     # default [8]
//! width = 1.0                                     # MobileNet width multiplier (optional)
//! resolution = 224                                # input resolution (optional)
//! per_layer = false                               # add per-layer rows (optional)
//! objective = "latency"                           # or "energy", "edp" (optional)
//! functional = true                               # join SQNR / top-1 (optional)
//! calib = "calib.npy"                             # functional inputs (optional)
//! eval = "eval.npy"                               # (optional, default: calib)
//! granularity = "per-channel"                     # or "per-tensor" (optional)
//! phase = ["prefill", "decode"]                   # transformers (optional, see below)
//! seq_len = [128, 512]                            # prompt lengths of prefill
//! kv_len = [1024, 4096]                           # KV-cache lengths of decode
//! wgroup = [-1, 128]                              # weight groups, -1 per channel
//! wgroup_zero_point = false                       # a zero point per weight group
//! act_scales = ["static", "dynamic"]              # or "dynamic-asym"
//! kv_bits = [16, 8, 4]                            # KV cache widths (decode only)
//! kv_group = [-1, 64]                             # KV cache groups, -1 none (decode)
//! kv_group_zero_point = false                     # a zero point per KV group
//!
//! [set]                                           # overrides, by dotted path
//! "mac.rows" = [16, 32, 64]
//! "dram.bandwidth_gbps" = [5.0, 10.0]
//! "mac.dataflow" = ["os", "ws", "is"]               # text fields too
//! ```
//!
//! Without `wbits` and `abits` (on the command line: `--wbits`, `--abits`), a quantized
//! model (`.aqm`, `.tflite`, QDQ `.onnx`) keeps its own widths, layer by layer, and the
//! rows' `wbits` / `abits` say which (`mixed` when its layers differ); with them, every
//! network runs at each point's widths.
//!
//! The transformer axes are `accelsim run`'s flags as lists; each given one adds a column
//! (`phase`, `seq_len`, `kv_len` and `tokens` for the workload: `tokens` is what the point's
//! batch gets the states of, so `tokens / latency_s` is its throughput).
//!
//! The `[set]` paths vary in alphabetical order of their paths (the last varies fastest);
//! on the command line, in the order of the `--set` flags. Relative paths in the file
//! (accelerators, models, calib, eval) are relative to the file's folder.
//!
//! The output names each accelerator by its preset name or file stem (`my/mac8.toml` is
//! `mac8`), by the path as given when two of them would share a name, or by `name`
//! (`--name` on the command line): two designs are never merged under one name.

use super::axes::{RawAxes, SeqAxes, SeqPoint};
use crate::hw::{Override, SetValue};
use crate::map::tiling::Objective;
use serde::Deserialize;

/// What to sweep over.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SweepSpec {
    /// Accelerators: preset names or TOML files.
    pub hw: Vec<String>,
    /// The names the output gives the accelerators, one per [`SweepSpec::hw`]; empty for
    /// the automatic ones of [`SweepSpec::hw_labels`].
    pub hw_names: Vec<String>,
    /// Networks: built-in names or model files.
    pub models: Vec<String>,
    /// Weight bit widths.
    pub wbits: Vec<u8>,
    /// Activation bit widths.
    pub abits: Vec<u8>,
    /// Overrides of the accelerator description: (dotted path, values).
    pub sets: Vec<(String, Vec<SetValue>)>,
    /// MobileNet width multiplier.
    pub width: f64,
    /// Input resolution, `None` = as published.
    pub resolution: Option<usize>,
    /// Images per batch (`--batch`; 1 = the network as published).
    pub batch: usize,
    /// Whether per-layer rows are wanted.
    pub per_layer: bool,
    /// What each layer's schedule is chosen for.
    pub objective: Objective,
    /// Functional (SQNR, top-1) results joined into the rows, `None` = cost only.
    pub functional: Option<Functional>,
    /// Whether the widths were given (`--wbits` / `--abits`, `wbits` / `abits` in a file):
    /// then every network runs at each point's widths; otherwise a quantized model keeps its
    /// own widths, layer by layer, and a float one runs at 8 bits.
    pub widths_given: bool,
    /// The transformer and granularity axes.
    pub seq: SeqAxes,
}

/// How the functional results of a sweep are computed: each network is quantized with
/// accelsim's post-training quantizer (min/max thresholds, symmetric weights, as
/// `accelsim quantize` by default) and run on the integer kernels with each accelerator's
/// arithmetic, against its float execution.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Functional {
    /// Calibration images (`.npy`); built-in networks default to seeded synthetic ones.
    pub calib: Option<String>,
    /// Evaluation images (`.npy`); default: synthetic for built-ins, else the calibration set.
    pub eval: Option<String>,
    /// Class labels of the evaluation images (integer `.npy`, one per image): adds top-1
    /// (and top-5) accuracy columns. Needs `eval`.
    pub labels: Option<String>,
    /// One weight scale per output channel (else per tensor).
    pub per_channel: bool,
}

/// Weight granularity of the functional mode from its name (`per-channel`, `per-tensor`).
pub fn granularity(what: &str, name: &str) -> Result<bool, PlanError> {
    match name {
        "per-channel" => Ok(true),
        "per-tensor" => Ok(false),
        other => Err(PlanError(format!("{what}: expected \"per-channel\" or \"per-tensor\", got \"{other}\""))),
    }
}

/// One design point.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Position in the full plan (before sharding).
    pub index: usize,
    /// Index into [`SweepSpec::hw`].
    pub hw: usize,
    /// Index into [`SweepSpec::models`].
    pub model: usize,
    /// Weight bits.
    pub wbits: u8,
    /// Activation bits.
    pub abits: u8,
    /// The values of the transformer and granularity axes.
    pub seq: SeqPoint,
    /// One value per [`SweepSpec::sets`] path, in the same order.
    pub set_values: Vec<SetValue>,
}

impl Point {
    /// The point's widths, for every layer.
    pub fn precision(&self) -> crate::quant::Precision {
        crate::quant::Precision { weight_bits: self.wbits, activation_bits: self.abits }
    }
}

/// A sweep plan that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSweep {
    hw: Vec<String>,
    #[serde(default)]
    name: Vec<String>,
    model: Vec<String>,
    #[serde(default)]
    wbits: Vec<i64>,
    #[serde(default)]
    abits: Vec<i64>,
    #[serde(default)]
    width: Option<f64>,
    #[serde(default)]
    resolution: Option<usize>,
    #[serde(default)]
    batch: Option<usize>,
    #[serde(default)]
    per_layer: bool,
    #[serde(default)]
    objective: Option<String>,
    #[serde(default)]
    set: Option<toml::Table>,
    #[serde(default)]
    functional: bool,
    #[serde(default)]
    calib: Option<String>,
    #[serde(default)]
    eval: Option<String>,
    #[serde(default)]
    labels: Option<String>,
    #[serde(default)]
    granularity: Option<String>,
    #[serde(default)]
    phase: Vec<String>,
    #[serde(default)]
    seq_len: Vec<i64>,
    #[serde(default)]
    kv_len: Vec<i64>,
    #[serde(default)]
    wgroup: Vec<i64>,
    #[serde(default)]
    wgroup_zero_point: bool,
    #[serde(default)]
    act_scales: Vec<String>,
    #[serde(default)]
    kv_bits: Vec<i64>,
    #[serde(default)]
    kv_group: Vec<i64>,
    #[serde(default)]
    kv_group_zero_point: bool,
}

/// The objective of a name (`latency`, `energy` or `edp`); `what` names it in the error.
pub fn objective(what: &str, name: &str) -> Result<Objective, PlanError> {
    Objective::from_name(name).ok_or_else(|| {
        PlanError(format!("{what}: '{name}' is not an objective; expected one of {}", Objective::NAMES.join(", ")))
    })
}

/// Checks a list of widths, defaulting to `[8]` when empty.
pub fn widths(what: &str, raw: &[i64]) -> Result<Vec<u8>, PlanError> {
    if raw.is_empty() {
        return Ok(vec![8]);
    }
    raw.iter().map(|&b| crate::quant::check_width(what, b).map_err(|e| PlanError(e.to_string()))).collect()
}

/// Parses `PATH=v1,v2,...` (a `--set` of a sweep): numbers, or text for text fields
/// (`mac.dataflow=os,ws`); the description's field decides which it takes.
pub fn parse_set(s: &str) -> Result<(String, Vec<SetValue>), PlanError> {
    let (k, vs) = s.split_once('=').ok_or_else(|| PlanError(format!("--set {s}: expected PATH=V1,V2,...")))?;
    if vs.split(',').any(|v| v.trim().is_empty()) {
        return Err(PlanError(format!("--set {s}: empty value in the list")));
    }
    Ok((k.trim().to_string(), vs.split(',').map(SetValue::parse).collect()))
}

impl SweepSpec {
    /// Parses a sweep TOML file's text (format in the module docs); `file` names it in errors.
    pub fn from_toml(file: &str, text: &str) -> Result<SweepSpec, PlanError> {
        let raw: RawSweep = toml::from_str(text).map_err(|e| PlanError(format!("{file}: {e}")))?;
        let mut sets = Vec::new();
        if let Some(t) = raw.set {
            for (k, v) in t {
                let arr = match v {
                    toml::Value::Array(a) => a,
                    other => vec![other],
                };
                let vals = arr
                    .iter()
                    .map(|x| match x {
                        toml::Value::Integer(i) => Ok(SetValue::Num(*i as f64)),
                        toml::Value::Float(f) => Ok(SetValue::Num(*f)),
                        toml::Value::String(t) => Ok(SetValue::Text(t.clone())),
                        other => Err(PlanError(format!("{file}: set.\"{k}\": {other} is not a number or a string"))),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                sets.push((k, vals));
            }
        }
        let functional = if raw.functional {
            let per_channel = match &raw.granularity {
                Some(g) => granularity(&format!("{file}: granularity"), g)?,
                None => true,
            };
            if raw.labels.is_some() && raw.eval.is_none() {
                return Err(PlanError(format!("{file}: labels are the labels of the eval images; give eval too")));
            }
            Some(Functional { calib: raw.calib, eval: raw.eval, labels: raw.labels, per_channel })
        } else if raw.calib.is_some() || raw.eval.is_some() || raw.labels.is_some() || raw.granularity.is_some() {
            return Err(PlanError(format!("{file}: calib, eval, labels and granularity need functional = true")));
        } else {
            None
        };
        let seq = RawAxes {
            phase: raw.phase,
            seq_len: raw.seq_len,
            kv_len: raw.kv_len,
            wgroup: raw.wgroup,
            wgroup_zero_point: raw.wgroup_zero_point,
            act_scales: raw.act_scales,
            kv_bits: raw.kv_bits,
            kv_group: raw.kv_group,
            kv_group_zero_point: raw.kv_group_zero_point,
        }
        .resolve(&|f| format!("{file}: {}", f.replace('-', "_")))?;
        let spec = SweepSpec {
            functional,
            seq,
            widths_given: !raw.wbits.is_empty() || !raw.abits.is_empty(),
            hw: raw.hw,
            hw_names: raw.name,
            models: raw.model,
            wbits: widths(&format!("{file}: wbits"), &raw.wbits)?,
            abits: widths(&format!("{file}: abits"), &raw.abits)?,
            sets,
            width: raw.width.unwrap_or(1.0),
            resolution: raw.resolution,
            batch: raw.batch.unwrap_or(1),
            per_layer: raw.per_layer,
            objective: match raw.objective.as_deref() {
                None => Objective::default(),
                Some(name) => objective(&format!("{file}: objective"), name)?,
            },
        };
        spec.check().map_err(|e| PlanError(format!("{file}: {}", e.0)))?;
        Ok(spec)
    }

    /// Checks that every list is non-empty and every accelerator is named once.
    pub fn check(&self) -> Result<(), PlanError> {
        if self.batch == 0 {
            return Err(PlanError("batch must be at least 1, got 0".into()));
        }
        if self.hw.is_empty() {
            return Err(PlanError("a sweep needs at least one accelerator (--hw)".into()));
        }
        for (i, h) in self.hw.iter().enumerate() {
            if self.hw[..i].contains(h) {
                return Err(PlanError(format!("accelerator '{h}' is given twice")));
            }
        }
        if !self.hw_names.is_empty() {
            if self.hw_names.len() != self.hw.len() {
                return Err(PlanError(format!(
                    "{} names (--name) for {} accelerators (--hw): give one name per accelerator",
                    self.hw_names.len(),
                    self.hw.len()
                )));
            }
            for (i, n) in self.hw_names.iter().enumerate() {
                if n.trim().is_empty() {
                    return Err(PlanError(format!("--name: the name of '{}' is empty", self.hw[i])));
                }
                if self.hw_names[..i].contains(n) {
                    return Err(PlanError(format!("--name: '{n}' names two accelerators")));
                }
            }
        }
        if self.models.is_empty() {
            return Err(PlanError("a sweep needs at least one network (--model)".into()));
        }
        if self.wbits.is_empty() || self.abits.is_empty() {
            return Err(PlanError("a sweep needs at least one weight and one activation width".into()));
        }
        for (k, v) in &self.sets {
            if v.is_empty() {
                return Err(PlanError(format!("--set {k}: no values")));
            }
        }
        if self.functional.is_some() && self.seq.any() {
            return Err(PlanError(
                "--functional evaluates each network as loaded at uniform widths; it does not take the transformer and granularity axes (--phase, --seq-len, --kv-len, --wgroup, --act-scales, --kv-bits, --kv-group)"
                    .into(),
            ));
        }
        if self.checked_len().is_none() {
            let sizes: Vec<String> = self
                .axis_lens()
                .into_iter()
                .chain(self.sets.iter().map(|(_, v)| v.len()))
                .map(|n| n.to_string())
                .collect();
            return Err(PlanError(format!(
                "the sweep has {} points, more than can be counted ({}); split it",
                sizes.join(" x "),
                usize::MAX
            )));
        }
        Ok(())
    }

    /// The name of each accelerator in the output: its `--name`, else its preset name or
    /// file stem, else (when that stem is shared with another accelerator) the path as
    /// given. Distinct for distinct entries of [`SweepSpec::hw`].
    pub fn hw_labels(&self) -> Vec<String> {
        if self.hw_names.len() == self.hw.len() {
            return self.hw_names.clone();
        }
        let stem = |h: &str| {
            let p = std::path::Path::new(h);
            p.file_stem().and_then(|s| s.to_str()).unwrap_or(h).to_string()
        };
        let stems: Vec<String> = self.hw.iter().map(|h| stem(h)).collect();
        let clash = |s: &str| stems.iter().filter(|t| *t == s).count() > 1;
        self.hw.iter().zip(&stems).map(|(h, s)| if clash(s) { h.clone() } else { s.clone() }).collect()
    }

    /// Makes the relative paths of a sweep file (path-looking accelerators and models,
    /// calibration and evaluation images) relative to `dir`, the file's folder.
    pub fn resolve_paths(&mut self, dir: &std::path::Path) {
        use crate::source::looks_like_path;
        let join = |p: &str| {
            if std::path::Path::new(p).is_absolute() {
                p.to_string()
            } else {
                dir.join(p).display().to_string()
            }
        };
        for h in &mut self.hw {
            if looks_like_path(h, crate::hw::HW_EXTENSIONS) {
                *h = join(h);
            }
        }
        for m in &mut self.models {
            if looks_like_path(m, crate::import::MODEL_EXTENSIONS) {
                *m = join(m);
            }
        }
        if let Some(f) = &mut self.functional {
            for p in [&mut f.calib, &mut f.eval, &mut f.labels].into_iter().flatten() {
                *p = join(p);
            }
        }
    }

    /// The number of values of each axis before the `--set` paths, outermost first.
    fn axis_lens(&self) -> [usize; 9] {
        let [phase, wgroup, act, kv_bits, kv_group] = self.seq.lens();
        [self.hw.len(), self.models.len(), phase, self.wbits.len(), self.abits.len(), wgroup, act, kv_bits, kv_group]
    }

    /// The number of points of the full plan, `None` when the product overflows.
    pub fn checked_len(&self) -> Option<usize> {
        self.axis_lens()
            .into_iter()
            .chain(self.sets.iter().map(|(_, v)| v.len()))
            .try_fold(1usize, |a, n| a.checked_mul(n))
    }

    /// The number of points of the full plan (a plan that passed [`SweepSpec::check`] has a
    /// countable number; others saturate).
    pub fn len(&self) -> usize {
        self.checked_len().unwrap_or(usize::MAX)
    }

    /// Whether the plan is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The point at `index` (`index < self.len()`), decoded as a mixed-radix number.
    pub fn point(&self, index: usize) -> Point {
        let mut rest = index;
        let mut set_values = vec![SetValue::Num(0.0); self.sets.len()];
        for (i, (_, vals)) in self.sets.iter().enumerate().rev() {
            set_values[i] = vals[rest % vals.len()].clone();
            rest /= vals.len();
        }
        let [phases, wgroups, acts, kv_bits, kv_groups] = self.seq.lens();
        let mut digit = |n: usize| {
            let d = rest % n;
            rest /= n;
            d
        };
        let kv_group = digit(kv_groups);
        let kv_bits = digit(kv_bits);
        let act = digit(acts);
        let wgroup = digit(wgroups);
        let abits = self.abits[digit(self.abits.len())];
        let wbits = self.wbits[digit(self.wbits.len())];
        let phase = digit(phases);
        let model = digit(self.models.len());
        let seq = self.seq.point([phase, wgroup, act, kv_bits, kv_group]);
        Point { index, hw: rest, model, wbits, abits, seq, set_values }
    }

    /// All points of the plan, in order.
    pub fn points(&self) -> Vec<Point> {
        (0..self.len()).map(|i| self.point(i)).collect()
    }

    /// How many consecutive points share everything but the DRAM channel's speed and the
    /// clock (`dram.bandwidth_gbps`, `dram.efficiency`, `dram.latency_ns`, `clock_mhz`):
    /// the product of the value counts of the innermost `--set` paths that set only those.
    pub fn channel_speeds(&self) -> usize {
        const CHANNEL: [&str; 4] = ["dram.bandwidth_gbps", "dram.efficiency", "dram.latency_ns", "clock_mhz"];
        self.sets
            .iter()
            .rev()
            .take_while(|(k, _)| CHANNEL.contains(&k.as_str()))
            .fold(1usize, |n, (_, v)| n.saturating_mul(v.len()))
    }

    /// The `--set` overrides of a point, as `load_hw_with` takes them.
    pub fn overrides(&self, p: &Point) -> Vec<Override> {
        self.sets.iter().zip(&p.set_values).map(|((k, _), v)| (k.clone(), v.clone())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SweepSpec {
        SweepSpec {
            hw: vec!["a".into(), "b".into()],
            models: vec!["m".into()],
            wbits: vec![4, 8],
            abits: vec![8],
            sets: vec![("mac.rows".into(), [16.0, 32.0, 64.0].map(SetValue::Num).to_vec())],
            width: 1.0,
            batch: 1,
            ..Default::default()
        }
    }

    #[test]
    fn channel_speeds_count_the_innermost_channel_paths() {
        let vals = |n: usize| (0..n).map(|v| SetValue::Num(v as f64 + 1.0)).collect::<Vec<_>>();
        let mut s = spec();
        assert_eq!(s.channel_speeds(), 1);
        s.sets = vec![("dram.bandwidth_gbps".into(), vals(5)), ("mac.rows".into(), vals(3))];
        assert_eq!(s.channel_speeds(), 1);
        s.sets =
            vec![("mac.rows".into(), vals(3)), ("clock_mhz".into(), vals(2)), ("dram.bandwidth_gbps".into(), vals(5))];
        assert_eq!(s.channel_speeds(), 10);
    }

    #[test]
    fn a_width_out_of_range_names_the_file() {
        let e = SweepSpec::from_toml("s.toml", "hw = [\"mac8\"]\nmodel = [\"mnv1\"]\nwbits = [4, 699999999999]\n")
            .err()
            .map(|e| e.to_string());
        assert_eq!(e.as_deref(), Some("s.toml: wbits must be in 2..=16 bits, got 699999999999"));
    }

    #[test]
    fn a_point_count_past_usize_is_an_error_not_zero_points() {
        let values: Vec<crate::hw::SetValue> = (0..65536).map(|v| crate::hw::SetValue::Num(f64::from(v))).collect();
        let mut s = spec();
        s.sets = ["a", "b", "c", "d"].iter().map(|k| (k.to_string(), values.clone())).collect();
        assert_eq!(s.checked_len(), None);
        let e = s.check().expect_err("uncountable").0;
        assert!(e.contains("65536 x 65536 x 65536 x 65536") && e.contains("more than can be counted"), "{e}");
        let toml = "hw = [\"systolic32\"]\nmodel = []\n";
        let e = SweepSpec::from_toml("s.toml", toml).expect_err("no model").0;
        assert!(e.starts_with("s.toml: "), "{e}");
    }

    #[test]
    fn points_are_the_cartesian_product_last_fastest() {
        let s = spec();
        let p = s.points();
        assert_eq!(p.len(), 12);
        assert_eq!((p[0].hw, p[0].wbits, p[0].set_values[0].clone()), (0, 4, SetValue::Num(16.0)));
        assert_eq!((p[1].hw, p[1].wbits, p[1].set_values[0].clone()), (0, 4, SetValue::Num(32.0)));
        assert_eq!((p[3].hw, p[3].wbits, p[3].set_values[0].clone()), (0, 8, SetValue::Num(16.0)));
        assert_eq!((p[6].hw, p[6].wbits, p[6].set_values[0].clone()), (1, 4, SetValue::Num(16.0)));
        assert!(p.iter().enumerate().all(|(i, q)| q.index == i));
    }

    #[test]
    fn accelerators_are_named_by_stem_unless_two_share_it() {
        let mut s = spec();
        s.hw = vec!["systolic32".into(), "my/systolic32.toml".into(), "my/mac8.toml".into()];
        assert_eq!(s.hw_labels(), ["systolic32", "my/systolic32.toml", "mac8"]);
        s.hw_names = vec!["a".into(), "b".into()];
        assert!(s.check().unwrap_err().0.contains("2 names (--name) for 3 accelerators"));
        s.hw_names = vec!["a".into(), "b".into(), "c".into()];
        assert_eq!(s.hw_labels(), ["a", "b", "c"]);
        s.hw = vec!["mac8".into(), "mac8".into()];
        s.hw_names.clear();
        assert!(s.check().unwrap_err().0.contains("given twice"));
    }

    #[test]
    fn sweep_file_paths_are_relative_to_the_file() {
        let mut s = SweepSpec::from_toml(
            "d/s.toml",
            "hw = [\"systolic32\", \"mac8.toml\", \"/abs/x.toml\"]\nmodel = [\"mnv1\", \"n/m.onnx\"]\nfunctional = true\ncalib = \"c.npy\"\n",
        )
        .unwrap();
        s.resolve_paths(std::path::Path::new("d"));
        assert_eq!(s.hw, ["systolic32", "d/mac8.toml", "/abs/x.toml"]);
        assert_eq!(s.models, ["mnv1", "d/n/m.onnx"]);
        assert_eq!(s.functional.unwrap().calib.as_deref(), Some("d/c.npy"));
    }

    #[test]
    fn sweep_files_take_the_transformer_axes_nested_inside_the_network() {
        let s = SweepSpec::from_toml(
            "s.toml",
            "hw = [\"mac8\"]\nmodel = [\"gpt2\", \"llama_1b\"]\nwbits = [4, 8]\nphase = [\"decode\"]\nkv_len = [256, 1024]\nkv_bits = [8, 4]\nwgroup = [-1, 128]\nact_scales = [\"dynamic\"]\n[set]\n\"dram.bandwidth_gbps\" = [10, 20]\n",
        )
        .unwrap();
        // 2 networks x 2 workloads x 2 wbits x 2 groups x 2 KV widths x 2 bandwidths.
        assert_eq!(s.len(), 2 * 2 * 2 * 2 * 2 * 2);
        let p = s.point(1);
        assert_eq!((p.model, p.wbits, p.seq.kv_bits, p.set_values[0].clone()), (0, 4, Some(8), SetValue::Num(20.0)));
        let p = s.point(2);
        assert_eq!((p.seq.kv_bits, p.seq.wgroup), (Some(4), None));
        let p = s.point(4);
        assert_eq!(p.seq.wgroup.map(|g| g.size), Some(128));
        let p = s.point(16);
        assert_eq!((p.wbits, p.seq.phase), (4, Some(crate::import::SeqPhase::Decode { kv_len: 1024 })));
        assert_eq!(s.point(32).model, 1);
        assert!(s.points().iter().all(|p| p.seq.act_scales == crate::quant::ActScales::Dynamic));
        let e = SweepSpec::from_toml("s.toml", "hw = [\"mac8\"]\nmodel = [\"gpt2\"]\nkv_bits = [8]\n").unwrap_err();
        assert!(e.0.starts_with("s.toml: kv_bits: applies to decode"), "{e}");
    }

    #[test]
    fn sweep_files_parse_and_errors_say_why() {
        let s = SweepSpec::from_toml(
            "s.toml",
            "hw = [\"systolic32\"]\nmodel = [\"mnv1\"]\nwbits = [4, 8]\n[set]\n\"mac.rows\" = [16, 32]\n\"dram.bandwidth_gbps\" = 5.0\n",
        )
        .unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!(s.abits, vec![8]);
        assert_eq!(s.sets.len(), 2);
        let e = SweepSpec::from_toml("s.toml", "hw = []\nmodel = [\"mnv1\"]\n").unwrap_err();
        assert!(e.0.contains("at least one accelerator"), "{e}");
        let e = SweepSpec::from_toml("s.toml", "hw = [\"x\"]\nmodel = [\"m\"]\nwbits = [1]\n").unwrap_err();
        assert!(e.0.contains("2..=16"), "{e}");
        let f = SweepSpec::from_toml(
            "s.toml",
            "hw = [\"x\"]\nmodel = [\"m\"]\nfunctional = true\ncalib = \"c.npy\"\ngranularity = \"per-tensor\"\n",
        )
        .unwrap();
        assert_eq!(
            f.functional,
            Some(Functional { calib: Some("c.npy".into()), eval: None, labels: None, per_channel: false })
        );
        let e = SweepSpec::from_toml("s.toml", "hw = [\"x\"]\nmodel = [\"m\"]\ncalib = \"c.npy\"\n").unwrap_err();
        assert!(e.0.contains("functional = true"), "{e}");
        let e =
            SweepSpec::from_toml("s.toml", "hw = [\"x\"]\nmodel = [\"m\"]\nfunctional = true\ngranularity = \"x\"\n")
                .unwrap_err();
        assert!(e.0.contains("s.toml: granularity: expected"), "{e}");
        assert!(parse_set("mac.rows=16,").is_err());
        assert_eq!(
            parse_set("mac.rows=16, 32").unwrap(),
            ("mac.rows".to_string(), vec![SetValue::Num(16.0), SetValue::Num(32.0)])
        );
        let text = ["os", "ws"].map(|t| SetValue::Text(t.into())).to_vec();
        assert_eq!(parse_set("mac.dataflow=os,ws").unwrap(), ("mac.dataflow".to_string(), text));
    }
}
