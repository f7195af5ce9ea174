//! The transformer and quantization-granularity axes of a sweep: the workload (prompt
//! lengths of a prefill, KV-cache lengths of a decode step), group-wise weight scales,
//! static or dynamic activation scales, and the KV cache's width and groups -- the flags
//! of `accelsim run` (`--phase`, `--seq-len`, `--kv-len`, `--wgroup`, `--act-scales`,
//! `--kv-bits`, `--kv-group`) as lists.
//!
//! An axis not given has one value, what `run` does without the flag, and no column in the
//! output; a given axis has a column even with one value, as a `--set` path does. The
//! checks are `run`'s: a KV-cache width or groups need decode workloads only, a decode
//! workload needs its KV lengths, and so on; a sweep also needs the prompt lengths of a
//! prefill (`run` has the model's default length).

use crate::import::SeqPhase;
use crate::ir::WeightGroups;
use crate::quant::ActScales;

use super::plan::PlanError;

/// The axes as given (command-line lists or sweep-file arrays), before checking.
#[derive(Debug, Clone, Default)]
pub struct RawAxes {
    /// `prefill` / `decode`.
    pub phase: Vec<String>,
    /// Prompt lengths of the prefill workloads.
    pub seq_len: Vec<i64>,
    /// KV-cache lengths of the decode workloads.
    pub kv_len: Vec<i64>,
    /// Weight group sizes (`-1`: per channel).
    pub wgroup: Vec<i64>,
    /// One zero point per weight group.
    pub wgroup_zero_point: bool,
    /// Names of [`ActScales`].
    pub act_scales: Vec<String>,
    /// KV-cache widths.
    pub kv_bits: Vec<i64>,
    /// KV-cache group sizes (`-1`: no groups).
    pub kv_group: Vec<i64>,
    /// One zero point per KV-cache group.
    pub kv_group_zero_point: bool,
}

/// The checked axes; `None` for an axis not given.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SeqAxes {
    /// Workloads: the prefill lengths, then the decode lengths, in the order of `--phase`.
    pub phases: Option<Vec<SeqPhase>>,
    /// Weight groups (`None` in the list: per channel), without zero points: those are at
    /// each point's weight width ([`SeqPoint::weight_groups`]).
    pub wgroups: Option<Vec<Option<WeightGroups>>>,
    /// Whether weight groups carry a zero point.
    pub wgroup_zero_point: bool,
    /// Activation scale modes.
    pub act_scales: Option<Vec<ActScales>>,
    /// KV-cache widths.
    pub kv_bits: Option<Vec<u8>>,
    /// KV-cache groups (`None` in the list: one scale for the tensor).
    pub kv_groups: Option<Vec<Option<WeightGroups>>>,
}

/// One point's values of the axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqPoint {
    /// Index into the workloads (0 when not given).
    pub phase_index: usize,
    /// The workload, `None`: the model as loaded.
    pub phase: Option<SeqPhase>,
    /// Weight groups (no zero point yet), `None`: per channel.
    pub wgroup: Option<WeightGroups>,
    /// Activation scales.
    pub act_scales: ActScales,
    /// KV-cache width, `None`: the activation width.
    pub kv_bits: Option<u8>,
    /// KV-cache groups.
    pub kv_group: Option<WeightGroups>,
}

impl SeqPoint {
    /// The point's weight groups at weight width `wbits` (a zero point, if asked, at that width).
    pub fn weight_groups(&self, axes: &SeqAxes, wbits: u8) -> Option<WeightGroups> {
        self.wgroup.map(|g| WeightGroups { zero_point_bits: if axes.wgroup_zero_point { wbits } else { 0 }, ..g })
    }

    /// Whether the point asks for anything of the quantization beyond its widths (then a
    /// quantized model must be given widths to be re-targeted).
    pub fn regranulates(&self) -> bool {
        self.wgroup.is_some()
            || self.act_scales != ActScales::Static
            || self.kv_bits.is_some()
            || self.kv_group.is_some()
    }

    /// Tokens a point of a batch of `batch` sequences gets the states of (prefill: the
    /// prompts; decode: one per sequence); `None` without a workload.
    pub fn tokens(&self, batch: usize) -> Option<usize> {
        Some(batch.saturating_mul(self.phase?.tokens()))
    }
}

/// A length list's values, each at least 1.
fn lengths(what: &str, raw: &[i64]) -> Result<Vec<usize>, PlanError> {
    raw.iter()
        .map(|&n| {
            usize::try_from(n)
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| PlanError(format!("{what}: expected lengths of at least 1 token, got {n}")))
        })
        .collect()
}

/// A group-size list's values: a size, or `-1` for none.
fn group_sizes(what: &str, raw: &[i64], zero_point_bits: u8) -> Result<Vec<Option<WeightGroups>>, PlanError> {
    raw.iter()
        .map(|&n| match n {
            -1 => Ok(None),
            n => crate::quant::weight_groups(what, n, zero_point_bits)
                .map(Some)
                .map_err(|e| PlanError(format!("{e} (or -1 for none)"))),
        })
        .collect()
}

/// A `--phase` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Prefill,
    Decode,
}

impl Phase {
    fn from_name(name: &str) -> Option<Phase> {
        match name {
            "prefill" => Some(Phase::Prefill),
            "decode" => Some(Phase::Decode),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Phase::Prefill => "prefill",
            Phase::Decode => "decode",
        }
    }
}

/// The first repeated value of a list, for the error that names it.
fn repeated<T: PartialEq + std::fmt::Debug>(v: &[T]) -> Option<&T> {
    v.iter().enumerate().find(|(i, x)| v[..*i].contains(x)).map(|(_, x)| x)
}

impl RawAxes {
    /// Checks the axes; `name(flag)` spells a flag as the source does (`--kv-bits` on the
    /// command line, `s.toml: kv_bits` in a file).
    pub fn resolve(&self, name: &dyn Fn(&str) -> String) -> Result<SeqAxes, PlanError> {
        let err = |flag: &str, msg: &str| PlanError(format!("{}: {msg}", name(flag)));
        let mut phases = Vec::new();
        for p in &self.phase {
            let Some(phase) = Phase::from_name(p) else {
                return Err(err("phase", &format!("expected \"prefill\" or \"decode\", got \"{p}\"")));
            };
            phases.push(phase);
        }
        if let Some(p) = repeated(&phases) {
            return Err(err("phase", &format!("\"{}\" is given twice", p.name())));
        }
        if phases.is_empty() && !self.seq_len.is_empty() {
            phases.push(Phase::Prefill);
        }
        let seq = lengths(&name("seq-len"), &self.seq_len)?;
        let kv = lengths(&name("kv-len"), &self.kv_len)?;
        let decode = phases.contains(&Phase::Decode);
        let prefill = phases.contains(&Phase::Prefill);
        if !kv.is_empty() && !decode {
            return Err(err("kv-len", "applies to --phase decode"));
        }
        if !seq.is_empty() && !prefill {
            return Err(err("seq-len", "applies to --phase prefill (a decode step is one token)"));
        }
        if prefill && seq.is_empty() {
            return Err(err("phase", "prefill in a sweep needs --seq-len S[,S...] (the prompt lengths)"));
        }
        if decode && kv.is_empty() {
            return Err(err("phase", "decode needs --kv-len L[,L...] (the KV-cache lengths)"));
        }
        for (flag, list) in [("seq-len", &seq), ("kv-len", &kv)] {
            if let Some(n) = repeated(list) {
                return Err(err(flag, &format!("{n} is given twice")));
            }
        }
        let workloads: Vec<SeqPhase> = phases
            .iter()
            .flat_map(|&p| match p {
                Phase::Prefill => seq.iter().map(|&len| SeqPhase::Prefill { len }).collect::<Vec<_>>(),
                Phase::Decode => kv.iter().map(|&kv_len| SeqPhase::Decode { kv_len }).collect(),
            })
            .collect();
        let decode_only = decode && !prefill;
        for (flag, given) in [("kv-bits", !self.kv_bits.is_empty()), ("kv-group", !self.kv_group.is_empty())] {
            if given && !decode_only {
                return Err(err(
                    flag,
                    "applies to decode workloads only (the KV cache a decode step reads): give --phase decode",
                ));
            }
        }
        if self.kv_group_zero_point && self.kv_group.is_empty() {
            return Err(err("kv-group-zero-point", "needs --kv-group"));
        }
        if self.wgroup_zero_point && self.wgroup.is_empty() {
            return Err(err("wgroup-zero-point", "needs --wgroup"));
        }
        let kv_bits = self
            .kv_bits
            .iter()
            .map(|&b| crate::quant::check_width(&name("kv-bits"), b).map_err(|e| PlanError(e.to_string())))
            .collect::<Result<Vec<u8>, _>>()?;
        let kv_groups = group_sizes(&name("kv-group"), &self.kv_group, u8::from(self.kv_group_zero_point))?;
        let wgroups = group_sizes(&name("wgroup"), &self.wgroup, 0)?;
        let act_scales = self
            .act_scales
            .iter()
            .map(|n| {
                ActScales::from_name(n).ok_or_else(|| {
                    err("act-scales", &format!("expected one of {}, got \"{n}\"", ActScales::NAMES.join(", ")))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (flag, dup) in [
            ("kv-bits", repeated(&kv_bits).map(|x| format!("{x}"))),
            ("kv-group", repeated(&kv_groups).map(|x| format!("{}", x.map_or(-1, |g| i64::from(g.size))))),
            ("wgroup", repeated(&wgroups).map(|x| format!("{}", x.map_or(-1, |g| i64::from(g.size))))),
            ("act-scales", repeated(&act_scales).map(|x| x.name().to_string())),
        ] {
            if let Some(x) = dup {
                return Err(err(flag, &format!("{x} is given twice")));
            }
        }
        let given = |b: bool| b.then_some(());
        Ok(SeqAxes {
            phases: given(!workloads.is_empty()).map(|()| workloads),
            wgroups: given(!wgroups.is_empty()).map(|()| wgroups),
            wgroup_zero_point: self.wgroup_zero_point,
            act_scales: given(!act_scales.is_empty()).map(|()| act_scales),
            kv_bits: given(!kv_bits.is_empty()).map(|()| kv_bits),
            kv_groups: given(!kv_groups.is_empty()).map(|()| kv_groups),
        })
    }
}

impl SeqAxes {
    /// The number of values of each axis, outermost first: workload, weight groups,
    /// activation scales, KV width, KV groups.
    pub fn lens(&self) -> [usize; 5] {
        [
            self.phases.as_ref().map_or(1, Vec::len),
            self.wgroups.as_ref().map_or(1, Vec::len),
            self.act_scales.as_ref().map_or(1, Vec::len),
            self.kv_bits.as_ref().map_or(1, Vec::len),
            self.kv_groups.as_ref().map_or(1, Vec::len),
        ]
    }

    /// Whether any axis is given.
    pub fn any(&self) -> bool {
        self.phases.is_some()
            || self.wgroups.is_some()
            || self.act_scales.is_some()
            || self.kv_bits.is_some()
            || self.kv_groups.is_some()
    }

    /// The point of digits `d` (one per axis, in the order of [`SeqAxes::lens`]).
    pub fn point(&self, d: [usize; 5]) -> SeqPoint {
        SeqPoint {
            phase_index: d[0],
            phase: self.phases.as_ref().map(|v| v[d[0]]),
            wgroup: self.wgroups.as_ref().and_then(|v| v[d[1]]),
            act_scales: self.act_scales.as_ref().map_or(ActScales::Static, |v| v[d[2]]),
            kv_bits: self.kv_bits.as_ref().map(|v| v[d[3]]),
            kv_group: self.kv_groups.as_ref().and_then(|v| v[d[4]]),
        }
    }

    /// The output columns of the given axes, after `abits`.
    pub fn columns(&self) -> Vec<&'static str> {
        let mut c = Vec::new();
        if self.phases.is_some() {
            c.extend(["phase", "seq_len", "kv_len", "tokens"]);
        }
        for (given, col) in [
            (self.wgroups.is_some(), "wgroup"),
            (self.act_scales.is_some(), "act_scales"),
            (self.kv_bits.is_some(), "kv_bits"),
            (self.kv_groups.is_some(), "kv_group"),
        ] {
            if given {
                c.push(col);
            }
        }
        c
    }

    /// A point's cells of [`SeqAxes::columns`] for a batch of `batch` sequences.
    pub fn cells(&self, p: &SeqPoint, batch: usize) -> Vec<String> {
        let mut c = Vec::new();
        if self.phases.is_some() {
            let (phase, seq, kv) = match p.phase {
                Some(SeqPhase::Prefill { len }) => ("prefill", len.to_string(), String::new()),
                Some(SeqPhase::Decode { kv_len }) => ("decode", String::new(), kv_len.to_string()),
                None => ("", String::new(), String::new()),
            };
            c.extend([phase.to_string(), seq, kv, p.tokens(batch).map(|t| t.to_string()).unwrap_or_default()]);
        }
        if self.wgroups.is_some() {
            c.push(p.wgroup.map_or_else(|| "per-channel".to_string(), |g| g.size.to_string()));
        }
        if self.act_scales.is_some() {
            c.push(p.act_scales.name().to_string());
        }
        if self.kv_bits.is_some() {
            c.push(p.kv_bits.map(|b| b.to_string()).unwrap_or_default());
        }
        if self.kv_groups.is_some() {
            c.push(p.kv_group.map_or_else(|| "none".to_string(), |g| g.size.to_string()));
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(f: &str) -> String {
        format!("--{f}")
    }

    fn raw() -> RawAxes {
        RawAxes::default()
    }

    #[test]
    fn workloads_are_the_prefill_lengths_then_the_decode_lengths() {
        let a = RawAxes {
            phase: vec!["decode".into(), "prefill".into()],
            seq_len: vec![128, 512],
            kv_len: vec![1024],
            ..raw()
        }
        .resolve(&flag)
        .unwrap();
        assert_eq!(
            a.phases,
            Some(vec![
                SeqPhase::Decode { kv_len: 1024 },
                SeqPhase::Prefill { len: 128 },
                SeqPhase::Prefill { len: 512 }
            ])
        );
        assert_eq!(a.lens(), [3, 1, 1, 1, 1]);
        assert_eq!(a.columns(), ["phase", "seq_len", "kv_len", "tokens"]);
        let p = a.point([2, 0, 0, 0, 0]);
        assert_eq!(a.cells(&p, 4), ["prefill", "512", "", "2048"]);
        assert_eq!(a.cells(&a.point([0; 5]), 4), ["decode", "", "1024", "4"]);
        // --seq-len alone is a prefill sweep.
        let a = RawAxes { seq_len: vec![64], ..raw() }.resolve(&flag).unwrap();
        assert_eq!(a.phases, Some(vec![SeqPhase::Prefill { len: 64 }]));
        // Nothing given: one value of each, no columns.
        let a = raw().resolve(&flag).unwrap();
        assert!(!a.any() && a.columns().is_empty() && a.lens() == [1; 5]);
        assert_eq!(a.point([0; 5]), SeqPoint::default());
    }

    #[test]
    fn quantization_axes_take_none_as_minus_one() {
        let a = RawAxes {
            phase: vec!["decode".into()],
            kv_len: vec![256],
            wgroup: vec![-1, 128],
            wgroup_zero_point: true,
            act_scales: vec!["static".into(), "dynamic-asym".into()],
            kv_bits: vec![16, 8, 4],
            kv_group: vec![-1, 64],
            kv_group_zero_point: true,
            seq_len: vec![],
        }
        .resolve(&flag)
        .unwrap();
        assert_eq!(a.lens(), [1, 2, 2, 3, 2]);
        assert_eq!(
            a.columns(),
            ["phase", "seq_len", "kv_len", "tokens", "wgroup", "act_scales", "kv_bits", "kv_group"]
        );
        let p = a.point([0, 1, 1, 2, 1]);
        assert_eq!(a.cells(&p, 1), ["decode", "", "256", "1", "128", "dynamic-asym", "4", "64"]);
        assert_eq!(p.weight_groups(&a, 4).map(|g| (g.size, g.zero_point_bits)), Some((128, 4)));
        assert!(p.regranulates());
        let q = a.point([0, 0, 0, 0, 0]);
        assert_eq!(a.cells(&q, 1)[4..], ["per-channel", "static", "16", "none"]);
        assert_eq!(q.weight_groups(&a, 4), None);
        assert!(q.regranulates(), "a KV width is a request");
    }

    #[test]
    fn errors_name_the_flag_and_say_what_was_expected() {
        let e = |r: RawAxes| r.resolve(&flag).expect_err("refused").0;
        let decode = || RawAxes { phase: vec!["decode".into()], kv_len: vec![64], ..raw() };
        assert!(e(RawAxes { kv_len: vec![64], ..raw() }).contains("--kv-len: applies to --phase decode"));
        assert!(e(RawAxes { phase: vec!["prefill".into()], ..raw() }).contains("needs --seq-len"));
        assert!(e(RawAxes { phase: vec!["decode".into()], ..raw() }).contains("needs --kv-len"));
        assert!(e(RawAxes { phase: vec!["decoding".into()], ..raw() }).contains("expected \"prefill\" or \"decode\""));
        assert!(e(RawAxes { seq_len: vec![0], ..raw() }).contains("--seq-len: expected lengths of at least 1"));
        assert!(e(RawAxes { seq_len: vec![8, 8], ..raw() }).contains("8 is given twice"));
        assert!(e(RawAxes { kv_bits: vec![8], ..raw() }).contains("--kv-bits: applies to decode workloads only"));
        let mixed = RawAxes {
            phase: vec!["prefill".into(), "decode".into()],
            seq_len: vec![8],
            kv_group: vec![32],
            ..decode()
        };
        assert!(e(mixed).contains("--kv-group: applies to decode"));
        assert!(e(RawAxes { kv_bits: vec![1], ..decode() }).contains("2..=16"));
        assert!(e(RawAxes { kv_group: vec![0], ..decode() }).contains("(or -1 for none)"));
        assert!(e(RawAxes { kv_group_zero_point: true, ..decode() }).contains("needs --kv-group"));
        assert!(e(RawAxes { wgroup_zero_point: true, ..raw() }).contains("needs --wgroup"));
        assert!(e(RawAxes { wgroup: vec![128, 128], ..raw() }).contains("--wgroup: 128 is given twice"));
        assert!(e(RawAxes { act_scales: vec!["per-row".into()], ..raw() }).contains("static, dynamic, dynamic-asym"));
        let file = |f: &str| format!("s.toml: {}", f.replace('-', "_"));
        let e = RawAxes { kv_bits: vec![8], ..raw() }.resolve(&file).expect_err("refused").0;
        assert!(e.starts_with("s.toml: kv_bits: "), "{e}");
    }
}
