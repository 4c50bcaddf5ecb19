//! Conversion between [`Record`]s and Arrow record batches of the v1 schema.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, Float32Builder, ListBuilder, StringBuilder, StructBuilder, UInt8Builder,
    UInt32Builder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, UInt8Type, UInt32Type};
use arrow_array::{Array, ArrayRef, RecordBatch, StructArray};

use crate::record::{ImageFormat, ImageInfo, QaItem, Record};
use crate::schema::{QA_FIELDS, col, qa_fields, schema};
use crate::{Error, Result};

/// Builds one Arrow batch of the v1 schema from records.
pub fn records_to_batch(records: &[Record]) -> Result<RecordBatch> {
    let n = records.len();
    let strs = |f: &dyn Fn(&Record) -> Option<&str>| -> ArrayRef {
        let mut b = StringBuilder::with_capacity(n, n * 16);
        records.iter().for_each(|r| b.append_option(f(r)));
        Arc::new(b.finish())
    };
    let mut image = BinaryBuilder::with_capacity(n, records.iter().map(|r| r.image.len()).sum());
    let mut width = UInt32Builder::with_capacity(n);
    let mut height = UInt32Builder::with_capacity(n);
    let mut channels = UInt8Builder::with_capacity(n);
    let mut depth = UInt8Builder::with_capacity(n);
    for r in records {
        image.append_value(&r.image);
        width.append_value(r.image_info.width);
        height.append_value(r.image_info.height);
        channels.append_value(r.image_info.channels);
        depth.append_value(r.image_info.bit_depth);
    }
    let columns: Vec<ArrayRef> = vec![
        strs(&|r| Some(&r.id)),
        strs(&|r| Some(&r.split)),
        strs(&|r| r.subset.as_deref()),
        Arc::new(image.finish()),
        strs(&|r| Some(r.image_info.format.as_str())),
        Arc::new(width.finish()),
        Arc::new(height.finish()),
        Arc::new(channels.finish()),
        Arc::new(depth.finish()),
        strs(&|r| r.source_path.as_deref()),
        strs(&|r| r.caption.as_deref()),
        labels_array(records),
        strs(&|r| r.patient_id.as_deref()),
        strs(&|r| r.study_id.as_deref()),
        strs(&|r| r.view.as_deref()),
        qa_array(records),
        strs(&|r| r.license.as_deref()),
        strs(&|r| r.extra.as_deref()),
        mask_array(records),
    ];
    RecordBatch::try_new(schema(), columns).map_err(|e| Error::parquet("<batch>", e))
}

fn mask_array(records: &[Record]) -> ArrayRef {
    let mut b = BinaryBuilder::new();
    records
        .iter()
        .for_each(|r| b.append_option(r.mask.as_deref()));
    Arc::new(b.finish())
}

fn labels_array(records: &[Record]) -> ArrayRef {
    let item = Arc::new(arrow_schema::Field::new(
        "item",
        arrow_schema::DataType::Float32,
        true,
    ));
    let mut b = ListBuilder::new(Float32Builder::new()).with_field(item);
    for r in records {
        match &r.labels {
            Some(v) => {
                b.values().append_slice(v);
                b.append(true);
            }
            None => b.append(false),
        }
    }
    Arc::new(b.finish())
}

fn qa_array(records: &[Record]) -> ArrayRef {
    let item = Arc::new(arrow_schema::Field::new(
        "item",
        arrow_schema::DataType::Struct(qa_fields()),
        true,
    ));
    let inner = StructBuilder::from_fields(qa_fields(), 0);
    let mut b = ListBuilder::new(inner).with_field(item);
    for r in records {
        let Some(items) = &r.qa else {
            b.append(false);
            continue;
        };
        for q in items {
            let s = b.values();
            let vals = [
                &q.qid,
                &q.question,
                &q.answer,
                &q.answer_type,
                &q.question_type,
                &q.lang,
            ];
            for (i, v) in vals.into_iter().enumerate() {
                s.field_builder::<StringBuilder>(i)
                    .expect("qa fields are strings")
                    .append_option(v.as_deref());
            }
            s.append(true);
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

/// Reads the records of one Arrow batch of the v1 schema.
pub fn batch_to_records(batch: &RecordBatch) -> Result<Vec<Record>> {
    let c = Columns::new(batch)?;
    (0..batch.num_rows()).map(|i| c.record(i)).collect()
}

struct Columns<'a> {
    batch: &'a RecordBatch,
}

impl<'a> Columns<'a> {
    fn new(batch: &'a RecordBatch) -> Result<Self> {
        if batch.schema().fields() != schema().fields() {
            return Err(Error::parquet("<batch>", "schema differs from version 1"));
        }
        Ok(Columns { batch })
    }

    fn col(&self, name: &str) -> &'a ArrayRef {
        self.batch.column_by_name(name).expect("schema checked")
    }

    fn str(&self, name: &str, i: usize) -> Option<String> {
        let a = self.col(name).as_string::<i32>();
        a.is_valid(i).then(|| a.value(i).to_string())
    }

    fn u32(&self, name: &str, i: usize) -> u32 {
        self.col(name).as_primitive::<UInt32Type>().value(i)
    }

    fn u8(&self, name: &str, i: usize) -> u8 {
        self.col(name).as_primitive::<UInt8Type>().value(i)
    }

    fn record(&self, i: usize) -> Result<Record> {
        let id = self.str(col::ID, i).unwrap_or_default();
        let format = self.str(col::IMAGE_FORMAT, i).unwrap_or_default();
        let format = ImageFormat::parse(&format).ok_or_else(|| Error::InvalidRecord {
            id: id.clone(),
            reason: format!("unknown image_format `{format}`"),
        })?;
        Ok(Record {
            split: self.str(col::SPLIT, i).unwrap_or_default(),
            subset: self.str(col::SUBSET, i),
            image: self.col(col::IMAGE).as_binary::<i32>().value(i).to_vec(),
            image_info: ImageInfo {
                format,
                width: self.u32(col::WIDTH, i),
                height: self.u32(col::HEIGHT, i),
                channels: self.u8(col::CHANNELS, i),
                bit_depth: self.u8(col::BIT_DEPTH, i),
            },
            source_path: self.str(col::SOURCE_PATH, i),
            caption: self.str(col::CAPTION, i),
            labels: self.labels(i),
            patient_id: self.str(col::PATIENT_ID, i),
            study_id: self.str(col::STUDY_ID, i),
            view: self.str(col::VIEW, i),
            qa: self.qa(i),
            license: self.str(col::LICENSE, i),
            extra: self.str(col::EXTRA, i),
            mask: {
                let m = self.col(col::MASK).as_binary::<i32>();
                m.is_valid(i).then(|| m.value(i).to_vec())
            },
            id,
        })
    }

    fn labels(&self, i: usize) -> Option<Vec<f32>> {
        let list = self.col(col::LABELS).as_list::<i32>();
        if list.is_null(i) {
            return None;
        }
        let v = list.value(i);
        Some(v.as_primitive::<Float32Type>().values().to_vec())
    }

    fn qa(&self, i: usize) -> Option<Vec<QaItem>> {
        let list = self.col(col::QA).as_list::<i32>();
        if list.is_null(i) {
            return None;
        }
        let items = list.value(i);
        let s: &StructArray = items.as_struct();
        let field = |name: &str, j: usize| {
            let a = s.column_by_name(name).expect("qa field").as_string::<i32>();
            a.is_valid(j).then(|| a.value(j).to_string())
        };
        let out = (0..s.len())
            .map(|j| QaItem {
                qid: field(QA_FIELDS[0], j),
                question: field(QA_FIELDS[1], j),
                answer: field(QA_FIELDS[2], j),
                answer_type: field(QA_FIELDS[3], j),
                question_type: field(QA_FIELDS[4], j),
                lang: field(QA_FIELDS[5], j),
            })
            .collect();
        Some(out)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample(id: &str, image_len: usize) -> Record {
        Record {
            id: id.into(),
            split: "train".into(),
            subset: Some("radiology".into()),
            image: vec![7; image_len],
            image_info: ImageInfo {
                format: ImageFormat::Jpeg,
                width: 10,
                height: 20,
                channels: 1,
                bit_depth: 8,
            },
            source_path: Some(format!("images/{id}.jpg")),
            caption: Some("a bright circle".into()),
            labels: Some(vec![1.0, 0.0, -1.0, f32::NAN]),
            patient_id: None,
            study_id: Some("s1".into()),
            view: None,
            qa: Some(vec![QaItem {
                qid: Some("1".into()),
                question: Some("Is it?".into()),
                answer: Some("yes".into()),
                lang: Some("en".into()),
                ..Default::default()
            }]),
            license: Some("CC BY".into()),
            extra: Some("{}".into()),
            mask: Some(vec![1, 2]),
        }
    }

    #[test]
    fn round_trip_keeps_every_field() {
        let mut b = sample("b", 3);
        b.labels = None;
        b.qa = None;
        b.caption = None;
        b.mask = None;
        let recs = vec![sample("a", 5), b];
        let batch = records_to_batch(&recs).unwrap();
        let back = batch_to_records(&batch).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[1], recs[1]);
        let (l0, r0) = (
            back[0].labels.clone().unwrap(),
            recs[0].labels.clone().unwrap(),
        );
        assert_eq!(l0[..3], r0[..3]);
        assert!(l0[3].is_nan());
        assert_eq!(back[0].qa, recs[0].qa);
        assert_eq!(back[0].image, recs[0].image);
    }
}
