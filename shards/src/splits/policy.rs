//! Uncertainty policies that turn raw CheXpert-style labels (1, 0, -1, NaN) into 0/1 targets.

use serde::{Deserialize, Serialize};

/// The five CheXpert competition labels, in the order GLoRIA / MGCA / MRM use.
pub const COMPETITION5: [&str; 5] = [
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Pleural Effusion",
];

/// How uncertain (-1) and unmentioned (NaN) labels become targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// Keep every label: -1 → 1, NaN → 0 (Huang et al.).
    UOnes,
    /// Keep every label: -1 → 0, NaN → 0.
    UZeros,
    /// The five competition labels; -1 → 1 for Atelectasis, Edema, Pleural Effusion and → 0 for
    /// Cardiomegaly, Consolidation; NaN → 0 (GLoRIA / MGCA `CHEXPERT_UNCERTAIN_MAPPINGS`).
    ChexpertMixed5,
}

impl Policy {
    /// Parses `u-ones`, `u-zeros` or `chexpert-mixed5`.
    pub fn parse(s: &str) -> Option<Policy> {
        match s {
            "u-ones" => Some(Policy::UOnes),
            "u-zeros" => Some(Policy::UZeros),
            "chexpert-mixed5" => Some(Policy::ChexpertMixed5),
            _ => None,
        }
    }

    /// The name written in split files.
    pub fn name(self) -> &'static str {
        match self {
            Policy::UOnes => "u-ones",
            Policy::UZeros => "u-zeros",
            Policy::ChexpertMixed5 => "chexpert-mixed5",
        }
    }

    /// The label names the mapped vectors have, given the dataset's names.
    pub fn names(self, all: &[String]) -> Result<Vec<String>, String> {
        match self {
            Policy::ChexpertMixed5 => COMPETITION5
                .iter()
                .map(|n| {
                    all.iter()
                        .find(|a| a == n)
                        .cloned()
                        .ok_or_else(|| format!("the dataset has no `{n}` label"))
                })
                .collect(),
            _ => Ok(all.to_vec()),
        }
    }

    /// Maps one raw vector (in the dataset's label order) to targets.
    pub fn map(self, names: &[String], raw: &[f32]) -> Vec<f32> {
        let fix = |v: f32, uncertain: f32| {
            if v.is_nan() {
                0.0
            } else if v == -1.0 {
                uncertain
            } else {
                v
            }
        };
        match self {
            Policy::UOnes => raw.iter().map(|v| fix(*v, 1.0)).collect(),
            Policy::UZeros => raw.iter().map(|v| fix(*v, 0.0)).collect(),
            Policy::ChexpertMixed5 => COMPETITION5
                .iter()
                .map(|n| {
                    let i = names
                        .iter()
                        .position(|a| a == n)
                        .expect("checked by names()");
                    let ones = matches!(*n, "Atelectasis" | "Edema" | "Pleural Effusion");
                    fix(raw[i], if ones { 1.0 } else { 0.0 })
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed5_follows_the_gloria_table() {
        let names: Vec<String> = [
            "No Finding",
            "Cardiomegaly",
            "Edema",
            "Consolidation",
            "Atelectasis",
            "Pleural Effusion",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let raw = [1.0, -1.0, -1.0, -1.0, f32::NAN, 0.0];
        let p = Policy::ChexpertMixed5;
        assert_eq!(p.names(&names).unwrap(), COMPETITION5);
        // Atelectasis NaN→0, Cardiomegaly -1→0, Consolidation -1→0, Edema -1→1, Effusion 0.
        assert_eq!(p.map(&names, &raw), vec![0.0, 0.0, 0.0, 1.0, 0.0]);
        assert_eq!(
            Policy::UOnes.map(&names, &raw),
            vec![1.0, 1.0, 1.0, 1.0, 0.0, 0.0]
        );
        assert_eq!(
            Policy::UZeros.map(&names, &raw),
            vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        );
        assert!(p.names(&names[..2]).is_err());
    }
}
