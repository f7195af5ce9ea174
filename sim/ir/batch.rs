//! A network at another batch size (`--batch N`): every network input's leading axis set to
//! `N`, the few layers whose attributes name the batch axis adjusted, shapes inferred again.
//! The cost stages then see the batch in every loop nest (`ConvWork::n`) and vector work,
//! so weights are fetched once per tile for all `N` images where the schedule allows.
//!
//! A graph is batchable when every activation tensor has a leading axis of 1 (the batch of
//! one image) and the graph has no states (a state's shape fixes the batch); after the
//! change every activation must have a leading axis of `N`, so a layer that mixes the batch
//! axis with others is refused by name rather than costed for something else.
//!
//! A token-major graph (a transformer model file, [`Graph::sequence_rows`] = `S` tokens per
//! sequence) holds its per-token activations as `[S, ...]` rows and its per-sequence ones
//! (attention heads, the KV cache) with a leading axis of 1: at batch `N` the `N` sequences'
//! tokens are stacked (`[N S, ...]`: every token-wise layer runs over all of them, weights
//! shared) and the per-sequence axis is `N` (each sequence attends to its own tokens and
//! cache). The rule is the same for both: every activation's leading axis is `N` times what
//! it was at batch 1.

use super::graph::{Graph, TensorKind};
use crate::ops::OpFamily;

/// Why a graph cannot run at another batch size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// `--batch 0`.
    #[error("--batch must be at least 1, got 0")]
    Zero,
    /// The graph has states.
    #[error("network '{network}': it has states (e.g. '{state}'), whose shapes fix the batch; --batch needs a stateless network")]
    States {
        /// Network.
        network: String,
        /// A state's tensor.
        state: String,
    },
    /// An activation without a leading batch axis of 1 (or of one sequence's tokens).
    #[error("network '{network}': tensor '{tensor}' has shape {shape:?}, expected a leading batch axis of 1; --batch needs a batch-1 network")]
    NotBatchOne {
        /// Network.
        network: String,
        /// The tensor.
        tensor: String,
        /// Its shape.
        shape: Vec<usize>,
    },
    /// A layer whose output does not carry the batch.
    #[error("network '{network}': layer '{layer}' ({op}) does not carry the batch: at batch {batch} its output would have shape {shape:?}")]
    NotCarried {
        /// Network.
        network: String,
        /// The layer.
        layer: String,
        /// Its op.
        op: String,
        /// The batch asked for.
        batch: usize,
        /// The inferred shape.
        shape: Vec<usize>,
    },
    /// Shape inference failed at the new batch.
    #[error("network '{network}' at batch {batch}: {message}")]
    Shapes {
        /// Network.
        network: String,
        /// The batch asked for.
        batch: usize,
        /// The shape error.
        message: String,
    },
}

impl Graph {
    /// This graph with a batch of `n` images (see the module documentation); batch 1 is
    /// the graph unchanged.
    pub fn with_batch(&self, n: usize) -> Result<Graph, BatchError> {
        let network = self.name.clone();
        if n == 0 {
            return Err(BatchError::Zero);
        }
        if let Some(s) = self.states.first() {
            return Err(BatchError::States { network, state: self.tensor(s.tensor).name.clone() });
        }
        let activations = || self.tensors.iter().filter(|t| t.kind == TensorKind::Activation);
        let one_item =
            |lead: Option<&usize>| lead == Some(&1) || (lead.is_some() && lead == self.sequence_rows.as_ref());
        if let Some(t) = activations().find(|t| !one_item(t.shape.first())) {
            return Err(BatchError::NotBatchOne { network, tensor: t.name.clone(), shape: t.shape.clone() });
        }
        if n == 1 {
            return Ok(self.clone());
        }
        let mut g = self.clone();
        for &i in &g.inputs {
            let t = &mut g.tensors[i.0];
            t.shape[0] = t.shape[0].checked_mul(n).ok_or_else(|| BatchError::Shapes {
                network: network.clone(),
                batch: n,
                message: format!("input '{}' of shape {:?} has too many rows at this batch", t.name, t.shape),
            })?;
        }
        for l in &mut g.layers {
            // The op names the batch axis in its attributes, or not.
            l.op.set_batch(n);
        }
        g.infer_shapes().map_err(|e| BatchError::Shapes {
            network: network.clone(),
            batch: n,
            message: e.to_string(),
        })?;
        for l in &g.layers {
            for &o in &l.outputs {
                let shape = &g.tensors[o.0].shape;
                let one = self.tensors[o.0].shape.first().copied().unwrap_or(0);
                if shape.first().copied() != one.checked_mul(n) {
                    return Err(BatchError::NotCarried {
                        network,
                        layer: l.name.clone(),
                        op: l.op.name().to_string(),
                        batch: n,
                        shape: shape.clone(),
                    });
                }
            }
        }
        g.validate().map_err(|e| BatchError::Shapes { network, batch: n, message: e.to_string() })?;
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use crate::import::{load_model, LoadOptions};

    #[test]
    fn every_builtin_runs_at_batch_3_with_three_times_the_macs() {
        for name in crate::import::builtin::names() {
            let g = load_model(name, &LoadOptions::default()).unwrap();
            let b = g.with_batch(3).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(b.total_macs().get(), 3 * g.total_macs().get(), "{name}");
            assert_eq!(b.total_params(), g.total_params(), "{name}");
            let lead = |g: &crate::ir::Graph| g.tensor(g.outputs[0]).shape[0];
            assert_eq!(lead(&b), 3 * lead(&g), "{name}");
        }
    }

    /// ViT (197 token rows per image, `tokens` in its model file) at batch 3: each image's
    /// class token is concatenated before its own patches, and the head reads each image's
    /// class token.
    #[test]
    fn a_batch_of_images_keeps_each_images_tokens_together() {
        let g = load_model("vit_b16", &LoadOptions::default()).unwrap();
        assert_eq!(g.sequence_rows, Some(197));
        let b = g.with_batch(3).unwrap();
        let layer = |name: &str| b.layers.iter().find(|l| l.name == name).cloned().unwrap();
        assert_eq!(b.tensor(layer("image_tokens").outputs[0]).shape, [3, 197, 768]);
        assert_eq!(b.tensor(layer("tokens").outputs[0]).shape, [591, 768]);
        match &layer("cls_out").op {
            crate::ir::Op::Layout(crate::ir::Layout::Slice { begin, size, stride, .. }) => {
                assert_eq!((begin[0], size[0], stride[0]), (0, 3, 197), "rows 0, 197, 394: each image's class token");
            }
            other => panic!("cls_out is {other:?}"),
        }
        assert_eq!(b.tensor(layer("head").outputs[0]).shape, [3, 1000]);
    }

    #[test]
    fn a_batch_of_sequences_stacks_tokens_and_keeps_each_sequence_apart() {
        use crate::import::SeqPhase;
        // BERT at batch 3: 3 x 16 token rows; its pooler reads each sequence's [CLS] token.
        let opts = LoadOptions { phase: Some(SeqPhase::Prefill { len: 16 }), ..Default::default() };
        let g = load_model("bert_base", &opts).unwrap();
        assert_eq!(g.sequence_rows, Some(16));
        let b = g.with_batch(3).unwrap();
        let layer = |g: &crate::ir::Graph, name: &str| {
            g.layers.iter().find(|l| l.name == name || l.name.ends_with(&format!("/{name}"))).cloned().unwrap()
        };
        let cls = layer(&b, "cls");
        assert_eq!(b.tensor(cls.inputs[0]).shape, [48, 768]);
        assert_eq!(b.tensor(cls.outputs[0]).shape, [3, 768]);
        match &cls.op {
            crate::ir::Op::Layout(crate::ir::Layout::Slice { begin, size, stride, .. }) => {
                assert_eq!((begin[0], size[0], stride[0]), (0, 3, 16), "rows 0, 16, 32: each sequence's first token");
            }
            other => panic!("cls is {other:?}"),
        }
        // Attention stays within a sequence: 3 x 12 heads of 16 x 16 scores.
        let scores = layer(&b, "scores");
        assert_eq!(b.tensor(scores.outputs[0]).shape, [3, 12, 1, 16, 16]);
        // Llama decode at batch 4: each sequence has its own KV cache.
        let opts = LoadOptions { phase: Some(SeqPhase::Decode { kv_len: 64 }), ..Default::default() };
        let g = load_model("llama_1b", &opts).unwrap();
        let b = g.with_batch(4).unwrap();
        for &c in &b.kv_cache {
            assert_eq!(b.tensor(c).shape[0], 4);
            assert_eq!(b.tensor(c).shape[1..], g.tensor(c).shape[1..]);
        }
        assert_eq!(b.total_macs().get(), 4 * g.total_macs().get());
    }

    #[test]
    fn batch_one_is_the_graph_unchanged_and_zero_is_refused() {
        let g = load_model("mnv1", &LoadOptions::default()).unwrap();
        assert_eq!(g.with_batch(1).unwrap(), g);
        assert_eq!(g.with_batch(0).unwrap_err().to_string(), "--batch must be at least 1, got 0");
    }

    #[test]
    fn a_layer_that_drops_the_batch_is_named() {
        let text = "name = \"r\"\ninput = { name = \"input\", shape = [1, 4, 4, 2] }\n\n\
                    [[layer]]\nname = \"flat\"\nop = \"reshape\"\nshape = [32]\n";
        let g = crate::import::model_file::parse("r.toml", text, &Default::default()).expect("parses");
        let e = g.with_batch(2).unwrap_err().to_string();
        assert!(e.contains("tensor 'flat'") || e.contains("layer 'flat'"), "{e}");
    }
}
