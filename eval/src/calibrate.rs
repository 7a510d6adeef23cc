//! Fitting the retrieval confidence: logistic regression of “top-1 is right” on the search
//! features, by full-batch gradient descent (three features, a few hundred rows: no library
//! needed). Fit on the dev split only.

use banshi_knowledge::search::Features;

/// Fit `[bias, cosine, coverage, margin]`; `use_cosine = false` fixes the cosine weight at 0
/// (for sparse-only search, where there is no cosine).
pub fn fit(rows: &[(Features, bool)], use_cosine: bool) -> [f32; 4] {
    let mut w = [0f64; 4];
    let x = |f: &Features| [1.0, if use_cosine { f.cosine as f64 } else { 0.0 }, f.coverage as f64, f.margin as f64];
    let n = rows.len().max(1) as f64;
    let lr = 2.0;
    for _ in 0..20_000 {
        let mut grad = [0f64; 4];
        for (f, y) in rows {
            let xi = x(f);
            let z: f64 = w.iter().zip(&xi).map(|(a, b)| a * b).sum();
            let p = 1.0 / (1.0 + (-z).exp());
            let err = p - if *y { 1.0 } else { 0.0 };
            for k in 0..4 {
                grad[k] += err * xi[k] / n;
            }
        }
        for k in 0..4 {
            // Light L2 keeps weights finite when the data separate.
            w[k] -= lr * (grad[k] + if k > 0 { 1e-3 * w[k] } else { 0.0 });
        }
    }
    w.map(|v| v as f32)
}

/// Expected calibration error over 10 equal-width bins.
pub fn ece(predicted: &[(f32, bool)]) -> f64 {
    let mut bins = vec![(0f64, 0f64, 0usize); 10];
    for (p, y) in predicted {
        let b = ((*p as f64) * 10.0).floor().clamp(0.0, 9.0) as usize;
        bins[b].0 += *p as f64;
        bins[b].1 += if *y { 1.0 } else { 0.0 };
        bins[b].2 += 1;
    }
    let n = predicted.len().max(1) as f64;
    bins.iter().filter(|b| b.2 > 0).map(|b| (b.0 - b.1).abs() / n).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use banshi_knowledge::search::logistic;

    #[test]
    fn recovers_a_monotone_relation() {
        // Labels drawn with P(right) = σ(8·(coverage − 0.5)), from a fixed pseudo-random sequence.
        let mut seed = 7u64;
        let rows: Vec<(Features, bool)> = (0..2000)
            .map(|i| {
                let cov = (i % 100) as f32 / 100.0;
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let u = (seed >> 40) as f32 / (1u64 << 24) as f32;
                let p = 1.0 / (1.0 + (-8.0 * (cov - 0.5)).exp());
                (Features { cosine: 0.8, coverage: cov, margin: 0.3 }, u < p)
            })
            .collect();
        let w = fit(&rows, false);
        assert_eq!(w[1], 0.0);
        assert!(w[2] > 1.0, "{w:?}");
        let lo = logistic(w, Features { cosine: 0.0, coverage: 0.1, margin: 0.3 });
        let hi = logistic(w, Features { cosine: 0.0, coverage: 0.9, margin: 0.3 });
        assert!(lo < 0.3 && hi > 0.7, "{lo} {hi}");
        let predicted: Vec<(f32, bool)> = rows.iter().map(|(f, y)| (logistic(w, *f), *y)).collect();
        assert!(ece(&predicted) < 0.05, "{}", ece(&predicted));
    }
}
