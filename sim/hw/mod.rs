//! Accelerator descriptions: the validated, unit-typed hardware model every scheduler and
//! cost model reads. Loading from TOML (with file/line/field errors) lives in [`load`];
//! the presets shipped in `accelerators/` are embedded by [`presets`].
//!
//! Architecture invariant: a [`HwDesc`] that exists is valid (all sizes non-zero, every
//! role held by some buffer, at least one precision mode), so the simulator never divides
//! by zero or loops forever on a description.

pub mod load;
pub mod presets;
pub mod scalesim_cfg;

use crate::units::{Bits, Bytes, BytesPerSecond, Hertz, PicoJoules};

pub use load::{
    hw_toml_with, load_hw, load_hw_with, parse_hw, parse_hw_with, HwError, HwTemplate, Override, SetValue,
    HW_EXTENSIONS,
};

/// A whole accelerator.
#[derive(Debug, Clone, PartialEq)]
pub struct HwDesc {
    /// Name of the description.
    pub name: String,
    /// One line saying what it models.
    pub description: String,
    /// Whether a layer's output may stay in the on-chip buffer for the layers that read it
    /// instead of a DRAM write and read (`onchip_reuse`, default true; `--no-onchip-reuse`
    /// turns it off; a SCALE-Sim `.cfg` has it off, as SCALE-Sim moves every layer's
    /// tensors through DRAM). The pipeline keeps a tensor on chip only where the family
    /// allows it and the run's cost is no worse (`pipeline::onchip`).
    pub onchip_reuse: bool,
    /// The family and its family-specific parameters.
    pub family: Family,
    /// Core clock.
    pub clock: Hertz,
    /// Compute modes: the operand widths the compute units support.
    pub precisions: Vec<PrecisionMode>,
    /// Accumulator arithmetic.
    pub accumulator: Accumulator,
    /// On-chip buffers.
    pub buffers: Vec<Buffer>,
    /// Off-chip memory.
    pub dram: Dram,
    /// The unit that runs element-wise, pooling and activation work.
    pub vector: VectorUnit,
    /// What the description assumed that its source does not say (e.g. a SCALE-Sim `.cfg`'s
    /// energies); every run states them in its notes.
    pub notes: Vec<String>,
}

/// Accelerator families.
#[derive(Debug, Clone, PartialEq)]
pub enum Family {
    /// A systolic or MAC array (`kind = "mac_array"`).
    MacArray(MacArray),
    /// An NVDLA-like convolution engine (`kind = "nvdla"`).
    Nvdla(Nvdla),
    /// A Hexagon-like DSP with wide SIMD (`kind = "dsp"`).
    Dsp(Dsp),
    /// An Eyeriss-like spatial array running the row-stationary dataflow (`kind = "eyeriss"`).
    Eyeriss(Eyeriss),
}

impl Family {
    /// The `kind` string of the family.
    pub fn kind(&self) -> &'static str {
        match self {
            Family::MacArray(_) => "mac_array",
            Family::Nvdla(_) => "nvdla",
            Family::Dsp(_) => "dsp",
            Family::Eyeriss(_) => "eyeriss",
        }
    }
}

/// Which operand stays in the PEs of a systolic array: the one dataflow type of the crate
/// (descriptions, SCALE-Sim `.cfg` files and the systolic cycle model all use it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dataflow {
    /// Output stationary (`os`): outputs stay in the PEs; inputs and weights stream in.
    Os,
    /// Weight stationary (`ws`): weights are preloaded; inputs stream in.
    Ws,
    /// Input stationary (`is`): input windows are preloaded; weights stream in.
    Is,
}

impl Dataflow {
    /// Every dataflow, in the order of their names in error messages.
    pub const ALL: [Dataflow; 3] = [Dataflow::Os, Dataflow::Ws, Dataflow::Is];

    /// Short name, as written in descriptions and SCALE-Sim files: `os`, `ws` or `is`.
    pub fn name(self) -> &'static str {
        match self {
            Dataflow::Os => "os",
            Dataflow::Ws => "ws",
            Dataflow::Is => "is",
        }
    }
}

impl std::fmt::Display for Dataflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A dataflow name that is not `os`, `ws` or `is`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected os, ws or is (lowercase), got '{0}'")]
pub struct UnknownDataflow(pub String);

impl std::str::FromStr for Dataflow {
    type Err = UnknownDataflow;

    /// The one parser of dataflow names: exactly `os`, `ws` or `is`, lowercase. SCALE-Sim
    /// compares case-sensitively (and silently runs any other spelling as `os`), so other
    /// spellings are an error rather than a guess.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dataflow::ALL.into_iter().find(|d| d.name() == s).ok_or_else(|| UnknownDataflow(s.to_string()))
    }
}

/// A rows x cols array of processing elements.
#[derive(Debug, Clone, PartialEq)]
pub struct MacArray {
    /// PE rows.
    pub rows: u64,
    /// PE columns.
    pub cols: u64,
    /// Dataflow.
    pub dataflow: Dataflow,
    /// How a depthwise (grouped) conv is mapped: natively, or channel by channel as
    /// SCALE-Sim does (set for arrays read from a SCALE-Sim `.cfg`).
    pub depthwise: DepthwiseMapping,
    /// Width of one PE's multiplier: in a mode of `w x a`-bit operands a PE does
    /// `pe_bits^2 / (w a)` MACs per cycle (a 4-bit PE: one 4x4, a quarter of an 8x8).
    pub pe_bits: u32,
}

impl MacArray {
    /// Peak MACs per cycle of the whole array in a `w x a`-bit mode: rows x cols x the
    /// per-PE rate `pe_bits^2 / (w a)` (at least one MAC per cycle).
    pub fn peak_macs(&self, weight_bits: u32, activation_bits: u32) -> u64 {
        let pe = u128::from(self.pe_bits);
        let per_mode = u128::from(weight_bits.max(1)) * u128::from(activation_bits.max(1));
        let peak = u128::from(self.rows) * u128::from(self.cols) * pe * pe / per_mode;
        u64::try_from(peak).unwrap_or(u64::MAX).max(1)
    }

    /// Bits per cycle the array's edge takes from (or gives to) the buffer of `role`, in
    /// the most demanding of `modes`: each PE lane of the edge moves `pe_bits^2 / w`
    /// activation bits or `pe_bits^2 / a` weight bits per cycle (its MAC rate times the
    /// operand width), and one output per column per cycle at most. The streaming edges
    /// follow the dataflow: inputs enter the rows (columns for IS), weights the columns
    /// (rows for IS), outputs leave by the columns.
    pub fn edge_bits(&self, role: Role, modes: &[PrecisionMode]) -> u64 {
        let pe2 = u64::from(self.pe_bits) * u64::from(self.pe_bits);
        let per_lane = |f: &dyn Fn(&PrecisionMode) -> u64| modes.iter().map(f).max().unwrap_or(0);
        let (lanes, bits) = match (role, self.dataflow) {
            (Role::Inputs, Dataflow::Os | Dataflow::Ws) => {
                (self.rows, per_lane(&|m| pe2 / u64::from(m.weight_bits.max(1))))
            }
            (Role::Inputs, Dataflow::Is) => (self.cols, per_lane(&|m| pe2 / u64::from(m.weight_bits.max(1)))),
            (Role::Weights, Dataflow::Os | Dataflow::Ws) => {
                (self.cols, per_lane(&|m| pe2 / u64::from(m.activation_bits.max(1))))
            }
            (Role::Weights, Dataflow::Is) => (self.rows, per_lane(&|m| pe2 / u64::from(m.activation_bits.max(1)))),
            (Role::Outputs, _) => (self.cols, per_lane(&|m| u64::from(m.activation_bits))),
        };
        lanes.saturating_mul(bits.max(1))
    }
}

/// Where a description's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// Derived from other fields (e.g. a MAC array's peak from rows x cols x the PE rate).
    Derived,
    /// Given in the description; `derived` is what the family would derive, if it derives one.
    Pinned {
        /// The value the family would derive.
        derived: Option<u64>,
    },
}

impl Origin {
    /// `derived` or `pinned`.
    pub fn label(self) -> &'static str {
        match self {
            Origin::Derived => "derived",
            Origin::Pinned { .. } => "pinned",
        }
    }
}

/// How a MAC array maps a depthwise or grouped convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DepthwiseMapping {
    /// accelsim's native mapping per dataflow (see `map::family::systolic_gemms`).
    #[default]
    Native,
    /// SCALE-Sim compatibility: each group runs as its own layer, one after the other (a
    /// topology `DP` row of `C` channels costs `C` one-channel layers), on every dataflow.
    PerGroup,
}

/// PDP's share line buffer when a description does not give one: 7 KB (unit description,
/// "Planar Data Processor", buffer size estimation: "the share line buffer size is set as 7Kbyte").
pub const PDP_LINE_BUFFER_BYTES: u64 = 7 * 1024;

/// The NVDLA convolution core: atomic-C x atomic-K MAC cells, CBUF, SDP and PDP.
#[derive(Debug, Clone, PartialEq)]
pub struct Nvdla {
    /// Input channels consumed per cycle per MAC cell (atomic-C) at 8 bits.
    pub atomic_c: u64,
    /// Output channels (MAC cells) per cycle (atomic-K) at 8 bits.
    pub atomic_k: u64,
    /// Whether the configuration has the Winograd mode.
    pub winograd: bool,
    /// Output pixels a stripe keeps the same weights for (weight reuse), as in the unit description.
    pub stripe: u64,
    /// Cycles to load the next atomic op's weights into the MAC cells (the FC bottleneck).
    pub weight_load_cycles: u64,
    /// Pooling (PDP) elements per cycle.
    pub pdp_elements_per_cycle: u64,
    /// Whether SDP can add a second cube, read by its own DMA, to the convolution output
    /// on the fly (SDP's element-wise "online mode"; `SDP_EW_ENABLE` in the spec files).
    pub eltwise_on_the_fly: bool,
    /// Whether PDP can pool SDP's output on the fly (PDP "mode 0") when its share line
    /// buffer holds the pooling window's rows (see `map::fusion`).
    pub pool_on_the_fly: bool,
    /// PDP's share line buffer, which bounds on-the-fly pooling (7 KB in the unit description).
    pub pdp_line_buffer: Bytes,
    /// How a grouped or depthwise convolution is mapped onto the convolution core.
    pub grouped: NvdlaGroupedMapping,
}

/// How NVDLA runs a grouped (or depthwise) convolution; `docs/nvdla_grouped_conv.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NvdlaGroupedMapping {
    /// Each group is a direct convolution of its own (`grouped_conv = "groups"`), as NVIDIA's
    /// compiler (nvdla/sw) and Caffe's group emulation do: a depthwise conv keeps one of
    /// atomic-C input lanes and one of atomic-K kernels busy.
    #[default]
    GroupEmulation,
    /// Groups are packed into dense blocks with zero-padded, block-diagonal weights
    /// (`grouped_conv = "expanded"`): as many groups per block as fit one atomic op.
    ChannelExpanded,
}

impl NvdlaGroupedMapping {
    /// Every mapping, in the order of their names in error messages.
    pub const ALL: [NvdlaGroupedMapping; 2] =
        [NvdlaGroupedMapping::GroupEmulation, NvdlaGroupedMapping::ChannelExpanded];

    /// The name used in descriptions.
    pub fn name(self) -> &'static str {
        match self {
            NvdlaGroupedMapping::GroupEmulation => "groups",
            NvdlaGroupedMapping::ChannelExpanded => "expanded",
        }
    }

    /// The other mapping.
    pub fn other(self) -> Self {
        match self {
            NvdlaGroupedMapping::GroupEmulation => NvdlaGroupedMapping::ChannelExpanded,
            NvdlaGroupedMapping::ChannelExpanded => NvdlaGroupedMapping::GroupEmulation,
        }
    }
}

/// A Hexagon-like DSP with HVX vector units.
#[derive(Debug, Clone, PartialEq)]
pub struct Dsp {
    /// Vector length in bits (1024 for HVX 128-byte mode).
    pub vector_bits: u64,
    /// HVX contexts that can run at once.
    pub hvx_contexts: u64,
    /// Multiply resources per packet (two on HVX).
    pub multiply_slots: u64,
    /// Scalar hardware threads.
    pub scalar_threads: u64,
    /// Fixed cost of one invocation from the CPU (FastRPC), in microseconds.
    pub invocation_overhead_us: f64,
    /// Fixed cost per layer (op dispatch in the DSP library), in microseconds.
    pub per_op_overhead_us: f64,
}

/// An Eyeriss-like spatial array (Chen, Emer, Sze, ISCA 2016; Chen et al., JSSC 52(1), 2017):
/// rows x cols PEs, each with its own scratchpads, running the row-stationary dataflow
/// (`map/family/eyeriss.rs`). Scratchpad sizes are in operand words.
#[derive(Debug, Clone, PartialEq)]
pub struct Eyeriss {
    /// PE rows of the physical array.
    pub rows: u64,
    /// PE columns of the physical array.
    pub cols: u64,
    /// Filter scratchpad per PE, in weights.
    pub filter_spad: u64,
    /// Ifmap scratchpad per PE, in activations.
    pub ifmap_spad: u64,
    /// Partial-sum scratchpad per PE, in partial sums.
    pub psum_spad: u64,
    /// Data bus of the filter global input network (GLB to PEs, one multicast per cycle).
    pub filter_bus_bits: u64,
    /// Data bus of the ifmap global input network.
    pub ifmap_bus_bits: u64,
    /// Data bus of the psum global input and output networks.
    pub psum_bus_bits: u64,
}

/// One compute mode: operand widths and what the compute units achieve in that mode.
#[derive(Debug, Clone, PartialEq)]
pub struct PrecisionMode {
    /// Weight operand width.
    pub weight_bits: u32,
    /// Activation operand width.
    pub activation_bits: u32,
    /// Peak MACs per cycle of the whole engine in this mode.
    pub macs_per_cycle: u64,
    /// Whether `macs_per_cycle` was derived or given.
    pub macs_origin: Origin,
    /// Energy of one MAC in this mode.
    pub energy_per_mac: PicoJoules,
}

/// What the accumulator does when a sum leaves its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Overflow {
    /// Two's-complement wrap-around.
    Wrap,
    /// Clamp to the range.
    Saturate,
}

/// Accumulator width and overflow behaviour.
#[derive(Debug, Clone, PartialEq)]
pub struct Accumulator {
    /// Width in bits.
    pub bits: u32,
    /// Overflow behaviour.
    pub overflow: Overflow,
    /// Energy of one accumulation per accumulator bit (`accumulator_energy_pj_per_bit`):
    /// each MAC costs its mode's `energy_per_mac` plus `bits` x this. Zero when the
    /// description gives none (its modes' MAC energies then include the accumulation).
    pub energy_per_bit: PicoJoules,
}

impl Accumulator {
    /// The energy of one accumulation at this width.
    pub fn energy_per_accumulation(&self) -> PicoJoules {
        PicoJoules(self.energy_per_bit.get() * f64::from(self.bits))
    }
}

/// Which operands a buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Roles {
    /// Input activations.
    pub inputs: bool,
    /// Weights (and biases).
    pub weights: bool,
    /// Outputs and partial sums.
    pub outputs: bool,
}

/// The operand classes a buffer may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Input activations.
    Inputs,
    /// Weights.
    Weights,
    /// Outputs and partial sums.
    Outputs,
}

impl Roles {
    /// Whether the buffer holds this role.
    pub fn has(self, r: Role) -> bool {
        match r {
            Role::Inputs => self.inputs,
            Role::Weights => self.weights,
            Role::Outputs => self.outputs,
        }
    }
}

/// An on-chip buffer (SRAM, CBUF, VTCM...).
#[derive(Debug, Clone, PartialEq)]
pub struct Buffer {
    /// Name, used in reports (shared with every report row that names it).
    pub name: std::sync::Arc<str>,
    /// Capacity.
    pub size: Bytes,
    /// Independent banks.
    pub banks: u64,
    /// Width of one bank's port: what one access moves.
    pub port: Bits,
    /// Whether `port` was derived (from what a MAC array's edge consumes) or given.
    pub port_origin: Origin,
    /// Energy of one read access (one port width).
    pub read_energy: PicoJoules,
    /// Energy of one write access (one port width).
    pub write_energy: PicoJoules,
    /// Operands it holds.
    pub holds: Roles,
    /// Whether half the buffer is filled while the other half is computed on.
    pub double_buffered: bool,
    /// Where it sits in the storage hierarchy.
    pub level: BufferLevel,
}

/// Where a buffer sits: shared by the whole engine and filled from DRAM (the tiling fits
/// tiles into these), or inside each PE (a register file the datapath reuses operands
/// from, as in a row-stationary array; `level = "pe_local"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BufferLevel {
    /// Shared on-chip buffer (SRAM, CBUF, VTCM), filled by DMA.
    #[default]
    Shared,
    /// Storage inside each PE, filled from a shared buffer.
    PeLocal,
}

impl BufferLevel {
    /// Every level, in the order of their names in error messages.
    pub const ALL: [BufferLevel; 2] = [BufferLevel::Shared, BufferLevel::PeLocal];

    /// The name used in descriptions.
    pub fn name(self) -> &'static str {
        match self {
            BufferLevel::Shared => "shared",
            BufferLevel::PeLocal => "pe_local",
        }
    }
}

impl Buffer {
    /// Bytes the buffer can deliver per cycle (all banks).
    pub fn bytes_per_cycle(&self) -> f64 {
        (self.banks * self.port.get()) as f64 / 8.0
    }

    /// Bytes one access moves.
    pub fn access_bytes(&self) -> f64 {
        self.port.get() as f64 / 8.0
    }
}

/// Off-chip memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Dram {
    /// Peak bandwidth.
    pub bandwidth: BytesPerSecond,
    /// Fraction of the peak a stream of DMA bursts achieves (0, 1].
    pub efficiency: f64,
    /// Latency of a request, in nanoseconds.
    pub latency_ns: f64,
    /// Energy per bit moved.
    pub energy_per_bit: PicoJoules,
    /// Whether the interface is sized to whatever the array demands, so it never stalls
    /// compute (SCALE-Sim's `InterfaceBandwidth = CALC`): a layer then takes its compute
    /// cycles and `bandwidth` is not a limit. `false` for descriptions (a TOML has no key).
    pub sized_to_demand: bool,
}

/// The vector / post-processing unit.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorUnit {
    /// Elements processed per cycle at 8 bits.
    pub elements_per_cycle: u64,
    /// Energy per element operation.
    pub energy_per_op: PicoJoules,
}

impl HwDesc {
    /// The compute mode used for the given operand widths: the exact mode if the hardware
    /// has it, else the narrowest mode at least as wide in both operands (the operands are
    /// sign-extended into it); `None` if no mode is wide enough.
    pub fn mode_for(&self, weight_bits: u32, activation_bits: u32) -> Option<&PrecisionMode> {
        self.precisions
            .iter()
            .filter(|m| m.weight_bits >= weight_bits && m.activation_bits >= activation_bits)
            .min_by_key(|m| (m.weight_bits + m.activation_bits, m.weight_bits))
    }

    /// The index of the first buffer at `level` holding a role (where that role lives).
    pub fn buffer_at(&self, r: Role, level: BufferLevel) -> Option<usize> {
        self.buffers.iter().position(|b| b.level == level && b.holds.has(r))
    }

    /// The buffers holding a role.
    pub fn buffers_for(&self, r: Role) -> impl Iterator<Item = &Buffer> {
        self.buffers.iter().filter(move |b| b.holds.has(r))
    }

    /// DRAM bytes per cycle actually achieved.
    pub fn dram_bytes_per_cycle(&self) -> f64 {
        self.dram.bandwidth.per_cycle(self.clock) * self.dram.efficiency
    }

    /// Notes on values a description pins below what its array would derive: such a value
    /// throttles the array (a mode's peak below rows x cols x the PE rate, a buffer port
    /// narrower than the array edge it feeds).
    pub fn throttle_notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        for m in &self.precisions {
            if let Origin::Pinned { derived: Some(d) } = m.macs_origin {
                if m.macs_per_cycle < d {
                    notes.push(format!(
                        "precision {}x{}: macs_per_cycle = {} is pinned below the array's rows x cols x PE rate ({d}): each PE runs at {:.2} of its rate",
                        m.weight_bits, m.activation_bits, m.macs_per_cycle, m.macs_per_cycle as f64 / d as f64
                    ));
                }
            }
        }
        for b in &self.buffers {
            if let Origin::Pinned { derived: Some(d) } = b.port_origin {
                let have = b.port.get().saturating_mul(b.banks);
                if have < d {
                    notes.push(format!(
                        "buffer '{}': {} banks x port_bits = {} are pinned below the {d} bits per cycle the array edge consumes: the port can throttle the array",
                        b.name, b.banks, b.port.get()
                    ));
                }
            }
        }
        notes
    }

    /// DRAM latency in cycles (rounded up).
    pub fn dram_latency_cycles(&self) -> u64 {
        (self.dram.latency_ns * 1e-9 * self.clock.0).ceil() as u64
    }
}
