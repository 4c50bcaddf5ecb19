//! Results as Markdown tables laid out like the paper's: Table 1 (classification, macro AUC),
//! Table 2 (VQA accuracy) and Figure 2 (retrieval recalls).

use crate::classify::ClassifyResult;
use crate::retrieval::RetrievalResult;
use crate::vqa::VqaResult;

fn pct(x: f64) -> String {
    format!("{:.1}", 100.0 * x)
}

fn opt_pct(x: Option<f64>) -> String {
    x.map_or_else(|| "–".to_string(), pct)
}

/// Figure 2: R@1/5/10 both ways (percent), mean and median rank.
pub fn retrieval_table(results: &[RetrievalResult]) -> String {
    let mut s = String::from(
        "| dataset | split | pairs | direction | R@1 | R@5 | R@10 | mean rank | median rank |\n\
         |---|---|---:|---|---:|---:|---:|---:|---:|\n",
    );
    for r in results {
        for (dir, x) in [("image→text", &r.i2t), ("text→image", &r.t2i)] {
            s.push_str(&format!(
                "| {} | {} | {} | {dir} | {} | {} | {} | {:.1} | {:.0} |\n",
                r.dataset,
                r.split,
                r.pairs,
                pct(x.r1),
                pct(x.r5),
                pct(x.r10),
                x.mean_rank,
                x.median_rank
            ));
        }
    }
    s
}

/// Table 1: test macro AUC (percent) per dataset, split and mode.
pub fn classify_table(results: &[ClassifyResult]) -> String {
    let mut s = String::from(
        "| dataset | split | mode | macro AUC | classes scored | skipped | policy |\n\
         |---|---|---|---:|---:|---|---|\n",
    );
    for r in results {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            r.dataset,
            r.split,
            serde_json::to_value(r.mode)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            opt_pct(r.test.macro_auc),
            r.test.per_class.len() - r.test.skipped.len(),
            if r.test.skipped.is_empty() {
                "–".to_string()
            } else {
                r.test.skipped.join(", ")
            },
            r.policy
        ));
    }
    s
}

/// Table 2: VQA accuracy (percent), open / closed / overall at the epoch chosen on validation,
/// beside the last epoch's and M3AE's best-on-test overall accuracy.
pub fn vqa_table(results: &[VqaResult]) -> String {
    let mut s = String::from(
        "| dataset | open | closed | overall | epoch (of) | last epoch | best on test (M3AE's figure) | majority answer (open / closed) | questions (open / closed) | answers |\n\
         |---|---:|---:|---:|---:|---:|---:|---|---|---:|\n",
    );
    for r in results {
        let a = &r.chosen.test;
        let best = &r.m3ae_best_on_test;
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} ({}) | {} | {} (epoch {}) | {} / {} | {} / {} | {} |\n",
            r.dataset,
            opt_pct(a.open),
            opt_pct(a.closed),
            pct(a.overall),
            r.chosen.epoch,
            r.epochs,
            pct(r.accuracy.overall),
            pct(best.test.overall),
            best.epoch,
            opt_pct(r.majority.open),
            opt_pct(r.majority.closed),
            a.counts.2,
            a.counts.1,
            r.answers
        ));
    }
    s
}
