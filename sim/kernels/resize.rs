//! RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR of NHWC tensors as LiteRT's reference
//! kernels compute them (`reference/resize_bilinear.h`, `resize_nearest_neighbor.h`):
//! float bilinear on f32 source coordinates; integer bilinear (int8, int16) on source
//! coordinates in 1/1024ths with 64-bit products and one rounding of the 2^20-scaled sum
//! (half away from zero); nearest neighbour as an index map shared by every type.

use crate::ir::Resize;

/// The dimensions of a resize: batches, input height and width, channels, output height
/// and width.
#[derive(Debug, Clone, Copy)]
pub struct Dims {
    /// Batches.
    pub n: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Channels.
    pub c: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
}

/// The scale from output to input coordinates along one axis, as f32.
fn scale_f32(input: usize, output: usize, align_corners: bool) -> f32 {
    if align_corners && output > 1 {
        (input - 1) as f32 / (output - 1) as f32
    } else {
        input as f32 / output as f32
    }
}

/// The source coordinate of output index `o` and the two input indices around it (float).
fn source_f32(o: usize, scale: f32, half_pixel: bool, input: usize) -> (f32, usize, usize) {
    let v = if half_pixel { (o as f32 + 0.5) * scale - 0.5 } else { o as f32 * scale };
    let lo = (v.floor() as i64).max(0) as usize;
    let hi = (v.ceil() as i64).min(input as i64 - 1).max(0) as usize;
    (v, lo, hi)
}

/// Float bilinear resize.
pub fn bilinear_f32(x: &[f32], d: Dims, r: &Resize) -> Vec<f32> {
    let (sh, sw) = (scale_f32(d.h, d.oh, r.align_corners), scale_f32(d.w, d.ow, r.align_corners));
    let at = |b: usize, y: usize, xx: usize, c: usize| x[((b * d.h + y) * d.w + xx) * d.c + c];
    let mut out = Vec::with_capacity(d.n * d.oh * d.ow * d.c);
    for b in 0..d.n {
        for oy in 0..d.oh {
            let (iy, y0, y1) = source_f32(oy, sh, r.half_pixel_centers, d.h);
            let dy = iy - y0 as f32;
            for ox in 0..d.ow {
                let (ix, x0, x1) = source_f32(ox, sw, r.half_pixel_centers, d.w);
                let dx = ix - x0 as f32;
                for c in 0..d.c {
                    out.push(
                        at(b, y0, x0, c) * (1.0 - dy) * (1.0 - dx)
                            + at(b, y1, x0, c) * dy * (1.0 - dx)
                            + at(b, y0, x1, c) * (1.0 - dy) * dx
                            + at(b, y1, x1, c) * dy * dx,
                    );
                }
            }
        }
    }
    out
}

/// The scale from output to input coordinates in 1/1024ths, rounded as LiteRT does.
fn scale_10(input: usize, output: usize, align_corners: bool) -> i64 {
    let (i, o) = if align_corners && output > 1 { (input - 1, output - 1) } else { (input, output) };
    ((1i64 << 10) * i as i64 + o as i64 / 2) / o as i64
}

/// The source coordinate of output index `o` in 1/1024ths and the two input indices
/// around it (integer; C's truncating division).
fn source_10(o: usize, scale: i64, half_pixel: bool, input: usize) -> (i64, i64, i64) {
    let v = if half_pixel { o as i64 * scale + scale / 2 - (1 << 9) } else { o as i64 * scale };
    let lo = (v / (1 << 10)).max(0);
    let hi = ((v + (1 << 10) - 1) / (1 << 10)).min(input as i64 - 1);
    (v, lo, hi)
}

/// Integer bilinear resize (int8 and int16 values alike; the output keeps the input's
/// quantization).
pub fn bilinear_int(x: &[i32], d: Dims, r: &Resize) -> Vec<i32> {
    let (sh, sw) = (scale_10(d.h, d.oh, r.align_corners), scale_10(d.w, d.ow, r.align_corners));
    let at = |b: usize, y: i64, xx: i64, c: usize| x[((b * d.h + y as usize) * d.w + xx as usize) * d.c + c] as i64;
    let one = 1i64 << 10;
    let mut out = Vec::with_capacity(d.n * d.oh * d.ow * d.c);
    for b in 0..d.n {
        for oy in 0..d.oh {
            let (iy, y0, y1) = source_10(oy, sh, r.half_pixel_centers, d.h);
            let fy = iy - one * y0;
            for ox in 0..d.ow {
                let (ix, x0, x1) = source_10(ox, sw, r.half_pixel_centers, d.w);
                let fx = ix - one * x0;
                for c in 0..d.c {
                    let sum = at(b, y0, x0, c) * (one - fy) * (one - fx)
                        + at(b, y1, x0, c) * fy * (one - fx)
                        + at(b, y0, x1, c) * (one - fy) * fx
                        + at(b, y1, x1, c) * fy * fx;
                    let round = if sum > 0 { 1i64 << 19 } else { -(1i64 << 19) };
                    out.push(((sum + round) / (1 << 20)) as i32);
                }
            }
        }
    }
    out
}

/// The input index of output index `o` along one axis (nearest neighbour).
fn nearest_index(o: usize, input: usize, output: usize, r: &Resize) -> usize {
    let scale = scale_f32(input, output, r.align_corners);
    let offset = if r.half_pixel_centers { 0.5f32 } else { 0.0 };
    let v = (o as f32 + offset) * scale;
    // TfLiteRound rounds half away from zero, as f32::round.
    let i = if r.align_corners { v.round() as i64 } else { v.floor() as i64 };
    let i = i.min(input as i64 - 1);
    (if r.half_pixel_centers { i.max(0) } else { i }) as usize
}

/// Nearest-neighbour resize of any element type.
pub fn nearest<T: Copy>(x: &[T], d: Dims, r: &Resize) -> Vec<T> {
    let rows: Vec<usize> = (0..d.oh).map(|o| nearest_index(o, d.h, d.oh, r)).collect();
    let cols: Vec<usize> = (0..d.ow).map(|o| nearest_index(o, d.w, d.ow, r)).collect();
    let mut out = Vec::with_capacity(d.n * d.oh * d.ow * d.c);
    for b in 0..d.n {
        for &y in &rows {
            for &xx in &cols {
                let start = ((b * d.h + y) * d.w + xx) * d.c;
                out.extend_from_slice(&x[start..start + d.c]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::ResizeKind;

    fn resize(kind: ResizeKind, size: [usize; 2], align_corners: bool, half_pixel_centers: bool) -> Resize {
        Resize { kind, size, align_corners, half_pixel_centers }
    }

    #[test]
    fn doubling_a_row_interpolates_between_neighbours() {
        let d = Dims { n: 1, h: 1, w: 2, c: 1, oh: 1, ow: 4 };
        let r = resize(ResizeKind::Bilinear, [1, 4], false, false);
        // Legacy coordinates: 0, 0.5, 1, 1.5 (clamped to the last pixel).
        assert_eq!(bilinear_f32(&[0.0, 8.0], d, &r), vec![0.0, 4.0, 8.0, 8.0]);
        assert_eq!(bilinear_int(&[0, 8], d, &r), vec![0, 4, 8, 8]);
        assert_eq!(bilinear_int(&[-3, 0], d, &r), vec![-3, -2, 0, 0], "half away from zero: -1.5 -> -2");
        let r = resize(ResizeKind::Bilinear, [1, 4], true, false);
        let y = bilinear_f32(&[0.0, 6.0], d, &r);
        assert!(y.iter().zip([0.0, 2.0, 4.0, 6.0]).all(|(a, b)| (a - b).abs() < 1e-5), "{y:?}");
    }

    #[test]
    fn nearest_follows_each_convention() {
        let d = Dims { n: 1, h: 1, w: 3, c: 1, oh: 1, ow: 5 };
        let x = [10, 20, 30];
        let r = resize(ResizeKind::Nearest, [1, 5], false, false);
        assert_eq!(nearest(&x, d, &r), vec![10, 10, 20, 20, 30]);
        let r = resize(ResizeKind::Nearest, [1, 5], true, false);
        assert_eq!(nearest(&x, d, &r), vec![10, 20, 20, 30, 30]);
        let r = resize(ResizeKind::Nearest, [1, 5], false, true);
        assert_eq!(nearest(&x, d, &r), vec![10, 10, 20, 30, 30]);
    }
}
