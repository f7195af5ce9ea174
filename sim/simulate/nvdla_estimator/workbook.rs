//! The network NVIDIA's workbook lists (sheet `ResNet50` of
//! `perf/NVDLA_OpenSource_Performance.xlsx`): Caffe's ResNet-50 v1 -- the stride on the 1x1
//! `branch2a`, the projection shortcut `branch1` listed before `branch2a` -- built as a graph,
//! and its rows as the sheet has them. `accelsim nvdla-estimate --model workbook` runs it, so
//! the command prints the primer's figures (268.80 fps for 2048 MACs, 512 KB, 20 GB/s).
//!
//! The sheet has one erratum: row 13 (`Res2a_branch2a`) reads 256 input channels (`E13`,
//! copied from the `Res2b`/`Res2c` rows) where pool1 gives it 64. [`workbook_layers`] keeps
//! it, as the workbook computes with it; [`caffe_resnet50`]'s own rows have the 64.

use super::{layers_from_graph, EstimatorLayer};
use crate::ir::{
    Activation, BinaryKind, Conv2d, DataType, FullyConnected, Graph, Layer, Layout, Op, Padding, Pool, PoolKind,
    Tensor, TensorId, TensorKind, WeightSource,
};

/// The layer whose input channels the sheet lists wrongly, and the count it uses.
pub const ERRATUM: (&str, u64) = ("res2a_branch2a", 256);

/// Builds an int8 graph layer by layer (the workbook network; tests build small ones).
pub struct Builder {
    /// The graph so far.
    pub g: Graph,
}

impl Builder {
    /// An empty graph with synthetic weights.
    pub fn new(name: &str) -> Self {
        Builder { g: Graph::new(name, WeightSource::Synthetic { seed: 0 }) }
    }

    /// Adds an int8 tensor.
    pub fn tensor(&mut self, name: &str, shape: Vec<usize>, kind: TensorKind) -> TensorId {
        self.g.add_tensor(Tensor {
            name: name.into(),
            shape,
            dtype: DataType::Int { bits: 8, signed: true },
            quant: None,
            kind,
            data: None,
            groups: None,
        })
    }

    /// Adds a layer with a ReLU and one output tensor (shape left to inference); returns it.
    pub fn layer(&mut self, name: &str, op: Op, inputs: Vec<TensorId>) -> TensorId {
        let y = self.tensor(&format!("{name}:out"), vec![], TensorKind::Activation);
        self.g.layers.push(Layer { name: name.into(), op, inputs, outputs: vec![y], activation: Activation::Relu });
        y
    }

    /// Adds a dense SAME convolution of `cin` -> `cout` channels, `k` x `k`, stride `s`.
    pub fn conv(&mut self, name: &str, x: TensorId, cin: usize, cout: usize, k: usize, s: usize) -> TensorId {
        let w = self.tensor(&format!("{name}:w"), vec![cout, k, k, cin], TensorKind::Weight);
        let op = Op::Conv2d(Conv2d {
            out_channels: cout,
            kernel: [k, k],
            stride: [s, s],
            dilation: [1, 1],
            padding: Padding::Same,
            groups: 1,
            bias: false,
        });
        self.layer(name, op, vec![x, w])
    }

    /// Adds a SAME pooling.
    pub fn pool(&mut self, name: &str, x: TensorId, kind: PoolKind, k: usize, s: usize) -> TensorId {
        let op = Op::Pool(Pool { kind, kernel: [k, k], stride: [s, s], padding: Padding::Same });
        self.layer(name, op, vec![x])
    }
}

/// Caffe's ResNet-50 v1 as the workbook lists it (224x224, int8, synthetic weights).
pub fn caffe_resnet50() -> Graph {
    let mut b = Builder::new("resnet50-caffe");
    let x = b.tensor("data", vec![1, 224, 224, 3], TensorKind::Activation);
    b.g.inputs.push(x);
    let y = b.conv("conv1", x, 3, 64, 7, 2);
    let mut y = b.pool("pool1", y, PoolKind::Max, 3, 2);
    let mut cin = 64;
    for (stage, blocks, width) in [(2, 3, 64), (3, 4, 128), (4, 6, 256), (5, 3, 512)] {
        for blk in 0..blocks {
            let name = format!("res{stage}{}", (b'a' + blk as u8) as char);
            let s = if blk == 0 && stage > 2 { 2 } else { 1 };
            let shortcut = if blk == 0 { b.conv(&format!("{name}_branch1"), y, cin, width * 4, 1, s) } else { y };
            let a = b.conv(&format!("{name}_branch2a"), y, cin, width, 1, s);
            let c = b.conv(&format!("{name}_branch2b"), a, width, width, 3, 1);
            let d = b.conv(&format!("{name}_branch2c"), c, width, width * 4, 1, 1);
            y = b.layer(&name, Op::Binary(BinaryKind::Add), vec![d, shortcut]);
            cin = width * 4;
        }
    }
    let p = b.pool("pool5", y, PoolKind::Avg, 7, 7);
    let f = b.layer("flatten", Op::Layout(Layout::Reshape { shape: vec![1, -1] }), vec![p]);
    let w = b.tensor("fc1000:w", vec![1000, 2048], TensorKind::Weight);
    let out = b.layer(
        "fc1000",
        Op::FullyConnected(FullyConnected {
            out_features: 1000,
            bias: false,
            keep_dims: false,
            asymmetric_inputs: false,
        }),
        vec![f, w],
    );
    b.g.outputs.push(out);
    // The shapes above are consistent by construction (a unit test runs this).
    if let Err(e) = b.g.infer_shapes() {
        unreachable!("the workbook network's shapes are fixed: {e}");
    }
    b.g
}

/// The workbook's rows: [`caffe_resnet50`]'s, with the sheet's [`ERRATUM`].
pub fn workbook_layers() -> Vec<EstimatorLayer> {
    let mut layers = layers_from_graph(&caffe_resnet50()).layers;
    for l in layers.iter_mut().filter(|l| l.name == ERRATUM.0) {
        l.input[0] = ERRATUM.1;
    }
    layers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::nvdla_estimator::{estimate, EstimatorConfig};

    #[test]
    fn the_workbook_network_gives_the_primers_268_8_fps() {
        let g = caffe_resnet50();
        assert_eq!(layers_from_graph(&g).skipped.len(), 1, "only flatten has no row");
        let est = estimate(&EstimatorConfig::primer(2048, 512, 20.0), &workbook_layers()).expect("estimate");
        assert_eq!(format!("{:.2}", est.fps), "268.80");
        let fixed = estimate(&EstimatorConfig::primer(2048, 512, 20.0), &layers_from_graph(&g).layers).expect("ok");
        assert_eq!(format!("{:.2}", fixed.fps), "271.01");
    }
}
