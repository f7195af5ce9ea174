//! Cost: energy from action counts times the accelerator's energy table (Accelergy's
//! method): MACs x energy per MAC of the mode, vector ops x energy per op, buffer accesses
//! x energy per access, DRAM bits x energy per bit.
//!
//! Bit widths: a mode's energy per MAC is for its operand widths, plus one accumulation at
//! the accumulator's width when the description prices it per bit
//! (`accumulator_energy_pj_per_bit`); partial sums move at the accumulator's width; buffer and DRAM energy
//! follow the bytes moved at packed widths; a vector op's energy is the description's
//! 8-bit figure scaled linearly with the element width (Horowitz ISSCC'14 adds: 8b 0.03 pJ,
//! 16b 0.05 pJ, 32b 0.1 pJ), as its throughput is.

use crate::hw::{Buffer, HwDesc, PrecisionMode};
use crate::units::{Bytes, PicoJoules};

/// Traffic of one on-chip buffer for one layer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BufferTraffic {
    /// Buffer name (the description's, shared).
    pub name: std::sync::Arc<str>,
    /// Bytes read.
    pub reads: Bytes,
    /// Bytes written.
    pub writes: Bytes,
}

/// Energy by component.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Energy {
    /// MACs.
    pub mac: PicoJoules,
    /// Vector / post-processing unit.
    pub vector: PicoJoules,
    /// All on-chip buffers.
    pub buffers: PicoJoules,
    /// DRAM.
    pub dram: PicoJoules,
}

impl Energy {
    /// The sum of all components.
    pub fn total(&self) -> PicoJoules {
        self.mac + self.vector + self.buffers + self.dram
    }
}

impl std::ops::Add for Energy {
    type Output = Energy;
    fn add(self, o: Energy) -> Energy {
        Energy {
            mac: self.mac + o.mac,
            vector: self.vector + o.vector,
            buffers: self.buffers + o.buffers,
            dram: self.dram + o.dram,
        }
    }
}

/// The action counts of one layer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Actions {
    /// MACs executed (not counting padding of the array edge).
    pub macs: u64,
    /// Vector-unit operations.
    pub vector_ops: u64,
    /// Width of the elements the vector unit processes (8 or less counts as 8).
    pub vector_bits: u32,
    /// Traffic per buffer, in the order of the description's buffers.
    pub buffers: Vec<BufferTraffic>,
    /// DRAM bytes read.
    pub dram_read: Bytes,
    /// DRAM bytes written.
    pub dram_write: Bytes,
}

fn accesses(b: &Buffer, bytes: Bytes) -> u64 {
    let per = (b.port.get() / 8).max(1);
    bytes.get().div_ceil(per)
}

/// Energy of a layer's actions.
pub fn energy(hw: &HwDesc, mode: Option<&PrecisionMode>, a: &Actions) -> Energy {
    let core = CoreActions { macs: a.macs, vector_ops: a.vector_ops, vector_bits: a.vector_bits };
    energy_of(hw, mode, core, a.buffers.iter().map(|t| (t.reads, t.writes)), a.dram_read, a.dram_write)
}

/// The compute side of a layer's actions (what [`Actions`] holds besides the traffic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CoreActions {
    /// MACs executed.
    pub macs: u64,
    /// Vector-unit operations.
    pub vector_ops: u64,
    /// Width of the elements the vector unit processes.
    pub vector_bits: u32,
}

/// [`energy`] from the counts without building an [`Actions`]: `buffers` gives (read,
/// write) bytes per buffer in the description's order. The schedule search scores many
/// candidate tilings of a layer with it.
pub fn energy_of(
    hw: &HwDesc,
    mode: Option<&PrecisionMode>,
    core: CoreActions,
    buffers: impl Iterator<Item = (Bytes, Bytes)>,
    dram_read: Bytes,
    dram_write: Bytes,
) -> Energy {
    let (mac, vector) = core_energy(hw, mode, core);
    let buffers = hw.buffers.iter().zip(buffers).map(|(b, (reads, writes))| buffer_energy(b, reads, writes)).sum();
    Energy { mac, vector, buffers, dram: dram_energy(hw, dram_read, dram_write) }
}

/// The MAC and vector energy of [`energy_of`] (they do not depend on the traffic).
pub fn core_energy(hw: &HwDesc, mode: Option<&PrecisionMode>, core: CoreActions) -> (PicoJoules, PicoJoules) {
    // Each MAC: the mode's figure plus one accumulation at the accumulator's width.
    let mac = mode
        .map(|m| PicoJoules(m.energy_per_mac.get() + hw.accumulator.energy_per_accumulation().get()) * core.macs)
        .unwrap_or(PicoJoules::ZERO);
    let width_scale = f64::from(core.vector_bits.max(8)) / 8.0;
    let vector = PicoJoules(hw.vector.energy_per_op.get() * core.vector_ops as f64 * width_scale);
    (mac, vector)
}

/// The energy of one buffer's reads and writes in [`energy_of`].
#[inline]
pub fn buffer_energy(b: &Buffer, reads: Bytes, writes: Bytes) -> PicoJoules {
    b.read_energy * accesses(b, reads) + b.write_energy * accesses(b, writes)
}

/// The DRAM energy of [`energy_of`].
#[inline]
pub fn dram_energy(hw: &HwDesc, dram_read: Bytes, dram_write: Bytes) -> PicoJoules {
    hw.dram.energy_per_bit * (dram_read + dram_write).to_bits().get()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw::load_hw;

    #[test]
    fn energy_is_counts_times_table() {
        let hw = load_hw("systolic32", &[]).unwrap();
        let mode = hw.mode_for(8, 8);
        let a = Actions {
            macs: 1000,
            vector_ops: 100,
            vector_bits: 8,
            buffers: vec![
                BufferTraffic { name: "ifmap_sram".into(), reads: Bytes(64), writes: Bytes(32) },
                BufferTraffic::default(),
                BufferTraffic::default(),
            ],
            dram_read: Bytes(10),
            dram_write: Bytes(0),
        };
        let e = energy(&hw, mode, &a);
        assert!((e.mac.get() - 300.0).abs() < 1e-9);
        assert!((e.vector.get() - 3.0).abs() < 1e-9);
        assert!((e.buffers.get() - (2.0 * 80.0 + 80.0)).abs() < 1e-9); // 32-byte port
        assert!((e.dram.get() - 80.0 * 20.0).abs() < 1e-9);
    }

    #[test]
    fn vector_energy_scales_with_element_width() {
        let hw = load_hw("dsp", &[]).unwrap();
        let at =
            |bits| energy(&hw, None, &Actions { vector_ops: 1000, vector_bits: bits, ..Default::default() }).vector;
        let e8 = at(8).get();
        assert!((e8 - 1000.0 * hw.vector.energy_per_op.get()).abs() < 1e-9);
        assert!((at(16).get() - 2.0 * e8).abs() < 1e-9);
        assert!((at(4).get() - e8).abs() < 1e-9, "narrower elements still use 8-bit lanes");
    }
}
