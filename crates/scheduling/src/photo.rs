//! Practitioners' photos (issue 17 point 2): an upload (JPEG, PNG or WebP, at most
//! [`MAX_PHOTO_BYTES`]) is decoded under limits, turned upright, cropped to a square and
//! re-encoded as two JPEGs, so nothing of the original file (EXIF, GPS, colour profile,
//! trailing bytes) is kept or served. Decoding is CPU work: the service runs it on the
//! blocking pool, one at a time.

use super::{AppError, AppResult, Caller, Scheduling};
use careslot_domain::{AgendaId, PractitionerId};
use careslot_store::PractitionerPhoto;
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use std::io::Cursor;

/// The largest upload accepted.
pub const MAX_PHOTO_BYTES: usize = 5 * 1024 * 1024;
/// Side of the public page's square and of the search card's.
pub const LARGE_SIDE: u32 = 400;
pub const SMALL_SIDE: u32 = 96;
/// A compressed file of 5 MB can claim any size: decoding stops past these (a decompression
/// bomb is refused before its pixels are allocated).
const MAX_SIDE: u32 = 10_000;
const MAX_ALLOC: u64 = 256 * 1024 * 1024;
const QUALITY: u8 = 85;

/// Why an upload is not a usable photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhotoError {
    #[error("no file")]
    Empty,
    #[error("larger than {MAX_PHOTO_BYTES} bytes")]
    TooLarge,
    /// Not JPEG, PNG or WebP, or a broken one.
    #[error("not a JPEG, PNG or WebP image")]
    NotImage,
    /// Readable, but with more pixels than the limits allow.
    #[error("image dimensions too large")]
    TooManyPixels,
}

impl From<PhotoError> for AppError {
    fn from(e: PhotoError) -> Self {
        match e {
            PhotoError::Empty => AppError::BadRequest("photo: no file".into()),
            PhotoError::TooLarge | PhotoError::TooManyPixels => {
                AppError::TooLarge(format!("photo: {e}"))
            }
            PhotoError::NotImage => AppError::UnsupportedType("photo: JPEG, PNG or WebP"),
        }
    }
}

/// The two JPEGs made from an upload, and the version naming them.
#[derive(Debug)]
pub struct Resized {
    pub hash: String,
    pub large: Vec<u8>,
    pub small: Vec<u8>,
}

fn decode(bytes: &[u8]) -> Result<DynamicImage, PhotoError> {
    let format = image::guess_format(bytes).map_err(|_| PhotoError::NotImage)?;
    if !matches!(
        format,
        ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP
    ) {
        return Err(PhotoError::NotImage);
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let refused = |e: image::ImageError| match e {
        image::ImageError::Limits(_) => PhotoError::TooManyPixels,
        _ => PhotoError::NotImage,
    };
    let mut decoder = reader.into_decoder().map_err(refused)?;
    // Phones store the camera's rotation beside the pixels; it goes with the metadata.
    let orientation = decoder.orientation().ok();
    let mut img = DynamicImage::from_decoder(decoder).map_err(refused)?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    Ok(img)
}

/// Flattens transparency onto white (JPEG has no alpha; dropping it would show black).
fn on_white(img: &DynamicImage) -> RgbImage {
    let rgba = img.to_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let blend = |c: u8| {
            let mixed = (u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a))) / 255;
            u8::try_from(mixed).unwrap_or(u8::MAX)
        };
        image::Rgb([blend(r), blend(g), blend(b)])
    })
}

fn jpeg(img: &RgbImage) -> Result<Vec<u8>, PhotoError> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, QUALITY)
        .encode_image(img)
        .map_err(|_| PhotoError::NotImage)?;
    Ok(out)
}

/// Decodes `bytes` and makes the two squares (centre crop). Blocking: CPU-bound.
pub fn resize(bytes: &[u8]) -> Result<Resized, PhotoError> {
    if bytes.is_empty() {
        return Err(PhotoError::Empty);
    }
    if bytes.len() > MAX_PHOTO_BYTES {
        return Err(PhotoError::TooLarge);
    }
    let img = decode(bytes)?;
    let large = img.resize_to_fill(LARGE_SIDE, LARGE_SIDE, FilterType::Lanczos3);
    let small = large.resize_to_fill(SMALL_SIDE, SMALL_SIDE, FilterType::Lanczos3);
    let large = jpeg(&on_white(&large))?;
    let small = jpeg(&on_white(&small))?;
    let hash = hex::encode(&Sha256::digest(&large)[..8]);
    Ok(Resized { hash, large, small })
}

/// One decode at a time: a few uploads at once must not take every core from bookings.
static DECODING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

impl Scheduling {
    /// Sets the caller's photo from an uploaded file.
    pub async fn set_my_photo(&self, caller: &Caller, bytes: Vec<u8>) -> AppResult<String> {
        let me = self.practitioner_of(caller).await?;
        if bytes.len() > MAX_PHOTO_BYTES {
            return Err(PhotoError::TooLarge.into());
        }
        let made = {
            let _turn = DECODING
                .acquire()
                .await
                .map_err(|_| AppError::Busy { retry_after_s: 1 })?;
            tokio::task::spawn_blocking(move || resize(&bytes))
                .await
                .map_err(|_| AppError::BadRequest("photo: could not be read".into()))??
        };
        let photo = PractitionerPhoto {
            hash: made.hash,
            large: made.large,
            small: made.small,
            updated_at: Timestamp::now(),
        };
        self.store.set_practitioner_photo(&me.id, &photo).await?;
        Ok(photo.hash)
    }

    /// Removes the caller's photo; false when there was none.
    pub async fn remove_my_photo(&self, caller: &Caller) -> AppResult<bool> {
        let me = self.practitioner_of(caller).await?;
        Ok(self.store.delete_practitioner_photo(&me.id).await?)
    }

    /// The version of a practitioner's photo, for links to it; None without one.
    pub async fn photo_hash(&self, id: &PractitionerId) -> AppResult<Option<String>> {
        Ok(self.store.practitioner_photo_hash(id).await?)
    }

    /// The photo of an agenda's practitioner (the public page's address names the agenda).
    pub async fn agenda_photo(&self, agenda: &AgendaId) -> AppResult<Option<PractitionerPhoto>> {
        let Some(a) = self.store.agenda(agenda).await? else {
            return Ok(None);
        };
        Ok(self.store.practitioner_photo(&a.practitioner_id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbaImage::from_pixel(w, h, image::Rgba([10, 120, 200, 128]));
        let mut out = Vec::new();
        DynamicImage::ImageRgba8(img)
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn makes_two_squares_as_jpeg() {
        let r = resize(&png(800, 300)).unwrap();
        let large = image::load_from_memory(&r.large).unwrap();
        let small = image::load_from_memory(&r.small).unwrap();
        assert_eq!((large.width(), large.height()), (LARGE_SIDE, LARGE_SIDE));
        assert_eq!((small.width(), small.height()), (SMALL_SIDE, SMALL_SIDE));
        assert_eq!(image::guess_format(&r.large).unwrap(), ImageFormat::Jpeg);
        assert_eq!(r.hash.len(), 16);
    }

    #[test]
    fn refuses_what_is_not_a_photo() {
        assert_eq!(resize(b"").unwrap_err(), PhotoError::Empty);
        assert_eq!(resize(b"%PDF-1.7 hello").unwrap_err(), PhotoError::NotImage);
        let mut broken = png(50, 50);
        broken.truncate(60);
        assert_eq!(resize(&broken).unwrap_err(), PhotoError::NotImage);
        assert_eq!(
            resize(&vec![0u8; MAX_PHOTO_BYTES + 1]).unwrap_err(),
            PhotoError::TooLarge
        );
    }

    #[test]
    fn refuses_a_decompression_bomb() {
        // A small file (it compresses well) whose width is past the limit: refused from its
        // header, before the pixels are allocated.
        let wide = png(MAX_SIDE + 1, 1);
        assert!(wide.len() < 64 * 1024);
        assert_eq!(resize(&wide).unwrap_err(), PhotoError::TooManyPixels);
    }
}
