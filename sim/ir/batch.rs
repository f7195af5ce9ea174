//! A network at another batch size (`--batch N`): every network input's leading axis set to
//! `N`, the few layers whose attributes name the batch axis adjusted, shapes inferred again.
//! The cost stages then see the batch in every loop nest (`ConvWork::n`) and vector work,
//! so weights are fetched once per tile for all `N` images where the schedule allows.
//!
//! A graph is batchable when every activation tensor has a leading axis of 1 (the batch of
//! one image) and the graph has no states (a state's shape fixes the batch); after the
//! change every activation must have a leading axis of `N`, so a layer that mixes the batch
//! axis with others is refused by name rather than costed for something else.

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
    /// An activation without a leading batch axis of 1.
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
        if let Some(t) = activations().find(|t| t.shape.first() != Some(&1)) {
            return Err(BatchError::NotBatchOne { network, tensor: t.name.clone(), shape: t.shape.clone() });
        }
        if n == 1 {
            return Ok(self.clone());
        }
        let mut g = self.clone();
        for &i in &g.inputs {
            g.tensors[i.0].shape[0] = n;
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
                if shape.first() != Some(&n) {
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
        // The token-sequence transformers have no batch axis yet (their inputs are
        // `[sequence]`, ViT its `[197]` positions): refused by name until they carry a batch
        // (issue 19).
        const NO_BATCH_AXIS: [&str; 4] = ["gpt2", "bert_base", "llama_1b", "vit_b16"];
        for name in crate::import::builtin::names() {
            let g = load_model(name, &LoadOptions::default()).unwrap();
            if NO_BATCH_AXIS.contains(&name) {
                let e = g.with_batch(3).expect_err(name).to_string();
                assert!(e.contains("--batch needs a batch-1 network"), "{name}: {e}");
                continue;
            }
            let b = g.with_batch(3).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(b.total_macs().get(), 3 * g.total_macs().get(), "{name}");
            assert_eq!(b.total_params(), g.total_params(), "{name}");
            assert_eq!(b.tensor(b.outputs[0]).shape[0], 3, "{name}");
        }
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
