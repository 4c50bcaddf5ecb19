// c10d from Rust: TCPStore rendezvous, ProcessGroupGloo, and the collectives the trainer needs on
// tch tensors (a tch tensor handle is an `at::Tensor*`). Every entry point catches C++ exceptions
// and returns a message instead; the Rust side owns the handles and frees them.
#include <memory>
#include <vector>

#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include "c10d_shim.hpp"

extern "C" {

// Rendezvous on host:port (rank 0 serves the store) and a Gloo group over loopback or the host's
// interface. `timeout_ms` bounds every collective and the rendezvous.
unimlip_pg* unimlip_pg_gloo(const char* host, int port, int rank, int world, int timeout_ms,
                            char* err, size_t len) {
  unimlip_pg* out = nullptr;
  unimlip_guarded(err, len, [&] {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    auto tcp = unimlip_rendezvous(host, port, rank, world, timeout);
    auto store = c10::make_intrusive<c10d::PrefixStore>("unimlip/gloo", tcp);
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(host));
    auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, options);
    out = new unimlip_pg{tcp, pg, timeout};
  });
  return out;
}

void unimlip_pg_free(unimlip_pg* pg) { delete pg; }

// In-place sum over ranks.
int unimlip_pg_allreduce_sum(unimlip_pg* pg, at::Tensor* t, char* err, size_t len) {
  return unimlip_guarded(err, len, [&] {
    std::vector<at::Tensor> ts{*t};
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::SUM;
    o.timeout = pg->timeout;
    pg->backend->allreduce(ts, o)->wait(pg->timeout);
  });
}

// In place: every rank gets root's values.
int unimlip_pg_broadcast(unimlip_pg* pg, at::Tensor* t, int root, char* err, size_t len) {
  return unimlip_guarded(err, len, [&] {
    std::vector<at::Tensor> ts{*t};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    o.timeout = pg->timeout;
    pg->backend->broadcast(ts, o)->wait(pg->timeout);
  });
}

// `out` (world × the shape of `in`, contiguous) receives every rank's `in`, in rank order.
int unimlip_pg_all_gather(unimlip_pg* pg, at::Tensor* in, at::Tensor* out, char* err, size_t len) {
  return unimlip_guarded(err, len, [&] {
    int world = pg->backend->getSize();
    std::vector<at::Tensor> parts = out->chunk(world, 0);
    std::vector<std::vector<at::Tensor>> outs{parts};
    std::vector<at::Tensor> ins{in->contiguous()};
    c10d::AllgatherOptions o;
    o.timeout = pg->timeout;
    pg->backend->allgather(outs, ins, o)->wait(pg->timeout);
  });
}

int unimlip_pg_barrier(unimlip_pg* pg, char* err, size_t len) {
  return unimlip_guarded(err, len, [&] {
    c10d::BarrierOptions o;
    o.timeout = pg->timeout;
    pg->backend->barrier(o)->wait(pg->timeout);
  });
}

}  // extern "C"
