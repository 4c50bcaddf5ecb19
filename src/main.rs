//! `unimlip`: ingest medical image–text datasets into checksummed Parquet shards, inspect,
//! split, stream and benchmark them. It links no libtorch, so it starts at once; the training and
//! evaluation commands (train, tokenizer, model, convert, eval, report, demo) run in
//! `unimlip-torch`, which it starts in its place with the same arguments. Both binaries are
//! built on the `unimlip` library (`src/lib.rs`).

fn main() -> std::process::ExitCode {
    // Transparent huge pages (`always` on many distributions) make every fresh region the
    // ingest and loader buffers grow into cost a zeroed 2 MiB page, most of it never used:
    // 10-17% of an ingest's CPU time went to `clear_page_erms`, under 1% without them. The
    // flag is this process's own (`handoff` clears it before starting unimlip-torch).
    let _ = nix::sys::prctl::set_thp_disable(true);
    unimlip::entry::main_with(unimlip::run)
}
