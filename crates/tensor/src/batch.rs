//! [`ImageBatch`] (NHWC u8) and its conversion to and from NCHW float tensors.

use candle_core::{DType, Device, Tensor};
use ndarray::{Array4, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{Error, Image, Result};

/// How u8 pixel values become model inputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputScale {
    /// `x` as a float in 0–255, unnormalised: what the original SSL_CR code feeds its networks
    /// (spec §0) and what its released weights expect. The default, for fidelity.
    #[default]
    Raw255,
    /// `x / 255`, in 0–1.
    Unit,
    /// `(x / 255 − mean[c]) / std[c]` per channel, e.g. ImageNet statistics.
    MeanStd {
        /// Per-channel mean, in 0–1 units.
        mean: [f32; 3],
        /// Per-channel standard deviation, in 0–1 units; must be non-zero.
        std: [f32; 3],
    },
}

impl InputScale {
    /// ImageNet mean and standard deviation (torchvision's constants).
    pub const IMAGENET: InputScale = InputScale::MeanStd {
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
    };

    /// Per-channel `(a, b)` such that the model input is `a·x + b` for a u8 value `x`.
    pub fn affine(&self) -> Result<[(f32, f32); 3]> {
        Ok(match *self {
            InputScale::Raw255 => [(1.0, 0.0); 3],
            InputScale::Unit => [(1.0 / 255.0, 0.0); 3],
            InputScale::MeanStd { mean, std } => {
                let mut out = [(0.0, 0.0); 3];
                for c in 0..3 {
                    if !(std[c].is_finite() && std[c] != 0.0 && mean[c].is_finite()) {
                        return Err(Error::Invalid(format!(
                            "InputScale::MeanStd channel {c}: mean {} std {} (std must be finite and non-zero)",
                            mean[c], std[c]
                        )));
                    }
                    out[c] = (1.0 / (255.0 * std[c]), -mean[c] / std[c]);
                }
                out
            }
        })
    }
}

/// `N` RGB images of equal size, stored as one `[N, H, W, 3]` u8 array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageBatch {
    data: Array4<u8>,
}

impl ImageBatch {
    /// Stacks images of equal size. An empty slice or a size mismatch is an error.
    pub fn from_images(images: &[Image]) -> Result<Self> {
        let first = images.first().ok_or(Error::Empty(
            "ImageBatch::from_images needs at least one image",
        ))?;
        let (w, h) = (first.width(), first.height());
        let mut flat = Vec::with_capacity(images.len() * w * h * 3);
        for (index, img) in images.iter().enumerate() {
            if (img.width(), img.height()) != (w, h) {
                return Err(Error::SizeMismatch {
                    index,
                    want_w: w,
                    want_h: h,
                    got_w: img.width(),
                    got_h: img.height(),
                });
            }
            flat.extend_from_slice(img.as_slice());
        }
        let data = Array4::from_shape_vec((images.len(), h, w, 3), flat)
            .expect("sizes were checked above");
        Ok(Self { data })
    }

    /// Wraps an `[N, H, W, 3]` array.
    pub fn from_array(data: Array4<u8>) -> Result<Self> {
        if data.dim().3 != 3 {
            return Err(Error::Shape {
                expected: "[N, H, W, 3]".into(),
                got: format!("{:?}", data.shape()),
            });
        }
        let data = if data.is_standard_layout() {
            data
        } else {
            data.as_standard_layout().into_owned()
        };
        Ok(Self { data })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.data.dim().0
    }

    /// `true` when the batch holds no image.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Height of every image.
    pub fn height(&self) -> usize {
        self.data.dim().1
    }

    /// Width of every image.
    pub fn width(&self) -> usize {
        self.data.dim().2
    }

    /// The `[N, H, W, 3]` array.
    pub fn array(&self) -> &Array4<u8> {
        &self.data
    }

    /// A copy of image `i`. Panics when `i >= len()`, like slice indexing.
    pub fn image(&self, i: usize) -> Image {
        Image::from_array(self.data.index_axis(Axis(0), i).to_owned())
            .expect("a batch image always has 3 channels")
    }

    /// Iterates over copies of the images.
    pub fn images(&self) -> impl Iterator<Item = Image> + '_ {
        (0..self.len()).map(|i| self.image(i))
    }

    fn as_slice(&self) -> &[u8] {
        self.data
            .as_slice()
            .expect("ImageBatch keeps its array in standard layout")
    }

    /// The batch as an `[N, 3, H, W]` f32 tensor on `device`, scaled by `scale`.
    pub fn to_tensor(&self, device: &Device, scale: InputScale) -> Result<Tensor> {
        self.to_tensor_dtype(device, scale, DType::F32)
    }

    /// As [`to_tensor`](Self::to_tensor) with another float dtype (e.g. `BF16` for mixed precision).
    ///
    /// On the CPU the layout change and scaling happen in one parallel pass over the pixels. On a
    /// GPU the u8 pixels are uploaded as they are (4× less traffic than f32) and converted there.
    pub fn to_tensor_dtype(
        &self,
        device: &Device,
        scale: InputScale,
        dtype: DType,
    ) -> Result<Tensor> {
        if !dtype.is_float() {
            return Err(Error::Invalid(format!(
                "to_tensor needs a float dtype, got {dtype:?}"
            )));
        }
        let affine = scale.affine()?;
        let (n, h, w) = (self.len(), self.height(), self.width());
        let t = if device.is_cpu() {
            let plane = h * w;
            let mut out = vec![0f32; n * 3 * plane];
            if plane > 0 {
                out.par_chunks_mut(3 * plane)
                    .zip(self.as_slice().par_chunks(3 * plane))
                    .for_each(|(dst, src)| nhwc_to_nchw(src, dst, plane, &affine));
            }
            let t = Tensor::from_vec(out, (n, 3, h, w), device)?;
            if dtype == DType::F32 {
                t
            } else {
                t.to_dtype(dtype)?
            }
        } else {
            let raw = Tensor::from_slice(self.as_slice(), (n, h, w, 3), device)?;
            let x = raw.to_dtype(DType::F32)?.permute((0, 3, 1, 2))?;
            let a = Tensor::from_slice(&affine.map(|p| p.0), (1, 3, 1, 1), device)?;
            let b = Tensor::from_slice(&affine.map(|p| p.1), (1, 3, 1, 1), device)?;
            x.broadcast_mul(&a)?
                .broadcast_add(&b)?
                .contiguous()?
                .to_dtype(dtype)?
        };
        Ok(t)
    }

    /// The inverse of [`to_tensor`](Self::to_tensor): an `[N, 3, H, W]` (or `[3, H, W]`) float
    /// tensor on any device back to u8 pixels, rounding to nearest and clamping to 0–255.
    /// Useful to look at what a model was fed.
    pub fn from_tensor(t: &Tensor, scale: InputScale) -> Result<Self> {
        let t = match t.rank() {
            3 => t.unsqueeze(0)?,
            4 => t.clone(),
            r => {
                return Err(Error::Shape {
                    expected: "[N, 3, H, W] or [3, H, W]".into(),
                    got: format!("rank {r}: {:?}", t.dims()),
                });
            }
        };
        let (n, c, h, w) = t.dims4()?;
        if c != 3 {
            return Err(Error::Shape {
                expected: "3 channels".into(),
                got: format!("{:?}", t.dims()),
            });
        }
        let affine = scale.affine()?;
        let v = t
            .to_device(&Device::Cpu)?
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let plane = h * w;
        let mut out = vec![0u8; n * plane * 3];
        for i in 0..n {
            for (ch, &(a, b)) in affine.iter().enumerate() {
                let src = &v[(i * 3 + ch) * plane..(i * 3 + ch + 1) * plane];
                let dst = &mut out[i * plane * 3..(i + 1) * plane * 3];
                for (p, &y) in src.iter().enumerate() {
                    dst[p * 3 + ch] = ((y - b) / a).round().clamp(0.0, 255.0) as u8;
                }
            }
        }
        let data = Array4::from_shape_vec((n, h, w, 3), out).expect("sizes computed above");
        Ok(Self { data })
    }
}

/// One image: interleaved HWC bytes to planar CHW floats `a·x + b`.
fn nhwc_to_nchw(src: &[u8], dst: &mut [f32], plane: usize, affine: &[(f32, f32); 3]) {
    let (r, rest) = dst.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    let [(ar, br), (ag, bg), (ab, bb)] = *affine;
    for (((px, r), g), b) in src.chunks_exact(3).zip(r).zip(g).zip(b) {
        *r = px[0] as f32 * ar + br;
        *g = px[1] as f32 * ag + bg;
        *b = px[2] as f32 * ab + bb;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known_batch() -> ImageBatch {
        // 2 images of 3 (wide) x 2 (high); pixel value encodes (n, y, x, c).
        let imgs: Vec<Image> = (0..2)
            .map(|n| {
                let mut img = Image::new(3, 2);
                for y in 0..2 {
                    for x in 0..3 {
                        let v = |c: usize| (n * 100 + y * 30 + x * 10 + c) as u8;
                        img.put_pixel(x, y, [v(0), v(1), v(2)]);
                    }
                }
                img
            })
            .collect();
        ImageBatch::from_images(&imgs).unwrap()
    }

    #[test]
    fn nhwc_to_nchw_puts_a_known_pixel_at_the_right_index() {
        let b = known_batch();
        let t = b.to_tensor(&Device::Cpu, InputScale::Raw255).unwrap();
        assert_eq!(t.dims(), &[2, 3, 2, 3]);
        let v: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
        // element (n=1, c=2, y=1, x=2) sits at ((1*3 + 2)*2 + 1)*3 + 2 = 35
        assert_eq!(v[35], (100 + 30 + 20 + 2) as f32);
        // and every element follows the formula
        for n in 0..2 {
            for c in 0..3 {
                for y in 0..2 {
                    for x in 0..3 {
                        let idx = ((n * 3 + c) * 2 + y) * 3 + x;
                        assert_eq!(v[idx], (n * 100 + y * 30 + x * 10 + c) as f32);
                    }
                }
            }
        }
    }

    #[test]
    fn the_three_input_scalings() {
        let img = Image::from_raw(1, 1, vec![0, 51, 255]).unwrap();
        let b = ImageBatch::from_images(&[img]).unwrap();
        let get = |s| -> Vec<f32> {
            b.to_tensor(&Device::Cpu, s)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap()
        };
        assert_eq!(get(InputScale::Raw255), vec![0.0, 51.0, 255.0]);
        let u = get(InputScale::Unit);
        for (got, want) in u.iter().zip([0.0, 0.2, 1.0]) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
        let m = get(InputScale::IMAGENET);
        let want = [
            (0.0 - 0.485) / 0.229,
            (0.2 - 0.456) / 0.224,
            (1.0 - 0.406) / 0.225,
        ];
        for (got, want) in m.iter().zip(want) {
            assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        }
    }

    #[test]
    fn image_tensor_image_round_trip_is_exact() {
        let b = known_batch();
        for s in [InputScale::Raw255, InputScale::Unit, InputScale::IMAGENET] {
            let t = b.to_tensor(&Device::Cpu, s).unwrap();
            assert_eq!(ImageBatch::from_tensor(&t, s).unwrap(), b, "{s:?}");
            let t16 = b.to_tensor_dtype(&Device::Cpu, s, DType::BF16).unwrap();
            assert_eq!(t16.dtype(), DType::BF16);
        }
        let single = b
            .to_tensor(&Device::Cpu, InputScale::Unit)
            .unwrap()
            .get(1)
            .unwrap();
        let back = ImageBatch::from_tensor(&single, InputScale::Unit).unwrap();
        assert_eq!(back.image(0), b.image(1));
    }

    #[test]
    fn bad_batches_are_errors() {
        assert!(matches!(ImageBatch::from_images(&[]), Err(Error::Empty(_))));
        let e = ImageBatch::from_images(&[Image::new(2, 2), Image::new(2, 3)]).unwrap_err();
        assert!(e.to_string().contains("image 1"), "{e}");
        let zero_std = InputScale::MeanStd {
            mean: [0.5; 3],
            std: [0.0, 1.0, 1.0],
        };
        assert!(known_batch().to_tensor(&Device::Cpu, zero_std).is_err());
        let t = Tensor::zeros((2, 4, 2, 2), DType::F32, &Device::Cpu).unwrap();
        assert!(ImageBatch::from_tensor(&t, InputScale::Raw255).is_err());
        assert!(
            known_batch()
                .to_tensor_dtype(&Device::Cpu, InputScale::Raw255, DType::U8)
                .is_err()
        );
    }

    #[test]
    fn from_tensor_clamps_and_rounds() {
        let t = Tensor::from_vec(vec![-3.0f32, 0.49, 300.0], (1, 3, 1, 1), &Device::Cpu).unwrap();
        let b = ImageBatch::from_tensor(&t, InputScale::Raw255).unwrap();
        assert_eq!(b.image(0).pixel(0, 0), [0, 0, 255]);
    }
}
