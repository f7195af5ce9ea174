//! Sweep plans: which design points to cost.
//!
//! Points are the cartesian product, in this nesting order (the last varies fastest):
//! accelerator, network, weight bits, activation bits, then each `--set` path in the order
//! given. A point's index is its position in that order, so a plan is the same on every
//! machine and shards of it can be merged back.
//!
//! # Sweep file format (`--config sweep.toml`)
//!
//! ```toml
//! hw = ["systolic32", "accelerators/mac8.toml"]   # presets or files (required)
//! model = ["mnv1", "resnet18"]                    # built-in names or files (required)
//! wbits = [4, 8]                                  # default [8]; see below
//! abits = [8]                                     # default [8]
//! width = 1.0                                     # MobileNet width multiplier (optional)
//! resolution = 224                                # input resolution (optional)
//! per_layer = false                               # add per-layer rows (optional)
//! functional = true                               # join SQNR / top-1 (optional)
//! calib = "calib.npy"                             # functional inputs (optional)
//! eval = "eval.npy"                               # (optional, default: calib)
//! granularity = "per-channel"                     # or "per-tensor" (optional)
//!
//! [set]                                           # numeric overrides, by dotted path
//! "mac.rows" = [16, 32, 64]
//! "dram.bandwidth_gbps" = [5.0, 10.0]
//! ```
//!
//! Without `wbits` and `abits` (on the command line: `--wbits`, `--abits`), a quantized
//! model (`.aqm`, `.tflite`, QDQ `.onnx`) keeps its own widths, layer by layer, and the
//! rows' `wbits` / `abits` say which (`mixed` when its layers differ); with them, every
//! network runs at each point's widths.
//!
//! The `[set]` paths vary in alphabetical order of their paths (the last varies fastest);
//! on the command line, in the order of the `--set` flags.

use serde::Deserialize;

/// What to sweep over.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SweepSpec {
    /// Accelerators: preset names or TOML files.
    pub hw: Vec<String>,
    /// Networks: built-in names or model files.
    pub models: Vec<String>,
    /// Weight bit widths.
    pub wbits: Vec<u8>,
    /// Activation bit widths.
    pub abits: Vec<u8>,
    /// Numeric overrides of the accelerator description: (dotted path, values).
    pub sets: Vec<(String, Vec<f64>)>,
    /// MobileNet width multiplier.
    pub width: f64,
    /// Input resolution, `None` = as published.
    pub resolution: Option<usize>,
    /// Whether per-layer rows are wanted.
    pub per_layer: bool,
    /// Functional (SQNR, top-1) results joined into the rows, `None` = cost only.
    pub functional: Option<Functional>,
    /// Whether the widths were given (`--wbits` / `--abits`, `wbits` / `abits` in a file):
    /// then every network runs at each point's widths; otherwise a quantized model keeps its
    /// own widths, layer by layer, and a float one runs at 8 bits.
    pub widths_given: bool,
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
    /// One value per [`SweepSpec::sets`] path, in the same order.
    pub set_values: Vec<f64>,
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
    per_layer: bool,
    #[serde(default)]
    set: Option<toml::Table>,
    #[serde(default)]
    functional: bool,
    #[serde(default)]
    calib: Option<String>,
    #[serde(default)]
    eval: Option<String>,
    #[serde(default)]
    granularity: Option<String>,
}

/// Checks a list of widths, defaulting to `[8]` when empty.
pub fn widths(what: &str, raw: &[i64]) -> Result<Vec<u8>, PlanError> {
    if raw.is_empty() {
        return Ok(vec![8]);
    }
    raw.iter().map(|&b| crate::quant::check_width(what, b).map_err(|e| PlanError(e.to_string()))).collect()
}

/// Parses `PATH=v1,v2,...` (a `--set` of a sweep).
pub fn parse_set(s: &str) -> Result<(String, Vec<f64>), PlanError> {
    let (k, vs) = s.split_once('=').ok_or_else(|| PlanError(format!("--set {s}: expected PATH=V1,V2,...")))?;
    let values = vs
        .split(',')
        .map(|v| v.trim().parse::<f64>().map_err(|_| PlanError(format!("--set {s}: '{v}' is not a number"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((k.trim().to_string(), values))
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
                        toml::Value::Integer(i) => Ok(*i as f64),
                        toml::Value::Float(f) => Ok(*f),
                        other => Err(PlanError(format!("{file}: set.\"{k}\": {other} is not a number"))),
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
            Some(Functional { calib: raw.calib, eval: raw.eval, per_channel })
        } else if raw.calib.is_some() || raw.eval.is_some() || raw.granularity.is_some() {
            return Err(PlanError(format!("{file}: calib, eval and granularity need functional = true")));
        } else {
            None
        };
        let spec = SweepSpec {
            functional,
            widths_given: !raw.wbits.is_empty() || !raw.abits.is_empty(),
            hw: raw.hw,
            models: raw.model,
            wbits: widths("wbits", &raw.wbits)?,
            abits: widths("abits", &raw.abits)?,
            sets,
            width: raw.width.unwrap_or(1.0),
            resolution: raw.resolution,
            per_layer: raw.per_layer,
        };
        spec.check()?;
        Ok(spec)
    }

    /// Checks that every list is non-empty.
    pub fn check(&self) -> Result<(), PlanError> {
        if self.hw.is_empty() {
            return Err(PlanError("a sweep needs at least one accelerator (--hw)".into()));
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
        Ok(())
    }

    /// The number of points of the full plan.
    pub fn len(&self) -> usize {
        self.hw.len()
            * self.models.len()
            * self.wbits.len()
            * self.abits.len()
            * self.sets.iter().map(|(_, v)| v.len()).product::<usize>()
    }

    /// Whether the plan is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The point at `index` (`index < self.len()`), decoded as a mixed-radix number.
    pub fn point(&self, index: usize) -> Point {
        let mut rest = index;
        let mut set_values = vec![0.0; self.sets.len()];
        for (i, (_, vals)) in self.sets.iter().enumerate().rev() {
            set_values[i] = vals[rest % vals.len()];
            rest /= vals.len();
        }
        let abits = self.abits[rest % self.abits.len()];
        rest /= self.abits.len();
        let wbits = self.wbits[rest % self.wbits.len()];
        rest /= self.wbits.len();
        let model = rest % self.models.len();
        rest /= self.models.len();
        Point { index, hw: rest, model, wbits, abits, set_values }
    }

    /// All points of the plan, in order.
    pub fn points(&self) -> Vec<Point> {
        (0..self.len()).map(|i| self.point(i)).collect()
    }

    /// The `--set` overrides of a point, as `load_hw` takes them.
    pub fn overrides(&self, p: &Point) -> Vec<(String, f64)> {
        self.sets.iter().zip(&p.set_values).map(|((k, _), v)| (k.clone(), *v)).collect()
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
            sets: vec![("mac.rows".into(), vec![16.0, 32.0, 64.0])],
            width: 1.0,
            ..Default::default()
        }
    }

    #[test]
    fn points_are_the_cartesian_product_last_fastest() {
        let s = spec();
        let p = s.points();
        assert_eq!(p.len(), 12);
        assert_eq!((p[0].hw, p[0].wbits, p[0].set_values[0]), (0, 4, 16.0));
        assert_eq!((p[1].hw, p[1].wbits, p[1].set_values[0]), (0, 4, 32.0));
        assert_eq!((p[3].hw, p[3].wbits, p[3].set_values[0]), (0, 8, 16.0));
        assert_eq!((p[6].hw, p[6].wbits, p[6].set_values[0]), (1, 4, 16.0));
        assert!(p.iter().enumerate().all(|(i, q)| q.index == i));
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
        assert_eq!(f.functional, Some(Functional { calib: Some("c.npy".into()), eval: None, per_channel: false }));
        let e = SweepSpec::from_toml("s.toml", "hw = [\"x\"]\nmodel = [\"m\"]\ncalib = \"c.npy\"\n").unwrap_err();
        assert!(e.0.contains("functional = true"), "{e}");
        let e =
            SweepSpec::from_toml("s.toml", "hw = [\"x\"]\nmodel = [\"m\"]\nfunctional = true\ngranularity = \"x\"\n")
                .unwrap_err();
        assert!(e.0.contains("s.toml: granularity: expected"), "{e}");
        assert!(parse_set("mac.rows=16,x").is_err());
        assert_eq!(parse_set("mac.rows=16, 32").unwrap(), ("mac.rows".to_string(), vec![16.0, 32.0]));
    }
}
