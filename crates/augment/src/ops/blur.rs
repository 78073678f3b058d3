//! Box blur (`cv2.blur`, as albumentations' `Blur`): the mean over a k x k window with
//! reflect-101 borders, rounded to nearest.

use histo_tensor::Image;

use crate::error::check_nonempty;
use crate::ops::warp::reflect101;
use crate::{Error, Result};

/// Box blur with an odd kernel size `k` (3, 5 or 7 in the original; any odd k >= 1 here;
/// k = 1 is the identity). Separable running sums in integers; `round(sum / k²)`.
pub fn box_blur(img: &Image, k: usize) -> Result<Image> {
    if k == 0 || k.is_multiple_of(2) || k > 255 {
        return Err(Error::Param {
            op: "blur",
            name: "kernel size",
            value: k.to_string(),
            expected: "an odd size between 1 and 255",
        });
    }
    check_nonempty("blur", img)?;
    if k == 1 {
        return Ok(img.clone());
    }
    let (w, h) = (img.width() as isize, img.height() as isize);
    let r = (k / 2) as isize;
    let src = img.as_slice();
    // Horizontal sums (u32 per channel).
    let mut hs = vec![0u32; src.len()];
    let xmap: Vec<usize> = (-r..w + r)
        .map(|x| reflect101(x as i64, w as i64))
        .collect();
    for y in 0..h as usize {
        let row = &src[y * w as usize * 3..(y + 1) * w as usize * 3];
        let out = &mut hs[y * w as usize * 3..(y + 1) * w as usize * 3];
        for c in 0..3 {
            let mut acc: u32 = xmap[..k].iter().map(|&sx| row[sx * 3 + c] as u32).sum();
            out[c] = acc;
            for x in 1..w as usize {
                acc += row[xmap[x + k - 1] * 3 + c] as u32;
                acc -= row[xmap[x - 1] * 3 + c] as u32;
                out[x * 3 + c] = acc;
            }
        }
    }
    // Vertical sums and normalisation.
    let n = (k * k) as u32;
    let ymap: Vec<usize> = (-r..h + r)
        .map(|y| reflect101(y as i64, h as i64))
        .collect();
    let row_len = w as usize * 3;
    let mut out = vec![0u8; src.len()];
    let mut acc: Vec<u32> = vec![0; row_len];
    for &sy in &ymap[..k] {
        for (a, v) in acc.iter_mut().zip(&hs[sy * row_len..(sy + 1) * row_len]) {
            *a += v;
        }
    }
    for y in 0..h as usize {
        if y > 0 {
            let (add, sub) = (ymap[y + k - 1], ymap[y - 1]);
            for i in 0..row_len {
                acc[i] = acc[i] + hs[add * row_len + i] - hs[sub * row_len + i];
            }
        }
        for (o, &a) in out[y * row_len..(y + 1) * row_len].iter_mut().zip(&acc) {
            *o = ((2 * a + n) / (2 * n)) as u8;
        }
    }
    Ok(Image::from_raw(img.width(), img.height(), out)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_of_a_single_bright_pixel_spreads_evenly() {
        let mut img = Image::new(9, 9);
        img.put_pixel(4, 4, [90, 9, 45]);
        let b = box_blur(&img, 3).unwrap();
        assert_eq!(b.pixel(3, 3), [10, 1, 5]);
        assert_eq!(b.pixel(5, 5), [10, 1, 5]);
        assert_eq!(b.pixel(2, 2), [0, 0, 0]);
    }

    #[test]
    fn even_or_zero_kernels_are_errors() {
        let img = Image::new(3, 3);
        for k in [0, 2, 4, 256] {
            assert!(box_blur(&img, k).is_err(), "{k}");
        }
        assert_eq!(box_blur(&img, 1).unwrap(), img);
    }
}
