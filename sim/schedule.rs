//! What one candidate schedule (tiling) of a layer costs: buffer traffic, compute cycles,
//! the simulated tile timeline and the energy. The schedule search
//! ([`crate::map::tiling::schedule_conv`]) scores candidates with it, and the pipeline
//! reports the chosen one's figures from it, so the search optimizes exactly what the
//! report shows.
//!
//! A layer's evaluation inputs that do not depend on the tiling (the datapath's operand
//! reads, the array's or vector unit's cycles, fused layers' extra traffic) are gathered
//! once in a [`LayerEval`]; [`LayerEval::figures`] then costs any tiling.

use crate::cost::{self, CoreActions, Energy};
use crate::hw::{BufferLevel, HwDesc, PrecisionMode, Role};
use crate::map::family::{OperandReads, StreamGrain};
use crate::map::tiling::{ordered, Evaluate, Objective, Score, Tiling, TilingBound, Traffic, Widths};
use crate::report::OperandAccesses;
use crate::simulate::{ceil_u64, simulate, Dma, TileStream, Timeline};
use crate::units::{Bits, Bytes, Cycles, PicoJoules};
use smallvec::SmallVec;
use std::cell::{Cell, OnceCell};
use std::sync::Arc;

/// (read, write) bytes per buffer of one tiling, in the description's order: inline for the
/// few buffers descriptions have, so scoring a candidate allocates nothing.
/// (read, write) bytes per buffer, in the description's order (inline for up to six buffers).
pub type PerBuffer = SmallVec<[(Bytes, Bytes); 6]>;

/// The tiling-independent inputs of a layer's evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayerWork {
    /// Operand widths.
    pub wd: Widths,
    /// Operand elements the datapath reads from the shared buffers.
    pub reads: OperandReads,
    /// Operand elements the datapath reads from PE-local storage (charged to a PE-local
    /// buffer holding the operand, or to the shared one when there is none).
    pub pe_local_reads: OperandReads,
    /// Output elements the layer writes into the output buffer (once per partial-sum pass).
    pub out_elems: u64,
    /// Partial-sum passes of the compute units over the whole reduction
    /// ([`crate::map::family::ComputeFigures::psum_passes`]; 1 for vector work).
    pub psum_passes: u64,
    /// Compute cycles that do not depend on the tiling (array or vector unit, and on NVDLA
    /// SDP and a fused PDP), before the buffer ports bound them.
    pub compute: u64,
    /// Compute-side actions (MACs, vector operations).
    pub core: CoreActions,
    /// DRAM bits read beyond the tiling's (an operand SDP's DMA reads for a fused add).
    pub extra_read: Bits,
    /// With a fused pooling: (the conv's output bits, the pooled output bits) -- the conv's
    /// output never reaches DRAM, the pooled one does.
    pub fused_out: Option<(Bits, Bits)>,
}

/// A layer's evaluation on one accelerator.
#[derive(Debug, Clone)]
pub struct LayerEval<'a> {
    hw: &'a HwDesc,
    mode: Option<&'a PrecisionMode>,
    work: LayerWork,
    idx: [usize; 3],
    /// DRAM bytes written (the same for every tiling).
    write_bytes: f64,
    /// The channel's figures the bounds read.
    times: ChannelTimes,
    /// The extra DRAM bits read (`work.extra_read`), converted once: the bounds read it for
    /// every candidate.
    extra_read_f: f64,
    /// What costing a tiling reuses, made on first use: a layer whose schedule a sweep's
    /// memo already holds needs it only for the chosen tiling's figures.
    prep: OnceCell<Arc<Prep>>,
    /// Made on first use: only a search that bounds traffic needs them.
    lower: OnceCell<Lower>,
    /// The last stream simulated ([`stream_bits`]) and its timeline.
    last_simulated: Cell<Option<([u64; 4], Timeline)>>,
}

/// A tile stream's fields, exactly (bit patterns): equal ones simulate alike.
fn stream_bits(s: &TileStream) -> [u64; 4] {
    [s.tiles, s.load_bytes.to_bits(), s.compute.to_bits(), s.store_bytes.to_bits()]
}

/// The tiling-independent figures a [`LayerEval`] costs every tiling with.
#[derive(Debug, Clone)]
struct Prep {
    /// The datapath's operand reads per buffer ([`charge_reads`]): every tiling's.
    reads: PerBuffer,
    /// Per buffer, its port and the DRAM transfers that fill or drain it.
    ports: SmallVec<[Port; 6]>,
    /// MAC and vector energy ([`cost::core_energy`]).
    core: (PicoJoules, PicoJoules),
    /// How the family's DMA refines a tile stream.
    grain: StreamGrain,
}

/// What a [`LayerEval`] makes before costing any tiling and is the same on every
/// description that differs from its own only in the DRAM channel's speed and the clock
/// ([`LayerEval::prepared`]): a sweep over those keeps it per layer.
#[derive(Debug, Clone)]
pub struct Prepared {
    prep: Arc<Prep>,
    lower: Lower,
}

/// Lower bounds over every tiling of a layer, for [`Evaluate::bound`].
#[derive(Debug, Clone, Copy)]
struct Lower {
    /// On the compute cycles.
    compute: f64,
    /// On the energy: the energy without DRAM traffic and fills.
    energy: f64,
}

/// A buffer as [`LayerEval::compute`] sees it.
#[derive(Debug, Clone, Copy)]
struct Port {
    bytes_per_cycle: f64,
    /// Whether DMA fills it with inputs or weights, or drains outputs from it.
    fills_inputs: bool,
    fills_weights: bool,
    drains: bool,
}

/// The figures of one tiling of a layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// (read, write) bytes per buffer, in the description's order.
    pub buffers: PerBuffer,
    /// Compute cycles (the array's, bounded by the buffer ports).
    pub compute: u64,
    /// The compute units' own cycles at their mode, with no buffer-port or DRAM limit
    /// (the same for every tiling; `compute` minus this is what the ports add).
    pub own_compute: u64,
    /// The simulated timeline, the family's once-per-layer cycles included.
    pub timeline: Timeline,
    /// DRAM bytes read.
    pub dram_read: Bytes,
    /// DRAM bytes written.
    pub dram_write: Bytes,
    /// Energy.
    pub energy: Energy,
    /// Accesses by operand (SCALE-Sim's DETAILED_ACCESS_REPORT reads them).
    pub operands: OperandAccesses,
}

fn bytes_of(elements: u64, width: u32) -> Bytes {
    Bits(elements.saturating_mul(u64::from(width))).to_bytes_ceil()
}

impl<'a> LayerEval<'a> {
    /// The evaluation of a layer's work on `hw` in compute mode `mode` (none for vector work).
    pub fn new(hw: &'a HwDesc, mode: Option<&'a PrecisionMode>, work: LayerWork) -> Self {
        let role = |r: Role| hw.buffer_at(r, BufferLevel::Shared).unwrap_or(0);
        let mut e = LayerEval {
            hw,
            mode,
            work,
            idx: [role(Role::Inputs), role(Role::Weights), role(Role::Outputs)],
            write_bytes: 0.0,
            times: ChannelTimes::of(hw),
            extra_read_f: work.extra_read.get() as f64,
            prep: OnceCell::new(),
            lower: OnceCell::new(),
            last_simulated: Cell::new(None),
        };
        // An output kept on chip (`Widths::resident_out`) is never written to DRAM.
        let out = if work.wd.resident_out {
            Bits::ZERO
        } else {
            Bits(work.out_elems.saturating_mul(u64::from(work.wd.output)))
        };
        e.write_bytes = e.dram_write(out).get() as f64;
        e
    }

    /// [`LayerEval::new`], with what [`LayerEval::prepared`] gave on a description that
    /// differs from `hw` only in the DRAM channel's speed and the clock, for the same mode
    /// and work.
    pub fn with_prepared(
        hw: &'a HwDesc,
        mode: Option<&'a PrecisionMode>,
        work: LayerWork,
        prepared: &Prepared,
    ) -> Self {
        let e = LayerEval::new(hw, mode, work);
        // Neither cell is set yet: `new` leaves both empty.
        let _ = e.prep.set(Arc::clone(&prepared.prep));
        let _ = e.lower.set(prepared.lower);
        e
    }

    /// The figures this evaluation makes before costing any tiling (made now if not yet).
    pub fn prepared(&self) -> Prepared {
        let lower = self.lower();
        Prepared { prep: Arc::clone(self.prep()), lower }
    }

    /// The layer's tiling-independent evaluation inputs.
    pub fn work(&self) -> &LayerWork {
        &self.work
    }

    /// The tiling-independent figures, made on first use (shared with [`Prepared`]).
    fn prep(&self) -> &Arc<Prep> {
        self.prep.get_or_init(|| {
            let (hw, w) = (self.hw, &self.work);
            let mut reads: PerBuffer = smallvec::smallvec![(Bytes::ZERO, Bytes::ZERO); hw.buffers.len()];
            charge_reads(hw, &mut reads, w.reads, w.pe_local_reads, w.wd);
            let ports = hw
                .buffers
                .iter()
                .map(|b| {
                    // DMA fills and drains only shared buffers.
                    let dma = |r: Role| b.level == BufferLevel::Shared && b.holds.has(r);
                    Port {
                        bytes_per_cycle: b.bytes_per_cycle(),
                        fills_inputs: dma(Role::Inputs),
                        fills_weights: dma(Role::Weights),
                        drains: dma(Role::Outputs),
                    }
                })
                .collect();
            Arc::new(Prep {
                reads,
                ports,
                core: cost::core_energy(hw, self.mode, w.core),
                grain: hw.family.stream_grain(hw),
            })
        })
    }

    /// The lower bounds over every tiling, made on first use.
    fn lower(&self) -> Lower {
        *self.lower.get_or_init(|| {
            let p = self.prep();
            // Every tiling moves at least nothing, in one input-channel tile: its buffer
            // traffic and ports then give lower bounds on compute and energy.
            let zero = Tiling {
                tile: crate::map::tiling::Tile { k: 1, rows: 1, cols: 1, c: 1 },
                order: crate::map::tiling::LoopOrder::InputsOuter,
                tiles: 1,
                c_tiles: 1,
                weight_reads: 0,
                dram: Traffic::default(),
            };
            let buffers = self.buffer_traffic(p, &zero);
            Lower {
                compute: self.compute(p, &zero, &buffers) as f64,
                energy: self.energy(p, &buffers, Bytes::ZERO, Bytes::ZERO).total().get(),
            }
        })
    }

    /// The fingerprint of the evaluation inputs beyond the work and widths (for the memo).
    pub fn key(&self) -> [u64; 4] {
        let w = &self.work;
        [w.compute, w.extra_read.get(), w.fused_out.map_or(u64::MAX, |(_, last)| last.get()), w.core.vector_ops]
    }

    fn dram_write(&self, outputs: Bits) -> Bytes {
        match self.work.fused_out {
            // The conv's output never reaches DRAM; the chain's last output does.
            Some((conv_out, last_out)) => (outputs.saturating_sub(conv_out) + last_out).to_bytes_ceil(),
            None => outputs.to_bytes_ceil(),
        }
    }

    /// How many times each output is written into the output buffer: once per partial sum
    /// of a split reduction -- the tiling's input-channel tiles or the array's row folds,
    /// whichever is more (a lower bound on their combination, which is what a fold that
    /// straddles a channel tile costs).
    fn psum_passes(&self, t: &Tiling) -> u64 {
        t.c_tiles.max(self.work.psum_passes).max(1)
    }

    /// The bytes DMA writes into the input buffer for a tiling: the inputs it loads, at the
    /// width they are held at there ([`Widths::buffered_input`]: a dynamically quantized
    /// input arrives at its own width and is stored quantized).
    #[inline]
    fn input_fill(&self, t: &Tiling) -> Bytes {
        let wd = &self.work.wd;
        let held = wd.buffered_input();
        if held == wd.input {
            t.dram.inputs.to_bytes_ceil()
        } else {
            // The loads are whole elements at `input` bits each.
            Bits(t.dram.inputs.get() / u64::from(wd.input.max(1)) * u64::from(held)).to_bytes_ceil()
        }
    }

    /// (read, write) bytes per buffer of a tiling: DRAM fills and drains, the datapath's
    /// operand reads, and the output writes (partial sums at the accumulator's width when
    /// the reduction is split, each but the last read back to be added to).
    #[inline]
    fn buffer_traffic(&self, p: &Prep, t: &Tiling) -> PerBuffer {
        let (w, [bi, bw, bo]) = (&self.work, self.idx);
        // Byte counts add saturating, so starting from the reads adds the same totals.
        let mut tr = PerBuffer::from_slice(&p.reads);
        let passes = self.psum_passes(t);
        let psum_bits = if passes > 1 { w.wd.acc } else { w.wd.output };
        tr[bi].1 += self.input_fill(t);
        tr[bw].1 += t.dram.weights.to_bytes_ceil();
        tr[bo].1 += bytes_of(w.out_elems.saturating_mul(passes), psum_bits);
        tr[bo].0 += bytes_of(w.out_elems.saturating_mul(passes - 1), w.wd.acc) + t.dram.outputs.to_bytes_ceil();
        if w.wd.resident_out && bi != bo {
            // An output kept on chip moves from the output buffer to the input buffer its
            // readers read (separate SRAMs): one read and one write of it on chip, over
            // the buffers' ports, instead of a DRAM round trip.
            let moved = bytes_of(w.out_elems, w.wd.output);
            tr[bo].0 += moved;
            tr[bi].1 += moved;
        }
        tr
    }

    /// Compute cycles: the work's own, bounded by the busiest buffer port's compute-side
    /// traffic (DRAM fills of a tile overlap the previous tile's compute, so they and the
    /// drains are not counted).
    #[inline]
    fn compute(&self, p: &Prep, t: &Tiling, buffers: &[(Bytes, Bytes)]) -> u64 {
        let (inputs, weights) = (self.input_fill(t), t.dram.weights.to_bytes_ceil());
        let outputs = t.dram.outputs.to_bytes_ceil();
        let port = p
            .ports
            .iter()
            .zip(buffers)
            .map(|(port, &(reads, writes))| {
                let fills = if port.fills_inputs { inputs } else { Bytes::ZERO }
                    + if port.fills_weights { weights } else { Bytes::ZERO };
                let drains = if port.drains { outputs } else { Bytes::ZERO };
                let compute_side = (reads + writes).saturating_sub(fills).saturating_sub(drains);
                ceil_u64(compute_side.get() as f64 / port.bytes_per_cycle)
            })
            .max()
            .unwrap_or(0);
        self.work.compute.max(port)
    }

    /// The energy of a tiling with these buffer and DRAM bytes ([`cost::energy_of`]).
    #[inline]
    fn energy(&self, p: &Prep, buffers: &[(Bytes, Bytes)], dram_read: Bytes, dram_write: Bytes) -> Energy {
        let (mac, vector) = p.core;
        let on_chip = self
            .hw
            .buffers
            .iter()
            .zip(buffers)
            .map(|(b, &(reads, writes))| cost::buffer_energy(b, reads, writes))
            .sum();
        Energy { mac, vector, buffers: on_chip, dram: cost::dram_energy(self.hw, dram_read, dram_write) }
    }

    /// The tile stream of a tiling whose compute cycles are `compute`, refined to the
    /// family's DMA grain.
    fn stream(&self, p: &Prep, t: &Tiling, compute: u64, dram_read: Bytes, dram_write: Bytes) -> TileStream {
        p.grain.stream(t.tiles, dram_read.get() as f64, compute as f64, dram_write.get() as f64)
    }

    /// The simulated timeline of a (refined) tile stream of `compute` cycles.
    fn timeline(&self, stream: &TileStream, compute: u64) -> Timeline {
        if self.hw.dram.sized_to_demand {
            // The interface keeps up with the array (SCALE-Sim's CALC): the layer takes its
            // compute cycles.
            Timeline { total: Cycles(compute), compute: Cycles(compute), dma_busy: Cycles::ZERO, stall: Cycles::ZERO }
        } else {
            // The stream simulated last is usually the chosen one, whose figures follow.
            let key = stream_bits(stream);
            if let Some((_, tl)) = self.last_simulated.get().filter(|(last, _)| *last == key) {
                return tl;
            }
            let (dma, once) = (&self.times.dma, self.times.once);
            let mut tl = simulate(stream, dma);
            tl.total = Cycles(tl.total.get().saturating_add(once));
            tl.stall = Cycles(tl.stall.get().saturating_add(once));
            self.last_simulated.set(Some((key, tl)));
            tl
        }
    }

    /// A tiling's (read, write) bytes per buffer, its compute cycles (bounded by the buffer
    /// ports) and the DRAM bytes it reads and writes.
    #[inline]
    fn traffic(&self, p: &Prep, t: &Tiling) -> (PerBuffer, u64, Bytes, Bytes) {
        let buffers = self.buffer_traffic(p, t);
        let compute = self.compute(p, t, &buffers);
        let dram_read = t.dram.read_bytes() + self.work.extra_read.to_bytes_ceil();
        (buffers, compute, dram_read, self.dram_write(t.dram.outputs))
    }

    /// Everything a tiling costs.
    pub fn figures(&self, t: &Tiling) -> Figures {
        let p = self.prep();
        let (buffers, compute, dram_read, dram_write) = self.traffic(p, t);
        let timeline = self.timeline(&self.stream(p, t, compute, dram_read, dram_write), compute);
        let energy = self.energy(p, &buffers, dram_read, dram_write);
        let w = &self.work;
        let operands = OperandAccesses {
            input_reads: w.reads.inputs.saturating_add(w.pe_local_reads.inputs),
            weight_reads: w.reads.weights.saturating_add(w.pe_local_reads.weights),
            output_writes: w.out_elems.saturating_mul(self.psum_passes(t)),
            dram_inputs: t.dram.inputs.to_bytes_ceil() + w.extra_read.to_bytes_ceil(),
            dram_weights: t.dram.weights.to_bytes_ceil(),
            dram_outputs: dram_write,
        };
        Figures { buffers, compute, own_compute: w.compute, timeline, dram_read, dram_write, energy, operands }
    }
}

/// What a candidate tiling costs before the DRAM channel's speed is known: everything but
/// its timeline (which the channel's bandwidth, latency and the clock decide). A sweep over
/// those keeps these per layer and only re-simulates ([`crate::map::tiling::FrontMemo`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelFree {
    /// The tile stream the timeline simulates (refined to the family's DMA grain).
    pub stream: TileStream,
    /// Compute cycles (the array's, bounded by the buffer ports).
    pub compute: u64,
    /// Energy in picojoules.
    pub energy_pj: f64,
    /// DRAM bits moved.
    pub dram_bits: f64,
}

impl Evaluate for LayerEval<'_> {
    type Part = ChannelFree;

    #[inline]
    fn part(&self, t: &Tiling) -> ChannelFree {
        let p = self.prep();
        let (buffers, compute, dram_read, dram_write) = self.traffic(p, t);
        let energy = self.energy(p, &buffers, dram_read, dram_write);
        ChannelFree {
            stream: self.stream(p, t, compute, dram_read, dram_write),
            compute,
            energy_pj: energy.total().get(),
            dram_bits: (dram_read.get() as f64 + dram_write.get() as f64) * 8.0,
        }
    }

    fn score_part(&self, p: &ChannelFree) -> Score {
        Score {
            cycles: self.timeline(&p.stream, p.compute).total.get() as f64,
            energy_pj: p.energy_pj,
            dram_bits: p.dram_bits,
        }
    }

    /// The first load, all compute and the last store run one after another, and every
    /// transfer takes the one channel; energy and DRAM bits are exact.
    fn bound_part(&self, p: &ChannelFree) -> Score {
        let s = &p.stream;
        let n = s.tiles.max(1) as f64;
        let cycles = self.times.cycles_bound(&CyclesBound {
            load: s.load_bytes,
            store: s.store_bytes,
            loads: s.load_bytes > 0.0,
            stores: s.store_bytes > 0.0,
            compute: p.compute as f64,
            transfers: n,
            bytes: n * (s.load_bytes + s.store_bytes),
        });
        Score { cycles, energy_pj: p.energy_pj, dram_bits: p.dram_bits }
    }

    /// The last tile computes and stores after every load, and every store follows the
    /// first tile's load and compute ([`crate::simulate::tail_bound`]): for a stream of many
    /// tiles whose compute outweighs one store (or one load), tighter than
    /// [`Evaluate::bound_part`], which the callers ask first.
    fn tight_bound_part(&self, p: &ChannelFree) -> Score {
        let t = &self.times;
        if t.sized_to_demand {
            return self.bound_part(p);
        }
        let s = &p.stream;
        let lat = t.dma.latency;
        let xfer = |bytes: f64| if bytes > 0.0 { lat + bytes * t.inv_bw } else { 0.0 };
        let tail = crate::simulate::tail_bound(s.tiles as f64, xfer(s.load_bytes), s.compute, xfer(s.store_bytes));
        Score { cycles: whole_cycles_below(tail) + t.once_f, energy_pj: p.energy_pj, dram_bits: p.dram_bits }
    }

    /// No worse at any channel speed: no more tiles, and no more load, compute or store per
    /// tile (the timeline is monotone in each: `simulate`'s property tests), compute,
    /// energy or DRAM bits.
    fn dominates(a: &ChannelFree, b: &ChannelFree) -> bool {
        let (x, y) = (&a.stream, &b.stream);
        x.tiles <= y.tiles
            && x.load_bytes <= y.load_bytes
            && x.compute <= y.compute
            && x.store_bytes <= y.store_bytes
            && a.compute <= b.compute
            && a.energy_pj <= b.energy_pj
            && a.dram_bits <= b.dram_bits
    }

    /// By energy and DRAM bits (a dominating part's cycles are no more at any speed).
    fn strictly_better(a: &ChannelFree, b: &ChannelFree) -> bool {
        let fixed = |p: &ChannelFree| Score { cycles: 0.0, energy_pj: p.energy_pj, dram_bits: p.dram_bits };
        Objective::all_prefer_at_no_more_cycles(&fixed(a), &fixed(b))
    }

    /// Tiles, then load, store and compute per tile: a dominating part has no more of any,
    /// and a block of neighbours in this order has alike tile streams, so the bound of its
    /// meet is close to theirs (on the sweeps of `docs/sweeps.md`, 3.5x fewer bounds per
    /// scan than DRAM bits first).
    fn order_key(p: &ChannelFree) -> [u64; 4] {
        let s = &p.stream;
        [s.tiles, ordered(s.load_bytes), ordered(s.store_bytes), ordered(s.compute)]
    }

    fn meet(a: &ChannelFree, b: &ChannelFree) -> ChannelFree {
        let (x, y) = (&a.stream, &b.stream);
        ChannelFree {
            stream: TileStream {
                tiles: x.tiles.min(y.tiles),
                load_bytes: x.load_bytes.min(y.load_bytes),
                compute: x.compute.min(y.compute),
                store_bytes: x.store_bytes.min(y.store_bytes),
            },
            compute: a.compute.min(b.compute),
            energy_pj: a.energy_pj.min(b.energy_pj),
            dram_bits: a.dram_bits.min(b.dram_bits),
        }
    }

    /// The timeline needs at least the first load, all compute and the last store one after
    /// another, and at least every transfer on the one DMA channel; energy at least the
    /// traffic-free energy plus the DRAM bits.
    #[inline]
    fn bound(&self, b: &TilingBound) -> Score {
        self.times.bound(&self.bound_basis(b))
    }
}

impl LayerEval<'_> {
    /// What [`Evaluate::bound`] gives `b` before the channel's speed and the clock enter
    /// ([`ChannelTimes::bound`] finishes it): the same on every description that differs
    /// from this one only in those, as [`LayerEval::prepared`] is.
    #[inline]
    pub fn bound_basis(&self, b: &TilingBound) -> BoundBasis {
        let (p, lower) = (self.prep(), self.lower());
        let read = (b.read_bits as f64 + self.extra_read_f) / 8.0;
        let write = self.write_bytes;
        let (load, store) = p.grain.bound(b.load_bits_per_tile / 8.0, write / b.tiles_max.max(1) as f64);
        let cycles = CyclesBound {
            load,
            store,
            loads: load > 0.0,
            stores: write > 0.0,
            compute: lower.compute,
            transfers: b.tiles_min as f64,
            bytes: read + write,
        };
        let dram_bits = (read + write) * 8.0;
        BoundBasis { cycles, energy_pj: lower.energy + self.hw.dram.energy_per_bit.get() * dram_bits, dram_bits }
    }
}

/// A bound's figures that do not depend on the DRAM channel's speed or the clock
/// ([`LayerEval::bound_basis`]): what a sweep over those can keep per layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundBasis {
    cycles: CyclesBound,
    energy_pj: f64,
    dram_bits: f64,
}

/// A description's DRAM channel as a layer's timeline and bounds see it: its family's DMA
/// and once-per-layer cycles; what turns a [`BoundBasis`] into a score on a description.
#[derive(Debug, Clone, Copy)]
pub struct ChannelTimes {
    dma: Dma,
    /// Cycles paid once per layer on top of the timeline.
    once: u64,
    /// Cycles per byte (the bounds multiply by it; the simulation divides by the bandwidth,
    /// and the bounds' 1e-9 slack absorbs the difference) and `once`, converted once: the
    /// bounds read them for every candidate.
    inv_bw: f64,
    once_f: f64,
    /// Whether the interface is sized to demand (never stalls).
    sized_to_demand: bool,
}

impl ChannelTimes {
    /// The channel of `hw`.
    pub fn of(hw: &HwDesc) -> Self {
        let (dma, once) = hw.family.dma(hw);
        ChannelTimes {
            dma,
            once,
            inv_bw: 1.0 / dma.bytes_per_cycle.max(f64::MIN_POSITIVE),
            once_f: once as f64,
            sized_to_demand: hw.dram.sized_to_demand,
        }
    }

    /// The score of a [`LayerEval::bound_basis`] on this channel ([`Evaluate::bound`]).
    #[inline]
    pub fn bound(&self, b: &BoundBasis) -> Score {
        Score { cycles: self.cycles_bound(&b.cycles), energy_pj: b.energy_pj, dram_bits: b.dram_bits }
    }
}

/// What [`ChannelTimes::cycles_bound`] bounds a timeline by (lower bounds of each).
#[derive(Debug, Clone, Copy, PartialEq)]
struct CyclesBound {
    /// Bytes of the first load and of the last store.
    load: f64,
    store: f64,
    /// Whether tiles load and store at all (each transfer then pays the latency).
    loads: bool,
    stores: bool,
    /// Compute cycles.
    compute: f64,
    /// Tiles (each loads and stores once).
    transfers: f64,
    /// Bytes over the channel.
    bytes: f64,
}

impl ChannelTimes {
    /// The whole cycles no timeline within `b` beats: the first load, all compute and the
    /// last store run one after another, and every transfer's latency and every byte take
    /// the one channel (with an interface sized to demand: the compute cycles).
    #[inline]
    fn cycles_bound(&self, b: &CyclesBound) -> f64 {
        if self.sized_to_demand {
            return b.compute;
        }
        let lat = self.dma.latency;
        let (lat_l, lat_s) = (if b.loads { lat } else { 0.0 }, if b.stores { lat } else { 0.0 });
        let pipeline = lat_l + b.load * self.inv_bw + b.compute + lat_s + b.store * self.inv_bw;
        let channel = b.transfers * (lat_l + lat_s) + b.bytes * self.inv_bw;
        whole_cycles_below(pipeline.max(channel)) + self.once_f
    }
}

/// The whole cycles a simulated timeline of at least `cycles` (a float lower bound) takes
/// at least: the simulation rounds its end up to whole cycles, so the bound may too, which
/// lets an exact tie in cycles be settled by energy without simulating (the 1e-9 absorbs
/// rounding between the bound's arithmetic and the simulation's).
#[inline]
fn whole_cycles_below(cycles: f64) -> f64 {
    let x = cycles * (1.0 - 1e-9);
    // `f64::ceil` is a library call on baseline x86-64 and the search calls this for every
    // candidate: below 2^52 the integer part is exact, above it every f64 is whole.
    if !(0.0..4.5e15).contains(&x) {
        return x;
    }
    // (Through i64: converting to and from u64 takes more instructions.)
    let t = x as i64 as f64;
    if t < x {
        t + 1.0
    } else {
        t
    }
}

/// Charges the datapath's operand reads to the buffers they come from: shared-level reads
/// to the shared buffer holding the operand, PE-local reads to a PE-local buffer holding it
/// (or, when the description has none, to the shared one).
fn charge_reads(hw: &HwDesc, traffic: &mut [(Bytes, Bytes)], shared: OperandReads, local: OperandReads, wd: Widths) {
    for (reads, level) in [(shared, BufferLevel::Shared), (local, BufferLevel::PeLocal)] {
        // Group-wise weights: a group's scale (and zero point) is read with its weights.
        let weights = match wd.groups {
            Some(g) => Bits(g.weight_bits(1, reads.weights, wd.weight)).to_bytes_ceil(),
            None => bytes_of(reads.weights, wd.weight),
        };
        for (role, bytes) in [(Role::Inputs, bytes_of(reads.inputs, wd.buffered_input())), (Role::Weights, weights)] {
            let b = hw.buffer_at(role, level).or_else(|| hw.buffer_at(role, BufferLevel::Shared)).unwrap_or(0);
            traffic[b].0 += bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pe_local_reads_go_to_a_pe_local_buffer_or_else_the_shared_one() {
        let wd = Widths::plain(8, 32);
        let shared = OperandReads { inputs: 10, weights: 20 };
        let local = OperandReads { inputs: 0, weights: 300 };
        let run = |hw: &HwDesc| {
            let mut t = vec![(Bytes::ZERO, Bytes::ZERO); hw.buffers.len()];
            charge_reads(hw, &mut t, shared, local, wd);
            t.iter().map(|b| b.0.get()).collect::<Vec<_>>()
        };
        let mut hw = crate::hw::load_hw("systolic32", &[]).expect("preset");
        let shared_of = |hw: &HwDesc, r| hw.buffer_at(r, BufferLevel::Shared).expect("a shared buffer");
        let (bi, bw) = (shared_of(&hw, Role::Inputs), shared_of(&hw, Role::Weights));
        let reads = run(&hw);
        assert_eq!((reads[bi], reads[bw]), (10, 320));
        let mut rf = hw.buffers[bw].clone();
        rf.level = BufferLevel::PeLocal;
        hw.buffers.push(rf);
        let reads = run(&hw);
        assert_eq!((reads[bi], reads[bw], reads[hw.buffers.len() - 1]), (10, 20, 300));
    }

    /// One tiling at two accumulator widths: the partial sums of a split reduction (channel
    /// tiles, or a weight-stationary array's row folds) move at the accumulator's width, each
    /// but the last read back; the MACs cost the mode plus one accumulation per bit. The
    /// narrower accumulator never moves more bytes nor costs more energy; DRAM is unchanged.
    #[test]
    fn partial_sums_and_mac_energy_follow_the_accumulator_width() {
        let at = |acc: u32, c_tiles: u64, psum_passes: u64| {
            let hw = crate::hw::load_hw("systolic32", &[("accumulator_bits".into(), f64::from(acc))]).expect("preset");
            let mode = hw.mode_for(8, 8).expect("8x8 mode").clone();
            let work = LayerWork {
                wd: Widths::plain(8, acc),
                reads: OperandReads { inputs: 1000, weights: 1000 },
                pe_local_reads: OperandReads::default(),
                out_elems: 100,
                psum_passes,
                compute: 10,
                core: CoreActions { macs: 1000, vector_ops: 0, vector_bits: 8 },
                extra_read: Bits::ZERO,
                fused_out: None,
            };
            let t = Tiling {
                tile: crate::map::tiling::Tile { k: 1, rows: 1, cols: 1, c: 1 },
                order: crate::map::tiling::LoopOrder::InputsOuter,
                tiles: 1,
                c_tiles,
                weight_reads: 0,
                dram: Traffic { inputs: Bits(8000), weights: Bits(8000), outputs: Bits(800) },
            };
            let bo = hw.buffer_at(Role::Outputs, BufferLevel::Shared).expect("an output buffer");
            let f = LayerEval::new(&hw, Some(&mode), work).figures(&t);
            (f.buffers[bo], f.energy, f.dram_read + f.dram_write, f.operands.output_writes)
        };
        // No split: outputs written once at their own width, whatever the accumulator.
        assert_eq!(at(16, 1, 1).0, at(32, 1, 1).0);
        assert_eq!(at(32, 1, 1).0, (Bytes(100), Bytes(100)));
        // Three channel tiles or three row folds: 3 x 100 partial sums written, 2 x 100 read
        // back, at 4 bytes (32 bits) or 2 bytes (16 bits); the drain to DRAM adds 100 reads.
        for (c_tiles, passes) in [(3, 1), (1, 3), (3, 2)] {
            let (wide, narrow) = (at(32, c_tiles, passes), at(16, c_tiles, passes));
            assert_eq!(wide.0, (Bytes(800 + 100), Bytes(1200)), "{c_tiles} tiles, {passes} folds");
            assert_eq!(narrow.0, (Bytes(400 + 100), Bytes(600)));
            assert_eq!((wide.2, wide.3), (narrow.2, 300));
            assert!(narrow.1.buffers.get() < wide.1.buffers.get());
        }
        // MAC energy: 1000 x (0.2 + 32 x 0.003125) pJ against 1000 x (0.2 + 16 x 0.003125).
        let (wide, narrow) = (at(32, 1, 1).1.mac.get(), at(16, 1, 1).1.mac.get());
        assert!((wide - 300.0).abs() < 1e-9 && (narrow - 250.0).abs() < 1e-9, "{wide} {narrow}");
    }
}
