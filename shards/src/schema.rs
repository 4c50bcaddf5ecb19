//! Schema version 1 of a shard: the Arrow schema every shard of every dataset shares.

use std::sync::{Arc, OnceLock};

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};

/// The version of the shard schema written by this build.
pub const SCHEMA_VERSION: u32 = 1;

/// Column names, in schema order.
pub mod col {
    /// Unique id of the row within the dataset (not null).
    pub const ID: &str = "id";
    /// Split name (not null): `train`, `validation`, `test`, ...
    pub const SPLIT: &str = "split";
    /// Sub-collection of the source (ROCO `radiology` / `non-radiology`, PMC-OA release).
    pub const SUBSET: &str = "subset";
    /// Encoded image bytes (not null, JPEG or PNG).
    pub const IMAGE: &str = "image";
    /// `jpeg` or `png`.
    pub const IMAGE_FORMAT: &str = "image_format";
    /// Stored image width in pixels.
    pub const WIDTH: &str = "width";
    /// Stored image height in pixels.
    pub const HEIGHT: &str = "height";
    /// 1 (grey) or 3 (RGB).
    pub const CHANNELS: &str = "channels";
    /// 8 or 16.
    pub const BIT_DEPTH: &str = "bit_depth";
    /// Image path relative to the dataset root.
    pub const SOURCE_PATH: &str = "source_path";
    /// Caption or report text.
    pub const CAPTION: &str = "caption";
    /// Label vector: 1, 0, -1 uncertain, NaN not mentioned; names in the manifest.
    pub const LABELS: &str = "labels";
    /// Patient id.
    pub const PATIENT_ID: &str = "patient_id";
    /// Study id.
    pub const STUDY_ID: &str = "study_id";
    /// View position (PA, AP, lateral, ...).
    pub const VIEW: &str = "view";
    /// Question-answer pairs about the image.
    pub const QA: &str = "qa";
    /// Licence of the image, when the source states one.
    pub const LICENSE: &str = "license";
    /// JSON object with every other field of the source.
    pub const EXTRA: &str = "extra";
    /// Segmentation mask (PNG bytes), when the dataset has one.
    pub const MASK: &str = "mask";
}

/// Field names of the `qa` struct, in order.
pub const QA_FIELDS: [&str; 6] = [
    "qid",
    "question",
    "answer",
    "answer_type",
    "question_type",
    "lang",
];

/// The fields of one `qa` list item.
pub fn qa_fields() -> Fields {
    QA_FIELDS
        .iter()
        .map(|n| Field::new(*n, DataType::Utf8, true))
        .collect()
}

/// The Arrow schema of schema version 1.
pub fn schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA.get_or_init(build).clone()
}

fn build() -> SchemaRef {
    let utf8 = |name: &str| Field::new(name, DataType::Utf8, true);
    let labels_item = Field::new("item", DataType::Float32, true);
    let qa_item = Field::new("item", DataType::Struct(qa_fields()), true);
    Arc::new(Schema::new(vec![
        Field::new(col::ID, DataType::Utf8, false),
        Field::new(col::SPLIT, DataType::Utf8, false),
        utf8(col::SUBSET),
        Field::new(col::IMAGE, DataType::Binary, false),
        utf8(col::IMAGE_FORMAT),
        Field::new(col::WIDTH, DataType::UInt32, true),
        Field::new(col::HEIGHT, DataType::UInt32, true),
        Field::new(col::CHANNELS, DataType::UInt8, true),
        Field::new(col::BIT_DEPTH, DataType::UInt8, true),
        utf8(col::SOURCE_PATH),
        utf8(col::CAPTION),
        Field::new(col::LABELS, DataType::List(Arc::new(labels_item)), true),
        utf8(col::PATIENT_ID),
        utf8(col::STUDY_ID),
        utf8(col::VIEW),
        Field::new(col::QA, DataType::List(Arc::new(qa_item)), true),
        utf8(col::LICENSE),
        utf8(col::EXTRA),
        Field::new(col::MASK, DataType::Binary, true),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_split_image_are_not_null() {
        let s = schema();
        for name in [col::ID, col::SPLIT, col::IMAGE] {
            assert!(!s.field_with_name(name).unwrap().is_nullable(), "{name}");
        }
        assert!(s.field_with_name(col::CAPTION).unwrap().is_nullable());
        assert_eq!(s.fields().len(), 19);
    }
}
