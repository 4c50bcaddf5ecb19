//! CSV tables of the chest X-ray datasets, streamed (plain or gzip), with headers looked up by
//! name and rows of uneven width accepted (NIH headers carry trailing commas that rows lack).

use std::io::{BufRead, BufReader};

use crate::source::Source;
use crate::{Error, Result};

/// A CSV file being read row by row.
pub struct Table {
    /// Column names as written (trimmed).
    pub headers: Vec<String>,
    rows: csv::StringRecordsIntoIter<Box<dyn BufRead + Send>>,
    path: String,
}

/// One row with its 1-based line number in the file.
pub struct Row {
    /// Line number (the header is line 1).
    pub line: u64,
    /// The fields.
    pub fields: csv::StringRecord,
}

impl Row {
    /// Field `i`, trimmed; empty when absent.
    pub fn get(&self, i: usize) -> &str {
        self.fields.get(i).map_or("", str::trim)
    }
}

impl Table {
    /// Opens a CSV file; names ending in `.gz` are decompressed on the fly.
    pub fn open(src: &Source, rel: &str) -> Result<Table> {
        let raw = src.lines(rel)?;
        let input: Box<dyn BufRead + Send> = if rel.ends_with(".gz") {
            let gz = BufReader::new(flate2::bufread::MultiGzDecoder::new(raw));
            Box::new(crate::source::skip_bom(gz).map_err(|e| Error::read(rel, e))?)
        } else {
            raw
        };
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(true)
            .from_reader(input);
        let headers = reader
            .headers()
            .map_err(|e| csv_error(rel, e))?
            .iter()
            .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
            .collect();
        Ok(Table {
            headers,
            rows: reader.into_records(),
            path: rel.to_string(),
        })
    }

    /// The index of the first column with one of these names.
    pub fn col(&self, names: &[&str]) -> Option<usize> {
        names
            .iter()
            .find_map(|n| self.headers.iter().position(|h| h == n))
    }

    /// Like [`Table::col`], but a missing column is a layout error.
    pub fn require(&self, dataset: &'static str, src: &Source, names: &[&str]) -> Result<usize> {
        self.col(names).ok_or_else(|| Error::Layout {
            dataset,
            src: src.describe(),
            reason: format!("{} has no column {}", self.path, names.join(" / ")),
        })
    }
}

fn csv_error(path: &str, e: csv::Error) -> Error {
    Error::read(
        path,
        std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
    )
}

impl Iterator for Table {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let rec = match self.rows.next()? {
                Ok(r) => r,
                Err(e) => return Some(Err(csv_error(&self.path, e))),
            };
            if rec.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            let line = rec.position().map_or(0, |p| p.line());
            return Some(Ok(Row { line, fields: rec }));
        }
    }
}

/// A label cell: `1.0` / `0.0` / `-1.0` (any float spelling) or empty for "not mentioned" (NaN).
pub fn label_value(cell: &str) -> Option<f32> {
    let c = cell.trim();
    if c.is_empty() {
        return Some(f32::NAN);
    }
    match c.parse::<f32>() {
        Ok(v) if v == 1.0 || v == 0.0 || v == -1.0 => Some(v),
        _ => None,
    }
}

/// An age written as `58`, `058Y` or `058` → 58.
pub fn parse_age(cell: &str) -> Option<u32> {
    let c = cell.trim();
    let digits = c.strip_suffix(['Y', 'y']).unwrap_or(c);
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_ages() {
        assert!(label_value("").unwrap().is_nan());
        assert_eq!(label_value("-1.0"), Some(-1.0));
        assert_eq!(label_value("1"), Some(1.0));
        assert_eq!(label_value("2.0"), None);
        assert_eq!(label_value("x"), None);
        assert_eq!(parse_age("058Y"), Some(58));
        assert_eq!(parse_age("57"), Some(57));
        assert_eq!(parse_age(""), None);
    }

    #[test]
    fn uneven_rows_gzip_and_bom() {
        let d = tempfile::tempdir().unwrap();
        let text = "\u{feff}a,b,c,\n1,2,3\n4,5\n,,\n";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, text.as_bytes()).unwrap();
        std::fs::write(d.path().join("t.csv.gz"), gz.finish().unwrap()).unwrap();
        let src = Source::open(d.path().to_str().unwrap()).unwrap();
        let t = Table::open(&src, "t.csv.gz").unwrap();
        assert_eq!(t.headers, ["a", "b", "c", ""]);
        assert_eq!(t.col(&["x", "b"]), Some(1));
        let rows: Vec<_> = t.map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[1].line, rows[1].get(1), rows[1].get(2)), (3, "5", ""));
    }
}
