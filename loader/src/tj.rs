//! A minimal safe wrapper over libjpeg-turbo's TurboJPEG 3 API for what the `turbojpeg` crate
//! does not expose: decoding only a cropping region, at a reduced DCT scale, into a reused
//! buffer.
#![allow(unsafe_code)]

use std::ffi::CStr;

use turbojpeg::raw;

/// What the JPEG header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JpegHeader {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Chroma subsampling code (`TJSAMP_*`; negative when unusual).
    pub subsamp: i32,
    /// Whether the image is greyscale.
    pub grey: bool,
    /// Whether the image is lossless (no scaled decoding).
    pub lossless: bool,
}

/// A TurboJPEG decompressor handle.
pub struct Tj {
    handle: raw::tjhandle,
}

// SAFETY: a TurboJPEG handle has no thread affinity; `Tj` is used by one thread at a time
// (`&mut self` on every call).
unsafe impl Send for Tj {}

impl Drop for Tj {
    fn drop(&mut self) {
        // SAFETY: the handle came from tj3Init and is destroyed once.
        unsafe { raw::tj3Destroy(self.handle) }
    }
}

impl std::fmt::Debug for Tj {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tj")
    }
}

/// The scaled size of a dimension, as libjpeg-turbo computes it (`TJSCALED`).
pub fn scaled(dim: u32, num: u32, denom: u32) -> u32 {
    (dim * num).div_ceil(denom)
}

impl Tj {
    /// A new decompressor.
    pub fn new() -> Result<Tj, String> {
        // SAFETY: tj3Init has no preconditions; a null result is an error.
        let handle = unsafe { raw::tj3Init(raw::TJINIT_TJINIT_DECOMPRESS as i32) };
        if handle.is_null() {
            return Err("cannot create a TurboJPEG decompressor".into());
        }
        Ok(Tj { handle })
    }

    fn error(&self) -> String {
        // SAFETY: tj3GetErrorStr returns a NUL-terminated static or per-handle string.
        unsafe { CStr::from_ptr(raw::tj3GetErrorStr(self.handle)) }
            .to_string_lossy()
            .into_owned()
    }

    fn get(&self, param: raw::TJPARAM) -> i32 {
        // SAFETY: a valid handle and a valid parameter code.
        unsafe { raw::tj3Get(self.handle, param as i32) }
    }

    /// Reads the header (must precede [`Tj::decode`] on the same data).
    pub fn header(&mut self, jpeg: &[u8]) -> Result<JpegHeader, String> {
        // SAFETY: pointer and length describe `jpeg`, which outlives the call.
        let rc = unsafe { raw::tj3DecompressHeader(self.handle, jpeg.as_ptr(), jpeg.len() as _) };
        if rc != 0 {
            return Err(self.error());
        }
        Ok(JpegHeader {
            width: self.get(raw::TJPARAM_TJPARAM_JPEGWIDTH) as u32,
            height: self.get(raw::TJPARAM_TJPARAM_JPEGHEIGHT) as u32,
            subsamp: self.get(raw::TJPARAM_TJPARAM_SUBSAMP),
            grey: self.get(raw::TJPARAM_TJPARAM_COLORSPACE) == raw::TJCS_TJCS_GRAY as i32,
            lossless: self.get(raw::TJPARAM_TJPARAM_LOSSLESS) != 0,
        })
    }

    /// The left-edge alignment a crop needs at scale `num/8` (the scaled iMCU width), or `None`
    /// when cropping is not possible for this subsampling.
    pub fn crop_align(header: &JpegHeader, num: u32) -> Option<u32> {
        let widths = [8u32, 16, 16, 8, 8, 32, 8];
        let w = *widths.get(usize::try_from(header.subsamp).ok()?)?;
        Some(scaled(w, num, 8).max(1))
    }

    /// Decodes the region `(x, y, w, h)` of the image scaled by `num/8` (coordinates in the
    /// scaled image; `x` aligned as [`Tj::crop_align`] says) into `out` (resized to fit), as
    /// greyscale when `grey` else RGB.
    pub fn decode(
        &mut self,
        jpeg: &[u8],
        num: u32,
        region: (u32, u32, u32, u32),
        grey: bool,
        full: (u32, u32),
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        let (x, y, w, h) = region;
        let channels = if grey { 1 } else { 3 };
        // libjpeg-turbo matches factors in lowest terms (1/4, not 2/8).
        let (mut n, mut d) = (num, 8u32);
        while n.is_multiple_of(2) && d.is_multiple_of(2) {
            n /= 2;
            d /= 2;
        }
        // SAFETY: valid handle; the scaling factor is one libjpeg-turbo supports (n/8).
        let rc = unsafe {
            raw::tj3SetScalingFactor(
                self.handle,
                raw::tjscalingfactor {
                    num: n as i32,
                    denom: d as i32,
                },
            )
        };
        if rc != 0 {
            return Err(self.error());
        }
        let whole = (x, y, w, h) == (0, 0, full.0, full.1);
        let region = if whole {
            raw::tjregion {
                x: 0,
                y: 0,
                w: 0,
                h: 0,
            }
        } else {
            raw::tjregion {
                x: x as i32,
                y: y as i32,
                w: w as i32,
                h: h as i32,
            }
        };
        // SAFETY: valid handle; the header was read; the region lies inside the scaled image.
        let rc = unsafe { raw::tj3SetCroppingRegion(self.handle, region) };
        if rc != 0 {
            return Err(self.error());
        }
        let len = (w * h * channels) as usize;
        if out.len() < len {
            out.resize(len, 0);
        }
        let format = if grey {
            raw::TJPF_TJPF_GRAY
        } else {
            raw::TJPF_TJPF_RGB
        };
        // SAFETY: `out` holds at least w × h × channels bytes with pitch w × channels, the size
        // of the (cropped, scaled) output.
        let rc = unsafe {
            raw::tj3Decompress8(
                self.handle,
                jpeg.as_ptr(),
                jpeg.len() as _,
                out.as_mut_ptr(),
                (w * channels) as i32,
                format,
            )
        };
        if rc != 0 {
            return Err(self.error());
        }
        Ok(())
    }
}
