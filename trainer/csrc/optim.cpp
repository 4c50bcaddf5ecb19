// libtorch calls tch does not generate: the fused AdamW kernel (one call per parameter group
// instead of about eight tensor ops per parameter) and a parameter's memory format. A tch tensor
// handle is an `at::Tensor*`. Every entry point catches C++ exceptions and returns non-zero with
// the message in `err`.
#include <ATen/ATen.h>
#include <ATen/ops/_fused_adamw.h>
#include <c10/core/GradMode.h>

#include <cstring>
#include <vector>

namespace {

void put(char* err, size_t len, const char* what) {
  if (len == 0) return;
  std::strncpy(err, what, len - 1);
  err[len - 1] = '\0';
}

std::vector<at::Tensor> list(at::Tensor** ts, size_t n) {
  std::vector<at::Tensor> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(*ts[i]);
  return out;
}

}  // namespace

// torch.optim.AdamW(fused=True)'s update over n parameters: `step` is the step number of this
// update (already counted), one 0-d float tensor shared by every parameter.
extern "C" int unimlip_fused_adamw(at::Tensor** params, at::Tensor** grads, at::Tensor** exp_avgs,
                                   at::Tensor** exp_avg_sqs, at::Tensor* step, size_t n,
                                   double lr, double beta1, double beta2, double weight_decay,
                                   double eps, char* err, size_t len) {
  try {
    std::vector<at::Tensor> steps(n, *step);
    at::_fused_adamw_(list(params, n), list(grads, n), list(exp_avgs, n), list(exp_avg_sqs, n),
                      {}, steps, lr, beta1, beta2, weight_decay, eps, /*amsgrad=*/false,
                      /*maximize=*/false, /*grad_scale=*/std::nullopt, /*found_inf=*/std::nullopt);
    return 0;
  } catch (const std::exception& e) {
    put(err, len, e.what());
    return 1;
  }
}

// Moves a 4-D parameter's storage to channels-last in place (the variable keeps its identity,
// so an optimiser made afterwards sees the new layout).
extern "C" int unimlip_to_channels_last(at::Tensor* t, char* err, size_t len) {
  try {
    c10::AutoGradMode guard(false);
    if (t->dim() == 4) t->set_data(t->contiguous(at::MemoryFormat::ChannelsLast));
    return 0;
  } catch (const std::exception& e) {
    put(err, len, e.what());
    return 1;
  }
}
