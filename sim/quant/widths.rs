//! The width plan: each layer's (weight, activation) widths as one value.
//!
//! A [`WidthPlan`] holds one [`LayerWidths`] per layer of the graph it was made for: the
//! weight width (`None` for a layer without weights: it has no weight width, not a default
//! one) and the width of the activations the layer reads. Everything that sets widths takes
//! a plan: [`assign_widths`](super::assign_widths) (costing a float graph), post-training
//! quantization ([`super::ptq::PtqConfig`]), `accelsim run`, `accelsim sweep` and the
//! sweep's functional key. Plans are made uniform ([`WidthPlan::uniform`]) or from a
//! uniform default with per-layer requests ([`WidthPlan::resolve`], `--layer-bits`). A
//! quantized model carries its widths in its tensors and needs no plan: every command
//! costs and runs it as it is unless the user asks for other widths.
//!
//! A tensor is stored once, at one width, though several layers may read it. The plan
//! gives each activation tensor a width ([`WidthPlan::activation_widths`]): the widest
//! activation width among the layers that read it (a network output: its producer's); the
//! tensors a layer passes through without rescaling (RESHAPE, pooling, PAD, see
//! [`passes_quantization_through`]) share one width, the widest of the group. So a layer
//! runs at its planned widths unless a wider reader of the same tensor asks for more; the
//! report shows the widths it ran at. A decode step's KV cache (`Graph::kv_cache`) takes
//! the plan's KV width when it has one (`--kv-bits`).

use std::fmt;

use crate::ir::{DynamicActivations, Graph, LayerId, Op, TensorKind, WeightGroups};

use super::Precision;

/// One layer's operand widths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LayerWidths {
    /// Weight bits; `None` for a layer without weights.
    pub weight: Option<u8>,
    /// Bits of the activations the layer reads.
    pub activation: u8,
}

impl fmt::Display for LayerWidths {
    /// `w4a8`, or `a8` for a layer without weights.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(w) = self.weight {
            write!(f, "w{w}")?;
        }
        write!(f, "a{}", self.activation)
    }
}

/// Per-layer widths of one graph, indexed by [`LayerId`], and the width of a decode
/// step's KV cache.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WidthPlan {
    layers: Vec<LayerWidths>,
    /// The width of the KV-cache inputs (`Graph::kv_cache`); `None`: the widest reader's
    /// activation width, as any tensor.
    kv: Option<u8>,
    /// Group-wise scales of the GEMM weights (`--wgroup`); `None`: per-channel or
    /// per-tensor weights.
    groups: Option<WeightGroups>,
    /// Group-wise scales of the KV cache along each head's features (`--kv-group`); `None`:
    /// one scale for the tensor.
    kv_groups: Option<WeightGroups>,
    /// Per layer, a group size the user asked for that layer (`--layer-bits NAME=w4g32`,
    /// `g-1`: per channel), over `groups`; `None`: the default.
    layer_groups: Vec<Option<GroupRequest>>,
    /// Dynamic activation scales (`--act-scales dynamic`): activations held at
    /// [`DYNAMIC_CARRIER_BITS`] between layers, each GEMM with constant weights quantizing
    /// its input per row to `bits` (the layers' activation width); `None`: static scales.
    dynamic: Option<DynamicActivations>,
}

/// The width activations are held at between layers under dynamic activation scales: the
/// fp16 of W8A8 / W4A8 LLM runtimes, costed as 16 bits.
pub const DYNAMIC_CARRIER_BITS: u8 = 16;

/// How activation scales are found (`--act-scales`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ActScales {
    /// Scales fixed ahead of time.
    #[default]
    Static,
    /// One scale per row, found when the layer runs.
    Dynamic,
    /// One scale and one zero point per row, found when the layer runs.
    DynamicAsym,
}

impl ActScales {
    /// The names of the modes, as the command line and sweep files spell them.
    pub const NAMES: [&'static str; 3] = ["static", "dynamic", "dynamic-asym"];

    /// The mode of a name in [`ActScales::NAMES`].
    pub fn from_name(name: &str) -> Option<ActScales> {
        match name {
            "static" => Some(ActScales::Static),
            "dynamic" => Some(ActScales::Dynamic),
            "dynamic-asym" => Some(ActScales::DynamicAsym),
            _ => None,
        }
    }

    /// The mode's name.
    pub fn name(self) -> &'static str {
        match self {
            ActScales::Static => Self::NAMES[0],
            ActScales::Dynamic => Self::NAMES[1],
            ActScales::DynamicAsym => Self::NAMES[2],
        }
    }

    /// The dynamic activation scales of this mode (`None`: static) with rows quantized to
    /// `abits`, which must be narrower than the [`DYNAMIC_CARRIER_BITS`] activations are
    /// then held at.
    pub fn dynamic_activations(self, abits: u8) -> Result<Option<DynamicActivations>, String> {
        let zero_point = match self {
            ActScales::Static => return Ok(None),
            ActScales::Dynamic => false,
            ActScales::DynamicAsym => true,
        };
        if abits >= DYNAMIC_CARRIER_BITS {
            return Err(format!(
                "--act-scales {} quantizes activations held at {DYNAMIC_CARRIER_BITS} bits to --abits bits row by row: give --abits below {DYNAMIC_CARRIER_BITS}, got {abits}",
                self.name()
            ));
        }
        Ok(Some(DynamicActivations { bits: abits, zero_point }))
    }
}

/// A layer's weight granularity as `--layer-bits` asks for it (`g32`, `g-1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupRequest {
    /// Groups of this many weights along each output's reduction axis.
    Size(u32),
    /// One scale per output channel (`g-1`, GPTQ's `group_size=-1`).
    PerChannel,
}

/// A user's request for one layer's widths (`--layer-bits NAME=w4a8` or a line of a
/// `--layer-bits` file); a missing width takes the default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRequest {
    /// Where the request came from (`--layer-bits` or the file), for errors.
    pub source: String,
    /// The layer's name.
    pub layer: String,
    /// Weight bits, if given.
    pub weight: Option<u8>,
    /// Activation bits, if given.
    pub activation: Option<u8>,
    /// The weight granularity, if given (`g32`, `g-1`).
    pub group: Option<GroupRequest>,
}

/// A per-layer width request that does not fit the graph.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// No layer has that name.
    #[error("{origin}: no layer named '{layer}' in {graph}{}", near_names(.near))]
    UnknownLayer {
        /// Flag or file.
        origin: String,
        /// The name given.
        layer: String,
        /// The network.
        graph: String,
        /// Layer names close to the one given.
        near: Vec<String>,
    },
    /// A weight width for a layer without weights.
    #[error("{origin}: layer '{layer}' ({op}) has no weights, so it takes no weight width; give its activation width only ({layer}=a<bits>)")]
    NoWeights {
        /// Flag or file.
        origin: String,
        /// The layer.
        layer: String,
        /// Its operator.
        op: String,
    },
    /// A group size for a layer whose weights are not a matrix product's.
    #[error("{origin}: layer '{layer}' ({op}) has no matrix-product weights to quantize in groups (group sizes apply to convolution, fully connected and transposed-convolution weights)")]
    NoGroups {
        /// Flag or file.
        origin: String,
        /// The layer.
        layer: String,
        /// Its operator.
        op: String,
    },
    /// The same layer requested twice.
    #[error("{origin}: layer '{layer}' is given twice")]
    Twice {
        /// Flag or file.
        origin: String,
        /// The layer.
        layer: String,
    },
}

fn near_names(near: &[String]) -> String {
    if near.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", near.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", "))
    }
}

/// Whether a layer's kernel passes its input's quantization through to its output without
/// rescaling (so its input and output share parameters and width): the op family's rule
/// ([`crate::ops::QuantRule::SameAsInput`]: RESHAPE, pooling and PAD).
pub fn passes_quantization_through(op: &Op) -> bool {
    op.passes_quantization_through()
}

impl WidthPlan {
    /// Every layer of `g` at `p` (layers without weights get no weight width).
    pub fn uniform(g: &Graph, p: Precision) -> WidthPlan {
        let layers = g
            .layers
            .iter()
            .map(|l| LayerWidths { weight: g.weights_of(l).map(|_| p.weight_bits), activation: p.activation_bits })
            .collect();
        WidthPlan {
            layers,
            kv: None,
            groups: None,
            kv_groups: None,
            layer_groups: vec![None; g.layers.len()],
            dynamic: None,
        }
    }

    /// The same plan with the KV cache stored at `bits` (`--kv-bits`; `None`: at its
    /// readers' activation width).
    pub fn with_kv_bits(mut self, bits: Option<u8>) -> WidthPlan {
        self.kv = bits;
        self
    }

    /// The same plan with the weights of every convolution, fully connected and
    /// transposed-convolution layer quantized in groups (`--wgroup`; `None`: per channel).
    pub fn with_weight_groups(mut self, groups: Option<WeightGroups>) -> WidthPlan {
        self.groups = groups;
        self
    }

    /// The same plan with the KV cache quantized in groups along each head's features
    /// (`--kv-group`; `None`: one scale per tensor). A nonzero `zero_point_bits` asks for a
    /// zero point per group, stored at the cache's own width.
    pub fn with_kv_groups(mut self, groups: Option<WeightGroups>) -> WidthPlan {
        self.kv_groups = groups;
        self
    }

    /// The same plan with dynamic activation scales (`--act-scales dynamic`; `None`: static):
    /// every activation tensor is held at [`DYNAMIC_CARRIER_BITS`] (the KV cache at its own
    /// width), and each GEMM with constant weights quantizes its input per row to `bits`.
    pub fn with_dynamic_activations(mut self, dynamic: Option<DynamicActivations>) -> WidthPlan {
        self.dynamic = dynamic;
        self
    }

    /// The plan's dynamic activation scales, if any.
    pub fn dynamic_activations(&self) -> Option<DynamicActivations> {
        self.dynamic
    }

    /// The width layer widths `lw` read and write their activation tensors at: the
    /// carrier under dynamic scales, else their own.
    fn stored(&self, lw: &LayerWidths) -> u8 {
        if self.dynamic.is_some() {
            DYNAMIC_CARRIER_BITS
        } else {
            lw.activation
        }
    }

    /// The KV cache's groups, if the plan sets them.
    pub fn kv_groups(&self) -> Option<WeightGroups> {
        self.kv_groups
    }

    /// The default weight groups of the GEMM weights (`--wgroup`), if the plan sets them.
    pub fn weight_groups(&self) -> Option<WeightGroups> {
        self.groups
    }

    /// The weight groups of layer `id`'s weights, for a layer whose weights a GEMM reduces
    /// over: its own request (`--layer-bits NAME=w4g32`; `g-1` per channel) or the default.
    /// A zero point per group (`--wgroup-zero-point`) is at the layer's own weight width.
    pub fn weight_groups_of(&self, id: LayerId) -> Option<WeightGroups> {
        let w = self.layers[id.0].weight?;
        let size = match self.layer_groups[id.0] {
            Some(GroupRequest::PerChannel) => return None,
            Some(GroupRequest::Size(n)) => n,
            None => self.groups?.size,
        };
        let zero_point_bits = match self.groups {
            Some(d) if d.zero_point_bits > 0 => w,
            Some(_) | None => 0,
        };
        Some(WeightGroups { size, scale_bits: super::GROUP_SCALE_BITS, zero_point_bits })
    }

    /// Whether any layer asks for its own group size (`--layer-bits NAME=...g32`).
    pub fn has_layer_groups(&self) -> bool {
        self.layer_groups.iter().any(Option::is_some)
    }

    /// The KV cache's own width, if the plan sets one.
    pub fn kv_bits(&self) -> Option<u8> {
        self.kv
    }

    /// `default` for every layer of `g`, except the layers `requests` name, which take the
    /// widths they give (a missing width takes the default). Errors name the flag or file,
    /// and for an unknown layer the names closest to it.
    pub fn resolve(g: &Graph, default: Precision, requests: &[LayerRequest]) -> Result<WidthPlan, PlanError> {
        let mut plan = WidthPlan::uniform(g, default);
        let mut seen = vec![false; g.layers.len()];
        for r in requests {
            let Some(i) = g.layers.iter().position(|l| l.name == r.layer) else {
                return Err(PlanError::UnknownLayer {
                    origin: r.source.clone(),
                    layer: r.layer.clone(),
                    graph: g.name.clone(),
                    near: near(&r.layer, g.layers.iter().map(|l| l.name.as_str())),
                });
            };
            let l = &g.layers[i];
            if std::mem::replace(&mut seen[i], true) {
                return Err(PlanError::Twice { origin: r.source.clone(), layer: r.layer.clone() });
            }
            let w = &mut plan.layers[i];
            match (r.weight, w.weight) {
                (Some(_), None) => {
                    return Err(PlanError::NoWeights {
                        origin: r.source.clone(),
                        layer: l.name.clone(),
                        op: g.op_name(l).to_string(),
                    })
                }
                (Some(b), Some(_)) => w.weight = Some(b),
                (None, _) => {}
            }
            if let Some(a) = r.activation {
                w.activation = a;
            }
            if let Some(q) = r.group {
                if !l.op.weight_layout().reduced() || w.weight.is_none() {
                    return Err(PlanError::NoGroups {
                        origin: r.source.clone(),
                        layer: l.name.clone(),
                        op: g.op_name(l).to_string(),
                    });
                }
                plan.layer_groups[i] = Some(q);
            }
        }
        Ok(plan)
    }

    /// The widths of layer `id`.
    pub fn layer(&self, id: LayerId) -> LayerWidths {
        self.layers[id.0]
    }

    /// The number of layers the plan is for.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether the plan has no layers.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The one (weight, activation) pair of every layer, if the plan is uniform; a plan
    /// without weighted layers has weight width `None`.
    pub fn uniform_widths(&self) -> Option<(Option<u8>, u8)> {
        match common_widths(&self.layers) {
            (Common::One(w), Common::One(a)) => Some((Some(w), a)),
            (Common::None, Common::One(a)) => Some((None, a)),
            _ => None,
        }
    }

    /// A one-line summary (see [`summary`]).
    pub fn summary(&self) -> String {
        summary(&self.layers)
    }

    /// Notes on the layers that read their input wider than the plan asks, because the tensor
    /// is stored once and another reader wants more (or it is passed through unchanged to
    /// one): what the user asked is not what runs, so the commands say so.
    pub fn widened(&self, g: &Graph) -> Vec<String> {
        let acts = self.activation_widths(g);
        g.layers
            .iter()
            .zip(&self.layers)
            .filter_map(|(l, lw)| {
                let x = l.inputs[0];
                let got = acts[x.0]?;
                // Under dynamic scales every layer reads the carrier by design.
                (got > self.stored(lw)).then(|| {
                    format!(
                        "layer '{}' asked for {}-bit activations but reads '{}' at {got} bits: a tensor is stored once, at the widest width its readers ask for",
                        l.name,
                        lw.activation,
                        g.tensor(x).name
                    )
                })
            })
            .collect()
    }

    /// The width of each activation tensor of `g` under this plan (`None` for constants and
    /// tensors no layer reads or writes); see the module docs for the rule.
    pub fn activation_widths(&self, g: &Graph) -> Vec<Option<u8>> {
        let n = g.tensors.len();
        let mut w: Vec<Option<u8>> = vec![None; n];
        for (l, lw) in g.layers.iter().zip(&self.layers) {
            for &t in &l.inputs {
                if g.tensor(t).kind == TensorKind::Activation {
                    w[t.0] = w[t.0].max(Some(self.stored(lw)));
                }
            }
        }
        for (l, lw) in g.layers.iter().zip(&self.layers) {
            for &t in &l.outputs {
                w[t.0] = w[t.0].or(Some(self.stored(lw)));
            }
        }
        // Pass-through groups share the widest width (union-find over tensor ids).
        let mut parent: Vec<usize> = (0..n).collect();
        fn root(parent: &mut [usize], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        for l in g.layers.iter().filter(|l| passes_quantization_through(&l.op)) {
            for o in &l.outputs {
                let (a, b) = (root(&mut parent, l.inputs[0].0), root(&mut parent, o.0));
                parent[a] = b;
            }
        }
        let mut widest: Vec<Option<u8>> = vec![None; n];
        for i in 0..n {
            let r = root(&mut parent, i);
            widest[r] = widest[r].max(w[i]);
        }
        let mut out: Vec<Option<u8>> = (0..n).map(|i| w[i].and(widest[root(&mut parent, i)])).collect();
        // The KV cache is stored at its own width (read by attention's products only).
        if let Some(kv) = self.kv {
            for &t in &g.kv_cache {
                out[t.0] = Some(kv);
            }
        }
        out
    }
}

/// What a set of layers has in common in one width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Common {
    /// No layer has this width (no layer with weights).
    None,
    /// Every layer that has it has this one.
    One(u8),
    /// The layers differ.
    Mixed,
}

/// The weight width and the activation width `layers` have in common.
pub fn common_widths(layers: &[LayerWidths]) -> (Common, Common) {
    let common = |it: &mut dyn Iterator<Item = u8>| {
        it.fold(Common::None, |c, b| match c {
            Common::None => Common::One(b),
            Common::One(x) if x == b => c,
            _ => Common::Mixed,
        })
    };
    (common(&mut layers.iter().filter_map(|l| l.weight)), common(&mut layers.iter().map(|l| l.activation)))
}

/// Each distinct [`LayerWidths`] of `layers` and how many layers have it, widest first.
pub fn counts(layers: &[LayerWidths]) -> Vec<(LayerWidths, usize)> {
    let mut c: Vec<(LayerWidths, usize)> = Vec::new();
    for l in layers {
        match c.iter_mut().find(|(w, _)| w == l) {
            Some((_, n)) => *n += 1,
            None => c.push((*l, 1)),
        }
    }
    c.sort_by(|a, b| b.0.cmp(&a.0));
    c
}

/// A one-line summary of `layers`' widths: `w8a8` when every layer with weights has one
/// weight width and every layer one activation width, else each distinct widths with its
/// layer count (`w8a8 x3, w4a8 x12, a8 x5`).
pub fn summary(layers: &[LayerWidths]) -> String {
    match common_widths(layers) {
        (Common::One(w), Common::One(a)) => LayerWidths { weight: Some(w), activation: a }.to_string(),
        (Common::None, Common::One(a)) => LayerWidths { weight: None, activation: a }.to_string(),
        _ => counts(layers).iter().map(|(w, n)| format!("{w} x{n}")).collect::<Vec<_>>().join(", "),
    }
}

/// The names among `names` closest to `name` by edit distance (within a third of its
/// length, at least 2), at most 5.
fn near<'a>(name: &str, names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let limit = (name.chars().count() / 3).max(2);
    let mut d: Vec<(usize, &str)> = names.map(|n| (edit_distance(name, n), n)).filter(|&(d, _)| d <= limit).collect();
    d.sort();
    let best = d.first().map_or(0, |&(b, _)| b);
    d.into_iter().take_while(|&(x, _)| x == best).take(5).map(|(_, n)| n.to_string()).collect()
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::load_model;

    fn mnv1() -> Graph {
        load_model("mnv1", &Default::default()).expect("mnv1")
    }

    fn req(layer: &str, weight: Option<u8>, activation: Option<u8>) -> LayerRequest {
        LayerRequest { source: "--layer-bits".into(), layer: layer.into(), weight, activation, group: None }
    }

    const W8A8: Precision = Precision { weight_bits: 8, activation_bits: 8 };

    /// Dynamic scales hold every activation at the carrier (a decode step's KV cache at its
    /// own width), keep the layers' own width as the width rows are quantized to, and say
    /// nothing of widening; assigning the plan gives the graph its scales.
    #[test]
    fn dynamic_scales_hold_activations_at_the_carrier() {
        let opts = crate::import::LoadOptions {
            phase: Some(crate::import::SeqPhase::Decode { kv_len: 16 }),
            ..Default::default()
        };
        let mut g = load_model("gpt2", &opts).expect("gpt2");
        let d = DynamicActivations { bits: 8, zero_point: false };
        let p = WidthPlan::uniform(&g, W8A8).with_kv_bits(Some(4)).with_dynamic_activations(Some(d));
        let acts = p.activation_widths(&g);
        for (i, (t, w)) in g.tensors.iter().zip(&acts).enumerate() {
            let want = if g.kv_cache.contains(&crate::ir::TensorId(i)) { 4 } else { DYNAMIC_CARRIER_BITS };
            if let Some(w) = w {
                assert_eq!(*w, want, "{}", t.name);
            }
        }
        assert!(p.widened(&g).is_empty());
        assert_eq!(p.summary(), "w8a8");
        crate::quant::assign_widths(&mut g, &p, 32);
        assert_eq!(g.dynamic_activations, Some(d));
        // Without dynamic scales the same graph is re-assigned static.
        let fresh = WidthPlan::uniform(&g, W8A8);
        crate::quant::assign_widths(&mut g, &fresh, 32);
        assert_eq!(g.dynamic_activations, None);
    }

    #[test]
    fn layers_without_weights_have_no_weight_width() {
        let g = mnv1();
        let p = WidthPlan::uniform(&g, W8A8);
        for (i, l) in g.layers.iter().enumerate() {
            assert_eq!(p.layer(LayerId(i)).weight.is_some(), g.weights_of(l).is_some(), "{}", l.name);
        }
        assert_eq!(p.summary(), "w8a8");
        assert_eq!(LayerWidths { weight: None, activation: 8 }.to_string(), "a8");
    }

    #[test]
    fn requests_override_the_default_and_errors_name_the_source() {
        let g = mnv1();
        let first = g.layers[0].name.clone();
        let p = WidthPlan::resolve(&g, W8A8, &[req(&first, Some(4), None)]).expect("resolves");
        assert_eq!(p.layer(LayerId(0)), LayerWidths { weight: Some(4), activation: 8 });
        assert_eq!(p.layer(LayerId(1)).weight, Some(8));
        assert!(p.summary().contains("w4a8 x1"), "{}", p.summary());
        let typo = format!("{first}x");
        let e = WidthPlan::resolve(&g, W8A8, &[req(&typo, Some(4), None)]).unwrap_err().to_string();
        assert!(e.starts_with("--layer-bits: no layer named") && e.contains(&format!("did you mean '{first}'")), "{e}");
        let pool = g.layers.iter().find(|l| g.weights_of(l).is_none()).expect("a weightless layer");
        let e = WidthPlan::resolve(&g, W8A8, &[req(&pool.name, Some(4), Some(8))]).unwrap_err().to_string();
        assert!(e.contains("has no weights"), "{e}");
        let e = WidthPlan::resolve(&g, W8A8, &[req(&first, Some(4), None), req(&first, None, Some(4))]).unwrap_err();
        assert!(e.to_string().contains("given twice"), "{e}");
    }

    #[test]
    fn a_tensor_takes_its_widest_reader_and_pass_through_groups_share_one_width() {
        let g = mnv1();
        // The last layer reading a pass-through output: make the layer after a pooling
        // (or reshape) ask for 4-bit activations while the pooling keeps 8.
        let (i, l) = g.layers.iter().enumerate().find(|(_, l)| passes_quantization_through(&l.op)).expect("pool");
        let next = g.layers.iter().position(|m| m.inputs.contains(&l.outputs[0])).expect("a reader");
        let r = [req(&g.layers[next].name, None, Some(4))];
        let p = WidthPlan::resolve(&g, W8A8, &r).expect("resolves");
        let w = p.activation_widths(&g);
        // The pooling's input is read at 8 bits, so its output (same parameters) is 8 too.
        assert_eq!((w[l.inputs[0].0], w[l.outputs[0].0]), (Some(8), Some(8)));
        let notes = p.widened(&g);
        assert!(notes.len() == 1 && notes[0].contains(&g.layers[next].name), "{notes:?}");
        // Asking the pooling itself for 4 bits narrows both sides of it.
        let r = [req(&g.layers[i].name, None, Some(4)), req(&g.layers[next].name, None, Some(4))];
        let w = WidthPlan::resolve(&g, W8A8, &r).expect("resolves").activation_widths(&g);
        let producer_reads = g.layers.iter().any(|m| m.inputs.contains(&l.inputs[0]) && m.name != l.name);
        if !producer_reads {
            assert_eq!((w[l.inputs[0].0], w[l.outputs[0].0]), (Some(4), Some(4)));
        }
        // Constants have no activation width.
        for (t, w) in g.tensors.iter().zip(&w) {
            assert_eq!(w.is_some(), t.kind == TensorKind::Activation, "{}", t.name);
        }
    }

    #[test]
    fn near_names_are_close_ones() {
        let names = ["conv1", "conv2", "conv_dw_1", "fc"];
        assert_eq!(near("conv3", names.into_iter()), vec!["conv1", "conv2"]);
        assert_eq!(near("conv_dw_2", names.into_iter()), vec!["conv_dw_1"]);
        assert!(near("zzzzzzzz", names.into_iter()).is_empty());
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
