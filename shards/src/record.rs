//! One row of a shard as a plain Rust value.

/// A question-answer pair attached to an image (VQA datasets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QaItem {
    /// Question id as given by the source, as a string.
    pub qid: Option<String>,
    /// The question text.
    pub question: Option<String>,
    /// The answer text.
    pub answer: Option<String>,
    /// `OPEN` / `CLOSED` (normalised) or the source's own value.
    pub answer_type: Option<String>,
    /// The source's question type.
    pub question_type: Option<String>,
    /// Language code (`en`, `zh`).
    pub lang: Option<String>,
}

/// Facts about an encoded image, as stored in the shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    /// Encoding of the stored bytes.
    pub format: ImageFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// 1 (grey) or 3 (colour).
    pub channels: u8,
    /// 8 or 16 bits per channel.
    pub bit_depth: u8,
}

/// The encodings a shard may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    /// JPEG (baseline or progressive).
    Jpeg,
    /// PNG.
    Png,
}

impl ImageFormat {
    /// The name stored in the `image_format` column.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpeg",
            ImageFormat::Png => "png",
        }
    }

    /// Parses the `image_format` column value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "jpeg" => Some(ImageFormat::Jpeg),
            "png" => Some(ImageFormat::Png),
            _ => None,
        }
    }
}

/// One row: an image with its split, text, labels and metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Unique id within the dataset.
    pub id: String,
    /// Split name.
    pub split: String,
    /// Sub-collection of the source, if any.
    pub subset: Option<String>,
    /// Encoded image bytes.
    pub image: Vec<u8>,
    /// What the image bytes are.
    pub image_info: ImageInfo,
    /// Image path relative to the dataset root.
    pub source_path: Option<String>,
    /// Caption or report text.
    pub caption: Option<String>,
    /// Label vector (names in the manifest).
    pub labels: Option<Vec<f32>>,
    /// Patient id.
    pub patient_id: Option<String>,
    /// Study id.
    pub study_id: Option<String>,
    /// View position.
    pub view: Option<String>,
    /// Question-answer pairs.
    pub qa: Option<Vec<QaItem>>,
    /// Licence of the image.
    pub license: Option<String>,
    /// JSON object text with the source's other fields.
    pub extra: Option<String>,
    /// Segmentation mask (PNG bytes) that comes with the image, if any.
    pub mask: Option<Vec<u8>>,
}

impl Record {
    /// An estimate of the bytes this record adds to a shard, used for row-group and shard sizing.
    pub fn approx_bytes(&self) -> u64 {
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        let qa: usize = self.qa.as_ref().map_or(0, |q| {
            q.iter()
                .map(|i| opt(&i.question) + opt(&i.answer) + opt(&i.qid) + 16)
                .sum()
        });
        let fixed = self.id.len() + self.split.len() + 32;
        let text =
            opt(&self.caption) + opt(&self.extra) + opt(&self.source_path) + opt(&self.subset);
        let labels = self.labels.as_ref().map_or(0, |l| l.len() * 4);
        let mask = self.mask.as_ref().map_or(0, Vec::len);
        (self.image.len() + mask + fixed + text + labels + qa) as u64
    }
}
