//! Writes a dataset of N rows that all carry one given image (distinct ids, captions, labels),
//! for measuring the reader at scale without generating N images:
//!
//!     cargo run --release -p unimlip-loader --example write_dataset -- OUT N IMAGE.jpg

use unimlip_loader::testkit::{info, write_dataset};
use unimlip_shards::{ImageFormat, Store};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out, n, image] = args.as_slice() else {
        return Err("usage: write_dataset OUT N IMAGE.jpg".into());
    };
    let n: usize = n.parse()?;
    let bytes = std::fs::read(image)?;
    let store = Store::open(out)?;
    let side = 512;
    // Row groups of about 48 MiB and shards of about 384 MiB, as an ingest writes them.
    let per_group = ((48usize << 20) / bytes.len().max(1)).max(1);
    write_dataset(&store, &[("train", n)], per_group, 8, &|_| {
        (bytes.clone(), info(ImageFormat::Jpeg, side, side, 3))
    })?;
    Ok(())
}
