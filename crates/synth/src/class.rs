//! The nine tissue classes, named and ordered as Kather's NCT-CRC-HE-100K (spec §5.2).

use serde::{Deserialize, Serialize};

/// A tissue class. The discriminant is the label the original code assigns (ADI 0 … TUM 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TissueClass {
    /// Adipose tissue: large empty polygonal cells with thin membranes.
    Adi = 0,
    /// Background: bare glass.
    Back = 1,
    /// Debris and necrosis.
    Deb = 2,
    /// Lymphocytes: dense small round dark nuclei.
    Lym = 3,
    /// Mucus: pale, wispy, nearly acellular.
    Muc = 4,
    /// Smooth muscle: aligned pink fibres with cigar-shaped nuclei.
    Mus = 5,
    /// Normal colon mucosa: glands, rings of nuclei around lumens.
    Norm = 6,
    /// Cancer-associated stroma: loose pink fibres, sparse elongated nuclei.
    Str = 7,
    /// Tumour epithelium: crowded large pleomorphic nuclei, irregular glands.
    Tum = 8,
}

impl TissueClass {
    /// All classes in label order.
    pub const ALL: [TissueClass; 9] = [
        Self::Adi,
        Self::Back,
        Self::Deb,
        Self::Lym,
        Self::Muc,
        Self::Mus,
        Self::Norm,
        Self::Str,
        Self::Tum,
    ];

    /// The label (0 … 8).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The class with label `i`.
    pub fn from_index(i: usize) -> Option<Self> {
        Self::ALL.get(i).copied()
    }

    /// Kather's folder name (`ADI`, `BACK`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::Adi => "ADI",
            Self::Back => "BACK",
            Self::Deb => "DEB",
            Self::Lym => "LYM",
            Self::Muc => "MUC",
            Self::Mus => "MUS",
            Self::Norm => "NORM",
            Self::Str => "STR",
            Self::Tum => "TUM",
        }
    }

    /// Parses a folder name (case-insensitive).
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s))
    }
}

impl std::fmt::Display for TissueClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_the_original_order() {
        let names: Vec<_> = TissueClass::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(
            names,
            [
                "ADI", "BACK", "DEB", "LYM", "MUC", "MUS", "NORM", "STR", "TUM"
            ]
        );
        for (i, c) in TissueClass::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
            assert_eq!(TissueClass::from_index(i), Some(*c));
            assert_eq!(TissueClass::from_name(&c.name().to_lowercase()), Some(*c));
        }
        assert_eq!(TissueClass::from_name("XYZ"), None);
    }
}
