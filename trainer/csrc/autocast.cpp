// The one libtorch call tch does not expose: autocast's CUDA dtype (bf16 instead of fp16).
#include <ATen/autocast_mode.h>

extern "C" int unimlip_autocast_cuda_bf16(void) {
  try {
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    return at::autocast::get_autocast_dtype(at::kCUDA) == at::kBFloat16 ? 0 : 1;
  } catch (...) {
    return 2;
  }
}

// Switches autocast on or off for one device type (0 = CPU, 1 = CUDA) on this thread and
// returns whether it was on (-1 on an error). CPU autocast runs in bf16, libtorch's default.
extern "C" int unimlip_autocast_set(int device, bool enabled) {
  try {
    const at::DeviceType d = device == 1 ? at::kCUDA : at::kCPU;
    const bool was = at::autocast::is_autocast_enabled(d);
    at::autocast::set_autocast_enabled(d, enabled);
    return was ? 1 : 0;
  } catch (...) {
    return -1;
  }
}
