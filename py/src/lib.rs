//! `unimlip._native`: the Rust side of the `unimlip` Python package. The streaming loader (with
//! its cursor for exact, elastic resume), and the dataset summary and verification; the
//! package's pure-Python layer (`python/unimlip/__init__.py`) turns what these return into
//! NumPy arrays and plain dictionaries.

mod array;
mod dataset;
mod loader;

use pyo3::prelude::*;

// The loader hands every batch's pixel buffers to Python and allocates new ones: mimalloc
// reuses the freed pages where the system allocator maps and faults them in anew.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<loader::NativeLoader>()?;
    m.add_class::<array::Array>()?;
    m.add_function(wrap_pyfunction!(dataset::inspect, m)?)?;
    m.add_function(wrap_pyfunction!(dataset::verify, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
