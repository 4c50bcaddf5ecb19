//! The streaming loader for Python: one epoch per iteration, batches as arrays, the cursor as
//! the state to save, the GIL released while a batch is awaited.

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde::Deserialize;
use unimlip_loader::{
    Batch, CacheConfig, Cursor, Error, Loader, LoaderConfig, Pipeline, SourceSpec, Stream,
};

use crate::array::Array;

/// What the Python layer sends (as JSON) to open a loader.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    sources: Vec<SourceSpec>,
    pipeline: String,
    image_size: u32,
    batch_size: usize,
    seed: u64,
    rank: u32,
    world_size: u32,
    threads: Option<usize>,
    cache_dir: Option<String>,
    cache_bytes: Option<u64>,
}

fn pipeline(name: &str, side: u32) -> PyResult<Pipeline> {
    if side == 0 {
        return Err(PyValueError::new_err("image_size must be positive"));
    }
    Ok(match name {
        "unimlip" => Pipeline::unimlip_at(side, true),
        "unimlip-tensor" => {
            Pipeline::unimlip_ops_at(side, true, unimlip_loader::ColourOps::TorchvisionTensor)
        }
        "rrc-flip" => {
            let mut p = Pipeline::rrc_flip();
            for v in &mut p.views {
                v.crop = v.crop.resized(side);
            }
            p
        }
        "eval" => Pipeline::eval(side),
        other => {
            return Err(PyValueError::new_err(format!(
                "pipeline `{other}`: expected unimlip, unimlip-tensor, rrc-flip or eval"
            )));
        }
    })
}

/// A loader error as the Python exception a user would expect.
pub fn to_py(e: Error) -> PyErr {
    match e {
        Error::Config(m) => PyValueError::new_err(m),
        Error::Resume(m) => PyValueError::new_err(format!("cannot resume: {m}")),
        other => PyOSError::new_err(other.to_string()),
    }
}

fn config(o: &Options) -> PyResult<LoaderConfig> {
    if o.batch_size == 0 {
        return Err(PyValueError::new_err("batch_size must be positive"));
    }
    let mut c = LoaderConfig::new(
        o.sources.clone(),
        pipeline(&o.pipeline, o.image_size)?,
        o.batch_size,
    );
    c.seed = o.seed;
    if let Some(t) = o.threads {
        if t == 0 {
            return Err(PyValueError::new_err("threads must be positive"));
        }
        c.threads = t;
    }
    c.cache = match (&o.cache_dir, o.cache_bytes) {
        (Some(dir), bytes) => Some(CacheConfig {
            dir: dir.into(),
            max_bytes: bytes.unwrap_or(u64::MAX),
        }),
        (None, Some(_)) => {
            return Err(PyValueError::new_err("cache_bytes needs cache_dir"));
        }
        (None, None) => None,
    };
    Ok(c)
}

/// The loader behind `unimlip.Loader`.
#[pyclass(module = "unimlip._native")]
pub struct NativeLoader {
    loader: Loader,
    rank: u32,
    world: u32,
    /// Where the next batch comes from: the last delivered batch's cursor.
    cursor: Cursor,
    stream: Option<Stream>,
}

#[pymethods]
impl NativeLoader {
    /// Opens the sources described by `options` (JSON, built by the Python layer).
    #[new]
    fn new(py: Python<'_>, options: &str) -> PyResult<NativeLoader> {
        let o: Options = serde_json::from_str(options)
            .map_err(|e| PyValueError::new_err(format!("loader options: {e}")))?;
        if o.world_size == 0 || o.rank >= o.world_size {
            return Err(PyValueError::new_err(format!(
                "rank {} of world size {}",
                o.rank, o.world_size
            )));
        }
        let c = config(&o)?;
        let loader = py.detach(|| Loader::open(c)).map_err(to_py)?;
        let cursor = loader.start(0);
        Ok(NativeLoader {
            loader,
            rank: o.rank,
            world: o.world_size,
            cursor,
            stream: None,
        })
    }

    /// The next batch of the current epoch as a dict, or None at its end (the cursor then
    /// moves to the next epoch, so a new iteration starts it).
    fn next_batch<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        if self.stream.is_none() {
            let (rank, world) = (self.rank, self.world);
            let stream = self
                .loader
                .stream(&self.cursor, rank, world)
                .map_err(to_py)?;
            self.stream = Some(stream);
        }
        let stream = self.stream.as_mut().expect("opened above");
        match py.detach(|| stream.next()) {
            None => {
                self.stream = None;
                self.cursor = Cursor {
                    epoch: self.cursor.epoch + 1,
                    position: 0,
                    ..self.cursor.clone()
                };
                Ok(None)
            }
            Some(Err(e)) => {
                self.stream = None;
                Err(to_py(e))
            }
            Some(Ok(batch)) => {
                self.cursor = batch.cursor.clone();
                batch_dict(py, batch, self.loader.config()).map(Some)
            }
        }
    }

    /// The resume state (JSON): the cursor after the last delivered batch.
    fn state(&self) -> PyResult<String> {
        serde_json::to_string(&self.cursor).map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Continues from a saved state (JSON from `state`), on any world size.
    fn load_state(&mut self, state: &str) -> PyResult<()> {
        let cursor: Cursor = serde_json::from_str(state)
            .map_err(|e| PyValueError::new_err(format!("loader state: {e}")))?;
        // Opening a stream checks the seed, the mixture and the position against this loader.
        let stream = self
            .loader
            .stream(&cursor, self.rank, self.world)
            .map_err(to_py)?;
        self.cursor = cursor;
        self.stream = Some(stream);
        Ok(())
    }

    /// Batches left in the current epoch for this rank.
    fn batches_left(&mut self) -> PyResult<u64> {
        if self.stream.is_none() {
            let stream = self
                .loader
                .stream(&self.cursor, self.rank, self.world)
                .map_err(to_py)?;
            self.stream = Some(stream);
        }
        Ok(self.stream.as_ref().map_or(0, Stream::remaining))
    }

    /// The loader's stage counters (JSON).
    fn stats(&self) -> PyResult<String> {
        serde_json::to_string(&self.loader.summary())
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// View names, in the order of the pipeline.
    fn views(&self) -> Vec<String> {
        let p = &self.loader.config().pipeline;
        p.views.iter().map(|v| v.name.clone()).collect()
    }
}

fn batch_dict<'py>(
    py: Python<'py>,
    mut batch: Batch,
    config: &LoaderConfig,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let n = batch.len();
    for (v, spec) in config.pipeline.views.iter().enumerate() {
        let side = batch.side(v) as usize;
        let mut pixels = batch.take_view(v);
        pixels.truncate(n * side * side * 3);
        let a = Array::bytes(pixels, vec![n, side, side, 3]);
        d.set_item(&spec.name, Bound::new(py, a)?)?;
    }
    let samples = batch.samples();
    let ids: Vec<&str> = samples.iter().map(|s| s.id()).collect();
    d.set_item("id", PyList::new(py, ids)?)?;
    let captions: Vec<Option<&str>> = samples.iter().map(|s| s.caption()).collect();
    d.set_item("caption", PyList::new(py, captions)?)?;
    let labels: Option<Vec<&[f32]>> = samples.iter().map(|s| s.labels()).collect();
    match labels {
        Some(rows) if !rows.is_empty() && rows.iter().all(|r| r.len() == rows[0].len()) => {
            let width = rows[0].len();
            let flat: Vec<f32> = rows.concat();
            d.set_item(
                "labels",
                Bound::new(py, Array::floats(flat, vec![n, width]))?,
            )?;
        }
        _ => d.set_item("labels", py.None())?,
    }
    d.set_item("index", batch.index)?;
    Ok(d)
}
