//! How consistent a labelled dataset is with itself: pairs of near-duplicate messages (the
//! same appeal filed twice, copied between residents) and how often their labels agree.
//!
//! Two labels of one message can only agree as often as the labelling is right, so agreement
//! bounds what any classifier can score against those labels. Under the usual symmetric-noise
//! assumption (a label is right with probability `q`, otherwise uniformly one of the other
//! `k − 1` classes, independently per row), agreement is `a = q² + (1 − q)² / (k − 1)`; solving
//! for `q` gives the accuracy a classifier that always picked the true class would score.
//!
//! Near duplicates are found exactly (no sampling): character 3-gram sets of the text with
//! masking stars, spaces and punctuation removed, compared by Jaccard similarity, with prefix
//! filtering (grams ordered rarest first; two sets with Jaccard ≥ t must share a gram within
//! each one's first `|A| − ⌈t·|A|⌉ + 1`) so the 11k-row MSGABench takes well under a second.

use std::collections::HashMap;

use serde::Serialize;

/// Pairs and agreement at one similarity threshold.
#[derive(Debug, Clone, Serialize)]
pub struct LabelAgreement {
    /// Jaccard similarity of 3-gram sets at or above which two messages count as duplicates.
    pub threshold: f64,
    pub pairs: usize,
    /// Distinct messages in those pairs.
    pub messages: usize,
    /// Share of pairs whose labels are equal.
    pub agreement: f64,
    /// Classes the labels are drawn from (`k` in the module doc).
    pub classes: usize,
    /// Label accuracy implied by `agreement` (see the module doc); `None` without pairs.
    pub implied_accuracy: Option<f64>,
    /// The same for the ends of agreement's 95% Wilson interval: few pairs, wide interval.
    pub implied_accuracy_95: Option<(f64, f64)>,
}

/// Messages shorter than this many 3-grams are skipped: "你好" twice says nothing about labels.
const MIN_GRAMS: usize = 5;

/// Near-duplicate pairs `(i, j)`, `i < j`, among `texts` with Jaccard ≥ `threshold`.
pub fn near_duplicates(texts: &[&str], threshold: f64) -> Vec<(usize, usize)> {
    let sets = gram_sets(texts);
    let prefix = |s: &[u32]| s.len() + 1 - ((threshold * s.len() as f64).ceil() as usize).max(1);
    let mut index: HashMap<u32, Vec<usize>> = HashMap::new();
    let mut pairs = Vec::new();
    for (j, b) in sets.iter().enumerate() {
        if b.len() < MIN_GRAMS {
            continue;
        }
        let head = &b[..prefix(b)];
        let mut candidates: Vec<usize> = head.iter().filter_map(|g| index.get(g)).flatten().copied().collect();
        candidates.sort_unstable();
        candidates.dedup();
        pairs.extend(candidates.into_iter().filter(|&i| jaccard(&sets[i], b) >= threshold).map(|i| (i, j)));
        for g in head {
            index.entry(*g).or_default().push(j);
        }
    }
    pairs
}

/// Agreement of `labels` (`None`: unlabelled, skipped) over `pairs`, with `classes` classes.
pub fn agreement(pairs: &[(usize, usize)], labels: &[Option<&str>], classes: usize, threshold: f64) -> LabelAgreement {
    let labelled: Vec<(usize, usize)> = pairs.iter().copied().filter(|&(i, j)| labels[i].is_some() && labels[j].is_some()).collect();
    let agree = labelled.iter().filter(|&&(i, j)| labels[i] == labels[j]).count();
    let mut messages: Vec<usize> = labelled.iter().flat_map(|&(i, j)| [i, j]).collect();
    messages.sort_unstable();
    messages.dedup();
    let agreement = agree as f64 / labelled.len().max(1) as f64;
    LabelAgreement {
        threshold,
        pairs: labelled.len(),
        messages: messages.len(),
        agreement,
        classes,
        implied_accuracy: (!labelled.is_empty()).then(|| implied_accuracy(agreement, classes)),
        implied_accuracy_95: (!labelled.is_empty()).then(|| {
            let (lo, hi) = wilson_95(agree, labelled.len());
            (implied_accuracy(lo, classes), implied_accuracy(hi, classes))
        }),
    }
}

/// 95% Wilson score interval of a proportion `k / n` (`n > 0`).
fn wilson_95(k: usize, n: usize) -> (f64, f64) {
    let (z, n) = (1.96_f64, n as f64);
    let p = k as f64 / n;
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z / (1.0 + z * z / n) * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Solve `a = q² + (1 − q)² / (k − 1)` for `q ≥ 1/k` (chance); agreement below chance → `1/k`.
pub fn implied_accuracy(a: f64, k: usize) -> f64 {
    let k = k.max(2) as f64;
    let (qa, qb, qc) = (k / (k - 1.0), -2.0 / (k - 1.0), 1.0 / (k - 1.0) - a);
    let disc = (qb * qb - 4.0 * qa * qc).max(0.0);
    ((-qb + disc.sqrt()) / (2.0 * qa)).clamp(1.0 / k, 1.0)
}

/// Each text's 3-gram set as ids sorted rarest first (ids are assigned by ascending document
/// frequency, so sorting the ids sorts by rarity).
fn gram_sets(texts: &[&str]) -> Vec<Vec<u32>> {
    let grams: Vec<Vec<String>> = texts.iter().map(|t| trigrams(t)).collect();
    let mut df: HashMap<&str, usize> = HashMap::new();
    for g in grams.iter().flatten() {
        *df.entry(g).or_default() += 1;
    }
    let mut order: Vec<(&str, usize)> = df.into_iter().collect();
    order.sort_unstable_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(b.0)));
    let id: HashMap<&str, u32> = order.iter().enumerate().map(|(i, (g, _))| (*g, i as u32)).collect();
    grams
        .iter()
        .map(|gs| {
            let mut v: Vec<u32> = gs.iter().map(|g| id[g.as_str()]).collect();
            v.sort_unstable();
            v
        })
        .collect()
}

/// Distinct character 3-grams of the text's letters and digits (masks, spaces, punctuation dropped).
fn trigrams(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().filter(|c| c.is_alphanumeric()).collect();
    let mut g: Vec<String> = chars.windows(3).map(|w| w.iter().collect()).collect();
    g.sort_unstable();
    g.dedup();
    g
}

/// Jaccard similarity of two sorted, deduplicated id lists.
fn jaccard(a: &[u32], b: &[u32]) -> f64 {
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    common as f64 / (a.len() + b.len() - common).max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_copies_despite_masks_and_punctuation_and_only_them() {
        let texts = [
            "请问****区****庄何时拆迁？希望尽快推进。",
            "请问领导****区**庄何时拆迁，希望尽快推进",
            "小区门口的路灯坏了一个多月，晚上出行很不方便。",
            "公积金贷款还完后需要办理什么手续？在哪里办？",
            "小区门口路灯坏了一个多月了，晚上出行很不方便！",
            "短",
        ];
        let pairs = near_duplicates(&texts, 0.5);
        assert_eq!(pairs, vec![(0, 1), (2, 4)]);
        // Every pair found is at or above the threshold, and brute force finds no others.
        let sets = gram_sets(&texts);
        let brute: Vec<(usize, usize)> = (0..texts.len())
            .flat_map(|j| (0..j).map(move |i| (i, j)))
            .filter(|&(i, j)| sets[i].len() >= MIN_GRAMS && sets[j].len() >= MIN_GRAMS && jaccard(&sets[i], &sets[j]) >= 0.5)
            .collect();
        assert_eq!(brute, pairs);
    }

    #[test]
    fn agreement_counts_labelled_pairs_only() {
        let pairs = [(0, 1), (2, 3), (4, 5)];
        let labels = [Some("咨询"), Some("投诉/求助"), Some("建言"), Some("建言"), None, Some("建言")];
        let a = agreement(&pairs, &labels, 3, 0.7);
        assert_eq!((a.pairs, a.messages), (2, 4));
        assert_eq!(a.agreement, 0.5);
        assert!(a.implied_accuracy.unwrap() > 1.0 / 3.0 && a.implied_accuracy.unwrap() < 0.75);
        let (lo, hi) = a.implied_accuracy_95.unwrap();
        assert!(lo < a.implied_accuracy.unwrap() && a.implied_accuracy.unwrap() < hi);
        assert_eq!(agreement(&[], &labels, 3, 0.7).implied_accuracy, None);
        // Known value: 8 of 10 → (0.490, 0.943).
        let (lo, hi) = wilson_95(8, 10);
        assert!((lo - 0.490).abs() < 1e-3 && (hi - 0.943).abs() < 1e-3, "{lo} {hi}");
    }

    #[test]
    fn implied_accuracy_inverts_the_noise_model() {
        for k in [2usize, 3, 12] {
            for q in [1.0 / k as f64, 0.5_f64.max(1.0 / k as f64), 0.83, 1.0] {
                let a = q * q + (1.0 - q).powi(2) / (k as f64 - 1.0);
                assert!((implied_accuracy(a, k) - q).abs() < 1e-6, "k {k} q {q}");
            }
        }
        assert_eq!(implied_accuracy(0.1, 3), 1.0 / 3.0);
    }
}
