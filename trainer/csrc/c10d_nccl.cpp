// ProcessGroupNCCL creation for the c10d shim: compiled when the wheel ships NCCL's and CUDA's
// headers (the default build), so the same binary selects NCCL on GPUs. The collectives are
// c10d.cpp's, on the same handle.
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include "c10d_shim.hpp"

extern "C" unimlip_pg* unimlip_pg_nccl(const char* host, int port, int rank, int world,
                                       int timeout_ms, char* err, size_t len) {
  unimlip_pg* out = nullptr;
  unimlip_guarded(err, len, [&] {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    auto tcp = unimlip_rendezvous(host, port, rank, world, timeout);
    auto store = c10::make_intrusive<c10d::PrefixStore>("unimlip/nccl", tcp);
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = timeout;
    auto pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, options);
    out = new unimlip_pg{tcp, pg, timeout};
  });
  return out;
}
