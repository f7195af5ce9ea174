//! Reports: what one run of a network on an accelerator costs, per layer and in total, and
//! its renderings (terminal table, JSON, CSV).
//!
//! Architecture invariant: the totals are computed from the layers (sums, and for the
//! ratios from the summed counts), so JSON totals always equal the sum of the layers.

pub mod compare;
mod render;
pub mod scalesim;

pub use render::{to_csv, to_json, to_table};

use crate::cost::{BufferTraffic, Energy};
use crate::ir::DataType;
pub use crate::map::family::ArrayUse;
use crate::quant::LayerWidths;
use crate::units::{Bytes, Cycles, Macs, Seconds};

/// Whether a layer's time is set by compute or by memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// The compute units were busy longer than the DMA channel.
    Compute,
    /// The DMA channel was busy longer than the compute units.
    Memory,
    /// The layer does no work (a reshape).
    None,
    /// The layer runs on the fly inside another layer (its cost is in that layer's row).
    Fused,
}

impl Bound {
    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Bound::Compute => "compute",
            Bound::Memory => "memory",
            Bound::None => "-",
            Bound::Fused => "fused",
        }
    }
}

/// One layer's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerReport {
    /// Layer name.
    pub name: std::sync::Arc<str>,
    /// Operator name.
    pub op: std::sync::Arc<str>,
    /// Output shape.
    pub shape: std::sync::Arc<[usize]>,
    /// The compute mode used, e.g. "8x8" (empty for vector work).
    pub mode: String,
    /// Element type of the layer's weights; `None` for a layer without weights.
    pub weight_type: Option<DataType>,
    /// Group-wise scales of the layer's GEMM weights (`--wgroup`), costed with them.
    pub weight_groups: Option<crate::ir::WeightGroups>,
    /// Element type of the activations the layer reads (its first data input).
    pub activation_type: DataType,
    /// MACs (of a direct convolution where a fast algorithm runs it: the effective MACs).
    pub macs: Macs,
    /// Multiplies the compute units execute for the layer's useful work: `macs`, or fewer
    /// where a fast algorithm (NVDLA's Winograd) runs it. Zeros a mapping pads in (NVDLA's
    /// channel-expanded groups) are not counted.
    pub executed_macs: Macs,
    /// Cycles from first load to last store: `compute_cycles + port_cycles + stall_cycles`.
    pub cycles: Cycles,
    /// The compute units' own cycles at the layer's mode (on NVDLA with SDP/PDP behind the
    /// array): the same whatever the buffer sizes, ports and DRAM.
    pub compute_cycles: Cycles,
    /// Cycles the on-chip buffer ports add to compute (the array waits on a port that
    /// cannot feed it or drain it at its rate).
    pub port_cycles: Cycles,
    /// Cycles the compute waits on DRAM (first load, last store, loads not hidden).
    pub stall_cycles: Cycles,
    /// Latency at the accelerator's clock.
    pub latency: Seconds,
    /// `executed_macs / (cycles x peak MACs per cycle of the mode)`: never above 1.
    pub utilization: f64,
    /// Compute- or memory-bound.
    pub bound: Bound,
    /// Tiles the layer ran in.
    pub tiles: u64,
    /// DRAM bytes read.
    pub dram_read: Bytes,
    /// DRAM bytes written.
    pub dram_write: Bytes,
    /// Per-buffer traffic.
    pub buffers: Vec<BufferTraffic>,
    /// Energy by component.
    pub energy: Energy,
    /// The layer this one runs inside, on the fly (NVDLA SDP/PDP fusion); `None` if it
    /// runs as its own pass.
    pub fused_into: Option<String>,
    /// SCALE-Sim's mapping efficiency and compute utilization of the layer on a systolic
    /// array (for `--scalesim-reports`; not part of the JSON/CSV renderings).
    pub array: Option<ArrayUse>,
    /// PEs busy in a full pass of the layer's mapping on a spatial array (Eyeriss's
    /// "active PEs"; in the JSON as `active_pes`); `None` for other families and vector work.
    pub active_pes: Option<u64>,
    /// Accesses by operand (for `--scalesim-reports`; the renderings show per-buffer bytes).
    pub operands: OperandAccesses,
}

/// A layer's accesses by operand: what the datapath moves through the on-chip buffers
/// (elements) and what DRAM moves (bytes at the operands' widths).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OperandAccesses {
    /// Input elements the datapath reads from its buffers.
    pub input_reads: u64,
    /// Weight elements the datapath reads from its buffers.
    pub weight_reads: u64,
    /// Output elements (partial sums included) written to the output buffer.
    pub output_writes: u64,
    /// DRAM bytes of input activations read.
    pub dram_inputs: Bytes,
    /// DRAM bytes of weights (and biases) read.
    pub dram_weights: Bytes,
    /// DRAM bytes of outputs written.
    pub dram_outputs: Bytes,
}

impl OperandAccesses {
    /// Adds `other` run `times` times (saturating, as the unit types add).
    pub fn add_times(&mut self, other: &OperandAccesses, times: u64) {
        let n = |x: u64| x.saturating_mul(times);
        self.input_reads = self.input_reads.saturating_add(n(other.input_reads));
        self.weight_reads = self.weight_reads.saturating_add(n(other.weight_reads));
        self.output_writes = self.output_writes.saturating_add(n(other.output_writes));
        self.dram_inputs += Bytes(n(other.dram_inputs.get()));
        self.dram_weights += Bytes(n(other.dram_weights.get()));
        self.dram_outputs += Bytes(n(other.dram_outputs.get()));
    }
}

/// Totals over all layers.
#[derive(Debug, Clone, PartialEq)]
pub struct Totals {
    /// Sum of layer cycles (layers run one after another).
    pub cycles: Cycles,
    /// Sum of compute cycles.
    pub compute_cycles: Cycles,
    /// Sum of buffer-port cycles.
    pub port_cycles: Cycles,
    /// Sum of stall cycles.
    pub stall_cycles: Cycles,
    /// Hardware latency.
    pub latency: Seconds,
    /// Software overhead outside the hardware (DSP invocation and per-op costs).
    pub overhead: Seconds,
    /// MACs.
    pub macs: Macs,
    /// DRAM bytes read.
    pub dram_read: Bytes,
    /// DRAM bytes written.
    pub dram_write: Bytes,
    /// Energy by component.
    pub energy: Energy,
    /// Executed MACs / (cycles x peak MACs per cycle).
    pub utilization: f64,
}

/// A whole run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// Network name.
    pub model: String,
    /// Accelerator name.
    pub hw: String,
    /// Accelerator family.
    pub kind: String,
    /// Clock in Hz.
    pub clock_hz: f64,
    /// Accumulator width of the accelerator, in bits.
    pub accumulator_bits: u32,
    /// Where the weights came from ("synthetic (seed 24301)" or the file).
    pub weights: String,
    /// Remarks the reader must see (emulated precisions, assumptions).
    pub notes: Vec<String>,
    /// Per layer.
    pub layers: Vec<LayerReport>,
    /// Totals.
    pub totals: Totals,
    /// Functional accuracy on the accelerator's arithmetic, when the model has real
    /// weights and it was evaluated (attached by the CLI, never by the cost path).
    pub accuracy: Option<crate::accuracy::Accuracy>,
    /// The transformer phase the run is for (attached by the CLI when a phase is given):
    /// the report then states the latency per token and tokens per second.
    pub sequence: Option<Sequence>,
    /// The activation tensors that stay on chip instead of a DRAM write and read
    /// (on-chip reuse across layers, `pipeline/onchip.rs`, and fused intermediates).
    pub on_chip: Vec<OnChipTensor>,
}

/// An activation tensor that stays on chip from the layer that writes it to the layers
/// that read it: never written to or read from DRAM.
#[derive(Debug, Clone, PartialEq)]
pub struct OnChipTensor {
    /// The tensor.
    pub tensor: String,
    /// Its bytes at its packed width (what a DRAM write and each DRAM read of it would move).
    pub bytes: Bytes,
    /// The layer that writes it.
    pub producer: String,
    /// The layers that read it.
    pub readers: Vec<String>,
    /// Whether it is the intermediate of a fused pass (NVDLA's on-the-fly SDP / PDP) rather
    /// than a tensor held in the buffer between passes.
    pub fused: bool,
}

/// The phase of a transformer run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sequence {
    /// Prefill of a prompt, or one decode step.
    pub phase: crate::import::SeqPhase,
    /// The KV cache's width (decode).
    pub kv_bits: Option<u32>,
    /// The KV cache's groups along each head's features (`--kv-group`), if any.
    pub kv_groups: Option<crate::ir::WeightGroups>,
    /// Sequences run together (`--batch`), each with its own prompt or KV cache.
    pub batch: usize,
}

impl Sequence {
    /// Tokens one sequence gets the states of (prefill: its prompt; decode: one).
    pub fn tokens_per_sequence(&self) -> usize {
        self.phase.tokens()
    }

    /// Tokens of the whole run (every sequence of the batch).
    pub fn tokens(&self) -> usize {
        self.batch.saturating_mul(self.tokens_per_sequence())
    }
}

impl LayerReport {
    /// The layer's widths, e.g. `w4a8`, `w4a16g128` (group-wise weights), `a8` (no weights), or `af32` for a layer that reads
    /// a float tensor (a quantized model's float interface).
    pub fn widths_label(&self) -> String {
        let t = |d: DataType| match d {
            DataType::Int { bits, .. } => bits.to_string(),
            other => other.to_string(),
        };
        let mut s = self.weight_type.map(|w| format!("w{}", t(w))).unwrap_or_default();
        s.push('a');
        s.push_str(&t(self.activation_type));
        if let Some(g) = self.weight_groups {
            s.push_str(&g.to_string());
        }
        s
    }

    /// The layer's integer widths; `None` when it reads float weights or activations.
    pub fn widths(&self) -> Option<LayerWidths> {
        let int = |d: DataType| match d {
            DataType::Int { bits, .. } => Some(bits),
            DataType::F32 | DataType::F16 => None,
        };
        let weight = match self.weight_type {
            Some(w) => Some(int(w)?),
            None => None,
        };
        Some(LayerWidths { weight, activation: int(self.activation_type)? })
    }
}

impl RunReport {
    /// The widths of the layers that compute on integers (a quantized model's float
    /// interface -- the float input of its QUANTIZE, a float softmax -- is not counted).
    pub fn integer_widths(&self) -> Vec<LayerWidths> {
        self.layers.iter().filter_map(LayerReport::widths).collect()
    }
}

impl Totals {
    /// Sums layers; `peak_macs_per_cycle` is the mode's peak.
    pub fn from_layers(layers: &[LayerReport], peak_macs_per_cycle: u64, clock_hz: f64, overhead: Seconds) -> Self {
        let cycles: Cycles = layers.iter().map(|l| l.cycles).sum();
        let macs: Macs = layers.iter().map(|l| l.macs).sum();
        let executed: Macs = layers.iter().map(|l| l.executed_macs).sum();
        Totals {
            cycles,
            compute_cycles: layers.iter().map(|l| l.compute_cycles).sum(),
            port_cycles: layers.iter().map(|l| l.port_cycles).sum(),
            stall_cycles: layers.iter().map(|l| l.stall_cycles).sum(),
            latency: Seconds(cycles.get() as f64 / clock_hz),
            overhead,
            macs,
            dram_read: layers.iter().map(|l| l.dram_read).sum(),
            dram_write: layers.iter().map(|l| l.dram_write).sum(),
            energy: layers.iter().fold(Energy::default(), |a, l| a + l.energy),
            utilization: executed.get() as f64 / (cycles.get().max(1) as f64 * peak_macs_per_cycle.max(1) as f64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operand_accesses_add_times_scales_every_field_and_saturates() {
        let one = OperandAccesses {
            input_reads: 1,
            weight_reads: 2,
            output_writes: 3,
            dram_inputs: Bytes(4),
            dram_weights: Bytes(5),
            dram_outputs: Bytes(6),
        };
        let mut sum = one;
        sum.add_times(&one, 3);
        let want = OperandAccesses {
            input_reads: 4,
            weight_reads: 8,
            output_writes: 12,
            dram_inputs: Bytes(16),
            dram_weights: Bytes(20),
            dram_outputs: Bytes(24),
        };
        assert_eq!(sum, want);
        sum.add_times(&one, u64::MAX);
        assert_eq!((sum.input_reads, sum.dram_outputs), (u64::MAX, Bytes(u64::MAX)));
    }
}
