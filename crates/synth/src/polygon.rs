//! Polygons in level-0 pixel coordinates: the tumour outlines of the Camelyon16-style slides
//! (drawn as noisy star shapes) and the even-odd point-in-polygon test that labels pixels.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// A closed polygon (the last vertex connects to the first), level-0 pixels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Polygon {
    /// Vertices `(x, y)`.
    pub vertices: Vec<(f64, f64)>,
}

impl Polygon {
    /// A star-shaped blob around `(cx, cy)` with mean radius `r` (pixels): the radius varies
    /// with the angle as a sum of low harmonics of relative amplitude up to `roughness`, so the
    /// outline looks like a metastasis rather than a circle. Vertices are rounded to integers
    /// (annotation files store integer-valued coordinates).
    pub fn blob(cx: f64, cy: f64, r: f64, roughness: f64, n: usize, rng: &mut impl Rng) -> Self {
        let harmonics: Vec<(f64, f64, f64)> = (2..=7)
            .map(|k| {
                let amp = roughness * rng.random::<f64>() / k as f64;
                (k as f64, amp, rng.random::<f64>() * std::f64::consts::TAU)
            })
            .collect();
        let n = n.max(8);
        let vertices = (0..n)
            .map(|i| {
                let a = i as f64 / n as f64 * std::f64::consts::TAU;
                let f: f64 = 1.0
                    + harmonics
                        .iter()
                        .map(|(k, amp, ph)| amp * (k * a + ph).cos())
                        .sum::<f64>();
                let rr = r * f.max(0.3);
                ((cx + rr * a.cos()).round(), (cy + rr * a.sin()).round())
            })
            .collect();
        Self { vertices }
    }

    /// Bounding box `(x0, y0, x1, y1)`.
    pub fn bbox(&self) -> (f64, f64, f64, f64) {
        self.vertices.iter().fold(
            (
                f64::INFINITY,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::NEG_INFINITY,
            ),
            |(a, b, c, d), &(x, y)| (a.min(x), b.min(y), c.max(x), d.max(y)),
        )
    }

    /// Even-odd rule (as skimage's `points_in_poly`, which the original uses to label patches).
    pub fn contains(&self, x: f64, y: f64) -> bool {
        let v = &self.vertices;
        let mut inside = false;
        let mut j = v.len().wrapping_sub(1);
        for i in 0..v.len() {
            let (xi, yi) = v[i];
            let (xj, yj) = v[j];
            if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
                inside = !inside;
            }
            j = i;
        }
        inside
    }

    /// Area (shoelace), pixels².
    pub fn area(&self) -> f64 {
        let v = &self.vertices;
        let mut s = 0.0;
        for i in 0..v.len() {
            let (x0, y0) = v[i];
            let (x1, y1) = v[(i + 1) % v.len()];
            s += x0 * y1 - x1 * y0;
        }
        s.abs() / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use histo_tensor::SampleRng;

    fn square() -> Polygon {
        Polygon {
            vertices: vec![(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)],
        }
    }

    #[test]
    fn point_in_square() {
        let p = square();
        assert!(p.contains(5.0, 5.0));
        assert!(p.contains(0.5, 9.5));
        assert!(!p.contains(-0.5, 5.0));
        assert!(!p.contains(5.0, 10.5));
        assert_eq!(p.area(), 100.0);
        assert_eq!(p.bbox(), (0.0, 0.0, 10.0, 10.0));
    }

    #[test]
    fn even_odd_on_a_self_intersecting_bow_tie() {
        // Two triangles meeting at (5, 5): the centres of both are inside.
        let p = Polygon {
            vertices: vec![(0.0, 0.0), (10.0, 10.0), (10.0, 0.0), (0.0, 10.0)],
        };
        assert!(p.contains(8.0, 5.0));
        assert!(p.contains(2.0, 5.0));
        assert!(!p.contains(5.0, 8.0));
    }

    #[test]
    fn blob_area_is_close_to_the_circle_and_contains_its_centre() {
        let mut rng = SampleRng::new(3, 0, 0);
        let b = Polygon::blob(1000.0, 2000.0, 300.0, 0.0, 256, &mut rng);
        let circle = std::f64::consts::PI * 300.0 * 300.0;
        assert!((b.area() / circle - 1.0).abs() < 0.01, "{}", b.area());
        let rough = Polygon::blob(1000.0, 2000.0, 300.0, 0.6, 64, &mut rng);
        assert!(rough.contains(1000.0, 2000.0));
        assert!(
            rough
                .vertices
                .iter()
                .all(|(x, y)| x.fract() == 0.0 && y.fract() == 0.0)
        );
    }
}
