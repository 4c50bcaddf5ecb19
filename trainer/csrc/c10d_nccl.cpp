// ProcessGroupNCCL creation for the c10d shim: compiled when the wheel ships NCCL's and CUDA's
// headers (the default build), so the same binary selects NCCL on GPUs.
#include <chrono>
#include <cstring>
#include <string>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

struct unimlip_pg {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
  std::chrono::milliseconds timeout;
};

extern "C" unimlip_pg* unimlip_pg_nccl(const char* host, int port, int rank, int world,
                                       int timeout_ms, char* err, size_t len) {
  try {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    c10d::TCPStoreOptions opts;
    opts.port = static_cast<std::uint16_t>(port);
    opts.isServer = rank == 0;
    opts.numWorkers = world;
    opts.waitWorkers = true;
    opts.timeout = timeout;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(std::string(host), opts);
    auto store = c10::make_intrusive<c10d::PrefixStore>("unimlip/nccl", tcp);
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = timeout;
    auto pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, options);
    return new unimlip_pg{tcp, pg, timeout};
  } catch (const std::exception& e) {
    if (err && len) {
      std::strncpy(err, e.what(), len - 1);
      err[len - 1] = 0;
    }
    return nullptr;
  }
}
