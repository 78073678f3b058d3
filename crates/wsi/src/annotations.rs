//! Camelyon16 annotations: ASAP XML and the original code's JSON (`{"positive": [...],
//! "negative": [...]}`), read and written; even-odd point-in-polygon; rasterising to a mask.
//!
//! Groups follow the original's `camelyon16xml2json` (spec §5.4): `Tumor`, `_0` and `_1` are
//! positive, `_2` negative; annotations of other groups are ignored. A point is positive iff
//! it lies inside any positive polygon; negative polygons are ignored by that label rule (as in
//! the original) but cut holes in [`Annotations::rasterize`] masks.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One polygon, vertices in level-0 pixels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Polygon {
    /// The annotation's name (`Annotation 0`, ...).
    pub name: String,
    /// The ASAP group it came from (`Tumor`, `_0`, `_1`, `_2`), when known.
    #[serde(skip)]
    pub group: Option<String>,
    /// Vertices (x, y), in order; the polygon closes from the last to the first.
    pub vertices: Vec<[f64; 2]>,
}

impl Polygon {
    /// Even-odd (crossing number) test, as `skimage.measure.points_in_poly` of scikit-image
    /// 0.15 (the original's version): points exactly on an edge may fall either way.
    pub fn contains(&self, x: f64, y: f64) -> bool {
        point_in_polygon(x, y, &self.vertices)
    }

    /// Bounding box (min x, min y, max x, max y), or `None` without vertices.
    pub fn bounds(&self) -> Option<[f64; 4]> {
        let mut it = self.vertices.iter();
        let f = it.next()?;
        let mut b = [f[0], f[1], f[0], f[1]];
        for v in it {
            b[0] = b[0].min(v[0]);
            b[1] = b[1].min(v[1]);
            b[2] = b[2].max(v[0]);
            b[3] = b[3].max(v[1]);
        }
        Some(b)
    }
}

/// The crossing-number test of scikit-image's `point_in_polygon`.
pub fn point_in_polygon(x: f64, y: f64, v: &[[f64; 2]]) -> bool {
    let n = v.len();
    if n < 3 {
        return false;
    }
    let mut c = false;
    let mut j = n - 1;
    for i in 0..n {
        let (xi, yi) = (v[i][0], v[i][1]);
        let (xj, yj) = (v[j][0], v[j][1]);
        if ((yi <= y && y < yj) || (yj <= y && y < yi)) && x < (xj - xi) * (y - yi) / (yj - yi) + xi
        {
            c = !c;
        }
        j = i;
    }
    c
}

/// Positive and negative polygons of one slide.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Annotations {
    /// Tumour regions.
    pub positive: Vec<Polygon>,
    /// Exclusion regions.
    pub negative: Vec<Polygon>,
}

/// Groups counted as positive / negative.
const POSITIVE_GROUPS: [&str; 3] = ["Tumor", "_0", "_1"];
const NEGATIVE_GROUPS: [&str; 1] = ["_2"];

/// Python 3 `round()`: to nearest, ties to even.
fn py_round(v: f64) -> f64 {
    v.round_ties_even()
}

fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}

impl Annotations {
    /// `true` when (`x`, `y`) (level-0) lies inside any positive polygon: the original's label.
    pub fn is_positive(&self, x: f64, y: f64) -> bool {
        self.positive.iter().any(|p| p.contains(x, y))
    }

    /// Parses ASAP XML (`path` only names the source in errors).
    pub fn parse_asap_xml(text: &str, path: &Path) -> Result<Self> {
        let doc = roxmltree::Document::parse(text)
            .map_err(|e| Error::format(path, format!("malformed XML: {e}")))?;
        let mut out = Self::default();
        for (k, a) in doc
            .descendants()
            .filter(|n| n.has_tag_name("Annotation"))
            .enumerate()
        {
            let group = a.attribute("PartOfGroup").unwrap_or("");
            let positive = POSITIVE_GROUPS.contains(&group);
            if !positive && !NEGATIVE_GROUPS.contains(&group) {
                continue;
            }
            let name = a.attribute("Name").unwrap_or("").to_string();
            let mut vertices = Vec::new();
            for c in a.descendants().filter(|n| n.has_tag_name("Coordinate")) {
                let num = |attr: &str| -> Result<f64> {
                    let s = c.attribute(attr).ok_or_else(|| {
                        Error::format(
                            path,
                            format!("annotation {k} (`{name}`): a Coordinate has no {attr}"),
                        )
                    })?;
                    s.trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|v| v.is_finite())
                        .ok_or_else(|| {
                            Error::format(
                                path,
                                format!(
                                    "annotation {k} (`{name}`): {attr}=\"{s}\" is not a number"
                                ),
                            )
                        })
                };
                vertices.push([num("X")?, num("Y")?]);
            }
            let poly = Polygon {
                name,
                group: Some(group.to_string()),
                vertices,
            };
            if positive {
                out.positive.push(poly);
            } else {
                out.negative.push(poly);
            }
        }
        Ok(out)
    }

    /// Reads an ASAP XML file.
    pub fn read_asap_xml(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse_asap_xml(&text, path)
    }

    /// ASAP XML text: positive polygons in group `Tumor` (or their own group among `_0`,
    /// `_1`), negative ones in `_2`.
    pub fn to_asap_xml(&self) -> String {
        let mut s = String::from("<?xml version=\"1.0\"?>\n<ASAP_Annotations>\n\t<Annotations>\n");
        let all = self
            .positive
            .iter()
            .map(|p| (p, true))
            .chain(self.negative.iter().map(|p| (p, false)));
        for (p, pos) in all {
            let group = match (&p.group, pos) {
                (Some(g), true) if POSITIVE_GROUPS.contains(&g.as_str()) => g.as_str(),
                (_, true) => "Tumor",
                (_, false) => "_2",
            };
            let colour = if pos { "#F4FA58" } else { "#64FE2E" };
            let _ = writeln!(
                s,
                "\t\t<Annotation Name=\"{}\" Type=\"Polygon\" PartOfGroup=\"{}\" Color=\"{colour}\">\n\t\t\t<Coordinates>",
                xml_escape(&p.name),
                group
            );
            for (i, v) in p.vertices.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "\t\t\t\t<Coordinate Order=\"{i}\" X=\"{}\" Y=\"{}\" />",
                    v[0], v[1]
                );
            }
            s.push_str("\t\t\t</Coordinates>\n\t\t</Annotation>\n");
        }
        s.push_str("\t</Annotations>\n\t<AnnotationGroups>\n");
        for (g, c) in [("Tumor", "#F4FA58"), ("_2", "#64FE2E")] {
            let _ = writeln!(
                s,
                "\t\t<Group Name=\"{g}\" PartOfGroup=\"None\" Color=\"{c}\">\n\t\t\t<Attributes />\n\t\t</Group>"
            );
        }
        s.push_str("\t</AnnotationGroups>\n</ASAP_Annotations>\n");
        s
    }

    /// Writes ASAP XML.
    pub fn write_asap_xml(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, self.to_asap_xml()).map_err(|e| Error::io(path, e))
    }

    /// Parses the original's JSON (`path` only names the source in errors).
    pub fn parse_json(text: &str, path: &Path) -> Result<Self> {
        #[derive(Deserialize)]
        struct J {
            #[serde(default)]
            positive: Vec<Polygon>,
            #[serde(default)]
            negative: Vec<Polygon>,
        }
        let j: J = serde_json::from_str(text)
            .map_err(|e| Error::format(path, format!("not an annotation JSON: {e}")))?;
        if let Some(p) = j
            .positive
            .iter()
            .chain(&j.negative)
            .find(|p| p.vertices.iter().flatten().any(|v| !v.is_finite()))
        {
            return Err(Error::format(
                path,
                format!("polygon `{}` has a non-finite vertex", p.name),
            ));
        }
        Ok(Self {
            positive: j.positive,
            negative: j.negative,
        })
    }

    /// Reads the original's JSON.
    pub fn read_json(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse_json(&text, path)
    }

    /// The original's JSON (`camelyon16xml2json`): vertices rounded to integers (Python
    /// `round`, ties to even), indent 1.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct P<'a> {
            name: &'a str,
            vertices: Vec<[i64; 2]>,
        }
        #[derive(Serialize)]
        struct J<'a> {
            positive: Vec<P<'a>>,
            negative: Vec<P<'a>>,
        }
        fn conv(v: &[Polygon]) -> Vec<P<'_>> {
            v.iter()
                .map(|p| P {
                    name: &p.name,
                    vertices: p
                        .vertices
                        .iter()
                        .map(|v| [py_round(v[0]) as i64, py_round(v[1]) as i64])
                        .collect(),
                })
                .collect()
        }
        let j = J {
            positive: conv(&self.positive),
            negative: conv(&self.negative),
        };
        let mut buf = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b" ");
        let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
        // Serialising plain structs of strings and integers into a Vec cannot fail.
        let _ = j.serialize(&mut ser);
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// Writes the original's JSON.
    pub fn write_json(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, self.to_json()).map_err(|e| Error::io(path, e))
    }

    /// A `width`×`height` mask of a level with the given downsample: 1 where the pixel centre
    /// (level-0 `((i + 0.5)·ds, (j + 0.5)·ds)`) is inside a positive polygon and not inside a
    /// negative one, else 0. Scanline fill, O(edges) per row.
    pub fn rasterize(&self, width: usize, height: usize, downsample: f64) -> Vec<u8> {
        let mut mask = vec![0u8; width * height];
        let mut xs = Vec::new();
        for (polys, value) in [(&self.positive, 1u8), (&self.negative, 0u8)] {
            for p in polys {
                let n = p.vertices.len();
                if n < 3 {
                    continue;
                }
                for j in 0..height {
                    let y = (j as f64 + 0.5) * downsample;
                    xs.clear();
                    let mut k = n - 1;
                    for i in 0..n {
                        let (a, b) = (p.vertices[i], p.vertices[k]);
                        if (a[1] <= y && y < b[1]) || (b[1] <= y && y < a[1]) {
                            xs.push((b[0] - a[0]) * (y - a[1]) / (b[1] - a[1]) + a[0]);
                        }
                        k = i;
                    }
                    xs.sort_by(f64::total_cmp);
                    // A centre x is inside iff an odd number of crossings c satisfy x < c,
                    // i.e. iff xs[2k] <= x < xs[2k+1] for some k. The comparison is made on
                    // the same expressions as the point test, so both always agree.
                    let row = &mut mask[j * width..(j + 1) * width];
                    for pair in xs.chunks_exact(2) {
                        let lo = ((pair[0] / downsample - 0.5).floor() - 1.0).max(0.0);
                        let hi = ((pair[1] / downsample - 0.5).ceil() + 1.0).min(width as f64);
                        if lo >= hi {
                            continue;
                        }
                        let (lo, hi) = (lo as usize, hi as usize);
                        for (i, v) in row.iter_mut().enumerate().take(hi).skip(lo) {
                            let x = (i as f64 + 0.5) * downsample;
                            if pair[0] <= x && x < pair[1] {
                                *v = value;
                            }
                        }
                    }
                }
            }
        }
        mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> Polygon {
        Polygon {
            name: "sq".into(),
            group: None,
            vertices: vec![[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]],
        }
    }

    #[test]
    fn even_odd_rule() {
        let s = square();
        assert!(s.contains(5.0, 5.0));
        assert!(!s.contains(15.0, 5.0));
        assert!(!s.contains(-0.1, 5.0));
        // A pentagram drawn in one stroke: its centre is crossed twice -> outside (even-odd).
        let star: Vec<[f64; 2]> = (0..5)
            .map(|k| {
                let a = std::f64::consts::PI / 2.0 + k as f64 * 4.0 * std::f64::consts::PI / 5.0;
                [10.0 * a.cos(), 10.0 * a.sin()]
            })
            .collect();
        assert!(!point_in_polygon(0.0, 0.0, &star));
        // a point in one of the star's tips is inside
        assert!(point_in_polygon(0.0, 8.0, &star));
    }

    #[test]
    fn raster_agrees_with_point_test() {
        let a = Annotations {
            positive: vec![Polygon {
                name: "tri".into(),
                group: None,
                vertices: vec![[3.0, 2.0], [37.0, 9.0], [11.0, 33.0]],
            }],
            negative: vec![Polygon {
                name: "hole".into(),
                group: None,
                vertices: vec![[12.0, 10.0], [18.0, 10.0], [18.0, 16.0], [12.0, 16.0]],
            }],
        };
        for ds in [1.0, 2.0, 3.5] {
            let (w, h) = ((40.0 / ds) as usize, (40.0 / ds) as usize);
            let m = a.rasterize(w, h, ds);
            for j in 0..h {
                for i in 0..w {
                    let (x, y) = ((i as f64 + 0.5) * ds, (j as f64 + 0.5) * ds);
                    let want = a.positive[0].contains(x, y) && !a.negative[0].contains(x, y);
                    assert_eq!(m[j * w + i] == 1, want, "ds {ds} ({i},{j})");
                }
            }
        }
    }
}
