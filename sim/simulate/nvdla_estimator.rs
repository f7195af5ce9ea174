//! NVDLA "estimator mode": NVIDIA's public performance spreadsheet, re-implemented cell by cell.
//!
//! The NVDLA primer's ResNet-50 table (2048 MACs, 512 KB CBUF, 20 GB/s -> 269 frames/s, ...)
//! is the output of `perf/NVDLA_OpenSource_Performance.xlsx` in the nvdla/hw repository. This
//! module reproduces the model of its `ResNet50` sheet, the one its `Performance Summary`
//! reports (columns N..AT, "DRAM-only": no secondary SRAM), so that architects can reproduce
//! NVIDIA's published numbers and then change one parameter at a time.
//!
//! Every quantity names the cell it comes from (`ResNet50!AR#` is column AR of a layer row).
//! Sizes are in the sheet's KB (1024 bytes) and kept as `f64`, like the sheet, because the
//! sheet's Winograd weight factor (16/9) and its MAC cycles (divided by 2.25) are fractional and
//! never rounded: matching its cached values bit for bit needs the same arithmetic in the same
//! order. Only DRAM cycles are rounded up (`CEILING(..., 1)`), so only they are [`Cycles`].
//!
//! This is a model of the *estimator*, not of the hardware: see `docs/nvdla_estimator.md` for
//! where the two differ (channel rounding to 16 and kernel rounding to 128 whatever the MAC
//! array, strided convolutions folded into channels, Winograd on every 3x3 layer, one DRAM
//! port at full efficiency, pooling and element-wise work fused into convolutions).
//!
//! Example usage:
//! ```
//! use accelsim::simulate::nvdla_estimator::{estimate, EstimatorConfig, EstimatorLayer};
//! let config = EstimatorConfig::primer(2048, 512, 20.0);
//! let layer = EstimatorLayer::conv("conv", [64, 56, 56], 64, [3, 3], [1, 1], true);
//! let est = estimate(&config, &[layer]).unwrap();
//! assert!(est.layers[0].winograd);
//! ```

mod from_graph;
pub mod workbook;

pub use from_graph::{layers_from_graph, GraphLayers, SkippedLayer};

use crate::units::{Bytes, BytesPerSecond, Cycles, Hertz, Macs, Seconds};

/// Element precision of feature data or weights (sheet cells `ResNet50!C1`/`C2`, in bytes,
/// from `'Configuration Input'!B3`/`C3`; the `Readme` allows 1 or 2 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Precision {
    /// 8-bit integers (1 byte).
    Int8,
    /// 16-bit integers (2 bytes).
    Int16,
    /// IEEE half precision (2 bytes); the sheet only sees its width.
    Fp16,
}

impl Precision {
    /// Bytes per element, the value the sheet multiplies by.
    pub const fn bytes(self) -> u64 {
        match self {
            Precision::Int8 => 1,
            Precision::Int16 | Precision::Fp16 => 2,
        }
    }
}

/// The convolution MAC array as atomic-C x atomic-K multipliers.
///
/// The sheet only uses the product (`ResNet50!C4`, "MAC Number", `'Configuration Input'!E3`):
/// its channel roundings are fixed numbers, not atomic-C or atomic-K (see [`Conventions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacArray {
    /// Input channels consumed per cycle per MAC cell.
    pub atomic_c: u32,
    /// Output channels (MAC cells) computed in parallel.
    pub atomic_k: u32,
}

impl MacArray {
    /// Number of multipliers, the sheet's "MAC Number".
    pub const fn count(self) -> u64 {
        self.atomic_c as u64 * self.atomic_k as u64
    }
}

/// The fixed numbers written into the sheet's formulas. `Default` is the `ResNet50` sheet.
///
/// They are constants of the workbook, not of the configuration: the sheet rounds channels to
/// 16 and kernels to 128 whatever the MAC array is. The `AlexNet` and `GoogLeNet` sheets round
/// kernels to 16 in their MAC cycles instead of 128 (`AlexNet!AQ#`, `GoogLeNet!AR#`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conventions {
    /// Input channels (after folding the stride into channels) are rounded up to this:
    /// `CEILING(E#*L#*M#, 16)` in `ResNet50!X#, Y#, AA#, AB#, AR#`.
    pub channel_round: u64,
    /// Output channels written are rounded up to this: `CEILING(H#, 16)` in `ResNet50!Z#`.
    pub output_channel_round: u64,
    /// Kernels (output channels times FC batch) are rounded up to this in the MAC cycles:
    /// `CEILING(H#*IF(D#="fc", $C$9, 1), 128)` in `ResNet50!AR#`.
    pub mac_kernel_round: u64,
    /// Kernels in the minimal weight set kept in CBUF: the `32` in `ResNet50!AA#`.
    pub min_weight_kernels: u64,
    /// MAC speed-up of Winograd on a 3x3 layer: `/IF(I#=3, IF(J#=3, 2.25, 1), 1)` in `AR#`.
    pub winograd_mac_factor: f64,
    /// Weight growth of Winograd on a 3x3 layer: `*IF(AM#, 16/9, 1)` in `ResNet50!AB#`.
    pub winograd_weight_factor: f64,
}

impl Default for Conventions {
    fn default() -> Self {
        Self {
            channel_round: 16,
            output_channel_round: 16,
            mac_kernel_round: 128,
            min_weight_kernels: 32,
            winograd_mac_factor: 2.25,
            winograd_weight_factor: 16.0 / 9.0,
        }
    }
}

/// The parameter cells of the workbook (`Configuration Input` row 3, copied into
/// `ResNet50!C1:C9` and `F2`).
///
/// The secondary-memory read/write limits (`C6`, `C7`) are absent: only the sheet's second
/// model (columns AD..AL, with on-chip SRAM) uses them, and the summary's ResNet-50 figure does
/// not come from that model.
#[derive(Debug, Clone, PartialEq)]
pub struct EstimatorConfig {
    /// MAC array (`C4` is its product).
    pub mac: MacArray,
    /// Convolution buffer size (`C3`, in KB of 1024 bytes).
    pub cbuf: Bytes,
    /// Primary memory (DRAM) bandwidth, read and write combined (`C8`, GB/s).
    pub dram_bandwidth: BytesPerSecond,
    /// Core clock (`C5`, MHz).
    pub clock: Hertz,
    /// Feature data precision (`C1`); also used for outputs, as the sheet does.
    pub feature: Precision,
    /// Weight precision (`C2`).
    pub weight: Precision,
    /// Weight compression rate (`F2`, 0 = none): weights shrink by `(1 - rate)`.
    pub weight_compression: f64,
    /// Batch size of fully connected layers (`C9`, 1..16).
    pub fc_batch: u32,
    /// Whether 3x3 layers use Winograd. The sheet has no such cell and always does (`AM#`);
    /// `false` models configurations built with `WINOGRAD_DISABLE`.
    pub winograd: bool,
    /// The sheet's fixed numbers.
    pub conventions: Conventions,
}

impl EstimatorConfig {
    /// The workbook as saved: 2048 INT8 MACs, 512 KB, 1000 MHz, 10 GB/s DRAM, FC batch 16
    /// (`'Configuration Input'!B3:J3`); its summary gives 140.57 frames/s for ResNet-50.
    pub fn workbook_default() -> Self {
        Self {
            mac: MacArray { atomic_c: 64, atomic_k: 32 },
            cbuf: Bytes(512 * 1024),
            dram_bandwidth: BytesPerSecond(10e9),
            clock: Hertz(1e9),
            feature: Precision::Int8,
            weight: Precision::Int8,
            weight_compression: 0.0,
            fc_batch: 16,
            winograd: true,
            conventions: Conventions::default(),
        }
    }

    /// A row of the primer's table: `macs` INT8 MACs, `cbuf_kib` KB of CBUF, `dram_gbps` GB/s at
    /// 1 GHz, everything else as saved in the workbook.
    ///
    /// The estimator only uses the MAC product; the split follows the nvdla/hw spec with that
    /// count where there is one (2048 nv_large 64x32, 1024 nv_medium_1024_full 64x16, 512
    /// nv_medium_512 32x16, 256 nv_small_256 32x8, 64 nv_small 8x8); 128 and 32 have no spec
    /// and are split 16x8 and 8x4; any other count is `macs x 1`.
    pub fn primer(macs: u32, cbuf_kib: u64, dram_gbps: f64) -> Self {
        let (atomic_c, atomic_k) = match macs {
            2048 => (64, 32),
            1024 => (64, 16),
            512 => (32, 16),
            256 => (32, 8),
            128 => (16, 8),
            64 => (8, 8),
            32 => (8, 4),
            m => (m, 1),
        };
        Self {
            mac: MacArray { atomic_c, atomic_k },
            cbuf: Bytes(cbuf_kib.saturating_mul(1024)),
            dram_bandwidth: BytesPerSecond(dram_gbps * 1e9),
            ..Self::workbook_default()
        }
    }

    fn cbuf_kib(&self) -> f64 {
        self.cbuf.get() as f64 / 1024.0
    }

    fn dram_gbps(&self) -> f64 {
        self.dram_bandwidth.0 / 1e9
    }

    fn clock_mhz(&self) -> f64 {
        self.clock.0 / 1e6
    }
}

/// What a layer row is (`ResNet50!D#`, "Layer attribute").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LayerKind {
    /// `conv`: a convolution (with any fused bias, batch norm, scale, ReLU, pooling).
    Conv,
    /// `conv + elwise`: a convolution whose output is added to another tensor, which is read
    /// from DRAM (one more output-sized read in `AO#`).
    ConvEltwise,
    /// `fc`: a fully connected layer, written as a 1x1 convolution over a 1x1 input.
    FullyConnected,
}

/// A pooling window fused into the convolution before it (`ResNet50!P#..T#`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FusedPool {
    /// Window height and width (`Q#`, `R#`).
    pub kernel: [u64; 2],
    /// Stride along height and width (`S#`, `T#`).
    pub stride: [u64; 2],
}

/// Formula variants that exist in single rows of the workbook. The workbook's own rows need
/// them to reproduce its cached values exactly; layers built from a graph use the default
/// (the formulas of rows 12..64 of `ResNet50`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RowVariant {
    /// `Y#` keeps kernel height + 1 rows of input instead of kernel height
    /// (`ResNet50!Y11`, and every row of `AlexNet` and `GoogLeNet`).
    pub min_rows_plus_one: bool,
    /// `AN#` picks the smaller operand from the minimal sizes `Y#<AA#` instead of the full
    /// sizes `X#<AB#` (`ResNet50!AN11`).
    pub smaller_by_minimum: bool,
    /// `AB#` lacks the Winograd weight factor (`ResNet50!AB11`; it is 7x7, so it cannot matter).
    pub no_winograd_weight_factor: bool,
}

/// One layer row of the sheet: its columns C..T.
#[derive(Debug, Clone, PartialEq)]
pub struct EstimatorLayer {
    /// Name (`C#`).
    pub name: String,
    /// Row kind (`D#`).
    pub kind: LayerKind,
    /// Input channels `E#`, height `F#`, width `G#`.
    pub input: [u64; 3],
    /// Output channels (`H#`).
    pub out_channels: u64,
    /// Kernel height and width (`I#`, `J#`).
    pub kernel: [u64; 2],
    /// Zero padding (`K#`): output = ceil(input / stride); without it, ceil((input - kernel) /
    /// stride) + 1 (`N#`, `O#`).
    pub zero_pad: bool,
    /// Vertical and horizontal stride (`L#`, `M#`).
    pub stride: [u64; 2],
    /// Pooling fused after the convolution (`P#..T#`).
    pub pool: Option<FusedPool>,
    /// Per-row formula variant.
    pub variant: RowVariant,
}

impl EstimatorLayer {
    /// A convolution over an input of `[channels, height, width]`.
    pub fn conv(
        name: impl Into<String>,
        input: [u64; 3],
        out_channels: u64,
        kernel: [u64; 2],
        stride: [u64; 2],
        zero_pad: bool,
    ) -> Self {
        Self {
            name: name.into(),
            kind: LayerKind::Conv,
            input,
            out_channels,
            kernel,
            zero_pad,
            stride,
            pool: None,
            variant: RowVariant::default(),
        }
    }

    /// A fully connected layer, written as the sheet writes `fc1000`: a 1x1 convolution over a
    /// 1x1 input without zero padding.
    pub fn fully_connected(name: impl Into<String>, in_features: u64, out_features: u64) -> Self {
        Self {
            kind: LayerKind::FullyConnected,
            ..Self::conv(name, [in_features, 1, 1], out_features, [1, 1], [1, 1], false)
        }
    }
}

/// Which operand the sheet found smaller (`ResNet50!AN#`, "Smaller sized").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operand {
    /// Feature data (the input) is the smaller one: weights are re-read per input pass.
    Feature,
    /// Weights are the smaller one: the input is re-read per weight pass.
    Weight,
}

/// What bounds a layer (`ResNet50!AT#`, "Long Pole").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bound {
    /// MAC cycles (ties go to MAC, as `IF(AS#=AR#, "MAC", "DRAM")` does).
    Mac,
    /// DRAM cycles.
    Dram,
}

/// One row of output: the sheet's columns N..AT for one layer. Sizes are in KB (1024 bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct LayerEstimate {
    /// Layer name.
    pub name: String,
    /// Convolution output height and width (`N#`, `O#`).
    pub conv_out: [u64; 2],
    /// Output height and width after fused pooling (`U#`, `V#`).
    pub out: [u64; 2],
    /// Multiply-accumulates of the plain convolution (`W#`, used for network MAC utilization).
    pub macs: Macs,
    /// Input size (`X#`).
    pub input_kib: f64,
    /// Minimal input kept in CBUF: kernel-height rows (`Y#`).
    pub min_input_kib: f64,
    /// Output size (`Z#`).
    pub output_kib: f64,
    /// Minimal weights kept in CBUF: 32 kernels, or half the CBUF (`AA#`).
    pub min_weight_kib: f64,
    /// Weight size (`AB#`), with the Winograd factor.
    pub weight_kib: f64,
    /// Whether Winograd applies (`AM#`).
    pub winograd: bool,
    /// The smaller operand (`AN#`).
    pub smaller: Operand,
    /// Passes over the larger operand's CBUF share; the other operand is read this many times
    /// (the `CEILING(.../($C$3-...), 1)` of `AO#`, 1 when it fits).
    pub passes: u64,
    /// Input read from DRAM (part of `AO#`).
    pub input_traffic_kib: f64,
    /// Weights read from DRAM (part of `AO#`).
    pub weight_traffic_kib: f64,
    /// Output written, plus the element-wise operand read for `conv + elwise` (part of `AO#`).
    pub output_traffic_kib: f64,
    /// DRAM traffic (`AO#`), summed in the sheet's order.
    pub dram_traffic_kib: f64,
    /// DRAM cycles (`AQ#` = `CEILING(AO#/$C$8*$C$5, 1)`).
    pub dram_cycles: Cycles,
    /// MAC cycles (`AR#`), not rounded.
    pub mac_cycles: f64,
    /// The layer's cycles, the larger of DRAM and MAC cycles (`AS#`).
    pub cycles: f64,
    /// Which one it was (`AT#`).
    pub bound: Bound,
}

/// The result for a network: per-layer rows and the totals of rows 65..69.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// One row per layer, in input order.
    pub layers: Vec<LayerEstimate>,
    /// Total cycles per frame (`ResNet50!AS65`).
    pub cycles: f64,
    /// Total MAC cycles (`SUM(AR11:AR64)`).
    pub mac_cycles: f64,
    /// Time per frame (`AS66`, in ms in the sheet).
    pub frame_time: Seconds,
    /// Frames per second (`AS67` = `1000/AS66`).
    pub fps: f64,
    /// Busy MAC cycles over all cycles (`AS68`, "HW MAC Utilization").
    pub hw_mac_utilization: f64,
    /// Network MACs over MACs x cycles (`AS69`, "Network MAC Utilization"; above the hardware
    /// figure when Winograd helps).
    pub network_mac_utilization: f64,
}

/// A layer or configuration the sheet's formulas cannot evaluate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EstimateError {
    /// A zero size or stride, or a window larger than its input.
    #[error("layer '{layer}': {message}")]
    InvalidLayer {
        /// The layer.
        layer: String,
        /// What is wrong.
        message: String,
    },
    /// The minimal input rows do not leave room for weights in CBUF (the sheet divides by
    /// `$C$3-Y#` and would show an error cell).
    #[error("layer '{layer}': {min_input_kib} KB of minimal input leave no room in a {cbuf_kib} KB CBUF")]
    DoesNotFit {
        /// The layer.
        layer: String,
        /// `Y#`.
        min_input_kib: f64,
        /// `C3`.
        cbuf_kib: f64,
    },
    /// A configuration value the sheet cannot use.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
}

fn ceil_div(a: u64, b: u64) -> u64 {
    a.div_ceil(b)
}

/// Products of counts saturate: a huge layer gives huge (finite) cycles, never a panic.
fn prod(xs: &[u64]) -> u64 {
    xs.iter().fold(1u64, |a, &x| a.saturating_mul(x))
}

fn round_up(a: u64, m: u64) -> u64 {
    a.div_ceil(m).saturating_mul(m)
}

/// Finite and above zero (NaN is not).
fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

/// Checks the values the formulas divide by or scale with.
fn check_config(config: &EstimatorConfig) -> Result<(), EstimateError> {
    if config.mac.count() == 0 {
        return Err(EstimateError::InvalidConfig("the MAC array has no multipliers".into()));
    }
    if !positive(config.dram_bandwidth.0) || !positive(config.clock.0) {
        return Err(EstimateError::InvalidConfig(format!(
            "DRAM bandwidth ({} B/s) and clock ({} Hz) must be positive and finite",
            config.dram_bandwidth.0, config.clock.0
        )));
    }
    if !(0.0..1.0).contains(&config.weight_compression) {
        return Err(EstimateError::InvalidConfig(format!(
            "weight compression rate {} is outside [0, 1)",
            config.weight_compression
        )));
    }
    let c = &config.conventions;
    if [c.channel_round, c.output_channel_round, c.mac_kernel_round, c.min_weight_kernels].contains(&0)
        || !positive(c.winograd_mac_factor)
        || !positive(c.winograd_weight_factor)
    {
        return Err(EstimateError::InvalidConfig(format!("conventions must be positive: {c:?}")));
    }
    Ok(())
}

/// Evaluates one layer row, formula by formula.
pub fn estimate_layer(config: &EstimatorConfig, layer: &EstimatorLayer) -> Result<LayerEstimate, EstimateError> {
    check_config(config)?;
    let invalid = |message: String| EstimateError::InvalidLayer { layer: layer.name.clone(), message };
    let [c, h, w] = layer.input;
    let [r, s] = layer.kernel;
    let [sh, sw] = layer.stride;
    let k = layer.out_channels;
    if [c, h, w, k, r, s, sh, sw].contains(&0) {
        return Err(invalid(format!(
            "sizes, kernel and stride must be positive (input {:?}, {k} outputs, kernel {:?}, stride {:?})",
            layer.input, layer.kernel, layer.stride
        )));
    }
    if !layer.zero_pad && (h < r || w < s) {
        return Err(invalid(format!("a {r}x{s} kernel without padding does not fit a {h}x{w} input")));
    }
    let conv = &config.conventions;
    let ib = config.feature.bytes();
    let wb = config.weight.bytes();
    let cbuf = config.cbuf_kib();
    let fc = layer.kind == LayerKind::FullyConnected;

    // N#, O#: =IF(K#=TRUE,CEILING(F#/L#,1),CEILING((F#-I#)/L#,1)+1)
    let out_dim = |i: u64, k: u64, st: u64| if layer.zero_pad { ceil_div(i, st) } else { ceil_div(i - k, st) + 1 };
    let n = out_dim(h, r, sh);
    let o = out_dim(w, s, sw);
    // U#, V#: =IF($P#,CEILING((N#-Q#)/S#,1)+1,N#)
    let (u, v) = match layer.pool {
        None => (n, o),
        Some(p) => {
            let [ph, pw] = p.kernel;
            let [psh, psw] = p.stride;
            if [ph, pw, psh, psw].contains(&0) || ph > n || pw > o {
                return Err(invalid(format!(
                    "pool {:?} stride {:?} does not fit a {n}x{o} output",
                    p.kernel, p.stride
                )));
            }
            (ceil_div(n - ph, psh) + 1, ceil_div(o - pw, psw) + 1)
        }
    };
    // W#: =E#*N#*O#*H#*I#*J#
    let macs = Macs(prod(&[c, n, o, k, r, s]));
    // Strided convolutions are folded into channels: CEILING(E#*L#*M#, 16), over
    // CEILING(F#/L#, 1) x CEILING(G#/M#, 1) positions and CEILING(I#/L#,1) x CEILING(J#/M#,1) taps.
    let cs = round_up(c.saturating_mul(sh).saturating_mul(sw), conv.channel_round);
    let hs = ceil_div(h, sh);
    let ws = ceil_div(w, sw);
    let taps = ceil_div(r, sh).saturating_mul(ceil_div(s, sw));
    // X#: =CEILING(E#*L#*M#, 16)*CEILING(F#/L#, 1)*CEILING(G#/M#,1)*$C$1/1024
    let input_kib = prod(&[cs, hs, ws, ib]) as f64 / 1024.0;
    // Y#: =CEILING(E#*L#*M#, 16)*MIN(I#, CEILING(F#/L#, 1))*CEILING(G#/M#,1)*$C$1/1024
    let min_rows = if layer.variant.min_rows_plus_one { r.saturating_add(1) } else { r };
    let min_input_kib = prod(&[cs, min_rows.min(hs), ws, ib]) as f64 / 1024.0;
    // Z#: =U#*V#*CEILING(H#, 16)*$C$1/1024
    let output_kib = prod(&[u, v, round_up(k, conv.output_channel_round), ib]) as f64 / 1024.0;
    // AA#: =IF(t>=$C$3, $C$3/2, t), t = CEILING(E#*L#*M#,16)*taps*32*$C$2*(1-$F$2)/1024
    let t = prod(&[cs, taps, conv.min_weight_kernels, wb]) as f64 * (1.0 - config.weight_compression) / 1024.0;
    let min_weight_kib = if t >= cbuf { cbuf / 2.0 } else { t };
    // AM#: =IF(I#=3, IF(J#=3, TRUE, FALSE), FALSE)
    let winograd = config.winograd && r == 3 && s == 3;
    // AB#: =CEILING(E#*L#*M#,16)*taps*H#*$C$2*(1-$F$2)/1024*IF(AM#, 16/9, 1)
    let mut weight_kib = prod(&[cs, taps, k, wb]) as f64 * (1.0 - config.weight_compression) / 1024.0;
    if winograd && !layer.variant.no_winograd_weight_factor {
        weight_kib *= conv.winograd_weight_factor;
    }
    // AN#: =IF(X#<AB#, "feature", "weight")
    let feature_smaller =
        if layer.variant.smaller_by_minimum { min_input_kib < min_weight_kib } else { input_kib < weight_kib };
    let smaller = if feature_smaller { Operand::Feature } else { Operand::Weight };
    // AO#: =IF(AN#="weight", IF(AB#>($C$3-Y#), CEILING(AB#/($C$3-Y#), 1)*X#+AB#+Z#, X#+AB#+Z#),
    //         IF(X#>($C$3-AA#), CEILING(X#/($C$3-AA#),1)*AB#+X#+Z#, X#+AB#+Z#))
    //      + IF(D#="conv + elwise", Z#, 0)
    let (passes, input_traffic_kib, weight_traffic_kib, mut dram_traffic_kib) = match smaller {
        Operand::Weight => {
            let room = cbuf - min_input_kib;
            if weight_kib > room {
                if room <= 0.0 {
                    return Err(EstimateError::DoesNotFit { layer: layer.name.clone(), min_input_kib, cbuf_kib: cbuf });
                }
                let p = (weight_kib / room).ceil();
                (p as u64, p * input_kib, weight_kib, p * input_kib + weight_kib + output_kib)
            } else {
                (1, input_kib, weight_kib, input_kib + weight_kib + output_kib)
            }
        }
        Operand::Feature => {
            let room = cbuf - min_weight_kib;
            if input_kib > room {
                let p = (input_kib / room).ceil();
                (p as u64, input_kib, p * weight_kib, p * weight_kib + input_kib + output_kib)
            } else {
                (1, input_kib, weight_kib, input_kib + weight_kib + output_kib)
            }
        }
    };
    let mut output_traffic_kib = output_kib;
    if layer.kind == LayerKind::ConvEltwise {
        dram_traffic_kib += output_kib;
        output_traffic_kib += output_kib;
    }
    // AQ#: =CEILING(AO#/$C$8*$C$5, 1): KB over GB/s times MHz, i.e. a KB moves at 1000 B/us.
    let dram = (dram_traffic_kib / config.dram_gbps() * config.clock_mhz()).ceil();
    if !dram.is_finite() {
        return Err(EstimateError::InvalidConfig(format!(
            "DRAM bandwidth {} GB/s gives no finite cycle count",
            config.dram_gbps()
        )));
    }
    // AR#: =CEILING(E#*L#*M#, 16)*CEILING(IF(K#, F#, F#-I#+1)/L#, 1)*CEILING(IF(K#, G#, G#-J#+1)/M#,1)
    //      *CEILING(H#*IF(D#="fc", $C$9, 1), 128)*I#*J#/L#/M#/$C$4
    //      /IF(I#=3, IF(J#=3, 2.25, 1), 1)/IF(D#="fc", $C$9, 1)
    let batch = if fc { config.fc_batch.max(1) as u64 } else { 1 };
    let ph = ceil_div(if layer.zero_pad { h } else { h - r + 1 }, sh);
    let pw = ceil_div(if layer.zero_pad { w } else { w - s + 1 }, sw);
    let product = prod(&[cs, ph, pw, round_up(k.saturating_mul(batch), conv.mac_kernel_round), r, s]);
    let mut mac_cycles = product as f64 / sh as f64 / sw as f64 / config.mac.count() as f64;
    // The sheet tests I#=3 and J#=3 here itself, not AM#; `winograd` adds the config switch.
    if winograd {
        mac_cycles /= conv.winograd_mac_factor;
    }
    if fc {
        mac_cycles /= batch as f64;
    }
    // AS#: =MAX(AQ#:AR#); AT#: =IF(AS#=AR#, "MAC", "DRAM")
    let cycles = dram.max(mac_cycles);
    let bound = if cycles == mac_cycles { Bound::Mac } else { Bound::Dram };
    Ok(LayerEstimate {
        name: layer.name.clone(),
        conv_out: [n, o],
        out: [u, v],
        macs,
        input_kib,
        min_input_kib,
        output_kib,
        min_weight_kib,
        weight_kib,
        winograd,
        smaller,
        passes,
        input_traffic_kib,
        weight_traffic_kib,
        output_traffic_kib,
        dram_traffic_kib,
        dram_cycles: Cycles(dram as u64),
        mac_cycles,
        cycles,
        bound,
    })
}

/// Evaluates every layer and the totals (`ResNet50!AS65:AS69`).
pub fn estimate(config: &EstimatorConfig, layers: &[EstimatorLayer]) -> Result<Estimate, EstimateError> {
    check_config(config)?;
    let rows = layers.iter().map(|l| estimate_layer(config, l)).collect::<Result<Vec<_>, _>>()?;
    // AS65: =SUM(AS11:AS64); AS66: =AS65/1000/$C$5 (ms); AS67: =1000/AS66
    let cycles: f64 = rows.iter().map(|r| r.cycles).sum();
    let mac_cycles: f64 = rows.iter().map(|r| r.mac_cycles).sum();
    let ms = cycles / 1000.0 / config.clock_mhz();
    // AS68: =SUM(AR11:AR64)/SUM(AS11:AS64); AS69: =SUM($W11:$W64)/$C$4/AS65
    let network_macs: f64 = rows.iter().map(|r| r.macs.get() as f64).sum();
    Ok(Estimate {
        fps: 1000.0 / ms,
        frame_time: Seconds(ms / 1000.0),
        hw_mac_utilization: mac_cycles / cycles,
        network_mac_utilization: network_macs / config.mac.count() as f64 / cycles,
        cycles,
        mac_cycles,
        layers: rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_conv_folds_the_stride_into_channels() {
        // Res3a_branch2a: 1x1 stride 2 on 256x56x56 counts 1024 channels over 28x28 positions.
        let l = EstimatorLayer::conv("r3a", [256, 56, 56], 128, [1, 1], [2, 2], true);
        let e = estimate_layer(&EstimatorConfig::workbook_default(), &l).unwrap();
        assert_eq!(e.input_kib, 1024.0 * 28.0 * 28.0 / 1024.0);
        assert_eq!(e.weight_kib, 1024.0 * 128.0 / 1024.0);
        assert_eq!(e.conv_out, [28, 28]);
    }

    #[test]
    fn winograd_switch_removes_both_factors() {
        let l = EstimatorLayer::conv("c", [64, 56, 56], 64, [3, 3], [1, 1], true);
        let mut cfg = EstimatorConfig::workbook_default();
        let on = estimate_layer(&cfg, &l).unwrap();
        cfg.winograd = false;
        let off = estimate_layer(&cfg, &l).unwrap();
        assert!(on.winograd && !off.winograd);
        assert_eq!(on.mac_cycles * 2.25, off.mac_cycles);
        assert_eq!(off.weight_kib * 16.0 / 9.0, on.weight_kib);
    }

    #[test]
    fn too_small_a_cbuf_is_an_error_not_a_panic() {
        let l = EstimatorLayer::conv("big", [512, 1000, 1000], 4096, [3, 3], [1, 1], true);
        let mut cfg = EstimatorConfig::workbook_default();
        cfg.cbuf = Bytes(32 * 1024);
        assert!(matches!(estimate_layer(&cfg, &l), Err(EstimateError::DoesNotFit { .. })));
        let bad = EstimatorLayer::conv("bad", [3, 2, 2], 8, [3, 3], [1, 1], false);
        assert!(matches!(estimate_layer(&cfg, &bad), Err(EstimateError::InvalidLayer { .. })));
    }
}
