//! Reader of accelsim's model files (`models/*.toml`): a network as a list of layers.
//!
//! The format is documented in `models/README.md`. A layer's output tensor is named after
//! the layer; a layer without `input`/`inputs` reads the previous layer's output. Every
//! mistake is reported with the file, line and field.

use super::LoadOptions;
use crate::diag::FileError;
use crate::ir::{
    Activation, Conv2d, FullyConnected, Graph, Layer, Layout, Op, Padding, Pool, PoolKind, Reduce, ReduceKind, Softmax,
    Tensor, TensorId, TensorKind, WeightSource,
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
    input: RawInput,
    #[serde(default)]
    scaling: Option<RawScaling>,
    #[serde(rename = "layer")]
    layers: Vec<Spanned<RawLayer>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInput {
    name: String,
    shape: Vec<usize>,
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
    fixed_width: Option<bool>,
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
    };
    Builder { file, text, opts, raw: &raw }.build().map(|g| (g, info))
}

struct Builder<'a> {
    file: &'a str,
    text: &'a str,
    opts: &'a LoadOptions,
    raw: &'a RawModel,
}

impl Builder<'_> {
    fn err(&self, span: Range<usize>, msg: String) -> FileError {
        FileError::at(self.file, self.text, Some(span), msg)
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
        let mut g = Graph::new(raw.name.clone(), WeightSource::Synthetic { seed: self.opts.seed });
        let mut shape = raw.input.shape.clone();
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
        let input = g.add_tensor(activation(&raw.input.name, shape));
        g.inputs.push(input);
        let mut by_name: HashMap<String, TensorId> = HashMap::new();
        by_name.insert(raw.input.name.clone(), input);
        let mut prev = input;
        for sl in &raw.layers {
            let span = sl.span();
            let l = sl.get_ref();
            if by_name.contains_key(&l.name) {
                return Err(self.err(span, format!("layer name '{}' is used twice", l.name)));
            }
            let lookup = |n: &String| {
                by_name.get(n).copied().ok_or_else(|| {
                    self.err(
                        span.clone(),
                        format!("layer '{}': input '{}' is not defined before this layer", l.name, n),
                    )
                })
            };
            let data: Vec<TensorId> = match (&l.input, &l.inputs) {
                (Some(_), Some(_)) => {
                    return Err(self.err(span, format!("layer '{}': give `input` or `inputs`, not both", l.name)))
                }
                (Some(n), None) => vec![lookup(n)?],
                (None, Some(ns)) if ns.is_empty() => {
                    return Err(
                        self.err(span, format!("layer '{}': `inputs` is empty; name at least one tensor", l.name))
                    )
                }
                (None, Some(ns)) => ns.iter().map(lookup).collect::<Result<_, _>>()?,
                (None, None) => vec![prev],
            };
            let layer = self.layer(&mut g, l, span.clone(), data, scaling)?;
            let out = layer.outputs[0];
            g.layers.push(layer);
            let inferred = g
                .infer_layer(g.layers.last().expect("just pushed"))
                .map_err(|e| self.err(span.clone(), e.to_string()))?;
            // One output per layer in a model file.
            for (o, shape) in [out].into_iter().zip(inferred) {
                g.tensor_mut(o).shape = shape;
            }
            by_name.insert(l.name.clone(), out);
            prev = out;
        }
        g.outputs.push(prev);
        g.validate().map_err(|e| whole(e.to_string()))?;
        Ok(g)
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

    fn layer(
        &self,
        g: &mut Graph,
        l: &RawLayer,
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
        // Element-wise binary kinds by their table names, then the other families.
        let op = if let Some(row) = binary {
            Op::Binary(row.kind)
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
            "fc" => Op::FullyConnected(FullyConnected { out_features: self.scaled(need(l.units, "units")?, fixed, scaling), bias }),
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
            "softmax" => Op::Softmax(Softmax { beta: 1.0 }),
            other => {
                return Err(self.err(
                    l.op.span(),
                    format!(
                        "layer '{}': unknown op '{other}': expected conv2d, depthwise, fc, add, concat, maxpool, avgpool, mean, pad, reshape or softmax",
                        l.name
                    ),
                ))
            }
        }
        };
        let mut inputs = data;
        match &op {
            Op::Conv2d(c) => {
                if c.groups == 0 || cin % c.groups != 0 {
                    return Err(self.err(
                        span,
                        format!("layer '{}': groups = {} does not divide {} input channels", l.name, c.groups, cin),
                    ));
                }
                let w = vec![c.out_channels, c.kernel[0], c.kernel[1], cin / c.groups];
                inputs.push(g.add_tensor(Tensor::float(format!("{}/weights", l.name), w, TensorKind::Weight)));
                if c.bias {
                    inputs.push(g.add_tensor(Tensor::float(
                        format!("{}/bias", l.name),
                        vec![c.out_channels],
                        TensorKind::Bias,
                    )));
                }
            }
            Op::FullyConnected(fc) => {
                let x = g.tensor(inputs[0]);
                let n = x.shape.first().copied().unwrap_or(1).max(1);
                let features = (x.elements() / n as u64) as usize;
                inputs.push(g.add_tensor(Tensor::float(
                    format!("{}/weights", l.name),
                    vec![fc.out_features, features],
                    TensorKind::Weight,
                )));
                if fc.bias {
                    inputs.push(g.add_tensor(Tensor::float(
                        format!("{}/bias", l.name),
                        vec![fc.out_features],
                        TensorKind::Bias,
                    )));
                }
            }
            _ => {}
        }
        let out = g.add_tensor(activation(&l.name, Vec::new()));
        Ok(Layer { name: l.name.clone(), op, inputs, outputs: vec![out], activation: act })
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
    use crate::import::{builtin, load_model};

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
            let pm = info.published_macs.unwrap() as f64;
            let pp = info.published_params.unwrap() as f64;
            assert!((macs / pm - 1.0).abs() <= 0.01, "{name}: {macs} MACs vs published {pm}");
            assert!((params / pp - 1.0).abs() <= 0.01, "{name}: {params} params vs published {pp}");
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
