//! Named layer groups for freezing, and the original scripts' `--modules N` values.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A layer group of a network. Freezing works on whole groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// `conv1` + `bn1` of the ResNet trunk.
    Stem,
    /// ResNet `layer1`.
    Layer1,
    /// ResNet `layer2`.
    Layer2,
    /// ResNet `layer3`.
    Layer3,
    /// ResNet `layer4`.
    Layer4,
    /// The TripletNet pair head `fc` (`Linear → ReLU → Linear`).
    PairHead,
    /// A classifier on top (pretext 6-way or fine-tune `Linear(768, C)`).
    Classifier,
}

impl Group {
    /// Every group, from input to output.
    pub const ALL: [Group; 7] = [
        Group::Stem,
        Group::Layer1,
        Group::Layer2,
        Group::Layer3,
        Group::Layer4,
        Group::PairHead,
        Group::Classifier,
    ];

    /// The trunk groups (`stem`, `layer1`…`layer4`).
    pub const TRUNK: [Group; 5] = [
        Group::Stem,
        Group::Layer1,
        Group::Layer2,
        Group::Layer3,
        Group::Layer4,
    ];

    /// The name users write (`stem`, `layer1`, …, `pair_head`, `classifier`).
    pub fn name(self) -> &'static str {
        match self {
            Group::Stem => "stem",
            Group::Layer1 => "layer1",
            Group::Layer2 => "layer2",
            Group::Layer3 => "layer3",
            Group::Layer4 => "layer4",
            Group::PairHead => "pair_head",
            Group::Classifier => "classifier",
        }
    }

    /// The groups that the original scripts freeze with `--modules N` on a
    /// `TripletNet_Finetune(resnet18)` (spec §3.2): 0 → none; 3 → stem; 15 → up to `layer1`;
    /// 30 → up to `layer2`; 45 → up to `layer3`; 60 → the whole ResNet; 64 → ResNet and pair head.
    /// Other values cut a group in half; use [`VarStore::freeze_first`](crate::VarStore::freeze_first)
    /// for those.
    pub fn from_original_modules(n: usize) -> Result<Vec<Group>> {
        let k = match n {
            0 => 0,
            3 => 1,
            15 => 2,
            30 => 3,
            45 => 4,
            60 => 5,
            64 => 6,
            _ => {
                return Err(Error::Freeze(format!(
                    "--modules {n} is not a group boundary of ResNet-18 (0, 3, 15, 30, 45, 60 or 64); \
                     freeze by parameter count instead"
                )));
            }
        };
        Ok(Group::ALL[..k].to_vec())
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Group {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Group::ALL
            .into_iter()
            .find(|g| g.name() == s.trim())
            .ok_or_else(|| {
                Error::Freeze(format!(
                    "unknown layer group `{s}`: expected one of stem, layer1, layer2, layer3, layer4, pair_head, classifier"
                ))
            })
    }
}

/// Parses a freezing request: a comma-separated list of group names (`stem,layer1`), `none`,
/// `trunk` (the whole ResNet), or one of the original `--modules` numbers.
pub fn parse_freeze(spec: &str) -> Result<Vec<Group>> {
    let s = spec.trim();
    if s.is_empty() || s == "none" {
        return Ok(Vec::new());
    }
    if let Ok(n) = s.parse::<usize>() {
        return Group::from_original_modules(n);
    }
    let mut out = Vec::new();
    for part in s.split(',') {
        if part.trim() == "trunk" {
            out.extend(Group::TRUNK);
        } else {
            out.push(part.parse()?);
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_parse() {
        for g in Group::ALL {
            assert_eq!(g.name().parse::<Group>().unwrap(), g);
        }
        assert!("layer5".parse::<Group>().is_err());
        assert_eq!(
            parse_freeze("layer1, stem").unwrap(),
            vec![Group::Stem, Group::Layer1]
        );
        assert_eq!(parse_freeze("trunk").unwrap(), Group::TRUNK.to_vec());
        assert_eq!(parse_freeze("none").unwrap(), vec![]);
        assert_eq!(parse_freeze("60").unwrap(), Group::TRUNK.to_vec());
        assert!(
            parse_freeze("7")
                .unwrap_err()
                .to_string()
                .contains("--modules 7")
        );
    }
}
