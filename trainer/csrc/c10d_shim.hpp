// What the two c10d shim files share: the group handle, error reporting and the TCPStore
// rendezvous.
#pragma once

#include <chrono>
#include <cstring>
#include <string>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

struct unimlip_pg {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
  std::chrono::milliseconds timeout;
};

inline int unimlip_fail(char* err, size_t len, const char* what) {
  if (err && len) {
    std::strncpy(err, what, len - 1);
    err[len - 1] = 0;
  }
  return 1;
}

// Runs `f`, turning any C++ exception into a message in `err`; 0 on success.
template <typename F>
int unimlip_guarded(char* err, size_t len, F f) {
  try {
    f();
    return 0;
  } catch (const std::exception& e) {
    return unimlip_fail(err, len, e.what());
  } catch (...) {
    return unimlip_fail(err, len, "unknown C++ exception");
  }
}

// Rank 0 serves the store on host:port; every rank waits for all `world` of them.
inline c10::intrusive_ptr<c10d::TCPStore> unimlip_rendezvous(const char* host, int port, int rank,
                                                             int world,
                                                             std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions opts;
  opts.port = static_cast<std::uint16_t>(port);
  opts.isServer = rank == 0;
  opts.numWorkers = world;
  opts.waitWorkers = true;
  opts.timeout = timeout;
  return c10::make_intrusive<c10d::TCPStore>(std::string(host), opts);
}
