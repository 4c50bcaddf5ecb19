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
