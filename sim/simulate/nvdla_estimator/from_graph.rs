//! Builds the estimator's layer rows from an [`ir::Graph`](crate::ir::Graph).
//!
//! The workbook has rows for convolutions and fully connected layers only; its `Readme`
//! (assumption 2) says pooling, scaling and element-wise operations are fused into the
//! convolutions and "don't show up in the performance calculations". So:
//! - a dense convolution is a `conv` row, a fully connected layer an `fc` row;
//! - an element-wise `Add` turns the latest convolution row among its inputs into
//!   `conv + elwise` (the sheet marks `Res2a_branch2c`, the conv computed last before the add);
//! - a pooling window, or a `Mean` over height and width (global average pooling), is fused into
//!   the row that produced its input, directly or through such an `Add` (the sheet puts the final
//!   7x7 average pool on `Res5c_branch2c`);
//! - everything else (reshape, softmax, (de)quantize, pad, concat) has no row and no cost, and
//!   is listed in [`GraphLayers::skipped`] with the reason, as are layers that cannot be fused
//!   and grouped or depthwise convolutions, for which the workbook has no convention.

use std::collections::HashMap;

use super::{EstimatorLayer, FusedPool, LayerKind};
use crate::ir::{Graph, Layer, TensorId, TensorKind};
use crate::ops::{LayerCx, OpFamily, WorkbookRow};

/// A graph layer that has no row of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedLayer {
    /// The graph layer's name.
    pub name: String,
    /// Why it has no row (fused layers are not listed).
    pub reason: String,
}

/// The rows built from a graph.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GraphLayers {
    /// One row per convolution or fully connected layer, in graph order.
    pub layers: Vec<EstimatorLayer>,
    /// Layers that are neither rows nor fused into one.
    pub skipped: Vec<SkippedLayer>,
}

/// Builds the estimator's rows from a validated graph (NHWC activations, batch ignored: the
/// sheet counts one frame).
pub fn layers_from_graph(graph: &Graph) -> GraphLayers {
    let mut out = GraphLayers::default();
    // Which row produced a tensor (directly, or through a fused add or pool).
    let mut row_of: HashMap<TensorId, usize> = HashMap::new();
    for layer in &graph.layers {
        let skip = |out: &mut GraphLayers, reason: &str| {
            out.skipped.push(SkippedLayer { name: layer.name.clone(), reason: reason.into() })
        };
        let input_shape = graph.data_input(layer).shape.clone();
        let output_shape = graph.output(layer).shape.clone();
        // Each op says what it is in the workbook (`OpFamily::workbook_row`).
        match layer.op.workbook_row(&LayerCx::new(graph, layer)) {
            WorkbookRow::Conv(c) => {
                let [_, h, w, cin] = match input_shape[..] {
                    [n, h, w, c] => [n, h, w, c],
                    _ => {
                        skip(&mut out, "convolution input is not NHWC");
                        continue;
                    }
                };
                if c.groups != 1 {
                    skip(&mut out, "grouped or depthwise convolution: the workbook has no convention for it");
                    continue;
                }
                if c.dilation != [1, 1] {
                    skip(&mut out, "dilated convolution: the workbook has no convention for it");
                    continue;
                }
                let (oh, ow) = match output_shape[..] {
                    [_, oh, ow, _] => (oh, ow),
                    _ => (0, 0),
                };
                let zero_pad = zero_pad([h, w], [oh, ow], c.stride);
                let row = EstimatorLayer::conv(
                    layer.name.clone(),
                    [cin as u64, h as u64, w as u64],
                    c.out_channels as u64,
                    [c.kernel[0] as u64, c.kernel[1] as u64],
                    [c.stride[0] as u64, c.stride[1] as u64],
                    zero_pad,
                );
                push_row(&mut out, &mut row_of, layer, row);
            }
            WorkbookRow::FullyConnected { out_features } => {
                let batch = input_shape.first().copied().unwrap_or(1).max(1) as u64;
                let features = graph.data_input(layer).elements() / batch;
                let row = EstimatorLayer::fully_connected(layer.name.clone(), features, out_features as u64);
                push_row(&mut out, &mut row_of, layer, row);
            }
            WorkbookRow::ConvEltwise => {
                let latest = layer
                    .inputs
                    .iter()
                    .filter(|&&t| graph.tensor(t).kind == TensorKind::Activation)
                    .filter_map(|t| row_of.get(t).copied())
                    .filter(|&r| out.layers[r].kind == LayerKind::Conv && out.layers[r].pool.is_none())
                    .max();
                match latest {
                    Some(r) => {
                        out.layers[r].kind = LayerKind::ConvEltwise;
                        row_of.insert(layer.outputs[0], r);
                    }
                    None => skip(&mut out, "element-wise add not fed by an unfused convolution row"),
                }
            }
            WorkbookRow::Pool { kernel, stride } => {
                let pool = FusedPool {
                    kernel: [kernel[0] as u64, kernel[1] as u64],
                    stride: [stride[0] as u64, stride[1] as u64],
                };
                fuse_pool(&mut out, &mut row_of, layer, pool, "pooling not fed by a convolution row");
            }
            WorkbookRow::PlaneMean => {
                let (h, w) = (input_shape[1] as u64, input_shape[2] as u64);
                let pool = FusedPool { kernel: [h, w], stride: [h, w] };
                fuse_pool(&mut out, &mut row_of, layer, pool, "global average pool not fed by a convolution row");
            }
            WorkbookRow::View => {
                // A view: keep following the producing row so a later pool could still fuse.
                if let Some(&r) = row_of.get(&layer.inputs[0]) {
                    row_of.insert(layer.outputs[0], r);
                }
                skip(&mut out, "no row in the workbook (a reshape moves no data)");
            }
            WorkbookRow::None { what } => skip(&mut out, &format!("no row in the workbook for {what}")),
        }
    }
    out
}

fn push_row(out: &mut GraphLayers, row_of: &mut HashMap<TensorId, usize>, layer: &Layer, row: EstimatorLayer) {
    out.layers.push(row);
    row_of.insert(layer.outputs[0], out.layers.len() - 1);
}

fn fuse_pool(
    out: &mut GraphLayers,
    row_of: &mut HashMap<TensorId, usize>,
    layer: &Layer,
    pool: FusedPool,
    reason: &str,
) {
    match row_of.get(&layer.inputs[0]).copied() {
        Some(r) if out.layers[r].pool.is_none() && out.layers[r].kind != LayerKind::FullyConnected => {
            out.layers[r].pool = Some(pool);
            row_of.insert(layer.outputs[0], r);
        }
        _ => out.skipped.push(SkippedLayer { name: layer.name.clone(), reason: reason.into() }),
    }
}

/// The sheet's zero-padding flag (`K#`): TRUE gives output = ceil(input / stride), FALSE
/// ceil((input - kernel) / stride) + 1. A graph layer is TRUE exactly when its output has the
/// TRUE size (always for SAME). Otherwise FALSE, which is exact for stride 1; for larger strides
/// the sheet's CEILING can count one more row than the layer has (its own rows never need it).
fn zero_pad(input: [usize; 2], output: [usize; 2], stride: [usize; 2]) -> bool {
    (0..2).all(|d| input[d].div_ceil(stride[d].max(1)) == output[d])
}
