//! A buffer NumPy adopts without copying, through the array interface protocol (version 3):
//! `numpy.asarray(a)` views the memory and keeps `a` alive as the array's base. The protocol is
//! plain Python attributes, so it works under the stable ABI on every CPython from 3.9.

use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Element storage: bytes (pixels) or `f32` (labels).
#[derive(Debug)]
enum Data {
    U8(Vec<u8>),
    F32(Vec<f32>),
}

/// An owned, C-contiguous array for NumPy: `numpy.asarray(a)` shares its memory.
#[pyclass(frozen, module = "unimlip._native")]
#[derive(Debug)]
pub struct Array {
    data: Data,
    shape: Vec<usize>,
    /// Address of the first element, taken once; the buffer is never touched again from Rust
    /// until it is dropped.
    address: usize,
}

impl Array {
    /// `shape`-shaped bytes.
    pub fn bytes(data: Vec<u8>, shape: Vec<usize>) -> Array {
        debug_assert_eq!(data.len(), shape.iter().product::<usize>());
        let address = data.as_ptr() as usize;
        Array {
            data: Data::U8(data),
            shape,
            address,
        }
    }

    /// `shape`-shaped `f32` values.
    pub fn floats(data: Vec<f32>, shape: Vec<usize>) -> Array {
        debug_assert_eq!(data.len(), shape.iter().product::<usize>());
        let address = data.as_ptr() as usize;
        Array {
            data: Data::F32(data),
            shape,
            address,
        }
    }
}

#[pymethods]
impl Array {
    /// The array interface NumPy reads: shape, element type, address (writable).
    #[getter]
    fn __array_interface__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("shape", pyo3::types::PyTuple::new(py, &self.shape)?)?;
        let typestr = match self.data {
            Data::U8(_) => "|u1",
            Data::F32(_) => "<f4",
        };
        d.set_item("typestr", typestr)?;
        d.set_item("data", (self.address, false))?;
        d.set_item("version", 3)?;
        Ok(d)
    }

    /// Bytes of the buffer.
    #[getter]
    fn nbytes(&self) -> usize {
        match &self.data {
            Data::U8(v) => v.len(),
            Data::F32(v) => v.len() * 4,
        }
    }

    /// Elements along the first axis.
    fn __len__(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }

    fn __repr__(&self) -> String {
        let kind = match self.data {
            Data::U8(_) => "uint8",
            Data::F32(_) => "float32",
        };
        format!("unimlip.Array(shape={:?}, dtype={kind})", self.shape)
    }
}
