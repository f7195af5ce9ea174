//! Property tests: the fast convolution kernels give exactly the scalar reference's results
//! for operands of 2 to 8 bits, any shape, stride, padding and zero points; the reference
//! handles wider operands (up to 16 bits) and narrow accumulators; the fast kernels run
//! wrapping accumulators of any width exactly; every instruction set the CPU has (AMX,
//! AVX-512 VNNI, AVX-VNNI, AVX2, NEON with and without the dot product, portable) gives the
//! same results, each run explicitly. `scripts/test_aarch64.sh` runs them for aarch64 under
//! qemu, on a CPU with the dot product and on one without.

use accelsim::ir::ExplicitPadding;
use accelsim::kernels::conv::{
    conv_fast, conv_fast_on, conv_fast_on_as, conv_fast_portable, conv_fast_u8_portable, conv_fast_u8_portable_as,
    conv_reference, fast_supported, fast_supported_for, pack, pack_u8, pack_weights, saturation_free, vnni_available,
    ConvGeometry, ConvParams, Isa,
};
use accelsim::kernels::fixedpoint::int_range;
use accelsim::kernels::{Arithmetic, Overflow, QuantMultiplier, Requant, Rounding};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Case {
    p: ConvParams,
    x: Vec<i32>,
    in_bits: u32,
    w_bits: u32,
}

fn case(max_bits: u32) -> impl Strategy<Value = Case> {
    case_with(max_bits, 7, false)
}

/// Values in `lo..=hi` from a xorshift generator seeded by `seed` (a case's tensors from
/// one `u64` of the strategy, so a shrunk case keeps its values).
fn xorshift(seed: u64) -> impl FnMut(i32, i32) -> i32 {
    let mut s = seed | 1;
    move |lo, hi| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        lo + (s % ((hi - lo + 1) as u64)) as i32
    }
}

/// Cases with up to `max_c - 1` input channels; depthwise ones only if `depthwise_only`.
fn case_with(max_bits: u32, max_c: usize, depthwise_only: bool) -> impl Strategy<Value = Case> {
    (
        (1usize..3, 1usize..9, 1usize..9, 1usize..max_c),
        (1usize..4, 1usize..4, 1usize..3, 0usize..2),
        (2u32..=max_bits, 2u32..=max_bits.min(8), 1usize..40, any::<bool>(), any::<u64>()),
    )
        .prop_map(move |((n, h, w, c), (kh, kw, stride, pad), (in_bits, w_bits, cout, depthwise, seed))| {
            let depthwise = depthwise || depthwise_only;
            let mut rnd = xorshift(seed);
            let (kh, kw) = (kh.min(h + 2 * pad), kw.min(w + 2 * pad));
            let (groups, cout) = if depthwise { (c, c) } else { (1, cout) };
            let cin_g = c / groups;
            let oh = (h + 2 * pad - kh) / stride + 1;
            let ow = (w + 2 * pad - kw) / stride + 1;
            let (imin, imax) = int_range(in_bits);
            let (wmin, wmax) = int_range(w_bits);
            let x = (0..n * h * w * c).map(|_| rnd(imin, imax)).collect();
            let p = ConvParams {
                geom: ConvGeometry {
                    input: [n, h, w, c],
                    output: [n, oh, ow, cout],
                    kernel: [kh, kw],
                    stride: [stride, stride],
                    dilation: [1, 1],
                    pad: ExplicitPadding { top: pad, bottom: pad, left: pad, right: pad },
                },
                groups,
                weights: (0..cout * kh * kw * cin_g).map(|_| rnd(wmin + 1, wmax)).collect(),
                weight_zp: vec![0; cout],
                bias: Some((0..cout).map(|_| rnd(-5000, 5000) as i64).collect()),
                input_zp: rnd(imin, imax),
                output_zp: rnd(-20, 20),
                multipliers: (0..cout).map(|_| QuantMultiplier::from_real(rnd(1, 1000) as f64 / 1.0e5)).collect(),
                requant: Requant::Double,
                act_min: -128,
                act_max: 127,
            };
            Case { p, x, in_bits, w_bits }
        })
}

/// [`every_isa_equals_reference`]'s layer: `c` with `dilation` where the kernel fits, on
/// LiteRT's accumulator (`acc_bits` 32) or a wrapping one, multipliers above 1 on every other
/// channel with `left_shifts`.
fn isa_case(c: &Case, dilation: usize, acc_bits: u32, left_shifts: bool) -> (ConvParams, Arithmetic) {
    let mut p = c.p.clone();
    if left_shifts {
        // Multipliers above 1 (a left shift before the Q31 product) on every other channel.
        for (co, m) in p.multipliers.iter_mut().enumerate().step_by(2) {
            *m = QuantMultiplier::from_real(1.0 + (co % 7) as f64 * 0.4);
        }
    }
    let [_, h, w, _] = p.geom.input;
    let pad = p.geom.pad.top;
    let span = |k: usize| (k - 1) * dilation + 1;
    if span(p.geom.kernel[0]) <= h + 2 * pad && span(p.geom.kernel[1]) <= w + 2 * pad {
        p.geom.dilation = [dilation, dilation];
        p.geom.output[1] = (h + 2 * pad - span(p.geom.kernel[0])) / p.geom.stride[0] + 1;
        p.geom.output[2] = (w + 2 * pad - span(p.geom.kernel[1])) / p.geom.stride[1] + 1;
    }
    let arith = if acc_bits == 32 {
        Arithmetic::default()
    } else {
        Arithmetic { acc_bits, overflow: Overflow::Wrap, rounding: Rounding::TfliteDouble }
    };
    (p, arith)
}

/// `Isa::best` is the first instruction set of `Isa::ALL` the CPU has; the x86 sets are
/// available only on x86-64 and the NEON ones only on aarch64 (where NEON always is). With
/// `ACCELSIM_EXPECT_ISA` set (`scripts/test_aarch64.sh`, per emulated CPU), `best` is that set
/// (the first word of its `describe`).
#[test]
fn best_is_the_first_available_isa() {
    let best = Isa::best();
    assert_eq!(Isa::ALL.into_iter().find(|isa| isa.available()), Some(best));
    for isa in Isa::ALL {
        match isa {
            Isa::Amx | Isa::Avx512Vnni | Isa::AvxVnni | Isa::Avx2 => {
                assert!(cfg!(target_arch = "x86_64") || !isa.available(), "{isa:?}")
            }
            Isa::NeonDot => assert!(cfg!(target_arch = "aarch64") || !isa.available(), "{isa:?}"),
            Isa::Neon => assert_eq!(isa.available(), cfg!(target_arch = "aarch64"), "{isa:?}"),
            Isa::Portable => assert!(isa.available()),
        }
    }
    eprintln!("best: {}", best.describe());
    if let Ok(want) = std::env::var("ACCELSIM_EXPECT_ISA") {
        assert_eq!(best.describe().split(' ').next(), Some(want.as_str()), "{}", best.describe());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn fast_conv_equals_reference(c in case(8)) {
        let arith = Arithmetic::default();
        prop_assert!(fast_supported(&c.p, c.in_bits, c.w_bits, &arith));
        let fast = conv_fast(&c.p, &pack(&c.p, &arith), &c.x);
        let slow = conv_reference(&c.p, &c.x, &arith);
        prop_assert_eq!(fast, slow);
    }

    /// A saturating accumulator runs on the fast kernels where no sum can reach its bounds
    /// (`fast_supported_for`), every instruction set with the reference's values; 10 to 24
    /// bits take both sides of the bound on these cases, and where it can bind the fast path
    /// is refused.
    #[test]
    fn fast_conv_equals_reference_on_saturating_accumulators(c in case(8), acc_bits in 10u32..=24) {
        let arith = Arithmetic { acc_bits, overflow: Overflow::Saturate, rounding: Rounding::TfliteDouble };
        let range = int_range(c.in_bits);
        let fits = fast_supported_for(&c.p, &c.p.weights, range, c.in_bits, c.w_bits, &arith);
        prop_assert_eq!(fits, saturation_free(&c.p, &c.p.weights, range, acc_bits));
        if fits {
            let pk = pack(&c.p, &arith);
            let slow = conv_reference(&c.p, &c.x, &arith);
            for isa in Isa::ALL {
                if let Some(fast) = conv_fast_on(isa, &c.p, &pk, &c.x) {
                    prop_assert_eq!(&fast, &slow, "{:?}", isa);
                }
            }
        }
    }

    /// The runtime-dispatched path (AVX2 where the CPU has it) equals the portable path.
    #[test]
    fn simd_conv_equals_portable(c in case(8), acc_bits in 8u32..=64) {
        let arith = Arithmetic { acc_bits, ..Arithmetic::default() };
        let packed = pack(&c.p, &arith);
        prop_assert_eq!(conv_fast(&c.p, &packed, &c.x), conv_fast_portable(&c.p, &packed, &c.x));
    }

    /// A wrapping accumulator of any width runs on the fast kernels and gives the
    /// reference's step-by-step wrapping: 8 to 20 bits wrap on these cases, 33 to 63 keep
    /// the sums whole but requantize their low 32 bits.
    #[test]
    fn fast_conv_equals_reference_on_wrapping_accumulators(c in case(8), acc_bits in prop_oneof![8u32..=20, 24u32..=40]) {
        let arith = Arithmetic { acc_bits, overflow: Overflow::Wrap, rounding: Rounding::TfliteDouble };
        prop_assert!(fast_supported(&c.p, c.in_bits, c.w_bits, &arith));
        let packed = pack(&c.p, &arith);
        let slow = conv_reference(&c.p, &c.x, &arith);
        prop_assert_eq!(&conv_fast(&c.p, &packed, &c.x), &slow);
        prop_assert_eq!(&conv_fast_portable(&c.p, &packed, &c.x), &slow);
        // Saturation depends on the order of the additions: the reference runs it.
        let sat = Arithmetic { overflow: Overflow::Saturate, ..arith };
        prop_assert!(!fast_supported(&c.p, c.in_bits, c.w_bits, &sat));
    }

    /// The u8 x s8 path (the sums of AVX-512 VNNI's `vpdpbusd`, here with the portable
    /// micro-kernel on any CPU) equals the reference on dense layers, signed inputs offset by
    /// 128 and unsigned ones taken as they are, under LiteRT's and wrapping accumulators.
    #[test]
    fn u8_path_equals_reference(c in case(8), unsigned in any::<bool>(), acc_bits in prop_oneof![Just(32u32), 8u32..=20]) {
        let mut c = c;
        if unsigned {
            c.x.iter_mut().for_each(|v| *v += 128);
            c.p.input_zp += 128;
        }
        let arith = if acc_bits == 32 {
            Arithmetic::default()
        } else {
            Arithmetic { acc_bits, overflow: Overflow::Wrap, rounding: Rounding::TfliteDouble }
        };
        let packed = pack_u8(&c.p, &arith);
        let slow = conv_reference(&c.p, &c.x, &arith);
        match conv_fast_u8_portable(&c.p, &packed, &c.x) {
            Some(fast) => prop_assert_eq!(&fast, &slow),
            None => prop_assert!(c.p.groups > 1, "a dense layer must take the u8 path"),
        }
        // On a CPU with VNNI, the dispatched path is the VNNI kernel.
        prop_assert_eq!(&conv_fast(&c.p, &packed, &c.x), &slow);
        if vnni_available() {
            prop_assert_eq!(&conv_fast(&c.p, &pack(&c.p, &arith), &c.x), &slow);
        }
    }

    /// 1x1 stride-1 convolutions take the direct-GEMM path; wide layers span several blocks.
    #[test]
    fn pointwise_gemm_equals_reference(c in case(8)) {
        let mut p = c.p.clone();
        let [n, h, w, ch] = p.geom.input;
        let cout = p.geom.output[3];
        p.geom.kernel = [1, 1];
        p.geom.stride = [1, 1];
        p.geom.pad = ExplicitPadding { top: 0, bottom: 0, left: 0, right: 0 };
        p.groups = 1;
        p.geom.output = [n, h, w, cout];
        p.weights = (0..cout * ch).map(|i| (i as i32 * 37 % 255) - 127).collect();
        let arith = Arithmetic::default();
        let packed = pack(&p, &arith);
        let slow = conv_reference(&p, &c.x, &arith);
        prop_assert_eq!(&conv_fast(&p, &packed, &c.x), &slow);
        prop_assert_eq!(&conv_fast_portable(&p, &packed, &c.x), &slow);
        let packed_u8 = pack_u8(&p, &arith);
        let fast_u8 = conv_fast_u8_portable(&p, &packed_u8, &c.x);
        prop_assert_eq!(fast_u8.as_ref(), Some(&slow));
    }

    #[test]
    fn wide_operands_stay_in_range(c in case(16)) {
        for arith in [
            Arithmetic::default(),
            Arithmetic { acc_bits: 20, overflow: Overflow::Saturate, rounding: Rounding::Single },
            Arithmetic { acc_bits: 24, overflow: Overflow::Wrap, rounding: Rounding::Truncate },
        ] {
            let out = conv_reference(&c.p, &c.x, &arith);
            prop_assert!(out.iter().all(|&v| (c.p.act_min..=c.p.act_max).contains(&v)));
        }
    }

    /// Each instruction set this CPU has, chosen explicitly (so the AVX2 kernels are checked on
    /// a CPU with AVX-512 VNNI too), on 1x1, 3x3, strided, dilated and depthwise layers (up to
    /// 149 channels: whole and partial SIMD blocks), with
    /// both packings (the i16 weights then made from the u8 x s8 ones) and the weights packed
    /// from i32 and from i8 values, LiteRT's or a wrapping
    /// accumulator, and multipliers below or above 1.
    #[test]
    fn every_isa_equals_reference(
        c in prop_oneof![case(8), case_with(8, 150, true)],
        dilation in 1usize..=3,
        acc_bits in prop_oneof![Just(32u32), 8u32..=20],
        left_shifts in any::<bool>(),
    ) {
        let (p, arith) = isa_case(&c, dilation, acc_bits, left_shifts);
        prop_assert!(fast_supported(&p, c.in_bits, c.w_bits, &arith));
        let slow = conv_reference(&p, &c.x, &arith);
        for isa in Isa::ALL {
            let Some(fast) = conv_fast_on(isa, &p, &pack(&p, &arith), &c.x) else {
                prop_assert!(!isa.available());
                continue;
            };
            prop_assert_eq!(&fast, &slow, "{:?} with pack", isa);
            let fast_u8 = conv_fast_on(isa, &p, &pack_u8(&p, &arith), &c.x);
            prop_assert_eq!(fast_u8.as_ref(), Some(&slow), "{:?} with pack_u8", isa);
            // Packed from the weights' 8 bits, as a graph's int8 weights are.
            let w8: Vec<i8> = p.weights.iter().map(|&v| i8::try_from(v).expect("8-bit weights")).collect();
            let from_i8 = conv_fast_on(isa, &p, &pack_weights(&p, &w8, &arith), &c.x);
            prop_assert_eq!(from_i8.as_ref(), Some(&slow), "{:?} with pack_weights from i8", isa);
        }
    }

    /// [`every_isa_equals_reference`] with the input, the output or both stored as 8 bits
    /// (`Values::I8`'s storage): the same values as the i32 storage's, on every instruction
    /// set this CPU has and on the portable u8 x s8 path.
    #[test]
    fn every_isa_equals_reference_on_8_bit_storage(
        c in prop_oneof![case(8), case_with(8, 150, true)],
        dilation in 1usize..=3,
        acc_bits in prop_oneof![Just(32u32), 8u32..=20],
        left_shifts in any::<bool>(),
    ) {
        let (p, arith) = isa_case(&c, dilation, acc_bits, left_shifts);
        let slow = conv_reference(&p, &c.x, &arith);
        let slow8: Vec<i8> = slow.iter().map(|&v| v as i8).collect();
        prop_assert!(slow.iter().all(|&v| (-128..=127).contains(&v)));
        let x8: Vec<i8> = c.x.iter().map(|&v| i8::try_from(v).expect("8-bit operands")).collect();
        for isa in Isa::ALL {
            for pk in [pack(&p, &arith), pack_u8(&p, &arith)] {
                let Some(both) = conv_fast_on_as::<i8, i8>(isa, &p, &pk, &x8) else {
                    prop_assert!(!isa.available());
                    continue;
                };
                prop_assert_eq!(&both, &slow8, "{:?} i8 -> i8", isa);
                let widened = conv_fast_on_as::<i8, i32>(isa, &p, &pk, &x8);
                prop_assert_eq!(widened, Some(slow.clone()), "{:?} i8 -> i32", isa);
                let narrowed = conv_fast_on_as::<i32, i8>(isa, &p, &pk, &c.x);
                prop_assert_eq!(narrowed, Some(slow8.clone()), "{:?} i32 -> i8", isa);
            }
        }
        let pk = pack_u8(&p, &arith);
        if let Some(u8_path) = conv_fast_u8_portable_as::<i8, i8>(&p, &pk, &x8) {
            prop_assert_eq!(&u8_path, &slow8, "portable u8 x s8, i8 -> i8");
        }
    }

    /// Depthwise layers on an 8-bit input, the AVX-512 VNNI kernel's four taps per lane
    /// (`vpdpbusd`) where the CPU has it: kernels up to 5x5 (1 to 7 groups of four taps, the
    /// last one partial), strides 1 and 2, dilations, padding up to 2, 1 to 149 channels
    /// (whole and partial blocks of 64; half the cases whole blocks of 16, the AVX2 kernel's
    /// pairs of taps), any input zero point of i8, LiteRT's or a wrapping
    /// accumulator; the same values as the reference, with the weights packed from i32 or
    /// from i8.
    #[test]
    fn depthwise_quad_taps_equal_reference(
        (n, h, w, c) in (1usize..3, 1usize..10, 1usize..10, prop_oneof![1usize..150, (1usize..=9).prop_map(|b| 16 * b)]),
        (kh, kw, stride, dilation, pad) in (1usize..=5, 1usize..=5, 1usize..=2, 1usize..=2, 0usize..=2),
        zx in -128i32..=127,
        w_bits in 2u32..=8,
        acc_bits in prop_oneof![Just(32u32), 8u32..=20],
        seed in any::<u64>(),
    ) {
        let span = |k: usize| (k - 1) * dilation + 1;
        prop_assume!(span(kh) <= h + 2 * pad && span(kw) <= w + 2 * pad);
        let mut rnd = xorshift(seed);
        let (wmin, wmax) = int_range(w_bits);
        let oh = (h + 2 * pad - span(kh)) / stride + 1;
        let ow = (w + 2 * pad - span(kw)) / stride + 1;
        let p = ConvParams {
            geom: ConvGeometry {
                input: [n, h, w, c],
                output: [n, oh, ow, c],
                kernel: [kh, kw],
                stride: [stride, stride],
                dilation: [dilation, dilation],
                pad: ExplicitPadding { top: pad, bottom: pad, left: pad, right: pad },
            },
            groups: c,
            weights: (0..c * kh * kw).map(|_| rnd(wmin, wmax)).collect(),
            weight_zp: vec![0; c],
            bias: Some((0..c).map(|_| rnd(-50000, 50000) as i64).collect()),
            input_zp: zx,
            output_zp: rnd(-20, 20),
            multipliers: (0..c).map(|_| QuantMultiplier::from_real(rnd(1, 1000) as f64 / 1.0e5)).collect(),
            requant: Requant::Double,
            act_min: -128,
            act_max: 127,
        };
        let arith = if acc_bits == 32 {
            Arithmetic::default()
        } else {
            Arithmetic { acc_bits, overflow: Overflow::Wrap, rounding: Rounding::TfliteDouble }
        };
        prop_assert!(fast_supported(&p, 8, w_bits, &arith));
        let x: Vec<i32> = (0..n * h * w * c).map(|_| rnd(-128, 127)).collect();
        let x8: Vec<i8> = x.iter().map(|&v| v as i8).collect();
        let slow = conv_reference(&p, &x, &arith);
        let slow8: Vec<i8> = slow.iter().map(|&v| v as i8).collect();
        let w8: Vec<i8> = p.weights.iter().map(|&v| v as i8).collect();
        for pk in [pack(&p, &arith), pack_weights(&p, &w8, &arith)] {
            // One channel is a dense layer (`groups == 1`).
            prop_assert_eq!(pk.has_depthwise_quad(), c > 1 && vnni_available());
            for isa in Isa::ALL {
                let Some(both) = conv_fast_on_as::<i8, i8>(isa, &p, &pk, &x8) else {
                    prop_assert!(!isa.available());
                    continue;
                };
                prop_assert_eq!(&both, &slow8, "{:?} i8 -> i8", isa);
                prop_assert_eq!(conv_fast_on_as::<i8, i32>(isa, &p, &pk, &x8), Some(slow.clone()), "{:?} i8 -> i32", isa);
            }
        }
    }

    /// Dense layers big enough for the AMX tiles (groups of 32 pixels; k in steps of up to 64
    /// bytes, whatever multiple of 4 it is, and k not a multiple of 4 on the u8 copy): 1x1
    /// layers on 1 to 160 channels and 3x3 ones on 1 to 48, 32 to 300 pixels (whole groups
    /// and a remainder),
    /// 1 to 100 output channels (whole and partial blocks of 32), 8-bit storage and i32, a
    /// wrapping accumulator too; every instruction set the CPU has gives the reference's
    /// values (AMX, where the CPU and OS allow it, then VNNI for the remainder).
    #[test]
    fn tile_sized_gemms_equal_reference(
        (n, h, w) in (1usize..3, 4usize..16, 4usize..20),
        (c, three, cout) in (1usize..=160, any::<bool>(), 1usize..100),
        acc_bits in prop_oneof![Just(32u32), 8u32..=20],
        left_shifts in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let c = if three { 1 + c % 48 } else { c };
        let k = if three { 3 } else { 1 };
        // Stride 1, "same" padding for 3x3.
        let (oh, ow) = (h, w);
        prop_assume!(n * oh * ow >= 32);
        let mut rnd = xorshift(seed);
        let pad = if three { 1 } else { 0 };
        let p = ConvParams {
            geom: ConvGeometry {
                input: [n, h, w, c],
                output: [n, oh, ow, cout],
                kernel: [k, k],
                stride: [1, 1],
                dilation: [1, 1],
                pad: ExplicitPadding { top: pad, bottom: pad, left: pad, right: pad },
            },
            groups: 1,
            weights: (0..cout * k * k * c).map(|_| rnd(-127, 127)).collect(),
            weight_zp: vec![0; cout],
            bias: Some((0..cout).map(|_| rnd(-50000, 50000) as i64).collect()),
            input_zp: rnd(-128, 127),
            output_zp: rnd(-20, 20),
            multipliers: (0..cout).map(|_| QuantMultiplier::from_real(rnd(1, 1000) as f64 / 1.0e6)).collect(),
            requant: Requant::Double,
            act_min: -128,
            act_max: 127,
        };
        let x: Vec<i32> = (0..n * h * w * c).map(|_| rnd(-128, 127)).collect();
        let c0 = Case { p, x, in_bits: 8, w_bits: 8 };
        let (p, arith) = isa_case(&c0, 1, acc_bits, left_shifts);
        let x = c0.x;
        prop_assert!(fast_supported(&p, 8, 8, &arith));
        let slow = conv_reference(&p, &x, &arith);
        let slow8: Vec<i8> = slow.iter().map(|&v| v as i8).collect();
        let x8: Vec<i8> = x.iter().map(|&v| v as i8).collect();
        for isa in Isa::ALL {
            let pk = pack(&p, &arith);
            let Some(fast) = conv_fast_on(isa, &p, &pk, &x) else {
                prop_assert!(!isa.available());
                continue;
            };
            prop_assert_eq!(&fast, &slow, "{:?} i32", isa);
            prop_assert_eq!(conv_fast_on_as::<i8, i8>(isa, &p, &pk, &x8), Some(slow8.clone()), "{:?} i8 -> i8", isa);
        }
    }
}
