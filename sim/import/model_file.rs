//! Reader of accelsim's model files (`models/*.toml`): a network as a list of layers.
//!
//! The format is documented in `models/README.md`. A layer's output tensor is named after
//! the layer; a layer without `input`/`inputs` reads the previous layer's output. Every
//! mistake is reported with the file, line and field.

use super::{LoadOptions, RawRopeScaling, SeqPhase};
use crate::diag::FileError;
use crate::ir::{
    Activation, Conv2d, Embedding, FullyConnected, Graph, Layer, Layout, MatMul, Norm, NormKind, Op, Padding, Pool,
    PoolKind, Reduce, ReduceKind, RopeScaling, Rotary, Softmax, Tensor, TensorId, TensorKind, UnaryKind, WeightSource,
};
use serde::Deserialize;
use std::collections::HashMap;
use std::ops::Range;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    name: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    published_macs: Option<u64>,
    #[serde(default)]
    published_params: Option<u64>,
    /// How `published_params` counts (e.g. "with the token and position embeddings").
    #[serde(default)]
    params_convention: Option<String>,
    input: Option<RawInput>,
    inputs: Option<Vec<RawInput>>,
    #[serde(default)]
    scaling: Option<RawScaling>,
    #[serde(default)]
    sequence: Option<RawSequence>,
    /// Tokens per sequence of a token-major network whose token count its input fixes
    /// (ViT: 196 patches and the class token), which has no prefill or decode phase: its
    /// per-token activations are `[tokens, ...]` rows as a `[sequence]` network's are, so
    /// `--batch` stacks sequences alike.
    #[serde(default)]
    tokens: Option<usize>,
    #[serde(rename = "layer")]
    layers: Vec<Spanned<RawLayer>>,
    #[serde(default, rename = "block")]
    blocks: Vec<RawBlock>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInput {
    name: String,
    shape: Vec<RawDim>,
}

/// A dimension: a number, or `"seq"` (the sequence axis of a model with `[sequence]`).
#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum RawDim {
    Fixed(usize),
    Symbol(String),
}

/// The sequence axis of a transformer: `seq` in input shapes is the prompt length in
/// prefill and 1 in decode.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSequence {
    /// The prefill length when no phase is given.
    default_len: usize,
    /// The longest sequence the model takes (its position table); prefill lengths and
    /// decode KV lengths above it are refused.
    max_len: usize,
}

/// A block of layers that a `repeat` layer instantiates `times` times.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBlock {
    name: String,
    #[serde(rename = "layer")]
    layers: Vec<Spanned<RawLayer>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScaling {
    #[serde(default)]
    width_multiplier: bool,
    #[serde(default = "one")]
    width_divisor: usize,
    #[serde(default)]
    resolution: bool,
}

fn one() -> usize {
    1
}

#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum Pair {
    One(usize),
    Two([usize; 2]),
}

impl Pair {
    fn get(&self) -> [usize; 2] {
        match self {
            Pair::One(v) => [*v, *v],
            Pair::Two(v) => *v,
        }
    }
}

#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum RawPadding {
    Mode(String),
    Explicit([usize; 4]),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayer {
    name: String,
    op: Spanned<String>,
    input: Option<String>,
    inputs: Option<Vec<String>>,
    filters: Option<usize>,
    /// conv2d: output channels = expand x input channels (MobileNet-v2 expansion layers).
    expand: Option<usize>,
    units: Option<usize>,
    kernel: Option<Pair>,
    stride: Option<Pair>,
    padding: Option<Spanned<RawPadding>>,
    dilation: Option<Pair>,
    groups: Option<usize>,
    multiplier: Option<usize>,
    bias: Option<bool>,
    activation: Option<Spanned<String>>,
    axis: Option<usize>,
    axes: Option<Vec<usize>>,
    keep_dims: Option<bool>,
    pads: Option<Vec<[usize; 2]>>,
    shape: Option<Vec<i64>>,
    perm: Option<Vec<usize>>,
    /// slice: the first index and the extent along each axis.
    begin: Option<Vec<usize>>,
    size: Option<Vec<usize>>,
    fixed_width: Option<bool>,
    /// softmax: the logits' scale (attention: 1 / sqrt(head_dim)).
    beta: Option<f32>,
    /// softmax: a causal mask over the last two axes.
    causal: Option<bool>,
    /// layernorm / rmsnorm: added to the variance.
    epsilon: Option<f32>,
    /// embedding: rows of the table (`units` is the row width).
    rows: Option<usize>,
    /// fc: use the weight table of this earlier layer (tied embeddings).
    weights: Option<String>,
    /// matmul: the operands hold this many (query) heads.
    heads: Option<usize>,
    /// matmul: key / value heads (grouped-query attention; default `heads`).
    kv_heads: Option<usize>,
    /// matmul: the second operand is read transposed (`Q K^T`).
    transpose_b: Option<bool>,
    /// matmul: the second operand is the keys / values: in decode, the KV cache.
    kv_cache: Option<bool>,
    /// rotary: the frequency base (default 10,000; `heads` splits the last axis).
    theta: Option<f32>,
    /// rotary: Llama 3's rescaling of the frequencies for long contexts.
    rope_scaling: Option<RawRopeScaling>,
    /// repeat: the block instantiated and how many times.
    block: Option<String>,
    times: Option<usize>,
}

/// Model metadata that is not part of the graph.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelInfo {
    /// Human-readable title.
    pub title: Option<String>,
    /// Where the architecture comes from.
    pub source: Option<String>,
    /// The published MAC count.
    pub published_macs: Option<u64>,
    /// The published parameter count.
    pub published_params: Option<u64>,
    /// How the published parameter count counts.
    pub params_convention: Option<String>,
    /// The prefill length of a model with a sequence axis when no phase is given.
    pub default_len: Option<usize>,
}

/// Parses a model file's text into a validated graph.
pub fn parse(file: &str, text: &str, opts: &LoadOptions) -> Result<Graph, FileError> {
    parse_with_info(file, text, opts).map(|(g, _)| g)
}

/// Parses a model file, returning the graph and its metadata.
pub fn parse_with_info(file: &str, text: &str, opts: &LoadOptions) -> Result<(Graph, ModelInfo), FileError> {
    let raw: RawModel = toml::from_str(text).map_err(|e| FileError::from_toml(file, text, &e))?;
    let info = ModelInfo {
        title: raw.title.clone(),
        source: raw.source.clone(),
        published_macs: raw.published_macs,
        published_params: raw.published_params,
        params_convention: raw.params_convention.clone(),
        default_len: raw.sequence.as_ref().map(|s| s.default_len),
    };
    Builder { file, text, opts, raw: &raw }.build().map(|g| (g, info))
}

struct Builder<'a> {
    file: &'a str,
    text: &'a str,
    opts: &'a LoadOptions,
    raw: &'a RawModel,
}

/// The name a tensor has in the file and what the block instance being built sees.
struct Names {
    by_name: HashMap<String, TensorId>,
    /// Each layer's weight tensor, by layer name (for `weights = "layer"`).
    weights: HashMap<String, TensorId>,
    prev: TensorId,
    /// Tensors that are outputs besides the last layer's (a decode step's cache writes).
    extra_outputs: Vec<TensorId>,
}

/// Where a layer sits: its name prefix and its block's input inside a `repeat`.
#[derive(Clone, Copy)]
struct Scope<'s> {
    prefix: &'s str,
    block_input: Option<TensorId>,
}

/// The reserved name of a block instance's input inside a `[[block]]`.
const BLOCK_INPUT: &str = "block_input";

impl Builder<'_> {
    fn err(&self, span: Range<usize>, msg: String) -> FileError {
        FileError::at(self.file, self.text, Some(span), msg)
    }

    /// The sequence length of the `seq` axis and the KV cache's positions (decode), from
    /// the phase asked for and the file's `[sequence]`.
    fn sequence(&self) -> Result<Option<(usize, Option<usize>)>, FileError> {
        let whole = |m: String| FileError::whole(self.file, m);
        let Some(seq) = &self.raw.sequence else {
            return match (self.opts.phase, self.raw.tokens) {
                (None, _) => Ok(None),
                (Some(_), Some(tokens)) => Err(whole(format!(
                    "network '{}' is an encoder of {tokens} tokens fixed by its input: --phase, --seq-len and --kv-len apply to networks with a [sequence] axis",
                    self.raw.name
                ))),
                (Some(_), None) => Err(whole(format!(
                    "network '{}' has no [sequence] axis: --phase, --seq-len and --kv-len apply to transformers",
                    self.raw.name
                ))),
            };
        };
        if seq.default_len == 0 || seq.default_len > seq.max_len {
            return Err(whole(format!(
                "[sequence] default_len must be in 1..={} (max_len), got {}",
                seq.max_len, seq.default_len
            )));
        }
        match self.opts.phase.unwrap_or(SeqPhase::Prefill { len: seq.default_len }) {
            SeqPhase::Prefill { len } if len == 0 || len > seq.max_len => Err(whole(format!(
                "--seq-len must be in 1..={} for network '{}' (its longest sequence), got {len}",
                seq.max_len, self.raw.name
            ))),
            SeqPhase::Prefill { len } => Ok(Some((len, None))),
            // The new token is the last of the kv_len positions.
            SeqPhase::Decode { kv_len } if kv_len == 0 || kv_len > seq.max_len => Err(whole(format!(
                "--kv-len must be in 1..={} for network '{}' (its longest sequence), got {kv_len}",
                seq.max_len, self.raw.name
            ))),
            SeqPhase::Decode { kv_len } => Ok(Some((1, Some(kv_len)))),
        }
    }

    fn build(&self) -> Result<Graph, FileError> {
        let raw = self.raw;
        let scaling = raw.scaling.as_ref();
        let whole = |m: String| FileError::whole(self.file, m);
        if !(self.opts.width > 0.0 && self.opts.width.is_finite()) {
            return Err(whole(format!("width multiplier must be > 0, got {}", self.opts.width)));
        }
        if self.opts.width != 1.0 && !scaling.is_some_and(|s| s.width_multiplier) {
            return Err(whole(format!("network '{}' has no width multiplier (only the MobileNets do)", raw.name)));
        }
        if self.opts.resolution.is_some() && !scaling.is_some_and(|s| s.resolution) {
            return Err(whole(format!("network '{}' does not support another input resolution", raw.name)));
        }
        let seq = self.sequence()?;
        let raw_inputs: Vec<&RawInput> = match (&raw.input, &raw.inputs) {
            (Some(i), None) => vec![i],
            (None, Some(is)) if !is.is_empty() => is.iter().collect(),
            (Some(_), Some(_)) => return Err(whole("give `input` or `inputs`, not both".into())),
            (None, _) => return Err(whole("missing `input` (or a non-empty `inputs` list)".into())),
        };
        let mut g = Graph::new(raw.name.clone(), WeightSource::Synthetic { seed: self.opts.seed });
        g.sequence_rows = match (seq, raw.tokens) {
            (Some(_), Some(_)) => return Err(whole("give `tokens` or a `[sequence]`, not both".into())),
            (None, Some(0)) => return Err(whole("`tokens` must be at least 1".into())),
            (Some((tokens, _)), None) | (None, Some(tokens)) => Some(tokens),
            (None, None) => None,
        };
        let mut by_name: HashMap<String, TensorId> = HashMap::new();
        let mut first = None;
        for ri in raw_inputs {
            let mut shape = Vec::with_capacity(ri.shape.len());
            for d in &ri.shape {
                shape.push(match (d, seq) {
                    (RawDim::Fixed(n), _) => *n,
                    (RawDim::Symbol(s), Some((len, _))) if s == "seq" => len,
                    (RawDim::Symbol(s), _) => {
                        return Err(whole(format!(
                            "input '{}': dimension '{s}': expected a number{}",
                            ri.name,
                            if seq.is_some() { " or \"seq\"" } else { " (\"seq\" needs a [sequence] section)" }
                        )))
                    }
                });
            }
            if seq.is_none() && raw.inputs.is_none() {
                if shape.len() != 4 || shape.contains(&0) {
                    return Err(whole(format!("input.shape must be NHWC with 4 non-zero dims, got {:?}", shape)));
                }
                if let Some(r) = self.opts.resolution {
                    if r == 0 || r > 16384 {
                        return Err(whole(format!("resolution must be in 1..=16384, got {r}")));
                    }
                    shape[1] = r;
                    shape[2] = r;
                }
            } else if shape.is_empty() || shape.contains(&0) {
                return Err(whole(format!("input '{}': shape must have non-zero dims, got {shape:?}", ri.name)));
            }
            let input = g.add_tensor(activation(&ri.name, shape));
            g.inputs.push(input);
            if by_name.insert(ri.name.clone(), input).is_some() {
                return Err(whole(format!("input name '{}' is used twice", ri.name)));
            }
            first.get_or_insert(input);
        }
        let prev = first.expect("at least one input");
        let mut names = Names { by_name, weights: HashMap::new(), prev, extra_outputs: Vec::new() };
        let top = Scope { prefix: "", block_input: None };
        for sl in &raw.layers {
            let l = sl.get_ref();
            if l.op.get_ref() == "repeat" {
                self.repeat(&mut g, &mut names, l, sl.span(), seq, scaling)?;
            } else {
                self.add(&mut g, &mut names, l, sl.span(), top, seq, scaling)?;
            }
        }
        if let Some((_, Some(_))) = seq {
            if g.kv_cache.is_empty() {
                return Err(whole(format!(
                    "network '{}' has no KV cache (no matmul with kv_cache = true, an encoder): --phase decode applies to decoders",
                    raw.name
                )));
            }
        }
        g.outputs.push(names.prev);
        for t in names.extra_outputs {
            if !g.outputs.contains(&t) {
                g.outputs.push(t);
            }
        }
        g.validate().map_err(|e| whole(e.to_string()))?;
        Ok(g)
    }

    /// A `repeat` layer: its block's layers `times` times, instance `i` named `NAME{i}/..`,
    /// each reading the previous instance's output as `block_input`.
    fn repeat(
        &self,
        g: &mut Graph,
        names: &mut Names,
        l: &RawLayer,
        span: Range<usize>,
        seq: Option<(usize, Option<usize>)>,
        scaling: Option<&RawScaling>,
    ) -> Result<(), FileError> {
        let block_name = l
            .block
            .as_ref()
            .ok_or_else(|| self.err(span.clone(), format!("layer '{}' (repeat): missing `block`", l.name)))?;
        let times =
            l.times.ok_or_else(|| self.err(span.clone(), format!("layer '{}' (repeat): missing `times`", l.name)))?;
        let block = self.raw.blocks.iter().find(|b| &b.name == block_name).ok_or_else(|| {
            let known: Vec<&str> = self.raw.blocks.iter().map(|b| b.name.as_str()).collect();
            self.err(
                span.clone(),
                format!("layer '{}': no [[block]] named '{block_name}' (blocks: {})", l.name, known.join(", ")),
            )
        })?;
        if times == 0 || block.layers.is_empty() {
            return Err(self.err(span, format!("layer '{}': a repeat needs times >= 1 and a non-empty block", l.name)));
        }
        if names.by_name.contains_key(&l.name) {
            return Err(self.err(span, format!("layer name '{}' is used twice", l.name)));
        }
        if let Some(input) = &l.input {
            names.prev = self.lookup(names, input, Scope { prefix: "", block_input: None }, &l.name, span.clone())?;
        }
        for i in 0..times {
            let prefix = format!("{}{i}/", l.name);
            let scope = Scope { prefix: &prefix, block_input: Some(names.prev) };
            for bl in &block.layers {
                self.add(g, names, bl.get_ref(), bl.span(), scope, seq, scaling)?;
            }
        }
        names.by_name.insert(l.name.clone(), names.prev);
        Ok(())
    }

    fn lookup(
        &self,
        names: &Names,
        n: &str,
        scope: Scope,
        layer: &str,
        span: Range<usize>,
    ) -> Result<TensorId, FileError> {
        if n == BLOCK_INPUT {
            if let Some(t) = scope.block_input {
                return Ok(t);
            }
        }
        names
            .by_name
            .get(&format!("{}{n}", scope.prefix))
            .or_else(|| names.by_name.get(n))
            .copied()
            .ok_or_else(|| self.err(span, format!("layer '{layer}': input '{n}' is not defined before this layer")))
    }

    /// One layer of the file (several IR layers for a matmul over heads).
    #[allow(clippy::too_many_arguments)]
    fn add(
        &self,
        g: &mut Graph,
        names: &mut Names,
        l: &RawLayer,
        span: Range<usize>,
        scope: Scope,
        seq: Option<(usize, Option<usize>)>,
        scaling: Option<&RawScaling>,
    ) -> Result<(), FileError> {
        let full = format!("{}{}", scope.prefix, l.name);
        if names.by_name.contains_key(&full) || l.name == BLOCK_INPUT {
            return Err(self.err(span, format!("layer name '{}' is used twice", full)));
        }
        let data: Vec<TensorId> = match (&l.input, &l.inputs) {
            (Some(_), Some(_)) => {
                return Err(self.err(span, format!("layer '{}': give `input` or `inputs`, not both", l.name)))
            }
            (Some(n), None) => vec![self.lookup(names, n, scope, &l.name, span.clone())?],
            (None, Some(ns)) if ns.is_empty() => {
                return Err(self.err(span, format!("layer '{}': `inputs` is empty; name at least one tensor", l.name)))
            }
            (None, Some(ns)) => {
                ns.iter().map(|n| self.lookup(names, n, scope, &l.name, span.clone())).collect::<Result<_, _>>()?
            }
            (None, None) => vec![names.prev],
        };
        let out = if l.op.get_ref() == "matmul" {
            self.matmul(g, names, l, &full, span.clone(), data, seq)?
        } else {
            let layer = self.layer(g, names, l, &full, span.clone(), data, scaling)?;
            if let Some(wid) = layer.inputs.iter().copied().find(|&t| g.tensor(t).kind == TensorKind::Weight) {
                names.weights.insert(full.clone(), wid);
            }
            self.push(g, layer, span.clone())?
        };
        names.by_name.insert(full, out);
        names.prev = out;
        Ok(())
    }

    /// Appends a layer, infers its output's shape and returns the output.
    fn push(&self, g: &mut Graph, layer: Layer, span: Range<usize>) -> Result<TensorId, FileError> {
        let out = layer.outputs[0];
        g.layers.push(layer);
        let inferred =
            g.infer_layer(g.layers.last().expect("just pushed")).map_err(|e| self.err(span.clone(), e.to_string()))?;
        // One output per layer in a model file.
        for (o, shape) in [out].into_iter().zip(inferred) {
            g.tensor_mut(o).shape = shape;
        }
        Ok(out)
    }

    /// An IR layer without weights named `name`.
    fn plain(
        &self,
        g: &mut Graph,
        name: String,
        op: Op,
        inputs: Vec<TensorId>,
        span: Range<usize>,
    ) -> Result<TensorId, FileError> {
        let out = g.add_tensor(activation(&name, Vec::new()));
        self.push(g, Layer { name, op, inputs, outputs: vec![out], activation: Activation::None }, span)
    }

    /// A batched matrix product of two activations; with `heads`, over attention heads: a
    /// token-major operand `[tokens, heads * head_dim]` is split into heads (a reshape and a
    /// transpose: queries to `[1, kv_heads, heads / kv_heads, tokens, head_dim]`, keys and
    /// values to `[1, kv_heads, 1, tokens, head_dim]`, so each key / value head serves its
    /// group of query heads; the leading axis is the sequence, `n` of them at `--batch n`),
    /// a rank-5 operand is taken as split, and a product that is not transposed (`P V`)
    /// merges its heads back to `[tokens, heads * head_dim]`. In decode, a `kv_cache`
    /// operand is the cache: an input `[1, kv_heads, 1, kv_len, head_dim]`, and the
    /// projection it replaces is written out (the cache write).
    #[allow(clippy::too_many_arguments)]
    fn matmul(
        &self,
        g: &mut Graph,
        names: &mut Names,
        l: &RawLayer,
        full: &str,
        span: Range<usize>,
        data: Vec<TensorId>,
        seq: Option<(usize, Option<usize>)>,
    ) -> Result<TensorId, FileError> {
        let e = |m: String| self.err(span.clone(), format!("layer '{}' (matmul): {m}", l.name));
        let [a, b] = data[..] else { return Err(e(format!("expects two inputs, got {}", data.len()))) };
        let adj_y = l.transpose_b.unwrap_or(false);
        let Some(heads) = l.heads else {
            if l.kv_heads.is_some() || l.kv_cache.is_some() {
                return Err(e("`kv_heads` and `kv_cache` need `heads`".into()));
            }
            return self.plain(g, full.to_string(), Op::MatMul(MatMul { adj_x: false, adj_y }), vec![a, b], span);
        };
        let kv = l.kv_heads.unwrap_or(heads);
        if heads == 0 || kv == 0 || heads % kv != 0 {
            return Err(e(format!("heads = {heads} must be a non-zero multiple of kv_heads = {kv}")));
        }
        let group = heads / kv;
        let split = |g: &mut Graph, t: TensorId, h: usize, query: bool, tag: &str| -> Result<TensorId, FileError> {
            let shape = g.tensor(t).shape.clone();
            match shape[..] {
                [_, _, _, _, _] => Ok(t),
                [tokens, width] if width % h == 0 => {
                    let dh = width / h;
                    let s = if query { [1, tokens, kv, group, dh] } else { [1, tokens, kv, 1, dh] };
                    let r = Op::Layout(Layout::Reshape { shape: s.iter().map(|&v| v as i64).collect() });
                    let r = self.plain(g, format!("{full}/{tag}_split"), r, vec![t], span.clone())?;
                    let p = Op::Layout(Layout::Transpose { perm: vec![0, 2, 3, 1, 4] });
                    self.plain(g, format!("{full}/{tag}_heads"), p, vec![r], span.clone())
                }
                _ => Err(e(format!(
                    "operand '{}' has shape {shape:?}: expected [tokens, {h} x head_dim] or a rank-5 split",
                    g.tensor(t).name
                ))),
            }
        };
        let a4 = split(g, a, heads, true, "a")?;
        let cache = l.kv_cache.unwrap_or(false);
        let b4 = match seq {
            Some((_, Some(kv_len))) if cache => {
                let bs = g.tensor(b).shape.clone();
                let [_, width] = bs[..] else {
                    return Err(e(format!("the cached operand has shape {bs:?}, expected [tokens, width]")));
                };
                if width % kv != 0 {
                    return Err(e(format!("the cached operand's width {width} is not a multiple of kv_heads = {kv}")));
                }
                let c = g.add_tensor(activation(&format!("{full}/kv_cache"), vec![1, kv, 1, kv_len, width / kv]));
                g.inputs.push(c);
                g.kv_cache.push(c);
                names.extra_outputs.push(b);
                c
            }
            _ => split(g, b, kv, false, "b")?,
        };
        if adj_y {
            self.plain(g, full.to_string(), Op::MatMul(MatMul { adj_x: false, adj_y: true }), vec![a4, b4], span)
        } else {
            let p = self.plain(
                g,
                format!("{full}/heads"),
                Op::MatMul(MatMul { adj_x: false, adj_y: false }),
                vec![a4, b4],
                span.clone(),
            )?;
            let shape = g.tensor(p).shape.clone();
            let [_, _, _, _, dh] = shape[..] else { return Err(e(format!("product has shape {shape:?}"))) };
            let t = self.plain(
                g,
                format!("{full}/merge"),
                Op::Layout(Layout::Transpose { perm: vec![0, 3, 1, 2, 4] }),
                vec![p],
                span.clone(),
            )?;
            // Every sequence's tokens, one row each (-1: the tokens of all sequences).
            let r = Op::Layout(Layout::Reshape { shape: vec![-1, (heads * dh) as i64] });
            self.plain(g, full.to_string(), r, vec![t], span)
        }
    }

    fn scaled(&self, filters: usize, fixed: bool, scaling: Option<&RawScaling>) -> usize {
        match scaling {
            Some(s) if s.width_multiplier && !fixed && self.opts.width != 1.0 => {
                let v = filters as f64 * self.opts.width;
                make_divisible(v, s.width_divisor.max(1))
            }
            _ => filters,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn layer(
        &self,
        g: &mut Graph,
        names: &Names,
        l: &RawLayer,
        full: &str,
        span: Range<usize>,
        data: Vec<TensorId>,
        scaling: Option<&RawScaling>,
    ) -> Result<Layer, FileError> {
        let need = |v: Option<usize>, key: &str| {
            v.ok_or_else(|| self.err(span.clone(), format!("layer '{}' ({}): missing `{key}`", l.name, l.op.get_ref())))
        };
        let act = match &l.activation {
            None => Activation::None,
            Some(a) => Activation::parse(a.get_ref()).ok_or_else(|| {
                self.err(
                    a.span(),
                    format!("layer '{}': activation '{}': expected {}", l.name, a.get_ref(), Activation::expected()),
                )
            })?,
        };
        let padding = match &l.padding {
            None => Padding::Valid,
            Some(p) => match p.get_ref() {
                RawPadding::Mode(m) if m == "same" => Padding::Same,
                RawPadding::Mode(m) if m == "valid" => Padding::Valid,
                RawPadding::Mode(m) => {
                    return Err(self.err(
                        p.span(),
                        format!(
                            "layer '{}': padding '{m}': expected \"same\", \"valid\" or [top, bottom, left, right]",
                            l.name
                        ),
                    ))
                }
                RawPadding::Explicit([top, bottom, left, right]) => {
                    Padding::Explicit { top: *top, bottom: *bottom, left: *left, right: *right }
                }
            },
        };
        let kernel = l.kernel.as_ref().map(Pair::get);
        let stride = l.stride.as_ref().map(Pair::get).unwrap_or([1, 1]);
        let dilation = l.dilation.as_ref().map(Pair::get).unwrap_or([1, 1]);
        let cin = g.tensor(data[0]).shape.last().copied().unwrap_or(0);
        let bias = l.bias.unwrap_or(true);
        let fixed = l.fixed_width.unwrap_or(false);
        let binary = crate::ops::binary::by_name(l.op.get_ref());
        let unary = crate::ops::unary::by_name(l.op.get_ref()).filter(|r| {
            // Kinds with parameters need them from the file: none is read here.
            !matches!(r.kind, UnaryKind::LeakyRelu { .. } | UnaryKind::HardSigmoid { .. })
        });
        // Element-wise binary and unary kinds by their table names, then the other families.
        let op = if let Some(row) = binary {
            Op::Binary(row.kind)
        } else if let Some(row) = unary {
            Op::Unary(row.kind)
        } else {
            match l.op.get_ref().as_str() {
            "conv2d" | "depthwise" => {
                let depthwise = l.op.get_ref() == "depthwise";
                let times = |m: usize, key: &str| {
                    cin.checked_mul(m).ok_or_else(|| {
                        self.err(span.clone(), format!("layer '{}': {cin} channels x {key} = {m} overflows", l.name))
                    })
                };
                let (out_channels, groups) = if depthwise {
                    (times(l.multiplier.unwrap_or(1), "multiplier")?, cin)
                } else if let Some(e) = l.expand {
                    (times(e, "expand")?, l.groups.unwrap_or(1))
                } else {
                    (self.scaled(need(l.filters, "filters")?, fixed, scaling), l.groups.unwrap_or(1))
                };
                Op::Conv2d(Conv2d {
                    out_channels,
                    kernel: need(kernel.map(|k| k[0]), "kernel").map(|_| kernel.unwrap_or([1, 1]))?,
                    stride,
                    dilation,
                    padding,
                    groups,
                    bias,
                })
            }
            "fc" => Op::FullyConnected(FullyConnected {
                out_features: self.scaled(need(l.units, "units")?, fixed, scaling),
                bias,
                keep_dims: false,
                asymmetric_inputs: false,
            }),
            "concat" => Op::Layout(Layout::Concat { axis: l.axis.unwrap_or(3) }),
            "maxpool" | "avgpool" => Op::Pool(Pool {
                kind: if l.op.get_ref() == "maxpool" { PoolKind::Max } else { PoolKind::Avg },
                kernel: need(kernel.map(|k| k[0]), "kernel").map(|_| kernel.unwrap_or([1, 1]))?,
                stride,
                padding,
            }),
            "mean" => Op::Reduce(Reduce { kind: ReduceKind::Mean, axes: l.axes.clone().unwrap_or_else(|| vec![1, 2]), keep_dims: l.keep_dims.unwrap_or(false) }),
            "pad" => Op::Layout(Layout::Pad {
                pads: l
                    .pads
                    .as_ref()
                    .ok_or_else(|| self.err(span.clone(), format!("layer '{}' (pad): missing `pads`", l.name)))?
                    .iter()
                    .map(|p| (p[0], p[1]))
                    .collect(),
            }),
            "reshape" => Op::Layout(Layout::Reshape {
                shape: l
                    .shape
                    .clone()
                    .ok_or_else(|| self.err(span.clone(), format!("layer '{}' (reshape): missing `shape`", l.name)))?,
            }),
            "transpose" => Op::Layout(Layout::Transpose {
                perm: l
                    .perm
                    .clone()
                    .ok_or_else(|| self.err(span.clone(), format!("layer '{}' (transpose): missing `perm`", l.name)))?,
            }),
            "slice" => {
                let get = |v: &Option<Vec<usize>>, key: &str| {
                    v.clone().ok_or_else(|| self.err(span.clone(), format!("layer '{}' (slice): missing `{key}`", l.name)))
                };
                let (begin, size) = (get(&l.begin, "begin")?, get(&l.size, "size")?);
                let mut stride = vec![1i64; size.len()];
                // One row from the start of a token-major tensor is a sequence's first token
                // ([CLS]): stepping by a sequence's tokens takes every sequence's first token
                // when `--batch` stacks sequences (`Graph::with_batch`); the same row at one.
                let x = data.first().map(|&t| g.tensor(t).shape.clone()).unwrap_or_default();
                if let (Some(rows), Some(&b0), Some(&s0)) = (g.sequence_rows, begin.first(), size.first()) {
                    if let (true, Ok(step)) = (x.first() == Some(&rows) && (b0, s0) == (0, 1), i64::try_from(rows)) {
                        stride[0] = step;
                    }
                }
                Op::Layout(Layout::Slice { begin, size, stride, drop: Vec::new() })
            }
            "softmax" => Op::Softmax(Softmax { beta: l.beta.unwrap_or(1.0), causal: l.causal.unwrap_or(false) }),
            "layernorm" => Op::Norm(Norm { kind: NormKind::Layer, epsilon: l.epsilon.unwrap_or(1e-5) }),
            "rmsnorm" => Op::Norm(Norm { kind: NormKind::Rms, epsilon: l.epsilon.unwrap_or(1e-5) }),
            "embedding" => Op::Embedding(Embedding { rows: need(l.rows, "rows")?, dim: need(l.units, "units")? }),
            "rotary" => Op::Rotary(Rotary {
                heads: need(l.heads, "heads")?,
                theta: l.theta.unwrap_or(10_000.0),
                scaling: l.rope_scaling.map(RopeScaling::from),
                // A prefill's rows are positions from 0; a decode step's one new token is the
                // last of the kv_len positions.
                start: match self.opts.phase {
                    Some(SeqPhase::Decode { kv_len }) => kv_len.saturating_sub(1),
                    Some(SeqPhase::Prefill { .. }) | None => 0,
                },
            }),
            other => {
                return Err(self.err(
                    l.op.span(),
                    format!(
                        "layer '{}': unknown op '{other}': expected conv2d, depthwise, fc, matmul, an element-wise binary or unary kind (add, mul, gelu, silu, ...), concat, maxpool, avgpool, mean, pad, reshape, transpose, slice, softmax, layernorm, rmsnorm, embedding, rotary or repeat",
                        l.name
                    ),
                ))
            }
        }
        };
        let mut inputs = data;
        let tensor = |g: &mut Graph, what: &str, shape: Vec<usize>, kind: TensorKind| {
            g.add_tensor(Tensor::float(format!("{full}/{what}"), shape, kind))
        };
        match &op {
            Op::Conv2d(c) => {
                if c.groups == 0 || cin % c.groups != 0 {
                    return Err(self.err(
                        span,
                        format!("layer '{}': groups = {} does not divide {} input channels", l.name, c.groups, cin),
                    ));
                }
                let w = vec![c.out_channels, c.kernel[0], c.kernel[1], cin / c.groups];
                inputs.push(tensor(g, "weights", w, TensorKind::Weight));
                if c.bias {
                    inputs.push(tensor(g, "bias", vec![c.out_channels], TensorKind::Bias));
                }
            }
            Op::FullyConnected(fc) => {
                let x = g.tensor(inputs[0]);
                let n = x.shape.first().copied().unwrap_or(1).max(1);
                let features = (x.elements() / n as u64) as usize;
                match &l.weights {
                    // Tied weights: another layer's table, read again (counted once).
                    Some(other) => {
                        let prefix = full.strip_suffix(l.name.as_str()).unwrap_or("");
                        let w = names.weights.get(&format!("{prefix}{other}")).or_else(|| names.weights.get(other));
                        let w = *w.ok_or_else(|| {
                            self.err(
                                span.clone(),
                                format!(
                                    "layer '{}': `weights = \"{other}\"` names no earlier layer with weights",
                                    l.name
                                ),
                            )
                        })?;
                        let ws = &g.tensor(w).shape;
                        if ws[..] != [fc.out_features, features] {
                            return Err(self.err(
                                span,
                                format!(
                                    "layer '{}': the weights of '{other}' have shape {ws:?}, expected [{}, {features}]",
                                    l.name, fc.out_features
                                ),
                            ));
                        }
                        inputs.push(w);
                    }
                    None => inputs.push(tensor(g, "weights", vec![fc.out_features, features], TensorKind::Weight)),
                }
                if fc.bias {
                    inputs.push(tensor(g, "bias", vec![fc.out_features], TensorKind::Bias));
                }
            }
            Op::Norm(n) => {
                inputs.push(tensor(g, "gamma", vec![cin], TensorKind::Weight));
                if n.kind == NormKind::Layer {
                    inputs.push(tensor(g, "beta", vec![cin], TensorKind::Bias));
                }
            }
            Op::Embedding(e) => inputs.push(tensor(g, "table", vec![e.rows, e.dim], TensorKind::Weight)),
            // Families without constant weights.
            Op::MatMul(_)
            | Op::Binary(_)
            | Op::Unary(_)
            | Op::Pool(_)
            | Op::Reduce(_)
            | Op::Softmax(_)
            | Op::Rotary(_)
            | Op::Layout(_)
            | Op::Convert(_)
            | Op::Resize(_)
            | Op::State(_) => {}
            // Model files name no such layer (`op` above); were one added, its weights are
            // its own to declare, not none.
            Op::TransposeConv(_) | Op::Recurrent(_) => {
                return Err(
                    self.err(span, format!("layer '{}': model files cannot declare {} weights", l.name, op.name()))
                )
            }
        }
        let out = g.add_tensor(activation(full, Vec::new()));
        Ok(Layer { name: full.to_string(), op, inputs, outputs: vec![out], activation: act })
    }
}

/// MobileNet's channel rounding: the nearest multiple of `divisor`, never below 90% of `v`
/// (TF-slim / Keras `_make_divisible`); with divisor 1 it is `int(v)` as in MobileNet-v1.
pub fn make_divisible(v: f64, divisor: usize) -> usize {
    if divisor <= 1 {
        return (v as usize).max(1);
    }
    let d = divisor as f64;
    let mut n = (((v + d / 2.0) / d).floor() * d).max(d);
    if n < 0.9 * v {
        n += d;
    }
    n as usize
}

fn activation(name: &str, shape: Vec<usize>) -> Tensor {
    Tensor::float(name, shape, TensorKind::Activation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::{builtin, load_model, SeqPhase};

    fn check_error(text: &str, expect: &str) {
        let e = parse("bad.toml", text, &LoadOptions::default()).unwrap_err().to_string();
        assert!(e.contains(expect), "error '{e}' does not contain '{expect}'");
    }

    const HEAD: &str = "name = \"t\"\ninput = { name = \"input\", shape = [1, 8, 8, 3] }\n";

    #[test]
    fn unknown_op_names_line_and_field() {
        check_error(
            &format!("{HEAD}[[layer]]\nname = \"a\"\nop = \"conv3d\"\n"),
            "bad.toml:5:6: layer 'a': unknown op 'conv3d'",
        );
    }

    #[test]
    fn unknown_key_is_rejected() {
        check_error(
            &format!("{HEAD}[[layer]]\nname = \"a\"\nop = \"softmax\"\nfilterz = 3\n"),
            "unknown field `filterz`",
        );
    }

    #[test]
    fn missing_field_and_undefined_input() {
        check_error(&format!("{HEAD}[[layer]]\nname = \"a\"\nop = \"conv2d\"\nkernel = 3\n"), "missing `filters`");
        check_error(
            &format!("{HEAD}[[layer]]\nname = \"a\"\nop = \"add\"\ninputs = [\"input\", \"b\"]\n"),
            "input 'b' is not defined",
        );
    }

    #[test]
    fn inconsistent_shapes_name_the_layer() {
        let t = format!(
            "{HEAD}[[layer]]\nname = \"a\"\nop = \"conv2d\"\nfilters = 4\nkernel = 3\nstride = 2\n\n[[layer]]\nname = \"s\"\nop = \"add\"\ninputs = [\"input\", \"a\"]\n"
        );
        check_error(&t, "layer 's' (add): adds tensors of shapes [1, 8, 8, 3] and [1, 3, 3, 4]");
        check_error(
            &format!("{HEAD}[[layer]]\nname = \"a\"\nop = \"maxpool\"\nkernel = 9\n"),
            "does not fit a 8x8 input",
        );
    }

    #[test]
    fn every_builtin_network_loads() {
        for name in builtin::names() {
            let g = load_model(name, &LoadOptions::default()).unwrap();
            assert!(g.layers.len() > 10, "{name}");
        }
    }

    #[test]
    fn builtin_networks_match_published_macs_and_params() {
        for name in builtin::names() {
            let (g, info) = parse_with_info(name, builtin::source(name).unwrap(), &LoadOptions::default()).unwrap();
            let macs = g.total_macs().get() as f64;
            let params = g.total_params() as f64;
            // A transformer's MACs depend on the sequence length: no published figure
            // (tests/transformer_cli.rs checks them against the analytic count).
            match (info.published_macs, info.default_len) {
                (Some(pm), _) => {
                    let pm = pm as f64;
                    assert!((macs / pm - 1.0).abs() <= 0.01, "{name}: {macs} MACs vs published {pm}");
                }
                (None, Some(_)) => {}
                (None, None) => panic!("{name}: no published MACs"),
            }
            let pp = info.published_params.unwrap() as f64;
            assert!((params / pp - 1.0).abs() <= 0.01, "{name}: {params} params vs published {pp}");
            if info.default_len.is_some() {
                assert!(info.params_convention.is_some(), "{name}: say how the published parameters count");
            }
        }
    }

    /// Eyeriss (ISSCC 2016): AlexNet's CONV layers take 666 M MACs per 227x227 image and
    /// hold 2.3 M weights; the whole network (Sze et al., Proc. IEEE 2017) 724 M MACs and
    /// 61 M parameters, FC layers 58.6 M of each. Convention: one MAC per weight x
    /// activation product, grouped CONV2/4/5 counting their own group's channels.
    #[test]
    fn alexnet_conv_layers_match_eyeriss() {
        let g = load_model("alexnet", &LoadOptions::default()).unwrap();
        let conv: Vec<_> = g.layers.iter().filter(|l| matches!(l.op, crate::ir::Op::Conv2d(_))).collect();
        let names: Vec<&str> = conv.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["conv1", "conv2", "conv3", "conv4", "conv5"]);
        let macs: Vec<u64> = conv.iter().map(|l| g.macs(l).get()).collect();
        // 55*55*96*3*121, 27*27*256*48*25, 13*13*384*256*9, 13*13*384*192*9, 13*13*256*192*9.
        assert_eq!(macs, [105_415_200, 223_948_800, 149_520_384, 112_140_288, 74_760_192]);
        let conv_macs: u64 = macs.iter().sum();
        assert!((conv_macs as f64 / 666e6 - 1.0).abs() < 0.001, "{conv_macs}");
        let weights: u64 = conv.iter().map(|l| g.weights_of(l).unwrap().elements()).sum();
        assert_eq!(weights, 2_332_704);
        let fc_macs = g.total_macs().get() - conv_macs;
        assert!((fc_macs as f64 / 58.6e6 - 1.0).abs() < 0.001, "{fc_macs}");
        assert_eq!(g.tensor(g.inputs[0]).shape, [1, 227, 227, 3]);
    }

    /// A small decoder (d = 16, 4 query heads over 2 key/value heads of 4, FFN 32, vocab
    /// 50, 3 blocks), as the transformer built-ins are written.
    const TINY: &str = r#"
name = "tiny"
inputs = [{ name = "tokens", shape = ["seq"] }]
[sequence]
default_len = 6
max_len = 64

[[layer]]
name = "wte"
op = "embedding"
rows = 50
units = 16

[[layer]]
name = "h"
op = "repeat"
block = "dec"
times = 3

[[layer]]
name = "norm"
op = "rmsnorm"

[[layer]]
name = "head"
op = "fc"
units = 50
bias = false
weights = "wte"

[[block]]
name = "dec"
[[block.layer]]
name = "n1"
op = "rmsnorm"
[[block.layer]]
name = "q"
op = "fc"
units = 16
bias = false
[[block.layer]]
name = "k"
op = "fc"
input = "n1"
units = 8
bias = false
[[block.layer]]
name = "v"
op = "fc"
input = "n1"
units = 8
bias = false
[[block.layer]]
name = "s"
op = "matmul"
inputs = ["q", "k"]
heads = 4
kv_heads = 2
transpose_b = true
kv_cache = true
[[block.layer]]
name = "p"
op = "softmax"
beta = 0.5
causal = true
[[block.layer]]
name = "ctx"
op = "matmul"
inputs = ["p", "v"]
heads = 4
kv_heads = 2
kv_cache = true
[[block.layer]]
name = "o"
op = "fc"
units = 16
bias = false
[[block.layer]]
name = "r1"
op = "add"
inputs = ["block_input", "o"]
[[block.layer]]
name = "n2"
op = "rmsnorm"
[[block.layer]]
name = "gate"
op = "fc"
units = 32
bias = false
[[block.layer]]
name = "act"
op = "silu"
[[block.layer]]
name = "up"
op = "fc"
input = "n2"
units = 32
bias = false
[[block.layer]]
name = "glu"
op = "mul"
inputs = ["act", "up"]
[[block.layer]]
name = "down"
op = "fc"
units = 16
bias = false
[[block.layer]]
name = "r2"
op = "add"
inputs = ["r1", "down"]
"#;

    fn tiny(phase: Option<SeqPhase>) -> Graph {
        parse("tiny.toml", TINY, &LoadOptions { phase, ..Default::default() }).unwrap()
    }

    #[test]
    fn repeated_block_counts_by_hand() {
        let g = tiny(None);
        // Per block: 2 norms (16 each), q 256, k 128, v 128, o 256, gate 512, up 512,
        // down 512 = 2336; 3 blocks, the table 800 once (the head reads it again), the
        // final norm 16: 7008 + 800 + 16 = 7824.
        assert_eq!(g.total_params(), 7824);
        // MACs at S = 6 per block: projections 6 x (256 + 128 + 128 + 256) = 4608, FFN
        // 6 x 3 x 512 = 9216, attention 2 x 6 x 6 x 16 = 1152; head 6 x 16 x 50 = 4800.
        assert_eq!(g.total_macs().get(), 3 * (4608 + 9216 + 1152) + 4800);
        let l = |n: &str| g.layers.iter().find(|l| l.name == n).unwrap_or_else(|| panic!("{n}"));
        // Grouped-query heads: 2 key/value heads serve 2 query heads each.
        assert_eq!(g.output(l("h2/s")).shape, [1, 2, 2, 6, 6]);
        assert_eq!(g.output(l("h0/ctx")).shape, [6, 16]);
        // Block instances chain: h1 reads h0's output.
        let r2 = g.layers.iter().position(|x| x.name == "h0/r2").unwrap();
        assert_eq!(l("h1/n1").inputs[0], g.layers[r2].outputs[0]);
        assert_eq!(g.outputs.len(), 1);
        // Softmax is causal with its beta.
        assert_eq!(l("h1/p").op, Op::Softmax(Softmax { beta: 0.5, causal: true }));
    }

    #[test]
    fn decode_reads_the_kv_cache() {
        let g = tiny(Some(SeqPhase::Decode { kv_len: 40 }));
        assert_eq!(g.tensor(g.inputs[0]).shape, [1]);
        // One cache tensor per kv_cache operand per block: keys and values.
        assert_eq!(g.kv_cache.len(), 6);
        for &c in &g.kv_cache {
            assert_eq!(g.tensor(c).shape, [1, 2, 1, 40, 4]);
            assert!(g.inputs.contains(&c));
        }
        let s = g.layers.iter().find(|l| l.name == "h0/s").unwrap();
        assert_eq!(g.output(s).shape, [1, 2, 2, 1, 40]);
        // The new token's keys and values are written out (the cache write).
        assert_eq!(g.outputs.len(), 1 + 6);
        // Attention MACs grow with the cache: 2 x 40 x 16 per block.
        let prefill1 = tiny(Some(SeqPhase::Prefill { len: 1 }));
        let attn = |g: &Graph| -> u64 {
            g.layers.iter().filter(|l| matches!(l.op, Op::MatMul(_))).map(|l| g.macs(l).get()).sum()
        };
        assert_eq!(attn(&g), 3 * 2 * 40 * 16);
        assert_eq!(attn(&prefill1), 3 * 2 * 16);
        assert_eq!(g.total_params(), prefill1.total_params());
    }

    #[test]
    fn causal_prefill_runs_in_float_and_ignores_later_tokens() {
        use crate::kernels::{run_float, value_of, Values};
        let run = |tokens: [f32; 4]| {
            let mut g = tiny(Some(SeqPhase::Prefill { len: 4 }));
            crate::quant::synthetic::materialize(&mut g, 1);
            let vals = run_float(&g, &[tokens.to_vec()]).unwrap();
            match value_of(&vals, g.outputs[0]) {
                Some(Values::F32(v)) => v.clone(),
                other => panic!("{other:?}"),
            }
        };
        let (a, b) = (run([3.0, 7.0, 1.0, 9.0]), run([3.0, 7.0, 1.0, 42.0]));
        assert_eq!(a.len(), 4 * 50);
        // Positions 0..3 see only tokens 0..=i: the last token changes only the last row.
        assert_eq!(a[..150], b[..150]);
        assert_ne!(a[150..], b[150..]);
        assert!(a.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn transformer_file_errors() {
        let opts = |phase| LoadOptions { phase: Some(phase), ..Default::default() };
        let e = parse("tiny.toml", TINY, &opts(SeqPhase::Prefill { len: 65 })).unwrap_err().to_string();
        assert!(e.contains("--seq-len must be in 1..=64"), "{e}");
        let e = parse("tiny.toml", TINY, &opts(SeqPhase::Decode { kv_len: 0 })).unwrap_err().to_string();
        assert!(e.contains("--kv-len must be in 1..=64"), "{e}");
        let e = load_model("mnv1", &opts(SeqPhase::Prefill { len: 8 })).unwrap_err().to_string();
        assert!(e.contains("has no [sequence] axis"), "{e}");
        let bad = TINY.replace("block = \"dec\"", "block = \"enc\"");
        check_error(&bad, "no [[block]] named 'enc' (blocks: dec)");
        let bad = TINY.replace("kv_heads = 2\ntranspose_b", "kv_heads = 3\ntranspose_b");
        check_error(&bad, "heads = 4 must be a non-zero multiple of kv_heads = 3");
        let bad = TINY.replace("weights = \"wte\"", "weights = \"nope\"");
        check_error(&bad, "`weights = \"nope\"` names no earlier layer with weights");
        let bad = TINY.replace("[sequence]\ndefault_len = 6\nmax_len = 64\n", "");
        check_error(&bad, "dimension 'seq': expected a number (\"seq\" needs a [sequence] section)");
        let bad = TINY.replace("inputs = [\"block_input\", \"o\"]", "inputs = [\"block_input\", \"oo\"]");
        check_error(&bad, "layer 'r1': input 'oo' is not defined before this layer");
    }

    #[test]
    fn mobilenet_width_and_resolution() {
        // Howard et al. Table 6/7: 0.5 MobileNet-224 149 M MACs, 1.0 MobileNet-128 186 M.
        let half = load_model("mnv1", &LoadOptions { width: 0.5, ..Default::default() }).unwrap();
        assert!((half.total_macs().get() as f64 / 149e6 - 1.0).abs() < 0.01, "{}", half.total_macs());
        let r128 = load_model("mnv1", &LoadOptions { resolution: Some(128), ..Default::default() }).unwrap();
        assert!((r128.total_macs().get() as f64 / 186e6 - 1.0).abs() < 0.01, "{}", r128.total_macs());
        assert!(load_model("resnet50", &LoadOptions { width: 0.5, ..Default::default() }).is_err());
        // tensorflow/models slim README: MobileNet-v2 0.5 224 97 M, 0.35 224 59 M MACs
        // (expansion convs are `expand = 6` x the scaled input channels).
        for (alpha, macs) in [(0.5, 97e6), (0.35, 59e6)] {
            let g = load_model("mnv2", &LoadOptions { width: alpha, ..Default::default() }).unwrap();
            assert!((g.total_macs().get() as f64 / macs - 1.0).abs() < 0.01, "{alpha}: {}", g.total_macs());
        }
    }
}
