//! Bias correction (Nagel et al., ICCV 2019, section 4.2; also Finkelstein et al., 2019):
//! quantizing weights shifts the expected output of a layer by `E[(W~ - W) x] =
//! (W~ - W) E[x]`; adding `(W - W~) E[x]` to the bias removes that bias of the error.
//!
//! `E[x]`, the per-channel mean of the layer's input, comes either from calibration data
//! (empirical bias correction) or, in data-free mode, from moments propagated through the
//! network ([`super::data_free`]; the paper uses the preceding batch norm's `beta`, `gamma`
//! through a clipped normal, which is the same computation). Spatial padding is ignored
//! (every output sees the channel mean at every tap).

/// The bias change `(W - W~) E[x]` per output channel of a conv (OHWI weights, `groups`)
/// or fully connected layer (`[out, in]`, `groups = 1`, one mean per input feature).
pub fn correction(w: &[f32], w_deq: &[f32], cout: usize, groups: usize, input_mean: &[f64]) -> Vec<f32> {
    let per = w.len() / cout.max(1);
    let cout_g = cout / groups.max(1);
    let cin_g = if groups > 1 { input_mean.len() / groups } else { input_mean.len() }.max(1);
    (0..cout)
        .map(|co| {
            let grp = co / cout_g.max(1);
            let mut d = 0f64;
            for k in 0..per {
                let i = co * per + k;
                let ci = grp * cin_g + k % cin_g;
                d += (w[i] - w_deq[i]) as f64 * input_mean.get(ci).copied().unwrap_or(0.0);
            }
            d as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn corrects_the_mean_error() {
        // One output, two inputs with means 1 and 2; quantization lowered both weights by 0.1.
        let d = super::correction(&[1.0, 1.0], &[0.9, 0.9], 1, 1, &[1.0, 2.0]);
        assert!((d[0] - 0.3).abs() < 1e-6);
    }
}
