//! The downstream metrics as pure functions: retrieval ranks and recall@k, ROC-AUC exactly as
//! scikit-learn's `roc_auc_score` computes it, macro AUC over classes, and VQA accuracy.

use serde::Serialize;

/// The 0-based rank of the ground truth in each row of a row-major `n × n` score matrix whose
/// diagonal holds the true pairs. Ties are broken as a stable descending sort would: an equal
/// score at a lower column ranks first (`torch.argsort(descending=True, stable=True)`).
pub fn ranks(scores: &[f32], n: usize) -> Vec<usize> {
    assert_eq!(scores.len(), n * n, "an n × n matrix");
    (0..n)
        .map(|i| {
            let row = &scores[i * n..(i + 1) * n];
            let gt = row[i];
            row.iter()
                .enumerate()
                .filter(|&(j, &s)| s > gt || (s == gt && j < i))
                .count()
        })
        .collect()
}

/// The transpose of a row-major `n × n` matrix (text→image from image→text scores).
pub fn transpose(scores: &[f32], n: usize) -> Vec<f32> {
    let mut t = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            t[j * n + i] = scores[i * n + j];
        }
    }
    t
}

/// Retrieval scores of one direction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetrievalScores {
    /// Queries.
    pub n: usize,
    /// Recall@1, @5, @10.
    pub r1: f64,
    /// Recall@5.
    pub r5: f64,
    /// Recall@10.
    pub r10: f64,
    /// Mean rank, 1-based (PMC-CLIP: mean of 0-based ranks + 1).
    pub mean_rank: f64,
    /// Median rank, 1-based (PMC-CLIP: floor(median of 0-based ranks) + 1).
    pub median_rank: f64,
}

/// Recall@k, mean and median rank from 0-based ranks.
pub fn retrieval_scores(ranks: &[usize]) -> RetrievalScores {
    let n = ranks.len();
    let recall = |k: usize| ranks.iter().filter(|&&r| r < k).count() as f64 / n.max(1) as f64;
    let mean = ranks.iter().sum::<usize>() as f64 / n.max(1) as f64 + 1.0;
    let mut sorted = ranks.to_vec();
    sorted.sort_unstable();
    let median = match n {
        0 => 0.0,
        _ if n % 2 == 1 => sorted[n / 2] as f64,
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) as f64 / 2.0,
    };
    RetrievalScores {
        n,
        r1: recall(1),
        r5: recall(5),
        r10: recall(10),
        mean_rank: mean,
        median_rank: median.floor() + 1.0,
    }
}

/// ROC-AUC of binary `labels` (true = positive) against `scores`: the probability that a random
/// positive scores above a random negative, ties counting one half (scikit-learn's value).
/// `None` when only one class is present.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    assert_eq!(scores.len(), labels.len());
    let pos = labels.iter().filter(|&&l| l).count();
    let neg = labels.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Mann–Whitney U with mid-ranks for ties.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += idx[i..=j].iter().filter(|&&k| labels[k]).count() as f64 * mid;
        i = j + 1;
    }
    let (p, n) = (pos as f64, neg as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Macro AUC over classes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MacroAuc {
    /// Mean of the per-class AUCs that exist.
    pub macro_auc: Option<f64>,
    /// Per class, by name (`None` where skipped).
    pub per_class: Vec<(String, Option<f64>)>,
    /// Classes skipped because the evaluated set holds one label value only (or none).
    pub skipped: Vec<String>,
}

/// Macro AUC of `scores[i][c]` against `labels[i][c]` (1 positive, 0 negative, anything else,
/// such as NaN or −1 uncertain, left out of that class).
pub fn macro_auc(scores: &[Vec<f64>], labels: &[Vec<f32>], names: &[String]) -> MacroAuc {
    let mut per_class = Vec::with_capacity(names.len());
    let mut skipped = Vec::new();
    for (c, name) in names.iter().enumerate() {
        let (s, l): (Vec<f64>, Vec<bool>) = scores
            .iter()
            .zip(labels)
            .filter(|(_, l)| l[c] == 1.0 || l[c] == 0.0)
            .map(|(s, l)| (s[c], l[c] == 1.0))
            .unzip();
        let auc = roc_auc(&s, &l);
        if auc.is_none() {
            skipped.push(name.clone());
        }
        per_class.push((name.clone(), auc));
    }
    let valid: Vec<f64> = per_class.iter().filter_map(|(_, a)| *a).collect();
    MacroAuc {
        macro_auc: (!valid.is_empty()).then(|| valid.iter().sum::<f64>() / valid.len() as f64),
        per_class,
        skipped,
    }
}

/// VQA accuracy (exact match of normalised answers), overall and by answer type.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct VqaAccuracy {
    /// All questions.
    pub overall: f64,
    /// CLOSED questions.
    pub closed: Option<f64>,
    /// OPEN questions.
    pub open: Option<f64>,
    /// Questions scored: (overall, closed, open).
    pub counts: (usize, usize, usize),
}

/// Accuracy of `(correct, closed)` pairs.
pub fn vqa_accuracy(results: &[(bool, bool)]) -> VqaAccuracy {
    let acc = |f: &dyn Fn(&(bool, bool)) -> bool| {
        let sel: Vec<_> = results.iter().filter(|r| f(r)).collect();
        let n = sel.len();
        let ok = sel.iter().filter(|r| r.0).count();
        (n, (n > 0).then(|| ok as f64 / n as f64))
    };
    let (n, overall) = acc(&|_| true);
    let (nc, closed) = acc(&|r| r.1);
    let (no, open) = acc(&|r| !r.1);
    VqaAccuracy {
        overall: overall.unwrap_or(0.0),
        closed,
        open,
        counts: (n, nc, no),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_break_ties_like_a_stable_descending_sort() {
        // Row 0: GT 0.5, one higher → rank 1. Row 1: GT ties with column 0 (a lower index) →
        // rank 1. Row 2: GT highest → rank 0. Row 3: GT ties with column 2 → rank 1.
        let s = [
            0.5, 0.9, 0.1, 0.0, //
            0.7, 0.7, 0.1, 0.0, //
            0.2, 0.1, 0.8, 0.0, //
            0.0, 0.0, 0.8, 0.8,
        ];
        assert_eq!(ranks(&s, 4), [1, 1, 0, 1]);
        let t = transpose(&s, 4);
        assert_eq!(t[1], s[4]);
        let r = retrieval_scores(&[1, 1, 0, 1]);
        assert_eq!((r.r1, r.r5), (0.25, 1.0));
        assert_eq!(r.mean_rank, 1.75);
        assert_eq!(r.median_rank, 2.0);
        // Median of an even count: floor((3 + 8) / 2) + 1 = 6.
        assert_eq!(retrieval_scores(&[0, 3, 8, 20]).median_rank, 6.0);
    }

    #[test]
    fn auc_matches_scikit_learn_including_ties() {
        // sklearn.metrics.roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
        let a = roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]).unwrap();
        assert!((a - 0.75).abs() < 1e-12);
        // Ties: roc_auc_score([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]) == 0.875
        let a = roc_auc(&[0.5, 0.5, 0.2, 0.9], &[false, true, false, true]).unwrap();
        assert!((a - 0.875).abs() < 1e-12);
        // All scores equal: 0.5.
        let a = roc_auc(&[1.0; 4], &[false, true, false, true]).unwrap();
        assert!((a - 0.5).abs() < 1e-12);
        assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), None);
    }

    #[test]
    fn macro_auc_skips_single_valued_classes_and_unlabelled_rows() {
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let scores = vec![
            vec![0.9, 0.1, 0.3],
            vec![0.2, 0.8, 0.3],
            vec![0.7, 0.4, 0.3],
            vec![0.1, 0.6, 0.3],
        ];
        let labels = vec![
            vec![1.0, 0.0, 1.0],
            vec![0.0, 1.0, 1.0],
            vec![1.0, f32::NAN, 1.0],
            vec![0.0, -1.0, 1.0],
        ];
        let m = macro_auc(&scores, &labels, &names);
        assert_eq!(m.per_class[0].1, Some(1.0));
        assert_eq!(m.per_class[1].1, Some(1.0)); // rows 2 and 3 left out
        assert_eq!(m.skipped, ["c"]);
        assert_eq!(m.macro_auc, Some(1.0));
    }

    #[test]
    fn vqa_accuracy_by_type() {
        let a = vqa_accuracy(&[(true, true), (false, true), (true, false)]);
        assert!((a.overall - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(a.closed, Some(0.5));
        assert_eq!(a.open, Some(1.0));
        assert_eq!(a.counts, (3, 2, 1));
    }
}
